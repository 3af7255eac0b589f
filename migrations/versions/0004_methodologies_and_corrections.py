"""Keep every methodology version (its YAML, keyed by sha256) and every correction a rerun applied (old and
new value, reason, reference, author); both append-only like the other rows of a publication.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-24
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

MESSAGE = "parindex: the rows of a published run are immutable (publish a corrected version with rerun)"


def upgrade() -> None:
    op.create_table(
        "methodologies",
        sa.Column("sha256", sa.String(64), primary_key=True),
        sa.Column("methodology_id", sa.String(200), nullable=False),
        sa.Column("year", sa.Integer, nullable=False),
        sa.Column("level", sa.String(50), nullable=False),
        sa.Column("yaml", sa.Text, nullable=False),
    )
    op.create_table(
        "corrections",
        sa.Column("run_id", sa.String(36), sa.ForeignKey("runs.run_id"), primary_key=True),
        sa.Column("seq", sa.Integer, primary_key=True),
        sa.Column("unit_code", sa.String(50), nullable=False),
        sa.Column("criterion_code", sa.String(50), nullable=False),
        sa.Column("column_name", sa.String(32), nullable=False),
        sa.Column("old_value", sa.Float, nullable=True),
        sa.Column("new_value", sa.Float, nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("reference", sa.Text, nullable=False),
        sa.Column("author", sa.Text, nullable=False),
    )
    dialect = op.get_bind().dialect.name
    for t in ("methodologies", "corrections"):
        if dialect == "sqlite":
            for action in ("UPDATE", "DELETE"):
                op.execute(f"CREATE TRIGGER {t}_no_{action.lower()} BEFORE {action} ON {t} "
                           f"BEGIN SELECT RAISE(ABORT, '{MESSAGE}'); END")
        elif dialect == "postgresql":
            op.execute(f"CREATE TRIGGER {t}_immutable BEFORE UPDATE OR DELETE ON {t} "
                       "FOR EACH ROW EXECUTE FUNCTION parindex_rows_immutable()")


def downgrade() -> None:
    op.drop_table("corrections")
    op.drop_table("methodologies")
