"""Pure module: check the text tables of a run against the registry and the methodology, and type them.

Every problem names the file, the row as the user sees it in Excel (header = row 1), the unit, the column,
the value and what is wrong, so the submitting unit can fix it. Nothing is dropped silently: a row is either
accepted or reported. `check_inputs` returns the typed tables and the problems; the flow refuses to publish
when any problem has severity "error".
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import pandas as pd

from tasks.methodology import METRICS, Methodology

#: validation/errors.csv; `problem` is English, `problem_vi` Vietnamese; `check` names the rule that fired
PROBLEM_COLUMNS = ["file", "row", "unit_code", "column", "value", "problem", "severity", "problem_vi", "check"]
_PERIOD = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")
_DECIMAL_COMMA = re.compile(r"^-?\d+,\d+$")


@dataclass
class Checked:
    """Typed tables ready for scoring, the problems found, and row counts per file."""

    units: pd.DataFrame
    appraisal: pd.DataFrame
    answers: pd.DataFrame
    stats: pd.DataFrame
    deductions: pd.DataFrame
    previous: pd.DataFrame | None
    lineage: pd.DataFrame | None = None
    problems: list[dict] = field(default_factory=list)
    counts: dict[str, dict[str, int]] = field(default_factory=dict)

    @property
    def errors(self) -> list[dict]:
        return [p for p in self.problems if p["severity"] == "error"]

    def problems_frame(self) -> pd.DataFrame:
        return pd.DataFrame(self.problems, columns=PROBLEM_COLUMNS)


class _Collector:
    def __init__(self):
        self.items: list[dict] = []

    def add(self, file, row, unit_code, column, value, problem, severity="error", *, vi: str):
        """One problem: `problem` in English, `vi` the same sentence in Vietnamese (both are required)."""
        self.items.append({"file": file, "row": None if row in (None, 0) else int(row),
                           "unit_code": unit_code or "", "column": column, "value": "" if value is None
                           else str(value), "problem": problem, "severity": severity, "problem_vi": vi,
                           "check": "pandas"})

    def add_rows(self, file: str, rows: pd.DataFrame, column: str, problem: str, severity="error",
                 unit_col: str = "unit_code", *, vi: str):
        for d in rows.to_dict("records"):
            self.add(file, d.get("_row"), d.get(unit_col, ""), column, d.get(column, ""), problem, severity,
                     vi=vi)


def _numbers(table: pd.DataFrame, column: str, file: str, col: _Collector, *, required: bool,
             integer: bool = False, minimum: float | None = 0) -> pd.Series:
    """Parse a text column into numbers, reporting every cell that is not one (NaN where blank/bad)."""
    text = table[column].astype(str)
    values = pd.to_numeric(text.where(text != ""), errors="coerce")
    bad = (text != "") & values.isna()
    for d in table[bad].to_dict("records"):
        hint = " (use '.' as the decimal separator)" if _DECIMAL_COMMA.match(d[column]) else ""
        hint_vi = " (dùng dấu '.' để ngăn cách phần thập phân)" if hint else ""
        col.add(file, d["_row"], d.get("unit_code", ""), column, d[column], f"is not a number{hint}",
                vi=f"không phải là số{hint_vi}")
    if required:
        col.add_rows(file, table[text == ""], column, "is empty; a value is required", vi="bị trống; bắt buộc có giá trị")
    if integer:
        frac = values.notna() & (values % 1 != 0)
        col.add_rows(file, table[frac], column, "must be a whole number", vi="phải là số nguyên")
        values = values.where(~frac)
    if minimum is not None:
        neg = values < minimum
        col.add_rows(file, table[neg], column, f"must not be below {minimum:g}", vi=f"không được nhỏ hơn {minimum:g}")
        values = values.where(~neg)
    return values


def _duplicates(table: pd.DataFrame, keys: list[str], file: str, col: _Collector, what: str) -> pd.Series:
    dup = table.duplicated(keys, keep="first")
    if dup.any():
        first = table[~dup].set_index(keys)["_row"]
        for d in table[dup].to_dict("records"):
            key = tuple(d[k] for k in keys)
            col.add(file, d["_row"], d.get("unit_code", ""), keys[-1], d[keys[-1]],
                    f"duplicate {what}: the same {' + '.join(keys)} is already on row "
                    f"{first.loc[key if len(keys) > 1 else key[0]]}",
                    vi=f"bị lặp: cùng {' + '.join(keys)} đã có ở dòng {first.loc[key if len(keys) > 1 else key[0]]}")
    return ~dup


def _unit_codes(t: pd.DataFrame, file: str, m: Methodology, registry: set[str], col: _Collector,
                en_more: str = "", vi_more: str = "") -> pd.Series:
    """Report codes that are empty or not a unit of the methodology's level; True where the code is known."""
    ok = t["unit_code"].isin(registry)
    col.add_rows(file, t[~ok & (t["unit_code"] != "")], "unit_code",
                 f"is not a unit of level {m.level!r} in units.csv{en_more}",
                 vi=f"không phải mã đơn vị cấp {m.level!r} trong units.csv{vi_more}")
    col.add_rows(file, t[t["unit_code"] == ""], "unit_code", "is empty", vi="bị trống")
    return ok


