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
import select
import signal
import subprocess
import sys
import tempfile
import threading
import time
import traceback
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


#: a typesetter forks a child per report where the system can fork (Zygote); elsewhere (Windows) each report
#: is typeset by a new interpreter
FORK = hasattr(os, "fork")
PREFIX = "parindex-typeset-"  # the typesetters' data files in the system's temporary directory
STALE_AFTER = 24 * 3600  # seconds: no report takes a day to typeset


def sweep_stale(now: float | None = None) -> list[str]:
    """Remove the typesetters' data and message files older than a day from the temporary directory: what a
    command killed between writing one and its typesetter reading it left behind (the typesetter removes the
    data file it has read; a normal end, a failure or an interrupt removes both). Files of other users stay
    (not ours to remove)."""
    now = time.time() if now is None else now
    gone = []
    for path in Path(tempfile.gettempdir()).glob(PREFIX + "*"):
        with contextlib.suppress(OSError):
            if now - path.stat().st_mtime > STALE_AFTER:
                path.unlink()
                gone.append(path.name)
    return gone


def _environment() -> dict[str, str]:
    """A typesetter's environment: the caller's, with where `tasks` is (installed or not) on its path, and Typst
    laying out on one thread (RAYON_NUM_THREADS, unless the caller set it): reports are already typeset side
    by side, one process each, and Typst's pool of threads only added work (7 % more CPU and wall for a
    207-unit report, medians of 20 alternated runs)."""
    root = str(Path(__file__).resolve().parent.parent)
    return {"RAYON_NUM_THREADS": "1", **os.environ,
            "PYTHONPATH": os.pathsep.join([root, *filter(None, [os.environ.get("PYTHONPATH")])])}


class Zygote:
    """The typesetter of a process: one interpreter (`python -m tasks.typeset --zygote`) that has imported Typst
    and never runs it, and forks one child per report. The child typesets the report and ends, and Typst's
    memo cache (the layouts of a process's last ten documents, ~125 MB each for 207 units) ends with it.

    Why a fork of a process of its own: a new interpreter per report cost ~40 ms of CPU before its first
    line of Typst (the interpreter, its site packages, Typst's import), and a fork of this small process
    ~1 ms: 147 → 97 ms of CPU a report for a mix of department and commune reports, measured; ~7 CPU-s over
    a national run's 136 reports. The caller itself is never forked (a fork of a 600 MB worker cost
    ~50 ms), and Typst never runs in a fork of a process where it has run (it would wait forever for worker
    threads the fork does not have): the zygote never typesets, and has one thread.

    Protocol: a JSON line per request on its stdin — `[job, template, pdf, timestamp, data, messages]` or
    `["kill", job]`; a line `job status` on its stdout when the child of a job has ended (status 0: the PDF is
    written; otherwise Typst's diagnostic is in the `messages` file). It ends, killing its children, when its
    stdin closes: when the process that started it ends, however it ends."""

    def __init__(self) -> None:
        self.owner = os.getpid()
        self.lock = threading.Lock()
        self.jobs = 0
        self.ended: dict[int, int] = {}
        self.buffer = b""
        # a session of its own: a terminal's Ctrl-C (SIGINT to the foreground process group) reached the zygote
        # while it was still importing, before serve() could ignore it, and printed a KeyboardInterrupt
        # traceback under the caller's clean "stopped (Ctrl-C)" (tests/test_reliability.py, seen in `make
        # test`); the caller alone handles Ctrl-C, and the zygote ends when the caller does, as before
        self.process = subprocess.Popen([sys.executable, "-m", "tasks.typeset", "--zygote"], stdin=subprocess.PIPE,
                                        stdout=subprocess.PIPE, env=_environment(), bufsize=0,
                                        start_new_session=True)

    def alive(self) -> bool:
        return self.owner == os.getpid() and self.process.poll() is None

    def _send(self, message: list) -> None:
        line = (json.dumps(message, ensure_ascii=False) + "\n").encode("utf-8")
        try:
            self.process.stdin.write(line)
        except (BrokenPipeError, ValueError) as exc:
            raise TypesetError(f"the typesetter ended (status {self.process.poll()})") from exc

    def submit(self, template: str, pdf_path: Path, timestamp: int, data: str, messages: str) -> int:
        with self.lock:
            self.jobs += 1
            self._send([self.jobs, template, str(pdf_path), timestamp, data, messages])
            return self.jobs

    def kill(self, job: int) -> None:
        with self.lock:
            if job not in self.ended:
                self._send(["kill", job])
        self.status(job, wait=True)

    def status(self, job: int, wait: bool) -> int | None:
        """The exit status of a job's child; None while it runs (`wait` False), else waits for it."""
        with self.lock:
            out = self.process.stdout.fileno()
            while job not in self.ended:
                if not wait and not select.select([out], [], [], 0)[0]:
                    return None
                chunk = os.read(out, 65536)
                if not chunk:  # the zygote itself ended (killed): every job still running failed
                    status = self.process.wait()
                    for j in range(1, self.jobs + 1):
                        self.ended.setdefault(j, status or -1)
                    break
                *lines, self.buffer = (self.buffer + chunk).split(b"\n")
                for line in lines:
                    j, s = line.split()
                    self.ended[int(j)] = int(s)
            return self.ended.pop(job)


