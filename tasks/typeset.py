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
import os
import subprocess
import sys
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


def typeset(template: str, context: dict, pdf_path: Path, when=None, fresh: bool = False) -> Path:
    """templates/`template` (a .typ file) with `context` as its data, written to `pdf_path`. `fresh`: in a new
    interpreter (`python -m tasks.typeset`), for a process that typesets report after report: Typst's memo
    cache keeps the layouts of a process's last ten documents (~125 MB each for 207 units) and leaves with
    that interpreter. A new interpreter, never a fork: Typst run in a process forked after Typst had run in
    its parent waits forever for worker threads the fork does not have."""
    data = json.dumps(context, ensure_ascii=False, default=_plain, allow_nan=False)
    pdf_path = Path(pdf_path)
    if fresh:
        return _in_new_interpreter(template, data, pdf_path, timestamp_of(when))
    pdf_path.write_bytes(_compile(template, data, timestamp_of(when)))
    return pdf_path


def _compile(template: str, data: str, timestamp: int) -> bytes:
    try:
        return typst.compile(str(TEMPLATES / template), root=str(TEMPLATES), font_paths=[str(FONTS)],
                             ignore_system_fonts=True, sys_inputs={"data": data}, timestamp=timestamp,
                             pdf_tags=False)
    except Exception as exc:  # typst.TypstError: name the template, keep Typst's own diagnostic
        raise TypesetError(f"{template}: {getattr(exc, 'diagnostic', None) or exc}") from exc


def _in_new_interpreter(template: str, data: str, pdf_path: Path, timestamp: int) -> Path:
    root = str(Path(__file__).resolve().parent.parent)  # where `tasks` is, installed or not
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([root, *filter(None, [os.environ.get("PYTHONPATH")])])}
    done = subprocess.run([sys.executable, "-m", "tasks.typeset", template, str(pdf_path), str(timestamp)],
                          input=data.encode("utf-8"), capture_output=True, env=env)
    if done.returncode:
        raise TypesetError(done.stderr.decode("utf-8", "replace").strip() or
                           f"{template}: the typesetting process ended with status {done.returncode}")
    return pdf_path


if __name__ == "__main__":  # python -m tasks.typeset TEMPLATE PDF TIMESTAMP < data (typeset(fresh=True))
    _template, _pdf, _timestamp = sys.argv[1:4]
    try:
        Path(_pdf).write_bytes(_compile(_template, sys.stdin.buffer.read().decode("utf-8"), int(_timestamp)))
    except TypesetError as _exc:
        sys.stderr.write(f"{_exc}\n")
        sys.exit(1)