def check_units(t: pd.DataFrame, file: str, m: Methodology, col: _Collector) -> pd.DataFrame:
    for c in ("unit_code", "unit_name", "level", "group"):
        col.add_rows(file, t[t[c] == ""], c, "is empty; every unit needs a code, a name, a level and a group",
                     vi="bị trống; mỗi đơn vị phải có mã, tên, cấp và nhóm xếp hạng")
    ok = _duplicates(t, ["unit_code"], file, col, "unit (a unit can belong to only one group)")
    units = t[ok & (t["unit_code"] != "")].copy()
    if not (units["level"] == m.level).any():
        col.add(file, None, "", "level", m.level,
                f"no unit has level {m.level!r}, the level methodology {m.id} scores "
                f"(levels found: {', '.join(sorted(set(units['level']))) or 'none'})",
                vi=f"không có đơn vị nào thuộc cấp {m.level!r} mà bộ tiêu chí {m.id} chấm điểm")
    return units


def check_appraisal(t, file, m: Methodology, scored: pd.DataFrame, col: _Collector) -> pd.DataFrame:
    leaves = {lf.code: lf for lf in m.leaves()}
    registry = set(scored["unit_code"])
    ok = _unit_codes(t, file, m, registry, col, f", so it cannot be scored by {m.id}",
                     f" nên không chấm được theo {m.id}")
    crit_ok = t["criterion_code"].map(lambda c: c in leaves and leaves[c].source == "appraisal")
    for d in t[~crit_ok].to_dict("records"):
        c = d["criterion_code"]
        why = (f"is a {leaves[c].source} criterion: its points are computed, not appraised" if c in leaves
               else "is not a criterion with points of its own in the methodology" if c else "is empty")
        vi = ("là tiêu chí tính tự động (điều tra xã hội học hoặc số liệu hồ sơ), không phải điểm thẩm định"
              if c in leaves else "không phải tiêu chí có điểm riêng trong bộ tiêu chí" if c else "bị trống")
        col.add(file, d["_row"], d["unit_code"], "criterion_code", c, why, vi=vi)
    appraised = _numbers(t, "appraised_points", file, col, required=True)
    self_pts = _numbers(t, "self_points", file, col, required=False)
    maxima = t["criterion_code"].map(lambda c: leaves[c].max_points if c in leaves else float("nan"))
    for name, values in (("appraised_points", appraised), ("self_points", self_pts)):
        over = values > maxima + 1e-9
        for d, mx in zip(t[over].to_dict("records"), maxima[over], strict=True):
            col.add(file, d["_row"], d["unit_code"], name, d[name],
                    f"is above the maximum {mx:g} of criterion {d['criterion_code']}",
                    vi=f"vượt điểm tối đa {mx:g} của tiêu chí {d['criterion_code']}")
    # a warning, not an error: the council cut a unit's own score by more than half the maximum (and 1 point)
    gap = self_pts - appraised
    far = (gap >= 1.0) & (gap > 0.5 * maxima)
    for d, g in zip(t[far].to_dict("records"), gap[far], strict=True):
        col.add(file, d["_row"], d["unit_code"], "self_points", d["self_points"],
                f"self-assessed {d['self_points']} but appraised {d['appraised_points']} ({g:g} points apart): "
                "check that the evidence and the appraisal minutes agree", severity="warning",
                vi=f"tự chấm {d['self_points']} nhưng điểm thẩm định {d['appraised_points']} (chênh {g:g} điểm): "
                   "đề nghị đối chiếu tài liệu kiểm chứng với biên bản thẩm định")
    valid = ok & crit_ok & appraised.notna() & ~(appraised > maxima + 1e-9)
    valid &= _duplicates(t, ["unit_code", "criterion_code"], file, col, "appraisal")
    out = t[valid].assign(appraised_points=appraised[valid], self_points=self_pts[valid])
    # every unit of the level needs every appraisal criterion: a gap is an error, never a silent zero
    wanted = [c for c, lf in leaves.items() if lf.source == "appraisal"]
    have = set(zip(t["unit_code"], t["criterion_code"], strict=True))
    for unit in scored["unit_code"]:
        for c in wanted:
            if (unit, c) not in have:
                col.add(file, None, unit, "criterion_code", c,
                        f"no row for criterion {c}: unit {unit} has no appraised points for it",
                        vi=f"thiếu dòng của tiêu chí {c}: đơn vị {unit} chưa có điểm thẩm định tiêu chí này")
    return out[["unit_code", "criterion_code", "self_points", "appraised_points", "evidence", "note", "_row"]]


