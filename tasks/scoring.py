"""Pure module: points per leaf criterion from the three sources, then field and unit totals.

Inputs are the typed tables of tasks.checks (already validated); outputs are new DataFrames at full
precision (tasks.numbers.settle). Nothing here rounds for publication.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from tasks.methodology import Criterion, Methodology
from tasks.numbers import settle
from tasks.schema import COUNT_COLUMNS, METRICS

CRITERIA_COLUMNS = ["unit_code", "field_code", "criterion_code", "source", "max_points", "points"]


def points_on_scale(c: Criterion, rate: float) -> float:
    """Points of a dossier criterion for a rate: the first step whose `min` <= rate, or the linear scale."""
    if rate is None or math.isnan(rate):
        return {"full": c.max_points, "zero": 0.0}.get(c.if_no_dossiers, math.nan)
    rate = round(rate, 12)  # 19/20 must meet a step at 0.95 whatever the float division gives
    if c.steps is not None:
        for step in c.steps:
            if (rate >= step.min) if step.min is not None else (rate <= step.max):
                return float(step.points)
        return 0.0
    # 0 points at `from`, the maximum at `to`, a straight line between; from > to when lower is better
    lo, hi = c.linear.from_, c.linear.to
    share = min(1.0, max(0.0, (rate - lo) / (hi - lo)))
    return c.max_points * share


def dossier_rates(stats: pd.DataFrame) -> pd.DataFrame:
    """Totals of the period per unit and every metric's rate (NaN where the denominator is 0)."""
    cols = list(COUNT_COLUMNS)
    totals = stats.groupby("unit_code", as_index=False)[cols].sum() if len(stats) else pd.DataFrame(
        columns=["unit_code", *cols])
    out = totals.copy()
    for metric in METRICS.values():
        den_values = out[metric.denominator].astype(float)
        out[metric.code] = (out[metric.numerator].astype(float) / den_values).where(den_values > 0)
    return out


def score_appraisal(m: Methodology, appraisal: pd.DataFrame) -> pd.DataFrame:
    wanted = {lf.code for lf in m.leaves() if lf.source == "appraisal"}
    a = appraisal[appraisal["criterion_code"].isin(wanted)]
    return pd.DataFrame({"unit_code": a["unit_code"], "criterion_code": a["criterion_code"],
                         "points": a["appraised_points"].astype(float),
                         "self_points": a["self_points"].astype(float)})


def coded_answers(answers: pd.DataFrame) -> tuple[pd.DataFrame, pd.Index]:
    """The given answers (answer not empty) with units and respondents as integer codes — `unit` (the
    position in the returned, sorted unit codes), `respondent` — beside `question_code` and `answer`: grouping
    a survey's hundreds of thousands of answers on integers instead of text is what makes counting
    respondents per unit cheap. Same rows, same order; a group's mean is the same float either way."""
    given = answers[answers["answer"].notna()]
    units, unit_codes = pd.factorize(given["unit_code"], sort=True)
    coded = pd.DataFrame({"unit": units, "respondent": pd.factorize(given["respondent_id"])[0],
                          "question_code": given["question_code"].to_numpy(), "answer": given["answer"].to_numpy()},
                         index=given.index)
    return coded, pd.Index(unit_codes)


