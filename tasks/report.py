"""Pure module: the report's view-model. Every figure is formatted here from the computed tables, once per
language, so templates only place strings (no arithmetic, no formatting in Jinja)."""

from __future__ import annotations

import math
from collections import namedtuple
from dataclasses import dataclass
from datetime import datetime
from functools import cache, cached_property

import numpy as np
import pandas as pd

from tasks import charts
from tasks.methodology import Methodology
from tasks.numbers import MINUS, TOLERANCE, format_number, publish, publish_all
from tasks.schema import METRICS
from tasks.scoring import satisfaction_pct
from tasks.text import unit_labels, vi_sort_key

LABELS = {
    "vi": {
        "doc_kind": "Báo cáo kết quả Chỉ số cải cách hành chính", "province": "Tỉnh/thành phố",
        "year": "Năm đánh giá", "version": "Phiên bản", "published": "Ngày công bố", "methodology": "Bộ tiêu chí",
        "draft_mark": "DỰ THẢO", "draft_note": "Dự thảo trình Hội đồng thẩm định xem xét; chưa phải văn bản công bố.",
        "nation": "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM", "motto": "Độc lập - Tự do - Hạnh phúc",
        "number": "Số", "signs_for": "TM. ỦY BAN NHÂN DÂN", "unsigned": "(chưa ký — dự thảo)",
        "provenance_line": "Số liệu tính từ các tệp đầu vào có mã băm {digest}…, bộ tiêu chí {methodology}, phiên bản "
                           "phần mềm {code}; chi tiết trong manifest.json kèm theo.",
        "technical_annex": "Phụ lục kỹ thuật (chỉ trong dự thảo): nguồn gốc số liệu",
        "run": "Mã lần chạy", "inputs_digest": "Mã băm tổng hợp các tệp đầu vào", "synthetic": "DỮ LIỆU MÔ PHỎNG — số liệu không có thật, chỉ dùng để minh họa",
        "summary": "Tổng quan", "units": "Số đơn vị", "average": "Chỉ số trung bình", "highest": "Cao nhất",
        "lowest": "Thấp nhất", "bands": "Số đơn vị theo xếp loại", "ranking": "Bảng xếp hạng",
        "rank": "Xếp hạng", "unit": "Đơn vị", "points": "Điểm", "index": "Chỉ số (%)", "band": "Xếp loại",
        "change": "Thay đổi so với năm trước", "fields": "Chỉ số thành phần theo lĩnh vực (%)",
        "lost": "Các tiêu chí bị mất nhiều điểm nhất", "criterion": "Tiêu chí", "max": "Điểm tối đa",
        "lost_points": "Điểm bị mất",
        "lost_avg": "Mất bình quân/đơn vị",
        "field_rank_note": "Số trong ngoặc sau mỗi chỉ số thành phần là thứ hạng của đơn vị trong nhóm ở lĩnh vực đó.",
        "dossiers": "Giải quyết hồ sơ và mức độ hài lòng", "satisfaction": "Hài lòng (%)", "scorecards": "Phiếu điểm rút gọn: điểm bị mất theo lĩnh vực",
        "scorecards_note": "Mỗi dòng là phiếu điểm rút gọn của một đơn vị: số điểm bị mất ở từng lĩnh vực "
                           "(màu theo chỉ số thành phần) và ba tiêu chí mất nhiều điểm nhất.",
        "field": "Lĩnh vực", "pct": "Tỷ lệ (%)", "up": "tăng", "down": "giảm", "places": "bậc",
        "same": "giữ nguyên", "new": "chưa có hạng năm trước", "prev_index": "Chỉ số năm trước",
        "deductions": "Điểm trừ", "group": "Nhóm", "provenance": "Nguồn gốc số liệu",
        "inputs": "Tệp đầu vào", "sha256": "SHA-256", "code_version": "Phiên bản phần mềm",
        "rows": "Số dòng", "of": "/", "accepted": "Hợp lệ", "rejected": "Bị loại",
        "warnings": "Phụ lục: cảnh báo khi kiểm tra dữ liệu (không ảnh hưởng kết quả)", "file": "Tệp",
        "row": "Dòng", "column": "Cột", "value": "Giá trị", "problem": "Nội dung", "weakest": "Tiêu chí mất nhiều điểm nhất",
        "method_note": "Điểm được tính với độ chính xác đầy đủ và làm tròn nửa lên đến {d} chữ số thập phân khi "
                       "công bố; xếp hạng trong từng nhóm theo chỉ số {rank_on}; các đơn vị bằng điểm cùng "
                       "hạng. Tổng điểm công bố có thể chênh 0,01 so với tổng các phần đã làm tròn.",
        "rank_on_full": "chưa làm tròn", "rank_on_published": "đã làm tròn",
        "errata": "Đính chính so với phiên bản trước", "neighbour": "(thay đổi do đơn vị khác được đính chính)",
        "errata_note": "Phiên bản này thay thế phiên bản {version} đã công bố; phiên bản {version} được giữ nguyên "
                       "để đối chiếu.",
        "deductions_title": "Điểm trừ và lý do", "deductions_note": "Tổng điểm trừ của một đơn vị không vượt quá "
                       "{cap} điểm (theo bộ tiêu chí); cột Điểm trừ của bảng kết quả là số điểm đã trừ.",
        "reason": "Lý do, căn cứ", "total": "Tổng điểm",
        "new_unit": "mới", "proforma_mark": "*", "merged": "Đơn vị mới hình thành sau sắp xếp đơn vị hành chính",
        "proforma_note": "* Chỉ số năm trước giả định (pro forma): bình quân gia quyền chỉ số năm trước của các "
                         "đơn vị hợp thành; đơn vị mới không có thứ hạng năm trước để so sánh.",
        "formed_from": "đơn vị mới hình thành từ", "proforma": "Chỉ số năm trước (giả định)",
        "pred_ranks": "Thứ hạng cũ của các đơn vị hợp thành", "index_change": "Chênh lệch chỉ số",
        "no_predecessor": "không có kết quả năm trước",
        "two_level": "Từ ngày 1/7/2025 chính quyền địa phương tổ chức hai cấp (không còn cấp huyện); "
                     "{n}/{total} đơn vị được hình thành từ việc sắp xếp, so sánh với năm trước theo chỉ số giả "
                     "định (pro forma), không so sánh thứ hạng.",
        "chart_title": "Chỉ số năm nay so với chỉ số năm trước giả định (pro forma)",
        "chart_x": "Chỉ số năm trước giả định (%)", "chart_y": "Chỉ số năm nay (%)",
        "chart_bars": "Chỉ số của các đơn vị theo thứ tự xếp hạng, tô màu theo mức xếp loại",
        "chart_distribution": "Phân bố chỉ số (số đơn vị theo khoảng 2 điểm %; đường đứt nét: ngưỡng xếp loại)",
        "chart_moves": "Thay đổi thứ hạng so với năm trước (số bậc tăng ▲ / giảm ▼)",
        "chart_profile": "Chỉ số thành phần theo lĩnh vực (%); vạch đen: cao nhất trong nhóm",
        "next_band": "Cần thêm {points} điểm để đạt mức {band}", "top_band": "Đã ở mức xếp loại cao nhất",
        "unit_card": "Phiếu điểm Chỉ số cải cách hành chính", "criteria": "Điểm theo tiêu chí",
        "best_in_group": "Cao nhất nhóm (%)", "vs_last_year": "So với năm trước (điểm %)",
        "prev_rank": "Hạng năm trước", "source": "Nguồn", "source_appraisal": "Thẩm định",
        "source_survey": "Điều tra XHH", "source_dossier": "Số liệu hồ sơ", "field_col": "Lĩnh vực",
        "lost_short": "Mất", "pct_col": "Chỉ số (%)", "deductions_label": "Điểm trừ",
        "largest_rises": "Tăng hạng nhiều nhất", "largest_falls": "Giảm hạng nhiều nhất",
    },
    "en": {
        "doc_kind": "Administrative Reform (PAR) Index results", "province": "Province",
        "year": "Year assessed", "version": "Version", "published": "Published", "methodology": "Methodology",
        "draft_mark": "DRAFT", "draft_note": "Draft for the appraisal council's review; not the published announcement.",
        "nation": "SOCIALIST REPUBLIC OF VIET NAM", "motto": "Independence - Freedom - Happiness",
        "number": "No.", "signs_for": "ON BEHALF OF THE PEOPLE'S COMMITTEE", "unsigned": "(not signed — draft)",
        "provenance_line": "Computed from input files with digest {digest}…, methodology {methodology}, software "
                           "version {code}; details in the accompanying manifest.json.",
        "technical_annex": "Technical annex (draft only): provenance",
        "run": "Run id", "inputs_digest": "Digest of all input files", "synthetic": "SYNTHETIC DATA — the figures are not real, for illustration only",
        "chart_bars": "Index of each unit in ranking order, coloured by band",
        "chart_distribution": "Distribution of the indices (units per 2-point bin; dashed lines: band thresholds)",
        "chart_moves": "Rank change from last year (places up ▲ / down ▼)",
        "chart_profile": "Component index per field (%); black tick: best in the group",
        "next_band": "{points} more points reach band {band}", "top_band": "Already in the highest band",
        "unit_card": "PAR Index scorecard", "criteria": "Points by criterion",
        "best_in_group": "Best in group (%)", "vs_last_year": "Change from last year (pts %)",
        "prev_rank": "Last year's rank", "source": "Source", "source_appraisal": "Appraisal",
        "source_survey": "Survey", "source_dossier": "Dossier data", "field_col": "Field",
        "lost_short": "Lost", "pct_col": "Index (%)", "deductions_label": "Deductions",
        "largest_rises": "Largest rises", "largest_falls": "Largest falls",
        "summary": "Summary", "units": "Units", "average": "Average index", "highest": "Highest",
        "lowest": "Lowest", "bands": "Units per band", "ranking": "Ranking", "rank": "Rank", "unit": "Unit",
        "points": "Points", "index": "Index (%)", "band": "Band", "change": "Change from last year",
        "fields": "Component indices by field (%)", "lost": "Criteria where most points were lost",
        "criterion": "Criterion", "max": "Max points", "lost_points": "Points lost",
        "field_rank_note": "The figure in brackets after each component index is the unit's rank in its group on "
                           "that field.",
        "lost_avg": "Lost per unit", "dossiers": "Dossier handling and satisfaction",
        "satisfaction": "Satisfied (%)", "scorecards": "Short scorecards: points lost by field",
        "scorecards_note": "Each row is a unit's short scorecard: the points it lost in each field (coloured by "
                           "the component index) and the three criteria where it lost most.", "field": "Field", "pct": "Share (%)",
        "up": "up", "down": "down", "places": "places", "same": "unchanged", "new": "no rank last year",
        "prev_index": "Last year's index", "deductions": "Deductions", "group": "Group",
        "provenance": "Provenance", "inputs": "Input files", "sha256": "SHA-256",
        "code_version": "Code version", "rows": "Rows", "of": "/", "accepted": "Accepted",
        "rejected": "Rejected", "warnings": "Annex: warnings found while checking the data (they do not change "
                                           "the results)", "file": "File", "row": "Row", "column": "Column",
        "value": "Value", "problem": "Problem", "weakest": "Criteria with most points lost",
        "method_note": "Points are computed at full precision and rounded half-up to {d} decimals when "
                       "published; ranks within each group use the {rank_on} index; equal scores share a "
                       "rank. A published total may differ by 0.01 from the sum of its rounded parts.",
        "rank_on_full": "unrounded", "rank_on_published": "published (rounded)",
        "errata": "Errata: changes from the previous version", "neighbour": "(moved by another unit's correction)",
        "errata_note": "This version supersedes published version {version}, which is kept unchanged for reference.",
        "deductions_title": "Deductions and their reasons", "deductions_note": "A unit's deductions are capped at "
                       "{cap} points in all (methodology); the results table's Deductions column is what was subtracted.",
        "reason": "Reason, reference", "total": "Total",
        "new_unit": "new", "proforma_mark": "*", "merged": "Units formed by the reorganisation",
        "proforma_note": "* Pro forma previous index: the weighted mean of last year's indices of the units it "
                         "was formed from; a new unit has no previous rank to compare.",
        "formed_from": "new unit formed from", "proforma": "Previous index (pro forma)",
        "pred_ranks": "Former ranks of its predecessors", "index_change": "Index change",
        "no_predecessor": "no result last year",
        "two_level": "Since 1 July 2025 local government has two levels (no districts); {n} of {total} units "
                     "were formed by the reorganisation and are compared with last year on a pro forma index, "
                     "not by rank.",
        "chart_title": "This year's index against the pro forma previous index",
        "chart_x": "Previous index, pro forma (%)", "chart_y": "Index this year (%)",
    },
}
LEVEL_NAMES = {
    "department": {"vi": "các sở, ban, ngành", "en": "provincial departments"},
    "district": {"vi": "UBND cấp huyện", "en": "district People's Committees"},
    "commune": {"vi": "UBND cấp xã", "en": "commune People's Committees"},
}
MONTHS_EN = ["January", "February", "March", "April", "May", "June", "July", "August", "September",
             "October", "November", "December"]


