"""Inputs as real offices send them (CONTRACT.md): the methodology decides which files a run needs; the
statistics period and units formed mid-period; survey points delivered per unit; lower-is-better metrics;
files saved by Excel under a Vietnamese locale; fast, plain failures. Every case runs the production
validator (GX suites and the typed checks) on real files written the way Excel writes them."""

from __future__ import annotations

import codecs
import subprocess
import sys
import unicodedata
from pathlib import Path

import pandas as pd
import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from expectations.suites import validate
from tasks.compute import ValidationFailed, rank, score
from tasks.methodology import MethodologyError, parse_methodology
from tasks.ranking import published_results
from tasks.scoring import points_on_scale
from tests.conftest import REPO
from tests.helpers import compute_folder, edit_csv, read_folder


def run_checked(folder: Path, scratch: Path):
    """validate (the flow's validator) → score → rank → results.csv, as `parindex run` computes them."""
    bundle = read_folder(folder, scratch)
    checked = validate(bundle)
    _, totals, _ = score(bundle, checked)
    return checked, published_results(bundle.methodology, rank(bundle, checked, totals))


def problems_of(folder: Path, scratch: Path) -> pd.DataFrame:
    with pytest.raises(ValidationFailed) as exc:
        validate(read_folder(folder, scratch))
    return exc.value.checked.problems_frame()


def edit_yaml(path: Path, fn) -> None:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    path.write_text(yaml.safe_dump(fn(data), allow_unicode=True, sort_keys=False), encoding="utf-8")


def criterion(data: dict, code: str) -> dict:
    for f in data["fields"]:
        for c in f["criteria"]:
            if c["code"] == code:
                return c
    raise KeyError(code)


# ---------------------------------------------------------------------------- the files a run needs


def appraisal_only(data: dict) -> dict:
    """The mini methodology with every point appraised: 1.3 (survey) and F2 (dossiers) become appraisal
    criteria of the same maxima — the shape of the ministries' PAR INDEX and of PAPI."""
    c13 = criterion(data, "1.3")
    for k in ("questions", "answer_points", "min_respondents"):
        c13.pop(k)
    c13["source"] = "appraisal"
    data["fields"][1]["criteria"] = [{"code": "2.1", "name": {"vi": "Thủ tục", "en": "Procedures"}, "max": 4,
                                      "source": "appraisal"}]
    return data


def test_an_appraisal_only_folder_publishes_and_extra_files_are_ignored_with_a_warning(mini, tmp_path):
    edit_yaml(mini / "methodology.yaml", appraisal_only)
    sa = pd.read_csv(mini / "self_assessment.csv", dtype=str, keep_default_na=False)
    extra = pd.DataFrame([{"unit_code": u, "criterion_code": c, "self_points": p, "appraised_points": p,
                           "evidence": "", "note": ""} for u in sorted(set(sa["unit_code"]))
                          for c, p in (("1.3", "1.5"), ("2.1", "3"))])
    pd.concat([sa, extra]).to_csv(mini / "self_assessment.csv", index=False)
    only = tmp_path / "only"
    only.mkdir()
    for name in ("index.yaml", "units.csv", "methodology.yaml", "self_assessment.csv", "deductions.csv"):
        (only / name).write_bytes((mini / name).read_bytes())
    edit_yaml(only / "index.yaml", lambda d: {k: v for k, v in d.items() if k != "previous_results"})
    _, results = run_checked(only, tmp_path / "a")
    # U01: appraisal 3.5 + 1.5 + 3 = 8 of 10
    assert results.set_index("unit_code").loc["U01", "total_points"] == 8.0
    # the same folder with the survey and dossier files left in: same results, each file named in a warning
    checked, again = run_checked(mini, tmp_path / "b")
    same = ["unit_code", "total_points", "index_pct", "rank", "band", "F1_points", "F2_points", "F2_rank"]
    assert again[same].to_csv(index=False) == results[same].to_csv(index=False)
    warned = {p.file for p in checked.problems if p.check == "inputs:unneeded"}
    assert warned == {"survey_responses.csv", "dossier_stats.csv"}


def test_a_needed_file_that_is_missing_is_named_with_the_criterion_that_needs_it(mini, tmp_path):
    (mini / "survey_responses.csv").unlink()
    problems = problems_of(mini, tmp_path / "run")
    hit = problems[problems["file"] == "survey_responses.csv"]
    assert len(hit) == 1 and "1.3" in hit.iloc[0]["problem"] and "1.3" in hit.iloc[0]["problem_vi"]


