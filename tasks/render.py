"""Edge module: write the publication's files — CSV, JSON, XLSX, and the report as HTML (Jinja2) and PDF
(WeasyPrint), the unit scorecards (tasks.scorecard) — from the computed tables and the view-model of
tasks.report."""

from __future__ import annotations

import gc
import json
import logging
import math
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import pandas as pd

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"


class _DropHarfBuzzNotice(logging.Filter):
    """WeasyPrint notes on every PDF that it subsets fonts with fontTools (Debian 12 has no harfbuzz-subset
    it accepts): true and harmless, and it drowns real warnings such as a CSS error."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "HarfBuzz-Subset" not in record.getMessage()


logging.getLogger("weasyprint").addFilter(_DropHarfBuzzNotice())
FORMULA_START = ("=", "+", "-", "@")


def _jinja_env():
    from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

    # StrictUndefined: a missing value fails the run instead of printing a blank in an official report
    return Environment(loader=FileSystemLoader(TEMPLATES), undefined=StrictUndefined,
                       autoescape=select_autoescape(["html", "jinja"]), trim_blocks=True, lstrip_blocks=True)


def render_html(context: dict, template: str = "report.html.jinja") -> str:
    css = (TEMPLATES / "report.css").read_text(encoding="utf-8")
    return _jinja_env().get_template(template).render(css=css, **context)


@contextmanager
def collector_paused():
    """Python's cyclic garbage collector paused while WeasyPrint lays out and writes a document, then one
    collection. WeasyPrint makes millions of small objects, many in reference cycles, so the collector runs
    thousands of times over them and over everything else the process holds: the commune report took
    4.8 s, and 6.1 s by the third report in the same process; paused, 3.5 s + 0.4 s for the collection
    afterwards, every time (same peak memory). Worth most in a long-lived Dask worker."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
        gc.collect()


def html_to_pdf(html: str, pdf_path: Path) -> None:
    from weasyprint import HTML

    # the bundled fonts are already a Vietnamese subset: embedding them whole is faster than re-subsetting
    with collector_paused():
        HTML(string=html, base_url=str(TEMPLATES)).write_pdf(pdf_path, full_fonts=True)


def _pdf_job(args: tuple[str, str]) -> str:
    html_path, pdf_path = args
    html_to_pdf(Path(html_path).read_text(encoding="utf-8"), Path(pdf_path))
    return pdf_path


def _in_processes(fn, jobs: list, workers: int) -> list:
    """`fn` over `jobs` in up to `workers` processes (WeasyPrint is CPU-bound and holds its memory); in this
    process when one is enough."""
    if workers <= 1 or len(jobs) <= 1:
        return [fn(job) for job in jobs]
    with ProcessPoolExecutor(max_workers=min(workers, len(jobs))) as pool:
        return list(pool.map(fn, jobs))


def render_pdfs(pairs: list[tuple[Path, Path]], workers: int = 2) -> None:
    """HTML files to PDF files, one process per file up to `workers`."""
    _in_processes(_pdf_job, [(str(h), str(p)) for h, p in pairs], workers)


def _cards_job(args: tuple[dict, list[tuple[dict, str]]]) -> list[str]:
    from tasks.scorecard import write_card

    ctx, cards = args
    for unit, path in cards:
        write_card(Path(path), unit, ctx)
    return [path for _, path in cards]


def render_unit_pdfs(context: dict, folder: Path, workers: int = 2) -> list[Path]:
    """`folder/<code>.pdf`, one scorecard per unit (file names from tasks.text.safe_filename), drawn by
    tasks/scorecard.py from `context['units']` (report.unit_cards), the units shared among `workers`
    processes."""
    from tasks.text import inside

    folder.mkdir(parents=True, exist_ok=True)
    ctx = {k: context[k] for k in ("L", "level_name", "province", "year", "version", "date", "synthetic",
                                   "inputs_digest", "methodology_id")}
    cards = [(u, str(inside(folder, u["file_name"]))) for u in context["units"]]
    share = max(1, math.ceil(len(cards) / max(workers, 1)))
    jobs = [(ctx, cards[lo:lo + share]) for lo in range(0, len(cards), share)]
    return [Path(p) for done in _in_processes(_cards_job, jobs, workers) for p in done]


def _json_value(v):
    if v is None or v is pd.NA or (isinstance(v, float) and math.isnan(v)):
        return None
    if hasattr(v, "item"):
        return v.item()
    return v


def write_csv(df: pd.DataFrame, path: Path) -> None:
    df.to_csv(path, index=False, lineterminator="\n")


def write_json(path: Path, meta: dict, tables: dict[str, pd.DataFrame]) -> None:
    doc = dict(meta)
    for name, df in tables.items():
        doc[name] = [{k: _json_value(v) for k, v in zip(df.columns, row, strict=True)}
                     for row in df.itertuples(index=False, name=None)]
    path.write_text(json.dumps(doc, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")


def write_xlsx(path: Path, sheets: dict[str, pd.DataFrame], decimals: int) -> None:
    """One sheet per table; numbers stored as numbers; text never turned into formulas or links."""
    import xlsxwriter

    wb = xlsxwriter.Workbook(str(path), {"strings_to_formulas": False, "strings_to_urls": False,
                                         "strings_to_numbers": False, "nan_inf_to_errors": False})
    wb.set_properties({"created": pd.Timestamp("2000-01-01").to_pydatetime(), "author": "parindex"})
    head = wb.add_format({"bold": True, "bg_color": "#F2E6E6", "border": 1, "text_wrap": True})
    num = wb.add_format({"num_format": "0." + "0" * decimals if decimals else "0"})
    for name, df in sheets.items():
        ws = wb.add_worksheet(name[:31])
        header_lines = 1
        for c, col in enumerate(df.columns):
            ws.write_string(0, c, str(col), head)
            values = [len(str(v)) for v in df[col].head(500) if v is not None and not pd.isna(v)]
            # a long header wraps (up to 24 characters a line) rather than widening a column of numbers
            width = min(max([min(len(str(col)), 24), 6, *values]) + 2, 50)
            header_lines = max(header_lines, math.ceil(len(str(col)) / (width - 1)))
            ws.set_column(c, c, width)
        ws.set_row(0, 15 * min(header_lines, 4))
        for r, row in enumerate(df.itertuples(index=False, name=None), start=1):
            for c, v in enumerate(row):
                v = _json_value(v)
                if v is None:
                    continue
                if isinstance(v, bool):
                    ws.write_boolean(r, c, v)
                elif isinstance(v, int):
                    ws.write_number(r, c, v)
                elif isinstance(v, float):
                    ws.write_number(r, c, v, num)
                else:
                    ws.write_string(r, c, str(v))
        ws.freeze_panes(1, 0)
        if len(df.columns):
            ws.autofilter(0, 0, max(len(df), 1), len(df.columns) - 1)
    wb.close()
