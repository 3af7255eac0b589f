"""The Great Expectations suites: built from the methodology, naming each broken cell in Vietnamese and English;
and random corruptions of a valid folder either validate (and score within bounds) or fail with problems that
name files — never a crash with a traceback."""

import shutil

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from expectations.suites import build_rules, check_with_gx
from tasks.compute import ValidationFailed, rank, score
from tasks.methodology import load_methodology
from tests.conftest import MINI
from tests.helpers import edit_csv, read_folder


def test_rules_take_codes_and_scales_from_the_methodology(mini):
    m = load_methodology(MINI / "methodology.yaml")
    rules = {(r.table, r.column, type(r.expectation).__name__): r for r in build_rules(m, {"U01"})}
    codes = rules[("self_assessment", "criterion_code", "ExpectColumnValuesToBeInSet")].expectation.value_set
    assert sorted(codes) == ["1.1", "1.2.1", "1.2.2"]  # appraisal leaves only: 1.3 is survey, 2.x dossier
    answers = rules[("survey_responses", "answer", "ExpectColumnValuesToBeInSet")].expectation.value_set
    assert sorted(answers) == ["", "1", "2", "3", "4", "5"]
    text = (mini / "methodology.yaml").read_text(encoding="utf-8").replace(
        "answer_points: {1: 0, 2: 0.25, 3: 0.5, 4: 0.75, 5: 1}", "answer_points: {1: 0, 2: 0.5, 3: 1}")
    (mini / "methodology.yaml").write_text(text, encoding="utf-8")
    m3 = load_methodology(mini / "methodology.yaml")
    answers3 = {(r.table, r.column): r for r in build_rules(m3, {"U01"})}[("survey_responses", "answer")]
    assert sorted(answers3.expectation.value_set) == ["", "1", "2", "3"]


@pytest.mark.parametrize(("file", "mutate", "row", "unit", "column", "vi"), [
    ("self_assessment.csv", lambda d: d.assign(appraised_points=d["appraised_points"].where(d.index != 0, "2.5")),
     2, "U01", "appraised_points", "vượt điểm tối đa 2 của tiêu chí 1.1"),  # the most specific message
    ("survey_responses.csv", lambda d: d.assign(answer=d["answer"].where(d.index != 2, "6")),
     4, "U01", "answer", "không thuộc thang trả lời"),
    ("dossier_stats.csv", lambda d: d.assign(period=d["period"].where(d.index != 3, "2024-13")),
     5, "U01", "period", "YYYY-MM"),
    ("deductions.csv", lambda d: d.assign(criterion_code=d["criterion_code"].where(d.index != 0, "7.7")),
     2, "U04", "criterion_code", "không phải mã tiêu chí"),
    ("self_assessment.csv", lambda d: d.drop(index=7), None, "U03", "criterion_code", "thiếu dòng của tiêu chí"),
])
def test_gx_names_the_cell_in_both_languages(mini, tmp_path, file, mutate, row, unit, column, vi):
    edit_csv(mini / file, mutate)
    with pytest.raises(ValidationFailed) as exc:
        check_with_gx(read_folder(mini, tmp_path / "run"))
    problems = exc.value.checked.problems_frame()
    hit = problems[(problems["file"] == file) & (problems["unit_code"] == unit) & (problems["column"] == column)]
    assert len(hit) == 1, problems.to_string()
    p = hit.iloc[0]
    assert (None if pd.isna(p["row"]) else int(p["row"])) == row
    assert vi in p["problem_vi"] and p["problem"] and p["check"].startswith("gx:")
    # one problem per place: GX and the pandas checks never both report the same cell
    assert not problems.duplicated(["file", "row", "unit_code", "column"]).any()


HOSTILE = ["", " ", "-1", "2.5", "1e9", "abc", "0,5", "=1+1", "<b>x</b>", "NaN", "∞", "U99", "X99", "2024-13",
           "1.2.1", "9.9", "7", "Huyện Một"]
TABLES = ["units.csv", "self_assessment.csv", "survey_responses.csv", "dossier_stats.csv", "deductions.csv"]


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(st.sampled_from(TABLES), st.integers(0, 200), st.integers(0, 7),
                          st.sampled_from(HOSTILE + ["<drop>", "<dup>"])), min_size=1, max_size=3))
def test_random_corruption_validates_identically_or_fails_cleanly(tmp_path_factory, corruptions):
    base = tmp_path_factory.mktemp("fuzz")
    folder = base / "in"
    shutil.copytree(MINI, folder)
    for file, row, col, value in corruptions:
        def mutate(d, row=row, col=col, value=value):
            i = d.index[row % len(d)]
            if value == "<drop>":
                return d.drop(index=i)
            if value == "<dup>":
                return pd.concat([d, d.loc[[i]]], ignore_index=True)
            d.loc[i, d.columns[col % len(d.columns)]] = value
            return d
        edit_csv(folder / file, mutate)
    bundle = read_folder(folder, base / "run")
    try:
        checked = check_with_gx(bundle)
    except ValidationFailed as exc:
        errors = exc.checked.problems_frame()
        assert (errors["severity"] == "error").any()
        assert errors["file"].isin(TABLES + ["index.yaml"]).all() and errors["problem"].str.len().gt(0).all()
        assert errors["problem_vi"].str.len().gt(0).all(), "every problem is explained in Vietnamese too"
        return
    # it validated: then the corruption changed nothing that counts, or scoring shows it; never a crash
    criteria, totals, _ = score(bundle, checked)
    ranked = rank(bundle, checked, totals)
    assert ranked["index_pct"].between(0, 100).all() and len(ranked) >= 1
