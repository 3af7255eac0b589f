"""The forkserver a national run's local Dask workers are forked from (flows/national_worker.py is what it
imports). A light module — no Prefect, pandas or Great Expectations — so that `parindex national` starts the
forkserver first thing, before its own imports: the forkserver's imports (~4 CPU-s), the command's and the
temporary server's boot (~3.5 CPU-s, nearly all importing) then share the two cores instead of following
one another. Measured on this 2-core machine, the first province started at 7.5 s instead of 7.7 s (medians
of five starts each): the three together are CPU-bound, so the gain is small."""

from __future__ import annotations

import os

#: the environment the forkserver of this process's local Dask workers was started with (fork_workers_from)
_forkserver_env: dict[str, str] | None = None


def fork_workers_from(env: dict[str, str]) -> bool:
    """Start, now, the forkserver this process's local Dask workers will be forked from: a new interpreter
    that imports flows.national_worker once (while Prefect's temporary server is still booting, when the
    command calls this early) instead of each worker importing it for itself. `env` is the workers'
    environment (their Prefect API): Prefect reads its settings when it is imported, so the forkserver is
    started with it. False where there is no forkserver (Windows): the workers are spawned as before."""
    global _forkserver_env
    import multiprocessing
    import multiprocessing.forkserver

    if "forkserver" not in multiprocessing.get_all_start_methods():
        return False
    if _forkserver_env is not None:
        return _forkserver_env == env
    multiprocessing.get_context("forkserver").set_forkserver_preload(["flows.national_worker"])
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        multiprocessing.forkserver.ensure_running()
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    _forkserver_env = dict(env)
    return True