# ----------------------------------------------------------------------- the statistics period


def keep_months(folder: Path, months: set[str]) -> None:
    edit_csv(folder / "dossier_stats.csv", lambda d: d[d["period"].isin(months)])


def test_statistics_for_the_declared_two_months_publish(mini, tmp_path):
    edit_yaml(mini / "index.yaml", lambda d: {**d, "period": {"from": "2024-01", "to": "2024-02"}})
    keep_months(mini, {"2024-01", "2024-02", "2024-03"})  # March is outside the period: a warning
    checked, results = run_checked(mini, tmp_path / "run")
    outside = [p for p in checked.problems if p.column == "period"]
    assert len(outside) == 6 and all(p.severity == "warning" and p.value == "2024-03" for p in outside)
    assert set(checked.stats["period"]) == {"2024-01", "2024-02"}  # March is not counted
    assert results.set_index("unit_code")["total_points"]["U01"] == 7.5  # every dossier is in January


def test_a_missing_month_inside_the_period_is_named(mini, tmp_path):
    edit_yaml(mini / "index.yaml", lambda d: {**d, "period": {"from": "2024-01", "to": "2024-02"}})
    keep_months(mini, {"2024-01", "2024-02"})
    edit_csv(mini / "dossier_stats.csv", lambda d: d[~((d["unit_code"] == "U02") & (d["period"] == "2024-02"))])
    problems = problems_of(mini, tmp_path / "run")
    errors = problems[problems["severity"] == "error"]
    assert len(errors) == 1
    e = errors.iloc[0]
    assert e["unit_code"] == "U02" and e["value"] == "2024-02" and "2024-02" in e["problem_vi"]


def test_a_unit_formed_mid_period_needs_statistics_from_its_active_from_only(mini, tmp_path):
    def formed_in_july(d):  # U03's dossiers come from July, when it was formed (the 2025 mergers' shape)
        u03 = d["unit_code"] == "U03"
        d.loc[u03 & (d["period"] == "2024-07"), d.columns[2:]] = d.loc[u03 & (d["period"] == "2024-01"),
                                                                      d.columns[2:]].to_numpy()
        return d[~(u03 & (d["period"] < "2024-07"))]
    edit_csv(mini / "dossier_stats.csv", formed_in_july)
    problems = problems_of(mini, tmp_path / "without")  # without active_from the six months are named
    e = problems[problems["severity"] == "error"].iloc[0]
    assert e["unit_code"] == "U03" and e["value"] == "2024-01, 2024-02, 2024-03, 2024-04, 2024-05, 2024-06"
    edit_csv(mini / "units.csv", lambda d: d.assign(active_from=d["unit_code"].map({"U03": "2024-07"}).fillna("")))
    checked, results = run_checked(mini, tmp_path / "with")
    assert results.set_index("unit_code")["total_points"]["U03"] == 9.26 and not checked.errors


# ---------------------------------------------------------------------- survey points per unit


def test_survey_points_delivered_per_unit_give_the_same_totals_and_ranks(mini, tmp_path):
    from_answers = compute_folder(mini, tmp_path / "answers")
    survey = from_answers.criteria[from_answers.criteria["source"] == "survey"]
    # what a survey institute delivers: the points per unit and criterion, at the precision it computed
    survey[["unit_code", "criterion_code", "points"]].to_csv(mini / "survey_scores.csv", index=False)
    (mini / "survey_responses.csv").unlink()
    edit_yaml(mini / "methodology.yaml",
              lambda d: (criterion(d, "1.3").pop("questions"), criterion(d, "1.3").pop("answer_points"),
                         criterion(d, "1.3").pop("min_respondents"), d)[-1])
    _, results = run_checked(mini, tmp_path / "scores")
    assert results.equals(from_answers.results)


