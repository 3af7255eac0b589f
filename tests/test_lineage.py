"""Hand-checked pro-forma comparisons across the 2025 mergers, and broken lineage refused."""

import math

import pandas as pd
import pytest

from tasks.checks import check_lineage
from tasks.lineage import apply_lineage
from tasks.problems import Collector as _Collector
from tasks.rules import Context, pandas_engine
from tests.helpers import ink_outside_printable, outside_printable

# last year's published results of five old communes (two old districts)
PREVIOUS = pd.DataFrame({
    "unit_code": ["A1", "A2", "A3", "B1", "B2"], "unit_name": ["Xã A1", "Xã A2", "Xã A3", "Xã B1", "Xã B2"],
    "rank": [1, 5, 9, 2, 7], "index_pct": [90.0, 84.0, 78.0, 88.0, 80.0],
    "F1_pct": [95.0, 80.0, 65.0, 90.0, 70.0]})
RANKED = pd.DataFrame({"unit_code": ["N1", "N2", "N3", "B1"], "unit_name": ["Xã Mới 1", "Xã Mới 2", "Xã Mới 3", "Xã B1"],
                       "rank": [1, 2, 3, 4], "prev_rank": pd.array([pd.NA, pd.NA, pd.NA, 2], dtype="Int64"),
                       "rank_change": pd.array([pd.NA, pd.NA, pd.NA, -2], dtype="Int64")})


def _lineage(rows):
    df = pd.DataFrame(rows, columns=["unit_code", "predecessor_code", "predecessor_name", "weight"])
    df = df.fillna("").astype(str)  # as read from a file: every cell text, blanks empty
    return df.assign(_row=range(2, 2 + len(df)))


def _checked(rows, units=("N1", "N2", "N3", "B1")):
    col = _Collector()
    ctx = Context(None, frozenset(units))  # lineage's rules need the registry, not the methodology
    typed = check_lineage(_lineage(rows), "lineage.csv", ctx, PREVIOUS, col, pandas_engine)
    return typed, col.items


def test_merger_of_three_with_equal_weights():
    typed, problems = _checked([("N1", "A1", "", None), ("N1", "A2", "", None), ("N1", "A3", "", None)])
    assert problems == []
    out = apply_lineage(RANKED, typed, PREVIOUS, ["F1"]).set_index("unit_code")
    assert out.loc["N1", "prev_index_proforma"] == pytest.approx((90 + 84 + 78) / 3)  # 84.0
    assert out.loc["N1", "prev_F1_pct_proforma"] == pytest.approx((95 + 80 + 65) / 3)
    assert out.loc["N1", "prev_rank_range"] == "1–9"
    assert out.loc["N1", "predecessors"] == "A1 Xã A1; A2 Xã A2; A3 Xã A3"
    assert pd.isna(out.loc["N1", "prev_rank"]) and pd.isna(out.loc["N1", "rank_change"])


def test_merger_with_explicit_weights():
    # population 3000 and 1000: (3 × 84 + 1 × 80) / 4 = 83
    typed, problems = _checked([("N2", "A2", "", "3000"), ("N2", "B2", "", "1000")])
    assert problems == []
    out = apply_lineage(RANKED, typed, PREVIOUS, ["F1"]).set_index("unit_code")
    assert out.loc["N2", "prev_index_proforma"] == pytest.approx(83.0)
    assert out.loc["N2", "prev_F1_pct_proforma"] == pytest.approx((3 * 80 + 70) / 4)


def test_unmerged_unit_compares_as_before():
    typed, _ = _checked([("N1", "A1", "", None), ("N1", "A2", "", None)])
    out = apply_lineage(RANKED, typed, PREVIOUS, ["F1"]).set_index("unit_code")
    assert out.loc["B1", "prev_rank"] == 2 and out.loc["B1", "rank_change"] == -2
    assert math.isnan(out.loc["B1", "prev_index_proforma"]) and out.loc["B1", "predecessors"] == ""


def test_split_with_shares():
    # A3 was split: 60 % to N2, 40 % to N3; N2 also took all of A2
    typed, problems = _checked([("N2", "A2", "", "1"), ("N2", "A3", "", "0.6"), ("N3", "A3", "", "0.4")])
    assert problems == []
    out = apply_lineage(RANKED, typed, PREVIOUS, []).set_index("unit_code")
    assert out.loc["N2", "prev_index_proforma"] == pytest.approx((84 + 0.6 * 78) / 1.6)
    assert out.loc["N3", "prev_index_proforma"] == pytest.approx(78.0)


