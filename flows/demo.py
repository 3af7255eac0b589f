"""`parindex demo`: sample the bundled province, publish its 2024 indices, then publish one corrected version."""

from __future__ import annotations

import shutil
from pathlib import Path

from prefect import flow

from flows.annual import annual_run
from tasks.sample import LEVELS, write_sample

DEMO_YEAR = 2024


@flow(name="parindex-demo")
def demo_flow(out: str) -> list[dict]:
    root = Path(out).resolve()
    inputs = root / "inputs"
    shutil.rmtree(inputs, ignore_errors=True)
    write_sample(inputs, province="hai-duong", year=DEMO_YEAR, years=2)
    published = []
    for level in LEVELS:
        published.append(annual_run(inputs=str(inputs / str(DEMO_YEAR) / level),
                                    out=str(root / str(DEMO_YEAR) / level)))
    return published


def demo(out: Path) -> int:
    # a fresh demo each time: version 1 of a run replaces the previous demo's rows in its own database
    published = demo_flow(str(out))
    print("\nparindex demo — synthetic data for Tỉnh Hải Dương (real units, invented figures)")
    for s in published:
        print(f"  {s['methodology_id']:<22} {s['units']:>4} units  {s['out']}")
    print(f"\nThe {DEMO_YEAR} district report (Vietnamese): {Path(published[1]['report'])}")
    print(f"English: {Path(published[1]['report']).with_name('report.en.pdf')}  "
          f"HTML: {Path(published[1]['report']).with_suffix('.html')}")
    return 0
