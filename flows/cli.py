"""`parindex`: the command-line shell over the flows (sample, run, rerun, demo).

Exit status: 0 published; 2 the inputs failed validation (errors in DIR/validation/errors.csv); 1 otherwise.
Heavy imports (Prefect, pandas, Great Expectations, Typst) happen inside the commands so that `--help` answers at once.
"""

from __future__ import annotations

import argparse
import atexit
import os
import sys
import traceback
from pathlib import Path

EXIT_OK, EXIT_FAILED, EXIT_INVALID = 0, 1, 2
EXIT_INTERRUPTED = 130  # as a shell reports a command stopped by Ctrl-C (128 + SIGINT)


def _quiet_defaults(verbose: bool) -> None:
    # no telemetry from a government machine; the caller's own settings win
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("DO_NOT_TRACK", "1")
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "180")
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "INFO" if verbose else "WARNING")
    # dask.distributed logs every worker's start and stop at INFO: only problems, unless asked
    os.environ.setdefault("DASK_LOGGING__DISTRIBUTED", "info" if verbose else "warning")


def _print_problems(out: Path, rows: list[dict] | None = None) -> None:
    summary = out / "validation" / "summary.txt"
    if summary.exists():
        sys.stderr.write(summary.read_text(encoding="utf-8"))
    sys.stderr.write(f"Nothing was published. The full list is in {out / 'validation' / 'errors.csv'}\n")


def _warm_gx() -> None:
    from expectations.suites import _gx

    _gx()  # 3–5 s


def _warm_run() -> None:
    """What a run loads before its first task and its first rendering — the flow, Great Expectations, the
    compiled templates — done while Prefect's temporary server boots (flows.api)."""
    import flows.annual  # noqa: F401
    from tasks import render

    _warm_gx()
    render.warm()


def _warm_desk() -> None:
    import flows.desk  # noqa: F401 — robustness does not validate: no Great Expectations to load


def _run_guarded(fn, out: Path, warm=(_warm_run,)) -> int:
    """`fn`, the command's flows, against a Prefect API (flows.api.prefect_api, `warm` done while it starts),
    its failures said as the exit status and a line on stderr."""
    from flows.api import prefect_api
    from tasks.compute import InputsUnreadable, ValidationFailed
    from tasks.store import StoreError

    try:
        with prefect_api(*warm):
            fn()
        return EXIT_OK
    except (ValidationFailed, InputsUnreadable):
        _print_problems(out)
        return EXIT_INVALID
    except StoreError as exc:  # a database the pipeline's role may not migrate: who must, and how
        sys.stderr.write(f"parindex: {exc}\nNothing was published; an earlier publication in {out} is unchanged.\n")
        return EXIT_INVALID
    except ValidationFailedSome as exc:
        sys.stderr.write(f"parindex: {exc}\n")
        return EXIT_INVALID
    except KeyboardInterrupt:
        raise
    except Exception as exc:  # any other failure: say what, keep the traceback for the log
        traceback.print_exc()
        sys.stderr.write(f"parindex: failed: {exc}\nNothing was published; an earlier publication in {out} "
                         "is unchanged.\n")
        return EXIT_FAILED


def cmd_sample(args) -> int:
    from flows.sample import write_national_sample, write_sample

    try:
        if args.scale == "national":
            extra = {"raw_rows": args.raw_rows} if args.raw_rows is not None else {}
            if args.provinces:
                extra["provinces"] = args.provinces.split(",")
            folders = write_national_sample(Path(args.out), year=args.year or 2026, years=args.years,
                                            seed=args.seed, **extra)
        else:
            folders = write_sample(Path(args.out), province=args.province, year=args.year or 2024,
                                   years=args.years, seed=args.seed)
    except ValueError as exc:  # an unknown province, a year it did not exist …
        sys.stderr.write(f"parindex sample: {exc}\n")
        return EXIT_FAILED
    for f in folders:
        print(f)
    return EXIT_OK


