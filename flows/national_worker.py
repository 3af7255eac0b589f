"""What a national run's local Dask worker needs before its first province, imported once by the forkserver
the workers are forked from (flows.workers.fork_workers_from): the flow and its tasks, Great Expectations
(~3 s on its own), the renderer's libraries, its compiled templates and the scorecards' fonts. A worker
started by `spawn` imported all of it itself, ~5 CPU-seconds each, and paid Great Expectations' import again
inside its first validation. Nothing here starts a thread (a fork copies only the thread that forks)."""

import gc

import distributed  # noqa: F401
import prefect_dask  # noqa: F401

import flows.national  # noqa: F401
from expectations import suites
from tasks import render

suites._gx()
render.warm()

# What was imported stays for the worker's life: out of the collector's sight (gc.freeze), a full collection
# no longer scans its ~380,000 objects (0.25 s each time, measured) and the forked workers keep sharing
# those pages with this process. Garbage of the imports is collected first, so none of it is kept.
gc.collect()
gc.freeze()
