"""`make bench`: wall time and peak memory of the whole `parindex run` for the sample province.

Each index is published by its own `parindex run` process, as a department runs them (Prefect's ephemeral
server start-up included). Peak memory is the maximum resident set of the process and its children
(RUSAGE_CHILDREN), read after each run. Results are printed and written to bench/out/bench.md.
"""

from __future__ import annotations

import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
OUT = REPO / "bench" / "out"
LEVELS = ("department", "district", "commune")


def parindex(*args: str) -> tuple[float, float]:
    """Run the console script; return (wall seconds, peak RSS MiB of the children so far)."""
    script = Path(sys.executable).parent / "parindex"
    t0 = time.perf_counter()
    subprocess.run([str(script), *args], check=True, cwd=REPO, stdout=subprocess.DEVNULL)
    wall = time.perf_counter() - t0
    peak_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return wall, peak_kib / 1024


def main() -> None:
    shutil.rmtree(OUT, ignore_errors=True)
    OUT.mkdir(parents=True)
    rows = []
    wall, _ = parindex("sample", "--out", str(OUT / "inputs"), "--year", "2024", "--years", "2")
    rows.append(("sample (2 years × 3 indices)", wall, None))
    total = 0.0
    for level in LEVELS:
        wall, peak = parindex("run", "--inputs", str(OUT / "inputs" / "2024" / level),
                              "--out", str(OUT / "2024" / level))
        total += wall
        rows.append((f"run {level} 2024", wall, peak))
    lines = ["# parindex benchmark", "", f"Machine: {subprocess.run(['nproc'], capture_output=True, text=True).stdout.strip()} cores; "
             f"Python {sys.version.split()[0]}", "", "| step | wall (s) | peak RSS so far (MiB) |", "|---|---:|---:|"]
    for name, wall, peak in rows:
        lines.append(f"| {name} | {wall:.1f} | {'' if peak is None else f'{peak:.0f}'} |")
    lines += [f"| **all three indices for 2024** | **{total:.1f}** | |", "",
              "Goal (annual-run issue): all three indices in under 60 s and 2 GB, Prefect start-up included."]
    text = "\n".join(lines) + "\n"
    (OUT / "bench.md").write_text(text, encoding="utf-8")
    print(text)


if __name__ == "__main__":
    main()
