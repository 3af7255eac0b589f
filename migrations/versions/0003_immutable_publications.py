"""Published versions are immutable in the database, enforced by triggers on SQLite and PostgreSQL.

Rows of a run (units, input files, criterion points, results, field results) can be inserted, never updated
or deleted. A run row can only record what happened after it: `published` -> `replaced` (a later `run` of
the same version) with `replaced_by`, and `superseded_by` (a `rerun` published a corrected version), each
set once.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-24
"""

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

ROW_TABLES = ("units", "input_files", "criterion_points", "results", "field_results")
FROZEN_RUN_COLUMNS = ("run_id", "version", "parent_run_id", "province", "year", "level", "methodology_id",
                      "methodology_sha256", "inputs_sha256", "code_version", "out_dir", "synthetic",
                      "started_at", "finished_at")
ROW_MESSAGE = "parindex: the rows of a published run are immutable (publish a corrected version with rerun)"
RUN_MESSAGE = "parindex: a published run is immutable; only its replacement or supersession can be recorded"


def _run_violation(distinct: str) -> str:
    frozen = " OR ".join(f"NEW.{c} {distinct} OLD.{c}" for c in FROZEN_RUN_COLUMNS)
    return (f"{frozen}"
            f" OR (OLD.replaced_by IS NOT NULL AND NEW.replaced_by {distinct} OLD.replaced_by)"
            f" OR (OLD.superseded_by IS NOT NULL AND NEW.superseded_by {distinct} OLD.superseded_by)"
            f" OR (NEW.status {distinct} OLD.status AND NOT (OLD.status = 'published' AND NEW.status = 'replaced'))")


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        for t in ROW_TABLES:
            for action in ("UPDATE", "DELETE"):
                op.execute(f"CREATE TRIGGER {t}_no_{action.lower()} BEFORE {action} ON {t} "
                           f"BEGIN SELECT RAISE(ABORT, '{ROW_MESSAGE}'); END")
        op.execute(f"CREATE TRIGGER runs_frozen BEFORE UPDATE ON runs WHEN {_run_violation('IS NOT')} "
                   f"BEGIN SELECT RAISE(ABORT, '{RUN_MESSAGE}'); END")
        op.execute(f"CREATE TRIGGER runs_no_delete BEFORE DELETE ON runs BEGIN SELECT RAISE(ABORT, '{RUN_MESSAGE}'); END")
    elif dialect == "postgresql":
        op.execute(f"""CREATE FUNCTION parindex_rows_immutable() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN RAISE EXCEPTION '{ROW_MESSAGE}' USING ERRCODE = 'integrity_constraint_violation'; END $$""")
        for t in ROW_TABLES:
            op.execute(f"CREATE TRIGGER {t}_immutable BEFORE UPDATE OR DELETE ON {t} "
                       "FOR EACH ROW EXECUTE FUNCTION parindex_rows_immutable()")
        op.execute(f"""CREATE FUNCTION parindex_runs_frozen() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
              IF TG_OP = 'DELETE' OR {_run_violation('IS DISTINCT FROM')} THEN
                RAISE EXCEPTION '{RUN_MESSAGE}' USING ERRCODE = 'integrity_constraint_violation';
              END IF;
              RETURN NEW;
            END $$""")
        op.execute("CREATE TRIGGER runs_frozen BEFORE UPDATE OR DELETE ON runs "
                   "FOR EACH ROW EXECUTE FUNCTION parindex_runs_frozen()")


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        for t in ROW_TABLES:
            for action in ("update", "delete"):
                op.execute(f"DROP TRIGGER IF EXISTS {t}_no_{action}")
        op.execute("DROP TRIGGER IF EXISTS runs_frozen")
        op.execute("DROP TRIGGER IF EXISTS runs_no_delete")
    elif dialect == "postgresql":
        for t in ROW_TABLES:
            op.execute(f"DROP TRIGGER IF EXISTS {t}_immutable ON {t}")
        op.execute("DROP TRIGGER IF EXISTS runs_frozen ON runs")
        op.execute("DROP FUNCTION IF EXISTS parindex_runs_frozen()")
        op.execute("DROP FUNCTION IF EXISTS parindex_rows_immutable()")
