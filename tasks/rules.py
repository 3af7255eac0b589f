"""Pure module: the row rules of the input tables, declared once.

A rule says which rows of a table are wrong, in which column, and what the unit that sent the file reads about
it, in English and Vietnamese. It is data: a test of one kind over one column of the table *prepared* for
checking — the text as read plus helper columns (parsed numbers, the criterion's maximum, the row where a key
first appears, hints) — applied only where a helper flag is True (`only_if`), so that one cell gets one rule's
message, the most specific one.

Two engines evaluate the same declarations: `failing` here (pandas: it types the rows, and words the problems
of a file flooded with errors), and Great Expectations (expectations/suites.py turns each rule into an
expectation). Both word a failing row with `problem_of`. Rules across rows or tables (coverage, respondents,
months of the period, lineage weights) are in tasks/checks.py and tasks/lineage.py.

Messages are `str.format` templates filled from the failing row's fields (`{_max:g}`, `{criterion_code}`);
values known when the rules are built (a methodology's id) are escaped with `_lit`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd

from tasks.methodology import Methodology
from tasks.problems import Collector, Problem, problem_row
from tasks.schema import COUNT_COLUMNS, METRICS, SUMS, TABLES
from tasks.text import DECIMAL_COMMA

NUMBER = r"^[+-]?(?:\d+(?:\.\d*)?|\.\d+)$"
WHOLE_NUMBER = r"^[+-]?\d+(?:\.0*)?$"
MONTH = r"^\d{4}-(?:0[1-9]|1[0-2])$"
COUNT = r"^\+?\d+(?:\.0*)?$"
#: the kinds of test a rule can declare; expectations/suites.py maps each to one GX expectation
KINDS = ("filled", "in_set", "matches", "at_least", "at_most", "equals", "holds")


@dataclass(frozen=True)
class RowRule:
    """One row rule. `column` is the column the user is pointed to; `tested` the prepared column the test reads
    (the same unless a helper holds the parsed value). Kinds: filled (not ""), in_set(arg: values),
    matches(arg: regex), at_least(arg: number), at_most(arg: column with the bound), equals(arg: column),
    holds (a helper flag is True). Missing values (NaN) pass, as in Great Expectations."""

    name: str
    table: str
    column: str
    kind: str
    en: str
    vi: str
    arg: object = None
    tested: str = ""
    only_if: str = ""
    severity: str = "error"

    @property
    def reads(self) -> str:
        return self.tested or self.column

    @property
    def check(self) -> str:
        return f"{self.table}:{self.name}"


@dataclass(frozen=True)
class Context:
    """What the rules of a run depend on: the methodology and the codes of the units it scores."""

    m: Methodology
    registry: frozenset[str]
    aggregated: bool = False  # dossier_stats aggregated from raw records (its rows are not the user's)


@dataclass
class Prepared:
    """A table prepared for its rules: `frame` (text as read, `_row`, helper columns) and the rules."""

    frame: pd.DataFrame
    rules: list[RowRule] = field(default_factory=list)


def _lit(value) -> str:
    """A value fixed when rules are built, safe inside a message template."""
    return str(value).replace("{", "{{").replace("}", "}}")


class _Fields(dict):
    def __missing__(self, key):
        return ""


def message(template: str, record: dict) -> str:
    return template.format_map(_Fields(record))


def failing(rule: RowRule, frame: pd.DataFrame) -> pd.Series:
    """True on the rows of `frame` that break `rule` (the pandas engine)."""
    v = frame[rule.reads]
    k = rule.kind
    if k == "filled":
        bad = v.astype(str) == ""
    elif k == "in_set":
        bad = ~v.isin(list(rule.arg))
    elif k == "matches":
        bad = ~v.astype(str).str.match(rule.arg)
    elif k == "at_least":
        bad = pd.to_numeric(v) < rule.arg
    elif k == "at_most":
        bad = pd.to_numeric(v) > pd.to_numeric(frame[rule.arg])
    elif k == "equals":
        bad = (v != frame[rule.arg]) & frame[rule.arg].notna()
    elif k == "holds":
        bad = v != True  # noqa: E712 (a flag column: anything but True fails)
    else:
        raise ValueError(f"unknown rule kind {k!r}")
    bad = bad & v.notna()
    if rule.only_if:
        bad &= frame[rule.only_if].fillna(False).astype(bool)
    return bad.fillna(False).astype(bool)


def problem_of(rule: RowRule, record: dict, file: str, engine: str) -> Problem:
    """The problem row (validation/errors.csv) for one failing row, whichever engine found it."""
    value, row = record.get(rule.column, ""), record.get("_row")
    missing = lambda v: v is None or (isinstance(v, float) and math.isnan(v))  # noqa: E731
    return problem_row(file, message(rule.en, record), message(rule.vi, record), row=None if missing(row) else row,
                       unit_code=record.get("unit_code", ""), column=rule.column, value="" if missing(value) else value,
                       severity=rule.severity, check=f"{engine}:{rule.check}")


# --- helpers shared by the tables ----------------------------------------------------------------------------

def zero_hints(codes: pd.Series, registry: frozenset[str]) -> pd.Series:
    """For each code, `0288` when the code is `288` and the registry has `0288` (Excel drops the leading zeros
    of numbers), else ''."""
    by_key: dict[str, list[str]] = {}
    for r in registry:
        if r.isdigit():
            by_key.setdefault(r.lstrip("0"), []).append(r)

    def hint(code: str) -> str:
        if not code or not code.isdigit():
            return ""
        found = [r for r in by_key.get(code.lstrip("0"), []) if r != code]
        return found[0] if len(found) == 1 else ""

    return codes.map(hint)


def to_numbers(text: pd.Series) -> pd.Series:
    """`pd.to_numeric(text, errors="coerce")`, the same values and dtype, parsing each distinct text once: a
    survey's answers (3.4 M in the national sample) are a handful of distinct texts."""
    if text.empty:
        return pd.to_numeric(text, errors="coerce")
    codes, distinct = pd.factorize(text)
    parsed = pd.to_numeric(pd.Series(distinct, dtype=text.dtype), errors="coerce").to_numpy()
    if (codes < 0).any():  # a missing text: NaN, and float, as to_numeric gives
        parsed = np.append(parsed.astype(float), np.nan)
    return pd.Series(parsed[codes], index=text.index)


