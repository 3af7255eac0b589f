"""Pure module: the view-model of the per-unit scorecards (units/<code>.pdf, drawn by tasks/scorecard.py):
fields, criteria, the distance to the next band and the deductions of each unit, from the published figures."""

from __future__ import annotations

import math

import pandas as pd

from tasks import charts
from tasks.methodology import Methodology
from tasks.numbers import format_number, publish
from tasks.ranking import next_band
from tasks.report import LABELS, criteria_by_unit, deduction_rows, heat_class, published_lost
from tasks.text import safe_filename


def unit_cards(m: Methodology, computed, lang: str, cards: list[dict]) -> list[dict]:
    """One full scorecard per unit (units/<code>.pdf, drawn by tasks/scorecard.py): fields with points, maximum,
    lost points, component index, last year's and the group's best; every criterion; the distance to the
    next band; a profile chart against the group's best."""
    L = LABELS[lang]
    d = m.decimals
    fmt = lambda v: format_number(v, d, lang)  # noqa: E731
    ranked = {r["unit_code"]: r for r in computed.ranked.to_dict("records")}
    leaves = {lf.code: lf for lf in m.leaves()}
    crit_by_unit = criteria_by_unit(published_lost(computed, d))
    prev = computed.checked.previous
    prev = (prev.drop_duplicates("unit_code").set_index("unit_code").to_dict("index")
            if prev is not None and len(prev) else {})
    best = computed.ranked.groupby("group")[[f"{f.code}_pct" for f in m.fields]].max().to_dict("index")
    published = dict(zip(computed.results["unit_code"], computed.results["index_pct"], strict=True))
    deductions = deduction_rows(m, computed, lang)
    out = []
    for card in cards:
        code = card["unit_code"]
        r = ranked[code]
        fields = _card_fields(m, r, prev.get(code), best[r["group"]], lang)
        criteria = [{"code": c.criterion_code, "name": leaves[c.criterion_code].criterion.name.get(lang),
                     "source": L.get(f"source_{leaves[c.criterion_code].source}", leaves[c.criterion_code].source),
                     "points": fmt(c.points), "max": fmt(c.max_points), "lost": fmt(c.lost) if c.lost > 0 else "",
                     "lost_css": "lost" if c.lost > 0 else ""} for c in crit_by_unit[code]]
        out.append({**card, "fields": fields, "criteria": criteria,
                    "next_band": _next_band(m, float(published[code]), lang),
                    "prev_rank": "" if pd.isna(r["prev_rank"]) else str(int(r["prev_rank"])),
                    "prev_index": (fmt(r["prev_index_proforma"]) + L["proforma_mark"] if r["predecessors"]
                                   else fmt(r["prev_index_pct"])),
                    "predecessors": r["predecessors"], "file_name": safe_filename(code, ".pdf"),
                    "profile": charts.field_profile(fields),
                    "deduction_notes": [(f"{x['criterion']}: " if x["criterion"] else "") + f"−{x['points']}"
                                        + (f" — {x['reason']}" if x["reason"] else "")
                                        for x in deductions if x["unit_code"] == code]})
    return out


def _card_fields(m: Methodology, r: dict, prev: dict | None, best: dict, lang: str) -> list[dict]:
    """A card's fields: points, maximum, lost points, component index, change on last year (pro forma for a
    merged unit; `prev`, the unit's row of last year's results) and the group's best (`best`, per field)."""
    L, d = LABELS[lang], m.decimals
    fmt = lambda v: format_number(v, d, lang)  # noqa: E731
    fields = []
    for f in m.fields:
        pct = float(r[f"{f.code}_pct"])
        merged = bool(r["predecessors"])
        if merged:
            before = r.get(f"prev_{f.code}_pct_proforma", math.nan)
        else:
            before = (prev or {}).get(f"{f.code}_pct", math.nan)
        change = (format_number(publish(pct, d) - publish(before, d), d, lang, signed=True)
                  + (L["proforma_mark"] if merged else "")
                  if before is not None and not pd.isna(before) else "–")
        fields.append({"code": f.code, "name": f.name.get(lang), "points": fmt(r[f"{f.code}_points"]),
                       "max": fmt(f.max_points), "lost": fmt(f.max_points - publish(r[f"{f.code}_points"], d)),
                       "pct": fmt(pct), "pct_value": pct, "best_value": float(best[f"{f.code}_pct"]),
                       "best": fmt(best[f"{f.code}_pct"]), "change": change, "heat": heat_class(m, pct)})
    return fields


def _next_band(m: Methodology, index_published: float, lang: str) -> str:
    """The points a unit needs to reach the next band, from its published index."""
    L = LABELS[lang]
    gap = next_band(m, index_published)
    if gap is None:
        return L["top_band"]
    band, need = gap
    return L["next_band"].format(points=format_number(need, m.decimals, lang), band=band.vi if lang == "vi" else band.en)