def format_date(d: datetime, lang: str) -> str:
    if lang == "vi":
        return f"ngày {d.day} tháng {d.month} năm {d.year}"
    return f"{d.day} {MONTHS_EN[d.month - 1]} {d.year}"


def change_text(change, lang: str) -> tuple[str, str]:
    """('▲ 3', 'up') style text and a CSS class for a rank change (positive = rose)."""
    if change is None or change is pd.NA or (isinstance(change, float) and math.isnan(change)):
        return "–", "none"
    change = int(change)
    if change > 0:
        return f"▲ {change}", "up"
    if change < 0:
        return f"▼ {-change}", "down"
    return "=", "same"


def _movement_sentence(name: str, change, rank, rank_of, lang: str) -> str:
    L = LABELS[lang]
    if change is None or change is pd.NA:
        return ""
    c = int(change)
    if c == 0:
        return f"{name}: {L['same']} ({rank}/{rank_of})" if lang == "en" else f"{name} {L['same']} hạng {rank}/{rank_of}"
    verb = L["up"] if c > 0 else L["down"]
    if lang == "vi":
        return f"{name} {verb} {abs(c)} {L['places']}, xếp thứ {rank}/{rank_of}"
    return f"{name} went {verb} {abs(c)} {L['places']} to {rank}/{rank_of}"


