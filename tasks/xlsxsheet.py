"""Edge module: an xlsxwriter worksheet that takes a table's body a column at a time (`BodySheet.body`) and writes
its cells' XML in one pass, instead of a call and a stored cell per value.

Why: results.xlsx holds ~670 cells per unit (two criteria sheets of units × criteria), 2.5 M cells in a national
run, and xlsxwriter costs ~10 µs a cell between `write_number` and its XML at `close()` — ~10 % of the national
run's CPU. Everything else — the title and header rows, formats, column widths, panes, filter, print setup,
shared strings, styles, the package — stays xlsxwriter's own, and the file is **byte for byte** what
cell-by-cell writing gives (tests/test_outputs.py compares both on real publications and on random tables):
the shared strings are numbered in the same order (at `add_body`, as the cells would have been written), the
formats get their style numbers in the same order (at `close()`, in row order), numbers are written as
xlsxwriter writes them (`%.16G`), and the rows' `spans` are xlsxwriter's. Built on xlsxwriter's worksheet
internals (`_write_rows`, `_calculate_spans`, `_check_dimensions`): xlsxwriter is pinned (constraints.txt), and
the byte-for-byte test is what an upgrade must pass.
"""

from __future__ import annotations

import math

import numpy as np
from xlsxwriter.utility import xl_col_to_name
from xlsxwriter.worksheet import Worksheet

#: the kinds of a body column: "b" booleans, "i" integers, "f" floats (written with the column's format), "s"
#: text, "" mixed (each value by its own type: bool, int, float with the format, anything else as text)
KINDS = ("b", "i", "f", "s", "")


