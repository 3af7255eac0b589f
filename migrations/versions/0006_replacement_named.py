"""A run is marked replaced only by naming the run that replaced it.

Revision 0003 let `UPDATE runs SET status = 'replaced'` through on its own, so whoever could write to the
database could withdraw a publication without a trace. Now `replaced` needs `replaced_by`, and on PostgreSQL
`replaced_by` and `superseded_by` must name a run of the database (a foreign key checked at commit: the
replacing run is inserted in the same transaction). Together with the pipeline's own role (CONTRACT.md, README
"PostgreSQL: two roles"), which may insert rows and set only these three columns, never TRUNCATE, ALTER or
DROP, the history a publication leaves cannot be rewritten by the pipeline's credentials.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-30
"""

from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

FROZEN_RUN_COLUMNS = ("run_id", "version", "parent_run_id", "province", "year", "level", "methodology_id",
                      "methodology_sha256", "inputs_sha256", "code_version", "out_dir", "synthetic",
                      "started_at", "finished_at")
RUN_MESSAGE = "parindex: a published run is immutable; only its replacement or supersession can be recorded"


def _run_violation(distinct: str, named: bool) -> str:
    frozen = " OR ".join(f"NEW.{c} {distinct} OLD.{c}" for c in FROZEN_RUN_COLUMNS)
    return (f"{frozen}"
            f" OR (OLD.replaced_by IS NOT NULL AND NEW.replaced_by {distinct} OLD.replaced_by)"
            f" OR (OLD.superseded_by IS NOT NULL AND NEW.superseded_by {distinct} OLD.superseded_by)"
            f" OR (NEW.status {distinct} OLD.status AND NOT (OLD.status = 'published' AND NEW.status = 'replaced'))"
            + (" OR (NEW.status = 'replaced' AND (NEW.replaced_by IS NULL OR NEW.replaced_by = OLD.run_id))"
               if named else ""))


def _triggers(named: bool) -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        op.execute("DROP TRIGGER IF EXISTS runs_frozen")
        op.execute(f"CREATE TRIGGER runs_frozen BEFORE UPDATE ON runs WHEN {_run_violation('IS NOT', named)} "
                   f"BEGIN SELECT RAISE(ABORT, '{RUN_MESSAGE}'); END")
    elif dialect == "postgresql":
        op.execute(f"""CREATE OR REPLACE FUNCTION parindex_runs_frozen() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
              IF TG_OP = 'DELETE' OR {_run_violation('IS DISTINCT FROM', named)} THEN
                RAISE EXCEPTION '{RUN_MESSAGE}' USING ERRCODE = 'integrity_constraint_violation';
              END IF;
              RETURN NEW;
            END $$""")


def upgrade() -> None:
    _triggers(named=True)
    if op.get_bind().dialect.name == "postgresql":
        for column in ("replaced_by", "superseded_by"):
            op.execute(f"ALTER TABLE runs ADD CONSTRAINT runs_{column}_fk FOREIGN KEY ({column}) "
                       "REFERENCES runs (run_id) DEFERRABLE INITIALLY DEFERRED")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for column in ("replaced_by", "superseded_by"):
            op.execute(f"ALTER TABLE runs DROP CONSTRAINT IF EXISTS runs_{column}_fk")
    _triggers(named=False)