def _preflight(inputs: Path, out: Path) -> bool:
    """Read what can be read without Prefect (the folder, index.yaml, the files' presence, the methodology):
    a wrong path or a broken methodology is said in a moment, in both languages, with errors.csv written,
    before the flow and its server start. True when the run may go ahead."""
    from tasks import ingest
    from tasks.methodology import MethodologyError, load_methodology
    from tasks.publishing import recover_interrupted

    if out.is_dir():  # a publication a killed run left half-swapped is repaired first, whatever comes next
        for note in recover_interrupted(out.resolve()):
            sys.stderr.write(f"parindex: {note}\n")
    try:
        load_methodology(ingest.locate_inputs(inputs)["methodology"])
        return True
    except (ingest.InputError, MethodologyError) as exc:
        from tasks.publishing import write_validation

        write_validation(out.resolve(), ingest.unreadable_rows(exc, str(inputs)))
        _print_problems(out)
        return False


def _database_ready(db: str | None) -> bool:
    """A database named with --db is brought to this version's schema before the flow starts (what publishing
    would do first anyway); when the pipeline's role may not migrate it, that is said at once, exit 2, with the
    command that fixes it. The default SQLite file in the output folder always can be."""
    if not db:
        return True
    from tasks import store

    try:
        store.prepare(db)
        return True
    except store.StoreError as exc:
        sys.stderr.write(f"parindex: {exc}\nNothing was published.\n")
        return False


def level_folders(inputs: Path) -> list[Path]:
    """A province's year (`DIR/2024` holding `<level>/index.yaml`) as its input folders; [] for one folder."""
    if (inputs / "index.yaml").is_file() or not inputs.is_dir():
        return []
    return sorted(p.parent for p in inputs.glob("*/index.yaml"))


def cmd_run(args) -> int:
    inputs, out = Path(args.inputs), Path(args.out)
    folders = level_folders(inputs) or [inputs]
    pairs = [(f, out / f.name if f != inputs else out) for f in folders]
    try:
        ready = [(f, o) for f, o in pairs if _preflight(f, o)]
    except RuntimeError as exc:  # an interrupted publication whose database cannot be asked
        sys.stderr.write(f"parindex: {exc}\n")
        return EXIT_FAILED
    if not ready or not _database_ready(args.db):
        return EXIT_INVALID

    def publish_all():  # one process, one Prefect start, for every index of the year
        from flows.annual import annual_run
        from tasks.compute import InputsUnreadable, ValidationFailed

        invalid = len(pairs) - len(ready)
        for folder, target in ready:
            try:
                summary = annual_run(inputs=str(folder), out=str(target), db=args.db,
                                     unit_pdfs=not args.no_unit_pdfs, draft=args.draft,
                                     published_on=args.published_on)
            except (ValidationFailed, InputsUnreadable):
                if len(pairs) == 1:
                    raise
                _print_problems(target)
                invalid += 1
                continue
            print(f"Published version {summary['version']} of {summary['methodology_id']} "
                  f"({summary['units']} units) in {summary['out']}")
            print(f"Report: {summary['report']}")
            print("Stages (s): " + ", ".join(f"{k} {v:.1f}" for k, v in summary["stages"].items()))
        if invalid:
            raise ValidationFailedSome(invalid, len(pairs))

    return _run_guarded(publish_all, out)


class ValidationFailedSome(Exception):
    """Some indices of a province's year failed validation (the others were published)."""

    def __init__(self, invalid: int, total: int, message: str | None = None):
        super().__init__(message or f"{invalid} of {total} indices failed validation; the others were published")


def cmd_rerun(args) -> int:
    out = Path(args.out)
    if not _database_ready(args.db):
        return EXIT_INVALID
    def go():
        from flows.rerun import rerun

        summary = rerun(from_dir=str(args.from_dir), corrections=str(args.corrections), out=str(out), db=args.db,
                        author=args.author, draft=args.draft, published_on=args.published_on)
        print(f"Published version {summary['version']} of {summary['methodology_id']} in {summary['out']} "
              f"({summary['changes']} change row(s) in changes.csv)")
        print(f"Report: {summary['report']}")

    return _run_guarded(go, out)


