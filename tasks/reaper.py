"""Edge module: nothing a run started outlives it. Prefect's temporary API server (and, in a national run,
the Dask workers) are child processes; when the `parindex` process is killed with SIGKILL (the OOM killer, a
`kill -9`, a closed SSH session's hard kill) they are not told and used to keep running, orphaned, holding a
port and a few hundred MiB each. `guard()` marks the command's environment with a token every child inherits
and starts a small watcher in its own session; once the command is gone, the watcher terminates every process
that carries the token or that it saw below the command (SIGTERM, then SIGKILL after 5 s). The token finds a
child started a moment before the kill, which a poll of the command's children may not have seen yet.

`python -m tasks.reaper PID` is the watcher itself."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid

POLL_S = 0.5
TOKEN_ENV = "PARINDEX_RUN_TOKEN"


def guard() -> None:
    """Watch this process: its descendants are reaped when it dies, however it dies. Best effort: where the
    watcher cannot start (no fork, a locked-down host), the run goes on without it."""
    token = os.environ[TOKEN_ENV] = uuid.uuid4().hex  # inherited by every process the command starts from now on
    try:
        subprocess.Popen([sys.executable, "-m", "tasks.reaper", str(os.getpid()), token], stdin=subprocess.DEVNULL,
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
                         close_fds=True)
    except OSError:
        pass


def _carrying(token: str, me: int) -> list:
    import psutil

    found = []
    for p in psutil.process_iter():
        try:
            if p.pid != me and p.environ().get(TOKEN_ENV) == token:
                found.append(p)
        except (psutil.Error, OSError):  # gone, or another user's process
            continue
    return found


def watch(pid: int, token: str | None = None) -> list[int]:
    """Until process `pid` ends, remember its descendants; then end those still running, and every process
    carrying `token` in its environment. Returns their pids."""
    import psutil

    try:
        parent = psutil.Process(pid)
    except psutil.NoSuchProcess:
        return []
    known: dict[int, psutil.Process] = {}
    me = os.getpid()  # a child of the command too: never on its own list
    while True:
        try:
            if parent.status() == psutil.STATUS_ZOMBIE:
                break
            for child in parent.children(recursive=True):
                if child.pid != me:
                    known.setdefault(child.pid, child)
        except psutil.NoSuchProcess:
            break
        time.sleep(POLL_S)
    if token:
        for p in _carrying(token, me):
            known.setdefault(p.pid, p)
    alive = [p for p in known.values() if p.is_running()]  # is_running compares start times: no pid reuse
    for p in alive:
        try:
            p.terminate()
        except psutil.NoSuchProcess:
            pass
    _, stubborn = psutil.wait_procs(alive, timeout=5)
    for p in stubborn:
        try:
            p.kill()
        except psutil.NoSuchProcess:
            pass
    return [p.pid for p in alive]


if __name__ == "__main__":
    watch(int(sys.argv[1]), sys.argv[2] if len(sys.argv) > 2 else None)
