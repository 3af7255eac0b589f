"""Reading inputs as users send them (BOM, XLSX, decomposed diacritics, leading zeros) and refusing bad ones
with the file, row (Excel numbering), unit and column of each problem."""

import unicodedata

import pandas as pd
import pytest

from tasks.compute import ValidationFailed
from tasks.ingest import InputError
from tests.helpers import compute_folder, edit_csv, read_folder


def _problems(folder, tmp_path):
    with pytest.raises(ValidationFailed) as exc:
        compute_folder(folder, tmp_path / "run")
    return exc.value.checked.problems_frame()


def _one(problems, **where):
    rows = problems
    for k, v in where.items():
        rows = rows[rows[k] == v]
    assert len(rows) >= 1, f"no problem with {where} in:\n{problems.to_string()}"
    return rows.iloc[0]


def test_bom_xlsx_and_decomposed_text_give_identical_results(mini, tmp_path):
    base = compute_folder(mini, tmp_path / "a").results
    # units.csv with a BOM and decomposed (NFD) names; self_assessment as an Excel workbook
    text = (mini / "units.csv").read_text(encoding="utf-8")
    (mini / "units.csv").write_bytes(b"\xef\xbb\xbf" + unicodedata.normalize("NFD", text).encode("utf-8"))
    sa = pd.read_csv(mini / "self_assessment.csv", dtype=str, keep_default_na=False, encoding="utf-8-sig")
    sa.to_excel(mini / "self_assessment.xlsx", index=False)
    (mini / "self_assessment.csv").unlink()
    again = compute_folder(mini, tmp_path / "b").results
    pd.testing.assert_frame_equal(base, again)
    assert "Huyện Bốn" in set(again["unit_name"])  # NFC after reading


def test_codes_keep_leading_zeros(mini, tmp_path):
    for name in ("units.csv", "self_assessment.csv", "survey_responses.csv", "dossier_stats.csv",
                 "deductions.csv", "previous_results.csv"):
        path = mini / name
        path.write_text(path.read_text(encoding="utf-8").replace("U0", "00"), encoding="utf-8")
    r = compute_folder(mini, tmp_path / "a").results
    assert list(r["unit_code"]) == ["001", "002", "003", "004", "005", "006"]


def test_both_csv_and_xlsx_is_refused(mini, tmp_path):
    pd.read_csv(mini / "units.csv", encoding="utf-8-sig").to_excel(mini / "units.xlsx", index=False)
    with pytest.raises(InputError, match="both units.csv and units.xlsx"):
        read_folder(mini, tmp_path / "a")


def test_missing_column_is_named(mini, tmp_path):
    edit_csv(mini / "survey_responses.csv", lambda d: d.drop(columns=["answer"]))
    with pytest.raises(InputError) as exc:
        read_folder(mini, tmp_path / "a")
    assert exc.value.column == "answer" and "survey_responses.csv" in str(exc.value)


@pytest.mark.parametrize(("file", "mutate", "expect"), [
    pytest.param("self_assessment.csv", lambda d: d.assign(appraised_points=d["appraised_points"].where(
        d.index != 0, "2.5")), dict(row=2, unit_code="U01", column="appraised_points", value="2.5"),
        id="points-above-max"),
    pytest.param("self_assessment.csv", lambda d: d.drop(index=4), dict(unit_code="U02", column="criterion_code",
                                                                      value="1.2.1"), id="criterion-left-out"),
    pytest.param("self_assessment.csv", lambda d: d.assign(unit_code=d["unit_code"].where(d.index != 3, "U7")),
                 dict(row=5, unit_code="U7", column="unit_code"), id="unit-code-mistyped"),
    pytest.param("self_assessment.csv", lambda d: d.assign(appraised_points=d["appraised_points"].where(
        d.index != 1, "0,5")), dict(row=3, column="appraised_points", value="0,5"), id="decimal-comma"),
    pytest.param("survey_responses.csv", lambda d: d.assign(answer=d["answer"].where(d.index != 0, "7")),
                 dict(row=2, unit_code="U01", column="answer", value="7"), id="answer-off-scale"),
    pytest.param("survey_responses.csv", lambda d: d[d["unit_code"] != "U05"].reset_index(drop=True),
                 dict(unit_code="U05", column="question_code"), id="too-few-respondents"),
    pytest.param("dossier_stats.csv", lambda d: d.assign(resolved_on_time=d["resolved_on_time"].where(
        d.index != 0, "101"), resolved_late=d["resolved_late"].where(d.index != 0, "0")),
        dict(row=2, unit_code="U01", column="resolved_on_time"), id="on-time-above-resolved"),
    pytest.param("dossier_stats.csv", lambda d: d.drop(index=5), dict(unit_code="U01", column="period"),
                 id="month-missing"),
    pytest.param("dossier_stats.csv", lambda d: d[d["unit_code"] != "U03"].reset_index(drop=True),
                 dict(unit_code="U03", column="unit_code"), id="no-dossier-statistics"),
    pytest.param("deductions.csv", lambda d: d.assign(points=d["points"].where(d.index != 0, "-1")),
                 dict(row=2, unit_code="U04", column="points"), id="negative-deduction"),
    pytest.param("units.csv", lambda d: pd.concat([d, d.iloc[[0]]], ignore_index=True),
                 dict(row=9, unit_code="U01", column="unit_code"), id="unit-in-two-groups"),
])
def test_bad_input_names_file_row_unit_and_column(mini, tmp_path, file, mutate, expect):
    edit_csv(mini / file, mutate)
    problems = _problems(mini, tmp_path)
    p = _one(problems[problems["severity"] == "error"], file=file, **expect)
    assert p["problem"]  # a sentence, not a code


def test_a_rejected_row_brings_no_follow_on_errors(mini, tmp_path):
    edit_csv(mini / "dossier_stats.csv", lambda d: d.assign(resolved_late=d["resolved_late"].where(
        d.index != 0, "-1")))
    problems = _problems(mini, tmp_path)
    assert len(problems) == 1 and problems.iloc[0]["column"] == "resolved_late"


def test_every_problem_is_reported_not_just_the_first(mini, tmp_path):
    edit_csv(mini / "self_assessment.csv", lambda d: d.assign(appraised_points="9"))
    problems = _problems(mini, tmp_path)
    assert (problems["column"] == "appraised_points").sum() == 18


def test_a_unit_short_of_respondents_is_named_with_its_count(mini, tmp_path):
    """min_respondents counts the distinct respondents who answered a criterion's questions, per unit: U02 keeps
    one respondent (two answers), U03 keeps both, one of them answering Q2 only."""
    edit_csv(mini / "survey_responses.csv",
             lambda d: d[(d["respondent_id"] != "U02-R2") & ~((d["respondent_id"] == "U03-R2") & (d["question_code"] == "Q1"))])
    problems = _problems(mini, tmp_path)
    short = problems[problems["check"] == "cross:respondents"]
    assert list(short["unit_code"]) == ["U02"]
    p = short.iloc[0]
    assert p["file"] == "survey_responses.csv" and p["column"] == "question_code" and p["value"] == "Q1,Q2"
    assert "criterion 1.3 needs at least 2 respondents" in p["problem"] and p["problem"].endswith("unit U02 has 1")