def cmd_national(args) -> int:
    if not _database_ready(args.db):
        return EXIT_INVALID
    from flows.api import early_api_url, prefect_api, temporary_worker_env
    from flows.workers import fork_workers_from

    if not args.sequential and not args.scheduler and early_api_url():
        # the workers' imports start now, alongside the server's boot and this command's own imports below
        fork_workers_from(temporary_worker_env(early_api_url()))
    from flows.national import NationalRunFailed, national_run, task_runner

    try:
        with prefect_api() as api_url:
            runner = task_runner("sequential" if args.sequential else "dask", args.scheduler, args.workers, api_url)
            summary = national_run.with_options(task_runner=runner)(
                inputs=str(args.inputs), out=str(args.out), db=args.db, unit_pdfs=args.unit_pdfs)
    except NationalRunFailed as exc:
        sys.stderr.write(f"parindex national: {exc}\nThe other provinces were published; see "
                         f"{Path(args.out) / 'national.md'}\n")
        return EXIT_FAILED
    except FileNotFoundError as exc:
        sys.stderr.write(f"parindex national: {exc}\n")
        return EXIT_FAILED
    print(f"Published {summary['publications']} publications of {summary['provinces']} provinces "
          f"({summary['units']} units) in {summary['out']} in {summary['wall_s']:.0f} s")
    print(f"Overview: {Path(summary['out']) / 'national.csv'}")
    return EXIT_OK


def cmd_serve(args) -> int:
    from flows.deploy import serve

    if not os.environ.get("PREFECT_API_URL"):
        sys.stderr.write("parindex serve: set PREFECT_API_URL to a running Prefect server first, e.g.\n"
                         "  prefect server start   # in another terminal; UI at http://127.0.0.1:4200\n"
                         "  export PREFECT_API_URL=http://127.0.0.1:4200/api\n")
        return EXIT_FAILED
    serve(args.inputs_root, args.out_root, args.db, args.cron, args.national_inputs)
    return EXIT_OK


def cmd_robustness(args) -> int:
    out = Path(args.out)

    def go():
        from flows.desk import robustness

        s = robustness(from_dir=str(args.from_dir), out=str(out), replicates=args.replicates, seed=args.seed,
                       vary=args.vary, width=args.width, workers=args.workers)
        if "publications" in s:  # a province's year or a national run: one folder per publication
            print(f"{s['publications'] - len(s['failed'])} of {s['publications']} publications, {s['units']} units, "
                  f"{args.replicates} replicates; {s['uncertain_bands']} unit(s) with an uncertain band, in {s['out']}")
            for f in s["failed"]:
                sys.stderr.write(f"parindex robustness: {f['from']}: {f['error']}\n")
            if s["failed"]:
                raise ValidationFailedSome(len(s["failed"]), s["publications"],
                                           f"{len(s['failed'])} of {s['publications']} publications could not "
                                           "be done (above); the others were")
            return
        print(f"{s['units']} units, {args.replicates} replicates; {s['uncertain_bands']} unit(s) with an "
              f"uncertain band. Table: {Path(s['out']) / 'robustness.csv'}")
        print(f"Report: {s['report']}")

    return _run_guarded(go, out, warm=(_warm_desk,))


def cmd_whatif(args) -> int:
    out = Path(args.out)

    def go():
        from flows.desk import whatif

        s = whatif(from_dir=str(args.from_dir), methodology=str(args.methodology), out=str(out))
        print(f"{s['moved']} of {s['units']} units change rank under {s['methodology_id']}. "
              f"Table: {Path(s['out']) / 'comparison.csv'}")
        print(f"Report: {s['report']}")

    return _run_guarded(go, out, warm=(_warm_desk, _warm_gx))


def _refused(rows: list, where: Path | None) -> int:
    """Print problems that are not a run's (forms, collect, verify) with the one summary formatter, exit 2."""
    from tasks.publishing import problem_summary

    sys.stderr.write(problem_summary(rows, limit=30))
    if where is not None:
        sys.stderr.write(f"Nothing was written. The full table is in {where}\n")
    return EXIT_INVALID


def _forms_flows():
    import flows.forms  # noqa: F401 — while Prefect's temporary server boots


