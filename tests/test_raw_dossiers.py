"""Raw per-dossier records: the DuckDB suite names every broken row (file, Excel row, unit, column) and the
aggregate equals monthly statistics computed independently with pandas."""

from __future__ import annotations

import shutil

import numpy as np
import pandas as pd
import pytest

import tasks.dossiers as dossiers
from tasks.compute import ValidationFailed
from tests.helpers import compute_folder, read_folder


@pytest.fixture
def departments(sample_root, tmp_path):
    """A writable copy of the 2024 sample departments folder (it sends dossiers.parquet)."""
    dst = tmp_path / "department"
    shutil.copytree(sample_root / "2024" / "department", dst)
    return dst


def _reference_stats(raw: pd.DataFrame) -> pd.DataFrame:
    """Monthly statistics by the definition in the contract, computed row by row with pandas."""
    r = raw.copy()
    r["recv_m"] = r["received_at"].dt.strftime("%Y-%m")
    r["res_m"] = r["resolved_at"].dt.strftime("%Y-%m")
    recv = r.groupby(["unit_code", "recv_m"]).agg(received=("dossier_id", "size"),
                                                 received_online=("online", "sum"),
                                                 digitized=("digitized", "sum"))
    done = r[r["resolved_at"].notna()].assign(ok=lambda d: d["resolved_at"] <= d["due_at"])
    res = done.groupby(["unit_code", "res_m"]).agg(resolved=("ok", "size"), resolved_on_time=("ok", "sum"))
    res["resolved_late"] = res["resolved"] - res["resolved_on_time"]
    recv.index.names = res.index.names = ["unit_code", "period"]
    out = recv.join(res, how="outer").fillna(0).astype("int64").reset_index()
    return out[["unit_code", "period", *dossiers.COUNT_COLUMNS]]


def test_aggregate_equals_an_independent_pandas_computation(departments, tmp_path):
    raw = pd.read_parquet(departments / "dossiers.parquet")
    bundle = read_folder(departments, tmp_path / "run")
    got = bundle.tables["dossier_stats"].frame.drop(columns="_row")
    got[list(dossiers.COUNT_COLUMNS)] = got[list(dossiers.COUNT_COLUMNS)].astype("int64")
    pd.testing.assert_frame_equal(got.reset_index(drop=True), _reference_stats(raw))
    table = bundle.tables["dossier_stats"]
    assert (table.rows_read, table.rows_rejected, table.problems) == (len(raw), 0, [])


def _corrupt(departments) -> tuple[pd.DataFrame, dict[str, int]]:
    raw = pd.read_parquet(departments / "dossiers.parquet")
    units = sorted(raw["unit_code"].unique())
    where = {}
    raw.loc[100, "unit_code"] = "SO-KHONG-CO"
    where["unknown"] = 100
    raw.loc[200, "due_at"] = raw.loc[200, "received_at"] - pd.Timedelta(days=2)
    where["due_before"] = 200
    raw.loc[300, "resolved_at"] = raw.loc[300, "received_at"] - pd.Timedelta(hours=5)
    where["resolved_before"] = 300
    raw.loc[400, "dossier_id"] = ""
    where["empty_id"] = 400
    dup = raw.iloc[[500]].assign(unit_code=units[0])
    raw = pd.concat([raw, dup], ignore_index=True)  # the last row repeats row 500's id
    where["dup"], where["dup_first"] = len(raw) - 1, 500
    raw.to_parquet(departments / "dossiers.parquet", index=False)
    return raw, where


def test_broken_parquet_rows_are_named(departments, tmp_path):
    raw, where = _corrupt(departments)
    with pytest.raises(ValidationFailed) as exc:
        compute_folder(departments, tmp_path / "run")
    errors = exc.value.checked.problems_frame()
    errors = errors[errors["file"] == "dossiers.parquet"]

    def at(key, column):
        i = where[key]
        hit = errors[(errors["row"] == i + 2) & (errors["column"] == column)]
        assert len(hit) == 1, f"nothing on row {i + 2} / {column}:\n{errors.to_string()}"
        return hit.iloc[0]

    assert at("unknown", "unit_code")["value"] == "SO-KHONG-CO"
    assert at("due_before", "due_at")["unit_code"] == raw.loc[where["due_before"], "unit_code"]
    assert "received_at" in at("resolved_before", "resolved_at")["problem"]
    assert at("empty_id", "dossier_id")["problem_vi"].startswith("bị trống")
    dup = at("dup", "dossier_id")
    assert dup["value"] == raw.loc[where["dup_first"], "dossier_id"]
    assert f"row {where['dup_first'] + 2}" in dup["problem"] and "dòng" in dup["problem_vi"]
    assert (errors["severity"] == "error").all() and errors["problem_vi"].str.len().gt(0).all()
    counts = exc.value.checked.counts["dossiers.parquet"]
    assert counts == {"rows_read": len(raw), "rows_rejected": 5, "rows_accepted": len(raw) - 5}


def test_text_export_with_bad_cells(departments, tmp_path):
    raw = pd.read_parquet(departments / "dossiers.parquet").head(3000)
    text = raw.astype(str).replace({"NaT": ""})
    text["online"] = np.where(raw["online"], "1", "0")
    text["digitized"] = np.where(raw["digitized"], "true", "false")
    text.loc[7, "received_at"] = "31/02/2024"
    text.loc[8, "online"] = "có lẽ"
    text.loc[9, "resolved_at"] = "chưa rõ"
    (departments / "dossiers.parquet").unlink()
    text.to_csv(departments / "dossiers.csv", index=False)
    stats, problems, counts = dossiers.validate_and_aggregate(departments / "dossiers.csv",
                                                              set(raw["unit_code"]))
    got = {(p.row, p.column, p.value) for p in problems}
    assert got == {(9, "received_at", "31/02/2024"), (10, "online", "có lẽ"), (11, "resolved_at", "chưa rõ")}
    assert counts == {"rows_read": 3000, "rows_rejected": 3}
    assert stats["received"].astype(int).sum() == 2999  # the row without a valid received date is not counted


def test_many_failures_list_the_first_rows_and_count_the_rest(departments, monkeypatch):
    monkeypatch.setattr(dossiers, "EXAMPLES_PER_RULE", 3)
    raw = pd.read_parquet(departments / "dossiers.parquet")
    raw.loc[raw.index[:10], "due_at"] = raw.loc[raw.index[:10], "received_at"] - pd.Timedelta(days=1)
    raw.to_parquet(departments / "dossiers.parquet", index=False)
    _, problems, counts = dossiers.validate_and_aggregate(departments / "dossiers.parquet", set(raw["unit_code"]))
    assert [p.row for p in problems] == [2, 3, 4, None]
    assert problems[-1].value == "+7" and "10 in all" in problems[-1].problem
    assert counts["rows_rejected"] == 10


def test_a_hash_collision_is_not_a_duplicate(departments, monkeypatch):
    """Candidates come from 64-bit hashes, but only equal ids are reported: force every hash to collide."""
    raw = pd.read_parquet(departments / "dossiers.parquet").head(500)
    raw.to_parquet(departments / "dossiers.parquet", index=False)
    import duckdb

    real = duckdb.connect

    def colliding():
        con = real()
        con.execute("CREATE MACRO hash0(s) AS 1::UBIGINT")
        return con

    monkeypatch.setattr(duckdb, "connect", colliding)
    monkeypatch.setattr(dossiers, "_HASH", "hash0")
    _, problems, _ = dossiers.validate_and_aggregate(departments / "dossiers.parquet", set(raw["unit_code"]))
    assert problems == []
