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

from tasks.lineage import check_lineage
from tasks.methodology import Methodology
from tasks.numbers import format_number
from tasks.problems import PROBLEM_COLUMNS, Collector, parse_numbers
from tasks.schema import COUNT_COLUMNS, METRICS, SUMS
from tasks.text import month_of

_PERIOD = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")


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
    survey_scores: pd.DataFrame | None = None

    @property
    def errors(self) -> list[dict]:
        return [p for p in self.problems if p["severity"] == "error"]

    def problems_frame(self) -> pd.DataFrame:
        return pd.DataFrame(self.problems, columns=PROBLEM_COLUMNS)


def _duplicates(table: pd.DataFrame, keys: list[str], file: str, col: Collector, what: str) -> pd.Series:
    dup = table.duplicated(keys, keep="first")
    if dup.any():
        first = table[~dup].set_index(keys)["_row"]
        for d in col.each(file, keys[-1], table[dup]):
            key = tuple(d[k] for k in keys)
            col.add(file, d["_row"], d.get("unit_code", ""), keys[-1], d[keys[-1]],
                    f"duplicate {what}: the same {' + '.join(keys)} is already on row "
                    f"{first.loc[key if len(keys) > 1 else key[0]]}",
                    vi=f"bị lặp: cùng {' + '.join(keys)} đã có ở dòng {first.loc[key if len(keys) > 1 else key[0]]}")
    return ~dup


def zero_hint(code: str, registry: set[str]) -> str:
    """`0288` when `code` is `288` and the registry has `0288` (Excel drops leading zeros of numbers), else ''."""
    if not code or not code.isdigit():
        return ""
    key = code.lstrip("0")
    found = sorted(r for r in registry if r != code and r.isdigit() and r.lstrip("0") == key)
    return found[0] if len(found) == 1 else ""


def above_maximum(t: pd.DataFrame, values: pd.Series, maxima: pd.Series, column: str, file: str,
                  col: Collector) -> pd.Series:
    """Cells above their criterion's maximum, each named with the criterion and the maximum; True where above."""
    over = values > maxima + 1e-9
    for d, mx in zip(col.each(file, column, t[over]), maxima[over], strict=False):
        col.add(file, d["_row"], d["unit_code"], column, d[column],
                f"is above the maximum {mx:g} of criterion {d['criterion_code']}",
                vi=f"vượt điểm tối đa {mx:g} của tiêu chí {d['criterion_code']}")
    return over


def _unit_codes(t: pd.DataFrame, file: str, m: Methodology, registry: set[str], col: Collector,
                en_more: str = "", vi_more: str = "") -> pd.Series:
    """Report codes that are empty or not a unit of the methodology's level; True where the code is known.
    A code that would match with its leading zeros restored says so (Excel turns 0288 into 288)."""
    ok = t["unit_code"].isin(registry)
    for d in col.each(file, "unit_code", t[~ok & (t["unit_code"] != "")]):
        code = d["unit_code"]
        hint = zero_hint(code, registry)
        en = f" — did Excel drop a leading zero? {hint} exists" if hint else ""
        vi = f" — có phải Excel đã bỏ số 0 ở đầu? mã {hint} có trong danh mục" if hint else ""
        col.add(file, d.get("_row"), code, "unit_code", code,
                f"is not a unit of level {m.level!r} in units.csv{en_more}{en}",
                vi=f"không phải mã đơn vị cấp {m.level!r} trong units.csv{vi_more}{vi}")
    col.add_rows(file, t[t["unit_code"] == ""], "unit_code", "is empty", vi="bị trống")
    return ok