def _first_row(t: pd.DataFrame, keys: list[str]) -> pd.Series:
    return t.groupby(keys, sort=False, dropna=False)["_row"].transform("first")


class _Builder:
    """Collects the helper columns and rules of one table."""

    def __init__(self, table: str, t: pd.DataFrame, ctx: Context):
        self.table, self.t, self.ctx = table, t, ctx
        self.helpers: dict[str, pd.Series] = {}
        self.rules: list[RowRule] = []

    def rule(self, name, column, kind, en, vi, **kw) -> None:
        self.rules.append(RowRule(name, self.table, column, kind, en, vi, **kw))

    def flag(self, name: str, values: pd.Series) -> str:
        self.helpers[name] = values.astype(bool)
        return name

    def filled(self, column: str, en: str = "is empty", vi: str = "bị trống") -> str:
        self.rule(f"{column}_filled", column, "filled", en, vi)
        return self.flag(f"_{column}_filled", self.t[column].astype(str) != "")

    def unit(self, en_more: str = "", vi_more: str = "") -> None:
        """unit_code: given, and a unit of the methodology's level (with the leading-zero hint)."""
        t, ctx = self.t, self.ctx
        given = self.filled("unit_code")
        unknown = self.helpers[given] & ~t["unit_code"].isin(ctx.registry)
        en = pd.Series("", index=t.index, dtype=object)
        vi = en.copy()
        if unknown.any():  # hints for the unknown codes only (a survey file has a million known ones)
            hints = zero_hints(t.loc[unknown, "unit_code"], ctx.registry)
            hints = hints[hints != ""]
            en[hints.index] = [f" — did Excel drop a leading zero? {h} exists" for h in hints]
            vi[hints.index] = [f" — có phải Excel đã bỏ số 0 ở đầu? mã {h} có trong danh mục" for h in hints]
        self.helpers["_unit_hint_en"] = en
        self.helpers["_unit_hint_vi"] = vi
        level = _lit(repr(ctx.m.level))
        self.rule("unit_code_known", "unit_code", "in_set",
                  f"is not a unit of level {level} in units.csv{_lit(en_more)}" + "{_unit_hint_en}",
                  f"không phải mã đơn vị cấp {level} trong units.csv{_lit(vi_more)}" + "{_unit_hint_vi}",
                  arg=tuple(sorted(ctx.registry)), only_if=given)

    def number(self, column: str, *, required: bool, integer: bool = False,
               minimum: float | None = 0) -> str:
        """A number column: given (if required), a number, whole (if integer), at least `minimum`. The parsed
        value is `_<column>` (NaN unless every rule passed); returns the flag `_<column>_ok`."""
        text = self.t[column].astype(str)
        given = text != ""
        if required:
            self.filled(column, "is empty; a value is required", "bị trống; bắt buộc có giá trị")
        self.flag(f"_{column}_given", given)
        comma = text.str.match(DECIMAL_COMMA.pattern)
        self.helpers[f"_{column}_hint_en"] = comma.map({True: " (use '.' as the decimal separator)", False: ""})
        self.helpers[f"_{column}_hint_vi"] = comma.map({True: " (dùng dấu '.' để ngăn cách phần thập phân)",
                                                         False: ""})
        self.rule(f"{column}_number", column, "matches", f"is not a number{{_{column}_hint_en}}",
                  f"không phải là số{{_{column}_hint_vi}}", arg=NUMBER, only_if=f"_{column}_given")
        ok = given & text.str.match(NUMBER)
        if integer:
            self.flag(f"_{column}_isnum", ok)
            self.rule(f"{column}_whole", column, "matches", "must be a whole number", "phải là số nguyên",
                      arg=WHOLE_NUMBER, only_if=f"_{column}_isnum")
            ok &= text.str.match(WHOLE_NUMBER)
        values = to_numbers(text.where(ok))
        if minimum is not None:
            self.helpers[f"_{column}_number"] = values
            self.rule(f"{column}_minimum", column, "at_least", f"must not be below {minimum:g}",
                      f"không được nhỏ hơn {minimum:g}", arg=minimum, tested=f"_{column}_number")
            ok &= ~(values < minimum)
        self.helpers[f"_{column}"] = values.where(ok)
        return self.flag(f"_{column}_ok", ok)

    def at_most_max(self, column: str, ok: str) -> None:
        """A points cell is not above its criterion's maximum (`_max`)."""
        self.rule(f"{column}_maximum", column, "at_most", "is above the maximum {_max:g} of criterion "
                  "{criterion_code}", "vượt điểm tối đa {_max:g} của tiêu chí {criterion_code}",
                  arg="_max", tested=f"_{column}", only_if=ok)

    def unique(self, keys: list[str], what: str, what_vi: str = "") -> None:
        """One row per key: a later row repeating a key names the row where it first appears."""
        self.helpers["_first"] = _first_row(self.t, keys)
        joined = " + ".join(keys)
        self.rule("unique", keys[-1], "equals",
                  f"duplicate {_lit(what)}: the same {joined} is already on row " + "{_first}",
                  f"bị lặp{_lit(what_vi)}: cùng {joined} đã có ở dòng " + "{_first}", tested="_row", arg="_first")

    def done(self) -> Prepared:
        """The prepared frame and rules. A rule with `only_if` is given its own column, empty where the flag
        is not True, so both engines test it without a row filter (a GX `row_condition` is a DataFrame
        query per expectation: a quarter of GX's time)."""
        frame = self.t.assign(**self.helpers)
        masked, rules = {}, []
        for i, r in enumerate(self.rules):
            if r.only_if:
                masked[f"_t{i}"] = frame[r.reads].where(frame[r.only_if].fillna(False).astype(bool))
                r = replace(r, tested=f"_t{i}", only_if="")
            rules.append(r)
        return Prepared(frame.assign(**masked), rules)


