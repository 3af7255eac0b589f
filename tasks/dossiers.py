"""The suite for raw per-dossier records (`dossiers.parquet` / `dossiers.csv`), run as SQL in DuckDB.

A one-stop system exports one row per dossier: tens of millions a year at national scale. Running these
rules as a pandas Great Expectations suite took 12.5 s for 20 M rows; pushed into the one DuckDB query that
also aggregates the records into monthly statistics they cost little more than the aggregate itself (see
`make bench`). Each rule is a SQL predicate that is true for a failing row; the query counts every rule's
failures in the same scan that aggregates, then fetches the failing rows (with their row numbers) only for the
rules that fired. Duplicate `dossier_id`s are found with one hash aggregate over the ids.

Rows are numbered as everywhere else: the header is row 1, the first record row 2 (for Parquet, the record
number + 2, i.e. the row it would have in Excel).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import pandas as pd

from tasks.problems import InputError, Problem, problem_row
from tasks.schema import COUNT_COLUMNS, TABLES
from tasks.text import nfc

#: failing rows listed in errors.csv per rule; the rest are counted in one more line
EXAMPLES_PER_RULE = 200
RAW_COLUMNS = TABLES["dossiers"].required  # the columns a raw dossier export must have
_TRUE = "('1','true','yes','có','x')"
_BOOL = "('1','0','true','false','yes','no','có','không','x','')"
_HASH = "hash"  # DuckDB's 64-bit hash; the duplicate check confirms candidates on the ids themselves


@dataclass(frozen=True)
class SqlRule:
    name: str
    column: str
    predicate: str  # SQL over the typed columns (t_*) and the raw text columns (x_*): true when the row fails
    en: str
    vi: str
    severity: str = "error"


RULES = (
    SqlRule("id_empty", "dossier_id", "x_dossier_id = ''", "is empty: every dossier needs its code",
            "bị trống: mỗi hồ sơ phải có mã hồ sơ"),
    SqlRule("unit_empty", "unit_code", "x_unit_code = ''", "is empty", "bị trống"),
    SqlRule("received_bad", "received_at", "t_received_at IS NULL",
            "is not a date and time (e.g. 2024-03-15 08:30)", "không phải ngày giờ hợp lệ (ví dụ 2024-03-15 08:30)"),
    SqlRule("due_bad", "due_at", "t_due_at IS NULL",
            "is not a date and time (e.g. 2024-03-20 17:00)", "không phải ngày giờ hợp lệ (ví dụ 2024-03-20 17:00)"),
    SqlRule("resolved_bad", "resolved_at", "x_resolved_at <> '' AND t_resolved_at IS NULL",
            "is not a date and time (leave it empty while the dossier is pending)",
            "không phải ngày giờ hợp lệ (để trống nếu hồ sơ đang giải quyết)"),
    SqlRule("due_before_received", "due_at", "t_due_at < t_received_at",
            "is earlier than received_at: a dossier cannot be due before it is received",
            "sớm hơn ngày tiếp nhận (received_at): hạn trả kết quả không thể trước ngày nhận hồ sơ"),
    SqlRule("resolved_before_received", "resolved_at", "t_resolved_at < t_received_at",
            "is earlier than received_at: a dossier cannot be resolved before it is received",
            "sớm hơn ngày tiếp nhận (received_at): không thể giải quyết trước khi nhận hồ sơ"),
    SqlRule("online_bad", "online", f"NOT (x_online IN {_BOOL})",
            "must be 1/0 (or true/false): was the dossier submitted online?",
            "phải là 1/0 (hoặc true/false): hồ sơ có nộp trực tuyến không?"),
    SqlRule("digitized_bad", "digitized", f"NOT (x_digitized IN {_BOOL})",
            "must be 1/0 (or true/false): were the dossier and its result digitised?",
            "phải là 1/0 (hoặc true/false): hồ sơ và kết quả có được số hóa không?"),
)
UNKNOWN_UNIT = SqlRule("unit_unknown", "unit_code", "x_unit_code <> '' AND NOT t_known",
                       "is not a unit of the methodology's level in units.csv",
                       "không phải mã đơn vị thuộc cấp của bộ tiêu chí trong units.csv")
DUPLICATE = SqlRule("id_duplicate", "dossier_id", "", "appears more than once: each dossier is counted once",
                    "bị lặp: mỗi hồ sơ chỉ được tính một lần")


def _source(path, numbered: bool) -> str:
    """The FROM clause; with `numbered`, a row number column `_rn` too (it costs a little: examples only)."""
    p = path.as_posix().replace("'", "''")
    if path.suffix.lower() == ".parquet":
        if numbered:
            return f"(SELECT *, file_row_number + 2 AS _rn FROM read_parquet('{p}', file_row_number = true))"
        return f"read_parquet('{p}')"
    # CSV: every column as text; insertion order is kept, so row_number() is the line number
    csv = f"read_csv('{p}', all_varchar = true, header = true)"
    return f"(SELECT *, row_number() OVER () + 1 AS _rn FROM {csv})" if numbered else csv


def _typed(types: dict[str, str]) -> str:
    """Typed columns t_*, the text rules test x_*, and the cells as typed r_* (computed only where used:
    DuckDB pushes projections down, so the aggregate never builds the text of 20 M timestamps)."""
    def text(c: str) -> str:
        return f"coalesce({c}, '')" if types.get(c) == "VARCHAR" else f"coalesce(CAST({c} AS VARCHAR), '')"

    def ts(c: str) -> str:
        if types.get(c, "").startswith(("TIMESTAMP", "DATE")):
            return f"CAST({c} AS TIMESTAMP)"
        return f"TRY_CAST(NULLIF(trim({text(c)}), '') AS TIMESTAMP)"

    def flag(c: str) -> tuple[str, str]:
        if types.get(c) == "BOOLEAN":
            return f"coalesce({c}, false)", f"CASE WHEN {c} IS NULL THEN 'null' ELSE '1' END"
        return f"(lower(trim({text(c)})) IN {_TRUE})", f"lower(trim({text(c)}))"

    online, x_online = flag("online")
    digitized, x_digitized = flag("digitized")
    resolved_text = ("CASE WHEN resolved_at IS NULL THEN '' ELSE 'x' END"
                     if types.get("resolved_at", "").startswith(("TIMESTAMP", "DATE")) else f"trim({text('resolved_at')})")
    raw = ", ".join(f"CAST({c} AS VARCHAR) AS r_{c}" for c in RAW_COLUMNS)
    return f"""{text('dossier_id')} AS x_dossier_id, {text('unit_code')} AS x_unit_code,
        {ts('received_at')} AS t_received_at, {ts('due_at')} AS t_due_at,
        {ts('resolved_at')} AS t_resolved_at, {resolved_text} AS x_resolved_at,
        {online} AS t_online, {x_online} AS x_online, {digitized} AS t_digitized, {x_digitized} AS x_digitized,
        {raw}"""


def validate_and_aggregate(path, scored_units: set[str]) -> tuple[pd.DataFrame, list[dict], dict[str, int]]:
    """Check every raw dossier row and aggregate the records into monthly statistics per unit.

    Returns (the dossier_stats frame, problems in the errors.csv shape, {rows_read, rows_rejected}).
    Received, online and digitised count in the month the dossier was received; resolved, on time
    (`resolved_at <= due_at`) and late in the month it was resolved; pending dossiers count as received.
    Rows of unknown units or without a valid received date are left out of the statistics; when any rule
    fails the run is not published, so the statistics of a failing file are never scored.
    """
    import duckdb

    con = duckdb.connect()
    # twice as many threads as cores: the duplicate check's hash table of every id waits on memory, and
    # the extra threads fill those stalls (measured: 1.6 s -> 0.9 s for 20 M ids on 2 cores; the plain
    # aggregate gains nothing from it). No progress bar in the run's log.
    con.execute(f"SET threads = {max(4, 2 * (os.cpu_count() or 1))}")
    con.execute("SET enable_progress_bar = false")
    try:
        types = {r[0]: r[1] for r in con.execute(f"DESCRIBE SELECT * FROM {_source(path, False)}").fetchall()}
        missing = [c for c in RAW_COLUMNS if c not in types]
        if missing:
            raise InputError(path.name, f"column(s) {', '.join(missing)} missing", column=missing[0], row=1,
                             vi=f"thiếu cột {', '.join(missing)}")
        con.register("scored", pd.DataFrame({"code": sorted(scored_units)}, dtype=object))
        con.execute(f"CREATE TEMP VIEW d AS SELECT {_typed(types)} FROM {_source(path, False)}")
        con.execute(f"""CREATE TEMP VIEW d_rn AS SELECT *, x_unit_code IN (SELECT code FROM scored) AS t_known
                        FROM (SELECT _rn, {_typed(types)} FROM {_source(path, True)})""")
        # one scan: counts per unit, month received and month resolved (rolled up both ways in pandas),
        # with every rule's failures; the dossier ids are read only by the duplicate check below
        row_rules = [r for r in RULES if r.name != "id_empty"]
        fails = ", ".join(f"count(*) FILTER (WHERE {r.predicate}) AS {r.name}" for r in row_rules)
        agg = con.execute(f"""
            SELECT x_unit_code AS unit_code, k_rm AS rm, k_sm AS sm,
                   count(*) AS n, count(*) FILTER (WHERE t_online) AS online,
                   count(*) FILTER (WHERE t_digitized) AS digitized,
                   count(*) FILTER (WHERE t_resolved_at <= t_due_at) AS on_time,
                   count(*) FILTER (WHERE t_resolved_at > t_due_at) AS late, {fails}
            FROM (SELECT *, year(t_received_at) * 100 + month(t_received_at) AS k_rm,
                            year(t_resolved_at) * 100 + month(t_resolved_at) AS k_sm FROM d)
            GROUP BY ALL""").df()
        failed = {r.name: int(agg[r.name].sum()) for r in row_rules}
        unknown = ~agg["unit_code"].isin(scored_units) & (agg["unit_code"] != "")
        failed[UNKNOWN_UNIT.name] = int(agg.loc[unknown, "n"].sum())
        failed["id_empty"], dups = _ids(con, path)
        extra = int((dups["c"] - 1).sum())
        problems: list[dict] = []
        for r in (*RULES, UNKNOWN_UNIT):
            if failed[r.name]:
                problems += _examples(con, path.name, r, failed[r.name])
        rejected = 0
        if any(failed.values()):
            bad = " OR ".join(f"coalesce({r.predicate}, false)" for r in (*RULES, UNKNOWN_UNIT))
            rejected = con.execute(f"SELECT count(*) FROM d_rn WHERE {bad}").fetchall()[0][0]
        if extra:
            problems += _duplicate_examples(con, path.name, dups["id"], extra)
        counts = {"rows_read": int(agg["n"].sum()), "rows_rejected": int(rejected) + extra}
    finally:
        con.close()
    keep = agg["unit_code"].isin(scored_units)
    return _stats(agg[keep]), problems, counts


def _ids(con, path) -> tuple[int, pd.DataFrame]:
    """Empty dossier ids (a count) and repeated ones (id, count). The ids' 64-bit hashes are grouped (cheaper
    than the strings); the candidates (repeated hashes, and the hash of an empty id) are then counted on the
    strings themselves, so a hash collision is never reported as a duplicate."""
    ids = con.execute(f"""
        WITH h AS (SELECT {_HASH}(CAST(dossier_id AS VARCHAR)) AS h FROM {_source(path, False)} GROUP BY 1
                   HAVING count(*) > 1 OR h IN ({_HASH}(''), {_HASH}(NULL::VARCHAR)))
        SELECT coalesce(CAST(dossier_id AS VARCHAR), '') AS id, count(*) AS c FROM {_source(path, False)}
        WHERE {_HASH}(CAST(dossier_id AS VARCHAR)) IN (SELECT h FROM h) GROUP BY 1""").df()
    return int(ids.loc[ids["id"] == "", "c"].sum()), ids[(ids["id"] != "") & (ids["c"] > 1)]


def _stats(agg: pd.DataFrame) -> pd.DataFrame:
    """Roll the (unit, month received, month resolved) counts up into the dossier_stats table."""
    recv = (agg[agg["rm"].notna()].groupby(["unit_code", "rm"], as_index=False)[["n", "online", "digitized"]]
            .sum().rename(columns={"rm": "month", "n": "received", "online": "received_online"}))
    res = (agg[agg["sm"].notna()].groupby(["unit_code", "sm"], as_index=False)[["on_time", "late"]].sum()
           .rename(columns={"sm": "month", "on_time": "resolved_on_time", "late": "resolved_late"}))
    res["resolved"] = res["resolved_on_time"] + res["resolved_late"]
    res = res[res["resolved"] > 0]
    out = recv.merge(res, on=["unit_code", "month"], how="outer").fillna(0)
    month = out["month"].astype("int64")
    out["period"] = (month // 100).astype(str) + "-" + (month % 100).map("{:02d}".format)
    out = out.sort_values(["unit_code", "period"], ignore_index=True)
    stats = out[["unit_code", "period", *COUNT_COLUMNS]].copy()
    for c in COUNT_COLUMNS:
        stats[c] = stats[c].astype("int64").astype(str)
    stats["unit_code"] = stats["unit_code"].map(nfc)
    return stats


def _problem(file, row, unit, rule: SqlRule, value, en=None, vi=None) -> Problem:
    return problem_row(file, en or rule.en, vi or rule.vi, row=row, unit_code=nfc(unit or ""), column=rule.column,
                       value=value, severity=rule.severity, check=f"duckdb:dossiers:{rule.name}")


def _more(file, rule: SqlRule, n: int) -> list[dict]:
    if n <= EXAMPLES_PER_RULE:
        return []
    rest = n - EXAMPLES_PER_RULE
    return [_problem(file, None, "", rule, f"+{rest}",
                     f"{rule.en} — and {rest} more row(s) with this problem ({n} in all; the first "
                     f"{EXAMPLES_PER_RULE} are listed)",
                     f"{rule.vi} — còn {rest} dòng khác cùng lỗi (tổng {n}; liệt kê {EXAMPLES_PER_RULE} dòng đầu)")]


def _examples(con, file: str, rule: SqlRule, n: int) -> list[dict]:
    rows = con.execute(f"""SELECT _rn, x_unit_code, r_{rule.column} FROM d_rn
                           WHERE coalesce({rule.predicate}, false) ORDER BY _rn LIMIT {EXAMPLES_PER_RULE}""").fetchall()
    return [_problem(file, r[0], r[1], rule, r[2]) for r in rows] + _more(file, rule, n)


def _duplicate_examples(con, file: str, ids: pd.Series, extra: int) -> list[dict]:
    """The repeated rows of the ids the duplicate check found (not searched for again)."""
    con.register("dup_ids", pd.DataFrame({"id": ids.astype(object)}))
    rows = con.execute(f"""
        SELECT _rn, x_unit_code, x_dossier_id, first_rn FROM (
          SELECT _rn, x_unit_code, x_dossier_id, min(_rn) OVER (PARTITION BY x_dossier_id) AS first_rn
          FROM d_rn WHERE x_dossier_id IN (SELECT id FROM dup_ids))
        WHERE _rn <> first_rn ORDER BY _rn LIMIT {EXAMPLES_PER_RULE}""").fetchall()
    out = [_problem(file, r[0], r[1], DUPLICATE, r[2], f"{DUPLICATE.en} (first on row {r[3]})",
                    f"{DUPLICATE.vi} (đã có ở dòng {r[3]})") for r in rows]
    return out + _more(file, DUPLICATE, extra)