def check_survey(t, file, m: Methodology, scored, col: _Collector) -> pd.DataFrame:
    survey = [lf for lf in m.leaves() if lf.source == "survey"]
    scale_of: dict[str, set[int]] = {}
    for lf in survey:
        for q in lf.criterion.questions or ():
            scale_of.setdefault(q, set()).update(lf.criterion.answer_points or {})
    ok = _unit_codes(t, file, m, set(scored["unit_code"]), col)
    col.add_rows(file, t[t["respondent_id"] == ""], "respondent_id", "is empty", vi="bị trống")
    unused = ~t["question_code"].isin(scale_of)
    if unused.any():
        counts = t[unused].groupby("question_code")["_row"].agg(["count", "min"])
        for q, r in counts.iterrows():
            col.add(file, r["min"], "", "question_code", q,
                    f"is not asked by any survey criterion of {m.id}; its {r['count']} answer(s) are ignored",
                    severity="warning", vi=f"không thuộc câu hỏi nào của bộ tiêu chí {m.id}; "
                                           f"{r['count']} câu trả lời không được tính")
    answers = _numbers(t, "answer", file, col, required=False, integer=True, minimum=None)
    in_scale = pd.Series([pd.isna(a) or int(a) in scale_of.get(q, set())
                          for a, q in zip(answers, t["question_code"], strict=True)], index=t.index)
    bad = ~in_scale & ~unused
    for d in t[bad].to_dict("records"):
        col.add(file, d["_row"], d["unit_code"], "answer", d["answer"],
                f"is not on the scale of question {d['question_code']} "
                f"({', '.join(str(k) for k in sorted(scale_of[d['question_code']]))}, or empty for no answer)",
                vi=f"không thuộc thang trả lời của câu hỏi {d['question_code']} "
                   f"({', '.join(str(k) for k in sorted(scale_of[d['question_code']]))}, hoặc để trống)")
    valid = ok & ~unused & in_scale & (t["respondent_id"] != "")
    valid &= _duplicates(t, ["unit_code", "respondent_id", "question_code"], file, col, "answer")
    out = t[valid].assign(answer=answers[valid])[["respondent_id", "unit_code", "question_code", "answer", "_row"]]
    # enough respondents per unit and criterion (respondents who answered at least one listed question)
    answered = out[out["answer"].notna()]
    for lf in survey:
        c = lf.criterion
        n = answered[answered["question_code"].isin(c.questions)].groupby("unit_code")["respondent_id"].nunique()
        for unit in scored["unit_code"]:
            got = int(n.get(unit, 0))
            if got < c.min_respondents:
                col.add(file, None, unit, "question_code", ",".join(c.questions),
                        f"criterion {c.code} needs at least {c.min_respondents} respondents who answered "
                        f"{'/'.join(c.questions)}; unit {unit} has {got}",
                        vi=f"tiêu chí {c.code} cần ít nhất {c.min_respondents} người trả lời các câu "
                           f"{'/'.join(c.questions)}; đơn vị {unit} chỉ có {got}")
    return out