def cmd_forms(args) -> int:
    from flows.api import prefect_api
    from tasks.compute import InputsUnreadable

    try:
        with prefect_api(_forms_flows):
            from flows.forms import make_forms

            s = make_forms(inputs=str(args.inputs), out=str(args.out), stage=args.stage)
    except InputsUnreadable as exc:
        return _refused(exc.rows, Path(args.inputs))
    print(f"{s['forms']} {s['stage']} workbook(s) of {s['methodology_id']} in {s['out']}")
    return EXIT_OK


def cmd_collect(args) -> int:
    from flows.api import prefect_api
    from tasks.compute import InputsUnreadable

    try:
        with prefect_api(_forms_flows):
            from flows.forms import collect_forms

            s = collect_forms(forms_dir=str(args.forms), inputs=str(args.inputs))
    except InputsUnreadable as exc:
        return _refused(exc.rows, Path(args.forms) / "collect" / "errors.csv")
    print(f"{s['units']} workbook(s) collected ({s['rows']} rows, stage {s['stage']}): {s['target']}")
    print(f"Who returned, and self vs appraised differences ({s['differences']}): {s['report']}")
    return EXIT_OK


def cmd_verify(args) -> int:
    from tasks.publishing import verify_publication

    problems = verify_publication(Path(args.folder), args.db)
    if problems:
        return _refused(problems, None)
    print(f"{args.folder}: every input and output matches manifest.json, and the database holds the run.")
    return EXIT_OK


def cmd_migrate(args) -> int:
    """Bring a database to the code's schema as its owner, and give the pipeline's role (--app-role) only what
    publishing needs (README: PostgreSQL, two roles)."""
    from tasks import store

    try:
        current = store.prepare(args.db, args.app_role)
    except store.StoreError as exc:
        sys.stderr.write(f"parindex: {exc}\n")
        return EXIT_INVALID
    print(f"{store.redact(args.db)}: schema at revision {current}"
          + (f"; role {args.app_role} may read, insert and record replacements, nothing else" if args.app_role else ""))
    return EXIT_OK


def cmd_demo(args) -> int:
    from flows.api import prefect_api

    with prefect_api(_warm_run):
        from flows.demo import demo

        return demo(Path(args.out))


def _date(text: str) -> str:
    from datetime import date

    try:
        return date.fromisoformat(text).isoformat()
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date written YYYY-MM-DD "
                                         "(không phải ngày dạng YYYY-MM-DD)") from None