def check_units(t: pd.DataFrame, file: str, m: Methodology, col: Collector) -> pd.DataFrame:
    for c in ("unit_code", "unit_name", "level", "group"):
        col.add_rows(file, t[t[c] == ""], c, "is empty; every unit needs a code, a name, a level and a group",
                     vi="bị trống; mỗi đơn vị phải có mã, tên, cấp và nhóm xếp hạng")
    ok = _duplicates(t, ["unit_code"], file, col, "unit (a unit can belong to only one group)")
    if "active_from" in t:
        bad = (t["active_from"] != "") & ~t["active_from"].astype(str).str.match(_PERIOD)
        col.add_rows(file, t[bad], "active_from", "must be the month the unit came into being, YYYY-MM (or empty)",
                     vi="phải là tháng đơn vị bắt đầu hoạt động, dạng YYYY-MM (hoặc để trống)")
        ok &= ~bad
    units = t[ok & (t["unit_code"] != "")].copy()
    if not (units["level"] == m.level).any():
        col.add(file, None, "", "level", m.level,
                f"no unit has level {m.level!r}, the level methodology {m.id} scores "
                f"(levels found: {', '.join(sorted(set(units['level']))) or 'none'})",
                vi=f"không có đơn vị nào thuộc cấp {m.level!r} mà bộ tiêu chí {m.id} chấm điểm")
    return units


def check_appraisal(t, file, m: Methodology, scored: pd.DataFrame, col: Collector) -> pd.DataFrame:
    leaves = {lf.code: lf for lf in m.leaves()}
    registry = set(scored["unit_code"])
    ok = _unit_codes(t, file, m, registry, col, f", so it cannot be scored by {m.id}",
                     f" nên không chấm được theo {m.id}")
    crit_ok = t["criterion_code"].map(lambda c: c in leaves and leaves[c].source == "appraisal")
    for d in col.each(file, "criterion_code", t[~crit_ok]):
        c = d["criterion_code"]
        why = (f"is a {leaves[c].source} criterion: its points are computed, not appraised" if c in leaves
               else "is not a criterion with points of its own in the methodology" if c else "is empty")
        vi = ("là tiêu chí tính tự động (điều tra xã hội học hoặc số liệu hồ sơ), không phải điểm thẩm định"
              if c in leaves else "không phải tiêu chí có điểm riêng trong bộ tiêu chí" if c else "bị trống")
        col.add(file, d["_row"], d["unit_code"], "criterion_code", c, why, vi=vi)
    appraised = parse_numbers(t, "appraised_points", file, col, required=True)
    self_pts = parse_numbers(t, "self_points", file, col, required=False)
    maxima = t["criterion_code"].map(lambda c: leaves[c].max_points if c in leaves else float("nan"))
    for name, values in (("appraised_points", appraised), ("self_points", self_pts)):
        above_maximum(t, values, maxima, name, file, col)
    # a warning, not an error: the council cut a unit's own score by more than half the maximum (and 1 point)
    gap = self_pts - appraised
    far = (gap >= 1.0) & (gap > 0.5 * maxima)
    for d, g in zip(col.each(file, "self_points", t[far], "warning"), gap[far], strict=False):
        col.add(file, d["_row"], d["unit_code"], "self_points", d["self_points"],
                f"self-assessed {d['self_points']} but appraised {d['appraised_points']} ({g:g} points apart): "
                "check that the evidence and the appraisal minutes agree", severity="warning",
                vi=f"tự chấm {d['self_points']} nhưng điểm thẩm định {d['appraised_points']} (chênh {g:g} điểm): "
                   "đề nghị đối chiếu tài liệu kiểm chứng với biên bản thẩm định")
    valid = ok & crit_ok & appraised.notna() & ~(appraised > maxima + 1e-9)
    valid &= _duplicates(t, ["unit_code", "criterion_code"], file, col, "appraisal")
    out = t[valid].assign(appraised_points=appraised[valid], self_points=self_pts[valid])
    _coverage(t, file, scored, [c for c, lf in leaves.items() if lf.source == "appraisal"], col,
              "appraised points", "điểm thẩm định")
    return out[["unit_code", "criterion_code", "self_points", "appraised_points", "evidence", "note", "_row"]]


