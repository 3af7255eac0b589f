"""Pure module: comparisons across the 2025 reorganisation (lineage.csv).

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

from tasks.problems import Collector
from tasks.rules import Context, Engine, checked_rows


def check_lineage(t: pd.DataFrame, file: str, ctx: Context, previous: pd.DataFrame | None, col: Collector,
                  engine: Engine) -> pd.DataFrame:
    """Typed lineage rows. Row rules (tasks/rules.py): unknown successor, empty predecessor, a weight that is
    not a number ≥ 0, a pair listed twice. Across rows and tables: a predecessor missing from previous_results,
    a split without weights, mixed empty and given weights for one successor, weights adding up to 0."""
    frame, ok = checked_rows("lineage", t, file, ctx, col, engine)
    weights = frame["_weight"]
    if previous is None:
        if len(t):
            col.add(file, None, "", "predecessor_code", "",
                    "lineage.csv needs previous_results in index.yaml: predecessors are found there",
                    vi="lineage.csv cần previous_results trong index.yaml: đơn vị tiền thân được tra ở đó",
                    check="cross:lineage")
        ok &= False
    else:
        known = set(previous["unit_code"])
        missing = ok & ~t["predecessor_code"].isin(known)
        col.add_rows(file, t[missing], "predecessor_code",
                     "is not in previous_results: a predecessor must have a published result last year",
                     unit_col="unit_code",
                     vi="không có trong previous_results: đơn vị tiền thân phải có kết quả công bố năm trước",
                     check="cross:lineage")
        ok &= ~missing
    typed = t.assign(weight=weights)
    # a split predecessor needs explicit weights on every row
    feeds = typed[ok].groupby("predecessor_code")["unit_code"].nunique()
    split = set(feeds[feeds > 1].index)
    no_weight = ok & typed["predecessor_code"].isin(split) & typed["weight"].isna()
    col.add_rows(file, typed[no_weight], "weight",
                 "is empty, but this predecessor feeds several units: give each unit its share",
                 vi="bị trống nhưng đơn vị tiền thân này tách cho nhiều đơn vị: ghi tỷ trọng cho từng đơn vị")
    ok &= ~no_weight
    mixed = typed[ok].groupby("unit_code")["weight"].agg(lambda w: 0 < w.isna().sum() < len(w))
    for unit in mixed[mixed].index:
        rows = typed[ok & (typed["unit_code"] == unit) & typed["weight"].isna()]
        col.add_rows(file, rows, "weight", f"is empty while other predecessors of unit {unit} have weights: "
                                           "give all or none",
                     vi=f"bị trống trong khi các đơn vị tiền thân khác của {unit} có tỷ trọng: ghi đủ hoặc bỏ trống tất cả",
                     check="cross:lineage")
    zero = typed[ok].groupby("unit_code")["weight"].agg(lambda w: w.notna().all() and w.sum() == 0)
    for unit in zero[zero].index:
        col.add(file, None, unit, "weight", "0", f"the weights of unit {unit} add up to 0",
                vi=f"tổng tỷ trọng của đơn vị {unit} bằng 0", check="cross:lineage")
    return typed[ok][["unit_code", "predecessor_code", "predecessor_name", "weight", "_row"]]


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
