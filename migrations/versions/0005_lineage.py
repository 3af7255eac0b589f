"""Keep each run's unit lineage (lineage.csv: which earlier units formed each unit, with weights),
append-only like the other rows of a publication.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-24
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

MESSAGE = "parindex: the rows of a published run are immutable (publish a corrected version with rerun)"


def upgrade() -> None:
    op.create_table(
        "unit_lineage",
        sa.Column("run_id", sa.String(36), sa.ForeignKey("runs.run_id"), primary_key=True),
        sa.Column("unit_code", sa.String(50), primary_key=True),
        sa.Column("predecessor_code", sa.String(50), primary_key=True),
        sa.Column("predecessor_name", sa.Text, nullable=True),
        sa.Column("weight", sa.Float, nullable=True),
    )
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        for action in ("UPDATE", "DELETE"):
            op.execute(f"CREATE TRIGGER unit_lineage_no_{action.lower()} BEFORE {action} ON unit_lineage "
                       f"BEGIN SELECT RAISE(ABORT, '{MESSAGE}'); END")
    elif dialect == "postgresql":
        op.execute("CREATE TRIGGER unit_lineage_immutable BEFORE UPDATE OR DELETE ON unit_lineage "
                   "FOR EACH ROW EXECUTE FUNCTION parindex_rows_immutable()")


def downgrade() -> None:
    op.drop_table("unit_lineage")
