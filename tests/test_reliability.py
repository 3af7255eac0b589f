"""Reproducibility, concurrency and crashes: same inputs give the same bytes; two runs into one database at
once both complete without corrupting each other; a run killed mid-way leaves nothing half-written."""

import hashlib
import os
import signal
import subprocess
import sys
import time

import pytest
import sqlalchemy as sa

from tasks import publishing, store
from tests.conftest import REPO

pytestmark = [pytest.mark.xdist_group("flow"), pytest.mark.flow]
REPRODUCIBLE = ["results.csv", "criteria.csv", "results.json", "results.xlsx", "report.vi.html",
                "report.en.html", "report.vi.pdf", "report.en.pdf"]


def _cli(*args, env=None, **kw):
    script = os.path.join(os.path.dirname(sys.executable), "parindex")
    cmd = [script] if os.path.exists(script) else [sys.executable, "-m", "flows.cli"]
    return subprocess.Popen([*cmd, *args], cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, **(env or {})}, **kw)


def _hashes(folder):
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file() and not p.name.startswith("parindex.sqlite")
            and "validation" not in p.parts and not any(part.startswith(".") for part in p.relative_to(folder).parts)}


def _rows(url: str, table: sa.Table) -> list[tuple]:
    engine = store.make_engine(url)
    with engine.connect() as conn:
        cols = [c for c in table.c if c.name != "run_id"]
        rows = sorted(tuple(r) for r in conn.execute(sa.select(*cols)))
    engine.dispose()
    return rows


def test_same_inputs_give_byte_identical_outputs_and_rows(prefect_harness, mini, tmp_path, monkeypatch):
    from flows.annual import annual_run

    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1744416000")  # 12 April 2025
    annual_run(inputs=str(mini), out=str(tmp_path / "a"))
    annual_run(inputs=str(mini), out=str(tmp_path / "b"))
    for name in REPRODUCIBLE:
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name
    cards = sorted(p.name for p in (tmp_path / "a" / "units").iterdir())
    assert cards and cards == sorted(p.name for p in (tmp_path / "b" / "units").iterdir())
    for card in cards:  # the unit scorecards too
        assert (tmp_path / "a" / "units" / card).read_bytes() == (tmp_path / "b" / "units" / card).read_bytes(), card
    assert "12 tháng 4 năm 2025" in (tmp_path / "a" / "report.vi.html").read_text(encoding="utf-8")
    url_a, url_b = (store.default_url(tmp_path / x) for x in "ab")
    for table in (store.results, store.criterion_points, store.field_results, store.units):
        assert _rows(url_a, table) == _rows(url_b, table), table.name


def test_concurrent_runs_into_one_database(db_url, mini, tmp_path):
    procs = [_cli("run", "--inputs", str(mini), "--out", str(tmp_path / name), "--db", db_url) for name in "ab"]
    outs = [p.communicate(timeout=600) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs
    engine = store.make_engine(db_url)
    with engine.connect() as conn:
        runs = conn.execute(sa.select(store.runs.c.run_id, store.runs.c.status)).all()
        assert sorted(s for _, s in runs) == ["published", "replaced"]
        for run_id, _ in runs:  # each run's rows are complete: nothing interleaved or lost
            n = conn.execute(sa.select(sa.func.count()).select_from(store.results)
                             .where(store.results.c.run_id == run_id)).scalar()
            assert n == 6
    engine.dispose()
    assert (tmp_path / "a" / "results.csv").read_bytes() == (tmp_path / "b" / "results.csv").read_bytes()


def _rendering_over_a_publication(mini, sample_root, out, interruptible=False):
    """A first publication in `out` (its hashes), and a longer run into the same folder, in a session of its
    own, caught while it renders the PDFs. `interruptible`: started as from a terminal, where Ctrl-C reaches
    it (a test runner's worker may ignore SIGINT, and its children would inherit that)."""
    first = _cli("run", "--inputs", str(mini), "--out", str(out))
    assert first.wait(timeout=600) == 0, first.stderr.read()
    before = _hashes(out)
    terminal = {"preexec_fn": lambda: signal.signal(signal.SIGINT, signal.SIG_DFL)} if interruptible else {}
    victim = _cli("run", "--inputs", str(sample_root / "2024" / "commune"), "--out", str(out),
                  start_new_session=True, **terminal)
    deadline = time.monotonic() + 300
    while not list(out.glob(".staging-*/report.vi.html")):
        assert victim.poll() is None, victim.stderr.read()
        assert time.monotonic() < deadline, "the run never reached rendering"
        time.sleep(0.05)
    return before, victim


def test_killed_run_leaves_the_publication_and_database_intact(mini, sample_root, tmp_path):
    out = tmp_path / "out"
    # a longer run into the same folder, killed (SIGKILL, with its Prefect server) while rendering the PDFs
    before, victim = _rendering_over_a_publication(mini, sample_root, out)
    os.killpg(victim.pid, signal.SIGKILL)
    victim.wait(timeout=60)
    assert _hashes(out) == before  # the earlier publication, byte for byte
    assert list(out.glob(".staging-*"))  # what the killed run left, hidden
    engine = store.make_engine(store.default_url(out))
    with engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(store.runs)).scalar() == 1
    engine.dispose()
    # the next run repairs the folder and publishes cleanly
    again = _cli("run", "--inputs", str(mini), "--out", str(out))
    assert again.wait(timeout=600) == 0, again.stderr.read()
    assert not list(out.glob(".staging-*")) and not list(out.glob(".previous-*"))
    assert _hashes(out)["results.csv"] == before["results.csv"]  # same inputs, same published bytes