def check_survey_scores(t, file, m: Methodology, scored, col: Collector) -> pd.DataFrame:
    """Survey points delivered per unit (survey_scores.csv) for survey criteria without questions:
    0 ≤ points ≤ the criterion's max, every unit has every such criterion once."""
    leaves = {lf.code: lf for lf in m.leaves() if lf.source == "survey" and not lf.criterion.questions}
    ok = _unit_codes(t, file, m, set(scored["unit_code"]), col)
    crit_ok = t["criterion_code"].isin(leaves)
    for d in col.each(file, "criterion_code", t[~crit_ok]):
        c = d["criterion_code"]
        col.add(file, d["_row"], d["unit_code"], "criterion_code", c,
                f"is not a survey criterion of {m.id} scored from delivered points (one without `questions`)"
                if c else "is empty",
                vi=f"không phải tiêu chí điều tra xã hội học của bộ tiêu chí {m.id} nhận điểm theo đơn vị "
                   "(tiêu chí không có `questions`)" if c else "bị trống")
    points = parse_numbers(t, "points", file, col, required=True)
    maxima = t["criterion_code"].map(lambda c: leaves[c].max_points if c in leaves else float("nan"))
    over = above_maximum(t, points, maxima, "points", file, col)
    valid = ok & crit_ok & points.notna() & ~over
    valid &= _duplicates(t, ["unit_code", "criterion_code"], file, col, "survey points")
    _coverage(t, file, scored, list(leaves), col, "survey points", "điểm điều tra")
    return t[valid].assign(points=points[valid])[["unit_code", "criterion_code", "points", "_row"]]


def _coverage(t, file, scored, wanted: list[str], col: Collector, what: str, what_vi: str) -> None:
    """Every scored unit has a row for every wanted criterion: a gap is an error, never a silent zero."""
    have = set(zip(t["unit_code"], t["criterion_code"], strict=True))
    for unit in scored["unit_code"]:
        for c in wanted:
            if (unit, c) not in have:
                col.add(file, None, unit, "criterion_code", c,
                        f"no row for criterion {c}: unit {unit} has no {what} for it",
                        vi=f"thiếu dòng của tiêu chí {c}: đơn vị {unit} chưa có {what_vi} của tiêu chí này")


def check_survey(t, file, m: Methodology, scored, col: Collector) -> pd.DataFrame:
    survey = [lf for lf in m.leaves() if lf.source == "survey" and lf.criterion.questions]
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
    answers = parse_numbers(t, "answer", file, col, required=False, integer=True, minimum=None)
    in_scale = pd.Series([pd.isna(a) or int(a) in scale_of.get(q, set())
                          for a, q in zip(answers, t["question_code"], strict=True)], index=t.index)
    bad = ~in_scale & ~unused
    for d in col.each(file, "answer", t[bad]):
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


def months_between(first: str, last: str) -> list[str]:
    """Every `YYYY-MM` from `first` to `last`, both included."""
    y, m = int(first[:4]), int(first[5:7])
    out = []
    while f"{y:04d}-{m:02d}" <= last:
        out.append(f"{y:04d}-{m:02d}")
        y, m = (y + 1, 1) if m == 12 else (y, m + 1)
    return out


def statistics_period(index: dict, year: int, col: Collector) -> tuple[str, str]:
    """index.yaml's `period: {from, to}` (months, YYYY-MM), by default the calendar year of the run."""
    default = (f"{year}-01", f"{year}-12")
    period = index.get("period")
    if period in (None, ""):
        return default
    if not isinstance(period, dict) or set(period) - {"from", "to"}:
        col.add("index.yaml", None, "", "period", period,
                "must be `{from: YYYY-MM, to: YYYY-MM}`, the months the dossier statistics cover",
                vi="phải có dạng `{from: YYYY-MM, to: YYYY-MM}`: các tháng mà số liệu hồ sơ bao phủ")
        return default
    bounds = []
    for key, fallback in (("from", default[0]), ("to", default[1])):
        raw = period.get(key)
        value = month_of(str(raw)) if raw not in (None, "") else fallback
        if not _PERIOD.match(value):
            col.add("index.yaml", None, "", f"period.{key}", raw, "must be a month written YYYY-MM, e.g. 2024-03",
                    vi="phải là tháng dạng YYYY-MM, ví dụ 2024-03")
            value = fallback
        bounds.append(value)
    if bounds[0] > bounds[1]:
        col.add("index.yaml", None, "", "period", f"{bounds[0]} – {bounds[1]}",
                "`from` is after `to`", vi="tháng bắt đầu (`from`) sau tháng kết thúc (`to`)")
        return default
    return bounds[0], bounds[1]


