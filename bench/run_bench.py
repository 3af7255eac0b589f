"""`make bench`: wall time and peak memory of the whole `parindex run` for the sample province.

Each index is published by its own `parindex run` process, as a department runs them (Prefect's ephemeral
server start-up included). Peak memory is the largest sum of proportional set size (PSS: shared pages counted once) over the whole tree
(the CLI, Prefect's temporary server, the PDF worker processes), sampled every 250 ms with psutil; the largest
single process (ru_maxrss) is shown beside it. Results are printed and written to bench/out/bench.md.
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


def parindex(*args: str) -> tuple[float, float, float]:
    """Run the console script; return (wall s, peak RSS of the process tree MiB, largest process MiB)."""
    import psutil

    script = Path(sys.executable).parent / "parindex"
    t0 = time.perf_counter()
    proc = subprocess.Popen([str(script), *args], cwd=REPO, stdout=subprocess.DEVNULL)
    root = psutil.Process(proc.pid)
    peak = 0
    while proc.poll() is None:
        total = 0
        try:
            for p in [root, *root.children(recursive=True)]:
                try:
                    total += p.memory_full_info().pss  # shared pages counted once across the tree
                except psutil.Error:
                    pass
        except psutil.Error:
            pass
        peak = max(peak, total)
        time.sleep(0.25)  # reading smaps costs CPU: sample sparsely so the measurement does not slow the run
    wall = time.perf_counter() - t0
    if proc.returncode:
        raise SystemExit(f"parindex {' '.join(args)} failed with exit {proc.returncode}")
    largest = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return wall, peak / 2**20, largest


def main() -> None:
    shutil.rmtree(OUT, ignore_errors=True)
    OUT.mkdir(parents=True)
    rows = []
    wall, _, _ = parindex("sample", "--out", str(OUT / "inputs"), "--year", "2024", "--years", "2")
    rows.append(("sample (2 years × 3 indices)", wall, None, None))
    total = 0.0
    for level in LEVELS:
        wall, peak, largest = parindex("run", "--inputs", str(OUT / "inputs" / "2024" / level),
                              "--out", str(OUT / "2024" / level))
        total += wall
        rows.append((f"run {level} 2024", wall, peak, largest))
    lines = ["# parindex benchmark", "", f"Machine: {subprocess.run(['nproc'], capture_output=True, text=True).stdout.strip()} cores; "
             f"Python {sys.version.split()[0]}", "", "| step | wall (s) | peak PSS, process tree (MiB) | largest process so far (MiB) |",
             "|---|---:|---:|---:|"]
    for name, wall, peak, largest in rows:
        lines.append(f"| {name} | {wall:.1f} | {'' if peak is None else f'{peak:.0f}'} | "
                     f"{'' if largest is None else f'{largest:.0f}'} |")
    lines += [f"| **all three indices for 2024** | **{total:.1f}** | | |", "",
              "Goal (annual-run issue): all three indices in under 60 s and 2 GB, Prefect start-up included."]
    text = "\n".join(lines) + "\n"
    (OUT / "bench.md").write_text(text, encoding="utf-8")
    print(text)


if __name__ == "__main__":
    main()