def test_ctrl_c_stops_a_run_at_once_and_leaves_the_publication_intact(mini, sample_root, tmp_path):
    """Ctrl-C in a terminal signals the whole foreground process group: the command. Its Prefect server and
    its typesetter, each in a session of its own, end with it: the server used to stop first, and the command
    then spent ~70 s retrying to report the crash to it; a typesetter caught importing printed a
    KeyboardInterrupt traceback under the command's clean message."""
    import psutil

    out = tmp_path / "out"
    before, victim = _rendering_over_a_publication(mini, sample_root, out, interruptible=True)
    # the token every process the command starts carries (tasks.reaper), read from one of them
    token = next(filter(None, (c.environ().get("PARINDEX_RUN_TOKEN") for c in psutil.Process(victim.pid).children())))
    interrupted = time.monotonic()
    os.killpg(victim.pid, signal.SIGINT)
    _, err = victim.communicate(timeout=120)
    assert time.monotonic() - interrupted < 30 and victim.returncode != 0, err
    assert "Traceback" not in err, err
    assert _hashes(out) == before  # the earlier publication, byte for byte
    deadline = time.monotonic() + 5  # a typesetter ends as it sees the command's end: a moment later
    while (left := _carrying(token)) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert token and not left, left  # neither the server nor a typesetter outlives the command


def _carrying(token: str) -> list[str]:
    """The live processes but the reaper whose environment holds the run's token (tasks.reaper)."""
    import psutil

    def carries(p) -> bool:
        try:
            return (p.status() != psutil.STATUS_ZOMBIE and p.environ().get("PARINDEX_RUN_TOKEN") == token
                    and "tasks.reaper" not in p.cmdline())
        except (psutil.Error, OSError):
            return False
    found = [" ".join(p.cmdline()) for p in psutil.process_iter() if p.pid != os.getpid() and carries(p)]
    return found


def test_recover_restores_a_half_swapped_publication(tmp_path):
    out = tmp_path / "out"
    backup = out / ".previous-dead"
    backup.mkdir(parents=True)
    (backup / "manifest.json").write_text("{}", encoding="utf-8")
    (backup / "results.csv").write_text("old", encoding="utf-8")
    (out / "results.csv").write_text("half-new", encoding="utf-8")  # moved in before the crash
    staging = out / ".staging-dead"
    staging.mkdir()
    (staging / publishing.OWNER_FILE).write_text("999999999", encoding="utf-8")
    notes = publishing.recover_interrupted(out)
    assert (out / "results.csv").read_text(encoding="utf-8") == "old"
    assert (out / "manifest.json").exists() and not backup.exists() and not staging.exists()
    assert len(notes) == 2


def test_recover_leaves_a_live_run_alone(tmp_path):
    staging = publishing.make_staging(tmp_path, "live")
    (staging / publishing.OWNER_FILE).write_text(str(os.getppid()), encoding="utf-8")
    assert publishing.recover_interrupted(tmp_path) == [] and staging.exists()