def respondents_per_unit(unit: np.ndarray, respondent: np.ndarray, n_units: int) -> np.ndarray:
    """How many distinct respondents gave these answers, per unit position (`coded_answers`' codes): the distinct
    (unit, respondent) pairs counted per unit. A missing respondent id (factorize's -1) counts as one
    respondent, as pandas' nunique counts it."""
    who = respondent.astype(np.int64) + 1
    base = int(who.max()) + 1 if len(who) else 1
    pairs = np.unique(unit.astype(np.int64) * base + who)
    return np.bincount(pairs // base, minlength=n_units)


def score_survey(m: Methodology, answers: pd.DataFrame) -> pd.DataFrame:
    """points = max × mean of the mapped values of all valid answers to the listed questions, pooled.

    Worked on integer codes: the answers' question codes are factorized once for all criteria, a criterion's
    answers are picked by code position, and its respondents per unit are the distinct (unit, respondent) pairs.
    The mean is pandas' grouped mean, as before (its compensated sum), so every figure is the same float."""
    columns = ["unit_code", "criterion_code", "points", "respondents", "answers"]
    coded, unit_codes = coded_answers(answers)
    questions, question_codes = pd.factorize(coded["question_code"])
    units, respondents = coded["unit"].to_numpy(), coded["respondent"].to_numpy()
    given = coded["answer"].to_numpy()
    position = {q: i for i, q in enumerate(question_codes)}
    parts = []
    for lf in m.leaves():
        if lf.source != "survey" or not lf.criterion.questions:
            continue
        c = lf.criterion
        mine = np.isin(questions, [position[q] for q in c.questions if q in position])
        if not mine.any():
            continue
        unit = units[mine]
        value = pd.Series(given[mine].astype(int)).map(c.answer_points)
        grouped = value.groupby(unit, sort=True)
        mean_value, size = grouped.mean(), grouped.size()
        per_unit = respondents_per_unit(unit, respondents[mine], len(unit_codes))
        at = size.index.to_numpy()
        parts.append(pd.DataFrame({"unit_code": unit_codes[at], "criterion_code": c.code,
                                   "points": c.max_points * mean_value.to_numpy(dtype=float),
                                   "respondents": per_unit[at].astype(int),
                                   "answers": size.to_numpy(dtype=int)}))
    parts = [p for p in parts if len(p)]
    return pd.concat(parts, ignore_index=True)[columns] if parts else pd.DataFrame(columns=columns)


def score_survey_scores(m: Methodology, survey_scores: pd.DataFrame | None) -> pd.DataFrame:
    """Survey criteria without questions: the points a survey institute delivered (survey_scores.csv)."""
    wanted = {lf.code for lf in m.leaves() if lf.source == "survey" and not lf.criterion.questions}
    if survey_scores is None or not wanted:
        return pd.DataFrame(columns=["unit_code", "criterion_code", "points"])
    s = survey_scores[survey_scores["criterion_code"].isin(wanted)]
    return pd.DataFrame({"unit_code": s["unit_code"], "criterion_code": s["criterion_code"],
                         "points": s["points"].astype(float)})


def score_dossier(m: Methodology, rates: pd.DataFrame) -> pd.DataFrame:
    rows = []
    for lf in m.leaves():
        if lf.source != "dossier":
            continue
        c = lf.criterion
        for r in rates.itertuples(index=False):
            rate = getattr(r, c.metric)
            rows.append({"unit_code": r.unit_code, "criterion_code": c.code,
                         "points": points_on_scale(c, rate), "rate": rate})
    return pd.DataFrame(rows, columns=["unit_code", "criterion_code", "points", "rate"])


def score_criteria(m: Methodology, units: pd.DataFrame, appraisal: pd.DataFrame, answers: pd.DataFrame,
                   stats: pd.DataFrame, survey_scores: pd.DataFrame | None = None) -> pd.DataFrame:
    """Points of every leaf criterion for every scored unit (CONTRACT criteria.csv, full precision).

    Extra columns: self_points (appraisal), respondents (survey), rate (dossier).
    """
    leaves = pd.DataFrame([{"field_code": lf.field_code, "criterion_code": lf.code, "source": lf.source,
                            "max_points": lf.max_points, "order": i} for i, lf in enumerate(m.leaves())])
    grid = units[["unit_code"]].merge(leaves, how="cross")
    parts = [score_appraisal(m, appraisal), score_survey(m, answers), score_survey_scores(m, survey_scores),
             score_dossier(m, dossier_rates(stats))]
    scored = pd.concat([p for p in parts if len(p)], ignore_index=True)
    out = grid.merge(scored, on=["unit_code", "criterion_code"], how="left", validate="one_to_one")
    missing = out[out["points"].isna()]
    if len(missing):
        # checks.py reports these as validation errors first; reaching here means a caller skipped it
        first = missing.iloc[0]
        raise ValueError(f"no points for unit {first.unit_code}, criterion {first.criterion_code} "
                         f"({len(missing)} gap(s)): the inputs were not validated")
    out["points"] = out["points"].map(settle)
    unit_order = {u: i for i, u in enumerate(units["unit_code"])}
    out = out.assign(_u=out["unit_code"].map(unit_order)).sort_values(["_u", "order"])
    return out.drop(columns=["_u", "order"]).reset_index(drop=True)


def sum_results(m: Methodology, units: pd.DataFrame, criteria: pd.DataFrame,
                deductions: pd.DataFrame) -> pd.DataFrame:
    """One row per unit: totals by source and field, deductions (capped), total and index at full precision."""
    base = units[["unit_code", "unit_name", "group"]].reset_index(drop=True)
    by_source = criteria.pivot_table(index="unit_code", columns="source", values="points", aggfunc="sum")
    by_field = criteria.pivot_table(index="unit_code", columns="field_code", values="points", aggfunc="sum")
    out = base.copy()
    for source in ("appraisal", "survey", "dossier"):
        col = by_source[source] if source in by_source else pd.Series(dtype=float)
        out[f"{source}_points"] = out["unit_code"].map(col).fillna(0.0).map(settle)
    cap = m.deductions.max if m.deductions else 0.0
    raw = deductions.groupby("unit_code")["points"].sum() if len(deductions) else pd.Series(dtype=float)
    out["deduction_points"] = out["unit_code"].map(raw).fillna(0.0).clip(upper=cap).map(settle)
    gross = out[["appraisal_points", "survey_points", "dossier_points"]].sum(axis=1)
    out["total_points"] = (gross - out["deduction_points"]).clip(lower=0.0).map(settle)
    out["max_points"] = float(m.max_points)
    out["index_pct"] = (out["total_points"] / m.max_points * 100).map(settle)
    for f in m.fields:
        pts = out["unit_code"].map(by_field[f.code]).fillna(0.0).map(settle)
        out[f"{f.code}_points"] = pts
        out[f"{f.code}_pct"] = (pts / f.max_points * 100).map(settle)
    return out


def satisfaction_pct(m: Methodology, survey_points: pd.Series) -> pd.Series:
    """A unit's satisfaction (%): its survey points as a share of the points the survey can give; NaN when the
    methodology has no survey criteria."""
    most = sum(lf.max_points for lf in m.leaves() if lf.source == "survey")
    return survey_points.astype(float) / most * 100 if most else pd.Series(float("nan"), index=survey_points.index)
