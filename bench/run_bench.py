"""`make bench`: one script, one run, every figure side by side; printed and written to bench/results.md.

1. The sample province (Hải Dương 2024): each index published by its own `parindex run` process, as a
   department runs them (Prefect's ephemeral server start-up included), with the time each stage took.
2. The national sample (34 provinces, 3,729 units, 20 M raw dossiers, 3.4 M survey answers): generation,
   the Dask run (one sub-flow per province on a LocalCluster of 2 processes) three times, each into a new
   folder (the median is the figure: this machine's speed changes from minute to minute; BENCH_NATIONAL_RUNS
   sets how many), and the same run sequentially, wall time, peak memory and the time per stage; the Dask and
   sequential runs' results are compared file by file.
3. Raw-dossier validation + aggregation by parindex against a single DuckDB SQL aggregate (the floor).

Peak memory is the largest sum of proportional set size (PSS: shared pages counted once) over the whole
process tree (the CLI, Prefect's temporary servers, Dask workers, PDF worker processes), sampled every
500 ms with psutil, together with each process's CPU seconds (summed by kind of process); the sampling's own
CPU is reported too. `BENCH_QUICK=1` skips the sequential national run (the slowest part).
"""

from __future__ import annotations

import json
import math
import os
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
OUT = REPO / "bench" / "out"
RESULTS = REPO / "bench" / "results.md"  # the last run's figures, kept in the repository (README links here)
LEVELS = ("department", "district", "commune")
DATA = REPO / "bench" / "data"  # generated once, deterministic; kept between runs (gitignored)
RAW_ROWS = 20_000_000
#: how many times the national Dask run is measured (its median is the figure; BENCH_NATIONAL_RUNS overrides)
NATIONAL_RUNS = int(os.environ.get("BENCH_NATIONAL_RUNS", "3"))


def raw_dossiers() -> list[str]:
    """Validate + aggregate 20 M raw dossier rows (parindex) against plain DuckDB aggregates of the same file."""
    import statistics

    import duckdb
    import numpy as np

    from flows.sample import write_raw_dossiers
    from tasks.dossiers import validate_and_aggregate

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
    from tasks.dossiers import RULES, UNKNOWN_UNIT

    return [r.name for r in (*RULES, UNKNOWN_UNIT)]


#: CPU seconds of the last `parindex(...)` command: its whole process tree ("last", None where `perf` cannot
#: count), by kind of process ("by_kind", psutil samples), and what the sampling itself cost ("sampler")
CPU: dict = {"last": None, "by_kind": {}, "sampler": 0.0}


def _perf() -> list[str] | None:
    """`perf stat` counting task-clock over a command and every process it starts (Dask workers, typesetters,
    Prefect's server): resource.getrusage cannot, as the Dask nannies' workers are never reaped into the
    tree. None where perf is missing or not allowed to count."""
    perf = shutil.which("perf")
    if perf and subprocess.run([perf, "stat", "-e", "task-clock", "-x,", "true"], capture_output=True).returncode == 0:
        return [perf, "stat", "-e", "task-clock", "-x,", "-o"]
    return None


PERF = _perf()


def _kind(p) -> str:
    """What a process of a command's tree is, for the CPU table: "" for one counted elsewhere (a report being
    typeset: its typesetter counts it once it ends) or not at all (perf, the reaper)."""
    line = " ".join(p.cmdline())
    if "tasks.typeset" in line:
        parent = p.parent()
        return "" if parent and "tasks.typeset" in " ".join(parent.cmdline()) else "typesetters"
    if "uvicorn" in line:
        return "Prefect's temporary server"
    if "multiprocessing.forkserver" in line:
        return "Dask workers (and their forkserver)"
    if "parindex" in line and "perf" not in p.name() and "tasks.reaper" not in line:
        return "the command (and its rendering children)"
    return ""


