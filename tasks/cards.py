"""Pure module: the view-model of the per-unit scorecards (units/<code>.pdf, drawn by tasks/scorecard.py):
fields, criteria, the distance to the next band and the deductions of each unit, from the published figures."""

from __future__ import annotations

import math

import pandas as pd

from tasks import charts
from tasks.methodology import Methodology
from tasks.numbers import format_number, publish
from tasks.ranking import next_band
from tasks.report import LABELS, deduction_rows, heat_class, published_lost
from tasks.text import safe_filename


def unit_cards(m: Methodology, computed, lang: str, cards: list[dict]) -> list[dict]:
    """One full scorecard per unit (units/<code>.pdf, drawn by tasks/scorecard.py): fields with points, maximum,
    lost points, component index, last year's and the group's best; every criterion; the distance to the
    next band; a profile chart against the group's best."""
    L = LABELS[lang]
    d = m.decimals
    fmt = lambda v: format_number(v, d, lang)  # noqa: E731
    ranked = computed.ranked.set_index("unit_code")
    leaves = {lf.code: lf for lf in m.leaves()}
    crit = published_lost(computed, d)
    crit_by_unit = {u: g for u, g in crit.groupby("unit_code", sort=False)}
    prev = computed.checked.previous
    prev = prev.drop_duplicates("unit_code").set_index("unit_code") if prev is not None and len(prev) else None
    best = computed.ranked.groupby("group")[[f"{f.code}_pct" for f in m.fields]].max()
    published = computed.results.set_index("unit_code")["index_pct"]
    deductions = deduction_rows(m, computed, lang)
    out = []
    for card in cards:
        code = card["unit_code"]
        r = ranked.loc[code]
        fields = _card_fields(m, r, code, prev, best, lang)
        criteria = [{"code": c.criterion_code, "name": leaves[c.criterion_code].criterion.name.get(lang),
                     "source": L.get(f"source_{leaves[c.criterion_code].source}", leaves[c.criterion_code].source),
                     "points": fmt(c.points), "max": fmt(c.max_points), "lost": fmt(c.lost) if c.lost > 0 else "",
                     "lost_css": "lost" if c.lost > 0 else ""} for c in crit_by_unit[code].itertuples(index=False)]
        out.append({**card, "fields": fields, "criteria": criteria,
                    "next_band": _next_band(m, float(published.loc[code]), lang),
                    "prev_rank": "" if pd.isna(r["prev_rank"]) else str(int(r["prev_rank"])),
                    "prev_index": (fmt(r["prev_index_proforma"]) + L["proforma_mark"] if r["predecessors"]
                                   else fmt(r["prev_index_pct"])),
                    "predecessors": r["predecessors"], "file_name": safe_filename(code, ".pdf"),
                    "profile": charts.field_profile(fields),
                    "deduction_notes": [(f"{x['criterion']}: " if x["criterion"] else "") + f"−{x['points']}"
                                        + (f" — {x['reason']}" if x["reason"] else "")
                                        for x in deductions if x["unit_code"] == code]})
    return out


def _card_fields(m: Methodology, r: pd.Series, code: str, prev, best: pd.DataFrame, lang: str) -> list[dict]:
    """A card's fields: points, maximum, lost points, component index, change on last year (pro forma for a
    merged unit) and the group's best."""
    L, d = LABELS[lang], m.decimals
    fmt = lambda v: format_number(v, d, lang)  # noqa: E731
    fields = []
    for f in m.fields:
        pct = float(r[f"{f.code}_pct"])
        merged = bool(r["predecessors"])
        if merged:
            before = r.get(f"prev_{f.code}_pct_proforma", math.nan)
        else:
            before = prev.loc[code, f"{f.code}_pct"] if prev is not None and code in prev.index and \
                f"{f.code}_pct" in prev.columns else math.nan
        change = (format_number(publish(pct, d) - publish(before, d), d, lang, signed=True)
                  + (L["proforma_mark"] if merged else "")
                  if before is not None and not pd.isna(before) else "–")
        fields.append({"code": f.code, "name": f.name.get(lang), "points": fmt(r[f"{f.code}_points"]),
                       "max": fmt(f.max_points), "lost": fmt(f.max_points - publish(r[f"{f.code}_points"], d)),
                       "pct": fmt(pct), "pct_value": pct, "best_value": float(best.loc[r["group"], f"{f.code}_pct"]),
                       "best": fmt(best.loc[r["group"], f"{f.code}_pct"]), "change": change, "heat": heat_class(m, pct)})
    return fields


def _next_band(m: Methodology, index_published: float, lang: str) -> str:
    """The points a unit needs to reach the next band, from its published index."""
    L = LABELS[lang]
    gap = next_band(m, index_published)
    if gap is None:
        return L["top_band"]
    band, need = gap
    return L["next_band"].format(points=format_number(need, m.decimals, lang), band=band.vi if lang == "vi" else band.en)
