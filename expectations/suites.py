"""Great Expectations 1.x suites for the input tables, built from the methodology (one source for every code
and maximum), run in an ephemeral context; each failing row becomes a problem row of validation/errors.csv
with a Vietnamese and an English sentence.

Row-level rules live here; tasks/checks.py types the tables and keeps the rules GX cannot say well (months
missing per unit, duplicates across columns, zero denominators). `validate_with_gx` returns problems in
the same shape as tasks.checks, so the flow merges both by location (file, row, column).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import pandas as pd

from tasks.problems import PROBLEMS_PER_COLUMN, cap_problems
from tasks.schema import COUNT_COLUMNS, METRICS

NUMBER = r"^-?\d+(?:\.\d+)?$"
WHOLE = r"^\d+$"
PERIOD = r"^\d{4}-(?:0[1-9]|1[0-2])$"


@dataclass(frozen=True)
class Rule:
    """One expectation and what its failure means to the unit that must fix it."""

    table: str
    column: str  # the column the user must look at
    expectation: object  # a gx.expectations.* instance
    en: str
    vi: str
    severity: str = "error"


def _gx():
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
    import logging

    import great_expectations as gx

    for name in ["great_expectations", *[n for n in logging.root.manager.loggerDict
                                          if n.startswith("great_expectations.")]]:
        logging.getLogger(name).setLevel(logging.WARNING)  # GX sets INFO on its own loggers

    return gx


def build_rules(m, scored_units: set[str]) -> list[Rule]:
    """Every row-level rule of the input tables, with the methodology's codes and maxima as parameters."""
    E = _gx().expectations
    leaves = m.leaves()
    appraisal = sorted(lf.code for lf in leaves if lf.source == "appraisal")
    asked = [lf for lf in leaves if lf.source == "survey" and lf.criterion.questions]
    questions = sorted({q for lf in asked for q in lf.criterion.questions})
    answers = sorted({str(a) for lf in asked for a in lf.criterion.answer_points} | {""})
    codes = sorted({lf.code for lf in leaves} | {f.code for f in m.fields} | {""})
    units = sorted(scored_units)
    r = []
    for col in ("unit_code", "unit_name", "level", "group"):
        r.append(Rule("units", col, E.ExpectColumnValuesToNotMatchRegex(column=col, regex=r"^$"),
                      "is empty; every unit needs a code, a name, a level and a group",
                      "bị trống; mỗi đơn vị phải có mã, tên, cấp và nhóm xếp hạng"))
    r.append(Rule("units", "unit_code", E.ExpectColumnValuesToBeUnique(column="unit_code"),
                  "appears twice: a unit has one row (and so one group)",
                  "bị lặp: mỗi đơn vị chỉ có một dòng (và một nhóm xếp hạng)"))
    for table in ("self_assessment", "survey_responses", "dossier_stats", "deductions"):
        r.append(Rule(table, "unit_code", E.ExpectColumnValuesToBeInSet(column="unit_code", value_set=units),
                      f"is not a unit of level {m.level!r} in units.csv (the registry of this run)",
                      f"không phải mã đơn vị cấp {m.level!r} trong units.csv (danh mục đơn vị của lần tính này)"))
    r += [
        Rule("self_assessment", "criterion_code",
             E.ExpectColumnValuesToBeInSet(column="criterion_code", value_set=appraisal),
             f"is not an appraisal criterion of {m.id}", f"không phải tiêu chí thẩm định của bộ tiêu chí {m.id}"),
        Rule("self_assessment", "appraised_points",
             E.ExpectColumnValuesToMatchRegex(column="appraised_points", regex=NUMBER),
             "is not a number (use '.' as the decimal separator); the council's points are required",
             "không phải là số (dùng dấu '.' để ngăn cách phần thập phân); bắt buộc có điểm thẩm định"),
        Rule("self_assessment", "self_points",
             E.ExpectColumnValuesToMatchRegex(column="self_points", regex="(?:" + NUMBER + ")|^$"),
             "is not a number (use '.' as the decimal separator)",
             "không phải là số (dùng dấu '.' để ngăn cách phần thập phân)"),
        Rule("self_assessment", "appraised_points",
             E.ExpectColumnPairValuesAToBeGreaterThanB(column_A="_max", column_B="_appraised", or_equal=True,
                                                        ignore_row_if="either_value_is_missing"),
             "is above the criterion's maximum", "vượt điểm tối đa của tiêu chí"),
        Rule("self_assessment", "self_points",
             E.ExpectColumnPairValuesAToBeGreaterThanB(column_A="_max", column_B="_self", or_equal=True,
                                                        ignore_row_if="either_value_is_missing"),
             "is above the criterion's maximum", "vượt điểm tối đa của tiêu chí"),
        Rule("survey_responses", "answer", E.ExpectColumnValuesToBeInSet(column="answer", value_set=answers),
             f"is not on the answer scale ({', '.join(a for a in answers if a)}, or empty for no answer)",
             f"không thuộc thang trả lời ({', '.join(a for a in answers if a)}, hoặc để trống nếu không trả lời)"),
        Rule("survey_responses", "question_code",
             E.ExpectColumnValuesToBeInSet(column="question_code", value_set=questions),
             f"is not asked by any survey criterion of {m.id}; the answer is ignored",
             f"không thuộc câu hỏi nào của bộ tiêu chí {m.id}; câu trả lời không được tính", "warning"),
        Rule("survey_responses", "respondent_id",
             E.ExpectColumnValuesToNotMatchRegex(column="respondent_id", regex=r"^$"),
             "is empty", "bị trống"),
        Rule("dossier_stats", "period", E.ExpectColumnValuesToMatchRegex(column="period", regex=PERIOD),
             "must be a month written YYYY-MM, e.g. 2024-03", "phải là tháng dạng YYYY-MM, ví dụ 2024-03"),
        Rule("deductions", "points", E.ExpectColumnValuesToMatchRegex(column="points", regex=r"^\d+(?:\.\d+)?$"),
             "must be a number of points of at least 0", "phải là số điểm không âm"),
        Rule("deductions", "criterion_code", E.ExpectColumnValuesToBeInSet(column="criterion_code", value_set=codes),
             "is not a criterion or field code of the methodology", "không phải mã tiêu chí hoặc lĩnh vực của bộ tiêu chí"),
    ]
    for col in COUNT_COLUMNS:
        r.append(Rule("dossier_stats", col, E.ExpectColumnValuesToMatchRegex(column=col, regex=WHOLE),
                      "must be a whole number of dossiers, at least 0", "phải là số hồ sơ nguyên, không âm"))
    for metric in METRICS.values():  # a share cannot exceed its whole
        a, b = metric.denominator, metric.numerator
        r.append(Rule("dossier_stats", b, E.ExpectColumnPairValuesAToBeGreaterThanB(
            column_A=f"_{a}", column_B=f"_{b}", or_equal=True, ignore_row_if="either_value_is_missing"),
            f"is larger than {a}: {b} cannot exceed {a}", f"lớn hơn {a}: {b} không thể vượt quá {a}"))
    # corrections after publication (rerun): the same codes and maxima as the inputs they correct
    r += [
        Rule("corrections", "unit_code", E.ExpectColumnValuesToBeInSet(column="unit_code", value_set=units),
             f"is not a unit of level {m.level!r} in the published run",
             f"không phải đơn vị cấp {m.level!r} trong lần công bố"),
        Rule("corrections", "column", E.ExpectColumnValuesToBeInSet(
            column="column", value_set=["appraised_points", "self_points", "points"]),
            "must be appraised_points or self_points (self-assessment) or points (deductions)",
            "phải là appraised_points hoặc self_points (tự đánh giá) hoặc points (điểm trừ)"),
        Rule("corrections", "new_value", E.ExpectColumnValuesToMatchRegex(column="new_value", regex=r"^\d+(?:\.\d+)?$"),
             "must be a number of points of at least 0 (use '.' as the decimal separator)",
             "phải là số điểm không âm (dùng dấu '.' để ngăn cách phần thập phân)"),
        Rule("corrections", "criterion_code", E.ExpectColumnValuesToBeInSet(column="criterion_code", value_set=codes),
             "is not a criterion or field code of the methodology",
             "không phải mã tiêu chí hoặc lĩnh vực của bộ tiêu chí"),
        Rule("corrections", "new_value", E.ExpectColumnPairValuesAToBeGreaterThanB(
            column_A="_max", column_B="_value", or_equal=True, ignore_row_if="either_value_is_missing"),
            "is above the criterion's maximum", "vượt điểm tối đa của tiêu chí"),
    ]
    # cross-table, on derived frames: every unit has every appraisal criterion; enough respondents
    r.append(Rule("coverage", "criterion_code", E.ExpectColumnValuesToBeInSet(column="present", value_set=[True]),
                  "has no row: the unit has no appraised points for this criterion",
                  "không có dòng nào: đơn vị chưa có điểm thẩm định của tiêu chí này"))
    r.append(Rule("respondents", "question_code", E.ExpectColumnPairValuesAToBeGreaterThanB(
        column_A="respondents", column_B="needed", or_equal=True),
        "too few respondents answered the criterion's questions", "không đủ số người trả lời các câu hỏi của tiêu chí"))
    return r


