"""The national scale: the sample of the 2025 registry, one sub-flow per province on Dask (same results as
sequentially), one province's failure not stopping the others, content-hash caching, schedules, artifacts."""

from __future__ import annotations

import hashlib
import json
import shutil
import time
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pandas as pd
import pytest

from tests.helpers import edit_csv
from tests.test_cli import parindex

PROVINCES = ["lai-chau", "hue"]  # the two smallest provinces of the 2025 registry (38 and 40 communes)


def _hashes(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def national(tmp_path_factory) -> Path:
    from flows.sample import write_national_sample

    root = tmp_path_factory.mktemp("national")
    write_national_sample(root, year=2026, years=2, raw_rows=30_000, provinces=PROVINCES, workers=1)
    return root


def test_national_sample_has_the_registry_units_and_exact_volumes(national, tmp_path):
    from vietnamadminunits.database import query

    for slug, short in (("lai-chau", "Lai Châu"), ("hue", "Huế")):
        communes = pd.read_csv(national / "2026" / slug / "commune" / "units.csv", dtype=str, encoding="utf-8-sig")
        registry = pd.DataFrame(query(f"SELECT wardCode, ward FROM admin_units WHERE provinceShort = '{short}'"))
        assert sorted(communes["unit_code"]) == sorted(registry["wardCode"])
        assert set(communes["unit_name"]) == set(registry["ward"])
        assert (communes["level"] == "commune").all()
        deps = pd.read_csv(national / "2026" / slug / "department" / "units.csv", dtype=str, encoding="utf-8-sig")
        assert len(deps) == 12 and deps["unit_code"].is_unique
        assert (national / "2026" / slug / "commune" / "previous_results.csv").is_file()
        assert not (national / "2025" / slug / "commune" / "previous_results.csv").exists()
        survey = pd.read_csv(national / "2026" / slug / "commune" / "survey_responses.csv", dtype=str, encoding="utf-8-sig")
        per_unit = survey.groupby("unit_code")["respondent_id"].nunique()
        assert per_unit.between(60, 90).all() and len(per_unit) == len(communes)
    files = sorted((national / "2026").glob("*/*/dossiers.parquet"))
    assert len(files) == 4 and not list((national / "2025").glob("*/commune/dossiers.parquet"))
    raw = [pd.read_parquet(p, columns=["dossier_id", "unit_code"]) for p in files]
    assert sum(map(len, raw)) == 30_000 and all(r["dossier_id"].is_unique for r in raw)
    # deterministic: the same seed writes the same bytes, in two processes as in one
    from flows.sample import write_national_sample

    write_national_sample(tmp_path, year=2026, years=2, raw_rows=30_000, provinces=PROVINCES, workers=2)
    assert _hashes(tmp_path) == _hashes(national)


def test_national_sample_refuses_years_before_the_registry(tmp_path):
    proc = parindex("sample", "--scale", "national", "--out", str(tmp_path), "--year", "2025", "--years", "2",
                    check_exit=1)
    assert "2025 registry" in proc.stderr


def _publications(out: Path) -> dict[str, dict[str, str]]:
    return {f"{p.parent.parent.name}/{p.parent.name}": {
        name: (p.parent / name).read_text(encoding="utf-8") for name in ("results.csv", "criteria.csv")}
        for p in sorted(out.glob("*/*/results.csv"))}


@pytest.mark.xdist_group("cli")
def test_dask_run_agrees_with_the_sequential_run(national, tmp_path):
    dask = parindex("national", "--inputs", str(national / "2026"), "--out", str(tmp_path / "dask"),
                    "--workers", "2", check_exit=0)
    assert "4 publications of 2 provinces" in dask.stdout
    parindex("national", "--inputs", str(national / "2026"), "--out", str(tmp_path / "seq"), "--sequential",
             check_exit=0)
    a, b = _publications(tmp_path / "dask"), _publications(tmp_path / "seq")
    assert sorted(a) == ["hue/commune", "hue/department", "lai-chau/commune", "lai-chau/department"]
    assert a == b
    overview = pd.read_csv(tmp_path / "dask" / "national.csv", encoding="utf-8-sig")
    assert overview["units"].sum() == 38 + 40 + 2 * 12
    for pub in a:
        res = pd.read_csv(tmp_path / "dask" / pub / "results.csv", encoding="utf-8-sig")
        row = overview[(overview["province_slug"] + "/" + overview["level"]) == pub].iloc[0]
        assert row["highest_index"] == res["index_pct"].max() and row["units"] == len(res)
        assert (tmp_path / "dask" / pub / "report.vi.pdf").stat().st_size > 10_000
        cards = sorted(p.name for p in (tmp_path / "dask" / pub / "units").iterdir())  # a scorecard per unit
        assert len(cards) == len(res)
        for card in cards:  # drawn reproducibly: the same bytes from a Dask worker and from this process
            assert (tmp_path / "dask" / pub / "units" / card).read_bytes() == \
                (tmp_path / "seq" / pub / "units" / card).read_bytes(), (pub, card)
    # last year's results reached the report: rank changes are filled
    res = pd.read_csv(tmp_path / "dask" / "hue" / "commune" / "results.csv", encoding="utf-8-sig")
    assert res["prev_rank"].notna().all()


@pytest.mark.xdist_group("cli")
def test_a_failing_province_does_not_stop_the_others(national, tmp_path):
    tree = tmp_path / "in"
    shutil.copytree(national / "2026", tree)
    sa = tree / "hue" / "commune" / "self_assessment.csv"
    edit_csv(sa, lambda d: d.assign(appraised_points=d["appraised_points"].mask(d.index == 3, "bốn")))
    # on a running cluster given by its scheduler address, as on real hardware
    from distributed import LocalCluster

    env = {"PREFECT_HOME": str(tmp_path / "worker-prefect"), "PREFECT_LOGGING_LEVEL": "WARNING"}
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=True, dashboard_address=None,
                      env=env) as cluster:
        proc = parindex("national", "--inputs", str(tree), "--out", str(tmp_path / "out"),
                        "--scheduler", cluster.scheduler_address, "--no-unit-pdfs", check_exit=1)
    assert "hue" in proc.stderr and "1 province(s) failed" in proc.stderr
    assert (tmp_path / "out" / "lai-chau" / "commune" / "results.csv").is_file()
    assert not (tmp_path / "out" / "lai-chau" / "commune" / "units").exists()  # --no-unit-pdfs
    assert not (tmp_path / "out" / "hue" / "commune" / "results.csv").exists()
    # the province's other index still publishes: its levels run one after another in the province's flow
    assert (tmp_path / "out" / "hue" / "department" / "results.csv").is_file()
    errors = pd.read_csv(tmp_path / "out" / "hue" / "commune" / "validation" / "errors.csv", dtype=str, encoding="utf-8-sig")
    assert (errors["column"] == "appraised_points").any() and (errors["value"] == "bốn").any()
    assert "hue" in (tmp_path / "out" / "national.md").read_text(encoding="utf-8")


