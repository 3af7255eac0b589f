"""Pure module: the view-models of the methodologist's reports (`parindex robustness`, `parindex whatif`):
every number formatted here (tasks.numbers), every chart a dict of coordinates; templates only draw them."""

from __future__ import annotations

import math

import pandas as pd

from tasks.methodology import Methodology
from tasks.numbers import format_number
from tasks.robustness import spearman
from tasks.text import unit_labels, vi_sort_key

#: rows per rank-interval chart: a long group is split into charts that each fit a page
ROWS_PER_CHART = 45

LABELS = {
    "vi": {
        "robustness_title": "Độ vững của xếp hạng Chỉ số CCHC", "whatif_title": "So sánh theo bộ tiêu chí khác",
        "province": "Tỉnh/thành phố", "year": "Năm đánh giá", "methodology": "Bộ tiêu chí",
        "scheme": "Cách tính", "group": "Nhóm", "unit": "Đơn vị", "rank": "Hạng công bố",
        "interval": "Khoảng hạng 5–95 %", "index": "Chỉ số (%)", "index_interval": "Khoảng chỉ số 5–95 %",
        "band_probs": "Xác suất xếp loại", "uncertain": "Đơn vị có xếp loại chưa chắc chắn",
        "none_uncertain": "Không có đơn vị nào: xếp loại của mọi đơn vị giữ nguyên trong ít nhất {p} % số lần lặp.",
        "sensitivity": "Trọng số lĩnh vực nào làm thay đổi xếp hạng nhiều nhất",
        "sens_note": "Chỉ số độ nhạy bậc nhất: phần phương sai của thứ hạng giải thích bởi hệ số trọng số của từng "
                     "lĩnh vực (trung bình có trọng số trên các đơn vị có thứ hạng thay đổi).",
        "field": "Lĩnh vực", "first_order": "Độ nhạy bậc nhất",
        "coherence": "Tương quan giữa các lĩnh vực và với chỉ số",
        "flags": "Cảnh báo", "near_duplicate": "gần trùng lặp (|r| > 0,9)", "negative": "tương quan âm với chỉ số",
        "no_flags": "Không có cặp lĩnh vực nào gần trùng lặp và không lĩnh vực nào tương quan âm với chỉ số.",
        "chart": "Hạng công bố (chấm) và khoảng 5–95 % (vạch)",
        "reading": "Cách đọc: khoảng hạng cho biết thứ hạng thay đổi thế nào khi lấy mẫu lại người trả lời phiếu "
                   "điều tra và khi trọng số các lĩnh vực thay đổi trong phạm vi nêu trên. Đây là độ bất định do "
                   "mẫu điều tra và độ nhạy theo trọng số, không phải khoảng tin cậy về kết quả cải cách hành chính "
                   "thực tế của đơn vị.",
        "before": "Trước", "after": "Sau", "spearman": "Tương quan hạng Spearman",
        "moves": "Các đơn vị thay đổi hạng nhiều nhất", "why": "Tiêu chí thay đổi điểm nhiều nhất",
        "band_shifts": "Số đơn vị đổi xếp loại", "rank_change": "Thay đổi hạng",
        "missing": "Thiếu dữ liệu", "new_methodology": "Bộ tiêu chí so sánh",
    },
    "en": {
        "robustness_title": "How firm are the PAR Index ranks", "whatif_title": "Scored under another methodology",
        "province": "Province", "year": "Year assessed", "methodology": "Methodology", "scheme": "Scheme",
        "group": "Group", "unit": "Unit", "rank": "Published rank", "interval": "Rank 5–95 %",
        "index": "Index (%)", "index_interval": "Index 5–95 %", "band_probs": "Band probabilities",
        "uncertain": "Units whose band is uncertain",
        "none_uncertain": "None: every unit keeps its band in at least {p} % of the replicates.",
        "sensitivity": "Which field's weight moves ranks most",
        "sens_note": "First-order sensitivity index: the share of the ranks' variance explained by each field's "
                     "weight factor (averaged over the units whose rank varies, weighted by that variance).",
        "field": "Field", "first_order": "First-order index",
        "coherence": "Correlation between fields and with the index", "flags": "Flags",
        "near_duplicate": "near-duplicate (|r| > 0.9)", "negative": "negatively correlated with the index",
        "no_flags": "No near-duplicate field pair and no field negatively correlated with the index.",
        "chart": "Published rank (dot) and its 5–95 % interval (line)",
        "reading": "How to read: the rank interval shows how a rank moves when the survey respondents are "
                   "resampled and the field weights vary within the range above. It is the sampling uncertainty "
                   "of the survey and the sensitivity to the weights, not a confidence interval on the unit's "
                   "actual administrative performance.",
        "before": "Before", "after": "After", "spearman": "Spearman rank correlation",
        "moves": "Units that move most", "why": "Criteria whose points changed most",
        "band_shifts": "Units changing band", "rank_change": "Rank change",
        "missing": "Missing data", "new_methodology": "Compared methodology",
    },
}


