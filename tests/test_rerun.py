"""Reruns after corrections on the hand-computed `mini` folder: a correction that changes a rank, one that
changes a band (a deduction), one that changes nothing visible (self points), and a neighbour moved by
another unit's correction. The first publication stays byte for byte as it was."""

import hashlib
import json
import shutil

import pandas as pd
import pytest
import sqlalchemy as sa

from tasks import store
from tasks.compute import InputsUnreadable

pytestmark = [pytest.mark.xdist_group("flow"), pytest.mark.flow]

CORRECTIONS = """unit_code,criterion_code,column,new_value,reason,reference
U02,1.1,appraised_points,2,Chấp nhận khiếu nại,BB 05/BB-HĐTĐ
U03,,points,0.3,Phát hiện vi phạm sau công bố,QĐ 120/QĐ-SNV
U04,1.1,self_points,2,Sửa lỗi nhập liệu,CV 33/SNV
"""
# unit, criterion, old_points, new_points, old_total, new_total, old_rank, new_rank, old_band, new_band
EXPECTED = [
    ("U02", "1.1", 1.5, 2.0, 7.5, 8.0, 2, 2, "C", "B"),      # alone in 2nd place, and exactly 80 %: band B
    ("U03", "", 0.0, 0.3, 9.26, 8.96, 1, 1, "A", "B"),       # deduction: 92.625% -> 89.625% (89.63) -> band B
    ("U04", "1.1", 1.0, 1.0, 1.38, 1.38, 4, 4, "C", "C"),    # self points do not count: nothing visible moves
    ("U01", "", None, None, 7.5, 7.5, 2, 3, "C", "C"),       # a neighbour: U02's correction pushed it to 3rd
]


def _hashes(folder):
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file() and p.name != "parindex.sqlite"
            and "validation" not in p.parts}


@pytest.fixture
def v1(prefect_harness, mini, tmp_path):
    from flows.annual import annual_run

    out = tmp_path / "v1"
    annual_run(inputs=str(mini), out=str(out))
    corr = tmp_path / "corrections.csv"
    corr.write_text(CORRECTIONS, encoding="utf-8")
    return out, corr


def test_rerun_publishes_version_2_with_exact_changes(v1, tmp_path):
    from flows.rerun import rerun

    out, corr = v1
    before = _hashes(out)
    summary = rerun(from_dir=str(out), corrections=str(corr), out=str(tmp_path / "v2"), author="Hội đồng thẩm định")
    v2 = tmp_path / "v2"
    assert summary["version"] == 2
    changes = pd.read_csv(v2 / "changes.csv", dtype={"unit_code": str, "criterion_code": str}, encoding="utf-8-sig")
    changes["criterion_code"] = changes["criterion_code"].fillna("")
    got = [tuple(None if pd.isna(v) else v for v in row) for row in
           changes.iloc[:, :10].itertuples(index=False, name=None)]
    assert got == [tuple(e) for e in EXPECTED]
    assert changes.loc[0, "reference"] == "BB 05/BB-HĐTĐ"
    results = pd.read_csv(v2 / "results.csv", dtype={"unit_code": str}, encoding="utf-8-sig").set_index("unit_code")
    assert results.loc["U03", "index_pct"] == 89.63 and results.loc["U03", "deduction_points"] == 0.3
    # the first publication is untouched, file for file
    assert _hashes(out) == before
    m1 = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    m2 = json.loads((v2 / "manifest.json").read_text(encoding="utf-8"))
    assert m2["version"] == 2 and m2["parent_run_id"] == m1["run_id"] and m2["database"] == m1["database"]
    assert "corrections" in m2["inputs"]
    # the errata are in the report, in Vietnamese
    html = (v2 / "report.vi.html").read_text(encoding="utf-8")
    assert "Đính chính" in html and "BB 05/BB-HĐTĐ" in html
    # and in the Excel appendix, one row per change, numbers as numbers
    from openpyxl import load_workbook

    errata = load_workbook(v2 / "results.xlsx")["Đính chính"]
    head = [c.value for c in errata[4]]  # under the two title lines
    sheet_rows = [dict(zip(head, r, strict=True)) for r in errata.iter_rows(min_row=5, values_only=True)]
    assert len(sheet_rows) == len(changes)
    assert {r["Xếp loại mới"] for r in sheet_rows} <= {"Xuất sắc", "Tốt", "Khá"}  # band names, not letters
    assert [r["Tổng điểm mới"] for r in sheet_rows] == changes["new_total"].tolist()
    assert all(isinstance(r["Hạng mới"], int) for r in sheet_rows) and sheet_rows[0]["Căn cứ"] == "BB 05/BB-HĐTĐ"
    # the database marks the newer version and keeps both
    engine = store.make_engine(m1["database"])
    with engine.connect() as conn:
        runs = {r.run_id: r for r in conn.execute(sa.select(store.runs))}
        assert runs[m1["run_id"]].superseded_by == m2["run_id"] and runs[m2["run_id"]].version == 2
        assert runs[m1["run_id"]].status == runs[m2["run_id"]].status == "published"
        old = conn.execute(sa.select(store.results.c.total_points).where(
            store.results.c.run_id == m1["run_id"], store.results.c.unit_code == "U03")).scalar()
        assert old == 9.2625
        kept = conn.execute(sa.select(store.corrections).order_by(store.corrections.c.seq)).all()
        assert [(c.unit_code, c.criterion_code, c.column_name, c.old_value, c.new_value) for c in kept] == [
            ("U02", "1.1", "appraised_points", 1.5, 2.0), ("U03", "", "points", None, 0.3),
            ("U04", "1.1", "self_points", 1.25, 2.0)]
        assert kept[0].reference == "BB 05/BB-HĐTĐ" and kept[0].author == "Hội đồng thẩm định"
        meth = conn.execute(sa.select(store.methodologies)).one()
        assert meth.sha256 == m1["methodology_sha256"] and "mini-2024" in meth.yaml
    engine.dispose()