def check_stats(t, file, m: Methodology, scored, col: Collector, *, aggregated: bool,
                period: tuple[str, str] | None = None) -> pd.DataFrame:
    """Monthly dossier statistics: whole counts that add up, one row per unit and month of the statistics
    period from the unit's `active_from` on (a missing month is an error naming it); months outside the
    period are warnings and are not counted."""
    counts = list(COUNT_COLUMNS)
    first, last = period or (f"{m.year}-01", f"{m.year}-12")
    label = f"{first} – {last}"
    ok = _unit_codes(t, file, m, set(scored["unit_code"]), col)
    period_ok = t["period"].astype(str).str.match(_PERIOD)
    col.add_rows(file, t[~period_ok], "period", "must be a month written YYYY-MM, e.g. 2024-03",
                 vi="phải là tháng dạng YYYY-MM, ví dụ 2024-03")
    typed = {c: parse_numbers(t, c, file, col, required=True, integer=True) for c in counts}
    valid = ok & period_ok
    for c in counts:
        valid &= typed[c].notna()
    df = t.assign(**typed)
    for metric in METRICS.values():  # a share cannot exceed its whole
        num, den = metric.numerator, metric.denominator
        broken = valid & (df[num] > df[den])
        col.add_rows(file, df[broken], num, f"is larger than {den}: {num} cannot exceed {den}",
                     vi=f"lớn hơn {den}: {num} không thể vượt quá {den}")
        valid &= ~broken
    mismatch = pd.Series(False, index=df.index)
    for whole, parts in SUMS.items():
        wrong = valid & ~mismatch & (df[list(parts)].sum(axis=1) != df[whole])
        col.add_rows(file, df[wrong], parts[-1], f"{' + '.join(parts)} must equal {whole}",
                     vi=f"{' + '.join(parts)} phải bằng {whole} (tổng các phần phải bằng tổng số)")
        mismatch |= wrong
    valid &= ~mismatch
    if not aggregated:
        valid &= _duplicates(t, ["unit_code", "period"], file, col, "month")
    out = df[valid][["unit_code", "period", *counts, "_row"]]
    needed = {lf.criterion.metric for lf in m.leaves() if lf.source == "dossier"}
    if not needed:
        return out
    inside = out["period"].between(first, last)
    outside = out[~inside]
    if aggregated:  # one line per unit: the months are the dossiers' own, not rows of the user's file
        for unit, months in outside.groupby("unit_code")["period"]:
            col.add(file, None, unit, "period", ", ".join(months),
                    f"dossiers of months outside the statistics period {label} are not counted",
                    severity="warning", vi=f"hồ sơ của các tháng nằm ngoài kỳ số liệu {label} không được tính")
    else:
        col.add_rows(file, outside, "period", f"is outside the statistics period {label}; the row is not counted",
                     severity="warning", vi=f"nằm ngoài kỳ số liệu {label}; dòng này không được tính")
    out = out[inside]
    starts = scored.set_index("unit_code")["active_from"] if "active_from" in scored else pd.Series(dtype=str)
    start_of = out["unit_code"].map(starts).fillna("")
    early = (start_of != "") & (out["period"] < start_of)
    if early.any() and not aggregated:
        col.add_rows(file, out[early], "period", "is before the unit came into being (active_from in units.csv); "
                     "the row is not counted", severity="warning",
                     vi="trước tháng đơn vị bắt đầu hoạt động (active_from trong units.csv); dòng này không được tính")
    elif early.any():
        for unit, months in out[early].groupby("unit_code")["period"]:
            col.add(file, None, unit, "period", ", ".join(months), "dossiers of months before the unit came into "
                    "being (active_from in units.csv) are not counted", severity="warning",
                    vi="hồ sơ của các tháng trước khi đơn vị bắt đầu hoạt động (active_from) không được tính")
    out = out[~early]
    # a unit whose rows were rejected above is already reported: no follow-on errors for it
    rejected = set(t.loc[~valid, "unit_code"])
    have = out.groupby("unit_code")["period"].agg(set)
    for unit in scored["unit_code"]:
        if unit in rejected:
            continue
        if unit not in have.index:
            col.add(file, None, unit, "unit_code", unit,
                    f"no dossier statistics for unit {unit} in {label}; methodology {m.id} scores "
                    f"{', '.join(sorted(needed))}",
                    vi=f"không có số liệu hồ sơ của đơn vị {unit} trong kỳ {label}; bộ tiêu chí {m.id} chấm "
                       f"{', '.join(sorted(needed))}")
            continue
        if not aggregated:
            start = max(first, starts.get(unit) or first)
            missing = [mo for mo in months_between(start, last) if mo not in have[unit]]
            if missing:
                col.add(file, None, unit, "period", ", ".join(missing),
                        f"unit {unit} has no statistics for {len(missing)} month(s) of the period {label}: "
                        f"{', '.join(missing)} (a unit formed later gives `active_from` in units.csv)",
                        vi=f"đơn vị {unit} thiếu số liệu {len(missing)} tháng của kỳ {label}: {', '.join(missing)} "
                           "(đơn vị thành lập sau ghi `active_from` trong units.csv)")
    for lf in m.leaves():
        c = lf.criterion
        if lf.source != "dossier" or c.if_no_dossiers != "error":
            continue
        den = METRICS[c.metric].denominator
        sums = out.groupby("unit_code")[den].sum()
        for unit in scored["unit_code"]:
            if unit in sums.index and sums[unit] == 0 and unit not in rejected:
                col.add(file, None, unit, den, 0,
                        f"unit {unit} has no {den} dossiers in {label}, so {c.metric} for criterion {c.code} "
                        "is undefined (the methodology says `if_no_dossiers: error`)",
                        vi=f"đơn vị {unit} không có hồ sơ {den} trong kỳ {label} nên không tính được "
                           f"{c.metric} của tiêu chí {c.code} (bộ tiêu chí quy định `if_no_dossiers: error`)")
    return out


