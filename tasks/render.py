"""Edge module: write the publication's files — CSV, JSON, XLSX, and the report as HTML (Jinja2) and PDF
(Typst, tasks.typeset), the unit scorecards (tasks.scorecard) — from the computed tables and the view-model of
tasks.report."""

from __future__ import annotations

import contextlib
import functools
import gc
import json
import math
import os
import pickle
import select
import signal
import sys
import traceback
from pathlib import Path

import pandas as pd

from tasks.resources import TEMPLATES
from tasks.typeset import Process, typeset

#: a text cell starting with one of these is a formula to a spreadsheet (CSV injection): written with a `'`
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def guard_formula(value):
    """A text cell as a spreadsheet may show it but never evaluate: `'=1+1`; numbers and other text unchanged."""
    return "'" + value if isinstance(value, str) and value.startswith(FORMULA_START) else value


@functools.cache
def _jinja_env():
    """One environment per process: each template is compiled once (0.5 s), not once per report."""
    from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

    # StrictUndefined: a missing value fails the run instead of printing a blank in an official report
    return Environment(loader=FileSystemLoader(TEMPLATES), undefined=StrictUndefined,
                       autoescape=select_autoescape(["html", "jinja"]), trim_blocks=True, lstrip_blocks=True)


def render_html(context: dict, template: str = "report.html.jinja") -> str:
    css = (TEMPLATES / "report.css").read_text(encoding="utf-8")
    return _jinja_env().get_template(template).render(css=css, **context)


def warm() -> None:
    """What the first rendering of a process would load — the compiled HTML template, the workbook writer,
    the scorecards' drawing library and fonts — loaded ahead (flows.cli, while Prefect's server boots), and
    before each rendering forks its children (flows.annual.render_outputs): what a child imports leaves with
    it, so a national worker's children imported the workbook writer again for every publication."""
    import xlsxwriter  # noqa: F401

    import tasks.cards  # noqa: F401
    from tasks.scorecard import register_fonts

    _jinja_env().get_template("report.html.jinja")
    register_fonts()


def pdf(template: str, context: dict, pdf_path: Path, when=None) -> Path:
    """A PDF typeset by Typst from the same view-model the HTML shows (tasks.typeset), in this process; `when`,
    the document's date (the announcement date), is its creation date, so the bytes depend on the data only."""
    return typeset(template, context, pdf_path, when=when)


class Reports:
    """Report PDFs typeset while this process goes on, each by a child of this process's typesetter
    (tasks.typeset.Process), at most `workers` at once (one in a national run's Dask worker: the other workers
    keep the cores busy, and each child holds a report's layout); `results()` waits for them and raises the
    first failure in the order they were added."""

    def __init__(self, workers: int):
        self.workers = max(workers, 1)
        self.queued: list[tuple] = []
        self.started: list[Process] = []

    def add(self, template: str, context: dict, pdf_path: Path, when=None) -> None:
        self.queued.append((template, context, pdf_path, when))
        self._start()

    def _start(self) -> None:
        while self.queued and sum(not p.done() for p in self.started) < self.workers:
            self.started.append(Process(*self.queued.pop(0)))

    def results(self) -> list[Path]:
        self._start()  # those that ended since the last add make room for the queued ones
        while self.queued:
            running = [p for p in self.started if not p.done()]
            if running:
                running[0].join()
            self._start()
        done, failed = [], None
        for p in self.started:
            try:
                done.append(p.wait())
            except Exception as exc:  # noqa: BLE001 — every process is waited for; the first failure is raised
                failed = failed or exc
        if failed:
            raise failed
        return done

    def cancel(self) -> None:
        self.queued = []
        for p in self.started:
            p.kill()


#: children yield to the parent, whose part (the reports) is the longest path through the rendering
NICE = 10


class ChildFailed(RuntimeError):
    """A rendering job failed in its child process; the message carries the child's traceback."""


def _child(fn, job, out_fd: int) -> None:
    """In a forked child: run the job with the garbage collector off, send back (ok, result or traceback), and leave
    with os._exit — no interpreter teardown, no collection: the OS takes the memory back at once."""
    status = 0
    try:
        os.nice(NICE)
        gc.disable()
        payload = pickle.dumps((True, fn(job)))
    except BaseException as exc:  # noqa: BLE001 — everything goes back to the parent
        status = 1
        payload = pickle.dumps((False, f"{type(exc).__name__}: {exc}\n{traceback.format_exc()}"))
    try:
        with os.fdopen(out_fd, "wb") as out:
            out.write(payload)
    finally:
        os._exit(status)


