"""The store on both databases: Alembic up and down, one publication's rows, a second `run` replacing the
first in one transaction, and the unique current version per index and year."""

from datetime import UTC, datetime

import pytest
import sqlalchemy as sa

from tasks import store
from tasks.runrecord import RunRecord
from tests.helpers import compute_folder, read_folder


def _run(run_id: str, version: int = 1, parent_run_id: str | None = None) -> RunRecord:
    now = datetime(2025, 4, 12, 8, 0, tzinfo=UTC)
    return RunRecord(run_id=run_id, version=version, parent_run_id=parent_run_id, status="published",
                     province="Tỉnh Thử Nghiệm", year=2024, level="district", methodology_id="mini-2024",
                     methodology_sha256="0" * 64, inputs_sha256="1" * 64, code_version="test",
                     out_dir="/tmp/x", synthetic=False, started_at=now, finished_at=now)


def _store_with(db_url: str, published, *runs: RunRecord):
    """A migrated database holding the mini publication under each of `runs`, in one transaction."""
    bundle, computed, index = published
    engine = store.make_engine(db_url)
    store.migrate(engine)
    with engine.begin() as conn:
        for run in runs:
            store.write_publication(conn, run, bundle, computed, index)
    return engine


@pytest.fixture
def published(mini, tmp_path):
    bundle = read_folder(mini, tmp_path / "run")
    computed = compute_folder(mini, tmp_path / "run2")
    index = computed.ranked["unit_code"].map(computed.results.set_index("unit_code")["index_pct"])
    return bundle, computed, index


def test_migrations_up_down_up(db_url):
    engine = store.make_engine(db_url)
    store.migrate(engine)
    names = set(sa.inspect(engine).get_table_names())
    assert {"runs", "input_files", "units", "criterion_points", "results", "field_results", "methodologies",
            "corrections", "unit_lineage", "alembic_version"} <= names
    store.downgrade(engine, "base")
    assert set(sa.inspect(engine).get_table_names()) <= {"alembic_version"}
    store.migrate(engine)
    assert "results" in sa.inspect(engine).get_table_names()
    engine.dispose()


def test_publication_rows_round_trip(db_url, published):
    engine = _store_with(db_url, published, _run("r1"))
    with engine.connect() as conn:
        res = {r.unit_code: r for r in conn.execute(sa.select(store.results).order_by(store.results.c.unit_code))}
        assert res["U03"].total_points == 9.2625 and res["U03"].index_pct_published == 92.63
        assert (res["U01"].rank, res["U02"].rank, res["U04"].rank) == (2, 2, 4)
        assert res["U04"].prev_rank is None and res["U06"].rank_change == -1
        n_points = conn.execute(sa.select(sa.func.count()).select_from(store.criterion_points)).scalar()
        assert n_points == 36
        sa_row = conn.execute(sa.select(store.criterion_points).where(
            store.criterion_points.c.unit_code == "U01", store.criterion_points.c.criterion_code == "1.2.2")).one()
        assert (sa_row.self_points, sa_row.appraised_points, sa_row.points) == (0.75, 0.5, 0.5)
        assert sa_row.evidence == "QĐ số 1/U01"
        files = {r.role: r for r in conn.execute(sa.select(store.input_files))}
        assert files["self_assessment"].rows_read == 18 and files["self_assessment"].rows_rejected == 0
        assert len(files["units"].sha256) == 64
        unit = conn.execute(sa.select(store.units).where(store.units.c.unit_code == "U04")).one()
        assert unit.unit_name == "Huyện Bốn"
    engine.dispose()


def test_second_run_replaces_the_first_and_versions_stay_unique(db_url, published):
    engine = _store_with(db_url, published, _run("r1"))
    _store_with(db_url, published, _run("r2")).dispose()  # a second `run` of the same version
    with engine.connect() as conn:
        status = dict(conn.execute(sa.select(store.runs.c.run_id, store.runs.c.status)).all())
        assert status == {"r1": "replaced", "r2": "published"}
        # the first run's rows are kept, unchanged
        assert conn.execute(sa.select(sa.func.count()).select_from(store.results)
                            .where(store.results.c.run_id == "r1")).scalar() == 6
    # two current publications of the same version cannot exist
    with pytest.raises(sa.exc.IntegrityError):
        with engine.begin() as conn:
            conn.execute(store.runs.insert().values(**_run("r3").row()))
    engine.dispose()


