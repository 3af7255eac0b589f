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

import contextlib
import json
import math
import os
import subprocess
import sys
import tempfile
import time
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
    """templates/`template` (a .typ file) with `context` as its data, written to `pdf_path`, in this process.
    A process that typesets report after report uses `Process` instead (Typst's memo cache)."""
    pdf_path = Path(pdf_path)
    pdf_path.write_bytes(_compile(template, _json(context), timestamp_of(when)))
    return pdf_path


def _json(context: dict) -> str:
    return json.dumps(context, ensure_ascii=False, default=_plain, allow_nan=False)


def _compile(template: str, data: str, timestamp: int) -> bytes:
    try:
        return typst.compile(str(TEMPLATES / template), root=str(TEMPLATES), font_paths=[str(FONTS)],
                             ignore_system_fonts=True, sys_inputs={"data": data}, timestamp=timestamp,
                             pdf_tags=False)
    except Exception as exc:  # typst.TypstError: name the template, keep Typst's own diagnostic
        raise TypesetError(f"{template}: {getattr(exc, 'diagnostic', None) or exc}") from exc


PREFIX = "parindex-typeset-"  # the typesetters' data files in the system's temporary directory
STALE_AFTER = 24 * 3600  # seconds: no report takes a day to typeset


def sweep_stale(now: float | None = None) -> list[str]:
    """Remove the typesetters' data files older than a day from the temporary directory: what a command killed
    between writing one and its typesetter reading it left behind (the typesetter removes the file it has read;
    a normal end, a failure or an interrupt removes it too). Files of other users stay (not ours to remove)."""
    now = time.time() if now is None else now
    gone = []
    for path in Path(tempfile.gettempdir()).glob(PREFIX + "*.json"):
        with contextlib.suppress(OSError):
            if now - path.stat().st_mtime > STALE_AFTER:
                path.unlink()
                gone.append(path.name)
    return gone


class Process:
    """templates/`template` with `context`, typeset into `pdf_path` by a new interpreter started now
    (`python -m tasks.typeset`) while the caller goes on; `wait()` for the PDF.

    A new interpreter because Typst's memo cache keeps the layouts of a process's last ten documents (~125 MB
    each for 207 units; a national worker typesetting report after report held a gigabyte), and they leave
    with it. Started from the caller itself — never typeset in a fork: Typst in a process forked after Typst
    had run in its parent waits forever for worker threads the fork does not have — and with no fork of the
    caller's memory either (subprocess starts it with vfork; a fork of a 600 MB worker cost ~50 ms). The
    data go through a temporary file outside the publication, so a large report never blocks the caller on a
    pipe."""

    def __init__(self, template: str, context: dict, pdf_path: Path, when=None):
        self.template, self.pdf_path = template, Path(pdf_path)
        data = _json(context)  # refused here (TypeError) before any file or process exists
        sweep_stale()
        fd, self.data_path = tempfile.mkstemp(prefix=PREFIX, suffix=".json")
        self.errors = tempfile.TemporaryFile()
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(data)
            root = str(Path(__file__).resolve().parent.parent)  # where `tasks` is, installed or not
            env = {**os.environ,
                   "PYTHONPATH": os.pathsep.join([root, *filter(None, [os.environ.get("PYTHONPATH")])])}
            self.process = subprocess.Popen(
                [sys.executable, "-m", "tasks.typeset", template, str(self.pdf_path), str(timestamp_of(when)),
                 self.data_path], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=self.errors, env=env)
        except BaseException:
            self._clean()
            raise

    def done(self) -> bool:
        return self.process.poll() is not None

    def wait(self) -> Path:
        """The PDF; TypesetError with Typst's diagnostic if the template or the data were refused."""
        status = self.process.wait()
        self.errors.seek(0)
        said = self.errors.read().decode("utf-8", "replace").strip()
        self._clean()
        if status:
            raise TypesetError(said or f"{self.template}: the typesetting process ended with status {status}")
        return self.pdf_path

    def kill(self) -> None:
        """The caller failed or was interrupted: nothing of this process is published."""
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()
        self._clean()

    def _clean(self) -> None:
        self.errors.close()
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.data_path)


if __name__ == "__main__":  # python -m tasks.typeset TEMPLATE PDF TIMESTAMP DATA.json (Process)
    _template, _pdf, _timestamp, _data = sys.argv[1:5]
    if hasattr(os, "nice"):
        os.nice(10)  # as render's children: the parent's own part is the longest path through a rendering
    try:
        _text = Path(_data).read_text(encoding="utf-8")
        with contextlib.suppress(OSError):  # read: gone now, even if the command that wrote it is killed meanwhile
            os.unlink(_data)
        Path(_pdf).write_bytes(_compile(_template, _text, int(_timestamp)))
    except TypesetError as _exc:
        sys.stderr.write(f"{_exc}\n")
        sys.exit(1)
