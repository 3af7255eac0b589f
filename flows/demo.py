"""`parindex demo`: sample the bundled province, publish its 2024 indices, publish one corrected version, and
publish the 2025 commune index of the merged Hải Phòng with its comparison to 2024."""

from __future__ import annotations

import shutil
from pathlib import Path

from prefect import flow

from flows.annual import annual_run
from flows.rerun import rerun
from flows.sample import LEVELS, write_demo_corrections, write_sample

DEMO_YEAR = 2024
#: the 2024 indices were announced in April 2025 (the council's draft two days before)
ANNOUNCED_ON, DRAFTED_ON = "2025-04-12", "2025-04-10"


@flow(name="parindex-demo")
def demo_flow(out: str) -> list[dict]:
    root = Path(out).resolve()
    inputs = root / "inputs"
    shutil.rmtree(inputs, ignore_errors=True)
    write_sample(inputs, province="hai-duong", year=DEMO_YEAR, years=2)
    published = []
    # the council reviews a draft of the district index (DỰ THẢO on every page, the warnings annexed) …
    annual_run(inputs=str(inputs / str(DEMO_YEAR) / "district"), out=str(root / str(DEMO_YEAR) / "district-draft"),
               draft=True, published_on=DRAFTED_ON)
    # … then the final announcements, signed
    for level in LEVELS:
        published.append(annual_run(inputs=str(inputs / str(DEMO_YEAR) / level),
                                    out=str(root / str(DEMO_YEAR) / level), published_on=ANNOUNCED_ON))
    # after the announcement: complaints and re-verification for the districts -> version 2
    v1 = root / str(DEMO_YEAR) / "district"
    corrections = write_demo_corrections(v1, root / "corrections" / "district-corrections.csv")
    published.append(rerun(from_dir=str(v1), corrections=str(corrections),
                           out=str(root / str(DEMO_YEAR) / "district-v2"), published_on="2025-05-20"))
    # 2025: the new Hải Phòng (Hải Dương merged into it, no districts), compared with 2024 through lineage
    write_sample(inputs, province="hai-phong", year=2025, years=1)
    published.append(annual_run(inputs=str(inputs / "2025" / "commune"), out=str(root / "2025" / "commune"),
                                published_on="2026-04-10"))
    return published


def demo(out: Path) -> int:
    # a fresh demo each time: version 1 of a run replaces the previous demo's rows in its own database
    published = demo_flow(str(out))
    print("\nparindex demo — synthetic data (real units, invented figures): Tỉnh Hải Dương 2024, "
          "and the merged Thành phố Hải Phòng 2025")
    for s in published:
        print(f"  {s['methodology_id']:<22} v{s['version']} {s['units']:>4} units  {s['out']}")
    v2, hp = published[-2], published[-1]
    print(f"\nThe {DEMO_YEAR} district report (Vietnamese): {Path(published[1]['report'])}")
    print(f"English: {Path(published[1]['report']).with_name('report.en.pdf')}  "
          f"HTML: {Path(published[1]['report']).with_suffix('.html')}")
    print(f"The council's draft of it (DỰ THẢO, warnings annexed): "
          f"{Path(published[1]['report']).parent.with_name('district-draft') / 'report.vi.pdf'}")
    print(f"Corrected version {v2['version']} with errata ({v2['changes']} rows in changes.csv): {v2['report']}")
    print(f"2025, Hải Phòng after the merger, with pro forma comparisons to 2024: {hp['report']}")
    return 0