def test_redact_removes_the_password():
    assert store.redact("postgresql+psycopg://u:secret@h:5432/db") == "postgresql+psycopg://u@h:5432/db"
    assert "secret" not in store.redact("postgresql+psycopg://u:secret@h/db")


@pytest.mark.parametrize("statement", [
    "UPDATE results SET total_points = 99 WHERE unit_code = 'U03'",
    "DELETE FROM results WHERE unit_code = 'U03'",
    "UPDATE criterion_points SET points = 2 WHERE unit_code = 'U01'",
    "DELETE FROM units",
    "UPDATE field_results SET pct = 0",
    "UPDATE input_files SET sha256 = 'x'",
    "UPDATE runs SET version = 7",
    "UPDATE runs SET status = 'draft'",
    "UPDATE runs SET status = 'replaced'",  # withdrawn without naming what replaced it (revision 0006)
    "UPDATE runs SET status = 'replaced', replaced_by = run_id",
    "DELETE FROM runs",
])
def test_published_rows_are_immutable_in_the_database(db_url, published, statement):
    engine = _store_with(db_url, published, _run("r1"))
    with pytest.raises(sa.exc.DBAPIError, match="immutable"):
        with engine.begin() as conn:
            conn.execute(sa.text(statement))
    with engine.connect() as conn:
        assert conn.execute(sa.select(store.results.c.total_points).where(
            store.results.c.unit_code == "U03")).scalar() == 9.2625
    engine.dispose()


def test_supersession_is_recorded_once(db_url, published):
    engine = _store_with(db_url, published, _run("r1"), _run("r2", version=2, parent_run_id="r1"))
    with engine.connect() as conn:
        assert conn.execute(sa.select(store.runs.c.superseded_by).where(store.runs.c.run_id == "r1")).scalar() == "r2"
    with pytest.raises(sa.exc.DBAPIError, match="immutable"):
        with engine.begin() as conn:
            conn.execute(sa.text("UPDATE runs SET superseded_by = 'r9' WHERE run_id = 'r1'"))
    engine.dispose()


def test_alembic_command_line_upgrades_a_named_database(tmp_path):
    import subprocess
    import sys
    from pathlib import Path

    alembic = Path(sys.executable).parent / "alembic"
    db = tmp_path / "cli.sqlite"
    subprocess.run([str(alembic), "-c", str(store.MIGRATIONS / "alembic.ini"), "-x", f"url=sqlite:///{db}",
                    "upgrade", "head"], check=True, capture_output=True, cwd=tmp_path)
    engine = sa.create_engine(f"sqlite:///{db}")
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar() == "0006"
    engine.dispose()


def test_lineage_rows_are_stored_with_the_run(db_url, mini, tmp_path):
    (mini / "lineage.csv").write_text("unit_code,predecessor_code,predecessor_name,weight\n"
                                      "U01,U01,Huyện Một,2\nU01,U02,Huyện Hai,1\n", encoding="utf-8")
    bundle = read_folder(mini, tmp_path / "a")
    computed = compute_folder(mini, tmp_path / "b")
    index = computed.ranked["unit_code"].map(computed.results.set_index("unit_code")["index_pct"])
    engine = _store_with(db_url, (bundle, computed, index), _run("r1"))
    with engine.connect() as conn:
        rows = sorted(tuple(r) for r in conn.execute(sa.select(
            store.unit_lineage.c.unit_code, store.unit_lineage.c.predecessor_code, store.unit_lineage.c.weight)))
        assert rows == [("U01", "U01", 2.0), ("U01", "U02", 1.0)]
        # pro forma: (2 x 70 + 1 x 90) / 3 from previous_results; no rank change for a merged unit
        res = conn.execute(sa.select(store.results).where(store.results.c.unit_code == "U01")).one()
        assert res.prev_rank is None and res.rank_change is None
    engine.dispose()
    assert computed.ranked.set_index("unit_code").loc["U01", "prev_index_proforma"] == pytest.approx(230 / 3)
