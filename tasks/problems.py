"""Pure module: the problems a check finds, in one shape (validation/errors.csv): the collector every check
writes to, the number parser that names each bad cell, the cap on long lists, and InputError for a file that
cannot be read at all. Everything that reports a problem to a user uses these."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields

import pandas as pd


@dataclass(frozen=True)
class Problem:
    """One row of validation/errors.csv: where (the user's own file, the row as Excel numbers it, the unit, the
    column and the value), what is wrong in English (`problem`) and Vietnamese (`problem_vi`), whether it blocks
    publication (`severity` error) or not (warning), and the rule that found it (`check`)."""

    file: str
    row: int | None
    unit_code: str
    column: str
    value: str
    problem: str
    severity: str
    problem_vi: str
    check: str

    @property
    def is_error(self) -> bool:
        return self.severity == "error"

    def as_row(self) -> dict:
        return asdict(self)


#: validation/errors.csv's columns, in order
PROBLEM_COLUMNS = [f.name for f in fields(Problem)]


class InputError(ValueError):
    """An input folder that cannot be read at all (a missing or unreadable file, a missing column)."""

    def __init__(self, file: str, problem: str, column: str = "", row: int | None = None, vi: str = ""):
        self.file, self.problem, self.column, self.row, self.vi = file, problem, column, row, vi
        super().__init__(f"{file}: {problem}")


def problem_row(file: str, en: str, vi: str, *, row: int | None = None, unit_code: str = "", column: str = "",
            value="", severity: str = "error", check: str = "cross") -> Problem:
    """One problem, built in one place (English and Vietnamese both required)."""
    return Problem(file=file, row=None if row in (None, 0, "") else int(row), unit_code=unit_code or "",
                   column=column, value="" if value is None else str(value), problem=en, severity=severity,
                   problem_vi=vi, check=check)


class Collector:
    """Problem rows as errors.csv holds them, each with an English and a Vietnamese sentence.

    Bounded: it keeps the first PROBLEMS_PER_COLUMN problems of each file, column and severity and counts the
    rest (a million junk rows must cost a count, not a million rows of text); every rejected row is still
    remembered, so the rows-rejected figures stay exact."""

    def __init__(self, per: int | None = None):
        self.per = PROBLEMS_PER_COLUMN if per is None else per
        self.kept: list[Problem] = []
        self.counts: dict[tuple, int] = {}  # problems offered to _keep, per file, column and severity
        self.skipped: dict[tuple, int] = {}  # problems `each` counted without wording them
        self.rejected: dict[str, set[int]] = {}

    @property
    def items(self) -> list[Problem]:
        """The problems kept, then one line per file, column and severity counting those left out."""
        totals = {k: n + self.skipped.get(k, 0) for k, n in self.counts.items()}
        totals.update({k: n for k, n in self.skipped.items() if k not in totals})
        return self.kept + [_more_line(file, column, severity, n, self.per)
                            for (file, column, severity), n in totals.items() if n > self.per]

    def extend(self, problems) -> None:
        for p in problems:
            self._keep(p)

    def reject(self, file: str, rows) -> None:
        """Remember rows refused by an error (the rows-rejected figures count them, listed or not)."""
        self.rejected.setdefault(file, set()).update(int(r) for r in rows if r == r and r)

    def _keep(self, p: dict) -> None:
        key = (p.file, p.column, p.severity)
        self.counts[key] = self.counts.get(key, 0) + 1
        if p.is_error and p.row:
            self.rejected.setdefault(p.file, set()).add(int(p.row))
        if self.counts[key] <= self.per:
            self.kept.append(p)

    def add(self, file, row, unit_code, column, value, problem, severity="error", *, vi: str,
            check: str = "cross"):
        """One problem: `problem` in English, `vi` the same sentence in Vietnamese (both are required);
        `check` names the rule (row rules are worded by tasks.rules.problem_of)."""
        self._keep(problem_row(file, problem, vi, row=row, unit_code=unit_code, column=column,
                                value=value, severity=severity, check=check))

    def each(self, file: str, column: str, rows: pd.DataFrame, severity: str = "error"):
        """The records of `rows` a check should word one by one: as many as there is room for; the others are
        counted (and remembered as rejected) without being looked at."""
        key = (file, column, severity)
        room = max(0, self.per - self.counts.get(key, 0) - self.skipped.get(key, 0))
        if len(rows) > room:
            rest = rows.iloc[room:]
            self.skipped[key] = self.skipped.get(key, 0) + len(rest)
            if severity == "error" and "_row" in rest:
                self.rejected.setdefault(file, set()).update(int(r) for r in rest["_row"] if r)
        return rows.iloc[:room].to_dict("records")

    def add_rows(self, file: str, rows: pd.DataFrame, column: str, problem: str, severity="error",
                 unit_col: str = "unit_code", *, vi: str, check: str = "cross"):
        for d in self.each(file, column, rows, severity):
            self.add(file, d.get("_row"), d.get(unit_col, ""), column, d.get(column, ""), problem, severity,
                     vi=vi, check=check)


def _more_line(file: str, column: str, severity: str, n: int, per: int) -> Problem:
    return problem_row(file, f"… and {n - per} more problem(s) in column {column} of this file ({n} in all; "
                             f"the first {per} are listed)",
                       f"… còn {n - per} lỗi khác ở cột {column} của tệp này (tổng {n}; liệt kê {per} lỗi đầu)",
                       column=column, value=f"+{n - per}", severity=severity, check="capped")


#: problems listed per file, column and severity; the rest are counted in one more line (a million junk rows
#: must not make a 600 MB errors.csv)
PROBLEMS_PER_COLUMN = 200


def cap_problems(problems: list[Problem], per: int = PROBLEMS_PER_COLUMN) -> list[Problem]:
    """The first `per` problems of each file, column and severity, and one line counting the rest (count lines
    already in `problems` are kept as they are)."""
    col = Collector(per)
    col.extend([p for p in problems if p.check != "capped"])
    return col.items + [p for p in problems if p.check == "capped"]


def in_fixing_order(problems: list[Problem]) -> list[Problem]:
    """The order a person fixes problems in: file, then row; problems about what is missing (no row) after the
    rows of their file."""
    return sorted(problems, key=lambda p: (p.file, not p.row, p.row or 0, p.unit_code, p.column))
