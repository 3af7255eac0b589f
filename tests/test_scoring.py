"""Hand-computed scoring of tests/fixtures/mini (10 points, 6 units in two groups): every figure below was
worked out on paper from the files, so a change in any rule shows up here."""

import math

import pandas as pd
import pytest

from tasks.methodology import parse_methodology
from tasks.ranking import sport_rank
from tasks.scoring import points_on_scale
from tests.conftest import MINI
from tests.helpers import compute_folder, edit_csv

# unit: (total, index, rank, rank_of, band, prev_rank, rank_change, appraisal, survey, dossier, deduction)
EXPECTED = {
    # 3.5 appraisal; survey 2 x mean(1, .75, .5) = 1.5 (blank Q2 excluded); on time 96/100 -> 1.5;
    # online 50/100 -> 2 x (0.5-0.2)/0.6 = 1.0. Ties with U02 at 7.5: both rank 2, next is 4.
    "U01": (7.5, 75.0, 2, 4, "C", 3, 1, 3.5, 1.5, 2.5, 0.0),
    "U02": (7.5, 75.0, 2, 4, "C", 1, -1, 3.5, 1.5, 2.5, 0.0),
    # 3.5 + survey 2 x mean(1,1,1,.75) = 1.875 + on time 40/40 -> 2 + online 613/800 = 0.76625 -> 1.8875
    # total 9.2625: index 92.625 published half-up as 92.63 (Python's round would print 92.62)
    "U03": (9.26, 92.63, 1, 4, "A", 2, 1, 3.5, 1.88, 3.89, 0.0),
    # 2 + survey 2 x mean(0,0,.25,.5) = 0.375 + on time 0.89 -> 0 + online 0.1 -> 0; deductions 0.7 + 0.6
    # capped at 1: total 1.375 -> 1.38; no previous rank
    "U04": (1.38, 13.75, 4, 4, "C", None, None, 2.0, 0.38, 0.0, 1.0),
    # full marks everywhere: 10 points
    "U05": (10.0, 100.0, 1, 2, "A", 2, 1, 4.0, 2.0, 4.0, 0.0),
    # 3.25 + survey 1.5 + on time exactly 19/20 = 0.95 -> 1.5 + online exactly 0.2 -> 0 - deduction 0.25 = 6
    "U06": (6.0, 60.0, 2, 2, "C", 1, -1, 3.25, 1.5, 1.5, 0.25),
}
COLUMNS = ["total_points", "index_pct", "rank", "rank_of", "band", "prev_rank", "rank_change",
           "appraisal_points", "survey_points", "dossier_points", "deduction_points"]


@pytest.fixture
def computed(mini, tmp_path):
    return compute_folder(mini, tmp_path / "run")


def test_results_match_the_hand_computation(computed):
    r = computed.results.set_index("unit_code")
    assert list(r.index) == list(EXPECTED)  # units of another level (X99) are not scored
    for unit, expected in EXPECTED.items():
        got = tuple(None if pd.isna(r.loc[unit, c]) else r.loc[unit, c] for c in COLUMNS)
        assert got == expected, unit
    assert r.loc["U03", "F2_points"] == 3.89 and r.loc["U03", "F2_pct"] == 97.19  # 3.8875 / 4
    assert r.loc["U03", "F1_points"] == 5.38  # 5.375 half-up
    assert r.loc["U03", "band_vi"] == "Xuất sắc"


def test_full_precision_is_kept_until_publication(computed):
    ranked = computed.ranked.set_index("unit_code")
    assert ranked.loc["U03", "total_points"] == 9.2625
    assert ranked.loc["U03", "index_pct"] == 92.625
    crit = computed.criteria.set_index(["unit_code", "criterion_code"])
    assert crit.loc[("U03", "2.2"), "points"] == 1.8875
    assert crit.loc[("U01", "1.3"), "points"] == 1.5
    assert crit.loc[("U06", "2.1"), "points"] == 1.5


def test_criteria_table_has_every_leaf_for_every_unit(computed):
    c = computed.criteria_published
    assert list(c.columns) == ["unit_code", "field_code", "criterion_code", "source", "max_points", "points"]
    assert len(c) == 6 * 6
    assert set(c["source"]) == {"appraisal", "survey", "dossier"}
    assert c.groupby("unit_code")["max_points"].sum().eq(10).all()


@pytest.mark.parametrize(("rank_on", "ranks"), [("full", (2, 3)), ("published", (2, 2))])
def test_rank_on_decides_equal_published_indices(mini, tmp_path, rank_on, ranks):
    # U02: 100012 of 200000 online -> 2.2 scores 1.0002, total 7.5002, index 75.002 -> publishes as 75.00 like
    # U01. Official tables rank on the unrounded score (full); `published` ranks on what is printed.
    edit_csv(mini / "dossier_stats.csv", lambda d: d.assign(
        received=d["received"].where(~((d["unit_code"] == "U02") & (d["period"] == "2024-01")), "200000"),
        received_online=d["received_online"].where(
            ~((d["unit_code"] == "U02") & (d["period"] == "2024-01")), "100012")))
    text = (mini / "methodology.yaml").read_text(encoding="utf-8").replace("rank_on: full", f"rank_on: {rank_on}")
    (mini / "methodology.yaml").write_text(text, encoding="utf-8")
    computed = compute_folder(mini, tmp_path / "a")
    r = computed.results.set_index("unit_code")
    assert r.loc["U01", "index_pct"] == r.loc["U02", "index_pct"] == 75.0
    assert computed.ranked.set_index("unit_code").loc["U02", "total_points"] == 7.5002
    assert (r.loc["U02", "rank"], r.loc["U01", "rank"]) == ranks
    assert r.loc["U04", "rank"] == 4  # the rank after a tie skips


@pytest.mark.parametrize(("rate", "expected"), [
    (1.0, 2.0), (0.9999, 1.5), (0.95, 1.5), (19 / 20, 1.5), (0.9499, 1.0), (0.9, 1.0), (0.0, 0.0)])
def test_steps_at_and_around_each_floor(rate, expected):
    m = parse_methodology((MINI / "methodology.yaml").read_text(encoding="utf-8"))
    c = next(lf.criterion for lf in m.leaves() if lf.code == "2.1")
    assert points_on_scale(c, rate) == expected


@pytest.mark.parametrize(("rate", "expected"), [
    (0.0, 0.0), (0.2, 0.0), (0.5, 1.0), (0.8, 2.0), (0.95, 2.0), (0.35, 0.5)])
def test_linear_scale(rate, expected):
    m = parse_methodology((MINI / "methodology.yaml").read_text(encoding="utf-8"))
    c = next(lf.criterion for lf in m.leaves() if lf.code == "2.2")
    assert math.isclose(points_on_scale(c, rate), expected, abs_tol=1e-12)


def test_no_dossiers_rule():
    m = parse_methodology((MINI / "methodology.yaml").read_text(encoding="utf-8"))
    c = next(lf.criterion for lf in m.leaves() if lf.code == "2.2")
    assert math.isnan(points_on_scale(c, float("nan")))  # `error` (default): never a silent zero
    assert points_on_scale(c.model_copy(update={"if_no_dossiers": "full"}), float("nan")) == 2.0
    assert points_on_scale(c.model_copy(update={"if_no_dossiers": "zero"}), float("nan")) == 0.0


def test_sport_rank_within_groups():
    values = pd.Series([9.0, 7.5, 7.5, 1.0, 10.0, 6.0])
    groups = pd.Series(["a", "a", "a", "a", "b", "b"])
    assert sport_rank(values, groups).tolist() == [1, 2, 2, 4, 1, 2]
