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

from tasks.methodology import Methodology
from tasks.numbers import format_number
from tasks.problems import PROBLEM_COLUMNS, Collector, Problem
from tasks.rules import Context, Engine, checked_rows, pandas_engine
from tasks.schema import COUNT_COLUMNS, METRICS
from tasks.scoring import coded_answers, respondents_per_unit
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
    problems: list[Problem] = field(default_factory=list)
    counts: dict[str, dict[str, int]] = field(default_factory=dict)
    survey_scores: pd.DataFrame | None = None

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.is_error]

    def problems_frame(self) -> pd.DataFrame:
        return pd.DataFrame([p.as_row() for p in self.problems], columns=PROBLEM_COLUMNS)


def check_units(t: pd.DataFrame, file: str, m: Methodology, col: Collector, engine: Engine) -> pd.DataFrame:
    frame, valid = checked_rows("units", t, file, Context(m, frozenset()), col, engine)
    units = t[valid & (t["unit_code"] != "")].copy()
    if not (units["level"] == m.level).any():
        col.add(file, None, "", "level", m.level,
                f"no unit has level {m.level!r}, the level methodology {m.id} scores "
                f"(levels found: {', '.join(sorted(set(units['level']))) or 'none'})",
                vi=f"không có đơn vị nào thuộc cấp {m.level!r} mà bộ tiêu chí {m.id} chấm điểm")
    return units


def check_appraisal(t, file, ctx: Context, scored: pd.DataFrame, col: Collector, engine: Engine) -> pd.DataFrame:
    frame, valid = checked_rows("self_assessment", t, file, ctx, col, engine)
    out = frame[valid].assign(appraised_points=frame["_appraised_points"], self_points=frame["_self_points"])
    m = ctx.m
    _coverage(t, file, scored, [lf.code for lf in m.leaves() if lf.source == "appraisal"], col,
              "appraised points", "điểm thẩm định")
    return out[["unit_code", "criterion_code", "self_points", "appraised_points", "evidence", "note", "_row"]]


def check_survey_scores(t, file, ctx: Context, scored, col: Collector, engine: Engine) -> pd.DataFrame:
    """Survey points delivered per unit (survey_scores.csv) for survey criteria without questions:
    0 ≤ points ≤ the criterion's max, every unit has every such criterion once."""
    frame, valid = checked_rows("survey_scores", t, file, ctx, col, engine)
    wanted = [lf.code for lf in ctx.m.leaves() if lf.source == "survey" and not lf.criterion.questions]
    _coverage(t, file, scored, wanted, col, "survey points", "điểm điều tra")
    return frame[valid].assign(points=frame["_points"])[["unit_code", "criterion_code", "points", "_row"]]


def _coverage(t, file, scored, wanted: list[str], col: Collector, what: str, what_vi: str) -> None:
    """Every scored unit has a row for every wanted criterion: a gap is an error, never a silent zero."""
    have = set(zip(t["unit_code"], t["criterion_code"], strict=True))
    for unit in scored["unit_code"]:
        for c in wanted:
            if (unit, c) not in have:
                col.add(file, None, unit, "criterion_code", c,
                        f"no row for criterion {c}: unit {unit} has no {what} for it",
                        vi=f"thiếu dòng của tiêu chí {c}: đơn vị {unit} chưa có {what_vi} của tiêu chí này",
                        check="cross:coverage")


def check_survey(t, file, ctx: Context, scored, col: Collector, engine: Engine) -> pd.DataFrame:
    m = ctx.m
    frame, valid = checked_rows("survey_responses", t, file, ctx, col, engine)
    unused = ~frame["_asked"]
    if unused.any():  # one warning per question, not one per answer
        counts = t[unused].groupby("question_code")["_row"].agg(["count", "min"])
        for q, r in counts.iterrows():
            col.add(file, r["min"], "", "question_code", q,
                    f"is not asked by any survey criterion of {m.id}; its {r['count']} answer(s) are ignored",
                    severity="warning", vi=f"không thuộc câu hỏi nào của bộ tiêu chí {m.id}; "
                                           f"{r['count']} câu trả lời không được tính", check="cross:questions")
    keep = valid & ~unused
    out = frame[keep].assign(answer=frame["_answer"])[["respondent_id", "unit_code", "question_code", "answer",
                                                       "_row"]]
    # enough respondents per unit and criterion (respondents who answered at least one listed question)
    coded, unit_codes = coded_answers(out)
    for lf in m.leaves():
        c = lf.criterion
        if lf.source != "survey" or not c.questions:
            continue
        mine = coded["question_code"].isin(c.questions).to_numpy()
        n = dict(zip(unit_codes, respondents_per_unit(coded["unit"].to_numpy()[mine],
                                                      coded["respondent"].to_numpy()[mine], len(unit_codes)), strict=True))
        for unit in scored["unit_code"]:
            got = int(n.get(unit, 0))
            if got < c.min_respondents:
                col.add(file, None, unit, "question_code", ",".join(c.questions),
                        f"criterion {c.code} needs at least {c.min_respondents} respondents who answered "
                        f"{'/'.join(c.questions)}; unit {unit} has {got}",
                        vi=f"tiêu chí {c.code} cần ít nhất {c.min_respondents} người trả lời các câu "
                           f"{'/'.join(c.questions)}; đơn vị {unit} chỉ có {got}", check="cross:respondents")
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