@cache
def _row_type(columns: tuple) -> type:
    return namedtuple("Row", columns, rename=True)


def column_list(series: pd.Series) -> list:
    """A column's values exactly as iterating it gives them, converted at once where that is the same thing:
    a NumPy column (Python scalars) and a text or pyarrow column (pandas' NA where a value is missing), which
    read cell by cell cost ~1 µs a cell. Other columns (nullable integers, categories, dates) are iterated."""
    dtype = series.dtype
    if isinstance(dtype, np.dtype):
        return series.tolist()
    if isinstance(dtype, (pd.StringDtype, pd.ArrowDtype)):
        values = series.tolist()
        if series.hasnans:
            values = [dtype.na_value if v is None or v is dtype.na_value else v for v in values]
        return values
    return list(series)


def rows_of(df: pd.DataFrame) -> list:
    """`df.itertuples(index=False)` as a list, read column by column (column_list)."""
    Row = _row_type(tuple(map(str, df.columns)))
    if not df.shape[1]:
        return [Row() for _ in range(len(df))]
    return [Row(*values) for values in zip(*(column_list(df.iloc[:, k]) for k in range(df.shape[1])), strict=True)]


def rates_by_unit(computed) -> pd.DataFrame:
    return computed.rates.set_index("unit_code") if len(computed.rates) else pd.DataFrame()


