"""Edge module: nothing a run started outlives it. Prefect's temporary API server (and, in a national run,
the Dask workers) are child processes; when the `parindex` process is killed with SIGKILL (the OOM killer, a
`kill -9`, a closed SSH session's hard kill) they are not told and used to keep running, orphaned, holding a
port and a few hundred MiB each. `guard()` starts a small watcher in its own session that notes the command's
descendants every half second and, once the command is gone, terminates them (SIGTERM, then SIGKILL after 5 s).

`python -m tasks.reaper PID` is the watcher itself."""

from __future__ import annotations

import os
import subprocess
import sys
import time

POLL_S = 0.5


def guard() -> None:
    """Watch this process: its descendants are reaped when it dies, however it dies. Best effort: where the
    watcher cannot start (no fork, a locked-down host), the run goes on without it."""
    try:
        subprocess.Popen([sys.executable, "-m", "tasks.reaper", str(os.getpid())], stdin=subprocess.DEVNULL,
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
                         close_fds=True)
    except OSError:
        pass


def watch(pid: int) -> list[int]:
    """Until process `pid` ends, remember its descendants; then end those still running. Returns their pids."""
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
    watch(int(sys.argv[1]))
