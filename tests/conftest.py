"""Shared fixtures: the hand-computed `mini` folder, one sample province per session, one Prefect harness per
session, and database URLs for SQLite and the real PostgreSQL server (PARINDEX_TEST_PG_URL)."""

from __future__ import annotations

import os
import shutil
import uuid
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

REPO = Path(__file__).resolve().parent.parent
MINI = REPO / "tests" / "fixtures" / "mini"
CONFIG = REPO / "config"

os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("DO_NOT_TRACK", "1")
os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")

# No test is timed (speed is `make bench`'s): Hypothesis's deadline and its "input generation is slow" health
# check are clocks too, and on a busy 2-core machine they failed properties that hold (a list of 50 decimals
# took 1.25 s to draw while the other test worker rendered). Every other health check stays on.
settings.register_profile("parindex", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("parindex")


@pytest.fixture
def mini(tmp_path) -> Path:
    """A writable copy of the hand-computed input folder."""
    dst = tmp_path / "mini"
    shutil.copytree(MINI, dst)
    return dst


@pytest.fixture(scope="session")
def sample_root(tmp_path_factory) -> Path:
    """`parindex sample` output for Hải Dương, 2023–2024, all three levels (written once per session)."""
    from flows.sample import write_sample

    root = tmp_path_factory.mktemp("sample")
    write_sample(root, province="hai-duong", year=2024, years=2)
    return root


@pytest.fixture(scope="session")
def prefect_harness(tmp_path_factory):
    """One temporary Prefect server for every in-process flow test of the session."""
    os.environ["PREFECT_HOME"] = str(tmp_path_factory.mktemp("prefect-home"))
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=180):
        yield


def _pg_admin_url() -> str | None:
    return os.environ.get("PARINDEX_TEST_PG_URL")


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request, tmp_path):
    """A fresh, empty database on each backend; PostgreSQL gets a database of its own per test."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'store.sqlite'}"
        return
    admin = _pg_admin_url()
    if not admin:
        pytest.skip("PostgreSQL: no server (set PARINDEX_TEST_PG_URL or run `make test`, which starts one)")
    import sqlalchemy as sa

    name = f"parindex_t_{uuid.uuid4().hex[:12]}"
    engine = sa.create_engine(admin, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    url = sa.engine.make_url(admin).set(database=name).render_as_string(hide_password=False)
    try:
        yield url
    finally:
        with engine.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        engine.dispose()


def pytest_terminal_summary(terminalreporter):
    if not _pg_admin_url():
        terminalreporter.write_line("*** PostgreSQL tests were SKIPPED: no server was available ***", red=True)