def check_deductions(t, file, m: Methodology, scored, col: Collector) -> pd.DataFrame:
    codes = {lf.code for lf in m.leaves()} | {f.code for f in m.fields}
    if m.deductions is None and len(t):
        col.add(file, None, "", "points", "", f"methodology {m.id} has no deductions, but deductions were given",
                vi=f"bộ tiêu chí {m.id} không có điểm trừ nhưng tệp có điểm trừ")
        return t.iloc[0:0].assign(points=pd.Series(dtype=float))
    ok = _unit_codes(t, file, m, set(scored["unit_code"]), col)
    crit_bad = (t["criterion_code"] != "") & ~t["criterion_code"].isin(codes)
    col.add_rows(file, t[crit_bad], "criterion_code", "is not a criterion or field code of the methodology",
                 vi="không phải mã tiêu chí hoặc lĩnh vực của bộ tiêu chí")
    pts = parse_numbers(t, "points", file, col, required=True)
    valid = ok & ~crit_bad & pts.notna()
    return t[valid].assign(points=pts[valid])[["unit_code", "criterion_code", "points", "reason", "_row"]]


def check_previous(t, file, col: Collector, registry: set[str]) -> pd.DataFrame:
    """Last year's published results: a unit listed twice is an error (which rank would count?); codes that
    match no unit of this run are normal (units merged or renamed) unless none matches at all, or Excel
    dropped a leading zero — both are said, since the rank changes would silently be empty."""
    rank = parse_numbers(t, "rank", file, col, required=False, integer=True, minimum=1)
    _duplicates(t, ["unit_code"], file, col, "unit (each unit has one result in last year's table)")
    known = t["unit_code"].isin(registry)
    for d in t[~known].to_dict("records"):
        hint = zero_hint(d["unit_code"], registry)
        if hint:
            col.add(file, d["_row"], d["unit_code"], "unit_code", d["unit_code"],
                    f"matches no unit of this run — did Excel drop a leading zero? {hint} exists; its rank "
                    "change stays empty until the code is corrected",
                    vi=f"không khớp đơn vị nào của lần tính này — có phải Excel đã bỏ số 0 ở đầu? mã {hint} có "
                       "trong danh mục; thay đổi thứ hạng của đơn vị sẽ để trống cho đến khi sửa mã")
    if len(t) and not known.any():
        col.add(file, None, "", "unit_code", "", "matches none of the units of this run: no unit gets a rank "
                "change (is it the right year's and level's results.csv?)", severity="warning",
                vi="không khớp đơn vị nào của lần tính này: không đơn vị nào có so sánh thứ hạng (có đúng tệp "
                   "results.csv của năm và cấp trước không?)")
    pcts = [c for c in t.columns if c == "index_pct" or (c.endswith("_pct") and c != "index_pct")]
    keep = ["unit_code", "rank"] + [c for c in ("total_points", "group", "unit_name") if c in t] + pcts
    out = t.assign(rank=rank)[keep]
    return out.assign(**{c: pd.to_numeric(out[c], errors="coerce") for c in pcts})