def rate_lookup(rates: pd.DataFrame) -> dict[str, dict[str, float]]:
    """rates_by_unit's figures as {metric: {unit: figure}}, for unit_rate (a frame's .loc per cell cost ~40 µs)."""
    units = rates.index.tolist()
    return {str(c): dict(zip(units, column_list(rates[c]), strict=True)) for c in rates.columns}


def unit_rate(rates: dict[str, dict[str, float]], unit: str, metric: str) -> float:
    """A unit's dossier figure (`on_time_rate`, `received`, …) from rate_lookup; NaN when the unit or the figure
    has none."""
    return rates.get(metric, {}).get(unit, float("nan"))


def group_name(index: dict, group: str, lang: str) -> str:
    """A ranking group as the report in `lang` names it: units.csv's name, or in English its translation from
    index.yaml's `group_names:` (a district's proper name needs none; "Sở, ban, ngành" does)."""
    if lang == "vi":
        return group
    return str((index.get("group_names") or {}).get(group, group))


@dataclass(frozen=True)
class _View:
    """What every section of the report needs: the methodology, the language, and the ranked units with
    unambiguous names (a name that repeats, three "Xã Hồng Phong", carries its code wherever it is shown)."""

    m: Methodology
    index: dict
    lang: str
    ranked: pd.DataFrame

    @property
    def L(self) -> dict:  # noqa: N802 — the templates' name for the labels
        return LABELS[self.lang]

    @property
    def d(self) -> int:
        return self.m.decimals

    def fmt(self, value) -> str:
        return format_number(value, self.m.decimals, self.lang)

    @cached_property
    def _bands(self) -> dict[str, str]:
        return {b.code: (b.vi if self.lang == "vi" else b.en) for b in self.m.bands}

    @cached_property
    def _criteria(self) -> dict[str, str]:
        return {lf.code: lf.criterion.name.get(self.lang) for lf in self.m.leaves()}

    def band(self, code: str) -> str:
        """A band's name in the report's language (the code itself when the methodology has no such band)."""
        return self._bands.get(code, code)

    def criterion_name(self, code: str) -> str:
        return self._criteria.get(code, "")


def _group_rows(v: _View, g: list) -> list[dict]:
    rows = []
    for r in g:
        text, css = change_text(r.rank_change, v.lang)
        prev_index = v.fmt(r.prev_index_pct)
        if r.predecessors:  # formed from earlier units: a pro forma index, never a rank change
            n = r.predecessors.count(";") + 1
            text, css = f"{v.L['new_unit']} ({n})", "none"
            prev_index = v.fmt(r.prev_index_proforma) + v.L["proforma_mark"]
        rows.append({"rank": f"{r.rank}/{r.rank_of}", "unit_code": r.unit_code, "unit_name": r.unit_name,
                     "points": v.fmt(r.total_points), "index": v.fmt(r.index_pct),
                     "band": v.band(r.band), "band_code": r.band, "change": text, "change_css": css,
                     "prev_index": prev_index, "index_pct": float(r.index_pct),
                     "rank_change": None if pd.isna(r.rank_change) or r.predecessors else int(r.rank_change)})
    return rows


