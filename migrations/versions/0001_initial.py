"""Initial schema: runs, their input files, units, per-criterion points, results and field results.

Revision ID: 0001
Revises:
Create Date: 2026-11-24
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "runs",
        sa.Column("run_id", sa.String(36), primary_key=True),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("parent_run_id", sa.String(36), sa.ForeignKey("runs.run_id"), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
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
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("replaced_by", sa.String(36), nullable=True),
    )
    # one current publication per index, year and version: a second `run` replaces the first in one transaction
    op.create_index("uq_runs_current_version", "runs", ["province", "year", "level", "version"], unique=True,
                    sqlite_where=sa.text("status = 'published'"),
                    postgresql_where=sa.text("status = 'published'"))
    op.create_table(
        "input_files",
        sa.Column("run_id", sa.String(36), sa.ForeignKey("runs.run_id"), primary_key=True),
        sa.Column("role", sa.String(50), primary_key=True),
        sa.Column("file_name", sa.Text, nullable=False),
        sa.Column("source_path", sa.Text, nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("bytes", sa.BigInteger, nullable=False),
        sa.Column("rows_read", sa.BigInteger, nullable=True),
        sa.Column("rows_accepted", sa.BigInteger, nullable=True),
        sa.Column("rows_rejected", sa.BigInteger, nullable=True),
    )
    op.create_table(
        "units",
        sa.Column("run_id", sa.String(36), sa.ForeignKey("runs.run_id"), primary_key=True),
        sa.Column("unit_code", sa.String(50), primary_key=True),
        sa.Column("unit_name", sa.Text, nullable=False),
        sa.Column("level", sa.String(50), nullable=False),
        sa.Column("group_name", sa.Text, nullable=False),
        sa.Column("parent_code", sa.String(50), nullable=True),
    )
    op.create_table(
        "criterion_points",
        sa.Column("run_id", sa.String(36), sa.ForeignKey("runs.run_id"), primary_key=True),
        sa.Column("unit_code", sa.String(50), primary_key=True),
        sa.Column("criterion_code", sa.String(50), primary_key=True),
        sa.Column("field_code", sa.String(50), nullable=False),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("max_points", sa.Float, nullable=False),
        sa.Column("self_points", sa.Float, nullable=True),
        sa.Column("appraised_points", sa.Float, nullable=True),
        sa.Column("points", sa.Float, nullable=False),
        sa.Column("evidence", sa.Text, nullable=True),
        sa.Column("note", sa.Text, nullable=True),
    )
    op.create_table(
        "results",
        sa.Column("run_id", sa.String(36), sa.ForeignKey("runs.run_id"), primary_key=True),
        sa.Column("unit_code", sa.String(50), primary_key=True),
        sa.Column("group_name", sa.Text, nullable=False),
        sa.Column("total_points", sa.Float, nullable=False),
        sa.Column("index_pct", sa.Float, nullable=False),
        sa.Column("index_pct_published", sa.Float, nullable=False),
        sa.Column("rank", sa.Integer, nullable=False),
        sa.Column("rank_of", sa.Integer, nullable=False),
        sa.Column("band", sa.String(16), nullable=False),
        sa.Column("prev_rank", sa.Integer, nullable=True),
        sa.Column("rank_change", sa.Integer, nullable=True),
        sa.Column("appraisal_points", sa.Float, nullable=False),
        sa.Column("survey_points", sa.Float, nullable=False),
        sa.Column("dossier_points", sa.Float, nullable=False),
        sa.Column("deduction_points", sa.Float, nullable=False),
    )
    op.create_table(
        "field_results",
        sa.Column("run_id", sa.String(36), sa.ForeignKey("runs.run_id"), primary_key=True),
        sa.Column("unit_code", sa.String(50), primary_key=True),
        sa.Column("field_code", sa.String(50), primary_key=True),
        sa.Column("points", sa.Float, nullable=False),
        sa.Column("pct", sa.Float, nullable=False),
    )


def downgrade() -> None:
    for table in ("field_results", "results", "criterion_points", "units", "input_files"):
        op.drop_table(table)
    op.drop_index("uq_runs_current_version", table_name="runs")
    op.drop_table("runs")
