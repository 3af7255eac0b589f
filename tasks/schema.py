"""The vocabulary of parindex's inputs, declared once: every input table's columns, and the dossier metrics.

Pure module (no I/O, no pandas): ingest reads files by these declarations, the checks and the scoring core
take the dossier counts and metrics from here, and the report and the Excel appendix label them from here.
Adding a dossier metric is one line in METRICS (plus the methodology that scores it).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Column:
    """One column of an input table. `kind`: code (text, leading zeros kept), text, number (decimals allowed),
    count (whole number ≥ 0), month (YYYY-MM; a date cell is read as its month), datetime, flag."""

    name: str
    kind: str = "text"
    required: bool = True


@dataclass(frozen=True)
class TableSpec:
    name: str
    columns: tuple[Column, ...]
    vi: str
    en: str

    @property
    def required(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns if c.required)

    @property
    def optional(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns if not c.required)

    @property
    def numeric(self) -> tuple[str, ...]:
        """Columns whose cells are numbers: a decimal comma there is a decimal separator in a `;` file."""
        return tuple(c.name for c in self.columns if c.kind in ("number", "count"))

    def kind(self, column: str) -> str:
        return next((c.kind for c in self.columns if c.name == column), "text")


def _t(name: str, vi: str, en: str, *cols: Column) -> TableSpec:
    return TableSpec(name, cols, vi, en)


#: the dossier counts of one unit and month (CONTRACT.md dossier_stats.csv), in file order, with the
#: Vietnamese headings of the Excel appendix
COUNT_LABELS_VI = {"received": "Hồ sơ tiếp nhận", "received_online": "Hồ sơ trực tuyến",
                   "resolved": "Hồ sơ đã giải quyết", "resolved_on_time": "Giải quyết đúng hạn",
                   "resolved_late": "Giải quyết quá hạn", "digitized": "Hồ sơ số hóa"}
COUNT_COLUMNS = tuple(COUNT_LABELS_VI)
#: counts that are the sum of others: every resolved dossier was resolved either on time or late
SUMS = {"resolved": ("resolved_on_time", "resolved_late")}

TABLES: dict[str, TableSpec] = {t.name: t for t in (
    _t("units", "Danh mục đơn vị", "Unit registry",
       Column("unit_code", "code"), Column("unit_name"), Column("level"), Column("group"),
       Column("parent_code", "code", False), Column("active_from", "month", False)),
    _t("self_assessment", "Tự đánh giá và thẩm định", "Self-assessment and appraisal",
       Column("unit_code", "code"), Column("criterion_code", "code"), Column("appraised_points", "number"),
       Column("self_points", "number", False), Column("evidence", "text", False), Column("note", "text", False)),
    _t("survey_responses", "Phiếu điều tra xã hội học", "Survey answers",
       Column("respondent_id", "code"), Column("unit_code", "code"), Column("question_code", "code"),
       Column("answer", "number")),
    _t("survey_scores", "Điểm điều tra xã hội học", "Survey points",
       Column("unit_code", "code"), Column("criterion_code", "code"), Column("points", "number")),
    _t("dossier_stats", "Số liệu hồ sơ theo tháng", "Monthly dossier statistics",
       Column("unit_code", "code"), Column("period", "month"), *(Column(c, "count") for c in COUNT_COLUMNS)),
    _t("dossiers", "Dữ liệu từng hồ sơ", "Per-dossier records",
       Column("dossier_id", "code"), Column("unit_code", "code"), Column("received_at", "datetime"),
       Column("due_at", "datetime"), Column("resolved_at", "datetime"), Column("online", "flag"),
       Column("digitized", "flag")),
    _t("deductions", "Điểm trừ", "Deductions",
       Column("unit_code", "code"), Column("points", "number"), Column("criterion_code", "code", False),
       Column("reason", "text", False)),
    _t("lineage", "Đơn vị tiền thân", "Predecessor units",
       Column("unit_code", "code"), Column("predecessor_code", "code"),
       Column("predecessor_name", "text", False), Column("weight", "number", False)),
    _t("previous_results", "Kết quả năm trước", "Last year's results",
       Column("unit_code", "code"), Column("rank", "count")),
    _t("corrections", "Đính chính", "Corrections",
       Column("unit_code", "code"), Column("criterion_code", "code"), Column("column"),
       Column("new_value", "number"), Column("reason", "text", False), Column("reference", "text", False),
       Column("author", "text", False)),
)}


@dataclass(frozen=True)
class Metric:
    """A dossier metric: numerator / denominator of the dossier counts. `higher_is_better` decides which
    scales fit it (CONTRACT.md: steps with `min` and linear from < to, or steps with `max` and from > to)."""

    code: str
    numerator: str
    denominator: str
    higher_is_better: bool
    vi: str
    en: str
    short_vi: str  # the Excel appendix's and the report's column, "Đúng hạn (%)"
    short_en: str  # the English report's column, "On time (%)"

    def short(self, lang: str) -> str:
        return self.short_vi if lang == "vi" else self.short_en


METRICS: dict[str, Metric] = {m.code: m for m in (
    Metric("on_time_rate", "resolved_on_time", "resolved", True, "Tỷ lệ hồ sơ giải quyết đúng hạn",
           "Share of dossiers resolved on time", "Đúng hạn (%)", "On time (%)"),
    Metric("online_rate", "received_online", "received", True, "Tỷ lệ hồ sơ tiếp nhận trực tuyến",
           "Share of dossiers received online", "Trực tuyến (%)", "Online (%)"),
    Metric("digitized_rate", "digitized", "received", True, "Tỷ lệ hồ sơ được số hóa",
           "Share of dossiers digitised", "Số hóa (%)", "Digitised (%)"),
    Metric("late_rate", "resolved_late", "resolved", False, "Tỷ lệ hồ sơ giải quyết trễ hạn",
           "Share of dossiers resolved late", "Quá hạn (%)", "Late (%)"),
)}