def _movers(v: _View, g: list) -> list[str]:
    """Who rose and fell most (at least 3 places; up to 5 each way), as an announcement names them; `g`, the
    group's units by rank."""
    moved = [r for r in g if not pd.isna(r.rank_change) and r.predecessors == "" and abs(float(r.rank_change)) >= 3]
    rises = sorted((r for r in moved if r.rank_change > 0), key=lambda r: (-r.rank_change, r.rank))[:5]
    falls = sorted((r for r in moved if r.rank_change < 0), key=lambda r: (r.rank_change, r.rank))[:5]
    out = []
    for label, part in ((v.L["largest_rises"], rises), (v.L["largest_falls"], falls)):
        if part:
            out.append(f"{label}: " + "; ".join(_movement_sentence(r.unit_name, r.rank_change, r.rank, r.rank_of,
                                                                   v.lang) for r in part))
    return out


def _groups(v: _View) -> list[dict]:
    """Groups in the order units.csv lists them; units by rank, then Vietnamese alphabetical order."""
    colours = charts.band_colours(v.m.bands)
    by_group: dict[str, list] = {group: [] for group in dict.fromkeys(v.ranked["group"])}
    ranked = v.ranked.assign(_name=v.ranked["unit_name"].map(vi_sort_key)).sort_values(["rank", "_name"])
    for r in rows_of(ranked):
        by_group[r.group].append(r)
    groups = []
    for group, g in by_group.items():
        gname = group_name(v.index, group, v.lang)
        rows = _group_rows(v, g)
        first, last = g[0], g[-1]
        leaders = ", ".join(r.unit_name for r in g if r.rank == 1)
        if v.lang == "vi":
            lead = (f"Dẫn đầu nhóm {gname} là {leaders} với chỉ số {v.fmt(first.index_pct)}%; "
                    f"xếp cuối là {last.unit_name} ({v.fmt(last.index_pct)}%).")
        else:
            lead = (f"{leaders} led {gname} with an index of {v.fmt(first.index_pct)}%; "
                    f"{last.unit_name} ranked last ({v.fmt(last.index_pct)}%).")
        groups.append({"name": gname, "rows": rows, "lead": lead, "movers": _movers(v, g),
                       "bars": charts.ranking_bars_paged(rows, colours), "moves": charts.rank_changes_paged(rows)})
    return groups


def _field_table(v: _View) -> tuple[list[dict], list[dict]]:
    """Component indices per field, each with the unit's rank on that field: "92,50 (3)"."""
    heads = [{"code": f.code, "name": f.name.get(v.lang), "max": v.fmt(f.max_points)} for f in v.m.fields]
    rows = []
    for r in rows_of(v.ranked):
        cells = [{"text": f"{v.fmt(getattr(r, f'{f.code}_pct'))} ({getattr(r, f'{f.code}_rank')})",
                  "heat": heat_class(v.m, getattr(r, f"{f.code}_pct"))} for f in v.m.fields]
        rows.append({"unit_name": r.unit_name, "group": group_name(v.index, r.group, v.lang), "cells": cells})
    return heads, rows


def _lost_rows(v: _View, crit: pd.DataFrame) -> list[dict]:
    """The ten criteria where the province lost most points, from the published figures."""
    lost = crit.groupby("criterion_code", sort=False).agg(lost=("lost", "sum"), max=("max_points", "first"))
    n = len(v.ranked)
    return [{"code": code, "name": v.criterion_name(code), "max": v.fmt(row["max"]), "lost": v.fmt(row["lost"]),
             "lost_avg": v.fmt(row["lost"] / n)}
            for code, row in lost.sort_values("lost", ascending=False).head(10).iterrows()]


def _dossier_table(v: _View, computed) -> dict:
    """Every dossier metric of tasks/schema.py the units have figures for (a new metric is a new column), in
    %, and survey satisfaction, per unit: {"heads": [...], "rows": [{"unit_name", "cells"}]}."""
    rates = rates_by_unit(computed)
    metrics = [mt for mt in METRICS.values() if mt.code in rates.columns and rates[mt.code].notna().any()]
    satisfaction = satisfaction_pct(v.m, v.ranked["survey_points"])

    lookup = rate_lookup(rates)

    def rate_pct(unit: str, metric: str) -> str:
        value = unit_rate(lookup, unit, metric)
        return "–" if pd.isna(value) else v.fmt(value * 100)

    return {"heads": [mt.short(v.lang) for mt in metrics] + [v.L["satisfaction"]],
            "rows": [{"unit_name": r.unit_name,
                      "cells": [rate_pct(r.unit_code, mt.code) for mt in metrics]
                      + ["–" if pd.isna(s) else v.fmt(s)]}
                     for r, s in zip(rows_of(v.ranked), satisfaction, strict=True)]}