def _fmt(v, d: int, lang: str) -> str:
    return format_number(v, d, lang)


def interval_charts(rows: pd.DataFrame, n: int, width: int = 680, label_w: int = 200) -> list[dict]:
    """Rank-interval charts of one group: a dot at the published rank, a line over its 5–95 % interval;
    ROWS_PER_CHART units a chart so that none runs off the page."""
    plot_w = width - label_w - 20
    scale = (lambda r: label_w + (r - 1) / max(n - 1, 1) * plot_w)  # noqa: E731
    charts = []
    for start in range(0, len(rows), ROWS_PER_CHART):
        part = rows.iloc[start:start + ROWS_PER_CHART]
        items = []
        for i, r in enumerate(part.itertuples(index=False)):
            y = 14 + i * 12
            items.append({"y": y, "label": r.label, "x": round(scale(r.rank), 1),
                          "x1": round(scale(r.rank_p05), 1), "x2": round(scale(r.rank_p95), 1)})
        step = max(1, math.ceil(n / 10))
        ticks = [{"x": round(scale(t), 1), "v": str(t)} for t in range(1, n + 1, step)]
        charts.append({"width": width, "height": 14 + len(part) * 12 + 18, "items": items, "ticks": ticks,
                       "axis_y": 14 + len(part) * 12 + 2, "x0": label_w})
    return charts


