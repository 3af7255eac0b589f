"""Edge module: the methodologist's desk reading a publication and writing its robustness files, as plain
functions that run in this process for one publication or in worker processes for many (flows/desk.py wires
them). Workers are *spawned*, not forked: the replicates use numpy, whose BLAS thread pool, once started in the
parent, deadlocks a forked child (seen: a national robustness run hung with both children idle)."""

from __future__ import annotations

import json
import multiprocessing
from concurrent.futures import ProcessPoolExecutor
from datetime import date
from pathlib import Path

import pandas as pd

from tasks import compute, desk, ingest, publishing, render
from tasks import robustness as rb
from tasks.checks import check_inputs
from tasks.methodology import MethodologyError
from tasks.ranking import published_results
from tasks.rules import pandas_engine


def unreadable(out: Path, exc: Exception, where: str) -> compute.InputsUnreadable:
    """The validation page for a publication that cannot be read, and the error to raise."""
    rows = ingest.unreadable_rows(exc, where)
    publishing.write_validation(out, rows)
    return compute.InputsUnreadable(rows)


def published_tables(folder: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    dtypes = {"unit_code": str, "criterion_code": str, "group": str, "unit_name": str}
    return (pd.read_csv(folder / "results.csv", dtype=dtypes, encoding="utf-8-sig"),
            pd.read_csv(folder / "criteria.csv", dtype=dtypes, encoding="utf-8-sig"))


def published_on(folder: Path) -> date | None:
    """The announcement date of the publication in `folder` (its manifest's `published_on`), if it says one."""
    try:
        return date.fromisoformat(json.loads((folder / "manifest.json").read_text(encoding="utf-8"))["published_on"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def reports(out: Path, stem: str, template: str, contexts: dict[str, dict], when: date | None = None) -> None:
    """`stem`.<lang>.html (Jinja2) and .pdf (Typst) from each language's view-model; `when`, the date of the
    publication they examine, is the PDFs' creation date (the same inputs, the same bytes)."""
    for lang, ctx in contexts.items():
        html = render.render_html(ctx, template=template)
        (out / f"{stem}.{lang}.html").write_text(html, encoding="utf-8")
        render.pdf(template.replace(".html.jinja", ".typ"), ctx, out / f"{stem}.{lang}.pdf", when=when)


def robustness_of(from_dir: Path, out_dir: Path, replicates: int, seed: int, kinds: tuple[str, ...],
                  width: float) -> dict:
    """One publication's robustness.csv, sensitivity.csv and reports (plain function: the flow runs it in this
    process for one publication, in spawned workers for many)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    try:
        bundle = ingest.read_published(from_dir)
    except (ingest.InputError, MethodologyError) as exc:
        raise unreadable(out_dir, exc, str(from_dir)) from exc
    checked = check_inputs(bundle, pandas_engine)  # the inputs validated at publication: typed again here, not re-judged
    m = bundle.methodology
    criteria, totals, _ = compute.score(bundle, checked)
    results = published_results(m, compute.rank(bundle, checked, totals))
    published, _ = published_tables(from_dir)
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
    reports(out_dir, "robustness", "robustness.html.jinja",
            {lang: desk.robustness_context(m, bundle.index, results, table, sens, corr, flags, params, lang)
             for lang in ("vi", "en")}, when=published_on(from_dir))
    return {"out": str(out_dir), "units": len(table), "methodology_id": m.id,
            "report": str(out_dir / "robustness.vi.pdf"),
            "uncertain_bands": int((table[[f"p_{b.code}" for b in m.bands]].max(axis=1) < rb.BAND_CERTAIN).sum())}


def robustness_job(job: tuple) -> dict:
    """One publication of many, in a spawned worker: its summary, or the reason it could not be done."""
    from_dir, out_dir, *args = job
    try:
        return robustness_of(Path(from_dir), Path(out_dir), *args)
    except Exception as exc:  # noqa: BLE001 — named in the summary; the other publications go on
        return {"from": from_dir, "error": f"{type(exc).__name__}: {exc}"}


def in_workers(fn, jobs: list, workers: int) -> list:
    """`fn` over `jobs` in up to `workers` spawned processes; the results in the order of `jobs`."""
    if len(jobs) <= 1 or workers <= 1:
        return [fn(job) for job in jobs]
    with ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn")) as pool:
        return list(pool.map(fn, jobs))