def _announcement_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--draft", action="store_true",
                   help="the council's review copy: every page marked DỰ THẢO, the plausibility warnings and the "
                        "technical annex included; without it, the final announcement (no warnings annex)")
    p.add_argument("--published-on", type=_date, default=None, metavar="YYYY-MM-DD",
                   help="the announcement date printed in the report and on the cards (default: today)")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="parindex", description="Compute, verify and publish the PAR Index "
                                "(Chỉ số cải cách hành chính) of a province's departments, districts and communes.")
    p.add_argument("-v", "--verbose", action="store_true", help="show the flow's progress log")
    sub = p.add_subparsers(dest="command", required=True)

    s = sub.add_parser("sample", help="write synthetic input folders for a real province's units")
    s.add_argument("--out", required=True, help="folder to write DIR/<year>/<level>/ into")
    s.add_argument("--province", default="hai-duong", help="a province in config/provinces (default hai-duong)")
    s.add_argument("--year", type=int, default=None,
                   help="the last year (default 2024; 2026 at national scale)")
    s.add_argument("--years", type=int, default=2, help="how many years ending at --year (default 2)")
    s.add_argument("--seed", type=int, default=20240, help="random seed; the same seed writes the same files")
    s.add_argument("--scale", choices=["province", "national"], default="province",
                   help="province: one province (--province); national: all 34 provinces and 3,321 communes "
                        "of the 2025 registry, DIR/<year>/<province>/<level>/")
    s.add_argument("--raw-rows", type=int, default=None,
                   help="national: per-dossier records in the last year, all provinces (default 20,000,000)")
    s.add_argument("--provinces", default=None,
                   help="national: only these province slugs, comma-separated (e.g. lai-chau,hue)")
    s.set_defaults(fn=cmd_sample)

    r = sub.add_parser("run", help="the annual run: ingest, validate, score, rank, store, render")
    r.add_argument("--inputs", required=True, help="input folder with index.yaml, or a year's folder holding "
                                                   "<level>/index.yaml: every index of the year in one process")
    r.add_argument("--out", required=True, help="output folder (the publication; OUT/<level>/ for a year)")
    r.add_argument("--db", default=None, help="SQLAlchemy URL; default an SQLite file under --out")
    r.add_argument("--no-unit-pdfs", action="store_true",
                   help="leave out units/<code>.pdf (a quicker check run); the report keeps the short scorecards")
    _announcement_options(r)
    r.set_defaults(fn=cmd_run)

    rr = sub.add_parser("rerun", help="publish a corrected version of a published run")
    rr.add_argument("--from", dest="from_dir", required=True, help="the published run's output folder")
    rr.add_argument("--corrections", required=True, help="corrections CSV or XLSX")
    rr.add_argument("--out", required=True, help="output folder for the new version")
    rr.add_argument("--db", default=None, help="SQLAlchemy URL; default the database named in --from's manifest")
    rr.add_argument("--author", default=None,
                    help="who authorised the corrections (recorded with each; default $USER); a corrections "
                         "file may also give an `author` column")
    _announcement_options(rr)
    rr.set_defaults(fn=cmd_rerun)

    n = sub.add_parser("national", help="every province of a national input tree, one sub-flow per province "
                                         "on a Dask cluster")
    n.add_argument("--inputs", required=True, help="DIR/<year> holding <province>/<level>/ input folders")
    n.add_argument("--out", required=True, help="output folder: OUT/<province>/<level>/ and national.csv")
    n.add_argument("--db", default=None, help="one SQLAlchemy URL for all provinces (PostgreSQL in production); "
                                              "default an SQLite file per province")
    n.add_argument("--workers", type=int, default=2, help="local Dask worker processes (default 2)")
    n.add_argument("--scheduler", default=None, help="address of a running Dask scheduler (tcp://host:8786) "
                                                     "instead of a local cluster")
    n.add_argument("--sequential", action="store_true", help="one province after another, in this process")
    n.add_argument("--unit-pdfs", action=argparse.BooleanOptionalAction, default=True,
                   help="write units/<code>.pdf for every unit (default; --no-unit-pdfs for a quicker check run)")
    n.set_defaults(fn=cmd_national)

    sv = sub.add_parser("serve", help="serve the yearly schedule and the rerun deployment to a Prefect server")
    sv.add_argument("--inputs-root", required=True, help="folder holding <year>/<level>/ input folders")
    sv.add_argument("--out-root", required=True, help="folder to publish <year>/<level>/ into")
    sv.add_argument("--db", default=None, help="SQLAlchemy URL for every run (PostgreSQL in production)")
    sv.add_argument("--cron", default="0 7 15 1 *",
                    help="when the yearly run starts, in Asia/Ho_Chi_Minh time (default 07:00 on 15 January)")
    sv.add_argument("--national-inputs", default=None, help="also serve a national deployment for DIR/<year>")
    sv.set_defaults(fn=cmd_serve)

    rb = sub.add_parser("robustness", help="how firm each published rank is: survey bootstrap and weight "
                                            "perturbation, recomputed N times")
    rb.add_argument("--from", dest="from_dir", required=True,
                    help="a published (or draft) run's folder, or a folder of them (a year, a national run)")
    rb.add_argument("--out", required=True, help="folder for robustness.csv and the report (one sub-folder per "
                                                 "publication when --from holds several)")
    rb.add_argument("--workers", type=int, default=2, help="publications worked on at a time (default 2)")
    rb.add_argument("--replicates", type=int, default=1000, help="replicates (default 1000)")
    rb.add_argument("--seed", type=int, default=20240, help="random seed; the same seed gives the same bytes")
    rb.add_argument("--vary", default="survey,weights", help="survey, weights, or both (default)")
    rb.add_argument("--width", type=float, default=0.25,
                    help="each field weight is multiplied by a uniform factor within ±WIDTH (default 0.25)")
    rb.set_defaults(fn=cmd_robustness)

    wi = sub.add_parser("whatif", help="a published run's archived inputs scored under another methodology")
    wi.add_argument("--from", dest="from_dir", required=True, help="a published run's folder")
    wi.add_argument("--methodology", required=True, help="the other methodology (YAML)")
    wi.add_argument("--out", required=True, help="folder for comparison.csv and the report")
    wi.set_defaults(fn=cmd_whatif)

    fo = sub.add_parser("forms", help="one workbook per unit to self-score (or, --stage appraisal, to appraise)")
    fo.add_argument("--inputs", required=True, help="the input folder (index.yaml, units.csv, methodology)")
    fo.add_argument("--out", required=True, help="folder for FORMS/<unit_code>.xlsx")
    fo.add_argument("--stage", choices=["self", "appraisal"], default="self",
                    help="self: for the units; appraisal: for the council, with the units' points filled in")
    fo.set_defaults(fn=cmd_forms)

    co = sub.add_parser("collect", help="check the returned workbooks and write DIR/self_assessment.xlsx")
    co.add_argument("forms", help="the folder of returned workbooks (any file names)")
    co.add_argument("--inputs", required=True, help="the input folder to write self_assessment.xlsx into")
    co.set_defaults(fn=cmd_collect)

    ve = sub.add_parser("verify", help="check a publication against its manifest and database (tampering)")
    ve.add_argument("folder", help="a published folder")
    ve.add_argument("--db", default=None, help="SQLAlchemy URL; default the database the manifest names")
    ve.set_defaults(fn=cmd_verify)

    mg = sub.add_parser("migrate", help="bring a database to this version's schema (as its owner) and grant the "
                                        "pipeline's role least privilege")
    mg.add_argument("--db", required=True, help="SQLAlchemy URL of the owner role (password: PARINDEX_DB_PASSWORD)")
    mg.add_argument("--app-role", default=None, help="PostgreSQL role the runs use: SELECT and INSERT, UPDATE of "
                                                     "runs.status/replaced_by/superseded_by only")
    mg.set_defaults(fn=cmd_migrate)

    d = sub.add_parser("demo", help="sample, run and rerun the bundled province; print where the report is")
    d.add_argument("--out", default="demo-output", help="folder for everything (default demo-output)")
    d.set_defaults(fn=cmd_demo)
    return p