class Children:
    """`fn` over `jobs`, each in a child process forked from this one at once, and jobs `add`ed later too (the
    parent meanwhile does its own part: the contexts and the HTML while the scorecards and the workbook are
    made); `results()` waits for them, in the order of the jobs. Where fork is missing (Windows), the jobs run
    in this process, as they are given."""

    def __init__(self, fn, jobs: list):
        self.fn = fn
        self.results_: list = []
        self.failures: list[tuple[int, str]] = []  # (job index, traceback)
        self.pending: list[tuple[int, object]] = []
        self.running: dict[int, tuple[int, int]] = {}  # read end of the pipe -> (job index, child pid)
        self.add(jobs)

    def add(self, jobs: list) -> None:
        first = len(self.results_)
        self.results_ += [None] * len(jobs)
        if not hasattr(os, "fork"):
            for i, job in enumerate(jobs, start=first):
                self.results_[i] = self.fn(job)
            return
        self.pending += list(enumerate(jobs, start=first))
        self._fork()

    def _fork(self) -> None:
        for stream in (sys.stdout, sys.stderr):  # nothing buffered here is written twice by a child
            stream.flush()
        while self.pending:
            index, job = self.pending.pop(0)
            read_fd, write_fd = os.pipe()
            pid = os.fork()
            if pid == 0:
                os.close(read_fd)
                _child(self.fn, job, write_fd)
            os.close(write_fd)
            self.running[read_fd] = (index, pid)

    def _collect(self, fd: int) -> None:
        index, pid = self.running.pop(fd)
        with os.fdopen(fd, "rb") as pipe:
            data = pipe.read()
        _, status = os.waitpid(pid, 0)
        try:
            ok, value = pickle.loads(data)
        except Exception:  # noqa: BLE001 — the child died before it could answer (killed, out of memory)
            ok, value = False, f"child process {pid} ended with status {status} and no answer"
        if ok:
            self.results_[index] = value
        else:
            self.failures.append((index, value))

    def results(self) -> list:
        """The results in the order of the jobs. Raises ChildFailed with the child's traceback when a job
        failed, after the other children finished."""
        while self.running:
            ready, _, _ = select.select(list(self.running), [], [])
            for fd in ready:
                self._collect(fd)
        if self.failures:  # the first failed job in the jobs' order, whichever child ended first
            raise ChildFailed(min(self.failures)[1])
        return self.results_

    def cancel(self) -> None:
        """The parent failed: end the children still drawing and reap them (nothing of theirs is published)."""
        self.pending = []
        for fd, (_, pid) in list(self.running.items()):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
            os.close(fd)
            os.waitpid(pid, 0)
        self.running.clear()


def _call(job):
    return job()


class Inline:
    """The jobs run in this process as they are given (the interface of Children): with one render worker, a
    national run's Dask worker, whose siblings already keep the cores busy, a fork would only copy the
    worker's page tables (~50 ms for 600 MB) for a child that runs while the parent waits anyway."""

    def __init__(self, jobs: list):
        self.results_: list = []
        self.add(jobs)

    def add(self, jobs: list) -> None:
        for job in jobs:  # as in a child, without the collector: it would rescan the worker's whole heap
            enabled = gc.isenabled()
            gc.disable()
            try:
                self.results_.append(job())
            finally:
                if enabled:
                    gc.enable()

    def results(self) -> list:
        return self.results_

    def cancel(self) -> None:
        pass


def in_background(jobs: list, workers: int) -> Children | Inline:
    """Each job (a function of no arguments) in a forked child, started now (and those `add`ed later); the
    parent goes on with its own part of the rendering and then waits (`.results()`). With one worker (a Dask
    worker of a national run) the jobs run in this process, one after the other (`Inline`)."""
    return Children(_call, jobs) if workers > 1 else Inline(jobs)


def draw_cards(m, computed, context: dict, short: list[dict], folder: Path) -> list[str]:
    """`folder/<code>.pdf` for the units of `short` (the report context's short cards): the full scorecard of
    tasks/cards.py drawn by tasks/scorecard.py, in the report's language (the department sends each unit its
    own, in Vietnamese)."""
    from tasks import cards
    from tasks.scorecard import write_card
    from tasks.text import inside

    done = []
    for unit in cards.unit_cards(m, computed, context["lang"], short):
        path = inside(folder, unit["file_name"])
        write_card(path, unit, context)
        done.append(str(path))
    return done