#: the engine that words the problems of a table's row rules: (file, prepared table, failing masks, collector)
Engine = Callable[[str, Prepared, dict[str, pd.Series], Collector], None]


def pandas_engine(file: str, prepared: Prepared, masks: dict[str, pd.Series], col: Collector) -> None:
    """Word each failing row from the masks (used for a file flooded with errors, and where GX is not run)."""
    for rule in prepared.rules:
        mask = masks[rule.name]
        if mask.any():
            col.extend(problem_of(rule, d, file, "rule")
                       for d in col.each(file, rule.column, prepared.frame[mask], rule.severity))


def checked_rows(table: str, t: pd.DataFrame, file: str, ctx: Context, col: Collector,
                 engine: Engine) -> tuple[pd.DataFrame, pd.Series]:
    """Apply a table's declared row rules (tasks/rules.py): the engine words the problems, and the rows that
    break no error rule are valid. Returns the prepared frame (with parsed values `_<column>`) and that mask."""
    prepared = prepare(table, t, ctx)
    masks = {r.name: failing(r, prepared.frame) for r in prepared.rules}
    engine(file, prepared, masks, col)
    valid = pd.Series(True, index=t.index)
    for rule in prepared.rules:
        if rule.severity == "error":
            valid &= ~masks[rule.name]
    col.reject(file, prepared.frame.loc[~valid, "_row"])
    return prepared.frame, valid