@dataclass(frozen=True)
class _Period:
    """The statistics period of a run and how the rows of dossier_stats were made."""

    first: str
    last: str
    aggregated: bool  # aggregated from raw records: its months are the dossiers' own, not rows of a file

    @property
    def label(self) -> str:
        return f"{self.first} – {self.last}"


def check_stats(t, file, ctx: Context, scored, col: Collector, engine: Engine,
                period: tuple[str, str] | None = None) -> pd.DataFrame:
    """Monthly dossier statistics: whole counts that add up, one row per unit and month of the statistics
    period from the unit's `active_from` on (a missing month is an error naming it); months outside the
    period are warnings and are not counted."""
    m = ctx.m
    # statistics aggregated from raw records were checked row by row in DuckDB (tasks/dossiers.py): their rows
    # are not the user's, so the rules here are a safety net worded without GX
    frame, valid = checked_rows("dossier_stats", t, file, ctx, col, pandas_engine if ctx.aggregated else engine)
    out = frame[valid].assign(**{c: frame[f"_{c}"] for c in COUNT_COLUMNS})
    out = out[["unit_code", "period", *COUNT_COLUMNS, "_row"]]
    if not any(lf.source == "dossier" for lf in m.leaves()):
        return out
    p = _Period(*(period or (f"{m.year}-01", f"{m.year}-12")), ctx.aggregated)
    starts = scored.set_index("unit_code")["active_from"] if "active_from" in scored else pd.Series(dtype=str)
    out = _months_not_counted(out, file, p, starts, col)
    rejected = set(t.loc[~valid, "unit_code"])  # already reported: no follow-on errors for these units
    _missing_months(out, file, m, p, scored, starts, rejected, col)
    _no_dossiers(out, file, m, p, scored, rejected, col)
    return out


def _months_not_counted(out, file, p: _Period, starts: pd.Series, col: Collector) -> pd.DataFrame:
    """Rows of months outside the period, or before the unit came into being: warned about, not counted."""
    for rows, en, vi, en_agg, vi_agg in (
            (~out["period"].between(p.first, p.last),
             f"is outside the statistics period {p.label}; the row is not counted",
             f"nằm ngoài kỳ số liệu {p.label}; dòng này không được tính",
             f"dossiers of months outside the statistics period {p.label} are not counted",
             f"hồ sơ của các tháng nằm ngoài kỳ số liệu {p.label} không được tính"),
            (None, "is before the unit came into being (active_from in units.csv); the row is not counted",
             "trước tháng đơn vị bắt đầu hoạt động (active_from trong units.csv); dòng này không được tính",
             "dossiers of months before the unit came into being (active_from in units.csv) are not counted",
             "hồ sơ của các tháng trước khi đơn vị bắt đầu hoạt động (active_from) không được tính")):
        if rows is None:
            start_of = out["unit_code"].map(starts).fillna("")
            rows = (start_of != "") & (out["period"] < start_of)
        if p.aggregated:  # one line per unit
            for unit, months in out[rows].groupby("unit_code")["period"]:
                col.add(file, None, unit, "period", ", ".join(months), en_agg, severity="warning", vi=vi_agg,
                        check="cross:period")
        else:
            col.add_rows(file, out[rows], "period", en, severity="warning", vi=vi, check="cross:period")
        out = out[~rows]
    return out


def _missing_months(out, file, m: Methodology, p: _Period, scored, starts: pd.Series, rejected: set[str],
                    col: Collector) -> None:
    """Every scored unit has statistics, and (monthly files) every month of the period from its start."""
    needed = ", ".join(sorted({lf.criterion.metric for lf in m.leaves() if lf.source == "dossier"}))
    have = out.groupby("unit_code")["period"].agg(set)
    for unit in scored["unit_code"]:
        if unit in rejected:
            continue
        if unit not in have.index:
            col.add(file, None, unit, "unit_code", unit,
                    f"no dossier statistics for unit {unit} in {p.label}; methodology {m.id} scores {needed}",
                    vi=f"không có số liệu hồ sơ của đơn vị {unit} trong kỳ {p.label}; bộ tiêu chí {m.id} chấm "
                       f"{needed}", check="cross:months")
            continue
        if p.aggregated:
            continue
        missing = [mo for mo in months_between(max(p.first, starts.get(unit) or p.first), p.last)
                   if mo not in have[unit]]
        if missing:
            months = ", ".join(missing)
            col.add(file, None, unit, "period", months,
                    f"unit {unit} has no statistics for {len(missing)} month(s) of the period {p.label}: "
                    f"{months} (a unit formed later gives `active_from` in units.csv)",
                    vi=f"đơn vị {unit} thiếu số liệu {len(missing)} tháng của kỳ {p.label}: {months} "
                       "(đơn vị thành lập sau ghi `active_from` trong units.csv)", check="cross:months")