def _task_states(flow_run_id) -> dict[str, str]:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

    with get_client(sync_client=True) as client:
        runs = client.read_task_runs(flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[flow_run_id])))
    return {r.name.rsplit("-", 1)[0]: r.state.name for r in runs}


@pytest.mark.flow
@pytest.mark.xdist_group("flow")
def test_unchanged_rerun_reuses_gx_rows_and_a_corrected_one_does_not(prefect_harness, mini, tmp_path):
    import uuid

    from flows.annual import annual_run

    # inputs no other test of the session has published (the cache is shared by the session's harness)
    with open(mini / "index.yaml", "a", encoding="utf-8") as fh:
        fh.write(f"# {uuid.uuid4()}\n")
    first = annual_run(inputs=str(mini), out=str(tmp_path / "a"), return_state=True)
    second = annual_run(inputs=str(mini), out=str(tmp_path / "b"), return_state=True)
    s1, s2 = _task_states(first.state_details.flow_run_id), _task_states(second.state_details.flow_run_id)
    assert s1["validate (GX suites)"] == "Completed" and s2["validate (GX suites)"] == "Cached", (s1, s2)
    for step in ("validate", "score", "rank"):  # never read from Prefect's storage (issue 15, case 7)
        assert s1[step] == "Completed" and s2[step] == "Completed", (step, s1, s2)
    assert s2["render outputs"] == "Completed"  # this run's files are always written
    assert (tmp_path / "a" / "results.csv").read_bytes() == (tmp_path / "b" / "results.csv").read_bytes()
    edit_csv(mini / "self_assessment.csv",
             lambda d: d.assign(appraised_points=d["appraised_points"].mask(d.index == 0, "0")))
    third = annual_run(inputs=str(mini), out=str(tmp_path / "c"), return_state=True)
    s3 = _task_states(third.state_details.flow_run_id)
    assert all(s3[step] == "Completed" for step in ("validate (GX suites)", "validate", "score", "rank")), s3
    before = pd.read_csv(tmp_path / "a" / "results.csv", dtype={"unit_code": str}, encoding="utf-8-sig").set_index("unit_code")
    after = pd.read_csv(tmp_path / "c" / "results.csv", dtype={"unit_code": str}, encoding="utf-8-sig").set_index("unit_code")
    assert after.loc["U01", "total_points"] == before.loc["U01", "total_points"] - 2