def card_jobs(m, computed, context: dict, folder: Path, shares: int) -> list:
    """draw_cards over the report context's units in `shares` parts, a part per child."""
    from tasks.scorecard import register_fonts

    register_fonts()  # ReportLab and the fonts loaded once here, inherited by the children
    folder.mkdir(parents=True, exist_ok=True)
    short = context["cards"]
    size = max(1, math.ceil(len(short) / max(shares, 1)))
    return [functools.partial(draw_cards, m, computed, context, short[lo:lo + size], folder)
            for lo in range(0, len(short), size)]


def _json_value(v):
    if v is None or v is pd.NA or (isinstance(v, float) and math.isnan(v)):
        return None
    if hasattr(v, "item"):
        return v.item()
    return v


def _column_values(series: pd.Series) -> tuple[str, list]:
    """A column as plain Python values, None where missing, converted at once (a pyarrow-backed column read
    cell by cell costs a microsecond a cell), and the kind they all are: "b" bool, "i" int, "f" float, "s"
    str, or "" (mixed: each value is looked at; numpy scalars become Python ones)."""
    kind = "s" if isinstance(series.dtype, pd.StringDtype) else getattr(series.dtype, "kind", "O")
    if kind in ("b", "i", "u", "f", "s"):
        values = series.tolist()
        if series.hasnans:
            values = [None if missing else v for v, missing in zip(values, series.isna().tolist(), strict=True)]
        return "i" if kind == "u" else kind, values
    return "", [_json_value(v) for v in series.tolist()]


def write_csv(df: pd.DataFrame, path: Path) -> None:
    """A CSV output (CONTRACT.md): UTF-8 with a BOM, so Excel shows Vietnamese right when the file is opened
    with a double click; text cells that a spreadsheet would run as a formula get a leading `'`."""
    text = df.select_dtypes(include=["object", "string"]).columns
    safe = df.assign(**{c: df[c].map(guard_formula) for c in text}) if len(text) else df
    safe.to_csv(path, index=False, lineterminator="\n", encoding="utf-8-sig")


def write_json(path: Path, meta: dict, tables: dict[str, pd.DataFrame]) -> None:
    """results.json: `meta`, then each table as a list of records, as `json.dumps(..., ensure_ascii=False,
    indent=1)` writes them — byte for byte (tests/test_properties.py) — but a column at a time: with `indent`
    the json module encodes in Python, value by value (~0.1 s for a commune's 8,000 criterion rows)."""
    path.write_text(_json_document(meta, tables) + "\n", encoding="utf-8")


def _json_document(meta: dict, tables: dict[str, pd.DataFrame]) -> str:
    columns = {name: [_column_values(df.iloc[:, k])[1] for k in range(df.shape[1])] for name, df in tables.items()}
    fast = _json_fast(meta, tables, columns)
    if fast is not None:
        return fast
    doc = dict(meta)  # anything else (a container, a name that is not text, a repeated column): the json module
    for name, df in tables.items():
        doc[name] = ([dict(zip(df.columns, row, strict=True)) for row in zip(*columns[name], strict=True)]
                     if columns[name] else [{} for _ in range(len(df))])
    return json.dumps(doc, ensure_ascii=False, indent=1)


def _json_fast(meta: dict, tables: dict[str, pd.DataFrame], columns: dict[str, list]) -> str | None:
    """The document of scalar `meta` values and tables of scalar cells with unique text column names, written
    the way json.dumps(indent=1) writes it; None for any other document."""
    if not all(isinstance(k, str) for k in [*meta, *tables]) or set(meta) & set(tables) or any(
            not df.columns.is_unique or not all(isinstance(c, str) for c in df.columns) for df in tables.values()):
        return None
    items = []
    for k, v in meta.items():
        text = _json_scalar(v)
        if text is None:
            return None
        items.append(f" {_JSON_STR(k)}: {text}")
    for name, df in tables.items():
        cells = [[_json_scalar(v) for v in values] for values in columns[name]]
        if any(None in col for col in cells):
            return None
        keys = [f"   {_JSON_STR(c)}: " for c in df.columns]
        records = (["  {\n" + ",\n".join(k + v for k, v in zip(keys, row, strict=True)) + "\n  }"
                    for row in zip(*cells, strict=True)] if cells else ["  {}"] * len(df))
        items.append(f" {_JSON_STR(name)}: " + ("[\n" + ",\n".join(records) + "\n ]" if records else "[]"))
    return "{\n" + ",\n".join(items) + "\n}" if items else "{}"


_JSON_STR = json.encoder.encode_basestring  # ensure_ascii=False: the C function json.dumps uses


