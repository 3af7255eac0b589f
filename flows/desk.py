"""The methodologist's desk as flows: `parindex robustness` (how firm each published rank is) and
`parindex whatif` (the published inputs under another methodology). Wiring only: the computation is
tasks/robustness.py, the view-models tasks/desk.py, reading and writing tasks/desk_io.py. Neither changes the
publication it reads."""

from __future__ import annotations

from pathlib import Path

from prefect import flow, get_run_logger

from expectations.suites import validate
from tasks import compute, desk, desk_io, ingest, publishing, render
from tasks import robustness as rb
from tasks.methodology import MethodologyError
from tasks.ranking import published_criteria, published_results

VARIATIONS = ("survey", "weights")


def publications_under(folder: Path) -> list[Path]:
    """`folder` itself when it is a publication (it has manifest.json), else every publication below it — a
    province's year (`OUT/2024/<level>/`) or a national run (`OUT/<province>/<level>/`), in path order."""
    if (folder / "manifest.json").is_file():
        return [folder]
    return sorted(p.parent for p in folder.rglob("manifest.json") if "inputs" not in p.relative_to(folder).parts)


@flow(name="parindex-robustness")
def robustness(from_dir: str, out: str, replicates: int = 1000, seed: int = 20240,
               vary: str = "survey,weights", width: float = 0.25, workers: int = 2) -> dict:
    """robustness.csv and robustness.vi/.en.html/.pdf for the publication in `from_dir`, from its archived
    inputs; `vary`: survey and/or weights; `width`: the weights' uniform factor is within ±width. When
    `from_dir` holds several publications (a province's year, a national run), each gets its own folder under
    `out` at the same relative path, `workers` at a time, and the summary lists them (`failed`: those that
    could not be done, with why)."""
    out_dir = Path(out).resolve()
    out_dir.mkdir(parents=True, exist_ok=True)
    kinds = tuple(v.strip() for v in vary.split(",") if v.strip())
    if not kinds or set(kinds) - set(VARIATIONS):
        raise ValueError(f"--vary takes survey, weights or both (got {vary!r})")
    source = Path(from_dir)
    found = publications_under(source)
    if len(found) <= 1:  # one publication (or none: read_published says what is missing)
        summary = desk_io.robustness_of(found[0] if found else source, out_dir, replicates, seed, kinds, width)
        get_run_logger().info(f"robustness of {summary['methodology_id']}: {replicates} replicates "
                              f"({', '.join(kinds)}) in {out_dir}")
        return summary
    jobs = [(str(p), str(out_dir / p.relative_to(source)), replicates, seed, kinds, width) for p in found]
    done = desk_io.in_workers(desk_io.robustness_job, jobs, workers)
    failed = [d for d in done if "error" in d]
    ok = [d for d in done if "error" not in d]
    get_run_logger().info(f"robustness of {len(ok)} of {len(done)} publications under {source} in {out_dir}")
    return {"out": str(out_dir), "publications": len(done), "units": sum(d["units"] for d in ok),
            "uncertain_bands": sum(d["uncertain_bands"] for d in ok), "failed": failed,
            "report": ok[0]["report"] if ok else ""}


@flow(name="parindex-whatif")
def whatif(from_dir: str, methodology: str, out: str) -> dict:
    """comparison.csv and comparison.vi/.en.html/.pdf: the archived inputs of `from_dir` scored under
    `methodology`. Inputs the new methodology needs and the publication lacks are validation errors (exit 2)
    naming them, never zeros."""
    out_dir = Path(out).resolve()
    out_dir.mkdir(parents=True, exist_ok=True)
    try:
        bundle = ingest.read_published(Path(from_dir), Path(methodology))
        before_bundle = ingest.read_published(Path(from_dir))
    except (ingest.InputError, MethodologyError) as exc:
        raise desk_io.unreadable(out_dir, exc, methodology) from exc
    m = bundle.methodology
    bundle.index = {**bundle.index, "year": m.year}  # another year's methodology on these inputs is the point
    checked = validate(bundle, raise_on_error=False)
    if checked.errors:
        publishing.write_validation(out_dir, checked.problems_frame())
        raise compute.ValidationFailed(checked)
    criteria, totals, _ = compute.score(bundle, checked)
    after = published_results(m, compute.rank(bundle, checked, totals))
    before, crit_before = desk_io.published_tables(Path(from_dir))
    table, why = rb.compare(before, after, crit_before, published_criteria(m, criteria))
    render.write_csv(table, out_dir / "comparison.csv")
    render.write_csv(why, out_dir / "comparison_criteria.csv")
    desk_io.reports(out_dir, "comparison", "whatif.html.jinja",
                    {lang: desk.whatif_context(before_bundle.methodology, m, bundle.index, table, why, lang)
                     for lang in ("vi", "en")}, when=desk_io.published_on(Path(from_dir)))
    return {"out": str(out_dir), "units": len(table), "methodology_id": m.id,
            "report": str(out_dir / "comparison.vi.pdf"),
            "moved": int((table["rank_before"] != table["rank_after"]).sum())}
