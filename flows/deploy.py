"""Scheduling: the Prefect deployments a department serves (`parindex serve`).

- `annual`: `parindex-annual-year` every year on a cron in the Asia/Ho_Chi_Minh time zone (default 07:00 on
  15 January: the year just ended is assessed; results are announced around April). Parameters: where the
  year folders are (`inputs_root/<year>/<level>/`, as `parindex sample` writes them), where to publish, the
  database, and the year (empty = the year that has just ended, in Việt Nam's time zone).
- `rerun`: `parindex-rerun` with no schedule, triggered from the UI or `prefect deployment run` with the
  published folder, the corrections file and the new folder.
- `robustness` and `whatif`: `parindex-robustness` / `parindex-whatif`, on demand from the UI for a published
  folder (the methodologist's desk).
- `forms` and `collect`: `parindex-forms` / `parindex-collect`, the yearly cycle before the run (forms out →
  collect → appraisal forms → collect → annual) visible in the UI.
- `national` (optional): `parindex-national-run` on the Dask task runner, no schedule.

`prefect.serve` needs a Prefect server (`prefect server start`; README "Scheduling"): the schedules, runs and
artifacts then appear in its UI.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from prefect import flow, get_run_logger

from flows.annual import annual_run
from flows.api import nested

TIME_ZONE = "Asia/Ho_Chi_Minh"
DEFAULT_CRON = "0 7 15 1 *"


def assessed_year(now: datetime | None = None) -> int:
    """The year a run started now assesses: the one that ended last, by the calendar in Việt Nam."""
    now = now or datetime.now(ZoneInfo(TIME_ZONE))
    return now.astimezone(ZoneInfo(TIME_ZONE)).year - 1


@flow(name="parindex-annual-year")
def annual_year(inputs_root: str, out_root: str, db: str | None = None, year: int | None = None) -> list[dict]:
    """Publish every level of one year: `inputs_root/<year>/<level>/` → `out_root/<year>/<level>/`."""
    year = year or assessed_year()
    folders = sorted(p.parent for p in (Path(inputs_root) / str(year)).glob("*/index.yaml"))
    if not folders:
        raise FileNotFoundError(f"no input folders {Path(inputs_root) / str(year)}/<level>/index.yaml for {year}")
    get_run_logger().info(f"assessing {year}: {', '.join(f.name for f in folders)}")
    with nested():
        return [annual_run(inputs=str(f), out=str(Path(out_root) / str(year) / f.name), db=db) for f in folders]


def build_deployments(inputs_root: str, out_root: str, db: str | None = None, cron: str = DEFAULT_CRON,
                      national_inputs: str | None = None) -> list:
    """The deployments `parindex serve` runs (RunnerDeployment objects, not yet registered)."""
    from prefect.schedules import Cron

    from flows.desk import robustness, whatif
    from flows.forms import collect_forms, make_forms
    from flows.rerun import rerun

    deployments = [
        annual_year.to_deployment(
            name="annual", schedule=Cron(cron, timezone=TIME_ZONE),
            parameters={"inputs_root": str(Path(inputs_root).resolve()), "out_root": str(Path(out_root).resolve()),
                        "db": db, "year": None},
            description="The yearly PAR Index run of the year that has just ended", tags=["parindex"]),
        rerun.to_deployment(
            name="rerun", parameters={"db": db},
            description="A corrected version of a publication: give from_dir, corrections and out",
            tags=["parindex"]),
        robustness.to_deployment(
            name="robustness", description="How firm each published rank is: give from_dir (a published or "
            "draft folder) and out; replicates, seed, vary and width are optional", tags=["parindex"]),
        whatif.to_deployment(
            name="whatif", description="A publication's inputs under another methodology: give from_dir, "
            "methodology and out", tags=["parindex"]),
        # the yearly cycle before the run: forms out → collect → appraisal forms → collect → annual
        make_forms.to_deployment(
            name="forms", description="A workbook per unit: give inputs, out and stage (self or appraisal)",
            tags=["parindex"]),
        collect_forms.to_deployment(
            name="collect", description="Check the returned workbooks and write the input folder's "
            "self_assessment.xlsx: give forms_dir and inputs", tags=["parindex"]),
    ]
    if national_inputs:
        from flows.national import national_run, task_runner

        deployments.append(national_run.with_options(task_runner=task_runner("dask")).to_deployment(
            name="national", parameters={"inputs": str(Path(national_inputs).resolve()),
                                         "out": str((Path(out_root) / "national").resolve()), "db": db},
            description="Every province, one sub-flow per province on a Dask cluster", tags=["parindex"]))
    return deployments


def serve(inputs_root: str, out_root: str, db: str | None = None, cron: str = DEFAULT_CRON,
          national_inputs: str | None = None) -> None:
    """Register the deployments with the Prefect server and run their flows when due (blocks)."""
    from prefect import serve as prefect_serve

    prefect_serve(*build_deployments(inputs_root, out_root, db, cron, national_inputs))
