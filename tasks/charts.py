"""Pure module: the geometry of the report's charts, drawn as SVG by templates/charts.html.jinja.

Why hand-made SVG and not matplotlib or Altair: the charts are simple (bars, a histogram, a profile), they
must use the report's embedded font so Vietnamese diacritics print, stay vector in the PDF, carry the same
formatted numbers as the tables (92,62 in Vietnamese), and render for hundreds of unit scorecards in
milliseconds. Here every chart is a dict of coordinates computed from data; the template only draws it.
"""

from __future__ import annotations

import math

import pandas as pd

from tasks.numbers import TOLERANCE

#: band colours, best band first (a methodology has 3 to 5 bands)
BAND_COLOURS = ["#1a7f37", "#6aa84f", "#d4a017", "#d9822b", "#a01818"]


def band_colours(bands) -> dict[str, str]:
    ordered = sorted(bands, key=lambda b: -b.min)
    return {b.code: BAND_COLOURS[min(i, len(BAND_COLOURS) - 1)] for i, b in enumerate(ordered)}


def ranking_bars(rows: list[dict], colours: dict[str, str], width: int = 680, bar: int = 11,
                 label_w: int = 190, lo: float | None = None) -> dict:
    """Horizontal bars of the index per unit, in ranking order, coloured by band.

    `rows` are the ranking rows of the report (unit_name, index text, index_pct, band_code)."""
    values = [r["index_pct"] for r in rows]
    lo = lo if lo is not None else max(0.0, math.floor((min(values) - 5) / 10) * 10) if values else 0.0
    span = max(100.0 - lo, 1.0)
    plot_w = width - label_w - 50
    bars = []
    for i, r in enumerate(rows):
        w = max(0.0, (r["index_pct"] - lo) / span * plot_w)
        bars.append({"y": 14 + i * (bar + 3), "w": round(w, 1), "colour": colours.get(r["band_code"], "#777"),
                     "label": r["unit_name"], "value": r["index"]})
    ticks = [{"x": round(label_w + (t - lo) / span * plot_w, 1), "v": f"{t:g}"}
             for t in range(int(lo), 101, 10 if span > 30 else 5)]
    height = 14 + len(rows) * (bar + 3) + 16
    return {"width": width, "height": height, "x0": label_w, "bar": bar, "bars": bars, "ticks": ticks,
            "axis_y": height - 14}


