"""Collecting self-assessments (CONTRACT.md `parindex forms`, `parindex collect`): the full cycle on the
bundled sample — forms out, filled as units and the council would, collected twice — gives the sample's own
results; tampering and mistakes are caught with the workbook, sheet and cell named; a workbook opens in
LibreOffice."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pandas as pd
import pytest
from openpyxl import load_workbook
from pypdf import PdfReader

from tasks import forms
from tests.helpers import compute_folder

pytestmark = [pytest.mark.flow, pytest.mark.xdist_group("flow")]


def fill(folder: Path, sample: pd.DataFrame, stage: str, renamed: bool = True) -> None:
    """Fill every workbook as its unit (self) or the council (appraisal) would, from the sample's own rows;
    units rename the files they send back."""
    cols = {"self": ("self_points", "evidence", "note"), "appraisal": ("appraised_points",)}[stage]
    for path in sorted(folder.glob("*.xlsx")):
        wb = load_workbook(path)
        ws = wb.worksheets[0]
        header = [c.value for c in ws[forms.HEADER_ROW]]
        unit = wb[forms.HIDDEN]["B1"].value
        mine = sample[sample["unit_code"] == unit].set_index("criterion_code")
        for row in ws.iter_rows(min_row=forms.FIRST_ROW):
            code = row[0].value
            if code in mine.index:
                for k in cols:
                    v = mine.loc[code, k]
                    row[header.index(k)].value = float(v) if k.endswith("_points") and v != "" else (v or None)
        wb.save(path)
        if renamed:
            path.rename(path.with_name(f"Phiếu {unit} đã điền.xlsx"))


@pytest.fixture
def district(prefect_harness, sample_root, tmp_path):
    folder = tmp_path / "district"
    shutil.copytree(sample_root / "2024" / "district", folder)
    sample = pd.read_csv(folder / "self_assessment.csv", dtype=str, keep_default_na=False)
    return folder, sample


def test_the_full_cycle_gives_the_samples_own_results(district, tmp_path):
    from flows.forms import collect_forms, make_forms

    folder, sample = district
    expected = compute_folder(folder, tmp_path / "expected").results
    make_forms(inputs=str(folder), out=str(tmp_path / "self"), stage="self")
    assert len(list((tmp_path / "self").glob("*.xlsx"))) == 12
    fill(tmp_path / "self", sample, "self")
    s = collect_forms(forms_dir=str(tmp_path / "self"), inputs=str(folder))
    assert s["units"] == 12 and not (folder / "self_assessment.csv").exists()
    assert list((folder / ".parindex-replaced").glob("*-self_assessment.csv"))  # nothing is lost
    make_forms(inputs=str(folder), out=str(tmp_path / "appraisal"), stage="appraisal")
    fill(tmp_path / "appraisal", sample, "appraisal", renamed=False)
    s = collect_forms(forms_dir=str(tmp_path / "appraisal"), inputs=str(folder))
    assert s["stage"] == "appraisal"
    got = compute_folder(folder, tmp_path / "got").results
    assert got.to_csv(index=False) == expected.to_csv(index=False)
    diffs = pd.read_csv(tmp_path / "appraisal" / "collect" / "differences.csv", encoding="utf-8-sig")
    gaps = sample.assign(d=sample["appraised_points"].astype(float) - sample["self_points"].astype(float))
    assert len(diffs) == int((gaps["d"].abs() > 1e-9).sum()) and diffs["difference"].is_monotonic_increasing
    returned = pd.read_csv(tmp_path / "appraisal" / "collect" / "returned.csv", encoding="utf-8-sig")
    assert returned["returned"].all()


def _first_form(district, tmp_path):
    from flows.forms import make_forms

    folder, sample = district
    make_forms(inputs=str(folder), out=str(tmp_path / "f"), stage="self")
    fill(tmp_path / "f", sample, "self", renamed=False)
    return folder, tmp_path / "f", sorted((tmp_path / "f").glob("*.xlsx"))


def _refused(folder, forms_dir) -> pd.DataFrame:
    from flows.forms import FormsRefused, collect_forms

    before = {p.name: p.read_bytes() for p in folder.iterdir() if p.is_file()}
    with pytest.raises(FormsRefused):
        collect_forms(forms_dir=str(forms_dir), inputs=str(folder))
    assert {p.name: p.read_bytes() for p in folder.iterdir() if p.is_file()} == before  # nothing written
    return pd.read_csv(forms_dir / "collect" / "errors.csv", dtype=str, keep_default_na=False, encoding="utf-8-sig")


def _edit(path: Path, fn) -> None:
    wb = load_workbook(path)
    fn(wb.worksheets[0])
    wb.save(path)


def test_a_value_above_the_maximum_and_text_in_a_number_cell_are_named_by_cell(district, tmp_path):
    folder, fdir, paths = _first_form(district, tmp_path)
    _edit(paths[0], lambda ws: (ws.cell(forms.FIRST_ROW, 5, 9), ws.cell(forms.FIRST_ROW + 1, 5, "hai")))
    _edit(paths[1], lambda ws: ws.cell(forms.FIRST_ROW, 5, "0,5"))  # a decimal comma typed as text: accepted
    errors = _refused(folder, fdir)
    assert len(errors) == 2
    over, text = errors.iloc[0], errors.iloc[1]
    assert (over["workbook"], over["sheet"], over["cell"]) == (paths[0].name, "Tự đánh giá", f"E{forms.FIRST_ROW}")
    assert over["value"] == "9" and "nằm ngoài khoảng 0 …" in over["problem_vi"] and over["criterion_code"]
    assert text["cell"] == f"E{forms.FIRST_ROW + 1}" and "là chữ" in text["problem_vi"]


def test_a_deleted_or_duplicated_row_is_caught(district, tmp_path):
    folder, fdir, paths = _first_form(district, tmp_path)
    _edit(paths[0], lambda ws: ws.delete_rows(forms.FIRST_ROW + 2))
    def duplicate(ws):
        ws.insert_rows(forms.FIRST_ROW + 1)
        for c in range(1, len(forms.COLUMNS) + 1):
            ws.cell(forms.FIRST_ROW + 1, c, ws.cell(forms.FIRST_ROW, c).value)
    _edit(paths[1], duplicate)
    errors = _refused(folder, fdir)
    deleted = errors[errors["workbook"] == paths[0].name]
    assert len(deleted) == 1 and "dòng bị xóa" in deleted.iloc[0]["problem_vi"]
    twice = errors[errors["workbook"] == paths[1].name]
    assert len(twice) == 1 and twice.iloc[0]["cell"] == f"A{forms.FIRST_ROW + 1}"


def test_a_copy_under_another_units_name_and_a_missing_unit_are_caught(district, tmp_path):
    folder, fdir, paths = _first_form(district, tmp_path)
    shutil.copyfile(paths[0], paths[1])  # unit 2's file is unit 1's workbook copied over it
    errors = _refused(folder, fdir)
    copied = errors[errors["workbook"] == paths[1].name]
    assert len(copied) == 1 and "another unit's name" in copied.iloc[0]["problem"]
    missing = errors[errors["workbook"] == ""]
    assert len(missing) == 1 and missing.iloc[0]["unit_code"] == paths[1].stem


def test_another_years_form_is_refused(district, sample_root, tmp_path):
    from flows.forms import make_forms

    folder, _ = district
    make_forms(inputs=str(sample_root / "2023" / "district"), out=str(tmp_path / "old"), stage="self")
    fdir = tmp_path / "mixed"
    fdir.mkdir()
    shutil.copyfile(next((tmp_path / "old").glob("*.xlsx")), fdir / "old.xlsx")
    errors = _refused(folder, fdir)
    old = errors[errors["workbook"] == "old.xlsx"]
    assert len(old) == 1 and "hd-district-2023" in old.iloc[0]["problem"]


@pytest.mark.skipif(shutil.which("soffice") is None, reason="LibreOffice is not installed")
def test_a_workbook_opens_in_libreoffice(district, tmp_path):
    from flows.forms import make_forms

    folder, _ = district
    make_forms(inputs=str(folder), out=str(tmp_path / "f"), stage="self")
    path = sorted((tmp_path / "f").glob("*.xlsx"))[0]
    subprocess.run(["soffice", "--headless", f"-env:UserInstallation=file://{tmp_path}/lo", "--convert-to", "pdf",
                    "--outdir", str(tmp_path / "pdf"), str(path)], check=True, capture_output=True, timeout=180)
    text = "\n".join(p.extract_text() for p in PdfReader(tmp_path / "pdf" / f"{path.stem}.pdf").pages)
    assert "PHIẾU TỰ ĐÁNH GIÁ" in text and "criterion_code" in text and "1.1" in text
