"""Pure module: check a corrections table against a published run and apply it to the run's input tables;
then compare two publications into the contract's changes.csv (the errata table)."""

from __future__ import annotations

import math

import pandas as pd

from tasks.methodology import Methodology
from tasks.problems import Collector, Problem
from tasks.rules import Context, Engine, checked_rows, pandas_engine

CHANGES_COLUMNS = ["unit_code", "criterion_code", "old_points", "new_points", "old_total", "new_total",
                   "old_rank", "new_rank", "old_band", "new_band", "reason", "reference"]


def check_corrections(t: pd.DataFrame, file: str, m: Methodology, units: pd.DataFrame,
                      engine: Engine) -> tuple[pd.DataFrame, list[Problem]]:
    """Typed corrections and the problems found by the declared rules (tasks/rules.py: unknown unit,
    criterion or column; a value out of range; a cell corrected twice)."""
    col = Collector()
    scored = frozenset(units.loc[units["level"] == m.level, "unit_code"])
    frame, ok = checked_rows("corrections", t, file, Context(m, scored), col, engine)
    return t[ok].assign(new_value=frame["_new_value"][ok]), col.items


def apply_corrections(corr: pd.DataFrame, self_assessment: pd.DataFrame,
                      deductions: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """New self_assessment and deductions tables (text, as read) with the corrections applied."""
    sa = self_assessment.copy()
    ded = deductions.copy() if deductions is not None else pd.DataFrame(
        columns=["unit_code", "criterion_code", "points", "reason"])
    for c in corr.to_dict("records"):
        value = f"{c['new_value']:g}"
        if c["column"] in ("appraised_points", "self_points"):
            hit = (sa["unit_code"] == c["unit_code"]) & (sa["criterion_code"] == c["criterion_code"])
            sa.loc[hit, c["column"]] = value
            if "note" in sa:
                sa.loc[hit, "note"] = f"Đính chính: {c.get('reason', '')} ({c.get('reference', '')})".strip()
        else:
            hit = (ded["unit_code"] == c["unit_code"]) & (ded["criterion_code"] == c["criterion_code"])
            if hit.any():
                first = hit[hit].index[0]
                ded.loc[first, "points"] = value
                ded = ded.drop(index=hit[hit].index[1:])
            else:
                ded = pd.concat([ded, pd.DataFrame([{"unit_code": c["unit_code"],
                                                     "criterion_code": c["criterion_code"], "points": value,
                                                     "reason": c.get("reason", "")}])], ignore_index=True)
    return sa, ded


def _nan_to_none(v):
    return None if v is None or v is pd.NA or (isinstance(v, float) and math.isnan(v)) else v


def compute_changes(corr: pd.DataFrame, old_results: pd.DataFrame, new_results: pd.DataFrame,
                    old_criteria: pd.DataFrame, new_criteria: pd.DataFrame, old_deductions: pd.DataFrame,
                    new_deductions: pd.DataFrame) -> pd.DataFrame:
    """changes.csv: one row per correction, then one row (empty criterion_code) for every other unit whose
    published total, rank or band changed."""
    old_r = old_results.set_index("unit_code")
    new_r = new_results.set_index("unit_code")
    oc = old_criteria.set_index(["unit_code", "criterion_code"])["points"]
    nc = new_criteria.set_index(["unit_code", "criterion_code"])["points"]

    def ded_points(df, unit, code):
        if df is None or not len(df):
            return 0.0
        hit = df[(df["unit_code"] == unit) & (df["criterion_code"] == code)]
        return float(pd.to_numeric(hit["points"]).sum()) if len(hit) else 0.0

    rows = []
    corrected_units = set()
    for c in corr.to_dict("records"):
        u, code = c["unit_code"], c["criterion_code"]
        corrected_units.add(u)
        if c["column"] == "points":
            old_p, new_p = ded_points(old_deductions, u, code), ded_points(new_deductions, u, code)
        elif c["column"] == "self_points":
            old_p = new_p = oc.get((u, code))  # self points do not count: the published points stay
        else:
            old_p, new_p = oc.get((u, code)), nc.get((u, code))
        rows.append(_row(u, code, old_p, new_p, old_r, new_r, c.get("reason", ""), c.get("reference", "")))
    for u in new_r.index:
        if u in corrected_units or u not in old_r.index:
            continue
        o, n = old_r.loc[u], new_r.loc[u]
        if (o["total_points"], o["rank"], o["band"]) != (n["total_points"], n["rank"], n["band"]):
            rows.append(_row(u, "", None, None, old_r, new_r, "", ""))
    return pd.DataFrame(rows, columns=CHANGES_COLUMNS)


def _row(u, code, old_p, new_p, old_r, new_r, reason, reference) -> dict:
    return {"unit_code": u, "criterion_code": code, "old_points": _nan_to_none(old_p),
            "new_points": _nan_to_none(new_p), "old_total": old_r.loc[u, "total_points"],
            "new_total": new_r.loc[u, "total_points"], "old_rank": int(old_r.loc[u, "rank"]),
            "new_rank": int(new_r.loc[u, "rank"]), "old_band": old_r.loc[u, "band"],
            "new_band": new_r.loc[u, "band"], "reason": reason or "", "reference": reference or ""}


def applied_corrections(corr: pd.DataFrame, self_assessment: pd.DataFrame, deductions: pd.DataFrame | None,
                        author: str) -> list[dict]:
    """The corrections as the database keeps them: old and new value, reason, reference, author."""
    out = []
    for c in corr.to_dict("records"):
        if c["column"] == "points":
            table, col = deductions, "points"
        else:
            table, col = self_assessment, c["column"]
        old = None
        if table is not None and len(table):
            hit = table[(table["unit_code"] == c["unit_code"]) & (table["criterion_code"] == c["criterion_code"])]
            values = pd.to_numeric(hit[col], errors="coerce").dropna()
            old = float(values.sum()) if len(values) else None
        out.append({"unit_code": c["unit_code"], "criterion_code": c["criterion_code"], "column_name": c["column"],
                    "old_value": old, "new_value": float(c["new_value"]), "reason": c.get("reason") or "",
                    "reference": c.get("reference") or "", "author": c.get("author") or author})
    return out


def changes_against(published: dict, bundle, computed) -> pd.DataFrame:
    """changes.csv of a corrected run against the publication it corrects (`published`: its results, criteria
    and deductions, tasks.publishing.published_tables) and the corrections this run archived (checked by the
    rerun already: typed again here, not re-judged)."""
    table = bundle.tables["corrections"]
    corr, _ = check_corrections(table.frame, table.file, bundle.methodology, computed.checked.units, pandas_engine)
    new_ded = bundle.tables["deductions"].frame if "deductions" in bundle.tables else None
    return compute_changes(corr, published["results"], computed.results, published["criteria"],
                           computed.criteria_published, published["deductions"], new_ded)
