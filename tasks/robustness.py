"""Pure module: how firm each published rank is, and what another methodology would change (the OECD/JRC
Handbook's uncertainty and sensitivity analysis, COINr's get_sensitivity / compare_coins / get_corr_flags).

Replicates are arrays over replicates × units (numpy), never N pipeline runs:
- **survey**: the respondents of each unit are resampled with replacement (all their answers together, within
  the unit); every survey criterion with `questions` is recomputed from the resample exactly as scoring does
  (max × mean of the mapped values of all valid answers, pooled). Survey points delivered per unit
  (`survey_scores.csv`) have no respondents to resample and stay fixed.
- **weights**: each field's share of the maximum is multiplied by an independent uniform factor in
  [1 − width, 1 + width] and the shares are renormalised to the same maximum; a field's points scale with its
  weight (its component index is unchanged).
Totals, indices, ranks (sport ranks within the group, as published) and bands (on the index rounded half-up
to the published decimals) are recomputed for every replicate. What the intervals are: the sampling
uncertainty of the survey and the sensitivity to the weights — not a confidence interval on a unit's
administrative performance.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from tasks.methodology import Methodology
from tasks.numbers import TOLERANCE, publish, publish_array

#: a field pair correlated above this is flagged as near-duplicate (JRC audit, COINr get_corr_flags)
NEAR_DUPLICATE_R = 0.9
#: a unit whose most likely band has less than this probability is listed as uncertain
BAND_CERTAIN = 0.9
#: quantile bins used to estimate first-order sensitivity indices (variance of conditional means)
SENSITIVITY_BINS = 10


@dataclass(frozen=True)
class Replicates:
    """Every replicate's index and rank per unit (replicates × units), and the weight factors drawn."""

    unit_codes: list[str]
    groups: np.ndarray
    index: np.ndarray  # (N, U) index %, full precision
    rank: np.ndarray  # (N, U)
    band: np.ndarray  # (N, U) band codes
    factors: np.ndarray | None  # (N, F) weight factors, None when the weights did not vary


def survey_tables(m: Methodology, answers: pd.DataFrame, units: list[str]):
    """Per unit: its respondents' sums of mapped values and answer counts for each survey criterion with
    questions (dict unit -> (criterion codes, sums R × C, counts R × C))."""
    asked = [lf for lf in m.leaves() if lf.source == "survey" and lf.criterion.questions]
    valid = answers[answers["answer"].notna()]
    frames = []
    for lf in asked:
        c = lf.criterion
        mine = valid[valid["question_code"].isin(c.questions)]
        frames.append(mine.assign(criterion_code=c.code, value=mine["answer"].astype(int).map(c.answer_points)))
    codes = [lf.code for lf in asked]
    if not frames:
        return codes, {}
    long = pd.concat(frames, ignore_index=True)
    agg = long.groupby(["unit_code", "respondent_id", "criterion_code"])["value"].agg(["sum", "count"])
    out = {}
    for unit, g in agg.groupby(level="unit_code"):
        sums = g["sum"].unstack("criterion_code").reindex(columns=codes).fillna(0.0)
        counts = g["count"].unstack("criterion_code").reindex(columns=codes).fillna(0.0)
        out[unit] = (sums.to_numpy(float), counts.to_numpy(float))
    return codes, out


def replicate(m: Methodology, criteria: pd.DataFrame, totals: pd.DataFrame, answers: pd.DataFrame,
              *, replicates: int = 1000, seed: int = 20240, vary: tuple[str, ...] = ("survey", "weights"),
              width: float = 0.25) -> Replicates:
    """N replicates of the index and ranks; `criteria` and `totals` are the scoring core's full-precision
    tables (tasks.scoring), `answers` the typed survey answers."""
    rng = np.random.default_rng(seed)
    units = totals["unit_code"].tolist()
    fields = [f.code for f in m.fields]
    field_max = np.array([f.max_points for f in m.fields])
    crit = criteria.set_index(["unit_code", "criterion_code"])["points"]
    leaf_field = {lf.code: lf.field_code for lf in m.leaves()}
    leaf_max = {lf.code: lf.max_points for lf in m.leaves()}
    # field points per replicate, starting from the published computation
    base = totals[[f"{f}_points" for f in fields]].to_numpy(float)  # (U, F)
    points = np.broadcast_to(base, (replicates, *base.shape)).copy()  # (N, U, F)
    if "survey" in vary:
        codes, per_unit = survey_tables(m, answers, units)
        fidx = np.array([fields.index(leaf_field[c]) for c in codes], dtype=int)
        maxima = np.array([leaf_max[c] for c in codes])
        for u, unit in enumerate(units):
            if unit not in per_unit:
                continue
            sums, counts = per_unit[unit]
            draws = rng.multinomial(len(sums), np.full(len(sums), 1 / len(sums)), size=replicates)  # (N, R)
            with np.errstate(invalid="ignore", divide="ignore"):
                mean = (draws @ sums) / (draws @ counts)  # (N, C)
            published = np.array([crit.get((unit, c), np.nan) for c in codes])
            # a resample with no answer to a criterion's questions keeps the published points
            new = np.where(np.isnan(mean), published, maxima * mean)
            np.add.at(points[:, u, :], (slice(None), fidx), new - published)
    factors = None
    if "weights" in vary:
        factors = rng.uniform(1 - width, 1 + width, size=(replicates, len(fields)))
        weights = field_max * factors
        weights = weights / weights.sum(axis=1, keepdims=True) * m.max_points  # (N, F), same maximum
        points = points * (weights / field_max)[:, None, :]
    gross = points.sum(axis=2)
    total = np.clip(gross - totals["deduction_points"].to_numpy(float), 0, None)
    index = total / m.max_points * 100
    groups = totals["group"].to_numpy()
    rank = sport_ranks(index, groups)
    published_index = publish_array(index, m.decimals)
    band = np.full(index.shape, m.bands[-1].code, dtype=object)
    for b in sorted(m.bands, key=lambda b: b.min):
        band = np.where(published_index >= b.min, b.code, band)
    return Replicates(units, groups, index, rank, band, factors)