def parindex(*args: str) -> tuple[float, float, float, str]:
    """Run the console script; return (wall s, peak PSS of the process tree MiB, largest process MiB, stdout);
    its CPU seconds in CPU["last"]."""
    import psutil

    script = Path(sys.executable).parent / "parindex"
    t0 = time.perf_counter()
    # cold runs: the content-hash cache would otherwise answer validate/score/rank from an earlier bench
    env = {**os.environ, "PREFECT_TASKS_REFRESH_CACHE": "true"}
    counts = OUT / "perf.csv"
    command = [*PERF, str(counts), "--", str(script), *args] if PERF else [str(script), *args]
    proc = subprocess.Popen(command, cwd=REPO, stdout=subprocess.PIPE, text=True, env=env)
    sampling = time.process_time()
    root = psutil.Process(proc.pid)
    peak = 0
    kinds: dict[int, str] = {}
    seconds: dict[int, float] = {}
    while proc.poll() is None:
        total = 0
        try:
            for p in [root, *root.children(recursive=True)]:
                try:
                    total += p.memory_full_info().pss  # shared pages counted once across the tree
                    if p.pid not in kinds:
                        kinds[p.pid] = _kind(p)
                    if kinds[p.pid]:
                        t = p.cpu_times()
                        # a typesetter's reports are its children, counted once they end (reaped)
                        seconds[p.pid] = t.user + t.system + (
                            t.children_user + t.children_system if kinds[p.pid] == "typesetters" else 0)
                except psutil.Error:
                    pass
        except psutil.Error:
            pass
        peak = max(peak, total)
        # reading smaps costs the kernel ~3 ms a process, on the cores the run needs: every 250 ms it took
        # ~9 CPU-s of a 100 s national run (~5 s of its wall time), every 500 ms half that
        time.sleep(0.5)
    CPU["sampler"] = time.process_time() - sampling  # this process's own reading of /proc, on the same cores
    CPU["by_kind"] = {}
    for pid, spent in seconds.items():
        CPU["by_kind"][kinds[pid]] = CPU["by_kind"].get(kinds[pid], 0.0) + spent
    wall = time.perf_counter() - t0
    out = proc.stdout.read()
    if proc.returncode:
        raise SystemExit(f"parindex {' '.join(args)} failed with exit {proc.returncode}")
    CPU["last"] = None
    if PERF:
        for line in counts.read_text().splitlines():
            if ",task-clock," in line:
                CPU["last"] = float(line.split(",")[0]) / 1000
    largest = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return wall, peak / 2**20, largest, out


def _stages(stdout: str) -> dict[str, float]:
    line = next(ln for ln in stdout.splitlines() if ln.startswith("Stages (s): "))
    return {k: float(v) for k, v in (part.rsplit(" ", 1) for part in line[len("Stages (s): "):].split(", "))}


def province() -> list[str]:
    rows = []
    wall, _, _, _ = parindex("sample", "--out", str(OUT / "inputs"), "--year", "2024", "--years", "2")
    rows.append(("sample (2 years × 3 indices)", wall, None, None, ""))
    total = render = 0.0
    for level in LEVELS:
        wall, peak, largest, out = parindex("run", "--inputs", str(OUT / "inputs" / "2024" / level),
                                            "--out", str(OUT / "2024" / level))
        st = _stages(out)
        total += wall
        render += st["render"]
        units = len((OUT / "2024" / level / "results.csv").read_text(encoding="utf-8").splitlines()) - 1
        rows.append((f"run {level} 2024 ({units} units)", wall, peak, largest,
                     ", ".join(f"{k} {v:.1f}" for k, v in st.items())))
    lines = ["## 1. The sample province: Hải Dương 2024, one `parindex run` per index", "",
             "| step | wall (s) | peak PSS, process tree (MiB) | largest process (MiB) | stages (s) |",
             "|---|---:|---:|---:|---|"]
    for name, wall, peak, largest, st in rows:
        lines.append(f"| {name} | {wall:.1f} | {'' if peak is None else f'{peak:.0f}'} | "
                     f"{'' if largest is None else f'{largest:.0f}'} | {st} |")
    pages = _pages(OUT / "2024")
    one_wall, one_peak, _, one_out = parindex("run", "--inputs", str(OUT / "inputs" / "2024"),
                                              "--out", str(OUT / "2024-one"))
    single = next(r for r in rows if r[0].startswith("run commune"))
    shares = [_render_of(single) / single[1]]
    for k in range(2):  # two more commune runs: one pass on this shared machine can be 40 % off
        wall, _, _, out = parindex("run", "--inputs", str(OUT / "inputs" / "2024" / "commune"),
                                   "--out", str(OUT / "2024-again" / str(k)))
        shares.append(_stages(out)["render"] / wall)
    shares.sort()
    lines += [f"| all three indices, three commands | {total:.1f} | | | render {render:.1f} |",
              f"| **all three indices, one command** (`parindex run --inputs …/2024`) | **{one_wall:.1f}** | "
              f"{one_peak:.0f} | | |", "",
              f"One command for the province's year: **{one_wall:.1f} s** (goal ≤ 20 s; three commands "
              f"{total:.1f} s). Rendering every output (CSV, JSON, XLSX, report HTML + PDF in two languages, one "
              f"scorecard PDF per unit) for the three indices: **{render:.1f} s**. Pages: {pages}.",
              f"Render share of the single commune run, median of three runs: **{100 * shares[1]:.0f} %** "
              f"({', '.join(f'{100 * x:.0f} %' for x in shares)}; goal ≤ 25 %).", ""]
    return lines