def criteria_by_unit(crit: pd.DataFrame) -> dict[str, list]:
    """published_lost's rows per unit, in their order, as records (`c.criterion_code`, `c.lost`)."""
    by_unit: dict[str, list] = {}
    for c in rows_of(crit):
        by_unit.setdefault(c.unit_code, []).append(c)
    return by_unit


def _most_lost(c) -> tuple[bool, float]:
    return (pd.isna(c.lost), 0.0 if pd.isna(c.lost) else -float(c.lost))  # as sort_values: a missing one last


def _short_cards(v: _View, crit: pd.DataFrame) -> list[dict]:
    """The report's short scorecard of each unit: points lost per field and its three weakest criteria."""
    crit_by_unit = criteria_by_unit(crit)
    # a field's maximum is a sum over its criteria tree: summed once here, not twice per unit
    heads = [(f.code, f.name.get(v.lang), f.max_points, v.fmt(f.max_points)) for f in v.m.fields]
    cards = []
    for r in rows_of(v.ranked):
        fields = []
        for code, name, most, most_text in heads:
            pts, pct = getattr(r, f"{code}_points"), getattr(r, f"{code}_pct")
            fields.append({"code": code, "name": name, "points": v.fmt(pts), "max": most_text, "pct": v.fmt(pct),
                           "lost": v.fmt(most - publish(pts, v.d)), "heat": heat_class(v.m, pct)})
        mine = sorted(crit_by_unit[r.unit_code], key=_most_lost)  # stable: ties in criteria order
        weakest = [{"code": c.criterion_code, "name": v.criterion_name(c.criterion_code), "points": v.fmt(c.points),
                    "max": v.fmt(c.max_points), "lost": v.fmt(c.lost)}
                   for c in mine[:3] if c.lost > 0]
        text, css = change_text(r.rank_change, v.lang)
        cards.append({"unit_code": r.unit_code, "unit_name": r.unit_name,
                      "group": group_name(v.index, r.group, v.lang), "rank": f"{r.rank}/{r.rank_of}",
                      "points": v.fmt(r.total_points), "index": v.fmt(r.index_pct), "band": v.band(r.band),
                      "change": text, "change_css": css, "deductions": v.fmt(r.deduction_points),
                      "fields": fields, "weakest": weakest,
                      "deductions_signed": (MINUS if r.deduction_points > 0 else "") + v.fmt(r.deduction_points)})
    return cards


def _summary(v: _View) -> dict:
    ranked = v.ranked
    best, worst = ranked.loc[ranked["index_pct"].idxmax()], ranked.loc[ranked["index_pct"].idxmin()]
    prev_avg = ranked["prev_index_pct"].dropna()
    return {"units": str(len(ranked)), "average": v.fmt(ranked["index_pct"].mean()),
            "prev_average": v.fmt(prev_avg.mean()) if len(prev_avg) else "",
            "highest": f"{best.unit_name} ({v.fmt(best.index_pct)}%)",
            "lowest": f"{worst.unit_name} ({v.fmt(worst.index_pct)}%)",
            "bands": [{"code": b.code, "label": v.band(b.code), "count": int((ranked["band"] == b.code).sum())}
                      for b in v.m.bands]}


def _merged(v: _View) -> dict:
    """Units formed by the 2025 reorganisation, compared pro forma with their predecessors."""
    ranked = v.ranked
    merged = []
    for r in ranked[ranked["predecessors"] != ""].itertuples(index=False):
        # the difference of the figures as printed (79,96 − 84,16 = −4,20, never −4,19 from unrounded ones)
        delta = publish(r.index_pct, v.d) - publish(r.prev_index_proforma, v.d)
        merged.append({"unit_name": r.unit_name, "index": v.fmt(r.index_pct),
                       "proforma": v.fmt(r.prev_index_proforma) + v.L["proforma_mark"],
                       "change": format_number(delta, v.d, v.lang, signed=True) if not math.isnan(delta) else "",
                       "ranks": r.prev_rank_range, "predecessors": f"{v.L['formed_from']}: {r.predecessors}"})
    lone = [r.unit_name for r in ranked[ranked["predecessors"] == ""].itertuples(index=False)
            if pd.isna(r.prev_rank)]
    return {"merged": merged, "lone": ", ".join(lone) if merged else "",
            "two_level": (v.L["two_level"].format(n=len(merged), total=len(ranked))
                          if merged and v.m.year >= 2025 else ""),
            "chart": proforma_chart(ranked, v.lang) if merged else None}


