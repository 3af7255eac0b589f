"""Pure module: comparisons across the 2025 reorganisation (lineage.csv; its rules are in tasks/rules.py and
tasks/checks.py: check_lineage).

A unit formed from earlier units has no "last year's rank": showing none hides history, showing a
predecessor's rank misleads. So a unit with lineage gets, instead of prev_rank/rank_change (which stay
empty, as the contract says), a *pro-forma* previous index — the weighted mean of its predecessors'
published indices (and field indices, for fields both years share) — the range of its predecessors' ranks,
and the list of its predecessors, always labelled as pro forma.

Weights: a row's `weight` is how much of the predecessor's history the successor takes (population,
dossier volume, or a share of a split unit). Within one successor the weights are relative; empty weights
mean equal weights. A predecessor that feeds two or more successors (a split) must carry explicit weights on
every one of its rows, so that the split is a decision someone wrote down, not an accident.
"""

from __future__ import annotations

import math

import pandas as pd


def apply_lineage(ranked: pd.DataFrame, lineage: pd.DataFrame | None, previous: pd.DataFrame | None,
                  field_codes: list[str]) -> pd.DataFrame:
    """Add prev_index_proforma, prev_<field>_pct_proforma, prev_rank_range, predecessors; empty prev_rank and
    rank_change for every unit that has lineage rows (a merged, split or renamed unit)."""
    out = ranked.assign(prev_index_proforma=math.nan, prev_rank_range="", predecessors="")
    for f in field_codes:
        out[f"prev_{f}_pct_proforma"] = math.nan
    if lineage is None or not len(lineage) or previous is None:
        return out
    prev = previous.drop_duplicates("unit_code").set_index("unit_code")
    names = prev["unit_name"] if "unit_name" in prev else pd.Series(dtype=str)
    rows = {}
    for unit, g in lineage.groupby("unit_code", sort=False):
        w = g["weight"].astype(float)
        w = pd.Series(1.0, index=g.index) if w.isna().all() else w
        codes = g["predecessor_code"].tolist()
        idx = prev.loc[codes, "index_pct"].astype(float).to_numpy() if "index_pct" in prev else None
        weights = w.to_numpy()
        rec = {"prev_index_proforma": _weighted(idx, weights) if idx is not None else math.nan}
        for f in field_codes:
            col = f"{f}_pct"
            rec[f"prev_{f}_pct_proforma"] = (_weighted(prev.loc[codes, col].astype(float).to_numpy(), weights)
                                             if col in prev else math.nan)
        ranks = prev.loc[codes, "rank"].dropna().astype(int)
        rec["prev_rank_range"] = (f"{ranks.min()}–{ranks.max()}" if len(ranks) > 1 and ranks.min() != ranks.max()
                                  else str(ranks.min()) if len(ranks) else "")
        labels = []
        for code, pname in zip(codes, g["predecessor_name"], strict=True):
            name = pname or (names.get(code, "") if len(names) else "")
            labels.append(f"{code} {name}".strip())
        rec["predecessors"] = "; ".join(labels)
        rows[unit] = rec
    has = out["unit_code"].isin(rows)
    for key in ["prev_index_proforma", "prev_rank_range", "predecessors",
                *[f"prev_{f}_pct_proforma" for f in field_codes]]:
        out.loc[has, key] = out.loc[has, "unit_code"].map(lambda u, k=key: rows[u][k])
    out["prev_rank"] = out["prev_rank"].where(~has)
    out["rank_change"] = out["rank_change"].where(~has)
    return out


def _weighted(values, weights) -> float:
    total = float(weights.sum())
    if total <= 0 or any(math.isnan(v) for v in values):
        return math.nan
    return float((values * weights).sum() / total)