_zygote: Zygote | None = None
_zygote_lock = threading.Lock()


def zygote() -> Zygote:
    """This process's typesetter, started at its first report (again if it ended; a fork of this process starts
    its own)."""
    global _zygote
    with _zygote_lock:
        if _zygote is None or not _zygote.alive():
            _zygote = Zygote()
        return _zygote


class Process:
    """templates/`template` with `context`, typeset into `pdf_path` by a child of this process's typesetter
    (Zygote) while the caller goes on; `wait()` for the PDF. Where there is no fork (Windows), by a new
    interpreter per report (`python -m tasks.typeset TEMPLATE PDF TIMESTAMP DATA`), as before the zygote. The
    data go through a temporary file outside the publication, so a large report never blocks the caller on a
    pipe."""

    def __init__(self, template: str, context: dict, pdf_path: Path, when=None):
        self.template, self.pdf_path = template, Path(pdf_path)
        data = _json(context)  # refused here (TypeError) before any file or process exists
        sweep_stale()
        fd, self.data_path = tempfile.mkstemp(prefix=PREFIX, suffix=".json")
        self.messages_path = None
        self.result: int | None = None
        self.process = self.typesetter = self.job = None
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(data)
            fd, self.messages_path = tempfile.mkstemp(prefix=PREFIX, suffix=".err")
            os.close(fd)
            if FORK:
                self.typesetter = zygote()
                self.job = self.typesetter.submit(template, self.pdf_path, timestamp_of(when), self.data_path,
                                                  self.messages_path)
            else:
                with open(self.messages_path, "wb") as messages:
                    self.process = subprocess.Popen(
                        [sys.executable, "-m", "tasks.typeset", template, str(self.pdf_path),
                         str(timestamp_of(when)), self.data_path], stdin=subprocess.DEVNULL,
                        stdout=subprocess.DEVNULL, stderr=messages, env=_environment())
        except BaseException:
            self._clean()
            raise

    def _status(self, wait: bool) -> int | None:
        if self.result is None:
            if self.process is not None:
                self.result = self.process.wait() if wait else self.process.poll()
            else:
                self.result = self.typesetter.status(self.job, wait)
        return self.result

    def done(self) -> bool:
        return self._status(wait=False) is not None

    def join(self) -> int:
        """Until the report's typesetting has ended; its exit status."""
        return self._status(wait=True)

    def wait(self) -> Path:
        """The PDF; TypesetError with Typst's diagnostic if the template or the data were refused."""
        status = self.join()
        said = Path(self.messages_path).read_bytes().decode("utf-8", "replace").strip()
        self._clean()
        if status:
            raise TypesetError(said or f"{self.template}: the typesetting process ended with status {status}")
        return self.pdf_path

    def kill(self) -> None:
        """The caller failed or was interrupted: nothing of this process is published."""
        if self.result is None:
            if self.process is not None:
                self.process.kill()
                self.result = self.process.wait()
            elif self.typesetter is not None:
                with contextlib.suppress(TypesetError):  # a typesetter that ended has no child left either
                    self.typesetter.kill(self.job)
                self.result = -signal.SIGKILL
        self._clean()

    def _clean(self) -> None:
        for path in (self.data_path, self.messages_path):
            if path:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(path)