def test_rerun_is_reproducible(v1, tmp_path):
    from flows.rerun import rerun

    out, corr = v1
    for copy in ("a", "b"):  # two copies of the database that holds version 1 (a rerun refuses any other)
        shutil.copyfile(out / "parindex.sqlite", tmp_path / f"{copy}.sqlite")
    rerun(from_dir=str(out), corrections=str(corr), out=str(tmp_path / "a"), db=f"sqlite:///{tmp_path}/a.sqlite")
    rerun(from_dir=str(out), corrections=str(corr), out=str(tmp_path / "b"), db=f"sqlite:///{tmp_path}/b.sqlite")
    for name in ("results.csv", "criteria.csv", "changes.csv"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name


@pytest.mark.parametrize(("line", "column", "check"), [
    ("U99,1.1,appraised_points,2,x,y", "unit_code", "gx:corrections:unit_code_known"),
    ("U01,9.9,appraised_points,2,x,y", "criterion_code", "gx:corrections:criterion_appraised"),
    ("U01,1.3,appraised_points,1,x,y", "criterion_code", "gx:corrections:criterion_appraised"),  # a survey one
    ("U01,1.1,appraised_points,5,x,y", "new_value", "gx:corrections:new_value_maximum"),  # above the maximum 2
    ("U01,1.1,total,2,x,y", "column", "gx:corrections:column_known"),
    ("U01,1.1,appraised_points,\"1,5\",x,y", "new_value", "gx:corrections:new_value_number"),
])
def test_bad_corrections_are_refused(v1, tmp_path, line, column, check):
    from flows.rerun import rerun

    out, _ = v1
    corr = tmp_path / "bad.csv"
    corr.write_text("unit_code,criterion_code,column,new_value,reason,reference\n" + line + "\n", encoding="utf-8")
    with pytest.raises(InputsUnreadable):
        rerun(from_dir=str(out), corrections=str(corr), out=str(tmp_path / "v2"))
    errors = pd.read_csv(tmp_path / "v2" / "validation" / "errors.csv", dtype=str, keep_default_na=False, encoding="utf-8-sig")
    hit = errors[(errors["column"] == column) & (errors["row"] == "2")]
    assert len(hit) == 1 and hit.iloc[0]["check"] == check, errors.to_string()
    assert hit.iloc[0]["problem_vi"] and hit.iloc[0]["problem"]
    assert not (tmp_path / "v2" / "results.csv").exists()


def test_run_and_rerun_on_both_databases(prefect_harness, db_url, mini, tmp_path):
    from flows.annual import annual_run
    from flows.rerun import rerun

    corr = tmp_path / "corrections.csv"
    corr.write_text(CORRECTIONS, encoding="utf-8")
    first = annual_run(inputs=str(mini), out=str(tmp_path / "v1"), db=db_url)
    second = rerun(from_dir=str(tmp_path / "v1"), corrections=str(corr), out=str(tmp_path / "v2"), db=db_url)
    manifest = json.loads((tmp_path / "v1" / "manifest.json").read_text(encoding="utf-8"))
    assert "parindex:parindex@" not in manifest["database"]  # no password in a manifest
    engine = store.make_engine(db_url)
    with engine.connect() as conn:
        runs = {r.run_id: r for r in conn.execute(sa.select(store.runs))}
        assert runs[first["run_id"]].superseded_by == second["run_id"]
        assert runs[second["run_id"]].parent_run_id == first["run_id"] and runs[second["run_id"]].version == 2
        totals = dict(conn.execute(sa.select(store.results.c.run_id, store.results.c.total_points)
                                   .where(store.results.c.unit_code == "U03")).all())
        assert totals == {first["run_id"]: 9.2625, second["run_id"]: 8.9625}
    engine.dispose()