def _no_dossiers(out, file, m: Methodology, p: _Period, scored, rejected: set[str], col: Collector) -> None:
    """A rate over no dossiers is an error where the methodology says `if_no_dossiers: error`."""
    for lf in m.leaves():
        c = lf.criterion
        if lf.source != "dossier" or c.if_no_dossiers != "error":
            continue
        den = METRICS[c.metric].denominator
        sums = out.groupby("unit_code")[den].sum()
        for unit in scored["unit_code"]:
            if unit in sums.index and sums[unit] == 0 and unit not in rejected:
                col.add(file, None, unit, den, 0,
                        f"unit {unit} has no {den} dossiers in {p.label}, so {c.metric} for criterion {c.code} "
                        "is undefined (the methodology says `if_no_dossiers: error`)",
                        vi=f"đơn vị {unit} không có hồ sơ {den} trong kỳ {p.label} nên không tính được "
                           f"{c.metric} của tiêu chí {c.code} (bộ tiêu chí quy định `if_no_dossiers: error`)",
                        check="cross:dossiers")


def check_lineage(t: pd.DataFrame, file: str, ctx: Context, previous: pd.DataFrame | None, col: Collector,
                  engine: Engine) -> pd.DataFrame:
    """Typed lineage rows. Row rules (tasks/rules.py): unknown successor, empty predecessor, a weight that is
    not a number ≥ 0, a pair listed twice. Across rows and tables: a predecessor missing from previous_results,
    a split without weights, mixed empty and given weights for one successor, weights adding up to 0."""
    frame, ok = checked_rows("lineage", t, file, ctx, col, engine)
    weights = frame["_weight"]
    if previous is None:
        if len(t):
            col.add(file, None, "", "predecessor_code", "",
                    "lineage.csv needs previous_results in index.yaml: predecessors are found there",
                    vi="lineage.csv cần previous_results trong index.yaml: đơn vị tiền thân được tra ở đó",
                    check="cross:lineage")
        ok &= False
    else:
        known = set(previous["unit_code"])
        missing = ok & ~t["predecessor_code"].isin(known)
        col.add_rows(file, t[missing], "predecessor_code",
                     "is not in previous_results: a predecessor must have a published result last year",
                     unit_col="unit_code",
                     vi="không có trong previous_results: đơn vị tiền thân phải có kết quả công bố năm trước",
                     check="cross:lineage")
        ok &= ~missing
    typed = t.assign(weight=weights)
    # a split predecessor needs explicit weights on every row
    feeds = typed[ok].groupby("predecessor_code")["unit_code"].nunique()
    split = set(feeds[feeds > 1].index)
    no_weight = ok & typed["predecessor_code"].isin(split) & typed["weight"].isna()
    col.add_rows(file, typed[no_weight], "weight",
                 "is empty, but this predecessor feeds several units: give each unit its share",
                 vi="bị trống nhưng đơn vị tiền thân này tách cho nhiều đơn vị: ghi tỷ trọng cho từng đơn vị")
    ok &= ~no_weight
    mixed = typed[ok].groupby("unit_code")["weight"].agg(lambda w: 0 < w.isna().sum() < len(w))
    for unit in mixed[mixed].index:
        rows = typed[ok & (typed["unit_code"] == unit) & typed["weight"].isna()]
        col.add_rows(file, rows, "weight", f"is empty while other predecessors of unit {unit} have weights: "
                                           "give all or none",
                     vi=f"bị trống trong khi các đơn vị tiền thân khác của {unit} có tỷ trọng: ghi đủ hoặc bỏ trống tất cả",
                     check="cross:lineage")
    zero = typed[ok].groupby("unit_code")["weight"].agg(lambda w: w.notna().all() and w.sum() == 0)
    for unit in zero[zero].index:
        col.add(file, None, unit, "weight", "0", f"the weights of unit {unit} add up to 0",
                vi=f"tổng tỷ trọng của đơn vị {unit} bằng 0", check="cross:lineage")
    return typed[ok][["unit_code", "predecessor_code", "predecessor_name", "weight", "_row"]]


