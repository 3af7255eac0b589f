"""PostgreSQL least privilege (issue 15, case 8), on the real server: the owner migrates, the pipeline's role
publishes and replaces, and cannot TRUNCATE, ALTER (DISABLE TRIGGER), DROP, DELETE, UPDATE rows or withdraw a
run. Through the commands an operator types: `parindex migrate --app-role`, `parindex run --db`."""

from __future__ import annotations

import os
import uuid

import pytest
import sqlalchemy as sa

from tests.conftest import MINI
from tests.test_cli import parindex

pytestmark = [pytest.mark.postgres, pytest.mark.xdist_group("cli")]


@pytest.fixture
def owner_and_app():
    admin = os.environ.get("PARINDEX_TEST_PG_URL")
    if not admin:
        pytest.skip("PostgreSQL: no server (set PARINDEX_TEST_PG_URL or run `make test`, which starts one)")
    tag = uuid.uuid4().hex[:10]
    name, role = f"parindex_p_{tag}", f"parindex_app_{tag}"
    engine = sa.create_engine(admin, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
        conn.execute(sa.text(f"CREATE ROLE {role} LOGIN PASSWORD 'app-{tag}'"))
    owner = sa.engine.make_url(admin).set(database=name)
    app = owner.set(username=role, password=f"app-{tag}")
    try:
        yield (owner.render_as_string(hide_password=False), app.render_as_string(hide_password=False), role)
    finally:
        with engine.connect() as conn:
            # a backend of the pipeline's role may outlive its process by a moment: FORCE may end it only
            # when the test's role is a member of that role (CREATEROLE lets it say so)
            conn.execute(sa.text(f"GRANT {role} TO CURRENT_USER"))
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            conn.execute(sa.text(f"DROP ROLE IF EXISTS {role}"))
        engine.dispose()


REFUSED = [
    ("TRUNCATE results", "permission denied"),
    ("TRUNCATE runs CASCADE", "permission denied"),
    ("ALTER TABLE results DISABLE TRIGGER ALL", "must be owner"),
    ("ALTER TABLE runs DISABLE TRIGGER runs_frozen", "must be owner"),
    ("DROP TABLE results", "must be owner"),
    ("DELETE FROM results", "permission denied"),
    ("UPDATE results SET total_points = 100", "permission denied"),
    ("UPDATE runs SET status = 'replaced'", "immutable"),
    ("UPDATE runs SET status = 'replaced', replaced_by = 'no-such-run' WHERE status = 'published'", "foreign key"),
    ("UPDATE runs SET inputs_sha256 = 'x'", "permission denied"),
    ("CREATE TABLE shadow (x int)", "permission denied"),
    ("UPDATE alembic_version SET version_num = '0001'", "permission denied"),
]


def test_the_pipelines_role_publishes_but_cannot_rewrite_history(owner_and_app, tmp_path):
    owner, app, role = owner_and_app
    # the pipeline's role cannot create the schema: exit 2 naming who must migrate, nothing published
    proc = parindex("run", "--inputs", str(MINI), "--out", str(tmp_path / "o"), "--db", app, "--no-unit-pdfs")
    assert proc.returncode == 2 and "parindex migrate" in proc.stderr and "Traceback" not in proc.stderr
    assert f"app-{role[-10:]}" not in proc.stderr + proc.stdout  # never the password
    parindex("migrate", "--db", owner, "--app-role", role, check_exit=0)
    for _ in range(2):  # publish, then publish again: the first run is marked replaced by the second
        parindex("run", "--inputs", str(MINI), "--out", str(tmp_path / "o"), "--db", app, "--no-unit-pdfs",
                 check_exit=0)
    engine = sa.create_engine(app)
    try:
        with engine.connect() as conn:
            statuses = sorted(conn.execute(sa.text("SELECT status FROM runs")).scalars())
            assert statuses == ["published", "replaced"]
            assert conn.execute(sa.text("SELECT count(*) FROM runs WHERE status = 'replaced' AND replaced_by IN "
                                        "(SELECT run_id FROM runs)")).scalar() == 1
            before = conn.execute(sa.text("SELECT count(*) FROM results")).scalar()
        for statement, refusal in REFUSED:
            with pytest.raises(sa.exc.DBAPIError, match=refusal):
                with engine.begin() as conn:
                    conn.execute(sa.text(statement))
        with engine.connect() as conn:
            assert conn.execute(sa.text("SELECT count(*) FROM results")).scalar() == before
            assert sorted(conn.execute(sa.text("SELECT status FROM runs")).scalars()) == statuses
    finally:
        engine.dispose()