# --- the tables ----------------------------------------------------------------------------------------------

def _units(b: _Builder) -> None:
    t = b.t
    for c in ("unit_code", "unit_name", "level", "group"):
        b.filled(c, "is empty; every unit needs a code, a name, a level and a group",
                 "bị trống; mỗi đơn vị phải có mã, tên, cấp và nhóm xếp hạng")
    b.helpers["_first"] = _first_row(t, ["unit_code"])
    b.rule("unique", "unit_code", "equals", "duplicate unit (a unit can belong to only one group): the same "
           "unit_code is already on row {_first}", "bị lặp: cùng unit_code đã có ở dòng {_first} (mỗi đơn vị chỉ "
           "có một dòng và một nhóm xếp hạng)", tested="_row", arg="_first")
    if "active_from" in t:
        b.flag("_active_from_given", t["active_from"].astype(str) != "")
        b.rule("active_from_month", "active_from", "matches", "must be the month the unit came into being, YYYY-MM "
               "(or empty)", "phải là tháng đơn vị bắt đầu hoạt động, dạng YYYY-MM (hoặc để trống)", arg=MONTH,
               only_if="_active_from_given")


def _criterion(b: _Builder, allowed: dict, en_not: str, vi_not: str) -> str:
    """criterion_code: given, and one of `allowed` (code -> leaf); returns the flag of known codes."""
    given = b.filled("criterion_code")
    b.rule("criterion_known", "criterion_code", "in_set", en_not, vi_not, arg=tuple(sorted(allowed)),
           only_if=given)
    known = b.flag("_criterion_known", b.t["criterion_code"].isin(list(allowed)))
    b.helpers["_max"] = b.t["criterion_code"].map(lambda c: allowed[c].max_points if c in allowed
                                                  else math.nan).astype(float)
    return known