def check_deductions(t, file, ctx: Context, col: Collector, engine: Engine) -> pd.DataFrame:
    m = ctx.m
    if m.deductions is None and len(t):
        col.add(file, None, "", "points", "", f"methodology {m.id} has no deductions, but deductions were given",
                vi=f"bộ tiêu chí {m.id} không có điểm trừ nhưng tệp có điểm trừ", check="cross:deductions")
        return t.iloc[0:0].assign(points=pd.Series(dtype=float))
    frame, valid = checked_rows("deductions", t, file, ctx, col, engine)
    return frame[valid].assign(points=frame["_points"])[["unit_code", "criterion_code", "points", "reason", "_row"]]


def check_previous(t, file, ctx: Context, col: Collector, engine: Engine) -> pd.DataFrame:
    """Last year's published results: a unit listed twice is an error (which rank would count?); codes that
    match no unit of this run are normal (units merged or renamed) unless none matches at all, or Excel
    dropped a leading zero — both are said, since the rank changes would silently be empty."""
    frame, _ = checked_rows("previous_results", t, file, ctx, col, engine)
    if len(t) and not t["unit_code"].isin(ctx.registry).any():
        col.add(file, None, "", "unit_code", "", "matches none of the units of this run: no unit gets a rank "
                "change (is it the right year's and level's results.csv?)", severity="warning",
                vi="không khớp đơn vị nào của lần tính này: không đơn vị nào có so sánh thứ hạng (có đúng tệp "
                   "results.csv của năm và cấp trước không?)", check="cross:previous")
    pcts = [c for c in t.columns if c.endswith("_pct")]
    keep = ["unit_code", "rank"] + [c for c in ("total_points", "group", "unit_name") if c in t] + pcts
    out = t.assign(rank=frame["_rank"])[keep]
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


def check_inputs(inputs, engine: Engine) -> Checked:
    """Check and type every table of an `Inputs` bundle (tasks.ingest.Inputs). `engine` words the problems of
    the declared row rules: Great Expectations in production (expectations/suites.validate, the one entry
    point), `pandas_engine` only where GX is not run."""
    m = inputs.methodology
    col = Collector()
    col.extend(getattr(inputs, "notes", []))
    tables = inputs.tables
    units = check_units(tables["units"].frame, tables["units"].file, m, col, engine)
    scored = units[units["level"] == m.level]
    _check_run(inputs, m, col)
    needs = m.needed_tables()
    st = _needed_table(tables, "dossier_stats", m, needs, col)
    ctx = Context(m, frozenset(scored["unit_code"]), aggregated=st is not None and st.rows_read is not None)
    typed = {}
    for name, check in (("self_assessment", check_appraisal), ("survey_responses", check_survey),
                        ("survey_scores", check_survey_scores)):
        t = _needed_table(tables, name, m, needs, col)
        typed[name] = (check(t.frame, t.file, ctx, scored, col, engine) if t is not None
                       else pd.DataFrame(columns=_EMPTY[name]))
    period = statistics_period(inputs.index, m.year, col)
    stats = (check_stats(st.frame, st.file, ctx, scored, col, engine, period=period)
             if st is not None else pd.DataFrame(columns=_EMPTY["dossier_stats"]))
    dd, pr, ln = (tables.get(n) for n in ("deductions", "previous_results", "lineage"))
    deductions = (check_deductions(dd.frame, dd.file, ctx, col, engine) if dd is not None
                  else pd.DataFrame({"unit_code": pd.Series(dtype=str), "points": pd.Series(dtype=float)}))
    previous = check_previous(pr.frame, pr.file, ctx, col, engine) if pr is not None else None
    lineage = check_lineage(ln.frame, ln.file, ctx, previous, col, engine) if ln is not None else None
    return Checked(units=units, appraisal=typed["self_assessment"], answers=typed["survey_responses"],
                   stats=stats, deductions=deductions, previous=previous, lineage=lineage,
                   counts=_row_counts(tables, col), problems=col.items, survey_scores=typed["survey_scores"])


def _check_run(inputs, m: Methodology, col: Collector) -> None:
    """index.yaml's own values, and a methodology of the run's year."""
    check_index(inputs.index, col)
    year = inputs.index.get("year", m.year)
    if str(year).strip() != str(m.year):
        col.add("index.yaml", None, "", "year", year,
                f"the run is for {year} but methodology {m.id} is for {m.year}",
                vi=f"lần tính cho năm {year} nhưng bộ tiêu chí {m.id} dành cho năm {m.year}", check="cross:year")


def _row_counts(tables: dict, col: Collector) -> dict[str, dict[str, int]]:
    """Rows read, rejected and accepted per file (the problems found while reading join the collector)."""
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
    return counts


#: an index this many points below last year's is flagged for the council before publication
INDEX_DROP_WARNING = 10.0


def plausibility_warnings(ranked: pd.DataFrame, previous_file: str = "previous_results.csv") -> list[Problem]:
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
