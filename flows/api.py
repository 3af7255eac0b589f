"""The Prefect API a command's flows report to: the configured server (PREFECT_API_URL), or else one temporary
server for this command, started *before* the command's heavy imports so that both go on at once.

Prefect's own temporary server (`prefect.server.api.server.SubprocessASGIServer`, what `get_client()` starts
when no API is configured) costs a command about 8 s before its first task: ~3 s importing the whole server
(FastAPI, its models) into the command's process only to launch a child, then ~5 s waiting idle while the
child boots. Here the child is launched with the same command line and environment, without importing the
server here, and the command meanwhile imports what its flow needs (Great Expectations alone takes 3–5 s);
then it waits for the child's `/health`. The child is stopped when the command ends; tasks.reaper ends it if
the command is killed. A single temporary server also serves a national run's Dask workers (they are told its
URL), so none of them starts one of its own.

Heartbeats: a flow run's heartbeat tells a server that the run's process is still alive. A temporary server
lives and dies with its command, so the command's flows send none; a flow run inside another flow of the
same process sends none either (`nested`: the parent's heartbeat speaks for the process). Each flow's end
otherwise waits for its heartbeat thread's one-second sleep: about 0.5 s per publication of a national run.
"""

from __future__ import annotations

import contextlib
import gc
import hashlib
import importlib.util
import os
import random
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

PORTS = range(8000, 9000)  # Prefect's own range for its temporary server
PORT_IN_USE = 3  # uvicorn's exit status when the port was taken between our check and its bind
#: set in the Dask workers of a national run whose API is the command's temporary server
TEMPORARY_API = "PARINDEX_TEMPORARY_API"


#: what a temporary server does not do (each can be turned back on in the environment): it has no UI and dies
#: with its command, so nobody reads its task runs or its event feed — recording them took ~45 % of its CPU
#: (13.3 → 7.5 CPU-s for 12 publications of a national run, on the cores the run needs) —, no automation can
#: have been defined on it, and it sends no telemetry from a department's machine. The flow runs, their
#: states, logs and artifacts are still recorded.
QUIET_SERVER = {"PREFECT_SERVER_SERVICES_TASK_RUN_RECORDER_ENABLED": "false",
                "PREFECT_SERVER_SERVICES_EVENT_PERSISTER_ENABLED": "false",
                "PREFECT_SERVER_SERVICES_TRIGGERS_ENABLED": "false",
                "PREFECT_SERVER_ANALYTICS_ENABLED": "false"}


def _free_port() -> int:
    for _ in range(20):
        port = random.choice(PORTS)
        with contextlib.closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as sock:
            try:
                sock.bind(("127.0.0.1", port))
                return port
            except OSError:
                continue
    raise RuntimeError("no free port in 8000–8999 for Prefect's temporary server")


class TemporaryServer:
    """Prefect's API server in a child process: the command line and environment of Prefect 3.8's
    SubprocessASGIServer._run_uvicorn_command (UI off, ephemeral mode, this process's Prefect settings)."""

    def __init__(self) -> None:
        self.port = _free_port()
        self.process = self._launch()

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api"

    def _launch(self) -> subprocess.Popen:
        """Without importing Prefect here (1 s): the child reads the same environment and profile; settings
        changed in this process by `temporary_settings` are not passed (none are, before a flow starts). In a
        session of its own: Ctrl-C in a terminal signals the whole foreground group, and a server stopped first
        left the command retrying for ~70 s to report the crash to it; the command stops it as it ends."""
        spec = importlib.util.find_spec("prefect")  # where Prefect is installed; finding does not import it
        site = Path(next(iter(spec.submodule_search_locations))).parent
        env = {**QUIET_SERVER, **os.environ, "PREFECT_UI_ENABLED": "0", "PREFECT__SERVER_EPHEMERAL": "1",
               "PREFECT__SERVER_FINAL": "1",
               "PREFECT_SERVER_CSRF_PROTECTION_ENABLED": "false"}  # no browser reaches it; clients skip tokens
        return subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "--app-dir", str(site), "--factory",
             "prefect.server.api.server:create_app", "--host", "127.0.0.1", "--port", str(self.port),
             "--log-level", "error", "--lifespan", "on"], env=env, start_new_session=True)

    def wait_ready(self, timeout: float) -> None:
        """Until the server answers /health; a port taken meanwhile means another port and a new child."""
        import httpx

        deadline = time.monotonic() + timeout
        with httpx.Client() as client:
            while time.monotonic() < deadline:
                status = self.process.poll()
                if status == PORT_IN_USE:
                    self.port = _free_port()
                    self.process = self._launch()
                elif status is not None:
                    raise RuntimeError(f"Prefect's temporary server ended with status {status} before it answered")
                with contextlib.suppress(httpx.TransportError):
                    if client.get(f"{self.api_url}/health", timeout=2).status_code == 200:
                        return
                time.sleep(0.1)
        raise RuntimeError(f"Prefect's temporary server did not answer within {timeout:.0f} s "
                           "(PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS)")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def _drain() -> None:
    """Prefect's log and event workers send what they hold before the server stops (as prefect_test_harness
    does): the run's last log lines reach the server, and no "Error logging to API" is printed."""
    import inspect

    from prefect.events.worker import EventsWorker
    from prefect.logging.handlers import APILogWorker
    from prefect.utilities.asyncutils import run_coro_as_sync

    async def drain() -> None:
        with contextlib.suppress(RuntimeError):  # a worker that never started
            result = APILogWorker.instance().drain()
            if inspect.isawaitable(result):
                await result
        result = EventsWorker.drain_all()
        if inspect.isawaitable(result):
            await result

    run_coro_as_sync(drain())