def test_survey_points_above_the_maximum_or_missing_are_errors(mini, tmp_path):
    edit_yaml(mini / "methodology.yaml",
              lambda d: (criterion(d, "1.3").pop("questions"), criterion(d, "1.3").pop("answer_points"),
                         criterion(d, "1.3").pop("min_respondents"), d)[-1])
    rows = [f"U0{i},1.3,1.5" for i in range(1, 5)] + ["U05,1.3,2.5", "U01,1.3,1"]  # U06 missing, U01 twice
    (mini / "survey_scores.csv").write_text("unit_code,criterion_code,points\n" + "\n".join(rows) + "\n",
                                            encoding="utf-8")
    problems = problems_of(mini, tmp_path / "run")
    errors = problems[problems["severity"] == "error"].set_index("unit_code")
    assert len(errors) == 3
    assert "thiếu dòng" in errors.loc["U06", "problem_vi"]
    assert "bị lặp" in errors.loc["U01", "problem_vi"]
    assert "vượt điểm tối đa 2 của tiêu chí 1.3" in errors.loc["U05", "problem_vi"]


# -------------------------------------------------------------------------- lower is better


def late_rate_instead_of_online(scale: dict):
    def fn(data):
        c = criterion(data, "2.2")
        for k in ("linear", "steps"):
            c.pop(k, None)
        c.update({"metric": "late_rate", **scale, "name": {"vi": "Trễ hạn", "en": "Late"}})
        return data
    return fn


def test_a_late_rate_criterion_on_a_linear_scale_scores_by_hand(mini, tmp_path):
    edit_yaml(mini / "methodology.yaml", late_rate_instead_of_online({"linear": {"from": 0.1, "to": 0.0}}))
    _, results = run_checked(mini, tmp_path / "run")
    r = results.set_index("unit_code")
    # 2.2 is now the late rate, 0 points at >= 10 % late, 2 points at 0 %, linear between:
    # U01: 4/100 = 0.04 -> 2 x (0.04 - 0.1) / (0 - 0.1) = 1.2 ; total 7.5 - 1.0 (online) + 1.2 = 7.7
    # U02: 8/200 = 0.04 -> 1.2 ; 7.7 (ties U01: both rank 2)
    # U03: 0/40 -> 2 ; 9.2625 - 1.8875 + 2 = 9.375 -> index 93.75 (published 93.75), rank 1
    # U04: 11/100 = 0.11 >= 0.1 -> 0 ; 1.375 -> 1.38, rank 4
    # U05: 0/50 -> 2 ; 10 ; U06: 1/20 = 0.05 -> 1.0 ; 6 - 0 + 1 = 7
    assert r["total_points"].to_dict() == {"U01": 7.7, "U02": 7.7, "U03": 9.38, "U04": 1.38, "U05": 10.0,
                                           "U06": 7.0}
    assert r["index_pct"]["U03"] == 93.75
    assert r["rank"].to_dict() == {"U01": 2, "U02": 2, "U03": 1, "U04": 4, "U05": 1, "U06": 2}


def test_a_late_rate_criterion_on_ascending_max_steps_scores_by_hand(mini, tmp_path):
    steps = [{"max": 0.0, "points": 2}, {"max": 0.05, "points": 1}, {"max": 1.0, "points": 0}]
    edit_yaml(mini / "methodology.yaml", late_rate_instead_of_online({"steps": steps}))
    bundle = read_folder(mini, tmp_path / "run")
    criteria, _, _ = score(bundle, validate(bundle))
    late = criteria[criteria["criterion_code"] == "2.2"].set_index("unit_code")["points"].to_dict()
    # the first step whose max >= the rate: U01 0.04 -> 1; U06 exactly 0.05 -> 1; U03, U05 0 -> 2; U04 0.11 -> 0
    assert late == {"U01": 1.0, "U02": 1.0, "U03": 2.0, "U04": 0.0, "U05": 2.0, "U06": 1.0}


