"""Input validation suites, driven by the methodology."""