_EMPTY = {
    "self_assessment": ["unit_code", "criterion_code", "self_points", "appraised_points", "evidence", "note", "_row"],
    "survey_responses": ["respondent_id", "unit_code", "question_code", "answer", "_row"],
    "survey_scores": ["unit_code", "criterion_code", "points", "_row"],
    "dossier_stats": ["unit_code", "period", *COUNT_COLUMNS, "_row"],
}


def _needed_table(tables: dict, name: str, m: Methodology, needs: dict[str, str], col: Collector):
    """The table if the methodology needs it and it was given; a missing needed file is an error."""
    table = tables.get(name)
    if name in needs and table is None:
        shown = "dossier_stats.csv (or dossiers.parquet)" if name == "dossier_stats" else f"{name}.csv"
        col.add(shown, None, "", "", "",
                f"is missing: methodology {m.id} scores {needs[name]} from it (give .csv or .xlsx)",
                vi=f"thiếu tệp: bộ tiêu chí {m.id} chấm {needs[name]} từ tệp này (nộp dạng .csv hoặc .xlsx)")
    return table if name in needs else None


def check_inputs(inputs) -> Checked:
    """Check and type every table of an `Inputs` bundle (tasks.ingest.Inputs)."""
    m = inputs.methodology
    col = Collector()
    col.extend(getattr(inputs, "notes", []))
    tables = inputs.tables
    units = check_units(tables["units"].frame, tables["units"].file, m, col)
    scored = units[units["level"] == m.level]
    check_index(inputs.index, col)
    year = inputs.index.get("year", m.year)
    if str(year).strip() != str(m.year):
        col.add("index.yaml", None, "", "year", year,
                f"the run is for {year} but methodology {m.id} is for {m.year}",
                vi=f"lần tính cho năm {year} nhưng bộ tiêu chí {m.id} dành cho năm {m.year}")
    needs = m.needed_tables()
    typed = {}
    for name, check in (("self_assessment", check_appraisal), ("survey_responses", check_survey),
                        ("survey_scores", check_survey_scores)):
        t = _needed_table(tables, name, m, needs, col)
        typed[name] = (check(t.frame, t.file, m, scored, col) if t is not None
                       else pd.DataFrame(columns=_EMPTY[name]))
    st = _needed_table(tables, "dossier_stats", m, needs, col)
    period = statistics_period(inputs.index, m.year, col)
    stats = (check_stats(st.frame, st.file, m, scored, col, aggregated=st.rows_read is not None, period=period)
             if st is not None else pd.DataFrame(columns=_EMPTY["dossier_stats"]))
    dd = tables.get("deductions")
    deductions = (check_deductions(dd.frame, dd.file, m, scored, col) if dd is not None
                  else pd.DataFrame({"unit_code": pd.Series(dtype=str), "points": pd.Series(dtype=float)}))
    pr = tables.get("previous_results")
    previous = check_previous(pr.frame, pr.file, col, set(scored["unit_code"])) if pr is not None else None
    lineage = None
    ln = tables.get("lineage")
    if ln is not None:
        lineage = check_lineage(ln.frame, ln.file, set(scored["unit_code"]), previous, col)
    counts = {}
    for table in tables.values():
        col.extend(table.problems)  # found while reading: hidden characters; raw dossiers' own rules
        if table.rows_read is not None:  # raw dossiers: checked row by row in DuckDB, counted there
            counts[table.file] = {"rows_read": table.rows_read, "rows_rejected": table.rows_rejected,
                                  "rows_accepted": table.rows_read - table.rows_rejected}
            continue
        rejected_rows = col.rejected.get(table.file, set())
        counts[table.file] = {"rows_read": len(table.frame), "rows_rejected": len(rejected_rows),
                              "rows_accepted": len(table.frame) - len(rejected_rows)}
    return Checked(units=units, appraisal=typed["self_assessment"], answers=typed["survey_responses"],
                   stats=stats, deductions=deductions, previous=previous, lineage=lineage, problems=col.items,
                   counts=counts, survey_scores=typed["survey_scores"])