@pytest.mark.flow
@pytest.mark.xdist_group("flow")
def test_a_provinces_task_runs_are_named_after_their_level_and_carry_no_tag(prefect_harness, mini, tmp_path):
    """The two levels of a province's flow run are told apart by their task runs' names; no task carries a
    tag, which would cost two requests to the server (concurrency slots) around each of its runs."""
    from flows.national import province_run

    (tmp_path / "prov").mkdir()
    shutil.copytree(mini, tmp_path / "prov" / "district")
    state = province_run(province="thu-nghiem", folders=[str(tmp_path / "prov" / "district")],
                         out=str(tmp_path / "out"), unit_pdfs=False, return_state=True)
    assert state.is_completed(), state
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

    with get_client(sync_client=True) as client:
        runs = client.read_task_runs(flow_run_filter=FlowRunFilter(
            id=FlowRunFilterId(any_=[state.state_details.flow_run_id])))
    names = sorted(r.name for r in runs)
    assert "validate · district" in names and "render outputs · district" in names, names
    assert all(r.name.endswith(" · district") for r in runs), names
    assert not any(r.tags for r in runs), [(r.name, r.tags) for r in runs]
    assert (tmp_path / "out" / "district" / "results.csv").is_file()


def test_cache_key_follows_content_and_code():
    from types import SimpleNamespace

    from flows.annual import content_key

    def bundle(*files):
        return SimpleNamespace(files=[SimpleNamespace(role=r, sha256=h) for r, h in files])

    ctx = SimpleNamespace(task=SimpleNamespace(name="score"))
    base = content_key(ctx, {"inputs": bundle(("units", "a"), ("self_assessment", "b"))})
    assert base == content_key(ctx, {"bundle": bundle(("self_assessment", "b"), ("units", "a"))})
    assert base != content_key(ctx, {"inputs": bundle(("units", "a"), ("self_assessment", "c"))})
    assert base != content_key(SimpleNamespace(task=SimpleNamespace(name="rank")),
                               {"inputs": bundle(("units", "a"), ("self_assessment", "b"))})


