"""The national run: one `parindex-province` sub-flow per province, run concurrently by a Prefect task runner.

`parindex national --inputs DIR/<year> --out OUT` finds `DIR/<year>/<province>/<level>/` input folders (as
`parindex sample --scale national` writes them), runs the annual flow's steps for each level of a province
inside that province's sub-flow, and writes `OUT/<province>/<level>/` publications plus a national overview
(`OUT/national.csv`, `OUT/national.md`). The engine is `prefect-dask`: a `dask.distributed` LocalCluster of
worker processes by default, or a running cluster given by its scheduler address; `sequential=True` runs
the same sub-flows one after another in this process (the reference the Dask path must agree with).
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pandas as pd
from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.cache_policies import NO_CACHE

from flows.annual import annual_run, publishing_level
from flows.api import temporary_worker_env, worker_flows
from flows.workers import fork_workers_from
from tasks import render
from tasks.numbers import publish


class NationalRunFailed(RuntimeError):
    """Some provinces did not publish; the others did (each publication is complete or absent)."""


def province_folders(inputs: Path) -> dict[str, list[Path]]:
    """`{province slug: [level folders]}` under a national input tree, in a stable order."""
    found: dict[str, list[Path]] = {}
    for index in sorted(Path(inputs).glob("*/*/index.yaml")):
        found.setdefault(index.parent.parent.name, []).append(index.parent)
    if not found:
        raise FileNotFoundError(f"{inputs} has no <province>/<level>/index.yaml folders "
                                "(`parindex sample --scale national` writes them)")
    return found


def _input_bytes(folders: list[Path]) -> int:
    """The size of a province's input files: what its publications will cost, roughly."""
    return sum(f.stat().st_size for folder in folders for f in Path(folder).rglob("*") if f.is_file())


@flow(name="parindex-province")
def province_run(province: str, folders: list[str], out: str, db: str | None = None,
                 unit_pdfs: bool = True, render_workers: int = 1) -> list[dict]:
    """Publish every level of one province: `out/<level>/` for each input folder, in one database.

    The levels run inside this flow run, not as sub-flows of their own: their task runs are named after the
    level (`validate · commune`, flows.annual.LEVEL), their progress lines and artifacts name it, and a
    level's bad inputs fail this flow with the level's own error once the other levels are published. A flow
    run per level cost ~0.2 CPU-s of Prefect's client and server each, 68 times in a national run (the yearly
    command of one province keeps them: `parindex run`)."""
    out_dir = Path(out)
    db = db or f"sqlite:///{(out_dir / 'parindex.sqlite').resolve()}"
    out_dir.mkdir(parents=True, exist_ok=True)
    runs = []
    for folder in folders:
        with publishing_level(Path(folder).name):
            runs.append(annual_run.fn(inputs=folder, out=str(out_dir / Path(folder).name), db=db,
                                      unit_pdfs=unit_pdfs, render_workers=render_workers))
    refused = [r for r in runs if not isinstance(r, dict)]  # annual_run's Failed state: inputs refused
    if refused:
        raise refused[0].data
    return runs


@task(name="province", cache_policy=NO_CACHE)
def run_province(province: str, folders: list[str], out: str, db: str | None, unit_pdfs: bool,
                 render_workers: int) -> dict:
    """One province's sub-flow, as a unit of work for the task runner; a failure is reported, not raised,
    so that one province's bad inputs do not stop the other provinces."""
    started = time.perf_counter()
    try:
        with worker_flows():
            runs = province_run(province, folders, out, db, unit_pdfs, render_workers)
        return {"province": province, "ok": True, "runs": runs,
                "seconds": round(time.perf_counter() - started, 3)}
    except Exception as exc:  # noqa: BLE001 — reported in the overview and the flow fails at the end
        return {"province": province, "ok": False, "error": f"{type(exc).__name__}: {exc}", "runs": [],
                "seconds": round(time.perf_counter() - started, 3)}


def overview(done: list[dict]) -> pd.DataFrame:
    """One row per province and level: units, average / highest / lowest index, the leader, and where."""
    rows = []
    for d in done:
        for r in d["runs"]:
            res = pd.read_csv(Path(r["out"]) / "results.csv", dtype={"unit_code": str}, encoding="utf-8-sig")
            best = res.sort_values(["index_pct", "unit_code"], ascending=[False, True]).iloc[0]
            rows.append({"province_slug": d["province"], "province": r["province"], "level": r["level"],
                         "year": r["year"], "units": len(res), "average_index": publish(res["index_pct"].mean(), 2),
                         "highest_index": res["index_pct"].max(), "lowest_index": res["index_pct"].min(),
                         "leader": best["unit_name"], "run_id": r["run_id"], "out": r["out"]})
    return pd.DataFrame(rows)