def _self_assessment(b: _Builder) -> None:
    m, t = b.ctx.m, b.t
    leaves = {lf.code: lf for lf in m.leaves()}
    appraisal = {c: lf for c, lf in leaves.items() if lf.source == "appraisal"}
    mid = _lit(m.id)
    b.unit(f", so it cannot be scored by {m.id}", f" nên không chấm được theo {m.id}")
    given = b.filled("criterion_code")
    b.rule("criterion_leaf", "criterion_code", "in_set", "is not a criterion with points of its own in the "
           "methodology", "không phải tiêu chí có điểm riêng trong bộ tiêu chí", arg=tuple(sorted(leaves)),
           only_if=given)
    leaf = b.flag("_criterion_leaf", t["criterion_code"].isin(list(leaves)))
    b.helpers["_source"] = t["criterion_code"].map(lambda c: leaves[c].source if c in leaves else "")
    b.rule("criterion_appraised", "criterion_code", "in_set", "is a {_source} criterion: its points are computed, "
           "not appraised", "là tiêu chí tính tự động (điều tra xã hội học hoặc số liệu hồ sơ), không phải điểm "
           f"thẩm định của bộ tiêu chí {mid}", arg=tuple(sorted(appraisal)), only_if=leaf)
    b.helpers["_max"] = t["criterion_code"].map(lambda c: appraisal[c].max_points if c in appraisal
                                                else math.nan).astype(float)
    for column, required in (("appraised_points", True), ("self_points", False)):
        b.at_most_max(column, b.number(column, required=required))
    # a warning: the council cut a unit's own score by more than half the maximum (and at least 1 point)
    gap = b.helpers["_self_points"] - b.helpers["_appraised_points"]
    b.helpers["_gap"] = gap
    b.flag("_gap_ordinary", ~((gap >= 1.0) & (gap > 0.5 * b.helpers["_max"])))
    b.rule("appraisal_gap", "self_points", "holds", "self-assessed {self_points} but appraised {appraised_points} "
           "({_gap:g} points apart): check that the evidence and the appraisal minutes agree",
           "tự chấm {self_points} nhưng điểm thẩm định {appraised_points} (chênh {_gap:g} điểm): đề nghị đối "
           "chiếu tài liệu kiểm chứng với biên bản thẩm định", tested="_gap_ordinary", severity="warning")
    b.unique(["unit_code", "criterion_code"], "appraisal")


def _survey_responses(b: _Builder) -> None:
    t = b.t
    scale_of: dict[str, set[int]] = {}
    for lf in b.ctx.m.leaves():
        if lf.source == "survey" and lf.criterion.questions:
            for q in lf.criterion.questions:
                scale_of.setdefault(q, set()).update(int(a) for a in lf.criterion.answer_points or {})
    b.unit()
    b.filled("respondent_id")
    ok = b.number("answer", required=False, integer=True, minimum=None)
    asked = b.flag("_asked", t["question_code"].isin(list(scale_of)))
    labels = {q: ", ".join(str(a) for a in sorted(scale)) for q, scale in scale_of.items()}
    b.helpers["_scale"] = t["question_code"].map(labels).fillna("")
    questions, distinct = pd.factorize(t["question_code"])
    answers = b.helpers["_answer"].to_numpy(dtype=float)
    on_scale = np.isnan(answers)  # no answer
    for i, q in enumerate(distinct):  # a question at a time, compared as integer codes over all rows
        if q in scale_of:
            on_scale |= (questions == i) & np.isin(answers, sorted(scale_of[q]))
    b.flag("_on_scale", pd.Series(on_scale, index=t.index))
    b.flag("_scale_applies", b.helpers[ok] & b.helpers[asked])
    b.rule("answer_on_scale", "answer", "holds", "is not on the scale of question {question_code} ({_scale}, or "
           "empty for no answer)", "không thuộc thang trả lời của câu hỏi {question_code} ({_scale}, hoặc để "
           "trống)", tested="_on_scale", only_if="_scale_applies")
    b.unique(["unit_code", "respondent_id", "question_code"], "answer")


def _survey_scores(b: _Builder) -> None:
    m = b.ctx.m
    allowed = {lf.code: lf for lf in m.leaves() if lf.source == "survey" and not lf.criterion.questions}
    b.unit()
    _criterion(b, allowed, f"is not a survey criterion of {_lit(m.id)} scored from delivered points (one without "
               "`questions`)", f"không phải tiêu chí điều tra xã hội học của bộ tiêu chí {_lit(m.id)} nhận điểm "
               "theo đơn vị (tiêu chí không có `questions`)")
    b.at_most_max("points", b.number("points", required=True))
    b.unique(["unit_code", "criterion_code"], "survey points")