#: the commands whose flows start Prefect (a temporary API server in a child process, unless one is configured)
STARTS_PREFECT = {cmd_run, cmd_rerun, cmd_national, cmd_demo, cmd_robustness, cmd_whatif, cmd_forms, cmd_collect}


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    _quiet_defaults(args.verbose)
    if getattr(args, "db", None):  # the password travels in the environment, never as a flow parameter
        from tasks.store import split_secret

        args.db = split_secret(args.db)
    if args.fn not in STARTS_PREFECT:
        return args.fn(args)
    from flows.api import started_early
    from tasks.reaper import guard

    guard()  # Prefect's temporary server (and Dask workers) never outlive this process
    with started_early():  # the server boots while the command reads its inputs and imports its flow
        return args.fn(args)


_status: list[int] = []


def _leave() -> None:
    """The last exit handler: once every other has run (Prefect's log and event workers drained, logging
    flushed), leave without the interpreter's teardown — 1.5 s spent freeing pandas, GX and Prefect's modules
    after everything is written. Only after main returned; an escaping exception exits the usual way."""
    if _status:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(_status[0])


def entry() -> None:
    """The `parindex` console script: main(), exiting with its status."""
    atexit.register(_leave)  # registered first, so it runs after every handler the command registers
    from flows import api

    api.freeze_after_warm = True  # this process ends with its command (flows.api.freeze_after_warm)
    try:
        _status.append(main())
    except KeyboardInterrupt:  # Ctrl-C: the run's own cleanup has run (staging removed, server stopped)
        sys.stderr.write("\nparindex: đã dừng theo yêu cầu (Ctrl-C); không công bố gì mới, bản đã công bố giữ "
                         "nguyên. / stopped (Ctrl-C): nothing new was published; the last publication is as it "
                         "was.\n")
        _status.append(EXIT_INTERRUPTED)
    sys.exit(_status[0])


if __name__ == "__main__":
    entry()
