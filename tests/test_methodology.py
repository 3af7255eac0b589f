"""The methodology is validated before any data: each broken rule is named."""

import copy

import pytest
import yaml

from tasks.methodology import MethodologyError, parse_methodology
from tests.conftest import CONFIG, MINI

SHIPPED = sorted((CONFIG / "methodology").glob("*.yaml"))


@pytest.mark.parametrize("path", SHIPPED, ids=[p.stem for p in SHIPPED])
def test_shipped_methodologies_are_valid_and_realistic(path):
    m = parse_methodology(path.read_text(encoding="utf-8"), str(path))
    assert m.max_points == 100 and len(m.fields) == 8
    by_source = {}
    for leaf in m.leaves():
        by_source[leaf.source] = by_source.get(leaf.source, 0) + leaf.max_points
    assert 25 <= by_source["survey"] <= 35, by_source  # "about 30 % from sociological surveys"
    assert by_source["dossier"] > 0 and by_source["appraisal"] > 50
    metrics = {lf.criterion.metric for lf in m.leaves() if lf.source == "dossier"}
    # the 2025 communes are scored on the late rate (lower is better) instead of the on-time rate
    assert metrics == {"late_rate" if "hp-commune" in path.stem else "on_time_rate", "online_rate", "digitized_rate"}
    assert m.deductions is not None and m.year == int(path.stem[-4:])


def _mini() -> dict:
    return yaml.safe_load((MINI / "methodology.yaml").read_text(encoding="utf-8"))


def _crit(d, code):
    def walk(items):
        for c in items:
            if str(c["code"]) == code:
                return c
            found = walk(c.get("criteria", []))
            if found:
                return found
    for f in d["fields"]:
        found = walk(f["criteria"])
        if found:
            return found
    raise KeyError(code)


def _break(mutate) -> str:
    d = copy.deepcopy(_mini())
    mutate(d)
    with pytest.raises(MethodologyError) as exc:
        parse_methodology(yaml.safe_dump(d, allow_unicode=True), "broken.yaml")
    return str(exc.value)


CASES = [
    pytest.param(lambda d: _crit(d, "1.1").update(max=3), "field maxima add up to 11", id="fields-do-not-add-up"),
    pytest.param(lambda d: _crit(d, "1.2").update(max=3), "max is 3 but its sub-criteria add up to 2",
                 id="sub-criteria-do-not-add-up"),
    pytest.param(lambda d: _crit(d, "2.1").update(code="1.1"), "code '1.1' is used twice", id="duplicate-code"),
    pytest.param(lambda d: _crit(d, "2.1")["steps"].reverse(), "steps must descend", id="steps-ascend"),
    pytest.param(lambda d: _crit(d, "2.1")["steps"].pop(), "the last step must start at 0", id="steps-gap"),
    pytest.param(lambda d: _crit(d, "2.2").update(linear={"from": 0.8, "to": 0.2}), "from < to",
                 id="linear-reversed"),
    pytest.param(lambda d: _crit(d, "2.2").pop("linear"), "exactly one of `steps` or `linear`",
                 id="dossier-without-scale"),
    pytest.param(lambda d: d["bands"].reverse(), "highest first", id="bands-ascend"),
    pytest.param(lambda d: d["bands"][-1].update(min=10), "lowest band must start at 0", id="bands-gap"),
    pytest.param(lambda d: _crit(d, "1.1").pop("source"), "needs either `max` and `source`", id="no-source"),
    pytest.param(lambda d: _crit(d, "1.1").update(source="guess"), "1.1", id="unknown-source"),
    pytest.param(lambda d: _crit(d, "1.3").pop("min_respondents"), "min_respondents", id="survey-no-minimum"),
    pytest.param(lambda d: _crit(d, "1.3")["answer_points"].update({5: 2}), "between 0 and 1",
                 id="answer-points-above-one"),
    pytest.param(lambda d: d.update(colour="red"), "colour", id="unknown-key"),
    pytest.param(lambda d: d.update(rank_on="rounded"), "rank_on", id="bad-rank-on"),
]


@pytest.mark.parametrize(("mutate", "message"), CASES)
def test_broken_methodology_is_refused_with_the_rule_it_breaks(mutate, message):
    assert message in _break(mutate)


def test_leaves_carry_field_and_parents():
    m = parse_methodology((MINI / "methodology.yaml").read_text(encoding="utf-8"))
    leaves = {lf.code: lf for lf in m.leaves()}
    assert list(leaves) == ["1.1", "1.2.1", "1.2.2", "1.3", "2.1", "2.2"]
    assert leaves["1.2.2"].parent_codes == ("1.2",) and leaves["2.2"].field_code == "F2"
    assert [f.max_points for f in m.fields] == [6, 4]


@pytest.mark.parametrize(("index", "band"), [
    (90.0, "A"), (90.01, "A"), (89.99, "B"), (80.0, "B"), (79.99, "C"), (0.0, "C"), (100.0, "A")])
def test_band_edges(index, band):
    m = parse_methodology((MINI / "methodology.yaml").read_text(encoding="utf-8"))
    assert m.band_for(index).code == band
