"""Pure module: the official Excel appendix (results.xlsx): one frame per sheet with Vietnamese headers and the
published figures as numbers, and the title lines above each sheet."""

from __future__ import annotations

import pandas as pd

from tasks.methodology import Methodology
from tasks.numbers import publish
from tasks.report import (
    LEVEL_NAMES,
    deduction_rows,
    format_date,
    published_lost,
    rate_lookup,
    rates_by_unit,
    unit_rate,
)
from tasks.schema import COUNT_LABELS_VI, METRICS
from tasks.scoring import satisfaction_pct
from tasks.text import vi_sort_key

SOURCE_VI = {"appraisal": "Thẩm định", "survey": "Điều tra XHH", "dossier": "Số liệu hồ sơ"}


def appendix_titles(m: Methodology, index: dict, sheets: dict, run: dict) -> dict[str, list[str]]:
    """The two title lines above each sheet of the official appendix: what it is, and for which publication."""
    level = LEVEL_NAMES.get(m.level, {}).get("vi", m.level)
    head = f"PHỤ LỤC KẾT QUẢ CHỈ SỐ CẢI CÁCH HÀNH CHÍNH NĂM {m.year} CỦA {level.upper()} — {index.get('province', '')}"
    date = run.get("report_date")
    when = f"; ngày công bố: {format_date(date, 'vi')}" if date else ""
    return {name: [head, f"{name} · Phiên bản {run['version']}{when} · Bộ tiêu chí {m.id}"] for name in sheets}


def appendix_sheets(m: Methodology, computed, changes: pd.DataFrame | None = None) -> dict[str, pd.DataFrame]:
    """The official Excel appendix, Vietnamese headers, numbers as numbers (rounded half-up as published):
    Xếp hạng, Chỉ số thành phần, Tiêu chí, Hồ sơ – khảo sát and, for a corrected version, Đính chính. Units
    by group, rank and Vietnamese alphabetical order; the figures are those of results.csv / criteria.csv."""
    res = computed.results.copy()
    group_order = {g: i for i, g in enumerate(dict.fromkeys(res["group"]))}  # as units.csv lists them
    res = res.assign(_g=res["group"].map(group_order),
                     _n=res["unit_name"].map(vi_sort_key)).sort_values(["_g", "rank", "_n"])
    names = dict(zip(res["unit_code"], res["unit_name"], strict=True))
    sheets = {"Xếp hạng": _ranking_sheet(res), "Chỉ số thành phần": _fields_sheet(m, res),
              "Tiêu chí": _criteria_sheet(m, computed, res, names), "Hồ sơ – khảo sát": _dossier_sheet(m, computed, res)}
    optional = {"So sánh giả định": _proforma_sheet(m, computed), "Điểm trừ": _deduction_sheet(m, computed),
                "Đính chính": None if changes is None else _errata_sheet(m, changes, names)}
    return {**sheets, **{name: sheet for name, sheet in optional.items() if sheet is not None}}


def _as_int(values) -> pd.api.extensions.ExtensionArray:
    return pd.array([None if pd.isna(v) else int(v) for v in values], dtype="Int64")