def check_stats(t, file, m: Methodology, scored, col: _Collector, *, aggregated: bool) -> pd.DataFrame:
    counts = ["received", "received_online", "resolved", "resolved_on_time", "resolved_late", "digitized"]
    ok = _unit_codes(t, file, m, set(scored["unit_code"]), col)
    period_ok = t["period"].astype(str).str.match(_PERIOD)
    col.add_rows(file, t[~period_ok], "period", "must be a month written YYYY-MM, e.g. 2024-03",
                 vi="phải là tháng dạng YYYY-MM, ví dụ 2024-03")
    typed = {c: _numbers(t, c, file, col, required=True, integer=True) for c in counts}
    valid = ok & period_ok
    for c in counts:
        valid &= typed[c].notna()
    df = t.assign(**typed)
    rules = [("received_online", "received", "more dossiers received online than received",
              "số hồ sơ trực tuyến lớn hơn tổng số hồ sơ tiếp nhận"),
             ("digitized", "received", "more dossiers digitised than received",
              "số hồ sơ số hóa lớn hơn tổng số hồ sơ tiếp nhận"),
             ("resolved_on_time", "resolved", "more dossiers resolved on time than resolved",
              "số hồ sơ giải quyết đúng hạn lớn hơn số hồ sơ đã giải quyết")]
    for num, den, msg, vi in rules:
        broken = valid & (df[num] > df[den])
        col.add_rows(file, df[broken], num, f"{msg} ({num} > {den})", vi=f"{vi} ({num} > {den})")
        valid &= ~broken
    mismatch = valid & (df["resolved_on_time"] + df["resolved_late"] != df["resolved"])
    col.add_rows(file, df[mismatch], "resolved_late",
                 "resolved_on_time + resolved_late must equal resolved",
                 vi="resolved_on_time + resolved_late phải bằng resolved (đúng hạn + trễ hạn = đã giải quyết)")
    valid &= ~mismatch
    if not aggregated:
        valid &= _duplicates(t, ["unit_code", "period"], file, col, "month")
    out = df[valid][["unit_code", "period", *counts, "_row"]]
    needed = {lf.criterion.metric for lf in m.leaves() if lf.source == "dossier"}
    if needed:
        year = str(m.year)
        # a unit whose rows were rejected above is already reported: no follow-on errors for it
        rejected = set(t.loc[~valid, "unit_code"])
        for unit in scored["unit_code"]:
            mine = out[out["unit_code"] == unit]
            if unit in rejected:
                continue
            if mine.empty and not (t["unit_code"] == unit).any():
                col.add(file, None, unit, "unit_code", unit,
                        f"no dossier statistics for unit {unit}; methodology {m.id} scores "
                        f"{', '.join(sorted(needed))}",
                        vi=f"không có số liệu hồ sơ của đơn vị {unit}; bộ tiêu chí {m.id} chấm "
                           f"{', '.join(sorted(needed))}")
                continue
            if not aggregated:
                months = {f"{year}-{i:02d}" for i in range(1, 13)}
                missing = sorted(months - set(mine["period"]))
                if missing and not mine.empty:
                    col.add(file, None, unit, "period", ", ".join(missing),
                            f"unit {unit} has no statistics for {len(missing)} month(s) of {year}",
                            vi=f"đơn vị {unit} thiếu số liệu {len(missing)} tháng của năm {year}")
        outside = out[~out["period"].astype(str).str.startswith(year)]
        col.add_rows(file, outside, "period", f"is outside {year}; the row is not counted", severity="warning",
                     vi=f"nằm ngoài năm {year}; dòng này không được tính")
        out = out[out["period"].astype(str).str.startswith(year)]
        for lf in m.leaves():
            c = lf.criterion
            if lf.source != "dossier" or c.if_no_dossiers != "error":
                continue
            _, den = METRICS[c.metric]
            sums = out.groupby("unit_code")[den].sum()
            for unit in scored["unit_code"]:
                if unit in sums.index and sums[unit] == 0 and unit not in rejected:
                    col.add(file, None, unit, den, 0,
                            f"unit {unit} has no {den} dossiers in {year}, so {c.metric} for criterion {c.code} "
                            "is undefined (the methodology says `if_no_dossiers: error`)",
                            vi=f"đơn vị {unit} không có hồ sơ {den} trong năm {year} nên không tính được "
                               f"{c.metric} của tiêu chí {c.code} (bộ tiêu chí quy định `if_no_dossiers: error`)")
    return out