def _render_of(row) -> float:
    return float(next(p.split()[1] for p in row[4].split(", ") if p.startswith("render ")))


def _pages(folder: Path) -> str:
    from pypdf import PdfReader

    reports = sorted(folder.rglob("report.vi.pdf"))
    units = sorted(folder.rglob("units/*.pdf"))
    n = sum(len(PdfReader(p).pages) for p in reports)
    u = sum(len(PdfReader(p).pages) for p in units)
    return f"{n} in {len(reports)} Vietnamese reports (as many in English), {u} in {len(units)} unit scorecards"


def national() -> list[str]:
    inputs = DATA / "national"
    if not (inputs / "2026").is_dir():
        wall, peak, _, _ = parindex("sample", "--scale", "national", "--out", str(inputs))
        gen = f"generated in {wall:.1f} s, peak PSS {peak:.0f} MiB"
    else:
        gen = f"generated earlier, kept in {inputs.relative_to(REPO)}"
    runs = {}
    # the Dask run NATIONAL_RUNS times, each into a new folder (the same folder again would be a rerun, which
    # publishes a new version: other work): this machine's speed changes from minute to minute, and the median
    # of three says more about the code than one run does. The last one's folder stays for the desk section.
    modes = [*((f"dask{i}", ["--workers", "2"]) for i in range(1, NATIONAL_RUNS + 1)), ("sequential", ["--sequential"])]
    if os.environ.get("BENCH_QUICK"):
        modes = modes[:-1]
    kinds = {}
    for mode, extra in modes:
        out = OUT / ("national-dask" if mode == f"dask{NATIONAL_RUNS}" else f"national-{mode}")
        wall, peak, _, _ = parindex("national", "--inputs", str(inputs / "2026"), "--out", str(out), *extra)
        runs[mode] = (wall, peak, json.loads((out / "national.json").read_text(encoding="utf-8")), CPU["last"])
        kinds[mode] = dict(CPU["by_kind"]), CPU["sampler"]
        if mode.startswith("dask") and out.name != "national-dask":
            shutil.rmtree(out, ignore_errors=True)  # ~800 MB each
    dask = sorted((m for m in runs if m.startswith("dask")), key=lambda m: runs[m][0])
    median = dask[len(dask) // 2]
    by_kind, sampler = kinds[median]
    wall, peak, summary, cpu = runs[median]
    peak = max(runs[m][1] for m in dask)
    stages = summary["stages_s"]
    raw, answers = _year_volumes(inputs / "2026")
    lines = [f"## 2. The national sample: {summary['provinces']} provinces, one sub-flow per province", "",
             f"{summary['units']:,} units in {summary['publications']} publications; {raw:,} raw dossier rows "
             f"and {answers:,} survey answers in the year run; {gen}.", "",
             "| run | wall (s) | CPU, process tree (s) | peak PSS, process tree (MiB) |", "|---|---:|---:|---:|"]
    for mode, (w, p, _, c) in runs.items():
        label = (f"Dask LocalCluster, 2 worker processes, run {mode[4:]} of {NATIONAL_RUNS}" if mode.startswith("dask")
                 else "sequential, one process")
        lines.append(f"| {label} | {w:.1f} | {'–' if c is None else f'{c:.1f}'} | {p:.0f} |")
    lines += ["", f"The Dask run's median of {len(dask)}: **{wall:.1f} s** (run {median[4:]}; fastest "
                  f"{runs[dask[0]][0]:.1f} s, slowest {runs[dask[-1]][0]:.1f} s). The figures below are the median run's."]
    if "sequential" in runs:
        same = _results(OUT / "national-dask") == _results(OUT / "national-sequential")
        lines += ["", f"Dask vs sequential: {runs['sequential'][0] / wall:.2f}× faster; results.csv and criteria.csv "
                      f"of all {summary['publications']} publications identical: **{same}**."]
    lines += ["", "Time per stage, summed over the publications (each worker runs one province at a time), and the "
                  "largest resident memory a worker process had at the end of the stage:", "",
              "| stage | seconds (sum) | share | worker RSS after the stage, max (MiB) |", "|---|---:|---:|---:|"]
    total = sum(stages.values())
    for k, v in stages.items():
        lines.append(f"| {k} | {v:.1f} | {100 * v / total:.0f} % | {summary['stage_rss_mib'].get(k, 0):.0f} |")
    lines += ["", f"Render (every output: CSV, JSON, XLSX, both reports in HTML and PDF, a scorecard PDF per unit), "
                  f"wall time equivalent on 2 workers: **{stages['render'] / 2:.0f} s** (goal under 3 min).",
              f"Goal (issue 16): the whole national run with every output ≤ 90 s on 2 workers and ≤ 2 GiB: "
              f"**{wall:.0f} s** (median of {len(dask)}), **{peak / 1024:.2f} GiB** (the largest peak)."]
    if cpu is not None:  # what the wall time is made of, and what this machine's speed that day did to it
        lines += [f"Its work: **{cpu:.0f} CPU-s** over the whole process tree (perf task-clock); on 2 cores no "
                  f"schedule beats {cpu / 2:.0f} s, and the cores stood idle {max(2 * wall - cpu, 0):.0f} "
                  f"core-s. The reference workload at the top of this page (the machine's speed that day): "
                  f"{SPEED.get('cpu', math.nan):.2f} CPU-s alone, {SPEED.get('both', math.nan):.2f} on both cores."]
    if by_kind:  # sampled every 500 ms with the memory: a process's last half-second is missed
        lines += ["Where that CPU went (psutil, per process, summed by kind): " + "; ".join(
            f"{kind} {spent:.0f} CPU-s" for kind, spent in sorted(by_kind.items(), key=lambda kv: -kv[1])) + ". "
                  f"The bench's own sampling of memory and CPU took {sampler:.0f} CPU-s of the same two cores "
                  "(part of the idle time above, and of the wall time)."]
    lines.append("")
    lines += _unit_pdfs(inputs)
    return lines


def _unit_pdfs(inputs: Path) -> list[str]:
    """What a unit scorecard costs: the largest province's commune index computed in this process, then its
    cards drawn by the production code (`render.draw_cards`: view-model, drawing, file) three times, CPU time
    of the best pass; and the same province through `parindex national` with and without them
    (`--no-unit-pdfs`), whose render-stage difference also carries the noise of two workers sharing two
    cores."""
    import tempfile
    from datetime import datetime

    from expectations.suites import validate
    from tasks import render, report
    from tasks.compute import compute
    from tasks.ingest import archive_inputs, locate_inputs, read_inputs

    folder = inputs / "2026" / "ho-chi-minh" / "commune"
    with tempfile.TemporaryDirectory() as scratch:
        bundle = read_inputs(Path(scratch), archive_inputs(locate_inputs(folder, REPO / "config"), Path(scratch)))
        computed = compute(bundle, validate(bundle))
        run = {"version": 1, "code_version": "bench", "started_at": datetime(2027, 4, 2), "files": [],
               "inputs_sha256": "0" * 64, "draft": False}
        context = report.build_context(bundle.methodology, bundle.index, computed, run, "vi")
        render.warm()
        best = None
        for k in range(3):
            (Path(scratch) / f"u{k}").mkdir()
            t0 = time.process_time()
            done = render.draw_cards(bundle.methodology, computed, context, context["cards"], Path(scratch) / f"u{k}")
            cpu = time.process_time() - t0
            best = cpu if best is None else min(best, cpu)
        size = sum(Path(p).stat().st_size for p in done) / len(done)
    cards = len(done)
    out = OUT / "national-unit-pdfs"
    tree = OUT / "unit-pdf-input"
    shutil.rmtree(tree, ignore_errors=True)
    (tree / "ho-chi-minh").mkdir(parents=True)
    for level in ("department", "commune"):
        (tree / "ho-chi-minh" / level).symlink_to(inputs / "2026" / "ho-chi-minh" / level)
    runs = {}
    for on, flag in ((False, ["--no-unit-pdfs"]), (True, [])):
        parindex("national", "--inputs", str(tree), "--out", str(out / ("on" if on else "off")), "--workers", "2",
                 *flag)
        runs[on] = json.loads((out / ("on" if on else "off") / "national.json").read_text())
    units = runs[True]["units"]
    per_unit = best / cards
    return ["### 2b. Unit scorecard PDFs", "",
            f"Hồ Chí Minh City's commune index ({cards} units), its scorecards drawn in one process by "
            f"`render.draw_cards` (view-model, tasks/pdfcanvas.py, file; best of 3): **{per_unit * 1000:.1f} ms "
            f"CPU per unit scorecard**, {size / 1024:.1f} KiB each (the same card as a Typst template took 54 ms, on "
            f"ReportLab's canvas ~10 ms until session 13). For all 3,729 units about {per_unit * 3729:.0f} CPU-s, "
            f"{per_unit * 3729 / 2:.0f} s on 2 workers.",
            f"The whole province ({units} units) through `parindex national`: render stage "
            f"{runs[False]['stages_s']['render']:.1f} s without the scorecards, "
            f"{runs[True]['stages_s']['render']:.1f} s with them (summed over its two publications, which share "
            f"the two cores with each other and their typesetters).", ""]


def _year_volumes(year_dir: Path) -> tuple[int, int]:
    """(raw dossier rows, survey answers) of a national year's input folders, counted from the files."""
    import duckdb

    root = year_dir.as_posix()
    raw = duckdb.sql(f"SELECT count(*) FROM read_parquet('{root}/*/*/dossiers.parquet')").fetchall()[0][0]
    answers = duckdb.sql(f"SELECT count(*) FROM read_csv('{root}/*/*/survey_responses.csv')").fetchall()[0][0]
    return raw, answers


def _results(out: Path) -> dict[str, str]:
    return {str(p.relative_to(out)): p.read_text(encoding="utf-8") for p in sorted(out.glob("*/*/*.csv"))
            if p.name in ("results.csv", "criteria.csv")}


def desk() -> list[str]:
    """`parindex robustness` (1000 replicates, survey and weights) on the commune index against a `parindex run`
    of the same index, in the same bench: the issue's goal is a ratio of at most 1. Three pairs, one after the
    other, and the median of their ratios: a single pair swung from 0.94 to 1.10 with the machine's speed."""
    commune = OUT / "2024" / "commune"
    pairs = []
    for k in range(3):
        run_wall, *_ = parindex("run", "--inputs", str(OUT / "inputs" / "2024" / "commune"), "--out",
                                str(OUT / f"desk-run-{k}"), "--no-unit-pdfs")
        rob_wall, rob_peak, _, _ = parindex("robustness", "--from", str(commune), "--out",
                                            str(OUT / "desk" / f"rob-{k}"))
        pairs.append((rob_wall / run_wall, run_wall, rob_wall, rob_peak))
    ratio, run_wall, rob_wall, rob_peak = sorted(pairs)[1]
    # the computation alone, in this process (no Prefect start, no report)
    from tasks import compute, ingest
    from tasks import robustness as rb
    from tasks.checks import check_inputs
    from tasks.ranking import published_results
    from tasks.rules import pandas_engine

    bundle = ingest.read_published(commune)
    checked = check_inputs(bundle, pandas_engine)
    criteria, totals, _ = compute.score(bundle, checked)
    results = published_results(bundle.methodology, compute.rank(bundle, checked, totals))
    t0 = time.perf_counter()
    reps = rb.replicate(bundle.methodology, criteria, totals, checked.answers, replicates=1000, seed=20240)
    rb.summarise(bundle.methodology, reps, results)
    rb.sensitivity(bundle.methodology, reps)
    compute_s = time.perf_counter() - t0
    wi_wall, *_ = parindex("whatif", "--from", str(commune), "--methodology",
                           str(commune / "inputs" / "methodology.yaml"), "--out", str(OUT / "desk" / "whatif"))
    units = len(results)
    return ["## 4. The methodologist's desk on the commune index", "",
            "| step | wall (s) |", "|---|---:|",
            f"| `parindex run` commune ({units} units, no unit PDFs) | {run_wall:.1f} |",
            f"| `parindex robustness` 1000 replicates, survey + weights (peak PSS {rob_peak:.0f} MiB) | {rob_wall:.1f} |",
            f"| of which the replicates themselves (in-process) | {compute_s:.2f} |",
            f"| `parindex whatif` with the published methodology | {wi_wall:.1f} |", "",
            f"Robustness / run, the median of three pairs (the table shows that pair): **{ratio:.2f}** ("
            + ", ".join(f"{r:.2f}" for r, *_ in pairs) + "; goal ≤ 1).", ""] + _national_robustness()


def _national_robustness() -> list[str]:
    """`parindex robustness` over every publication of the national run (section 2), one command."""
    national = OUT / "national-dask"
    if not national.is_dir():
        return ["(National robustness: run the national section in the same bench to measure it.)", ""]
    wall, peak, _, _ = parindex("robustness", "--from", str(national), "--out", str(OUT / "desk" / "national"))
    n = len(list((OUT / "desk" / "national").rglob("robustness.csv")))
    return [f"`parindex robustness --from` the national run: {n} publications, 1000 replicates each, survey + "
            f"weights, 2 workers: **{wall:.1f} s** wall, peak PSS {peak:.0f} MiB (goal < 120 s).", ""]


#: the reference workload's CPU seconds at the start of this run (`speed`), alone ("cpu") and on both cores at
#: once ("both"): the machine's own speed that day
SPEED: dict[str, float] = {}


def reference_workload() -> float:
    """CPU seconds of a fixed piece of work that no change to parindex changes — Python dictionaries and text,
    a pandas group-by and a sort of 2 M rows — best of 3. This 2-core machine is shared and its speed varies
    from day to day (the same commit's national run took 81 s one day and 135 s another): figures of two
    bench runs compare only beside their reference times."""
    import numpy as np
    import pandas as pd

    def once() -> float:
        t = time.process_time()
        counts: dict[int, int] = {}
        for i in range(2_000_000):
            counts[i % 997] = counts.get(i % 997, 0) + i
        text = ",".join(str(i) for i in range(500_000)).split(",")
        rng = np.random.default_rng(0)
        frame = pd.DataFrame({"k": rng.integers(0, 5000, 2_000_000), "v": rng.random(2_000_000)})
        frame.groupby("k")["v"].agg(["mean", "size"])
        frame.sort_values("v")
        assert len(text) == 500_000 and counts
        return time.process_time() - t

    return min(once() for _ in range(3))


def _reference_alone(_=None) -> float:
    return reference_workload()


def reference_on_both_cores() -> float:
    """The reference workload in two processes at once (the slower one's CPU seconds): the machine's speed
    when both cores are busy, as in a national run. Alone and side by side can differ by 2× on this machine
    (its two cores are not always as fast together as apart), which a single process does not show."""
    import multiprocessing

    with multiprocessing.get_context("fork").Pool(2) as pool:
        return max(pool.map(_reference_alone, [0, 1]))


def _speed_line(label: str, alone: float, both: float) -> str:
    return (f"{label} (`reference_workload`, best of 3): **{alone:.2f} CPU-s** alone, **{both:.2f} CPU-s** on both "
            f"cores at once (the slower of two processes side by side).")


def speed() -> list[str]:
    SPEED["cpu"], SPEED["both"] = reference_workload(), reference_on_both_cores()
    return [_speed_line("Reference workload", SPEED["cpu"], SPEED["both"])
            + " The machine's speed during this run; compare other runs' figures beside theirs.", ""]


def main() -> None:
    shutil.rmtree(OUT, ignore_errors=True)
    OUT.mkdir(parents=True)
    cores = subprocess.run(["nproc"], capture_output=True, text=True).stdout.strip()
    lines = ["# parindex benchmark", "", f"Machine: {cores} cores; Python {sys.version.split()[0]}; "
             f"{time.strftime('%Y-%m-%d')}", ""]
    lines += speed()
    print("\n".join(lines), flush=True)
    # BENCH_SECTIONS=province,desk runs those only (desk needs province's publications)
    chosen = os.environ.get("BENCH_SECTIONS", "province,national,raw_dossiers,desk").split(",")
    ends = [("province", province), ("national", national), ("raw_dossiers", raw_dossiers), ("desk", desk),
            ("speed", lambda: [_speed_line("Reference workload again at the end", reference_workload(),
                                           reference_on_both_cores()), ""])]
    for section in (fn for name, fn in ends if name in chosen or name == "speed"):
        part = section()
        lines += part
        text = "\n".join(lines) + "\n"
        (OUT / "bench.md").write_text(text, encoding="utf-8")  # kept as each section ends
        # a partial bench keeps the full one's figures: it writes results-<sections>.md beside them
        target = RESULTS if "BENCH_SECTIONS" not in os.environ else RESULTS.with_name(
            f"results-{'-'.join(chosen)}.md")
        target.write_text(text, encoding="utf-8")
        print("\n".join(part), flush=True)


if __name__ == "__main__":
    main()