def _derived(m, tables: dict[str, pd.DataFrame], scored_units: list[str]) -> dict[str, pd.DataFrame]:
    """The frames the suites read: input tables with numeric helper columns, plus the cross-table frames."""
    leaves = {lf.code: lf for lf in m.leaves()}
    out = {}
    if "units" in tables:
        out["units"] = tables["units"]
    if "self_assessment" in tables:
        sa = tables["self_assessment"]
        out["self_assessment"] = sa.assign(
            _max=sa["criterion_code"].map(lambda c: leaves[c].max_points if c in leaves else None).astype(float),
            _appraised=pd.to_numeric(sa["appraised_points"], errors="coerce"),
            _self=pd.to_numeric(sa["self_points"], errors="coerce"))
        have = set(zip(sa["unit_code"], sa["criterion_code"], strict=True))
        wanted = [c for c, lf in leaves.items() if lf.source == "appraisal"]
        cov = pd.DataFrame([{"unit_code": u, "criterion_code": c, "present": (u, c) in have, "_row": 0}
                            for u in scored_units for c in wanted])
        out["coverage"] = cov if len(cov) else pd.DataFrame(columns=["unit_code", "criterion_code", "present", "_row"])
    if "survey_responses" in tables:
        sv = tables["survey_responses"]
        out["survey_responses"] = sv
        answered = sv[sv["answer"] != ""]
        rows = []
        for lf in leaves.values():
            if lf.source != "survey" or not lf.criterion.questions:
                continue
            c = lf.criterion
            n = answered[answered["question_code"].isin(c.questions)].groupby("unit_code")["respondent_id"].nunique()
            for u in scored_units:
                rows.append({"unit_code": u, "question_code": ",".join(c.questions), "criterion_code": c.code,
                             "respondents": int(n.get(u, 0)), "needed": int(c.min_respondents), "_row": 0})
        out["respondents"] = pd.DataFrame(rows, columns=["unit_code", "question_code", "criterion_code",
                                                         "respondents", "needed", "_row"])
    if "dossier_stats" in tables:
        st = tables["dossier_stats"]
        nums = {f"_{c}": pd.to_numeric(st[c], errors="coerce") for c in COUNT_COLUMNS}
        out["dossier_stats"] = st.assign(**nums)
    if "deductions" in tables:
        out["deductions"] = tables["deductions"]
    if "corrections" in tables:
        co = tables["corrections"]
        points = co["column"].isin(["appraised_points", "self_points"])
        out["corrections"] = co.assign(
            _max=co["criterion_code"].map(lambda c: leaves[c].max_points if c in leaves else None)
            .astype(float).where(points),
            _value=pd.to_numeric(co["new_value"], errors="coerce"))
    return out


