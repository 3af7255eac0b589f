"""The Great Expectations suites: built from the methodology, naming each broken cell in Vietnamese and English;
and random corruptions of a valid folder either validate (and score within bounds) or fail with problems that
name files — never a crash with a traceback."""

import shutil
from dataclasses import replace

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from expectations.suites import validate
from tasks.compute import ValidationFailed, rank, score
from tasks.methodology import load_methodology
from tasks.rules import Context, Prepared, all_rules, failing, prepare, problem_of
from tests.conftest import MINI
from tests.helpers import edit_csv, read_folder


def test_rules_take_codes_and_scales_from_the_methodology(mini):
    m = load_methodology(MINI / "methodology.yaml")
    rules = {(r.table, r.name): r for r in all_rules(Context(m, frozenset({"U01"})))}
    assert sorted(rules[("self_assessment", "criterion_appraised")].arg) == ["1.1", "1.2.1", "1.2.2"]  # not 1.3, 2.x
    assert rules[("dossier_stats", "unit_code_known")].arg == ("U01",)
    answers = pd.DataFrame({"respondent_id": ["R1", "R1"], "unit_code": ["U01", "U01"], "question_code": ["Q1", "Q1"],
                            "answer": ["4", "6"], "_row": [2, 3]})
    text = (mini / "methodology.yaml").read_text(encoding="utf-8").replace(
        "answer_points: {1: 0, 2: 0.25, 3: 0.5, 4: 0.75, 5: 1}", "answer_points: {1: 0, 2: 0.5, 3: 1}")
    (mini / "methodology.yaml").write_text(text, encoding="utf-8")
    for methodology, bad_rows, scale in ((m, [3], "1, 2, 3, 4, 5"), (load_methodology(mini / "methodology.yaml"),
                                                                   [2, 3], "1, 2, 3")):
        prepared = prepare("survey_responses", answers, Context(methodology, frozenset({"U01"})))
        rule = next(r for r in prepared.rules if r.name == "answer_on_scale")
        bad = prepared.frame[failing(rule, prepared.frame)]
        assert bad["_row"].tolist() == bad_rows
        assert f"({scale}, or empty" in problem_of(rule, bad.iloc[0].to_dict(), "f.csv", "rule").problem


def _broken_self_assessment(mini, tmp_path):
    """A self-assessment table broken in every column: (file name, prepared table)."""
    edit_csv(mini / "self_assessment.csv", lambda d: d.assign(
        appraised_points=d["appraised_points"].where(d.index != 0, "2.5").where(d.index != 1, "x").where(
            d.index != 2, "").where(d.index != 3, "-1"),
        self_points=d["self_points"].where(d.index != 4, "9"),
        criterion_code=d["criterion_code"].where(d.index != 5, "1.3").where(d.index != 6, "")))
    bundle = read_folder(mini, tmp_path / "run")
    m = bundle.methodology
    table = bundle.tables["self_assessment"]
    prepared = prepare("self_assessment", table.frame, Context(m, frozenset({"U01", "U02", "U03", "U04"})))
    return table.file, prepared


def test_every_rule_kind_is_an_expectation_that_finds_the_same_rows(mini, tmp_path):
    """The two engines of one declaration agree: on a table broken in every column, GX's failing rows are the
    rows tasks.rules.failing finds, rule by rule, and both word them the same."""
    from expectations.suites import GxEngine

    file, prepared = _broken_self_assessment(mini, tmp_path)
    by_rules = [problem_of(r, d, file, "gx") for r in prepared.rules
                for d in prepared.frame[failing(r, prepared.frame)].to_dict("records")]
    by_gx = GxEngine().problems(file, prepared)
    assert len(by_rules) >= 7 and by_gx == by_rules
    # told that the declared rules fail on no row, GX first asks only whether each rule holds; finding that
    # some do not, it lists their rows all the same: GX's verdict never depends on pandas' one
    assert GxEngine().problems(file, prepared, expect_failures=False) == by_rules
    assert {r.kind for r in prepared.rules} >= {"filled", "in_set", "matches", "at_least", "at_most", "equals",
                                                "holds"}
    # the process keeps one GX context, with one asset per table: each validation sees its own frame, never
    # an earlier one's rows or results (the clean table after the broken one, then the broken one again)
    clean = prepared.frame[~pd.concat([failing(r, prepared.frame) for r in prepared.rules], axis=1).any(axis=1)]
    assert GxEngine().problems(file, Prepared(clean, prepared.rules), expect_failures=False) == []
    assert GxEngine().problems(file, prepared) == by_rules


def test_what_gx_imports_for_unused_expectations_loads_only_when_used():
    """In a new interpreter that validates (as each run's does): SciPy's statistics and Altair, imported by GX
    for expectations never declared here, are not loaded by GX's import nor by a validation; GX's module that
    imports them still reaches the real ones when it uses them."""
    import subprocess
    import sys

    script = """
import sys
from expectations.suites import LOADED_ON_USE, _gx, GxEngine
from tasks.rules import Prepared, RowRule
import pandas as pd
_gx()
frame = pd.DataFrame({"unit_code": ["U01", "X"], "_row": [2, 3]})
rule = RowRule(table="units", name="known", column="unit_code", kind="in_set", en="is unknown", vi="không rõ",
               arg=("U01",))
found = GxEngine().problems("units.csv", Prepared(frame, [rule]))
print(len(found), *(type(sys.modules[n]).__name__ for n in LOADED_ON_USE))
import great_expectations.expectations.core.expect_column_kl_divergence_to_be_less_than as kl
print(round(float(kl.stats.entropy([0.5, 0.5], [0.25, 0.75])), 4), kl.alt.Chart.__name__,
      *(type(sys.modules[n]).__name__ for n in LOADED_ON_USE))
"""
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True).stdout
    assert out.split("\n")[:2] == ["1 _LoadedOnUse _LoadedOnUse", "0.1438 Chart module module"]


