"""The methodologist's desk (CONTRACT.md `parindex robustness`, `parindex whatif`), with hand-checkable
properties: identical answers give a zero-width survey interval, no variation reproduces the publication, the
same seed gives the same bytes, the published methodology changes nothing, and a lower-is-better variant gives
the exact index computed by hand."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import yaml

from tasks import robustness as rb
from tests.conftest import MINI
from tests.helpers import compute_folder, edit_csv, ink_outside_printable, outside_printable

pytestmark = pytest.mark.flow


@pytest.fixture
def published_mini(prefect_harness, mini, tmp_path):
    from flows.annual import annual_run

    out = tmp_path / "pub"
    annual_run(inputs=str(mini), out=str(out), unit_pdfs=False)
    return out


def read(path):
    return pd.read_csv(path, dtype={"unit_code": str}, encoding="utf-8-sig").set_index("unit_code")


def test_robustness_of_a_folder_of_publications_gives_each_the_same_bytes_as_alone(published_mini, tmp_path):
    """A province's year or a national run: one folder per publication, worked on by forked workers, each
    identical to the publication's robustness run on its own."""
    import shutil

    from flows.desk import robustness

    tree = tmp_path / "year"
    for level in ("commune", "district"):
        shutil.copytree(published_mini, tree / level)
    s = robustness(from_dir=str(tree), out=str(tmp_path / "all"), replicates=200, seed=3)
    assert s["publications"] == 2 and s["failed"] == []
    robustness(from_dir=str(tree / "district"), out=str(tmp_path / "one"), replicates=200, seed=3)
    for name in ("robustness.csv", "sensitivity.csv", "robustness.vi.pdf"):
        assert (tmp_path / "all" / "district" / name).read_bytes() == (tmp_path / "one" / name).read_bytes()
    (tree / "commune" / "inputs" / "self_assessment.csv").write_text("unit_code\n", encoding="utf-8")
    s = robustness(from_dir=str(tree), out=str(tmp_path / "again"), replicates=50, seed=3)
    assert [f["from"] for f in s["failed"]] == [str(tree / "commune")]  # named; the other one still done
    assert (tmp_path / "again" / "district" / "robustness.csv").is_file()