@pytest.mark.parametrize(("scale", "metric", "says"), [
    ({"linear": {"from": 0.0, "to": 0.1}}, "late_rate", "better when lower"),
    ({"steps": [{"min": 0.1, "points": 0}, {"min": 0, "points": 2}]}, "late_rate", "ascending `max`"),
    ({"linear": {"from": 0.8, "to": 0.2}}, "online_rate", "better when higher"),
    ({"steps": [{"max": 0.5, "points": 2}, {"max": 1, "points": 0}]}, "online_rate", "descending `min`"),
    ({"steps": [{"max": 0.5, "points": 2}, {"max": 0.2, "points": 0}]}, "late_rate", "ascend strictly"),
    ({"steps": [{"max": 0.5, "points": 2}, {"max": 0.9, "points": 0}]}, "late_rate", "reach 1"),
    ({"steps": [{"max": 0.1, "points": 0}, {"max": 1.0, "points": 2}]}, "late_rate", "must not rise"),
    ({"steps": [{"max": 0.1, "min": 0, "points": 2}]}, "late_rate", "either `min`"),
    ({"linear": {"from": 0.1, "to": 0.0}}, "complaints_rate", "one of on_time_rate"),
])
def test_a_scale_that_runs_against_its_metric_is_refused(scale, metric, says):
    text = (REPO / "tests" / "fixtures" / "mini" / "methodology.yaml").read_text(encoding="utf-8")
    data = yaml.safe_load(text)
    c = criterion(data, "2.2")
    c.pop("linear")
    c.update({"metric": metric, **scale})
    with pytest.raises(MethodologyError) as exc:
        parse_methodology(yaml.safe_dump(data, allow_unicode=True))
    assert any(says in p and "2.2" in p for p in exc.value.problems), exc.value.problems


def _leaf(metric: str, scale: dict):
    data = {"id": "p", "year": 2024, "level": "x", "title": {"vi": "a", "en": "a"}, "max_points": 2,
            "bands": [{"min": 0, "code": "C", "vi": "K", "en": "F"}],
            "fields": [{"code": "F", "name": {"vi": "a", "en": "a"}, "criteria": [
                {"code": "1", "name": {"vi": "a", "en": "a"}, "max": 2, "source": "dossier", "metric": metric,
                 **scale}]}]}
    return parse_methodology(yaml.safe_dump(data)).leaves()[0].criterion


rates = st.floats(0, 1, allow_nan=False)


@given(st.tuples(rates, rates).filter(lambda p: p[0] - p[1] > 1e-3), rates, rates)
def test_lower_is_better_linear_mirrors_higher_is_better(bounds, r1, r2):
    hi, lo = bounds  # from > to
    late = _leaf("late_rate", {"linear": {"from": hi, "to": lo}})
    on_time = _leaf("on_time_rate", {"linear": {"from": 1 - hi, "to": 1 - lo}})
    p1, p2 = points_on_scale(late, r1), points_on_scale(late, r2)
    assert 0 <= p1 <= 2 and (p1 >= p2 if r1 <= r2 else p1 <= p2)  # never more points for more lateness
    assert p1 == pytest.approx(points_on_scale(on_time, 1 - r1), abs=1e-9)


@given(st.lists(rates, min_size=1, max_size=4, unique=True), rates, rates)
def test_lower_is_better_steps_never_reward_a_higher_rate(cuts, r1, r2):
    maxes = sorted(cuts[:-1]) + [1.0] if cuts[-1] != 1.0 else sorted(cuts)
    maxes = sorted(set(maxes))
    steps = [{"max": m, "points": 2 * (len(maxes) - 1 - i) / max(1, len(maxes) - 1)} for i, m in enumerate(maxes)]
    c = _leaf("late_rate", {"steps": steps})
    p1, p2 = points_on_scale(c, r1), points_on_scale(c, r2)
    assert p1 in {s["points"] for s in steps} and (p1 >= p2 if r1 <= r2 else p1 <= p2)


# ----------------------------------------------------------------------------- Excel's files


CODES = ("unit_code", "respondent_id", "criterion_code", "question_code")


def to_semicolon_decimal_comma(folder: Path) -> None:
    """What Excel writes as 'CSV' under a Vietnamese locale: `;` between cells, a comma before decimals."""
    for path in folder.glob("*.csv"):
        df = pd.read_csv(path, dtype=str, keep_default_na=False)
        for col in df.columns:
            if col not in CODES:  # codes such as 1.2.1 stay text; numbers get the locale's decimal comma
                df[col] = df[col].map(lambda v: v.replace(".", ",") if v.replace(".", "", 1).isdigit() else v)
        path.write_text(df.to_csv(index=False, sep=";"), encoding="utf-8")


def to_utf16_tab(folder: Path) -> None:
    """Excel's "Unicode text": UTF-16 little-endian with its BOM, tab-separated."""
    for path in folder.glob("*.csv"):
        df = pd.read_csv(path, dtype=str, keep_default_na=False)
        path.write_bytes(codecs.BOM_UTF16_LE + df.to_csv(index=False, sep="\t").encode("utf-16-le"))