def distribution(index_pct: pd.Series, bands, colours: dict[str, str], width: int = 680, height: int = 170,
                 step: float = 2.0) -> dict:
    """A histogram of the indices in `step`-point bins, each bin coloured by the band of its lower edge,
    with the band thresholds marked."""
    values = index_pct.dropna().astype(float)
    lo = math.floor(values.min() / step) * step if len(values) else 0.0
    hi = min(100.0, math.ceil((values.max() + TOLERANCE) / step) * step) if len(values) else 100.0
    hi = max(hi, lo + step)
    edges = [lo + i * step for i in range(int(round((hi - lo) / step)) + 1)]
    counts = [int(((values >= a) & ((values < b) | ((b >= 100) & (values <= b)))).sum())
              for a, b in zip(edges, edges[1:], strict=False)]
    top = max(counts + [1])
    pad_l, pad_b, pad_t = 30, 22, 8
    plot_w, plot_h = width - pad_l - 10, height - pad_b - pad_t
    bw = plot_w / max(len(counts), 1)
    ordered = sorted(bands, key=lambda b: -b.min)

    def band_of(v: float) -> str:
        return next((b.code for b in ordered if v + TOLERANCE >= b.min), ordered[-1].code)

    bins = [{"x": round(pad_l + i * bw, 1), "w": round(bw - 1, 1), "h": round(c / top * plot_h, 1),
             "y": round(pad_t + plot_h - c / top * plot_h, 1), "n": c, "colour": colours.get(band_of(a), "#777"),
             "label": f"{a:g}–{b:g}"}
            for i, (a, b, c) in enumerate(zip(edges, edges[1:], counts, strict=False))]
    x_of = lambda v: round(pad_l + (v - lo) / (hi - lo) * plot_w, 1)  # noqa: E731
    thresholds = [{"x": x_of(b.min), "code": b.code} for b in bands if lo < b.min < hi]
    ticks = [{"x": x_of(e), "v": f"{e:g}"} for e in edges[:: max(1, len(edges) // 10)]]
    return {"width": width, "height": height, "bins": bins, "thresholds": thresholds, "ticks": ticks,
            "base": pad_t + plot_h, "x0": pad_l, "x1": width - 10, "top": top, "pad_t": pad_t}


#: bars per chart: a long ranking (114 communes) is drawn as several charts, each within a page
ROWS_PER_CHART = 45


def paged(chart, rows: list[dict], **kw) -> list[dict]:
    """`chart` drawn over ROWS_PER_CHART rows at a time, on one scale (`kw`) for all of them."""
    out = [chart(rows[i:i + ROWS_PER_CHART], **kw) for i in range(0, len(rows), ROWS_PER_CHART)]
    return [c for c in out if c]


def ranking_bars_paged(rows: list[dict], colours: dict[str, str]) -> list[dict]:
    values = [r["index_pct"] for r in rows]
    lo = max(0.0, math.floor((min(values) - 5) / 10) * 10) if values else 0.0
    return paged(ranking_bars, rows, colours=colours, lo=lo)


def rank_changes_paged(rows: list[dict]) -> list[dict]:
    moved = [r for r in rows if r.get("rank_change") not in (None, 0)]
    moved.sort(key=lambda r: (-r["rank_change"], r["unit_name"]))
    top = max((abs(r["rank_change"]) for r in moved), default=1)
    return paged(rank_changes, moved, top=top)


def rank_changes(rows: list[dict], width: int = 680, bar: int = 11, label_w: int = 190,
                 top: int | None = None) -> dict | None:
    """Diverging bars of the rank change (places up to the right, down to the left), largest moves first;
    units without a comparable rank last year are left out (they are named in the tables)."""
    moved = [r for r in rows if r.get("rank_change") not in (None, 0)]
    if not moved:
        return None
    moved.sort(key=lambda r: (-r["rank_change"], r["unit_name"]))
    top = top or max(abs(r["rank_change"]) for r in moved)
    half = (width - label_w - 40) / 2
    mid = label_w + half
    bars = []
    for i, r in enumerate(moved):
        w = abs(r["rank_change"]) / top * (half - 20)
        up = r["rank_change"] > 0
        bars.append({"y": 6 + i * (bar + 3), "x": round(mid if up else mid - w, 1), "w": round(max(w, 1), 1),
                     "up": up, "label": r["unit_name"], "text": r["change"],
                     "tx": round(mid + w + 3 if up else mid - w - 3, 1)})
    return {"width": width, "height": 6 + len(moved) * (bar + 3) + 6, "mid": round(mid, 1), "bar": bar,
            "bars": bars, "label_w": label_w}


def field_profile(fields: list[dict], width: int = 340, row: int = 15, label_w: int = 46) -> dict:
    """One unit's component index per field (bars) against the best of its group (a tick), 0–100 %."""
    plot_w = width - label_w - 40
    out = []
    for i, f in enumerate(fields):
        out.append({"y": 4 + i * row, "w": round(max(f["pct_value"], 0) / 100 * plot_w, 1),
                    "best": round(label_w + max(f["best_value"], 0) / 100 * plot_w, 1), "code": f["code"],
                    "text": f["pct"], "heat": f["heat"]})
    return {"width": width, "height": 4 + len(fields) * row + 14, "x0": label_w, "rows": out, "row": row,
            "plot_w": plot_w, "ticks": [{"x": round(label_w + t / 100 * plot_w, 1), "v": str(t)}
                                        for t in (0, 25, 50, 75, 100)]}