def check_deductions(t, file, m: Methodology, scored, col: _Collector) -> pd.DataFrame:
    codes = {lf.code for lf in m.leaves()} | {f.code for f in m.fields}
    if m.deductions is None and len(t):
        col.add(file, None, "", "points", "", f"methodology {m.id} has no deductions, but deductions were given",
                vi=f"bộ tiêu chí {m.id} không có điểm trừ nhưng tệp có điểm trừ")
        return t.iloc[0:0].assign(points=pd.Series(dtype=float))
    ok = t["unit_code"].isin(set(scored["unit_code"]))
    col.add_rows(file, t[~ok], "unit_code", f"is not a unit of level {m.level!r} in units.csv",
                 vi=f"không phải mã đơn vị cấp {m.level!r} trong units.csv")
    crit_bad = (t["criterion_code"] != "") & ~t["criterion_code"].isin(codes)
    col.add_rows(file, t[crit_bad], "criterion_code", "is not a criterion or field code of the methodology",
                 vi="không phải mã tiêu chí hoặc lĩnh vực của bộ tiêu chí")
    pts = _numbers(t, "points", file, col, required=True)
    valid = ok & ~crit_bad & pts.notna()
    return t[valid].assign(points=pts[valid])[["unit_code", "criterion_code", "points", "reason", "_row"]]


def check_previous(t, file, col: _Collector) -> pd.DataFrame:
    rank = _numbers(t, "rank", file, col, required=False, integer=True, minimum=1)
    pcts = [c for c in t.columns if c == "index_pct" or (c.endswith("_pct") and c != "index_pct")]
    keep = ["unit_code", "rank"] + [c for c in ("total_points", "group", "unit_name") if c in t] + pcts
    out = t.assign(rank=rank)[keep]
    return out.assign(**{c: pd.to_numeric(out[c], errors="coerce") for c in pcts})