class BodySheet(Worksheet):
    """A worksheet whose rows below the header come from `add_body` (see the module's docstring)."""

    def __init__(self) -> None:
        super().__init__()
        self.body: tuple[int, int, list] | None = None  # (first row, rows, [(col, kind, cells, format)])
        self._present = np.zeros((0, 0), dtype=bool)  # [column, row]: the body cell holds a value

    def add_body(self, first_row: int, columns: list[tuple[str, list, object]]) -> bool:
        """The table below row `first_row - 1`: `columns[c]` = (kind, values with None where empty, the format
        of its floats), for columns 0, 1, … False (nothing taken) where xlsxwriter would do something else
        than store each value — text over 16,383 characters (truncated), a number that is NaN or infinite
        (refused), more rows than a sheet holds — or where a row of the body already has cells: the caller
        then writes the cells one by one."""
        rows = max((len(values) for _, values, _ in columns), default=0)
        if self.body is not None or not rows or first_row + rows > self.xls_rowmax or len(columns) > self.xls_colmax:
            return False
        if any(r in self.table or r in self.row_info or r in self.comments
               for r in range(first_row, first_row + rows)):
            return False
        limit = self.xls_strmax // 2
        for kind, values, _ in columns:
            if kind not in KINDS or len(values) != rows:
                return False
            for v in values:
                if isinstance(v, float) and (math.isnan(v) or math.isinf(v)):
                    return False
                if (kind == "s" or kind == "" and not isinstance(v, (bool, int, float, type(None)))) \
                        and len(str(v)) > limit:
                    return False
        shared = self.str_table._get_shared_string_index
        body = []
        for col, (kind, values, fmt) in enumerate(columns):
            if kind == "s":  # numbered now, as write_string would, column after column
                cells = [None if v is None else ("s", shared(v), None) for v in values]
            elif kind == "":
                cells = [None if v is None else ("b", int(v), None) if isinstance(v, bool)
                         else ("n", v, None) if isinstance(v, int) else ("n", v, fmt) if isinstance(v, float)
                         else ("s", shared(str(v)), None) for v in values]
            else:
                cells = values
            body.append((col, kind, cells, fmt))
        self.body = (first_row, rows, body)
        present = np.array([[v is not None for v in cells] for _, _, cells, _ in body], dtype=bool).reshape(
            len(body), rows)
        filled_rows, filled_cols = np.flatnonzero(present.any(axis=0)), np.flatnonzero(present.any(axis=1))
        if len(filled_rows):  # the sheet's dimensions, as the cells' writing would have stretched them
            self._check_dimensions(first_row + int(filled_rows[0]), int(filled_cols[0]))
            self._check_dimensions(first_row + int(filled_rows[-1]), int(filled_cols[-1]))
        self._present = present
        return True

    # -- at close(): xlsxwriter's own row writer, with the body's rows written from their columns --

    def _calculate_spans(self) -> None:
        if self.body is None:
            return super()._calculate_spans()
        blocks: dict[int, list[int]] = {}

        def seen(row: int, low: int, high: int) -> None:
            block = blocks.setdefault(row // 16, [low, high])
            block[0], block[1] = min(block[0], low), max(block[1], high)

        for cells_by_row in (self.table, self.comments):
            for row, cells in list(cells_by_row.items()):
                cols = [c for c in cells if self.dim_colmin <= c <= self.dim_colmax]
                if cols and self.dim_rowmin <= row <= self.dim_rowmax:
                    seen(row, min(cols), max(cols))
        first, _, body = self.body
        present = self._present
        filled = np.flatnonzero(present.any(axis=0))
        if len(filled):
            low = present[:, filled].argmax(axis=0)
            high = len(body) - 1 - present[::-1, filled].argmax(axis=0)
            for r, lo, hi in zip(filled.tolist(), low.tolist(), high.tolist(), strict=True):
                seen(first + r, lo, hi)
        self.row_spans = {block: f"{low + 1}:{high + 1}" for block, (low, high) in blocks.items()}

    def _write_rows(self) -> None:
        if self.body is None:
            return super()._write_rows()
        self._calculate_spans()
        first, rows, _ = self.body
        lines = None
        for row_num in range(self.dim_rowmin, self.dim_rowmax + 1):
            span = self.row_spans.get(row_num // 16)
            if first <= row_num < first + rows:
                if lines is None:  # here, after the rows above have numbered their formats
                    lines = self._body_rows()
                if lines[row_num - first]:
                    self._write_row(row_num, span)
                    self.fh.write(lines[row_num - first])
                    self._xml_end_tag("row")
            elif self.table[row_num]:  # xlsxwriter's own rows: the title and the header
                self._write_row(row_num, span, self.row_info.get(row_num))
                for col_num in range(self.dim_colmin, self.dim_colmax + 1):
                    if col_num in self.table[row_num]:
                        self._write_cell(row_num, col_num, self.table[row_num][col_num])
                self._xml_end_tag("row")
            elif row_num in self.comments or row_num in self.row_info:
                self._write_empty_row(row_num, span, self.row_info.get(row_num))

    def _body_rows(self) -> list[str]:
        """Each body row's cells as XML; the formats get their style numbers in row order, as they would."""
        first, rows, body = self.body
        numbers = [str(first + r + 1) for r in range(rows)]
        first_use: dict[int, tuple[tuple[int, int], object]] = {}  # id(format) -> ((row, col), format)
        for col, kind, cells, fmt in body:  # only a column's floats carry its format
            floats = (r for r, v in enumerate(cells) if v is not None and (kind == "f" or v[2] is not None))
            r = next(floats, None) if kind in ("f", "") else None
            if r is not None and (id(fmt) not in first_use or (r, col) < first_use[id(fmt)][0]):
                first_use[id(fmt)] = ((r, col), fmt)
        styles = {key: f' s="{fmt._get_xf_index()}"' for key, (_, fmt) in sorted(first_use.items(),
                                                                                 key=lambda kv: kv[1][0])}
        columns = []
        for col, kind, cells, fmt in body:
            ref = xl_col_to_name(col)
            if kind == "s":
                column = ["" if v is None else f'<c r="{ref}{n}" t="s"><v>{v[1]}</v></c>'
                          for n, v in zip(numbers, cells, strict=True)]
            elif kind in ("i", "f"):
                style = styles.get(id(fmt), "") if kind == "f" else ""
                column = ["" if v is None else f'<c r="{ref}{n}"{style}><v>{v:.16G}</v></c>'
                          for n, v in zip(numbers, cells, strict=True)]
            elif kind == "b":
                column = ["" if v is None else f'<c r="{ref}{n}" t="b"><v>{1 if v else 0}</v></c>'
                          for n, v in zip(numbers, cells, strict=True)]
            else:
                column = ["" if v is None else _mixed(ref, n, v, styles) for n, v in zip(numbers, cells, strict=True)]
            columns.append(column)
        return ["".join(row) for row in zip(*columns, strict=True)]


def _mixed(ref: str, n: str, cell: tuple, styles: dict[int, str]) -> str:
    kind, value, fmt = cell
    if kind == "s":
        return f'<c r="{ref}{n}" t="s"><v>{value}</v></c>'
    if kind == "b":
        return f'<c r="{ref}{n}" t="b"><v>{value}</v></c>'
    style = styles.get(id(fmt), "") if fmt is not None else ""
    return f'<c r="{ref}{n}"{style}><v>{value:.16G}</v></c>'