def to_xlsx_with_date_cells(folder: Path) -> None:
    """Workbooks as a clerk types them: numbers as numbers, `2024-03` turned into a date cell by Excel."""
    for path in folder.glob("*.csv"):
        if path.name == "previous_results.csv":  # named by index.yaml as it is
            continue
        df = pd.read_csv(path, dtype=str, keep_default_na=False)
        for col in df.columns:
            if col == "period":
                df[col] = pd.to_datetime(df[col] + "-01")
            elif col not in CODES:
                nums = pd.to_numeric(df[col], errors="coerce")
                if nums.notna().all() and len(df):
                    df[col] = nums
        df.to_excel(path.with_suffix(".xlsx"), index=False)
        path.unlink()


@pytest.mark.parametrize("convert", [to_semicolon_decimal_comma, to_utf16_tab, to_xlsx_with_date_cells])
def test_files_saved_by_excel_give_byte_identical_results(mini, tmp_path, convert):
    _, plain = run_checked(mini, tmp_path / "plain")
    convert(mini)
    _, saved = run_checked(mini, tmp_path / "excel")
    assert saved.to_csv(index=False) == plain.to_csv(index=False)


def test_windows_1258_is_refused_with_how_to_save_it(mini, tmp_path):
    text = (mini / "units.csv").read_text(encoding="utf-8")
    # Windows-1258 has ê, ơ, ư… as single bytes (0xEA, 0xF5, 0xFD) that are not UTF-8
    (mini / "units.csv").write_bytes(unicodedata.normalize("NFD", text).encode("cp1258", errors="replace"))
    from tasks.ingest import InputError

    with pytest.raises(InputError) as exc:
        read_folder(mini, tmp_path / "run")
    assert "CSV UTF-8" in exc.value.problem and "Windows-1258" in exc.value.vi


def test_a_leading_zero_dropped_by_excel_is_pointed_out_in_every_file(mini, tmp_path):
    for path in mini.glob("*.csv"):
        path.write_text(path.read_text(encoding="utf-8").replace("U01", "0288"), encoding="utf-8")
    sa = pd.read_csv(mini / "self_assessment.csv", dtype=str, keep_default_na=False)
    sa.assign(unit_code=sa["unit_code"].map(lambda c: 288 if c == "0288" else c)).to_excel(
        mini / "self_assessment.xlsx", index=False)
    (mini / "self_assessment.csv").unlink()
    edit_csv(mini / "previous_results.csv", lambda d: d.assign(unit_code=d["unit_code"].replace("0288", "288")))
    problems = problems_of(mini, tmp_path / "run")
    sa_rows = problems[(problems["file"] == "self_assessment.xlsx") & (problems["column"] == "unit_code")]
    assert len(sa_rows) == 3 and sa_rows["value"].eq("288").all()  # U01's three appraisal rows
    assert sa_rows["problem"].str.contains("did Excel drop a leading zero\\? 0288 exists").all()
    assert sa_rows["problem_vi"].str.contains("0288").all()
    prev = problems[problems["file"] == "previous_results.csv"]
    assert len(prev) == 1 and "0288" in prev.iloc[0]["problem"]


def test_previous_results_matching_no_unit_is_a_warning(mini, tmp_path):
    edit_csv(mini / "previous_results.csv", lambda d: d.assign(unit_code="Z" + d["unit_code"]))
    checked, results = run_checked(mini, tmp_path / "run")
    assert results["prev_rank"].isna().all()
    assert any("matches none of the units" in p.problem and p.severity == "warning" for p in checked.problems)


# ------------------------------------------------------------------------- fast, plain failures


def test_a_wrong_inputs_path_fails_before_prefect_starts(tmp_path):
    code = ("import sys; from flows.cli import main; "
            f"rc = main(['run', '--inputs', {str(tmp_path / 'nope')!r}, '--out', {str(tmp_path / 'out')!r}]); "
            "assert 'prefect' not in sys.modules, 'Prefect was imported'; sys.exit(rc)")
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True)
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr and "does not exist" in done.stderr
    assert "không tồn tại" in done.stderr
    errors = pd.read_csv(tmp_path / "out" / "validation" / "errors.csv", encoding="utf-8-sig")
    assert errors.iloc[0]["file"].endswith("nope")
