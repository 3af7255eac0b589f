"""The annual run as a Prefect flow: locate → archive → read → validate → score → rank → render → publish.

Wiring only: every step is a plain function from tasks/, wrapped here as a Prefect task. Retries only on I/O.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import hashlib
import os
import shutil
import sys
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pandas as pd
from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.cache_policies import NO_CACHE
from prefect.states import Failed
from prefect.utilities.annotations import opaque

from expectations import suites
from tasks import appendix, compute, corrections, ingest, publishing, render, report, store
from tasks.checks import plausibility_warnings
from tasks.methodology import MethodologyError
from tasks.ranking import published_criteria, published_proforma, published_results
from tasks.resources import PACKAGES
from tasks.runrecord import RunRecord

CONFIG_DIR = ingest.CONFIG_DIR


def _code_fingerprint() -> str:
    """SHA-256 of the project's Python sources and bundled config: any code change invalidates the cache,
    committed or not (git describe alone would miss an edit in a dirty tree)."""
    h = hashlib.sha256()
    for folder in [*PACKAGES, CONFIG_DIR]:
        for f in sorted(folder.rglob("*")):
            if f.is_file() and f.suffix in (".py", ".yaml"):
                h.update(f"{folder.name}/{f.relative_to(folder)}\n".encode())
                h.update(f.read_bytes())
    return h.hexdigest()


CODE_FINGERPRINT = _code_fingerprint()


def content_key(context, parameters: dict) -> str:
    """The cache key of a computing step: the step's name, the SHA-256 of every archived input file (the
    methodology, index.yaml and previous results included) and the code's fingerprint. The same inputs and
    code reuse the stored result; a corrected file, another methodology or changed code never do."""
    bundle = parameters["bundle"] if "bundle" in parameters else parameters["inputs"]
    files = sorted((f.role, f.sha256) for f in bundle.files)
    text = "\n".join([context.task.name, CODE_FINGERPRINT, *(f"{r}:{h}" for r, h in files)])
    return hashlib.sha256(text.encode()).hexdigest()


# Reading, archiving, rendering and publishing always run (they write this run's files). Of the computing
# steps only the GX suites persist their result under content_key (1.5–3 s; the final run after the council's
# draft, or an unchanged rerun, reuses them; a corrected file never does). What they cache is problem rows,
# and they are used only if they are exactly the rows the declared rules fail on, evaluated afresh
# (expectations.suites.Replay); typing, scoring and ranking always run. No published figure, and no verdict
# on the inputs, is read from Prefect's storage.
CACHED = {"cache_key_fn": content_key, "persist_result": True}

# Every large argument of a task goes in `opaque(...)`: Prefect then takes it whole. Without it, Prefect walks
# into each argument twice per task — to resolve futures inside it and to find upstream results — through
# every dataclass, dict and list (the methodology's criteria, the problems, the run record): ~4 CPU-s of a
# national run's 68 publications. The task still receives the value itself, and the run's graph still links a
# task to the task whose result it is given (Prefect looks at the value itself, only not inside it).


#: the level a province's flow run is publishing now (flows.national sets it around each level): its task runs
#: are named after it (`validate · commune`), so that the two levels of one flow run are told apart in the UI
LEVEL: contextvars.ContextVar[str | None] = contextvars.ContextVar("parindex_level", default=None)


@contextlib.contextmanager
def publishing_level(level: str) -> Iterator[None]:
    """LEVEL set to `level` for the steps run inside."""
    token = LEVEL.set(level)
    try:
        yield
    finally:
        LEVEL.reset(token)


class RunName:
    """A step's task-run name: the step's own, and the level being published (LEVEL), if any. An object of a
    module's class, not a closure: a national run pickles the flow it sends to a Dask worker by value, and a
    closure would take the ContextVar with it, which cannot be pickled."""

    def __init__(self, name: str):
        self.name = name

    def __call__(self) -> str:
        level = LEVEL.get()
        return f"{self.name} · {level}" if level else self.name


def step(name: str, **options):
    """A decorator: the function as a Prefect task called `name`, its runs named by RunName.

    Not by a tag: Prefect asks its server for concurrency slots (and releases them) around every run of a task
    that carries a tag, a limit defined or not: two requests and ~7 ms of CPU per task run (4.4 ms in the
    client, 2.1 ms in the server, measured over 300 runs), ~4 CPU-s of a national run's 612 task runs, and a
    worker waiting whenever the server was slow to answer (seen: 2 s)."""
    return lambda fn: task(fn, name=name, task_run_name=RunName(name), **options)


def _refusals_returned(fn):
    """Bad input is an answer, not a crash: the task returns the InputError or MethodologyError instead of
    raising it (Prefect logs a raised one with its traceback on the user's terminal), and the flow raises it
    where it reports it (_raised)."""
    @functools.wraps(fn)
    def returning(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except (ingest.InputError, MethodologyError) as exc:
            return exc
    return returning


def _raised(value):
    if isinstance(value, (ingest.InputError, MethodologyError)):
        raise value
    return value


locate_inputs = step("locate inputs", cache_policy=NO_CACHE)(_refusals_returned(ingest.locate_inputs))
archive_inputs = step("archive inputs", cache_policy=NO_CACHE,
                      retries=2, retry_delay_seconds=2)(_refusals_returned(ingest.archive_inputs))
read_inputs = step("read inputs", cache_policy=NO_CACHE)(_refusals_returned(ingest.read_inputs))


def _gx_suites(bundle) -> list[dict]:
    """The GX suites' problem rows (expectations/suites.py); a named parameter, `bundle`, for content_key."""
    return suites.gx_problems(bundle)


def _validate(bundle, gx_rows: list[dict]):
    """The one validator, given the GX rows of these inputs (checked against the rules before use)."""
    return suites.validate(bundle, raise_on_error=False, gx_rows=gx_rows)


gx_suites = step("validate (GX suites)", **CACHED)(_gx_suites)
validate = step("validate", cache_policy=NO_CACHE)(_validate)


def _invalid(exc: Exception, n: int, path: Path):
    """The flow's final state when the inputs are invalid: Failed, with the exception for callers (the CLI
    exits 2) and without a traceback in the log — the problems are in validation/errors.csv."""
    get_run_logger().error(f"validation failed: {n} error(s); nothing was published; see {path}")
    return Failed(message=f"validation failed: {n} error(s); see {path}", data=exc)
score = step("score", cache_policy=NO_CACHE)(compute.score)
rank = step("rank", cache_policy=NO_CACHE)(compute.rank)


def _inputs_digest(files) -> str:
    h = hashlib.sha256()
    for f in sorted(files, key=lambda f: f.role):
        h.update(f"{f.role}:{f.sha256}\n".encode())
    return h.hexdigest()


@step("render outputs", cache_policy=NO_CACHE)
def render_outputs(staging: Path, bundle, computed: compute.Computed, run: dict,
                   changes: pd.DataFrame | None = None, workers: int = 2, unit_pdfs: bool = True) -> None:
    """Every published file. `workers`: child processes drawing the unit scorecards and writing the workbook
    while this one writes the tables, the contexts and the HTML, and as many report PDFs typeset at once, each
    by a process of its own (render.Reports: Typst's memo cache leaves with it); with 1 (inside a Dask worker,
    which already is one of several) the scorecards and the workbook are made here and one report is
    typeset at a time. `unit_pdfs=False` leaves out units/<code>.pdf (the scorecards stay in the report)."""
    m = bundle.methodology
    render.warm()  # loaded here once, not in each child (a national worker renders publication after publication)
    proforma = published_proforma(m, computed.ranked)  # units formed by the 2025 reorganisation, if any
    reports = render.Reports(workers)
    background = None
    try:
        background = render.in_background([functools.partial(_write_workbook, staging, bundle, computed, run,
                                                             changes, proforma)], workers)
        _write_tables(staging, bundle, computed, run, proforma)
        when = run.get("report_date", run["started_at"])
        for lang in ("vi", "en"):
            context = report.build_context(m, bundle.index, computed, run, lang, changes)
            reports.add("report.typ", context, staging / f"report.{lang}.pdf", when=when)
            if lang == "vi" and unit_pdfs:  # a scorecard per unit, in Vietnamese, for the department to send
                background.add(render.card_jobs(m, computed, context, staging / "units", shares=workers))
            (staging / f"report.{lang}.html").write_text(render.render_html(context), encoding="utf-8")
        background.results()
        reports.results()
    except BaseException:  # this process failed or was interrupted: no child or typesetter outlives it
        if background is not None:
            background.cancel()
        reports.cancel()
        raise


def _write_tables(staging: Path, bundle, computed: compute.Computed, run: dict,
                  proforma: pd.DataFrame | None) -> None:
    """results.csv, criteria.csv, results.json (and proforma.csv)."""
    m = bundle.methodology
    render.write_csv(computed.results, staging / "results.csv")
    render.write_csv(computed.criteria_published, staging / "criteria.csv")
    meta = {"province": bundle.index.get("province"), "year": m.year, "level": m.level,
            "methodology_id": m.id, "version": run["version"], "inputs_sha256": run["inputs_sha256"],
            "synthetic": bool(bundle.index.get("synthetic", False))}  # no run id or time: a pure function
    render.write_json(staging / "results.json", meta, {"results": computed.results,
                                                       "criteria": computed.criteria_published})
    if proforma is not None:  # units formed by the 2025 reorganisation, compared pro forma
        render.write_csv(proforma, staging / "proforma.csv")


def _write_workbook(staging: Path, bundle, computed: compute.Computed, run: dict,
                    changes: pd.DataFrame | None, proforma: pd.DataFrame | None) -> str:
    """results.xlsx: the appendix in Vietnamese first, then the machine-readable tables under their contract
    names (and the pro forma comparison, a rerun's changes)."""
    m = bundle.methodology
    sheets_vi = appendix.appendix_sheets(m, computed, changes)
    titles = appendix.appendix_titles(m, bundle.index, sheets_vi, run)
    sheets = {**sheets_vi, "results": computed.results,
              "criteria": computed.criteria_published, "dossiers": computed.rates.copy()}
    if proforma is not None:
        sheets["proforma"] = proforma
    if changes is not None:
        sheets["changes"] = changes
    render.write_xlsx(staging / "results.xlsx", sheets, m.decimals, titles)
    return str(staging / "results.xlsx")


def progress(where: str, what: str) -> None:
    """One line per finished stage on stderr (`2024/commune · validate 4.4 s`), so that a long run — a
    national one above all, where provinces finish in turn on the workers — is never a silent minute; the same
    line goes to the run's Prefect log, shown in the UI. PARINDEX_QUIET=1 turns the stderr lines off."""
    get_run_logger().info("%s · %s", where, what)
    if os.environ.get("PARINDEX_QUIET") != "1":
        print(f"parindex: {where} · {what}", file=sys.stderr, flush=True)


@flow(name="parindex-annual-run")
def annual_run(inputs: str, out: str, db: str | None = None, version: int = 1,
               parent_run_id: str | None = None, previous_publication: str | None = None,
               corrections_applied: list[dict] | None = None, render_workers: int = 2,
               unit_pdfs: bool = True, draft: bool = False, published_on: str | None = None) -> dict:
    """Publish the PAR Index for one input folder into `out`; return a summary (with seconds per stage).
    Invalid inputs: a Failed state carrying compute.ValidationFailed (exit 2), `out/validation/` written and
    any earlier publication in `out` untouched. `draft`: the council's review copy (DỰ THẢO on every page,
    warnings annexed); `published_on` (YYYY-MM-DD): the announcement date of the report and the cards."""
    logger = get_run_logger()
    out_dir = Path(out).resolve()
    out_dir.mkdir(parents=True, exist_ok=True)
    for note in publishing.recover_interrupted(out_dir):
        logger.warning(note)
    run_id = str(uuid.uuid4())
    started = datetime.now(UTC).replace(microsecond=0)
    report_date = announcement_date(published_on, started)
    staging = publishing.make_staging(out_dir, run_id)
    url = db or store.default_url(out_dir)
    clock = _Clock("/".join(Path(inputs).resolve().parts[-2:]))  # 2024/commune, or <province>/<level>
    try:
        read = _ingest(inputs, staging, out_dir)
        if not isinstance(read, tuple):
            return read
        archived, bundle = read
        clock.lap("ingest")
        checked = validate(opaque(bundle), opaque(gx_suites(opaque(bundle))))
        clock.lap("validate")
        if checked.errors:
            path = publishing.write_validation(out_dir, checked.problems_frame())
            shutil.rmtree(staging, ignore_errors=True)
            return _invalid(compute.ValidationFailed(checked), len(checked.errors), path)
        criteria, totals, rates = score(opaque(bundle), opaque(checked))
        ranked = rank(opaque(bundle), opaque(checked), opaque(totals))
        clock.lap("score_rank")
        checked.problems = checked.problems + plausibility_warnings(ranked)
        m = bundle.methodology
        computed = compute.Computed(checked, criteria, ranked, rates, published_results(m, ranked),
                                    published_criteria(m, criteria))
        run = _run_record(run_id, version, parent_run_id, bundle, archived, out_dir, started)
        changes = _changes(previous_publication, bundle, computed, staging)
        render_outputs(staging, opaque(bundle), opaque(computed),
                       opaque({**run.row(), "files": archived, "report_date": report_date, "draft": draft}),
                       opaque(changes), workers=render_workers, unit_pdfs=unit_pdfs)
        clock.lap("render")
        run = run.done(datetime.now(UTC).replace(microsecond=0))
        publication = {"draft": draft, "published_on": report_date.date().isoformat(),
                       "corrects": previous_publication, "files": archived, "database": store.redact(url)}
        _manifest_and_publish(staging, out_dir, url, bundle, computed, run, publication, changes, corrections_applied)
        clock.lap("store_publish")
        _artifacts(run, computed, out_dir, changes, m.decimals)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    logger.info(f"published version {version} of {m.id}: {len(ranked)} units in {out_dir}")
    return {"run_id": run_id, "version": version, "out": str(out_dir), "units": len(ranked),
            "changes": None if changes is None else len(changes),
            "methodology_id": m.id, "report": str(out_dir / "report.vi.pdf"), "database": store.redact(url),
            "province": run.province, "level": m.level, "year": m.year, "stages": clock.stages,
            "rss_mib": clock.memory}


def _changes(previous_publication: str | None, bundle, computed, staging: Path) -> pd.DataFrame | None:
    """A rerun's errata table (changes.csv) against the publication it corrects; None for a first run."""
    if not previous_publication:
        return None
    changes = corrections.changes_against(publishing.published_tables(Path(previous_publication)), bundle, computed)
    render.write_csv(changes, staging / "changes.csv")
    return changes


def _manifest_and_publish(staging: Path, out_dir: Path, url: str, bundle, computed, run: RunRecord,
                          publication: dict, changes, applied: list[dict] | None) -> None:
    """Seal the staged files in the manifest, store the rows and swap the folder in (crash-safe); then the
    validation page of this run."""
    manifest = publishing.manifest_of(run, publication, bundle.methodology, publication["files"], computed.checked,
                                      database=publication["database"], units=len(computed.ranked), changes=changes)
    publishing.write_manifest(staging / "manifest.json", manifest, staging)
    publish(staging, out_dir, url, opaque(bundle), opaque(computed), opaque(run), opaque(applied))
    publishing.write_validation(out_dir, computed.checked.problems_frame())


def _run_record(run_id: str, version: int, parent_run_id: str | None, bundle, archived, out_dir: Path,
                started: datetime) -> RunRecord:
    """The run, as the database's `runs` row and the manifest record it (finished by `done` at the end)."""
    m = bundle.methodology
    return RunRecord(run_id=run_id, version=version, parent_run_id=parent_run_id,
                     province=str(bundle.index.get("province", "")), year=m.year, level=m.level,
                     methodology_id=m.id, methodology_sha256=m.sha256, inputs_sha256=_inputs_digest(archived),
                     code_version=publishing.code_version(), out_dir=str(out_dir),
                     synthetic=bool(bundle.index.get("synthetic", False)), started_at=started)


class _Clock:
    """Seconds per stage and what each stage left in memory (MiB), for the benchmark; a progress line each."""

    def __init__(self, where: str):
        self.where = where
        self.stages: dict[str, float] = {}
        self.memory: dict[str, float] = {}
        self.last = time.perf_counter()
        progress(where, "started")

    def lap(self, name: str) -> None:
        now = time.perf_counter()
        self.stages[name] = round(self.stages.get(name, 0.0) + now - self.last, 3)
        progress(self.where, f"{name} {now - self.last:.1f} s")
        self.last = now
        self.memory[name] = _rss_mib()


def _ingest(inputs: str, staging: Path, out_dir: Path):
    """Locate, archive (hashes first) and read the inputs: (archived files, bundle), or the flow's Failed state
    with validation/ written when a file cannot be read."""
    try:
        roles = _raised(locate_inputs(Path(inputs), CONFIG_DIR))
        archived = _raised(archive_inputs(opaque(roles), staging))
        return archived, _raised(read_inputs(staging, opaque(archived)))
    except (ingest.InputError, MethodologyError) as exc:
        rows = ingest.unreadable_rows(exc, inputs)
        path = publishing.write_validation(out_dir, rows)
        shutil.rmtree(staging, ignore_errors=True)
        return _invalid(compute.InputsUnreadable(rows), len(rows), path)


def announcement_date(published_on: str | None, started: datetime) -> datetime:
    """The date printed in the report: `--published-on`, else SOURCE_DATE_EPOCH (reproducible builds), else
    today in Vietnam."""
    if published_on:
        return datetime.fromisoformat(str(published_on)).replace(tzinfo=UTC)
    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    if epoch:
        return datetime.fromtimestamp(int(epoch), UTC)
    return started.astimezone(ZoneInfo("Asia/Ho_Chi_Minh"))


def _rss_mib() -> float:
    """Resident memory of this process now, MiB (Linux /proc; 0 where it cannot be read)."""
    try:
        with open("/proc/self/statm") as fh:
            return round(int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20, 1)
    except (OSError, ValueError, IndexError):
        return 0.0


def _artifacts(run: RunRecord, computed: compute.Computed, out_dir: Path, changes: pd.DataFrame | None,
               d: int) -> None:
    """A markdown summary and the ranking table on the flow run, for the Prefect UI (Artifacts tab)."""
    from tasks.numbers import format_number as fmt
    from tasks.text import ascii_slug

    res = computed.results
    by_rank = res.sort_values(["rank", "unit_code"])
    top, bottom = by_rank.iloc[0], by_rank.iloc[-1]
    # one key per province, index and year: the UI keeps each key's history, version after version
    key = "-".join(x for x in ["parindex", ascii_slug(run.province), str(run.year), run.level] if x)
    lines = [f"## {run.province} — {run.level} {run.year}, version {run.version}",
             f"- units: {len(res)}; average index {fmt(res['index_pct'].mean(), d, 'en')} %",
             f"- first: {top['unit_name']} ({fmt(top['index_pct'], d, 'en')} %); "
             f"last: {bottom['unit_name']} ({fmt(bottom['index_pct'], d, 'en')} %)",
             f"- published in `{out_dir}`; run `{run.run_id}`; inputs `{run.inputs_sha256[:16]}…`"]
    if changes is not None:
        lines.append(f"- corrects run `{run.parent_run_id}`: {len(changes)} changed row(s)")
    create_markdown_artifact("\n".join(lines), key=f"{key}-summary", description="PAR Index run summary")
    cols = [c for c in ("rank", "unit_code", "unit_name", "group", "total_points", "index_pct", "band",
                        "rank_change") if c in res.columns]
    rows = res.sort_values(["group", "rank", "unit_code"])[cols]
    create_table_artifact(rows.astype(object).where(rows.notna(), None).to_dict("records"), key=f"{key}-ranking",
                          description="Ranking (results.csv)")


@step("publish", cache_policy=NO_CACHE)
def publish(staging: Path, out_dir: Path, url: str, bundle, computed, run: RunRecord,
            applied: list[dict] | None = None) -> None:
    """Store the rows and move the files into place (tasks.publishing.publish_staged: crash-safe)."""
    published_index = computed.ranked["unit_code"].map(computed.results.set_index("unit_code")["index_pct"])
    publishing.publish_staged(
        staging, out_dir, url,
        lambda conn: store.write_publication(conn, run, bundle, computed, published_index, applied), run.run_id)