def test_robustness_writes_intervals_and_the_same_seed_gives_the_same_bytes(published_mini, tmp_path):
    from flows.desk import robustness

    robustness(from_dir=str(published_mini), out=str(tmp_path / "a"), replicates=300, seed=7)
    robustness(from_dir=str(published_mini), out=str(tmp_path / "b"), replicates=300, seed=7)
    for name in ("robustness.csv", "sensitivity.csv", "robustness.vi.html", "robustness.en.html"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name
    t = read(tmp_path / "a" / "robustness.csv")
    assert list(t.reset_index().columns[:7]) == ["unit_code", "rank", "rank_p05", "rank_p95", "index_pct",
                                                 "index_p05", "index_p95"]
    assert (t["rank_p05"] <= t["rank"]).all() and (t["rank"] <= t["rank_p95"]).all()
    assert np.allclose(t[["p_A", "p_B", "p_C"]].sum(axis=1), 1.0, atol=0.002)
    # U05 has every point there is: 100 % whatever the weights or the survey sample
    assert t.loc["U05", ["index_p05", "index_p95"]].tolist() == [100.0, 100.0] and t.loc["U05", "p_A"] == 1.0
    assert (tmp_path / "a" / "robustness.vi.pdf").read_bytes()[:5] == b"%PDF-"
    import json

    from pypdf import PdfReader

    published_on = json.loads((published_mini / "manifest.json").read_text(encoding="utf-8"))["published_on"]
    created = PdfReader(tmp_path / "a" / "robustness.vi.pdf").metadata.creation_date
    assert created.date().isoformat() == published_on  # the examined publication's date, not 1970 or today
    for lang in ("vi", "en"):
        assert outside_printable(tmp_path / "a" / f"robustness.{lang}.pdf") == []
        assert ink_outside_printable(tmp_path / "a" / f"robustness.{lang}.pdf") == []
    robustness(from_dir=str(published_mini), out=str(tmp_path / "c"), replicates=300, seed=8)
    assert (tmp_path / "c" / "robustness.csv").read_bytes() != (tmp_path / "a" / "robustness.csv").read_bytes()


def test_identical_answers_within_a_unit_give_a_zero_width_survey_interval(mini, tmp_path):
    edit_csv(mini / "survey_responses.csv",
             lambda d: d.assign(answer=d["answer"].where(d["unit_code"] != "U03", "4")))
    c = compute_folder(mini, tmp_path / "run")
    m = c.checked  # typed tables
    from tasks.compute import score
    from tests.helpers import read_folder

    bundle = read_folder(mini, tmp_path / "again")
    criteria, totals, _ = score(bundle, m)
    reps = rb.replicate(bundle.methodology, criteria, totals, m.answers, replicates=500, seed=1, vary=("survey",))
    table = rb.summarise(bundle.methodology, reps, c.results).set_index("unit_code")
    u03 = table.loc["U03"]
    assert u03["index_p05"] == u03["index_p95"] == u03["index_pct"]
    # U01's three answers differ (1, 0.75, 0.5): its survey points, and so its index, do vary
    assert table.loc["U01", "index_p05"] < table.loc["U01", "index_p95"]


def test_no_variation_reproduces_the_published_ranks(mini, tmp_path):
    c = compute_folder(mini, tmp_path / "run")
    from tasks.compute import score
    from tests.helpers import read_folder

    bundle = read_folder(mini, tmp_path / "again")
    criteria, totals, _ = score(bundle, c.checked)
    reps = rb.replicate(bundle.methodology, criteria, totals, c.checked.answers, replicates=50, seed=1,
                        vary=("weights",), width=0.0)
    table = rb.summarise(bundle.methodology, reps, c.results).set_index("unit_code")
    published = c.results.set_index("unit_code")
    assert (table["rank_p05"] == published["rank"]).all() and (table["rank_p95"] == published["rank"]).all()
    assert (table["index_p05"] == published["index_pct"]).all()


def test_sport_ranks_share_the_smallest_rank_within_groups():
    values = np.array([[7.5, 7.5, 9.0, 1.0, 3.0, 5.0]])
    groups = np.array(["a", "a", "a", "a", "b", "b"])
    assert rb.sport_ranks(values, groups).tolist() == [[2, 2, 1, 4, 2, 1]]


def test_coherence_flags_near_duplicate_and_negative_fields():
    from tasks.methodology import load_methodology

    m = load_methodology(MINI / "methodology.yaml")
    res = pd.DataFrame({"F1_pct": [10, 20, 30, 40], "F2_pct": [40, 30, 20, 10], "index_pct": [11, 19, 31, 41]})
    _, flags = rb.coherence(m, res)
    kinds = {(f["kind"], f["fields"]) for f in flags}
    assert ("near_duplicate", "F1–F2") in kinds and ("negative", "F2") in kinds


def test_whatif_with_the_published_methodology_changes_nothing(published_mini, tmp_path):
    from flows.desk import whatif

    whatif(from_dir=str(published_mini), methodology=str(published_mini / "inputs" / "methodology.yaml"),
           out=str(tmp_path / "same"))
    t = read(tmp_path / "same" / "comparison.csv")
    assert list(t.reset_index().columns[:7]) == ["unit_code", "index_before", "index_after", "rank_before",
                                                 "rank_after", "band_before", "band_after"]
    assert (t["index_before"] == t["index_after"]).all() and (t["rank_before"] == t["rank_after"]).all()


def test_whatif_scores_a_lower_is_better_variant_exactly(published_mini, tmp_path):
    from flows.desk import whatif

    data = yaml.safe_load((MINI / "methodology.yaml").read_text(encoding="utf-8"))
    c = data["fields"][1]["criteria"][1]
    c.pop("linear")
    c.update({"metric": "late_rate", "linear": {"from": 0.1, "to": 0.0}})
    data["id"] = "mini-2024-late"
    variant = tmp_path / "late.yaml"
    variant.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    whatif(from_dir=str(published_mini), methodology=str(variant), out=str(tmp_path / "late"))
    t = read(tmp_path / "late" / "comparison.csv")
    # 2.2 scores the late rate: U03 0/40 late -> 2 (was 1.8875 online): 9.375 of 10 = 93.75 %;
    # U01 4/100 -> 2 x 0.6 = 1.2 (was 1.0): 7.7 -> 77.0 %; U06 1/20 -> 1.0 (was 0): 7.0 -> 70.0 %
    assert t.loc["U03", "index_after"] == 93.75 and t.loc["U01", "index_after"] == 77.0
    assert t.loc["U06", "index_after"] == 70.0 and t.loc["U06", "index_before"] == 60.0
    assert (tmp_path / "late" / "comparison.vi.pdf").is_file()


def test_whatif_names_inputs_the_new_methodology_needs(published_mini, tmp_path):
    from flows.desk import whatif
    from tasks.compute import ValidationFailed

    data = yaml.safe_load((MINI / "methodology.yaml").read_text(encoding="utf-8"))
    data["fields"][0]["criteria"][0] = {"code": "1.1", "name": {"vi": "Kế hoạch", "en": "Plan"}, "max": 1,
                                        "source": "appraisal"}
    data["fields"][0]["criteria"].append({"code": "1.4", "name": {"vi": "Mới", "en": "New"}, "max": 1,
                                          "source": "appraisal"})
    new = tmp_path / "new.yaml"
    new.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    with pytest.raises(ValidationFailed):
        whatif(from_dir=str(published_mini), methodology=str(new), out=str(tmp_path / "new"))
    errors = pd.read_csv(tmp_path / "new" / "validation" / "errors.csv", encoding="utf-8-sig", dtype=str)
    missing = errors[errors["value"] == "1.4"]
    assert len(missing) == 6 and missing["problem"].str.contains("no row for criterion 1.4").all()
