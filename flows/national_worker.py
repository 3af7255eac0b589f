"""What a national run's local Dask worker needs before its first province, imported once by the forkserver
the workers are forked from (flows.national.fork_workers_from): the flow and its tasks, Great Expectations
(~3 s on its own), the renderer's libraries, its compiled templates and the scorecards' fonts. A worker
started by `spawn` imported all of it itself, ~5 CPU-seconds each, and paid Great Expectations' import again
inside its first validation. Nothing here starts a thread (a fork copies only the thread that forks)."""

import distributed  # noqa: F401
import prefect_dask  # noqa: F401

import flows.national  # noqa: F401
from expectations import suites
from tasks import render

suites._gx()
render.warm()