@flow(name="parindex-national-run")
def national_run(inputs: str, out: str, db: str | None = None, unit_pdfs: bool = True,
                 render_workers: int = 1, provinces: list[str] | None = None) -> dict:
    """Publish every province under `inputs` into `out/<province>/<level>/`; one sub-flow per province on
    this flow's task runner. `db`: one database for all (PostgreSQL in production); default an SQLite file
    per province. `unit_pdfs=False` leaves out units/<code>.pdf (a quicker check run)."""
    logger = get_run_logger()
    started = time.perf_counter()
    found = province_folders(Path(inputs))
    if provinces:
        found = {p: f for p, f in found.items() if p in set(provinces)}
    out_dir = Path(out).resolve()
    # the largest provinces first, so that the workers finish together instead of one waiting on a late big
    # one; the overview keeps the provinces' order
    futures = {p: run_province.submit(p, [str(f) for f in found[p]], str(out_dir / p), db, unit_pdfs,
                                      render_workers)
               for p in sorted(found, key=lambda p: -_input_bytes(found[p]))}
    done = [futures[p].result() for p in found]
    failed = [d for d in done if not d["ok"]]
    table = overview(done)
    out_dir.mkdir(parents=True, exist_ok=True)
    render.write_csv(table, out_dir / "national.csv")
    stages: dict[str, float] = {}
    rss: dict[str, float] = {}
    for d in done:
        for r in d["runs"]:
            for k, v in r["stages"].items():
                stages[k] = round(stages.get(k, 0.0) + v, 3)
            for k, v in r["rss_mib"].items():
                rss[k] = max(rss.get(k, 0.0), v)
    lines = [f"# PAR Index, national run: {len(done) - len(failed)} of {len(done)} provinces published",
             f"- units: {int(table['units'].sum()) if len(table) else 0}; publications: {len(table)}; "
             f"wall {time.perf_counter() - started:.1f} s", ""]
    lines += [f"- **{d['province']}** failed: {d['error']}" for d in failed]
    (out_dir / "national.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    create_markdown_artifact("\n".join(lines), key="parindex-national-summary",
                             description="National run summary")
    if len(table):
        create_table_artifact(table.drop(columns=["out"]).to_dict("records"), key="parindex-national-overview",
                              description="Provinces and levels published")
    if failed:
        raise NationalRunFailed(f"{len(failed)} province(s) failed: " +
                                "; ".join(f"{d['province']}: {d['error']}" for d in failed))
    logger.info(f"national run: {len(done)} provinces, {int(table['units'].sum())} units in {out_dir}")
    summary = {"out": str(out_dir), "provinces": len(done), "publications": len(table),
               "units": int(table["units"].sum()), "stages_s": stages, "stage_rss_mib": rss,
               "province_seconds": {d["province"]: d["seconds"] for d in done},
               "wall_s": round(time.perf_counter() - started, 3)}
    (out_dir / "national.json").write_text(json.dumps(summary, ensure_ascii=False, indent=1) + "\n",
                                           encoding="utf-8")
    return summary


def task_runner(mode: str = "dask", scheduler: str | None = None, workers: int = 2, api_url: str | None = None):
    """The task runner for `national_run.with_options(task_runner=...)`.

    dask: a `dask.distributed` LocalCluster of `workers` single-threaded processes (told `api_url`, the run's
    Prefect API), or the running cluster at `scheduler` (`tcp://host:8786`; its workers need PREFECT_API_URL
    in their own environment); sequential: one province at a time in this process.
    """
    if mode == "sequential":
        from prefect.task_runners import ThreadPoolTaskRunner

        return ThreadPoolTaskRunner(max_workers=1)
    import dask
    from prefect_dask import DaskTaskRunner

    if scheduler:
        return DaskTaskRunner(address=scheduler)
    # Dask's statistical profiler samples every worker's stack every 10 ms for its dashboard, which a local
    # cluster does not have: ~0.3 CPU-s per publication. The nannies hand this setting to their workers.
    # Each worker is handed one province at a time (saturation 1.0, not Dask's 1.1, which queues a second on a
    # single-threaded worker): the others wait at the scheduler in the submitted order, largest first.
    # Every event loop of the cluster (the scheduler's and the nannies' here, each worker's) checks its own
    # health every 20 ms, each time taking the GIL from whatever runs: with a check a second, an idle cluster
    # of two workers spends 1 CPU-s less every 20 s (perf stat, four runs); a loop stuck for longer than
    # Dask's limit (3 s) is still reported.
    # Every process of the cluster also reads its own CPU, memory, disk and network counters for the dashboard
    # every 500 ms (system monitor), and a worker's and nanny's memory every 100 ms (the memory limits): every
    # 2 s and 500 ms instead, an idle cluster of two workers spends ~0.8 CPU-s less every 30 s (perf stat, two
    # runs each way: 3.32, 3.32 against 2.49, 2.63 CPU-s), ~3 CPU-s of a national run; a worker over its memory
    # limit is still stopped, half a second later at most.
    dask.config.set({"distributed.worker.profile.enabled": False, "distributed.scheduler.worker-saturation": 1.0,
                     "distributed.admin.tick.interval": "1s", "distributed.admin.system-monitor.interval": "2s",
                     "distributed.worker.memory.monitor-interval": "500ms"})
    env = temporary_worker_env(api_url) if api_url else {}
    # forked with the flow, GX and the renderer already imported; spawned where the forkserver cannot serve
    # these workers (none on this system, or one started for another API): said each time, as the setting is
    # the process's
    forked = fork_workers_from(env)
    dask.config.set({"distributed.worker.multiprocessing-method": "forkserver" if forked else "spawn"})
    return DaskTaskRunner(cluster_kwargs={"n_workers": workers, "threads_per_worker": 1, "processes": True,
                                          "dashboard_address": None, "env": env})