@pytest.mark.flow
@pytest.mark.xdist_group("flow")
def test_run_leaves_a_summary_and_the_ranking_as_artifacts(prefect_harness, mini, tmp_path):
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey

    from flows.annual import annual_run

    state = annual_run(inputs=str(mini), out=str(tmp_path / "out"), return_state=True)
    run_id = state.state_details.flow_run_id
    with get_client(sync_client=True) as client:
        arts = client.read_artifacts(artifact_filter=ArtifactFilter(key=ArtifactFilterKey(
            any_=["parindex-tinh-thu-nghiem-2024-district-summary",
                  "parindex-tinh-thu-nghiem-2024-district-ranking"])))
    arts = [a for a in arts if a.flow_run_id == run_id]
    by_type = {a.type: a for a in arts}
    results = pd.read_csv(tmp_path / "out" / "results.csv", dtype={"unit_code": str}, encoding="utf-8-sig")
    table = by_type["table"].data
    rows = table if isinstance(table, list) else json.loads(table)
    assert sorted(r["unit_code"] for r in rows) == sorted(results["unit_code"])
    assert "Tỉnh Thử Nghiệm" in by_type["markdown"].data


def test_yearly_deployment_runs_in_vietnam_time(tmp_path):
    from prefect.client.schemas.schedules import CronSchedule

    from flows.deploy import TIME_ZONE, assessed_year, build_deployments

    annual, rerun, robustness, whatif, forms, collect = build_deployments(str(tmp_path / "in"), str(tmp_path / "out"),
                                                          db="sqlite:///x.sqlite")
    assert not robustness.schedules and set(robustness._parameter_openapi_schema.required) == {"from_dir", "out"}
    assert set(whatif._parameter_openapi_schema.required) == {"from_dir", "methodology", "out"}
    assert set(forms._parameter_openapi_schema.required) == {"inputs", "out"}
    assert set(collect._parameter_openapi_schema.required) == {"forms_dir", "inputs"}
    schedule = annual.schedules[0].schedule
    assert isinstance(schedule, CronSchedule)
    assert (schedule.cron, schedule.timezone) == ("0 7 15 1 *", "Asia/Ho_Chi_Minh")
    assert annual.parameters["inputs_root"] == str((tmp_path / "in").resolve()) and annual.parameters["year"] is None
    assert not rerun.schedules
    assert set(rerun._parameter_openapi_schema.required) == {"from_dir", "corrections", "out"}
    # 00:30 on 1 January in Hà Nội is still 31 December in UTC: the year assessed is the one just ended
    assert assessed_year(datetime(2026, 12, 31, 17, 30, tzinfo=UTC)) == 2026
    assert assessed_year(datetime(2027, 1, 15, 7, 0, tzinfo=ZoneInfo(TIME_ZONE))) == 2026
    assert assessed_year(datetime(2026, 12, 31, 16, 59, tzinfo=UTC)) == 2025


@pytest.mark.flow
@pytest.mark.xdist_group("flow")
def test_scheduled_flow_publishes_every_level_of_the_year(prefect_harness, mini, tmp_path, monkeypatch):
    from prefect.flow_engine import FlowRunEngine

    from flows.deploy import annual_year

    beats = []  # the flows that sent a heartbeat: the scheduled flow does, its indices (same process) do not
    emit = FlowRunEngine._emit_flow_run_heartbeat
    monkeypatch.setattr(FlowRunEngine, "_emit_flow_run_heartbeat",
                        lambda self, *a: (beats.append(self.flow.name), emit(self, *a))[1])
    shutil.copytree(mini, tmp_path / "in" / "2024" / "district")
    runs = annual_year(inputs_root=str(tmp_path / "in"), out_root=str(tmp_path / "out"), year=2024)
    assert [r["level"] for r in runs] == ["district"]
    assert set(beats) == {"parindex-annual-year"}
    assert (tmp_path / "out" / "2024" / "district" / "report.vi.pdf").is_file()
    with pytest.raises(FileNotFoundError, match="2023"):
        annual_year(inputs_root=str(tmp_path / "in"), out_root=str(tmp_path / "out"), year=2023)


