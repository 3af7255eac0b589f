"""The methodologist's desk as flows: `parindex robustness` (how firm each published rank is) and
`parindex whatif` (the published inputs under another methodology). Wiring only: the computation is
tasks/robustness.py, the view-models tasks/desk.py. Neither changes the publication it reads."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from prefect import flow, get_run_logger

from expectations.suites import check_with_gx
from tasks import compute, desk, ingest, publishing, render
from tasks import robustness as rb
from tasks.checks import check_inputs
from tasks.methodology import MethodologyError
from tasks.problems import PROBLEM_COLUMNS
from tasks.ranking import published_criteria, published_results

VARIATIONS = ("survey", "weights")


def _unreadable(out: Path, exc: Exception, where: str):
    rows = ingest.unreadable_rows(exc, where)
    frame = pd.DataFrame(rows, columns=PROBLEM_COLUMNS)
    publishing.write_validation(out, frame, publishing.problem_summary(frame))
    return compute.InputsUnreadable(rows)


def _published_tables(folder: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    dtypes = {"unit_code": str, "criterion_code": str, "group": str, "unit_name": str}
    return (pd.read_csv(folder / "results.csv", dtype=dtypes, encoding="utf-8-sig"),
            pd.read_csv(folder / "criteria.csv", dtype=dtypes, encoding="utf-8-sig"))


def _reports(out: Path, stem: str, template: str, contexts: dict[str, dict]) -> None:
    for lang, ctx in contexts.items():
        html = render.render_html(ctx, template=template)
        (out / f"{stem}.{lang}.html").write_text(html, encoding="utf-8")
        render.pdf(template.replace(".html.jinja", ".typ"), ctx, out / f"{stem}.{lang}.pdf")


@flow(name="parindex-robustness")
def robustness(from_dir: str, out: str, replicates: int = 1000, seed: int = 20240,
               vary: str = "survey,weights", width: float = 0.25) -> dict:
    """robustness.csv and robustness.vi/.en.html/.pdf for the publication in `from_dir`, from its archived
    inputs; `vary`: survey and/or weights; `width`: the weights' uniform factor is within ±width."""
    out_dir = Path(out).resolve()
    out_dir.mkdir(parents=True, exist_ok=True)
    kinds = tuple(v.strip() for v in vary.split(",") if v.strip())
    if not kinds or set(kinds) - set(VARIATIONS):
        raise ValueError(f"--vary takes survey, weights or both (got {vary!r})")
    try:
        bundle = ingest.read_published(Path(from_dir))
    except (ingest.InputError, MethodologyError) as exc:
        raise _unreadable(out_dir, exc, from_dir) from exc
    checked = check_inputs(bundle)  # the inputs validated at publication: typed again here, not re-judged
    m = bundle.methodology
    criteria, totals, _ = compute.score(bundle, checked)
    results = published_results(m, compute.rank(bundle, checked, totals))
    published, _ = _published_tables(Path(from_dir))
    key = ["unit_code", "index_pct", "rank"]
    if results[key].astype(str).to_csv(index=False) != published[key].astype(str).to_csv(index=False):
        raise ValueError(f"the archived inputs of {from_dir} no longer give its published results.csv: "
                         "run `parindex verify` on it")
    reps = rb.replicate(m, criteria, totals, checked.answers, replicates=replicates, seed=seed, vary=kinds,
                        width=width)
    table = rb.summarise(m, reps, results)
    sens = rb.sensitivity(m, reps)
    corr, flags = rb.coherence(m, results)
    render.write_csv(table, out_dir / "robustness.csv")
    render.write_csv(sens, out_dir / "sensitivity.csv")
    params = {"replicates": replicates, "seed": seed, "vary": kinds, "width": width}
    _reports(out_dir, "robustness", "robustness.html.jinja",
             {lang: desk.robustness_context(m, bundle.index, results, table, sens, corr, flags, params, lang)
              for lang in ("vi", "en")})
    get_run_logger().info(f"robustness of {m.id}: {replicates} replicates ({', '.join(kinds)}) in {out_dir}")
    return {"out": str(out_dir), "units": len(table), "methodology_id": m.id,
            "report": str(out_dir / "robustness.vi.pdf"),
            "uncertain_bands": int((table[[f"p_{b.code}" for b in m.bands]].max(axis=1) < rb.BAND_CERTAIN).sum())}


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
        raise _unreadable(out_dir, exc, methodology) from exc
    m = bundle.methodology
    bundle.index = {**bundle.index, "year": m.year}  # another year's methodology on these inputs is the point
    checked = check_with_gx(bundle, raise_on_error=False)
    if checked.errors:
        frame = checked.problems_frame()
        publishing.write_validation(out_dir, frame, publishing.problem_summary(frame))
        raise compute.ValidationFailed(checked)
    criteria, totals, _ = compute.score(bundle, checked)
    after = published_results(m, compute.rank(bundle, checked, totals))
    before, crit_before = _published_tables(Path(from_dir))
    table, why = rb.compare(before, after, crit_before, published_criteria(m, criteria))
    render.write_csv(table, out_dir / "comparison.csv")
    render.write_csv(why, out_dir / "comparison_criteria.csv")
    _reports(out_dir, "comparison", "whatif.html.jinja",
             {lang: desk.whatif_context(before_bundle.methodology, m, bundle.index, table, why, lang)
              for lang in ("vi", "en")})
    return {"out": str(out_dir), "units": len(table), "methodology_id": m.id,
            "report": str(out_dir / "comparison.vi.pdf"),
            "moved": int((table["rank_before"] != table["rank_after"]).sum())}