def _json_scalar(v) -> str | None:
    """A scalar as json.dumps writes it; None for anything else (a container, an object json cannot write)."""
    if v is None:
        return "null"
    if isinstance(v, str):
        return _JSON_STR(v)
    if v is True:
        return "true"
    if v is False:
        return "false"
    if isinstance(v, int):
        return int.__repr__(v)
    if isinstance(v, float):
        if v != v:
            return "NaN"
        if v in (math.inf, -math.inf):
            return "Infinity" if v > 0 else "-Infinity"
        return float.__repr__(v)
    return None


def write_xlsx(path: Path, sheets: dict[str, pd.DataFrame], decimals: int,
               titles: dict[str, list[str]] | None = None, cell_by_cell: bool = False) -> None:
    """One sheet per table; numbers stored as numbers; text never turned into formulas or links. A sheet named
    in `titles` gets those lines above its table (the official appendix); the others keep the header in row 1
    (machine-readable). Every sheet prints on A4 fitted to the page width with its header repeated, landscape
    when it is wide; columns named `*_rate` are shown as percentages (the value stays the fraction).

    A table's body goes to its sheet a column at a time (tasks/xlsxsheet.py: the same bytes, a third of the
    CPU); `cell_by_cell=True` writes each cell by its own xlsxwriter call, the reference the tests compare."""
    import xlsxwriter

    from tasks.xlsxsheet import BodySheet

    wb = xlsxwriter.Workbook(str(path), {"strings_to_formulas": False, "strings_to_urls": False,
                                         "strings_to_numbers": False, "nan_inf_to_errors": False})
    wb.set_properties({"created": pd.Timestamp("2000-01-01").to_pydatetime(), "author": "parindex"})
    head = wb.add_format({"bold": True, "bg_color": "#F2E6E6", "border": 1, "text_wrap": True})
    num = wb.add_format({"num_format": "0." + "0" * decimals if decimals else "0"})
    pct = wb.add_format({"num_format": "0.00%"})
    title_fmt = [wb.add_format({"bold": True, "font_size": 13}), wb.add_format({"italic": True})]
    titles = titles or {}
    for name, df in sheets.items():
        ws = wb.add_worksheet(name[:31], worksheet_class=BodySheet)
        lines = titles.get(name, [])
        for i, line in enumerate(lines):
            ws.write_string(i, 0, line, title_fmt[min(i, 1)])
        top = len(lines) + (1 if lines else 0)  # a blank row between the title and the table
        header_lines = 1
        for c, col in enumerate(df.columns):
            ws.write_string(top, c, str(col), head)
            values = [len(str(v)) for v in df[col].head(500) if v is not None and not pd.isna(v)]
            # a long header wraps (up to 24 characters a line) rather than widening a column of numbers
            width = min(max([min(len(str(col)), 24), 6, *values]) + 2, 50)
            header_lines = max(header_lines, math.ceil(len(str(col)) / (width - 1)))
            ws.set_column(c, c, width)
        ws.set_row(top, 15 * min(header_lines, 4))
        columns = [(*_column_values(df.iloc[:, c]), pct if str(col).endswith("_rate") else num)
                   for c, col in enumerate(df.columns)]
        if cell_by_cell or not ws.add_body(top + 1, columns):
            _write_cells(ws, top + 1, columns)
        ws.freeze_panes(top + 1, 0)
        if len(df.columns):
            ws.autofilter(top, 0, top + max(len(df), 1), len(df.columns) - 1)
        ws.set_paper(9)  # A4
        if len(df.columns) > 8:
            ws.set_landscape()
        ws.fit_to_pages(1, 0)  # the width of one page, as many pages down as needed
        ws.repeat_rows(top)
        ws.set_margins(left=0.4, right=0.4, top=0.6, bottom=0.6)
        ws.set_footer("&C&P / &N")
    wb.close()


def _write_cells(ws, first_row: int, columns: list[tuple[str, list, object]]) -> None:
    """A table's body, each cell by its own xlsxwriter call from `first_row` down: `columns[c]` = (kind, values
    with None where empty, the format of its floats), as `_column_values` gives them."""
    for c, (kind, values, fmt) in enumerate(columns):
        write, extra = {"b": (ws.write_boolean, ()), "i": (ws.write_number, ()), "s": (ws.write_string, ()),
                        "f": (ws.write_number, (fmt,))}.get(kind, (None, ()))
        for r, v in enumerate(values, start=first_row):
            if v is None:
                continue
            if write is not None:
                write(r, c, v, *extra)
            elif isinstance(v, bool):
                ws.write_boolean(r, c, v)
            elif isinstance(v, int):
                ws.write_number(r, c, v)
            elif isinstance(v, float):
                ws.write_number(r, c, v, fmt)
            else:
                ws.write_string(r, c, str(v))