def check_inputs(inputs) -> Checked:
    """Check and type every table of an `Inputs` bundle (tasks.ingest.Inputs)."""
    m = inputs.methodology
    col = _Collector()
    tables = inputs.tables
    units = check_units(tables["units"].frame, tables["units"].file, m, col)
    scored = units[units["level"] == m.level]
    if int(inputs.index.get("year", m.year)) != m.year:
        col.add("index.yaml", None, "", "year", inputs.index.get("year"),
                f"the run is for {inputs.index.get('year')} but methodology {m.id} is for {m.year}",
                vi=f"lần tính cho năm {inputs.index.get('year')} nhưng bộ tiêu chí {m.id} dành cho năm {m.year}")
    sa = tables["self_assessment"]
    appraisal = check_appraisal(sa.frame, sa.file, m, scored, col)
    sv = tables["survey_responses"]
    answers = check_survey(sv.frame, sv.file, m, scored, col)
    st = tables.get("dossier_stats")
    if st is not None:
        stats = check_stats(st.frame, st.file, m, scored, col, aggregated=st.file.startswith("dossiers"))
    else:
        stats = pd.DataFrame(columns=["unit_code", "period", "received", "received_online", "resolved",
                                      "resolved_on_time", "resolved_late", "digitized"])
        if any(lf.source == "dossier" for lf in m.leaves()):
            col.add("dossier_stats.csv", None, "", "", "",
                    f"methodology {m.id} scores dossier criteria but the folder has neither dossier_stats "
                    "(.csv/.xlsx) nor dossiers (.parquet/.csv)",
                    vi=f"bộ tiêu chí {m.id} chấm tiêu chí hồ sơ nhưng thư mục không có dossier_stats "
                       "(.csv/.xlsx) hay dossiers (.parquet/.csv)")
    dd = tables.get("deductions")
    deductions = (check_deductions(dd.frame, dd.file, m, scored, col) if dd is not None
                  else pd.DataFrame({"unit_code": pd.Series(dtype=str), "points": pd.Series(dtype=float)}))
    pr = tables.get("previous_results")
    previous = check_previous(pr.frame, pr.file, col) if pr is not None else None
    lineage = None
    ln = tables.get("lineage")
    if ln is not None:
        from tasks.lineage import check_lineage

        lineage = check_lineage(ln.frame, ln.file, set(scored["unit_code"]), previous, col)
    counts = {}
    for table in tables.values():
        if table.rows_read is not None:  # raw dossiers: checked row by row in DuckDB, counted there
            col.items.extend(table.problems)
            counts[table.file] = {"rows_read": table.rows_read, "rows_rejected": table.rows_rejected,
                                  "rows_accepted": table.rows_read - table.rows_rejected}
            continue
        rejected_rows = {p["row"] for p in col.items if p["file"] == table.file and p["row"]
                         and p["severity"] == "error"}
        counts[table.file] = {"rows_read": len(table.frame), "rows_rejected": len(rejected_rows),
                              "rows_accepted": len(table.frame) - len(rejected_rows)}
    return Checked(units=units, appraisal=appraisal, answers=answers, stats=stats, deductions=deductions,
                   previous=previous, lineage=lineage, problems=col.items, counts=counts)


#: an index this many points below last year's is flagged for the council before publication
INDEX_DROP_WARNING = 10.0


def plausibility_warnings(ranked: pd.DataFrame, previous_file: str = "previous_results.csv") -> list[dict]:
    """Warnings on the computed results (they never block): a unit's index fell sharply from last year."""
    col = _Collector()
    if "prev_index_pct" not in ranked:
        return []
    fell = ranked[(ranked["prev_index_pct"] - ranked["index_pct"]) >= INDEX_DROP_WARNING]
    for r in fell.itertuples(index=False):
        col.add(previous_file, None, r.unit_code, "index_pct", f"{r.index_pct:.2f}",
                f"the index fell {r.prev_index_pct - r.index_pct:.2f} points from last year "
                f"({r.prev_index_pct:.2f} -> {r.index_pct:.2f}): check the inputs before publishing",
                severity="warning",
                vi=f"chỉ số giảm {r.prev_index_pct - r.index_pct:.2f} điểm so với năm trước "
                   f"({r.prev_index_pct:.2f} -> {r.index_pct:.2f}): đề nghị kiểm tra số liệu trước khi công bố")
    return col.items