def _typeset_file(template: str, pdf: str, timestamp: int, data: str) -> int:
    """Typeset one report whose data are in the file `data` (removed once read); 0, or 1 with Typst's
    diagnostic on stderr."""
    try:
        text = Path(data).read_text(encoding="utf-8")
        with contextlib.suppress(OSError):  # read: gone now, even if the command that wrote it is killed meanwhile
            os.unlink(data)
        Path(pdf).write_bytes(_compile(template, text, int(timestamp)))
        return 0
    except TypesetError as exc:
        sys.stderr.write(f"{exc}\n")
        return 1


def _child(request: list, inherited: list[int]) -> None:
    """In a fork of the zygote: typeset one request, its messages into its file, and end (os._exit: no
    teardown). It keeps open only the write end of its own pipe, whose closing at its end tells the zygote."""
    status = 2
    try:
        for fd in inherited:  # the zygote's own pipes and the other children's: not this child's
            os.close(fd)
        _, template, pdf, timestamp, data, messages = request
        fd = os.open(messages, os.O_WRONLY | os.O_TRUNC)
        os.dup2(fd, 2)
        os.close(fd)
        sys.stderr = open(2, "w", encoding="utf-8", closefd=False)  # noqa: SIM115 - ends with the process
        status = _typeset_file(template, pdf, timestamp, data)
    except BaseException:  # noqa: BLE001 - said in the messages file, and in the status
        with contextlib.suppress(Exception):
            traceback.print_exc()
    finally:
        with contextlib.suppress(Exception):
            sys.stderr.flush()
        os._exit(status)


def serve() -> None:
    """`python -m tasks.typeset --zygote` (Zygote): fork a child per request until stdin closes."""
    if hasattr(os, "nice"):
        os.nice(10)  # as render's children: the caller's own part is the longest path through a rendering
    # Ctrl-C is the caller's: it cancels its reports (a "kill" line) or ends, and its end (stdin closed) ends
    # this and its children. The zygote runs in a session of its own (Zygote), so a terminal's Ctrl-C never
    # reaches it or them; a SIGINT sent to it by hand is ignored, by its children too
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    requests, replies = sys.stdin.fileno(), sys.stdout.fileno()
    running: dict[int, tuple[int, int]] = {}  # read end of a child's pipe -> (job, pid)
    buffer = b""
    while True:
        for fd in select.select([requests, *running], [], [])[0]:
            if fd != requests:  # a child ended: its pipe's write end closed with it
                os.close(fd)
                job, pid = running.pop(fd)
                status = os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])
                os.write(replies, f"{job} {status}\n".encode())
                continue
            chunk = os.read(requests, 65536)
            if not chunk:  # the caller ended: so do its reports
                for _, pid in running.values():
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(pid, signal.SIGKILL)
                for _, pid in running.values():
                    os.waitpid(pid, 0)
                return
            *lines, buffer = (buffer + chunk).split(b"\n")
            for line in lines:
                request = json.loads(line)
                if request[0] == "kill":  # a job whose child already ended has nothing left to kill
                    for pid in [pid for job, pid in running.values() if job == request[1]]:
                        with contextlib.suppress(ProcessLookupError):
                            os.kill(pid, signal.SIGKILL)
                    continue
                read, write = os.pipe()
                pid = os.fork()
                if pid == 0:
                    _child(request, [requests, replies, read, *running])
                os.close(write)
                running[read] = (request[0], pid)


if __name__ == "__main__":
    if sys.argv[1:] == ["--zygote"]:
        serve()
    else:  # python -m tasks.typeset TEMPLATE PDF TIMESTAMP DATA.json (Process, where there is no fork)
        if hasattr(os, "nice"):
            os.nice(10)
        sys.exit(_typeset_file(*sys.argv[1:5]))