def _errata(v: _View, changes: pd.DataFrame | None) -> list[dict]:
    """A rerun's changes.csv as the errata table: band names, not letters; a neighbour's move said so."""
    names = dict(zip(v.ranked["unit_code"], v.ranked["unit_name"], strict=True))
    out = []
    for c in (changes.to_dict("records") if changes is not None else []):
        crit_name = v.criterion_name(c["criterion_code"]) if c["criterion_code"] else ""
        old_band, new_band = v.band(c["old_band"]), v.band(c["new_band"])
        out.append({
            "unit_name": names.get(c["unit_code"], c["unit_code"]),
            "criterion": f"{c['criterion_code']} {crit_name}".strip() or v.L["neighbour"],
            "points": "" if pd.isna(c["old_points"]) else f"{v.fmt(c['old_points'])} → {v.fmt(c['new_points'])}",
            "total": f"{v.fmt(c['old_total'])} → {v.fmt(c['new_total'])}",
            "rank": f"{c['old_rank']} → {c['new_rank']}",
            "band": old_band if old_band == new_band else f"{old_band} → {new_band}",
            "reason": " ".join(x for x in (c["reason"], f"({c['reference']})" if c["reference"] else "") if x)})
    return out


def _files_and_warnings(v: _View, computed, run: dict) -> tuple[list[dict], list[dict]]:
    """The technical annex's inputs (sha256, rows read/accepted/rejected) and, in a draft, the warnings."""
    files = []
    for f in run["files"]:
        c = computed.checked.counts.get(f.archived.split("/")[-1], {})
        count = lambda key, c=c: "" if c.get(key) is None else format_number(c[key], 0, v.lang)  # noqa: E731
        files.append({"role": f.role, "name": f.archived, "sha256": f.sha256, "rows": count("rows_read"),
                      "accepted": count("rows_accepted"), "rejected": count("rows_rejected")})
    if not run.get("draft"):
        return files, []
    names = dict(zip(v.ranked["unit_code"], v.ranked["unit_name"], strict=True))
    warnings = [{"file": p.file, "row": "" if p.row in (None, "") else str(p.row),
                 "unit": names.get(p.unit_code, p.unit_code), "column": p.column, "value": p.value,
                 "problem": (p.problem_vi or p.problem) if v.lang == "vi" else p.problem}
                for p in computed.checked.problems if p.severity == "warning"]
    return files, warnings


def build_context(m: Methodology, index: dict, computed, run: dict, lang: str,
                  changes: pd.DataFrame | None = None) -> dict:
    """Everything the report template shows, formatted for `lang` ('vi' or 'en'); `changes` (a rerun's
    changes.csv) becomes the errata section at the top."""
    ranked = computed.ranked.assign(unit_name=computed.ranked["unit_code"].map(
        unit_labels(computed.ranked["unit_code"], computed.ranked["unit_name"])))
    v = _View(m, index, lang, ranked)
    L, fmt = v.L, v.fmt
    crit = published_lost(computed, m.decimals)
    groups = _groups(v)
    cards = _short_cards(v, crit)
    by_code = {c["unit_code"]: c for c in cards}
    for g in groups:
        g["cards"] = [by_code[row["unit_code"]] for row in g["rows"]]
    field_heads, field_rows = _field_table(v)
    files, warnings = _files_and_warnings(v, computed, run)
    level = LEVEL_NAMES.get(m.level, {}).get(lang, m.level)
    return {
        "lang": lang, "L": L,
        "title": (f"Chỉ số cải cách hành chính năm {m.year} của {level}" if lang == "vi" else
                  f"{m.year} PAR Index of {level}"),
        "methodology_title": m.title.get(lang), "province": index.get("province", ""),
        "year": str(m.year), "level_name": level,
        "version": str(run["version"]), "date": format_date(run.get("report_date", run["started_at"]), lang),
        "inputs_digest": run.get("inputs_sha256", ""),
        "methodology_id": m.id, "methodology_sha256": m.sha256, "basis": m.basis_in(lang),
        "code_version": run["code_version"], "synthetic": bool(index.get("synthetic")),
        "draft": bool(run.get("draft")), "publication": publication_block(index.get("publication"), run, lang),
        "provenance_line": L["provenance_line"].format(digest=run.get("inputs_sha256", "")[:16], methodology=m.id,
                                                       code=run["code_version"]),
        "method_note": L["method_note"].format(d=m.decimals, rank_on=L[f"rank_on_{m.rank_on}"]),
        "summary": _summary(v), "groups": groups, "field_heads": field_heads, "field_rows": field_rows,
        "lost_rows": _lost_rows(v, crit), "dossier_table": _dossier_table(v, computed), "cards": cards,
        "files": files, "errata": _errata(v, changes), "corrects_run": run.get("parent_run_id") or "",
        "corrects_version": str(int(run["version"]) - 1) if int(run["version"]) > 1 else "",
        "deductions": deduction_rows(m, computed, lang),
        "deductions_note": L["deductions_note"].format(cap=fmt(m.deductions.max)) if m.deductions else "",
        **_merged(v), "warnings": warnings,
        "distribution": charts.distribution(ranked["index_pct"], m.bands, charts.band_colours(m.bands)),
        "band_legend": " · ".join(f"{b.code}: {v.band(b.code)} (≥ {fmt(b.min)})"
                                  for b in sorted(m.bands, key=lambda b: -b.min)),
    }


