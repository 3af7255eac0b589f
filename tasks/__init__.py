"""Plain functions of the parindex pipeline (no Prefect here: flows/ wraps them)."""
