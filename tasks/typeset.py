"""Edge module: PDFs typeset by Typst (PyPI `typst`, pinned) from a view-model — the same formatted dict the
HTML templates show — passed as JSON to a template under templates/ (`sys.inputs.data`).

Why Typst: self-contained wheels for Linux, macOS and Windows (no Pango or GTK runtime), ~10x faster than the
HTML-to-PDF engine it replaced, and data are never parsed as markup: a unit called "*A* #x" prints as written.

Untagged PDFs, deliberately: tagging (PDF/UA structure) makes the report ~7x larger (22 KB → 149 KB for a
page of 300 rows) and the 114-commune report would be several MB; the announcement is published with its
HTML twin, which is the accessible version (real tables, headers, `lang`), and the PDF is the form that is
printed and signed. Bytes are reproducible: the creation date is the run's announcement date (`timestamp`),
never the clock; the fonts are the bundled Vietnamese subset of DejaVu Sans (no system font is consulted)."""

from __future__ import annotations

import json
import math
from datetime import UTC, date, datetime
from pathlib import Path

import typst

from tasks.resources import FONTS, TEMPLATES


class TypesetError(RuntimeError):
    """Typst refused a template or its data: a defect of parindex, never of the user's inputs."""


def _plain(value):
    if isinstance(value, float) and (math.isnan(value) or math.isinf(value)):
        return None
    if hasattr(value, "item"):  # numpy scalars
        return value.item()
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    raise TypeError(f"not JSON data for a template: {type(value).__name__}")


def timestamp_of(when) -> int:
    """Seconds since 1970 for the PDF's creation date: the day of `when` (the announcement date; its time of
    day is dropped, so two runs of one day give the same bytes), else 0."""
    if isinstance(when, datetime):
        when = when.date()
    if isinstance(when, date):
        return int(datetime(when.year, when.month, when.day, tzinfo=UTC).timestamp())
    return 0


def typeset(template: str, context: dict, pdf_path: Path, when=None) -> Path:
    """templates/`template` (a .typ file) with `context` as its data, written to `pdf_path`."""
    data = json.dumps(context, ensure_ascii=False, default=_plain, allow_nan=False)
    try:
        pdf = typst.compile(str(TEMPLATES / template), root=str(TEMPLATES), font_paths=[str(FONTS)],
                            ignore_system_fonts=True, sys_inputs={"data": data}, timestamp=timestamp_of(when),
                            pdf_tags=False)
    except Exception as exc:  # typst.TypstError: name the template, keep Typst's own diagnostic
        raise TypesetError(f"{template}: {getattr(exc, 'diagnostic', None) or exc}") from exc
    pdf_path = Path(pdf_path)
    pdf_path.write_bytes(pdf)
    return pdf_path