def publication_block(publication: dict | None, run: dict, lang: str) -> dict | None:
    """The official form of the announcement (Nghị định 30/2020/NĐ-CP layout) from index.yaml's
    `publication:`: issuer and number on the left, national heading and motto on the right, place and date,
    and the signature block (`signer_title`, `signer`); None when index.yaml has no `publication:`."""
    if not publication:
        return None
    date = run.get("report_date", run["started_at"])
    place = publication.get("place", "")
    when = (f"{place}, {format_date(date, 'vi')}" if lang == "vi" else f"{place}, {format_date(date, 'en')}").strip(", ")
    return {"issuer": publication.get("issuer", ""), "number": publication.get("number", ""), "when": when,
            "signer": publication.get("signer", ""), "signer_title": publication.get("signer_title", ""),
            "issuing_body": publication.get("issuing_body", "")}


def heat_class(m: Methodology, pct: float) -> str:
    """The heat-map class of a component index: the band of the methodology it would reach, best first (h5,
    h4, …; no cut-off of its own)."""
    if pct is None or math.isnan(pct):
        return "h0"
    for i, band in enumerate(sorted(m.bands, key=lambda b: -b.min)):
        if pct + TOLERANCE >= band.min:
            return f"h{max(1, 5 - i)}"
    return "h1"


def proforma_chart(ranked: pd.DataFrame, lang: str, size: int = 360, pad: int = 44) -> dict:
    """Coordinates of an SVG scatter: pro forma previous index (x) against this year's index (y), with the
    diagonal; a point above it rose. Pure geometry here; templates only draw it."""
    L = LABELS[lang]
    pts = ranked[(ranked["predecessors"] != "") & ranked["prev_index_proforma"].notna()]
    values = pd.concat([pts["index_pct"], pts["prev_index_proforma"]])
    lo = math.floor(min(values.min(), 100) / 5) * 5 if len(values) else 0
    hi = min(100, math.ceil(max(values.max(), lo + 5) / 5) * 5) if len(values) else 100
    span = max(hi - lo, 5)
    scale = lambda v: (v - lo) / span * (size - 2 * pad)  # noqa: E731
    points = [{"x": round(pad + scale(r.prev_index_proforma), 1), "y": round(size - pad - scale(r.index_pct), 1),
               "rose": bool(r.index_pct >= r.prev_index_proforma), "label": r.unit_name}
              for r in rows_of(pts)]
    ticks = [{"v": format_number(v, 0, lang), "x": round(pad + scale(v), 1), "y": round(size - pad - scale(v), 1)}
             for v in range(int(lo), int(hi) + 1, 5)]
    return {"size": size, "pad": pad, "points": points, "ticks": ticks, "title": L["chart_title"],
            "x_label": L["chart_x"], "y_label": L["chart_y"], "x0": pad, "y0": size - pad,
            "x1": size - pad, "y1": pad}


def published_lost(computed, d: int) -> pd.DataFrame:
    """criteria.csv's rows with the points each unit lost, from the published (rounded) points: on every page
    points + lost = maximum to the last digit (3,53 + 0,47, never 0,48 from an unrounded 3,525)."""
    crit = computed.criteria_published
    return crit.assign(lost=publish_all(crit["max_points"] - crit["points"], d))


def deduction_rows(m: Methodology, computed, lang: str) -> list[dict]:
    """Every deduction as given in deductions.csv, with its criterion's name and its reason (the cap per unit,
    `deductions.max`, applies to their sum: results.csv's deduction_points is what was subtracted)."""
    d = m.decimals
    ded = computed.checked.deductions
    if ded is None or not len(ded):
        return []
    names = m.names(lang)
    labels = unit_labels(computed.ranked["unit_code"], computed.ranked["unit_name"])
    rows = []
    for r in ded.sort_values(["unit_code"], kind="stable").to_dict("records"):
        code = r.get("criterion_code", "") or ""
        rows.append({"unit_code": r["unit_code"], "unit": labels.get(r["unit_code"], r["unit_code"]),
                     "criterion": f"{code} {names.get(code, '')}".strip(), "criterion_code": code,
                     "points": format_number(r["points"], d, lang), "points_value": publish(r["points"], d),
                     "reason": r.get("reason", "") or ""})
    return rows