def _dossier_stats(b: _Builder) -> None:
    t = b.t
    b.unit()
    b.rule("period_month", "period", "matches", "must be a month written YYYY-MM, e.g. 2024-03",
           "phải là tháng dạng YYYY-MM, ví dụ 2024-03", arg=MONTH)
    counted = pd.Series(True, index=t.index)
    for c in COUNT_COLUMNS:  # one rule per count (a file of 12 months × 6 counts per unit is long enough)
        b.rule(f"{c}_count", c, "matches", "must be a whole number of dossiers, at least 0",
               "phải là số hồ sơ nguyên, không âm", arg=COUNT)
        text = t[c].astype(str)
        ok = text.str.match(COUNT)
        b.helpers[f"_{c}"] = to_numbers(text.where(ok))
        counted &= ok
    b.flag("_counted", counted)
    shares_ok = counted.copy()
    for metric in METRICS.values():  # a share cannot exceed its whole
        num, den = metric.numerator, metric.denominator
        if any(r.name == f"{num}_share" for r in b.rules):
            continue
        b.rule(f"{num}_share", num, "at_most", f"is larger than {den}: {num} cannot exceed {den}",
               f"lớn hơn {den}: {num} không thể vượt quá {den}", arg=f"_{den}", tested=f"_{num}",
               only_if="_counted")
        shares_ok &= ~(b.helpers[f"_{num}"] > b.helpers[f"_{den}"])
    for whole, parts in SUMS.items():  # parts add up to their whole (once the shares are right)
        b.flag(f"_{whole}_summable", shares_ok)
        b.helpers[f"_{whole}_parts"] = sum(b.helpers[f"_{p}"] for p in parts)
        b.rule(f"{whole}_sum", parts[-1], "equals", f"{' + '.join(parts)} must equal {whole}",
               f"{' + '.join(parts)} phải bằng {whole} (tổng các phần phải bằng tổng số)", tested=f"_{whole}_parts",
               arg=f"_{whole}", only_if=f"_{whole}_summable")
        shares_ok &= b.helpers[f"_{whole}_parts"] == b.helpers[f"_{whole}"]
    if not b.ctx.aggregated:
        b.unique(["unit_code", "period"], "month")


def _deductions(b: _Builder) -> None:
    m = b.ctx.m
    codes = {lf.code for lf in m.leaves()} | {f.code for f in m.fields}
    b.unit()
    b.flag("_criterion_given", b.t["criterion_code"] != "")
    b.rule("criterion_known", "criterion_code", "in_set", "is not a criterion or field code of the methodology",
           "không phải mã tiêu chí hoặc lĩnh vực của bộ tiêu chí", arg=tuple(sorted(codes)),
           only_if="_criterion_given")
    b.number("points", required=True)


def _previous_results(b: _Builder) -> None:
    t = b.t
    b.number("rank", required=False, integer=True, minimum=1)
    b.helpers["_first"] = _first_row(t, ["unit_code"])
    b.rule("unique", "unit_code", "equals", "duplicate unit (each unit has one result in last year's table): the "
           "same unit_code is already on row {_first}", "bị lặp: cùng unit_code đã có ở dòng {_first} (mỗi đơn vị "
           "có một kết quả trong bảng năm trước)", tested="_row", arg="_first")
    hints = zero_hints(t["unit_code"].where(~t["unit_code"].isin(b.ctx.registry), ""), b.ctx.registry)
    b.helpers["_hint"] = hints
    b.flag("_no_hint", hints == "")
    b.rule("unit_code_zero", "unit_code", "holds", "matches no unit of this run — did Excel drop a leading zero? "
           "{_hint} exists; its rank change stays empty until the code is corrected",
           "không khớp đơn vị nào của lần tính này — có phải Excel đã bỏ số 0 ở đầu? mã {_hint} có trong danh mục; "
           "thay đổi thứ hạng của đơn vị sẽ để trống cho đến khi sửa mã", tested="_no_hint")


def _lineage(b: _Builder) -> None:
    t = b.t
    b.rule("unit_code_known", "unit_code", "in_set", "is not a unit of units.csv at the methodology's level",
           "không phải đơn vị trong units.csv ở cấp của bộ tiêu chí", arg=tuple(sorted(b.ctx.registry)))
    b.filled("predecessor_code")
    b.number("weight", required=False, minimum=0)
    b.helpers["_first"] = _first_row(t, ["unit_code", "predecessor_code"])
    b.rule("unique", "predecessor_code", "equals", "is listed twice for the same unit (first on row {_first})",
           "được ghi hai lần cho cùng một đơn vị (lần đầu ở dòng {_first})", tested="_row", arg="_first")


