"""Regenerate the golden files deliberately: `python -m tests.regen_golden`, then review `git diff tests/golden`.

The golden files are the sample province's published tables (seed 20240); a diff means scoring, ranking,
rounding or the sample generator changed, and must be explained in the commit that updates them."""

import shutil
import tempfile
from pathlib import Path

from flows.sample import LEVELS, write_sample
from tasks.render import write_csv
from tests.helpers import compute_folder

GOLDEN = Path(__file__).resolve().parent / "golden"


def golden_tables(root: Path, scratch: Path) -> dict[str, dict[str, object]]:
    out = {}
    for level in LEVELS:
        c = compute_folder(root / "2024" / level, scratch / level)
        out[level] = {"results.csv": c.results, "criteria.csv": c.criteria_published}
    return out


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "sample"
        write_sample(root, province="hai-duong", year=2024, years=2)
        for level, tables in golden_tables(root, Path(tmp) / "scratch").items():
            folder = GOLDEN / f"hai-duong-2024-{level}"
            shutil.rmtree(folder, ignore_errors=True)
            folder.mkdir(parents=True)
            for name, df in tables.items():
                write_csv(df, folder / name)  # the writer `parindex run` publishes with
            print(folder)


if __name__ == "__main__":
    main()