def validate_with_gx(m, tables: dict[str, tuple[str, pd.DataFrame]], scored_units: list[str]) -> list[dict]:
    """Run every suite on its table (name -> (file name, text frame with `_row`)); return problem rows."""
    gx = _gx()
    files = {name: file for name, (file, _) in tables.items()}
    files.update({"coverage": files.get("self_assessment", "self_assessment.csv"),
                  "respondents": files.get("survey_responses", "survey_responses.csv")})
    frames = _derived(m, {name: df for name, (_, df) in tables.items()}, scored_units)
    rules = build_rules(m, set(scored_units))
    ctx = gx.get_context(mode="ephemeral")
    from great_expectations.data_context.types.base import ProgressBarsConfig

    ctx.variables.progress_bars = ProgressBarsConfig(globally=False)  # no "Calculating Metrics" bars in logs
    source = ctx.data_sources.add_pandas("parindex")
    problems: list[dict] = []
    for name, frame in frames.items():
        mine = [r for r in rules if r.table == name and _columns_present(r, frame)]
        if not mine or frame.empty:
            continue
        suite = ctx.suites.add(gx.ExpectationSuite(name=name, expectations=[r.expectation for r in mine]))
        batch = source.add_dataframe_asset(name).add_batch_definition_whole_dataframe("all").get_batch(
            batch_parameters={"dataframe": frame.reset_index(drop=True)})
        index_cols = ["_row", "unit_code"] + [c for c in ("criterion_code", "question_code") if c in frame]
        # SUMMARY with the first PROBLEMS_PER_COLUMN failing rows, not COMPLETE: a million junk rows cost GX a
        # count, not a million-row index list (the typed checks count and keep the same rows)
        result = batch.validate(suite, result_format={"result_format": "SUMMARY",
                                                      "partial_unexpected_count": PROBLEMS_PER_COLUMN,
                                                      "unexpected_index_column_names": index_cols,
                                                      "return_unexpected_index_query": False})
        for rule, res in zip(mine, result.results, strict=True):
            if res.success:
                continue
            for hit in (res.result.get("partial_unexpected_index_list") or
                        res.result.get("unexpected_index_list") or []):
                row = int(hit.get("_row") or 0)
                value = (hit.get(rule.column) if rule.column in hit else
                         frame.loc[frame["_row"] == row, rule.column].iloc[0] if row and rule.column in frame else "")
                if name == "coverage":
                    value = hit.get("criterion_code", "")
                elif name == "respondents":
                    value = hit.get("question_code", value)
                problems.append({"file": files[name], "row": row or None, "unit_code": hit.get("unit_code", ""),
                                 "column": rule.column, "value": "" if value is None else str(value),
                                 "problem": rule.en, "problem_vi": rule.vi, "severity": rule.severity,
                                 "check": f"gx:{name}:{res.expectation_config.type}"})
    return problems