def test_configurations_made_once_validate_exactly_as_gx_makes_them(mini, tmp_path, monkeypatch):
    """suites.configurations_kept makes each expectation's configuration once per validation: GX's results,
    row by row and field by field, are those of GX's own property, which is back in place afterwards (after a
    failure too)."""
    import contextlib

    from expectations import suites

    file, prepared = _broken_self_assessment(mini, tmp_path)
    g = suites._shared()
    Expectation = g.gx.expectations.Expectation
    gx_own = Expectation.__dict__["configuration"]

    def results(kept: bool) -> list[dict]:
        suite = g.gx.ExpectationSuite(name=f"kept-{kept}", expectations=[
            suites.expectation(g.gx.expectations, r, i) for i, r in enumerate(prepared.rules)])
        tested = prepared.frame[suites._columns(prepared.rules)].assign(_pos=range(len(prepared.frame)))
        batch = g.batch(prepared.rules[0].table, tested.reset_index(drop=True))
        with suites.configurations_kept(g.gx) if kept else contextlib.nullcontext():
            out = batch.validate(suite, result_format=suites.ROWS)
        rows = [r.to_json_dict() for r in out.results]
        for r in rows:
            r["expectation_config"].pop("id", None)
        return sorted(rows, key=lambda r: r["expectation_config"]["meta"]["rule"])

    kept = results(True)
    assert kept == results(False) and len(kept) == len(prepared.rules)
    assert sum(not r["success"] for r in kept) >= 5
    assert Expectation.__dict__["configuration"] is gx_own
    one = suites.expectation(g.gx.expectations, prepared.rules[0])
    assert one.configuration is not one.configuration  # GX's own: a new object at every read
    with pytest.raises(RuntimeError), suites.configurations_kept(g.gx):
        assert one.configuration is one.configuration and one.configuration == gx_own.fget(one)
        raise RuntimeError
    assert Expectation.__dict__["configuration"] is gx_own
    # the engine's problem rows are the same with GX's own property
    by_kept = suites.GxEngine().problems(file, prepared)
    monkeypatch.setattr(suites, "configurations_kept", lambda gx: contextlib.nullcontext())
    assert suites.GxEngine().problems(file, prepared) == by_kept and len(by_kept) >= 7


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
        validate(read_folder(mini, tmp_path / "run"))
    problems = exc.value.checked.problems_frame()
    hit = problems[(problems["file"] == file) & (problems["unit_code"] == unit) & (problems["column"] == column)]
    assert len(hit) == 1, problems.to_string()
    p = hit.iloc[0]
    assert (None if pd.isna(p["row"]) else int(p["row"])) == row
    # a cell is found by GX running the declared row rules; a missing row by the rules across rows
    assert vi in p["problem_vi"] and p["problem"] and p["check"].startswith("gx:" if row else "cross:")
    # one problem per place: one rule, the most specific, reports a cell
    assert not problems.duplicated(["file", "row", "unit_code", "column"]).any()


HOSTILE = ["", " ", "-1", "2.5", "1e9", "abc", "0,5", "=1+1", "<b>x</b>", "NaN", "∞", "U99", "X99", "2024-13",
           "1.2.1", "9.9", "7", "Huyện Một"]
TABLES = ["units.csv", "self_assessment.csv", "survey_responses.csv", "dossier_stats.csv", "deductions.csv"]


@settings(max_examples=15, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
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
        checked = validate(bundle)
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


def test_cached_gx_rows_are_used_only_where_the_rules_still_find_them(mini, tmp_path):
    """The flow caches GX's rows under the inputs' hashes; a cache file edited on disk can neither hide a
    problem (rows dropped) nor invent one (a row added): the replay checks them against the declared rules."""
    from expectations.suites import Replay, gx_problems

    edit_csv(mini / "self_assessment.csv",
             lambda d: d.assign(appraised_points=d["appraised_points"].where(d.index != 0, "2.5")))
    bundle = read_folder(mini, tmp_path / "run")
    rows = gx_problems(bundle)
    assert [p.check for p in rows] == ["gx:self_assessment:appraised_points_maximum"]
    forged = replace(rows[0], file="units.csv", check="gx:units:unit_code_filled", problem="forged")
    for cached in (rows, [], [forged]):
        with pytest.raises(ValidationFailed) as exc:
            validate(bundle, gx_rows=cached)
        problems = exc.value.checked.problems
        assert [p.problem_vi for p in problems if p.severity == "error"] == ["vượt điểm tối đa 2 của tiêu chí 1.1"]
        assert all(p.check.startswith("gx:") for p in problems if p.row)
    replay = Replay(rows)
    from tasks.checks import check_inputs

    check_inputs(bundle, replay)
    assert replay.replayed >= 1 and replay.engine is None  # the honest cache is used as it is
