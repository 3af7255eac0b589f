"""What a national run's local Dask worker needs before its first province, imported once by the forkserver
the workers are forked from (flows.workers.fork_workers_from): the flow and its tasks, Great Expectations
(~3 s on its own), the renderer's libraries, its compiled templates and the scorecards' fonts. A worker
started by `spawn` imported all of it itself, ~5 CPU-seconds each, and paid Great Expectations' import again
inside its first validation. Nothing here starts a Python thread (a fork copies only the thread that
forks); the two native threads NumPy's and pyarrow's libraries start at import are theirs to handle across
a fork, and the forked workers run every national test."""

import gc

# what a worker's first province imported for itself, found by watching a worker's imports (~250 modules):
# Prefect's flow engine and what running a flow pulls in (its parameters are encoded by FastAPI's encoder, its
# deadlines checked through anyio, its graph helper imports graphviz), Alembic (each province's database is
# migrated) and pandas' CSV writer: ~0.25 CPU-s here instead of in each worker. Not DuckDB (0.04 s): its
# bindings print a page of "leaked" warnings when an interpreter that imported it ends
import alembic.command  # noqa: F401
import alembic.config  # noqa: F401
import alembic.runtime.migration  # noqa: F401
import alembic.script  # noqa: F401
import anyio._backends._asyncio  # noqa: F401
import distributed  # noqa: F401
import fastapi.encoders  # noqa: F401
import pandas.io.formats.csvs  # noqa: F401
import prefect.engine  # noqa: F401
import prefect.flow_engine  # noqa: F401
import prefect.utilities.visualization  # noqa: F401
import prefect_dask  # noqa: F401
import pyarrow.pandas_compat  # noqa: F401

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