def _ranking_sheet(res: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame({
        "Nhóm": res["group"], "Hạng": _as_int(res["rank"]), "Số đơn vị trong nhóm": _as_int(res["rank_of"]),
        "Mã đơn vị": res["unit_code"], "Tên đơn vị": res["unit_name"], "Tổng điểm": res["total_points"],
        "Điểm tối đa": res["max_points"], "Chỉ số (%)": res["index_pct"], "Xếp loại": res["band_vi"],
        "Hạng năm trước": _as_int(res["prev_rank"]), "Thay đổi hạng (+ tăng, − giảm)": _as_int(res["rank_change"]),
        "Điểm thẩm định": res["appraisal_points"], "Điểm điều tra XHH": res["survey_points"],
        "Điểm số liệu hồ sơ": res["dossier_points"], "Điểm trừ": res["deduction_points"]})


def _fields_sheet(m: Methodology, res: pd.DataFrame) -> pd.DataFrame:
    fields = pd.DataFrame({"Nhóm": res["group"], "Hạng": _as_int(res["rank"]), "Mã đơn vị": res["unit_code"],
                           "Tên đơn vị": res["unit_name"]})
    for f in m.fields:
        fields[f"{f.code}. {f.name.get('vi')} (%)"] = res[f"{f.code}_pct"].to_numpy()
        fields[f"Hạng {f.code}"] = _as_int(res[f"{f.code}_rank"])
    fields["Chỉ số (%)"] = res["index_pct"].to_numpy()
    return fields


def _criteria_sheet(m: Methodology, computed, res: pd.DataFrame, names: dict) -> pd.DataFrame:
    leaves = {lf.code: lf for lf in m.leaves()}
    order = {u: i for i, u in enumerate(res["unit_code"])}
    crit = published_lost(computed, m.decimals)
    crit = crit.assign(_u=crit["unit_code"].map(order)).sort_values("_u", kind="stable")
    return pd.DataFrame({
        "Mã đơn vị": crit["unit_code"], "Tên đơn vị": crit["unit_code"].map(names),
        "Lĩnh vực": crit["field_code"], "Mã tiêu chí": crit["criterion_code"],
        "Tiêu chí": crit["criterion_code"].map(lambda c: leaves[c].criterion.name.get("vi") if c in leaves else ""),
        "Nguồn điểm": crit["source"].map(SOURCE_VI).fillna(crit["source"]), "Điểm": crit["points"],
        "Điểm tối đa": crit["max_points"], "Điểm bị mất": crit["lost"]})


def _dossier_sheet(m: Methodology, computed, res: pd.DataFrame) -> pd.DataFrame:
    """Every dossier count and metric of tasks/schema.py (a new metric is a new column), and satisfaction."""
    d = m.decimals
    rates = rate_lookup(rates_by_unit(computed))

    def pct(unit: str, metric: str):
        v = unit_rate(rates, unit, metric)
        return None if pd.isna(v) else publish(float(v) * 100, d)

    def count(unit: str, metric: str):
        v = unit_rate(rates, unit, metric)
        return None if pd.isna(v) else int(v)

    units = res["unit_code"].tolist()
    return pd.DataFrame({
        "Mã đơn vị": units, "Tên đơn vị": res["unit_name"].tolist(),
        **{label: pd.array([count(u, c) for u in units], dtype="Int64") for c, label in COUNT_LABELS_VI.items()},
        **{metric.short_vi: [pct(u, metric.code) for u in units] for metric in METRICS.values()},
        "Hài lòng (%)": [None if pd.isna(s) else publish(s, d) for s in satisfaction_pct(m, res["survey_points"])]})


def _proforma_sheet(m: Methodology, computed) -> pd.DataFrame | None:
    """Units formed by the 2025 reorganisation, beside their predecessors' pro forma figures."""
    d = m.decimals
    merged = computed.ranked[computed.ranked["predecessors"] != ""]
    if not len(merged):
        return None
    return pd.DataFrame({
        "Mã đơn vị": merged["unit_code"], "Tên đơn vị": merged["unit_name"],
        "Chỉ số năm nay (%)": [publish(v, d) for v in merged["index_pct"]],
        "Chỉ số năm trước giả định (%)": [publish(v, d) for v in merged["prev_index_proforma"]],
        "Chênh lệch (điểm %)": [publish(a, d) - publish(b, d) if pd.notna(b) else None
                                for a, b in zip(merged["index_pct"], merged["prev_index_proforma"], strict=True)],
        "Thứ hạng cũ của các đơn vị tiền thân": merged["prev_rank_range"],
        "Hình thành từ": merged["predecessors"]})


def _deduction_sheet(m: Methodology, computed) -> pd.DataFrame | None:
    deductions = deduction_rows(m, computed, "vi")
    if not deductions:
        return None
    return pd.DataFrame({
        "Mã đơn vị": [x["unit_code"] for x in deductions], "Tên đơn vị": [x["unit"] for x in deductions],
        "Tiêu chí": [x["criterion"] for x in deductions], "Điểm trừ": [x["points_value"] for x in deductions],
        "Lý do": [x["reason"] for x in deductions]})


def _errata_sheet(m: Methodology, changes: pd.DataFrame, names: dict) -> pd.DataFrame:
    band_vi = {b.code: b.vi for b in m.bands}
    return pd.DataFrame({
        "Mã đơn vị": changes["unit_code"], "Tên đơn vị": changes["unit_code"].map(names),
        "Mã tiêu chí": changes["criterion_code"], "Điểm cũ": changes["old_points"],
        "Điểm mới": changes["new_points"], "Tổng điểm cũ": changes["old_total"],
        "Tổng điểm mới": changes["new_total"], "Hạng cũ": _as_int(changes["old_rank"]),
        "Hạng mới": _as_int(changes["new_rank"]),
        "Xếp loại cũ": changes["old_band"].map(band_vi).fillna(changes["old_band"]),
        "Xếp loại mới": changes["new_band"].map(band_vi).fillna(changes["new_band"]),
        "Lý do": changes["reason"], "Căn cứ": changes["reference"]})