CORRECTED_COLUMNS = ("appraised_points", "self_points", "points")


def _corrections(b: _Builder) -> None:
    m, t = b.ctx.m, b.t
    leaves = {lf.code: lf for lf in m.leaves()}
    appraisal = {c: lf for c, lf in leaves.items() if lf.source == "appraisal"}
    level = _lit(repr(m.level))
    b.rule("unit_code_known", "unit_code", "in_set", f"is not a unit of level {level} in the published run",
           f"không phải đơn vị cấp {level} trong lần công bố", arg=tuple(sorted(b.ctx.registry)))
    b.rule("column_known", "column", "in_set", "must be appraised_points or self_points (self-assessment) or "
           "points (deductions)", "phải là appraised_points hoặc self_points (tự đánh giá) hoặc points (điểm trừ)",
           arg=CORRECTED_COLUMNS)
    points = b.flag("_points_row", t["column"].isin(["appraised_points", "self_points"]))
    b.rule("criterion_appraised", "criterion_code", "in_set", "is not an appraisal criterion of the methodology, "
           "so its points cannot be corrected", "không phải tiêu chí thẩm định của bộ tiêu chí nên không đính chính "
           "điểm được", arg=tuple(sorted(appraisal)), only_if=points)
    deduction = t["column"] == "points"
    b.flag("_deduction_row", deduction)
    b.flag("_deductions_exist", pd.Series(m.deductions is not None, index=t.index))
    b.rule("deductions_exist", "column", "holds", f"methodology {_lit(m.id)} has no deductions to correct",
           f"bộ tiêu chí {_lit(m.id)} không có điểm trừ để đính chính", tested="_deductions_exist",
           only_if="_deduction_row")
    codes = set(leaves) | {f.code for f in m.fields}
    b.flag("_deduction_coded", deduction & (t["criterion_code"] != ""))
    b.rule("deduction_criterion", "criterion_code", "in_set", "is not a criterion or field code of the "
           "methodology", "không phải mã tiêu chí hoặc lĩnh vực của bộ tiêu chí", arg=tuple(sorted(codes)),
           only_if="_deduction_coded")
    ok = b.number("new_value", required=True)
    b.helpers["_max"] = t["criterion_code"].map(lambda c: appraisal[c].max_points if c in appraisal
                                                else math.nan).astype(float)
    b.flag("_points_ok", b.helpers[ok] & b.helpers[points])
    b.at_most_max("new_value", "_points_ok")
    b.helpers["_first"] = _first_row(t, ["unit_code", "criterion_code", "column"])
    b.rule("unique", "criterion_code", "equals", "is corrected twice in the same file (first on row {_first}): "
           "keep one row", "bị đính chính hai lần trong cùng tệp (lần đầu ở dòng {_first}): chỉ giữ một dòng",
           tested="_row", arg="_first")


TABLE_RULES = {"units": _units, "self_assessment": _self_assessment, "survey_responses": _survey_responses,
               "survey_scores": _survey_scores, "dossier_stats": _dossier_stats, "deductions": _deductions,
               "previous_results": _previous_results, "lineage": _lineage, "corrections": _corrections}


def prepare(table: str, t: pd.DataFrame, ctx: Context) -> Prepared:
    """The table with its helper columns, and its row rules."""
    b = _Builder(table, t, ctx)
    TABLE_RULES[table](b)
    return b.done()


def all_rules(ctx: Context) -> list[RowRule]:
    """Every row rule of a run (on empty tables: the declarations, for listing and for GX suites)."""
    out = []
    for name in TABLE_RULES:
        cols = [c.name for c in TABLES[name].columns]
        out += prepare(name, pd.DataFrame({c: pd.Series(dtype=str) for c in [*cols, "_row"]}), ctx).rules
    return out