_early: TemporaryServer | None = None

#: set by the `parindex` console script (a process that ends with its command): after the warm-up, the
#: objects of the imported modules are moved out of the garbage collector's sight (gc.freeze), which then no
#: longer scans them at every full collection (1.35 s → 0.8 s of collections in a province's three indices).
#: Not in a long-lived process (the tests', a worker's): what it froze would never be collected.
freeze_after_warm = False


@contextlib.contextmanager
def started_early() -> Iterator[None]:
    """Around a whole command (flows.cli.main): the temporary server is launched first thing, so that it boots
    while the command reads its inputs and imports its flow; stopped when the command ends, however it ends.
    Not launched when PREFECT_API_URL is set (a profile's URL is found later, by prefect_api, which then stops
    this one unused)."""
    global _early
    _early = None if os.environ.get("PREFECT_API_URL") else TemporaryServer()
    try:
        yield
    finally:
        server, _early = _early, None
        if server is not None:
            server.stop()


def early_api_url() -> str | None:
    """The URL the temporary server launched by started_early will answer at (None when there is none); a
    port taken before it binds moves it, so a user of this compares it with what prefect_api yields."""
    return _early.api_url if _early is not None else None


def _warm(steps) -> None:
    for step in steps:
        step()
    if freeze_after_warm:
        gc.freeze()


@contextlib.contextmanager
def prefect_api(*warm: Callable[[], object]) -> Iterator[str | None]:
    """Run the body against a Prefect API; yields the temporary server's URL, or None when one is configured.
    `warm`: imports (and other preparation) done while the temporary server boots. The server is the one the
    command launched early (started_early), or one launched now."""
    from prefect.settings import (
        PREFECT_API_URL,
        PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS,
        get_current_settings,
        temporary_settings,
    )

    early = _early
    if get_current_settings().api.url:
        if early is not None:
            early.stop()
        _warm(warm)
        yield None
        return
    server = early or TemporaryServer()
    try:
        _warm(warm)
        server.wait_ready(PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS.value())
        with temporary_settings(updates={PREFECT_API_URL: server.api_url, **NO_HEARTBEATS,
                                         **loopback_client_settings()}):
            try:
                yield server.api_url
            finally:
                _drain()
    finally:
        if server is not early:
            server.stop()


def nested() -> contextlib.AbstractContextManager:
    """For flows called inside another flow of this process (the indices of a province's year, a rerun's
    publication): no heartbeat of their own. Also the province flows of a national run's Dask workers when
    the run's API is its temporary server (TEMPORARY_API). The changed settings are made once per settings
    object (a copy of Prefect's settings costs 0.1 s)."""
    import prefect.context

    current = prefect.context.get_settings_context()
    if current.settings.flows.heartbeat_frequency is None:
        return contextlib.nullcontext()
    if id(current.settings) not in _quiet:
        _quiet[id(current.settings)] = (current.settings, current.settings.copy_with_update(updates=NO_HEARTBEATS))
    return prefect.context.SettingsContext(profile=current.profile, settings=_quiet[id(current.settings)][1])


#: the settings a flow without heartbeats runs under
NO_HEARTBEATS = {"flows.heartbeat_frequency": None}
#: id of a settings object -> (that object, kept so that its id is never reused; the same without heartbeats)
_quiet: dict[int, tuple[object, object]] = {}


def one_certificate() -> str:
    """A trust store of one certificate (the first of certifi's bundle), written once to the temporary folder:
    what the clients of the temporary server are given to verify TLS with. That server speaks plain HTTP on
    127.0.0.1, so nothing is ever verified with it; but Prefect builds an SSL context from its trust store for
    every client it makes, ~2 a task, and certifi's whole bundle (~150 certificates) cost 18 ms each time:
    ~3 CPU-s of a national run. One certificate costs 0.4 ms."""
    import certifi

    bundle = Path(certifi.where()).read_text(encoding="ascii")
    end = "-----END CERTIFICATE-----"
    first = bundle[bundle.index("-----BEGIN CERTIFICATE-----"):bundle.index(end) + len(end)] + "\n"
    digest = hashlib.sha256(first.encode()).hexdigest()[:16]
    path = Path(tempfile.gettempdir()) / f"parindex-one-certificate-{digest}.pem"
    if not path.is_file():
        staged = path.with_name(f"{path.name}.{os.getpid()}")
        staged.write_text(first, encoding="ascii")
        os.replace(staged, path)  # whole or absent, when commands start side by side
    return str(path)


def loopback_client_settings() -> dict:
    """The settings of the command's clients of its temporary server: no CSRF token (the server runs with
    Prefect's default of no CSRF protection: one round trip fewer each time a client is made, at every
    sub-flow's start) and the one-certificate trust store (one_certificate)."""
    return {"client.csrf_support_enabled": False, "api.ssl_cert_file": one_certificate()}


def temporary_worker_env(api_url: str) -> dict[str, str]:
    """The environment of a national run's Dask workers whose API is the command's temporary server: its URL,
    TEMPORARY_API (worker_flows) and loopback_client_settings, spelled as Prefect's environment variables."""
    return {"PREFECT_API_URL": api_url, TEMPORARY_API: "1",
            **{"PREFECT_" + key.replace(".", "_").upper(): str(value).lower() if isinstance(value, bool) else value
               for key, value in loopback_client_settings().items()}}


def worker_flows() -> contextlib.AbstractContextManager:
    """A national run's province flow in a Dask worker: without heartbeats when the API is the command's
    temporary server; with them (its own process's liveness) for a configured server."""
    return nested() if os.environ.get(TEMPORARY_API) == "1" else contextlib.nullcontext()
