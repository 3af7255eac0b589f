"""The PDF engine (tasks/typeset.py, Typst): data never becomes markup, bytes depend on the data only, and a
template error names the template instead of printing half a document."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pypdf import PdfReader

from tasks import report, typeset
from tests.conftest import MINI
from tests.helpers import compute_folder


def _text(path) -> str:
    return "\n".join(p.extract_text() for p in PdfReader(path).pages)


@pytest.fixture(scope="module")
def context(tmp_path_factory):
    from datetime import datetime

    scratch = tmp_path_factory.mktemp("ctx")
    computed = compute_folder(MINI, scratch)
    from tests.helpers import read_folder

    bundle = read_folder(MINI, tmp_path_factory.mktemp("ctx2"))
    run = {"version": 1, "code_version": "test", "started_at": datetime(2025, 4, 2), "files": [],
           "inputs_sha256": "0" * 64, "draft": False}
    return report.build_context(bundle.methodology, bundle.index, computed, run, "vi")


@pytest.mark.parametrize("name", ["*Xã* _A_ #set page(width: 1pt) $x$ [1] <l> @r \\ `c` = h",
                                  "Phường \"Hòa\" // not a comment", "Xã ${evil}", "= Heading"])
def test_a_unit_name_prints_as_written_never_as_markup(context, tmp_path, name):
    ctx = json.loads(json.dumps(context, ensure_ascii=False, default=str))
    row = ctx["groups"][0]["rows"][0]
    row["unit_name"] = name
    pdf = typeset.typeset("report.typ", ctx, tmp_path / "r.pdf")
    text = _text(pdf).replace("\n", " ")
    assert " ".join(name.split()) in " ".join(text.split())
    assert PdfReader(pdf).pages[0].mediabox.width == pytest.approx(595.3, abs=0.5)  # still A4


def test_same_data_same_bytes_and_the_date_is_the_documents(context, tmp_path):
    from datetime import datetime

    when = datetime(2026, 4, 10)
    a = typeset.typeset("report.typ", context, tmp_path / "a.pdf", when=when).read_bytes()
    b = typeset.typeset("report.typ", context, tmp_path / "b.pdf", when=when).read_bytes()
    assert a == b
    assert PdfReader(tmp_path / "a.pdf").metadata.creation_date.date().isoformat() == "2026-04-10"
    fonts = {f["/BaseFont"].split("+")[-1] for p in PdfReader(tmp_path / "a.pdf").pages
             for f in (p["/Resources"].get("/Font") or {}).values()}
    assert fonts and all(f.startswith("DejaVuSans") for f in fonts)  # the bundled fonts, embedded


def test_a_template_error_is_named(tmp_path):
    with pytest.raises(typeset.TypesetError, match=r"report\.typ"):
        typeset.typeset("report.typ", {"L": {}}, tmp_path / "x.pdf")
    assert not (tmp_path / "x.pdf").exists()


def test_numpy_and_dates_in_the_view_model_are_plain_json(tmp_path):
    import numpy as np

    assert typeset._plain(np.int64(3)) == 3 and typeset._plain(float("nan")) is None
    with pytest.raises(TypeError):
        typeset._plain(object())


@pytest.mark.parametrize("fork", [True, False], ids=["zygote", "interpreter"])
def test_reports_are_typeset_by_other_processes_at_most_workers_at_once(context, tmp_path, monkeypatch, fork):
    """render.Reports (what render_outputs uses): each report by a child of this process's typesetter (or, where
    there is no fork, by a new interpreter), while this process goes on, the same bytes as typeset here; a
    refused report raises Typst's diagnostic naming the template after every other report was waited for; a
    cancelled one leaves no process and no data file behind."""
    import glob
    import tempfile
    from datetime import datetime

    import psutil

    from tasks import render

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))  # the data files, where the test can see them
    monkeypatch.setattr(typeset, "FORK", fork)
    when = datetime(2026, 4, 10)
    one = render.Reports(workers=1)
    for name in ("a", "b", "c"):
        one.add("report.typ", context, tmp_path / f"{name}.pdf", when=when)
        assert sum(not p.done() for p in one.started) <= 1  # one at a time
    one.started[0].join()  # the first ended while the others were queued: none is running now
    assert [p.name for p in one.results()] == ["a.pdf", "b.pdf", "c.pdf"]
    here = typeset.typeset("report.typ", context, tmp_path / "here.pdf", when=when).read_bytes()
    assert all((tmp_path / f"{n}.pdf").read_bytes() == here for n in "abc")
    assert not glob.glob(str(tmp_path / "parindex-typeset-*"))  # the data and message files are gone

    broken = render.Reports(workers=2)
    broken.add("report.typ", {"L": {}}, tmp_path / "x.pdf")
    broken.add("report.typ", context, tmp_path / "y.pdf", when=when)
    with pytest.raises(typeset.TypesetError, match=r"report\.typ"):
        broken.results()
    assert (tmp_path / "y.pdf").read_bytes() == here and not (tmp_path / "x.pdf").exists()

    cancelled = render.Reports(workers=2)
    cancelled.add("report.typ", context, tmp_path / "z.pdf", when=when)
    started = cancelled.started[0]
    running = (psutil.Process(typeset.zygote().process.pid).children() if fork
               else [psutil.Process(started.process.pid)])
    cancelled.cancel()
    assert not [p for p in running if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]
    assert not glob.glob(str(tmp_path / "parindex-typeset-*"))


def test_the_typesetter_never_runs_typst_and_ends_with_its_caller(context, tmp_path):
    """The zygote forks a child per report and never typesets itself: after reports it still has its one thread
    (a process where Typst has run keeps Typst's worker threads, and a fork of it would wait for them
    forever); it leads a session of its own. Its caller killed with SIGKILL, it ends, and a report it was
    typesetting with it."""
    import os
    import signal
    import subprocess
    import sys
    import time
    from datetime import datetime

    import psutil

    from tasks import render

    reports = render.Reports(workers=2)
    for name in "ab":
        reports.add("report.typ", context, tmp_path / f"{name}.pdf", when=datetime(2026, 4, 10))
    reports.results()
    zygote = psutil.Process(typeset.zygote().process.pid)
    assert zygote.num_threads() == 1 and zygote.pid != os.getpid() and not zygote.children()
    # a session of its own: a terminal's Ctrl-C (to the caller's process group) never reaches it, not even
    # while it is still importing, before it can ignore SIGINT (a KeyboardInterrupt traceback, once)
    assert os.getsid(zygote.pid) == zygote.pid != os.getsid(0)
    assert (tmp_path / "a.pdf").read_bytes() == (tmp_path / "b.pdf").read_bytes()

    code = "\n".join([
        "import json, sys, time",
        "from tasks import typeset",
        "context = json.loads(sys.stdin.read())",
        "p = typeset.Process('report.typ', context, sys.argv[1])",
        "print(typeset.zygote().process.pid, flush=True)",
        "time.sleep(600)"])
    caller = subprocess.Popen([sys.executable, "-c", code, str(tmp_path / "c.pdf")], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True, cwd=Path(typeset.__file__).parent.parent)
    caller.stdin.write(json.dumps(context, ensure_ascii=False, default=typeset._plain))
    caller.stdin.close()
    theirs = psutil.Process(int(caller.stdout.readline()))
    family = [theirs, *theirs.children()]
    os.kill(caller.pid, signal.SIGKILL)
    caller.wait()
    deadline = time.monotonic() + 10
    while any(p.is_running() and p.status() != psutil.STATUS_ZOMBIE for p in family) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not any(p.is_running() and p.status() != psutil.STATUS_ZOMBIE for p in family)


def test_a_typesetter_removes_its_data_once_read_and_stale_data_files_are_swept(context, tmp_path, monkeypatch):
    """A command killed while its typesetter works leaves no data file: the typesetter removes the file it has
    read (here the caller never cleans up). A data file left older than a day (a command killed between
    writing it and its typesetter reading it) is removed when the next typesetter starts; a fresh one stays."""
    import os
    import tempfile
    import time

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    stale, fresh = tmp_path / "parindex-typeset-old.json", tmp_path / "parindex-typeset-new.json"
    for f in (stale, fresh):
        f.write_text("{}", encoding="utf-8")
    os.utime(stale, (time.time() - 2 * 86400, time.time() - 2 * 86400))
    p = typeset.Process("report.typ", context, tmp_path / "r.pdf")
    assert not stale.exists() and fresh.exists()  # swept as the typesetter started
    assert p.join() == 0 and (tmp_path / "r.pdf").stat().st_size > 0
    assert not os.path.exists(p.data_path)  # removed by the typesetter itself, not by the caller