@pytest.mark.parametrize(("rows", "column", "words"), [
    pytest.param([("N1", "Z9", "", None)], "predecessor_code", "not in previous_results", id="unknown-predecessor"),
    pytest.param([("N1", "A1", "", "-1")], "weight", "below 0", id="negative-weight"),
    pytest.param([("N2", "A3", "", None), ("N3", "A3", "", None)], "weight", "feeds several units",
                 id="split-without-weights"),
    pytest.param([("N1", "A1", "", "2"), ("N1", "A2", "", None)], "weight", "give all or none", id="mixed-weights"),
    pytest.param([("X7", "A1", "", None)], "unit_code", "not a unit", id="unknown-successor"),
    pytest.param([("N1", "A1", "", None), ("N1", "A1", "", None)], "predecessor_code", "twice", id="duplicate"),
])
def test_broken_lineage_is_refused(rows, column, words):
    _, problems = _checked(rows)
    assert any(p.column == column and words in p.problem and p.file == "lineage.csv" for p in problems), problems


@pytest.fixture(scope="module")
def hai_phong(tmp_path_factory):
    from flows.sample import write_sample

    root = tmp_path_factory.mktemp("hp")
    write_sample(root, province="hai-phong", year=2025, years=1)
    return root / "2025"


def test_hai_phong_lineage_matches_the_registry(hai_phong):
    from vietnamadminunits.database import query

    units = pd.read_csv(hai_phong / "commune" / "units.csv", dtype=str, encoding="utf-8-sig")
    lineage = pd.read_csv(hai_phong / "commune" / "lineage.csv", dtype=str, keep_default_na=False, encoding="utf-8-sig")
    new = {r["wardCode"] for r in query("SELECT wardCode FROM admin_units WHERE provinceShort = 'Hải Phòng'")}
    old = {r["wardCode"] for r in query("SELECT wardCode FROM admin_units_legacy WHERE provinceShort IN "
                                        "('Hải Phòng', 'Hải Dương') AND wardCode IS NOT NULL AND wardCode != ''")}
    assert set(units["unit_code"]) == new and len(new) == 114
    assert set(lineage["unit_code"]) <= new and set(lineage["predecessor_code"]) <= old
    assert set(lineage["predecessor_code"]) == old  # every old commune of both provinces has a successor
    split = lineage.groupby("predecessor_code")["unit_code"].nunique()
    assert (split > 1).any()  # the registry has split communes, and they carry shares
    shares = lineage[lineage["predecessor_code"].isin(split[split > 1].index)]
    for code, g in shares.groupby("predecessor_code"):
        assert g["weight"].astype(float).sum() == pytest.approx(1.0, abs=1e-5), code  # thirds: 6 digits


@pytest.mark.parametrize("level", ["commune", "department"])
def test_hai_phong_2025_compares_every_unit_honestly(hai_phong, tmp_path, level):
    from tests.helpers import compute_folder

    c = compute_folder(hai_phong / level, tmp_path / "run")
    r = c.ranked
    assert r["prev_rank"].isna().all() and r["rank_change"].isna().all()  # no misleading rank changes
    has = r["predecessors"] != ""
    assert r.loc[has, "prev_index_proforma"].between(50, 100).all()
    # only a unit with no commune-level predecessor (the island special zone) lacks a pro forma index
    assert (~has).sum() <= 1 and r["group"].nunique() == 1
    published = c.results
    assert list(published.columns[-2:]) == ["prev_index_proforma", "predecessors"]
    from tasks.ranking import published_proforma

    pro = published_proforma(_methodology(hai_phong / level), r)
    assert len(pro) == has.sum() and pro["prev_F1_pct_proforma"].between(0, 100).all()


def _methodology(folder):
    from tasks.methodology import load_methodology

    return load_methodology(folder / "methodology.yaml")


@pytest.mark.xdist_group("cli")
def test_the_114_commune_report_shows_every_unit_within_the_page(hai_phong, tmp_path):
    """The bar chart of 114 communes once stopped at rank 74 with the page number drawn over it: long rankings
    are drawn as several charts on one scale, each shorter than a page, and nothing on any page leaves the
    printable area."""
    from pypdf import PdfReader

    from tests.test_cli import parindex

    out = tmp_path / "out"
    parindex("run", "--inputs", str(hai_phong / "commune"), "--out", str(out), "--no-unit-pdfs", check_exit=0)
    results = pd.read_csv(out / "results.csv", dtype=str, encoding="utf-8-sig")
    assert len(results) == 114
    for pdf in ("report.vi.pdf", "report.en.pdf"):  # no glyph or drawing outside the printable area
        assert outside_printable(out / pdf) == [] and ink_outside_printable(out / pdf) == [], pdf
    pages = PdfReader(out / "report.vi.pdf").pages
    for k, page in enumerate(pages, start=1):
        assert f"{k} / {len(pages)}" in page.extract_text(), k  # the page number, on every page
    text = " ".join(" ".join(p.extract_text() for p in pages).split())
    assert all(f"({i}/3)" in text for i in (1, 2, 3))
    assert all(" ".join(name.split()) in text for name in results["unit_name"])