#: an index this many points below last year's is flagged for the council before publication
INDEX_DROP_WARNING = 10.0


def plausibility_warnings(ranked: pd.DataFrame, previous_file: str = "previous_results.csv") -> list[dict]:
    """Warnings on the computed results (they never block): a unit's index fell sharply from last year."""
    col = Collector()
    if "prev_index_pct" not in ranked:
        return []
    fell = ranked[(ranked["prev_index_pct"] - ranked["index_pct"]) >= INDEX_DROP_WARNING]
    for r in fell.itertuples(index=False):
        drop = r.prev_index_pct - r.index_pct
        en = [format_number(v, 2, "en") for v in (drop, r.prev_index_pct, r.index_pct)]
        vi = [format_number(v, 2, "vi") for v in (drop, r.prev_index_pct, r.index_pct)]
        col.add(previous_file, None, r.unit_code, "index_pct", vi[2],
                f"the index fell {en[0]} points from last year ({en[1]} → {en[2]}): the council should check "
                "the inputs before the announcement", severity="warning",
                vi=f"chỉ số giảm {vi[0]} điểm so với năm trước ({vi[1]} → {vi[2]}): đề nghị Hội đồng thẩm định "
                   "kiểm tra lại số liệu trước khi công bố")
    return col.items


#: what index.yaml's `publication:` may hold (CONTRACT.md), each printed as text on the official form
PUBLICATION_KEYS = ("issuer", "number", "place", "signer", "signer_title", "issuing_body")


def check_index(index: dict, col: Collector) -> None:
    """index.yaml's own values: the province is a name, `group_names:` and `publication:` mappings of text."""
    province = index.get("province")
    if not isinstance(province, str) or not province.strip():
        col.add("index.yaml", None, "", "province", province, "must be the province's name, as text",
                vi="phải là tên tỉnh/thành phố, dạng văn bản")
    names = index.get("group_names")
    if names not in (None, "") and (not isinstance(names, dict) or not all(
            isinstance(k, str) and isinstance(v, str) and v.strip() for k, v in names.items())):
        col.add("index.yaml", None, "", "group_names", "", "must map each group's name in units.csv to its English "
                "name, as text", vi="phải ghi tên tiếng Anh (văn bản) của từng nhóm như trong units.csv")
    publication = index.get("publication")
    if publication in (None, ""):
        return
    if not isinstance(publication, dict):
        col.add("index.yaml", None, "", "publication", "", "must be a mapping: issuer, number, place, signer, "
                "signer_title", vi="phải gồm các mục: issuer, number, place, signer, signer_title")
        return
    for key, value in publication.items():
        if key not in PUBLICATION_KEYS:
            col.add("index.yaml", None, "", f"publication.{key}", "", f"is not one of {', '.join(PUBLICATION_KEYS)}",
                    vi=f"không phải một trong các mục {', '.join(PUBLICATION_KEYS)}")
        elif not isinstance(value, str | int):
            col.add("index.yaml", None, "", f"publication.{key}", "", "must be text",
                    vi="phải là văn bản")
