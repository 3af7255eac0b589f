"""Edge module: the database of runs and results (SQLAlchemy 2; schema changes only through Alembic).

The tables below mirror migrations/versions/*; `migrate()` brings any database to the head revision before
a run writes to it. A run's rows are written in one transaction (see flows/annual.py: the transaction commits
only after the files are in place, so the database and the published folder agree).
"""

from __future__ import annotations

import fcntl
import functools
import math
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine, make_url

from tasks.resources import MIGRATIONS
from tasks.runrecord import RunRecord

metadata = sa.MetaData()

runs = sa.Table(
    "runs", metadata,
    sa.Column("run_id", sa.String(36), primary_key=True),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("parent_run_id", sa.String(36), sa.ForeignKey("runs.run_id")),
    sa.Column("status", sa.String(16), nullable=False),  # published | replaced
    sa.Column("province", sa.String(200), nullable=False),
    sa.Column("year", sa.Integer, nullable=False),
    sa.Column("level", sa.String(50), nullable=False),
    sa.Column("methodology_id", sa.String(200), nullable=False),
    sa.Column("methodology_sha256", sa.String(64), nullable=False),
    sa.Column("inputs_sha256", sa.String(64), nullable=False),
    sa.Column("code_version", sa.String(100), nullable=False),
    sa.Column("out_dir", sa.Text, nullable=False),
    sa.Column("synthetic", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("finished_at", sa.DateTime(timezone=True)),
    sa.Column("replaced_by", sa.String(36)),  # a later `run` of the same version replaced this one
    sa.Column("superseded_by", sa.String(36)),  # a `rerun` published a corrected version (revision 0002)
    sa.Index("uq_runs_current_version", "province", "year", "level", "version", unique=True,
             sqlite_where=sa.text("status = 'published'"), postgresql_where=sa.text("status = 'published'")),
)
input_files = sa.Table(
    "input_files", metadata,
    sa.Column("run_id", sa.String(36), sa.ForeignKey("runs.run_id"), primary_key=True),
    sa.Column("role", sa.String(50), primary_key=True),
    sa.Column("file_name", sa.Text, nullable=False),
    sa.Column("source_path", sa.Text, nullable=False),
    sa.Column("sha256", sa.String(64), nullable=False),
    sa.Column("bytes", sa.BigInteger, nullable=False),
    sa.Column("rows_read", sa.BigInteger),
    sa.Column("rows_accepted", sa.BigInteger),
    sa.Column("rows_rejected", sa.BigInteger),
)
units = sa.Table(
    "units", metadata,
    sa.Column("run_id", sa.String(36), sa.ForeignKey("runs.run_id"), primary_key=True),
    sa.Column("unit_code", sa.String(50), primary_key=True),
    sa.Column("unit_name", sa.Text, nullable=False),
    sa.Column("level", sa.String(50), nullable=False),
    sa.Column("group_name", sa.Text, nullable=False),
    sa.Column("parent_code", sa.String(50)),
)
criterion_points = sa.Table(
    "criterion_points", metadata,
    sa.Column("run_id", sa.String(36), sa.ForeignKey("runs.run_id"), primary_key=True),
    sa.Column("unit_code", sa.String(50), primary_key=True),
    sa.Column("criterion_code", sa.String(50), primary_key=True),
    sa.Column("field_code", sa.String(50), nullable=False),
    sa.Column("source", sa.String(16), nullable=False),
    sa.Column("max_points", sa.Float, nullable=False),
    sa.Column("self_points", sa.Float),
    sa.Column("appraised_points", sa.Float),
    sa.Column("points", sa.Float, nullable=False),
    sa.Column("evidence", sa.Text),
    sa.Column("note", sa.Text),
)
results = sa.Table(
    "results", metadata,
    sa.Column("run_id", sa.String(36), sa.ForeignKey("runs.run_id"), primary_key=True),
    sa.Column("unit_code", sa.String(50), primary_key=True),
    sa.Column("group_name", sa.Text, nullable=False),
    sa.Column("total_points", sa.Float, nullable=False),
    sa.Column("index_pct", sa.Float, nullable=False),
    sa.Column("index_pct_published", sa.Float, nullable=False),
    sa.Column("rank", sa.Integer, nullable=False),
    sa.Column("rank_of", sa.Integer, nullable=False),
    sa.Column("band", sa.String(16), nullable=False),
    sa.Column("prev_rank", sa.Integer),
    sa.Column("rank_change", sa.Integer),
    sa.Column("appraisal_points", sa.Float, nullable=False),
    sa.Column("survey_points", sa.Float, nullable=False),
    sa.Column("dossier_points", sa.Float, nullable=False),
    sa.Column("deduction_points", sa.Float, nullable=False),
)
field_results = sa.Table(
    "field_results", metadata,
    sa.Column("run_id", sa.String(36), sa.ForeignKey("runs.run_id"), primary_key=True),
    sa.Column("unit_code", sa.String(50), primary_key=True),
    sa.Column("field_code", sa.String(50), primary_key=True),
    sa.Column("points", sa.Float, nullable=False),
    sa.Column("pct", sa.Float, nullable=False),
)


methodologies = sa.Table(
    "methodologies", metadata,
    sa.Column("sha256", sa.String(64), primary_key=True),
    sa.Column("methodology_id", sa.String(200), nullable=False),
    sa.Column("year", sa.Integer, nullable=False),
    sa.Column("level", sa.String(50), nullable=False),
    sa.Column("yaml", sa.Text, nullable=False),
)
corrections = sa.Table(
    "corrections", metadata,
    sa.Column("run_id", sa.String(36), sa.ForeignKey("runs.run_id"), primary_key=True),
    sa.Column("seq", sa.Integer, primary_key=True),
    sa.Column("unit_code", sa.String(50), nullable=False),
    sa.Column("criterion_code", sa.String(50), nullable=False),
    sa.Column("column_name", sa.String(32), nullable=False),
    sa.Column("old_value", sa.Float),
    sa.Column("new_value", sa.Float, nullable=False),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("reference", sa.Text, nullable=False),
    sa.Column("author", sa.Text, nullable=False),
)


unit_lineage = sa.Table(
    "unit_lineage", metadata,
    sa.Column("run_id", sa.String(36), sa.ForeignKey("runs.run_id"), primary_key=True),
    sa.Column("unit_code", sa.String(50), primary_key=True),
    sa.Column("predecessor_code", sa.String(50), primary_key=True),
    sa.Column("predecessor_name", sa.Text),
    sa.Column("weight", sa.Float),
)


def default_url(out_dir: Path) -> str:
    return f"sqlite:///{(Path(out_dir).resolve() / 'parindex.sqlite').as_posix()}"


#: where the database password comes from when the URL has none (never a flow parameter: Prefect stores and
#: shows those); libpq's own PGPASSWORD and ~/.pgpass work as well for PostgreSQL
PASSWORD_ENV = "PARINDEX_DB_PASSWORD"
_SECRET_QUERY = {"password", "passwd", "pwd", "sslpassword", "secret", "token", "api_key", "apikey"}


def redact(url: str) -> str:
    """The URL with its password removed, for manifests, logs and errors (query parameters too)."""
    u = make_url(url)
    u = u._replace(password=None).set(query={k: v for k, v in u.query.items() if k.lower() not in _SECRET_QUERY})
    return u.render_as_string(hide_password=False)


def split_secret(url: str | None) -> str | None:
    """The URL without its password; the password, if any, moves to PARINDEX_DB_PASSWORD for this process and
    its children, so that what reaches Prefect (flow parameters, run records, the UI) carries no secret."""
    if not url:
        return url
    u = make_url(url)
    secret = u.password or next((v for k, v in u.query.items() if k.lower() in ("password", "passwd")), None)
    if secret:
        os.environ[PASSWORD_ENV] = str(secret)
    return redact(url)


def make_engine(url: str) -> Engine:
    kwargs = {}
    if url.startswith("sqlite"):
        kwargs["connect_args"] = {"timeout": 60}  # a concurrent writer waits for the lock instead of failing
    u = make_url(url)
    if u.password is None and os.environ.get(PASSWORD_ENV) and not u.drivername.startswith("sqlite"):
        u = u.set(password=os.environ[PASSWORD_ENV])
    return sa.create_engine(u, future=True, **kwargs)


#: one advisory-lock key for every publication into a PostgreSQL database (publishing takes about a second)
PG_LOCK_KEY = 0x7061_7269_6E64  # "parind"


@contextmanager
def publication_lock(engine: Engine, timeout_s: float = 600) -> Iterator[None]:
    """Serialise migrations and publications into one database across processes: a concurrent run waits.

    PostgreSQL: a session advisory lock; SQLite: an exclusive lock on `<database file>.lock`.
    """
    if engine.dialect.name == "postgresql":
        with engine.connect() as conn:
            conn.execute(sa.text(f"SET lock_timeout = '{int(timeout_s)}s'"))
            conn.execute(sa.text("SELECT pg_advisory_lock(:k)"), {"k": PG_LOCK_KEY})
            conn.commit()
            try:
                yield
            finally:
                conn.execute(sa.text("SELECT pg_advisory_unlock(:k)"), {"k": PG_LOCK_KEY})
                conn.commit()
        return
    database = engine.url.database
    if engine.dialect.name != "sqlite" or not database or database == ":memory:":
        yield
        return
    with open(f"{database}.lock", "a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


class StoreError(RuntimeError):
    """The database cannot take the publication as it is (behind the code and not ours to migrate): a plain
    message for the operator, exit 2 in the CLI."""


def _alembic_config():
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    return cfg


@functools.cache
def head_revision() -> str:
    """The code's head revision, read from migrations/versions once per process (Alembic parses every
    revision file to find it: ~15 ms, at every publication of a national run before this)."""
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(_alembic_config()).get_current_head()


def revisions(engine: Engine) -> tuple[str | None, str]:
    """(the database's Alembic revision or None when it has none, the code's head revision)."""
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision(), head_revision()


def migrate(engine: Engine, revision: str = "head") -> None:
    """Upgrade the database to `revision` with Alembic (creates the schema on an empty database).

    A database already at the head is left untouched, so the pipeline's own role, which may not create or
    alter tables (README: PostgreSQL, two roles), publishes into a database its owner migrated; when such a
    role finds the database behind the code, StoreError says who must migrate it and how."""
    from alembic import command

    current, head = revisions(engine)
    if revision == "head" and current == head:
        return
    cfg = _alembic_config()
    try:
        with engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, revision)
    except sa.exc.ProgrammingError as exc:
        if getattr(exc.orig, "sqlstate", None) != "42501":  # insufficient_privilege
            raise
        raise StoreError(
            f"the database {redact(str(engine.url))} is at revision {current or 'none'} and this parindex needs "
            f"{head}, but {engine.url.username} may not change its tables. Migrate it as the owner role: "
            f"parindex migrate --db <owner URL> --app-role {engine.url.username} / cơ sở dữ liệu cần nâng cấp "
            f"bởi vai trò sở hữu (owner): parindex migrate --db <URL của owner> --app-role "
            f"{engine.url.username}") from exc


def prepare(url: str, app_role: str | None = None) -> str:
    """The database at `url` brought to this version's schema under the publication lock, `app_role` granted
    least privilege when named; returns the revision it is at. Raises StoreError."""
    engine = make_engine(url)
    try:
        with publication_lock(engine):
            migrate(engine)
            if app_role:
                grant_app_role(engine, app_role)
        return revisions(engine)[0]
    finally:
        engine.dispose()


#: what the pipeline's role may do (grant_app_role): read everything, add rows, record a replacement
APP_UPDATABLE = {"runs": ("status", "replaced_by", "superseded_by")}


def grant_app_role(engine: Engine, role: str) -> None:
    """PostgreSQL least privilege for the pipeline's role `role` (it must exist; the connecting role owns the
    tables): SELECT and INSERT on every table, UPDATE of only runs.status, replaced_by and superseded_by (the
    triggers allow only published → replaced, naming the replacing run), the sequences; nothing else — no
    UPDATE of rows, DELETE, TRUNCATE, ALTER (so no DISABLE TRIGGER), DROP or CREATE. Idempotent."""
    if engine.dialect.name != "postgresql":
        raise StoreError("--app-role is for PostgreSQL: an embedded SQLite file has no roles "
                         "(protect the file with the operating system's permissions)")
    if not re.fullmatch(r"[a-z_][a-z0-9_]{0,62}", role):
        raise StoreError(f"--app-role {role!r}: a role name is lower-case letters, digits and _")
    with engine.begin() as conn:
        if conn.execute(sa.text("SELECT 1 FROM pg_roles WHERE rolname = :r"), {"r": role}).first() is None:
            raise StoreError(f"role {role} does not exist: CREATE ROLE {role} LOGIN PASSWORD '…' first / "
                             f"vai trò {role} chưa có")
        conn.execute(sa.text(f"GRANT USAGE ON SCHEMA public TO {role}"))
        conn.execute(sa.text(f"REVOKE ALL ON ALL TABLES IN SCHEMA public FROM {role}"))
        conn.execute(sa.text(f"GRANT SELECT ON alembic_version TO {role}"))
        for t in metadata.tables:
            conn.execute(sa.text(f'GRANT SELECT, INSERT ON "{t}" TO {role}'))
        for t, columns in APP_UPDATABLE.items():
            conn.execute(sa.text(f'GRANT UPDATE ({", ".join(columns)}) ON "{t}" TO {role}'))
        conn.execute(sa.text(f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {role}"))


def downgrade(engine: Engine, revision: str) -> None:
    from alembic import command

    cfg = _alembic_config()
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, revision)


def _clean(value):
    if value is None:
        return None
    if isinstance(value, float) and math.isnan(value):
        return None
    if value is pd.NA or value is pd.NaT:
        return None
    if hasattr(value, "item"):  # numpy scalars
        return value.item()
    return value


def _records(df: pd.DataFrame, columns: dict[str, str], **const) -> list[dict]:
    """Rows of `df` as dicts keyed by table column (`columns` maps table column -> frame column)."""
    out = []
    for row in df[list(columns.values())].itertuples(index=False, name=None):
        rec = {k: _clean(v) for k, v in zip(columns, row, strict=True)}
        rec.update(const)
        out.append(rec)
    return out


def write_publication(conn: Connection, run: RunRecord, inputs, computed, published_index: pd.Series,
                      applied: list[dict] | None = None) -> None:
    """Insert one run and all its rows; a previous current publication of the same version is marked replaced.

    Called inside the caller's transaction: nothing is visible until it commits.
    """
    m = inputs.methodology
    current = sa.and_(runs.c.province == run.province, runs.c.year == run.year, runs.c.level == run.level,
                      runs.c.version == run.version, runs.c.status == "published")
    conn.execute(runs.update().where(current).values(status="replaced", replaced_by=run.run_id))
    parent = run.parent_run_id
    if parent and conn.execute(sa.select(runs.c.run_id).where(runs.c.run_id == parent)).first() is None:
        run = run.without_parent()  # the corrected run lives in another database; the manifest keeps it
    conn.execute(runs.insert().values(**run.row()))
    rid = run.run_id
    if conn.execute(sa.select(methodologies.c.sha256).where(methodologies.c.sha256 == m.sha256)).first() is None:
        conn.execute(methodologies.insert().values(sha256=m.sha256, methodology_id=m.id, year=m.year,
                                                   level=m.level, yaml=inputs.methodology_text))
    if applied:
        conn.execute(corrections.insert(), [{"run_id": rid, "seq": i, **c} for i, c in enumerate(applied, 1)])
    if run.parent_run_id:
        conn.execute(runs.update().where(runs.c.run_id == run.parent_run_id).values(superseded_by=rid))
    counts = computed.checked.counts
    conn.execute(input_files.insert(), [
        {"run_id": rid, "role": f.role, "file_name": f.archived, "source_path": f.source, "sha256": f.sha256,
         "bytes": f.bytes, **{k: counts.get(Path(f.archived).name, {}).get(k)
                              for k in ("rows_read", "rows_accepted", "rows_rejected")}}
        for f in inputs.files])
    scored = computed.checked.units[computed.checked.units["level"] == m.level]
    conn.execute(units.insert(), _records(scored, {"unit_code": "unit_code", "unit_name": "unit_name",
                                                   "level": "level", "group_name": "group",
                                                   "parent_code": "parent_code"}, run_id=rid))
    appraisal = computed.checked.appraisal.set_index(["unit_code", "criterion_code"])
    crit = computed.criteria.join(appraisal[["appraised_points", "evidence", "note"]],
                                  on=["unit_code", "criterion_code"])
    conn.execute(criterion_points.insert(), _records(crit, {
        "unit_code": "unit_code", "criterion_code": "criterion_code", "field_code": "field_code",
        "source": "source", "max_points": "max_points", "self_points": "self_points",
        "appraised_points": "appraised_points", "points": "points", "evidence": "evidence", "note": "note"},
        run_id=rid))
    ranked = computed.ranked.assign(index_pct_published=published_index)
    conn.execute(results.insert(), _records(ranked, {
        "unit_code": "unit_code", "group_name": "group", "total_points": "total_points",
        "index_pct": "index_pct", "index_pct_published": "index_pct_published", "rank": "rank",
        "rank_of": "rank_of", "band": "band", "prev_rank": "prev_rank", "rank_change": "rank_change",
        "appraisal_points": "appraisal_points", "survey_points": "survey_points",
        "dossier_points": "dossier_points", "deduction_points": "deduction_points"}, run_id=rid))
    lineage = computed.checked.lineage
    if lineage is not None and len(lineage):
        conn.execute(unit_lineage.insert(), _records(lineage, {
            "unit_code": "unit_code", "predecessor_code": "predecessor_code",
            "predecessor_name": "predecessor_name", "weight": "weight"}, run_id=rid))
    rows = []
    for f in m.fields:
        rows += _records(ranked, {"unit_code": "unit_code", "points": f"{f.code}_points", "pct": f"{f.code}_pct"},
                         run_id=rid, field_code=f.code)
    conn.execute(field_results.insert(), rows)


def run_record(url: str, run_id: str) -> dict | None:
    """Run `run_id`'s status, version, the run that superseded it and where that was published (None when the
    database at `url` does not hold the run)."""
    engine = make_engine(url)
    try:
        if not sa.inspect(engine).has_table("runs"):
            return None
        with engine.connect() as conn:
            row = conn.execute(sa.select(runs.c.status, runs.c.version, runs.c.superseded_by)
                               .where(runs.c.run_id == run_id)).first()
            if row is None:
                return None
            newer = conn.execute(sa.select(runs.c.out_dir, runs.c.version)
                                 .where(runs.c.run_id == row.superseded_by)).first() if row.superseded_by else None
            return {"status": row.status, "version": row.version, "superseded_by": row.superseded_by,
                    "superseded_in": newer.out_dir if newer else None,
                    "superseded_version": newer.version if newer else None}
    finally:
        engine.dispose()


def run_status(url: str, run_id: str) -> str | None:
    """The status of run `run_id` in the database at `url` (None when the database does not hold it)."""
    record = run_record(url, run_id)
    return record["status"] if record else None
