"""Pure module: ranks within groups, bands, change against last year, and the published (rounded) tables."""

from __future__ import annotations

import pandas as pd

from tasks.lineage import apply_lineage
from tasks.methodology import Methodology
from tasks.numbers import TOLERANCE, publish

#: after the contract's columns and the field columns: the pro-forma comparison of merged units (lineage.csv)
LINEAGE_COLUMNS = ["prev_index_proforma", "predecessors"]
RESULTS_COLUMNS = ["unit_code", "unit_name", "group", "total_points", "max_points", "index_pct", "rank",
                   "rank_of", "band", "band_vi", "prev_rank", "rank_change", "appraisal_points",
                   "survey_points", "dossier_points", "deduction_points"]


def sport_rank(values: pd.Series, groups: pd.Series) -> pd.Series:
    """Rank descending within each group; equal values share the smallest rank and the next skips (1,2,2,4)."""
    return values.groupby(groups).rank(method="min", ascending=False).astype("Int64")


def rank_and_classify(m: Methodology, results: pd.DataFrame, previous: pd.DataFrame | None,
                      lineage: pd.DataFrame | None = None) -> pd.DataFrame:
    """Add rank, rank_of, band, band_vi, prev_rank and rank_change to full-precision results, and the
    pro-forma comparison of units formed from earlier ones (tasks.lineage)."""
    published_index = results["index_pct"].map(lambda v: publish(v, m.decimals))
    key = results["index_pct"] if m.rank_on == "full" else published_index
    out = results.assign(rank=sport_rank(key, results["group"]),
                         rank_of=results.groupby("group")["unit_code"].transform("size").astype("Int64"))
    for f in m.fields:  # component ranks, by the same rules as the index (group, ties, rank_on)
        pts = results[f"{f.code}_points"]
        field_key = pts if m.rank_on == "full" else pts.map(lambda v: publish(v, m.decimals))
        out[f"{f.code}_rank"] = sport_rank(field_key, results["group"])
    bands = published_index.map(m.band_for)
    out = out.assign(band=bands.map(lambda b: b.code), band_vi=bands.map(lambda b: b.vi),
                     band_en=bands.map(lambda b: b.en))
    prev = pd.Series(dtype="Int64")
    if previous is not None and len(previous):
        prev = previous.dropna(subset=["rank"]).drop_duplicates("unit_code").set_index("unit_code")["rank"]
    out["prev_rank"] = out["unit_code"].map(prev).astype("Int64")
    out["rank_change"] = (out["prev_rank"] - out["rank"]).astype("Int64")
    if previous is not None and "index_pct" in previous:
        prev_index = previous.drop_duplicates("unit_code").set_index("unit_code")["index_pct"]
        out["prev_index_pct"] = out["unit_code"].map(prev_index)
    else:
        out["prev_index_pct"] = float("nan")
    out = apply_lineage(out, lineage, previous, m.field_codes())
    if lineage is not None and len(lineage):
        out["prev_index_pct"] = out["prev_index_pct"].where(~out["unit_code"].isin(set(lineage["unit_code"])))
    return out


def published_results(m: Methodology, ranked: pd.DataFrame) -> pd.DataFrame:
    """results.csv as CONTRACT.md defines it: contract columns, then <field>_points/_pct, rounded half-up."""
    field_cols = [c for f in m.fields for c in (f"{f.code}_points", f"{f.code}_pct", f"{f.code}_rank")]
    out = ranked[RESULTS_COLUMNS + field_cols + LINEAGE_COLUMNS].copy()
    figures = [c for c in field_cols if not c.endswith("_rank")]
    for c in ["total_points", "max_points", "index_pct", "appraisal_points", "survey_points", "dossier_points",
              "deduction_points", *figures, "prev_index_proforma"]:
        out[c] = out[c].map(lambda v: publish(v, m.decimals))
    return out


def published_criteria(m: Methodology, criteria: pd.DataFrame) -> pd.DataFrame:
    out = criteria[["unit_code", "field_code", "criterion_code", "source", "max_points", "points"]].copy()
    out["points"] = out["points"].map(lambda v: publish(v, m.decimals))
    return out


def published_proforma(m: Methodology, ranked: pd.DataFrame) -> pd.DataFrame | None:
    """proforma.csv: for every unit formed from earlier ones, this year's index and field indices beside the
    pro forma ones of its predecessors (None when the run has no lineage)."""
    merged = ranked[ranked["predecessors"] != ""]
    if merged.empty:
        return None
    cols = ["unit_code", "unit_name", "index_pct", "prev_index_proforma", "prev_rank_range", "predecessors"]
    for f in m.fields:
        cols += [f"{f.code}_pct", f"prev_{f.code}_pct_proforma"]
    out = merged[cols].copy()
    for c in out.columns:
        if c == "index_pct" or c.endswith("_pct") or c.endswith("_proforma"):
            out[c] = out[c].map(lambda v: publish(v, m.decimals))
    return out


def next_band(m: Methodology, index_published: float):
    """The next band above a unit's published index and the points it needs to reach it: (band, points), or
    None in the top band."""
    higher = [b for b in sorted(m.bands, key=lambda b: b.min) if b.min > index_published + TOLERANCE]
    if not higher:
        return None
    return higher[0], (higher[0].min - index_published) / 100 * m.max_points