def _columns_present(rule: Rule, frame: pd.DataFrame) -> bool:
    kw = rule.expectation.model_dump() if hasattr(rule.expectation, "model_dump") else {}
    needed = [kw.get(k) for k in ("column", "column_A", "column_B") if kw.get(k)]
    return all(c in frame.columns for c in needed)


GX_TABLES = ("units", "self_assessment", "survey_responses", "dossier_stats", "deductions")  # + corrections


def merge_problems(gx_rows: list[dict], checks: list[dict]) -> list[dict]:
    """One problem per place (file, row, unit, column), with the most specific message: where the typing checks
    (tasks/checks.py) and a GX rule both fired, the row keeps the checks' sentences (they name the criterion,
    its maximum, the scale) and the GX rule's name in `check`; GX rows stand alone where the checks found
    nothing. The order is the order a person fixes them in (file, then row; problems about what is missing,
    which have no row, after the rows of their file)."""
    place = lambda p: (p["file"], p["row"], p["unit_code"], p["column"])  # noqa: E731
    gx_at = {}
    for p in gx_rows:
        gx_at.setdefault(place(p), p)
    merged, seen = [], set()
    for p in checks:
        key = place(p)
        if key in seen:
            continue
        seen.add(key)
        merged.append({**p, "check": gx_at[key]["check"]} if key in gx_at else p)
    merged += [p for p in gx_rows if place(p) not in seen and not seen.add(place(p))]
    merged = cap_problems(merged)
    return sorted(merged, key=lambda p: (p["file"], not p["row"], p["row"] or 0, p["unit_code"], p["column"]))


def gx_problems(bundle, flooded: set[str] | None = None) -> list[dict]:
    """The GX suites' problem rows for a read input bundle (the units the methodology scores come from units).
    A file the typed checks already refuse by the hundred (`flooded`: files with a capped problem list) is not
    given to GX: the run fails on it anyway, its capped list is complete as it is, and GX would spend minutes
    on a million junk rows."""
    from tasks.checks import check_inputs

    if flooded is None:
        flooded = {p["file"] for p in check_inputs(bundle).problems if p["check"] == "capped"}
    m = bundle.methodology
    units = bundle.tables["units"].frame
    scored = sorted(set(units.loc[units["level"] == m.level, "unit_code"]) - {""})
    tables = {name: (t.file, t.frame) for name, t in bundle.tables.items()
              if name in GX_TABLES and t.file not in flooded}
    if "dossier_stats" in tables and bundle.dossier_source == "dossiers":
        del tables["dossier_stats"]  # aggregated by DuckDB: its rows are not rows of the user's file
    return validate_with_gx(m, tables, scored)


def check_with_gx(bundle, raise_on_error: bool = True, gx_rows: list[dict] | None = None):
    """tasks.checks (typing, cross-table rules) and the GX suites together; raises ValidationFailed on errors
    (or, with raise_on_error=False, returns them in `checked.problems` for the caller to act on). `gx_rows`:
    the suites' rows when the caller already has them (the flow caches them; the typed checks always run)."""
    from tasks.checks import check_inputs
    from tasks.compute import ValidationFailed

    checked = check_inputs(bundle)
    flooded = {p["file"] for p in checked.problems if p["check"] == "capped"}
    rows = gx_problems(bundle, flooded) if gx_rows is None else gx_rows
    checked.problems = merge_problems(rows, checked.problems)
    if checked.errors and raise_on_error:
        raise ValidationFailed(checked)
    return checked