@pytest.mark.flow
@pytest.mark.xdist_group("flow")
def test_the_server_schedules_the_yearly_run_at_seven_in_hanoi(prefect_harness, tmp_path):
    """The Prefect server's scheduler (the code its scheduler service runs) turns the served cron into a
    flow run at 07:00 Asia/Ho_Chi_Minh on 15 January. It failed on SQLAlchemy 2.1 with Prefect 3.8; this
    keeps the pinned set honest."""
    import asyncio

    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterId
    from prefect.server.database import provide_database_interface
    from prefect.server.models.deployments import schedule_runs
    from sqlalchemy.exc import OperationalError

    from flows.deploy import TIME_ZONE, build_deployments

    annual, *_ = build_deployments(str(tmp_path / "in"), str(tmp_path / "out"))
    deployment_id = annual.apply()

    async def schedule():
        db = provide_database_interface()
        async with db.session_context(begin_transaction=True) as session:
            return await schedule_runs(session, deployment_id=deployment_id)

    for attempt in range(5):
        try:
            scheduled = asyncio.run(schedule())
            break
        except OperationalError as exc:  # the harness server writes to the same SQLite file (its own scheduler,
            if "locked" not in str(exc) or attempt == 4:  # the events of the session's earlier flows): seen in
                raise  # `make test`; the runs are idempotent (one key per deployment and time)
            time.sleep(2)
    assert scheduled
    with get_client(sync_client=True) as client:
        runs = client.read_flow_runs(deployment_filter=DeploymentFilter(id=DeploymentFilterId(any_=[deployment_id])))
    assert runs and all(r.state_name == "Scheduled" for r in runs)
    local = [r.expected_start_time.astimezone(ZoneInfo(TIME_ZONE)) for r in runs]
    assert all((t.month, t.day, t.hour, t.minute) == (1, 15, 7, 0) for t in local), local
    now = datetime.now(ZoneInfo(TIME_ZONE))
    this_year = now.replace(month=1, day=15, hour=7, minute=0, second=0, microsecond=0)
    assert min(local) == (this_year if now < this_year else this_year.replace(year=now.year + 1))


def _worker_view(queue) -> None:
    """What a process forked by the national run's forkserver has: GX and the flow imported, and the API the
    forkserver was started for."""
    import gc
    import sys

    from prefect.settings import get_current_settings

    queue.put(("great_expectations" in sys.modules, "flows.national" in sys.modules,
               str(get_current_settings().api.url), gc.get_freeze_count() > 100_000))


def test_local_workers_are_forked_with_the_flow_imported_and_the_runs_api():
    """flows.workers.fork_workers_from: a forkserver that imported the flow, Great Expectations and the
    renderer once (and froze them for the collector), with the workers' Prefect API in its environment (Prefect reads it at import), while the
    command's own environment is left as it was; asked again for another environment, it declines (the
    workers are then spawned, and import for themselves)."""
    import os
    import subprocess
    import sys

    code = "\n".join([
        "import multiprocessing as mp, os, sys",
        "from flows.workers import fork_workers_from",
        "from tests.test_national import _worker_view",
        "api = {'PREFECT_API_URL': 'http://127.0.0.1:9/api'}",
        "assert fork_workers_from(api)",
        "assert 'PREFECT_API_URL' not in os.environ and 'great_expectations' not in sys.modules",
        "ctx = mp.get_context('forkserver'); q = ctx.Queue()",
        "p = ctx.Process(target=_worker_view, args=(q,)); p.start(); print(q.get(timeout=120)); p.join()",
        "assert fork_workers_from(api) and not fork_workers_from({})"])
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_API")}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, env=env,
                          cwd=Path(__file__).resolve().parent.parent)
    assert done.returncode == 0, done.stderr[-2000:]
    # (GX, the flow, the API, and the imports out of the collector's sight: a full collection skips them)
    assert done.stdout.strip() == "(True, True, 'http://127.0.0.1:9/api', True)"
