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
DATA = REPO / "bench" / "data"  # generated once, deterministic; kept between runs (gitignored)
RAW_ROWS = 20_000_000


def raw_dossiers() -> list[str]:
    """Validate + aggregate 20 M raw dossier rows (parindex) against plain DuckDB aggregates of the same file."""
    import statistics

    import duckdb
    import numpy as np

    from expectations.dossiers import validate_and_aggregate
    from tasks.sample import write_raw_dossiers

    path = DATA / "dossiers-20m.parquet"
    codes = [f"{i:05d}" for i in range(3321)]  # one code per commune-level unit of the 2025 registry
    if not path.is_file():
        DATA.mkdir(parents=True, exist_ok=True)
        t0 = time.perf_counter()
        write_raw_dossiers(path, codes, np.full(len(codes), 0.8), 2025, RAW_ROWS, seed=1)
        print(f"generated {RAW_ROWS:,} raw dossier rows in {time.perf_counter() - t0:.1f} s")
    src = f"read_parquet('{path.as_posix()}')"
    plain = (f"SELECT unit_code, date_trunc('month', received_at) AS m, count(*), count(*) FILTER (WHERE online), "
             f"count(*) FILTER (WHERE digitized), count(resolved_at), count(*) FILTER (WHERE resolved_at <= due_at) "
             f"FROM {src} GROUP BY ALL")
    same = (f"SELECT unit_code, year(received_at) * 100 + month(received_at) AS rm, "
            f"year(resolved_at) * 100 + month(resolved_at) AS sm, count(*), count(*) FILTER (WHERE online), "
            f"count(*) FILTER (WHERE digitized), count(*) FILTER (WHERE resolved_at <= due_at), "
            f"count(*) FILTER (WHERE resolved_at > due_at) FROM {src} GROUP BY ALL")

    def best_of(fn, n=3) -> float:
        times = []
        for _ in range(n):
            t0 = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t0)
        return statistics.median(times)

    # the floor gets the better of DuckDB's default threads and the setting parindex uses
    floor = floor_same = float("inf")
    for threads in ("2", "4"):
        con = duckdb.connect(config={"threads": threads})
        con.execute("SET enable_progress_bar = false")
        floor = min(floor, best_of(lambda con=con: con.execute(plain).fetchall()))
        floor_same = min(floor_same, best_of(lambda con=con: con.execute(same).fetchall()))
        con.close()
    ours = best_of(lambda: validate_and_aggregate(path, set(codes)))
    _, problems, counts = validate_and_aggregate(path, set(codes))
    assert counts["rows_read"] == RAW_ROWS and not problems
    return ["## Raw dossiers: validate + aggregate vs plain DuckDB (median of 3)", "",
            f"{RAW_ROWS:,} rows, {path.stat().st_size / 2**20:.0f} MiB Parquet, 3,321 units.", "",
            "| what | wall (s) | × plain aggregate |", "|---|---:|---:|",
            f"| plain DuckDB aggregate (GROUP BY unit, month received; no checks) | {floor:.2f} | 1.0 |",
            f"| DuckDB aggregate giving the same statistics as parindex (months received and resolved; no checks) "
            f"| {floor_same:.2f} | {floor_same / floor:.1f} |",
            f"| parindex: {len(_rule_names())} row rules + exact duplicate ids + aggregate | {ours:.2f} | "
            f"{ours / floor:.1f} |", "",
            "Goal (validation issue): within 3× of the plain aggregate with nothing less checked. For reference, a "
            "pandas Great Expectations suite of six expectations on 20 M rows took 12.5 s on this machine.", ""]


def _rule_names() -> list[str]:
    from expectations.dossiers import RULES, UNKNOWN_UNIT

    return [r.name for r in (*RULES, UNKNOWN_UNIT)]


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
              "Goal (annual-run issue): all three indices in under 60 s and 2 GB, Prefect start-up included.", ""]
    lines += raw_dossiers()
    text = "\n".join(lines) + "\n"
    (OUT / "bench.md").write_text(text, encoding="utf-8")
    print(text)


if __name__ == "__main__":
    main()