def sport_ranks(values: np.ndarray, groups: np.ndarray) -> np.ndarray:
    """Ranks within each group along the last axis: 1 + the number of units of the group strictly above."""
    ranks = np.zeros(values.shape, dtype=int)
    for g in pd.unique(groups):
        cols = np.flatnonzero(groups == g)
        v = values[:, cols]
        ranks[:, cols] = 1 + (v[:, None, :] > v[:, :, None]).sum(axis=2)
    return ranks


def summarise(m: Methodology, reps: Replicates, results: pd.DataFrame) -> pd.DataFrame:
    """robustness.csv: per unit its published rank and index, their 5–95 % intervals, and the probability
    of each band (`p_<band code>`)."""
    pub = results.set_index("unit_code").loc[reps.unit_codes]
    out = pd.DataFrame({
        "unit_code": reps.unit_codes,
        "rank": pub["rank"].astype(int).to_numpy(),
        "rank_p05": np.percentile(reps.rank, 5, axis=0, method="lower").astype(int),
        "rank_p95": np.percentile(reps.rank, 95, axis=0, method="higher").astype(int),
        "index_pct": pub["index_pct"].to_numpy(float),
        "index_p05": [publish(v, m.decimals) for v in np.percentile(reps.index, 5, axis=0)],
        "index_p95": [publish(v, m.decimals) for v in np.percentile(reps.index, 95, axis=0)],
    })
    for b in m.bands:
        out[f"p_{b.code}"] = [publish(v, 3) for v in (reps.band == b.code).mean(axis=0)]
    return out


def sensitivity(m: Methodology, reps: Replicates) -> pd.DataFrame:
    """First-order sensitivity of the ranks to each field's weight: Var(E[rank | factor]) / Var(rank), the
    conditional means over SENSITIVITY_BINS quantile bins of the factor, averaged over the units whose rank
    varies (weighted by that variance)."""
    if reps.factors is None:
        return pd.DataFrame(columns=["field_code", "first_order"])
    var = reps.rank.var(axis=0)
    moving = var > 0
    rows = []
    for i, f in enumerate(m.fields):
        x = reps.factors[:, i]
        edges = np.quantile(x, np.linspace(0, 1, SENSITIVITY_BINS + 1))
        bins = np.clip(np.searchsorted(edges, x, side="right") - 1, 0, SENSITIVITY_BINS - 1)
        means = np.stack([reps.rank[bins == b].mean(axis=0) for b in range(SENSITIVITY_BINS)])
        sizes = np.bincount(bins, minlength=SENSITIVITY_BINS) / len(x)
        between = (sizes[:, None] * (means - reps.rank.mean(axis=0)) ** 2).sum(axis=0)
        s = float(between[moving].sum() / var[moving].sum()) if moving.any() else 0.0
        rows.append({"field_code": f.code, "first_order": s})
    return pd.DataFrame(rows).sort_values("first_order", ascending=False, ignore_index=True)


def coherence(m: Methodology, results: pd.DataFrame) -> tuple[pd.DataFrame, list[dict]]:
    """Pearson correlations between the field indices and with the index (the JRC audit's first step), and
    the flags: near-duplicate fields (|r| > NEAR_DUPLICATE_R) and fields negatively correlated with the index."""
    cols = [f"{f.code}_pct" for f in m.fields]
    data = results[cols + ["index_pct"]].astype(float)
    data.columns = [f.code for f in m.fields] + ["index"]
    corr = data.corr()
    flags = []
    codes = [f.code for f in m.fields]
    for i, a in enumerate(codes):
        for b in codes[i + 1:]:
            r = corr.loc[a, b]
            if pd.notna(r) and abs(r) > NEAR_DUPLICATE_R:
                flags.append({"kind": "near_duplicate", "fields": f"{a}–{b}", "r": float(r)})
        r = corr.loc[a, "index"]
        if pd.notna(r) and r < 0:
            flags.append({"kind": "negative", "fields": a, "r": float(r)})
    return corr, flags


def spearman(a: pd.Series, b: pd.Series) -> float:
    """Spearman rank correlation (average ranks for ties)."""
    if len(a) < 2:
        return float("nan")
    return float(a.rank().corr(b.rank()))


def compare(before: pd.DataFrame, after: pd.DataFrame, crit_before: pd.DataFrame,
            crit_after: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """comparison.csv (CONTRACT.md) and, per unit, the criteria whose points changed most (the 'why')."""
    b = before.set_index("unit_code")
    a = after.set_index("unit_code").loc[b.index]
    table = pd.DataFrame({
        "unit_code": b.index, "index_before": b["index_pct"].to_numpy(), "index_after": a["index_pct"].to_numpy(),
        "rank_before": b["rank"].astype(int).to_numpy(), "rank_after": a["rank"].astype(int).to_numpy(),
        "band_before": b["band"].to_numpy(), "band_after": a["band"].to_numpy(),
        "unit_name": b["unit_name"].to_numpy(), "group": b["group"].to_numpy()})
    cb = crit_before.set_index(["unit_code", "criterion_code"])["points"]
    ca = crit_after.set_index(["unit_code", "criterion_code"])["points"]
    both = pd.concat([cb.rename("before"), ca.rename("after")], axis=1).fillna(0.0)
    both["delta"] = both["after"] - both["before"]
    why = both[both["delta"].abs() > TOLERANCE].reset_index()
    return table, why