def robustness_context(m: Methodology, index: dict, results: pd.DataFrame, table: pd.DataFrame,
                       sens: pd.DataFrame, corr: pd.DataFrame, flags: list[dict], params: dict,
                       lang: str) -> dict:
    L = LABELS[lang]
    d = m.decimals
    res = results.set_index("unit_code")
    t = table.assign(label=table["unit_code"].map(unit_labels(results["unit_code"], results["unit_name"])),
                     group=table["unit_code"].map(res["group"]))
    band_cols = [f"p_{b.code}" for b in m.bands]
    band_name = {b.code: (b.vi if lang == "vi" else b.en) for b in m.bands}
    groups = []
    for g, rows in t.groupby("group", sort=False):
        rows = rows.sort_values(["rank", "label"], key=lambda s: s.map(vi_sort_key) if s.name == "label" else s)
        table_rows = [{"label": r.label, "rank": f"{r.rank}/{len(rows)}",
                       "interval": f"{r.rank_p05}–{r.rank_p95}", "index": _fmt(r.index_pct, d, lang),
                       "index_interval": f"{_fmt(r.index_p05, d, lang)}–{_fmt(r.index_p95, d, lang)}",
                       "probs": [_fmt(getattr(r, c) * 100, 0, lang) for c in band_cols]}
                      for r in rows.itertuples(index=False)]
        groups.append({"name": g, "rows": table_rows, "charts": interval_charts(rows, len(rows))})
    best = t[band_cols].max(axis=1)
    uncertain = [{"label": r.label, "probs": ", ".join(
        f"{band_name[c[2:]]} {_fmt(getattr(r, c) * 100, 0, lang)} %" for c in band_cols if getattr(r, c) > 0)}
        for r in t[best < 0.9].itertuples(index=False)]
    names = {f.code: f.name.get(lang) for f in m.fields}
    codes = [f.code for f in m.fields] + ["index"]
    corr_rows = [{"code": a, "cells": [_fmt(corr.loc[a, b], 2, lang) for b in codes]} for a in codes]
    flag_rows = [{"fields": f["fields"], "kind": L[f["kind"]], "r": _fmt(f["r"], 2, lang)} for f in flags]
    scheme = []
    if "survey" in params["vary"]:
        scheme.append("bootstrap người trả lời phiếu (lấy mẫu lại có hoàn lại trong từng đơn vị)" if lang == "vi"
                      else "survey respondents bootstrapped (resampled with replacement within each unit)")
    if "weights" in params["vary"]:
        w = _fmt(params["width"] * 100, 0, lang)
        scheme.append(f"trọng số mỗi lĩnh vực nhân với hệ số ngẫu nhiên đều trong ±{w} %, chuẩn hóa lại về "
                      f"{_fmt(m.max_points, 0, lang)} điểm" if lang == "vi" else
                      f"each field's weight multiplied by a uniform factor within ±{w} %, renormalised to "
                      f"{_fmt(m.max_points, 0, lang)} points")
    return {
        "lang": lang, "L": L, "title": L["robustness_title"], "province": index.get("province", ""),
        "year": str(m.year), "methodology": f"{m.title.get(lang)} ({m.id})",
        "scheme": "; ".join(scheme) + (f"; {params['replicates']} lần lặp, seed {params['seed']}" if lang == "vi"
                                       else f"; {params['replicates']} replicates, seed {params['seed']}"),
        "band_heads": [band_name[b.code] for b in m.bands], "groups": groups, "uncertain": uncertain,
        "none_uncertain": L["none_uncertain"].format(p=90),
        "sensitivity": [{"field": f"{r.field_code} {names[r.field_code]}", "value": _fmt(r.first_order, 3, lang)}
                        for r in sens.itertuples(index=False)],
        "corr_heads": codes, "corr_rows": corr_rows, "flags": flag_rows,
    }


def whatif_context(m_before: Methodology, m_after: Methodology, index: dict, table: pd.DataFrame,
                   why: pd.DataFrame, lang: str, most: int = 10) -> dict:
    L = LABELS[lang]
    d = m_after.decimals
    t = table.assign(label=table["unit_code"].map(unit_labels(table["unit_code"], table["unit_name"])),
                     change=table["rank_before"] - table["rank_after"])
    groups = []
    for g, rows in t.groupby("group", sort=False):
        movers = rows.reindex(rows["change"].abs().sort_values(ascending=False, kind="stable").index).head(most)
        movers = movers[movers["change"] != 0]
        out = []
        for r in movers.itertuples(index=False):
            mine = why[why["unit_code"] == r.unit_code]
            top = mine.reindex(mine["delta"].abs().sort_values(ascending=False).index).head(3)
            out.append({"label": r.label, "ranks": f"{r.rank_before} → {r.rank_after}",
                        "change": f"{r.change:+d}", "index": f"{_fmt(r.index_before, d, lang)} → "
                                                               f"{_fmt(r.index_after, d, lang)}",
                        "why": "; ".join(f"{c.criterion_code} ({format_number(c.delta, d, lang, signed=True)})"
                                         for c in top.itertuples(index=False))})
        groups.append({"name": g, "n": len(rows), "spearman": _fmt(spearman(rows["rank_before"],
                                                                             rows["rank_after"]), 3, lang),
                       "band_shifts": int((rows["band_before"] != rows["band_after"]).sum()), "movers": out})
    return {"lang": lang, "L": L, "title": L["whatif_title"], "province": index.get("province", ""),
            "year": str(m_before.year), "before": f"{m_before.title.get(lang)} ({m_before.id})",
            "after": f"{m_after.title.get(lang)} ({m_after.id})", "groups": groups}
