"""Edge module: the workbooks units fill in (`parindex forms`) and their return (`parindex collect`).

A unit's workbook (CONTRACT.md): its first sheet holds a title block, a row of Vietnamese labels, the row of
column names (`criterion_code`, `max_points`, `self_points`, `appraised_points`, `evidence`, `note`, …) and
one row per leaf `appraisal` criterion; a second sheet sums each field with Excel formulas the unit sees; an
instructions sheet; and a very hidden sheet recording the unit, the stage and the methodology's sha256, so a
returned workbook is matched to its unit and its methodology whatever its file is renamed to. Only the cells
of the stage are unlocked (the unit's: self points, evidence, note; the council's: appraised points and its
comment); each number cell accepts a number between 0 and the criterion's maximum (decimals allowed; the
decimal comma of a Vietnamese locale is Excel's own display of the same number).

`collect` reads every workbook back and checks it with the same vocabulary and messages as the run: each
problem names the workbook, sheet, cell, unit and criterion, in Vietnamese and English.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from tasks.methodology import Methodology
from tasks.numbers import TOLERANCE
from tasks.text import DECIMAL_COMMA

STAGES = ("self", "appraisal")
HIDDEN = "_parindex"
FIRST_SHEET = {"self": "Tự đánh giá", "appraisal": "Thẩm định"}
#: the table's columns: (name, Vietnamese label, width); the header row holds the names (CONTRACT.md)
COLUMNS = [
    ("criterion_code", "Mã tiêu chí", 10), ("field_code", "Lĩnh vực", 8), ("criterion_name", "Tiêu chí", 52),
    ("max_points", "Điểm tối đa", 9), ("self_points", "Điểm tự chấm", 10),
    ("appraised_points", "Điểm thẩm định", 10),
    ("evidence", "Tài liệu kiểm chứng (số, ngày văn bản, trang)", 34), ("note", "Ghi chú của đơn vị", 22),
    ("council_note", "Ý kiến của Hội đồng thẩm định", 26),
]
NAMES = [c[0] for c in COLUMNS]
#: the cells each stage fills
FILLED = {"self": ("self_points", "evidence", "note"), "appraisal": ("appraised_points", "council_note")}
LABEL_ROW, HEADER_ROW, FIRST_ROW = 6, 7, 8


def _col(name: str) -> str:
    from openpyxl.utils import get_column_letter

    return get_column_letter(NAMES.index(name) + 1)


def write_form(path: Path, m: Methodology, unit: dict, province: str, stage: str,
               filled: pd.DataFrame | None = None) -> None:
    """One unit's workbook. `filled`: the unit's self_assessment rows (appraisal stage: shown, locked)."""
    from openpyxl import Workbook

    leaves = [lf for lf in m.leaves() if lf.source == "appraisal"]
    wb = Workbook()
    ws = wb.active
    ws.title = FIRST_SHEET[stage]
    title = _form_head(ws, m, unit, province, stage)
    rows_by_max = _form_criteria(ws, m, leaves, stage, filled)
    last = FIRST_ROW + len(leaves) - 1
    _form_checks(ws, stage, last, rows_by_max)
    _summary_sheet(wb, m, leaves, last)
    _instructions(wb, stage, m)
    hidden = wb.create_sheet(HIDDEN)
    for i, (k, v) in enumerate([("unit_code", unit["unit_code"]), ("unit_name", unit["unit_name"]),
                                ("methodology_id", m.id), ("methodology_sha256", m.sha256), ("year", m.year),
                                ("stage", stage), ("province", province),
                                ("criteria", ",".join(lf.code for lf in leaves))], start=1):
        hidden.cell(i, 1, k)
        hidden.cell(i, 2, str(v))
    hidden.sheet_state = "veryHidden"
    wb.properties.creator = "parindex"
    wb.properties.title = f"{title} — {unit['unit_name']}"
    wb.save(path)


def _form_head(ws, m: Methodology, unit: dict, province: str, stage: str) -> str:
    """Title, unit and methodology lines, then the Vietnamese labels over the column names; returns the title."""
    from openpyxl.styles import Alignment, Font, PatternFill

    bold, wrap = Font(bold=True), Alignment(wrap_text=True, vertical="top")
    title = ("PHIẾU TỰ ĐÁNH GIÁ, CHẤM ĐIỂM CHỈ SỐ CẢI CÁCH HÀNH CHÍNH NĂM " if stage == "self"
             else "PHIẾU THẨM ĐỊNH ĐIỂM CHỈ SỐ CẢI CÁCH HÀNH CHÍNH NĂM ") + str(m.year)
    ws["A1"], ws["A1"].font = title, Font(bold=True, size=13)
    ws["A2"] = f"Tỉnh/thành phố: {province}"
    ws["A3"], ws["A3"].font = f"Đơn vị: {unit['unit_name']} (mã {unit['unit_code']})", bold
    ws["A4"] = f"Bộ tiêu chí: {m.title.vi} ({m.id})"
    ws["A5"] = ("Điền các ô màu vàng. Điểm là số từ 0 đến điểm tối đa của tiêu chí, được dùng số thập phân."
                if stage == "self" else "Hội đồng điền điểm thẩm định và ý kiến vào các ô màu vàng; ô khác điểm "
                                        "tự chấm được tô cam.")
    head_fill = PatternFill("solid", fgColor="F2E6E6")
    ws.row_dimensions[LABEL_ROW].height = 42
    for i, (name, label, width) in enumerate(COLUMNS, start=1):
        ws.cell(LABEL_ROW, i, label).font = bold
        ws.cell(LABEL_ROW, i).alignment, ws.cell(LABEL_ROW, i).fill = wrap, head_fill
        ws.cell(HEADER_ROW, i, name).font = Font(italic=True, size=8, color="666666")
        ws.column_dimensions[ws.cell(HEADER_ROW, i).column_letter].width = width
    return title


def _form_criteria(ws, m: Methodology, leaves, stage: str, filled: pd.DataFrame | None) -> dict[float, list[str]]:
    """A row per appraisal criterion (the stage's cells open and yellow), then the totals; returns the rows of
    each maximum, for the cells' validation."""
    from openpyxl.styles import Alignment, Font, PatternFill, Protection

    names = m.names("vi")
    wrap, fill_fill = Alignment(wrap_text=True, vertical="top"), PatternFill("solid", fgColor="FFF2CC")
    own = filled.set_index("criterion_code") if filled is not None and len(filled) else None
    rows_by_max: dict[float, list[str]] = {}
    for r, lf in enumerate(leaves, start=FIRST_ROW):
        c = lf.criterion
        path_name = " › ".join([*(f"{p} {names.get(p, '')}" for p in lf.parent_codes), f"{c.code} {c.name.vi}"])
        values = {"criterion_code": c.code, "field_code": lf.field_code, "criterion_name": path_name,
                  "max_points": lf.max_points}
        if own is not None and c.code in own.index:
            row = own.loc[c.code]
            for k in ("self_points", "evidence", "note"):
                v = row.get(k, "")
                values[k] = _number(v) if k == "self_points" and v not in ("", None) else (v or None)
        for k, v in values.items():
            ws.cell(r, NAMES.index(k) + 1, v)
        for i in range(1, len(COLUMNS) + 1):
            cell = ws.cell(r, i)
            cell.alignment = wrap
            if NAMES[i - 1] in FILLED[stage]:
                cell.protection, cell.fill = Protection(locked=False), fill_fill
        for k in ("max_points", "self_points", "appraised_points"):
            ws.cell(r, NAMES.index(k) + 1).number_format = "0.00"
        # wrapped text gets the height it needs (neither Excel nor LibreOffice grows a row openpyxl wrote)
        lines = max(1, *(math.ceil(len(str(values.get(n) or "")) * 1.1 / w) for n, _, w in COLUMNS))
        ws.row_dimensions[r].height = 13.5 * lines
        rows_by_max.setdefault(lf.max_points, []).append(str(r))
    last = FIRST_ROW + len(leaves) - 1
    total = last + 2
    ws.cell(total, NAMES.index("criterion_name") + 1, "Tổng cộng (các tiêu chí do đơn vị tự chấm)").font = Font(
        bold=True)
    for k in ("max_points", "self_points", "appraised_points"):
        letter = _col(k)
        ws.cell(total, NAMES.index(k) + 1, f"=SUM({letter}{FIRST_ROW}:{letter}{last})").font = Font(bold=True)
        ws.cell(total, NAMES.index(k) + 1).number_format = "0.00"
    return rows_by_max


def _form_checks(ws, stage: str, last: int, rows_by_max: dict[float, list[str]]) -> None:
    """Excel's own checks (a number from 0 to the maximum), the council's differing points in orange, print
    setup and sheet protection."""
    from openpyxl.formatting.rule import FormulaRule
    from openpyxl.styles import PatternFill
    from openpyxl.worksheet.datavalidation import DataValidation

    for stage_col in [c for c in FILLED[stage] if c.endswith("_points")]:
        letter = _col(stage_col)
        for mx, rows in rows_by_max.items():
            dv = DataValidation(type="decimal", operator="between", formula1="0", formula2=repr(float(mx)),
                                allow_blank=True, showErrorMessage=True, errorTitle="Điểm không hợp lệ",
                                error=f"Nhập một số từ 0 đến {mx:g} (được dùng số thập phân).")
            for r in rows:
                dv.add(f"{letter}{r}")
            ws.add_data_validation(dv)
    if stage == "appraisal":  # a council's point that differs from the unit's own shows as it is typed
        a, s = _col("appraised_points"), _col("self_points")
        ws.conditional_formatting.add(f"{a}{FIRST_ROW}:{a}{last}", FormulaRule(
            formula=[f'AND({a}{FIRST_ROW}<>"",{a}{FIRST_ROW}<>{s}{FIRST_ROW})'],
            fill=PatternFill("solid", fgColor="F4B183")))
    ws.freeze_panes = f"A{FIRST_ROW}"
    ws.print_title_rows = f"{LABEL_ROW}:{HEADER_ROW}"
    ws.page_setup.orientation, ws.page_setup.paperSize = "landscape", ws.PAPERSIZE_A4
    ws.page_setup.fitToWidth, ws.page_setup.fitToHeight = 1, 0
    ws.sheet_properties.pageSetUpPr.fitToPage = True
    ws.protection.sheet = True  # criteria and maxima locked; only the stage's cells are open
    ws.protection.formatColumns = ws.protection.formatRows = False


def _summary_sheet(wb, m: Methodology, leaves, last: int) -> None:
    from openpyxl.styles import Font

    ws = wb.create_sheet("Tổng hợp")
    sheet = f"'{wb.worksheets[0].title}'"
    ws.append(["Lĩnh vực", "Tên lĩnh vực", "Điểm tối đa (tự chấm)", "Điểm tự chấm", "Điểm thẩm định"])
    for cell in ws[1]:
        cell.font = Font(bold=True)
    f_col, rng = _col("field_code"), lambda k: f"{sheet}!{_col(k)}{FIRST_ROW}:{_col(k)}{last}"
    fields = [f for f in m.fields if any(lf.field_code == f.code for lf in leaves)]
    for i, f in enumerate(fields, start=2):
        crit = f"{sheet}!{f_col}{FIRST_ROW}:{f_col}{last}"
        ws.append([f.code, f.name.vi] + [f'=SUMIF({crit},A{i},{rng(k)})'
                                         for k in ("max_points", "self_points", "appraised_points")])
    n = len(fields) + 1
    ws.append(["", "Tổng cộng", f"=SUM(C2:C{n})", f"=SUM(D2:D{n})", f"=SUM(E2:E{n})"])
    for row in ws.iter_rows(min_row=2, min_col=3, max_col=5):
        for cell in row:
            cell.number_format = "0.00"
    ws.column_dimensions["B"].width = 60
    for letter in "CDE":
        ws.column_dimensions[letter].width = 16
    ws.protection.sheet = True


def _instructions(wb, stage: str, m: Methodology) -> None:
    ws = wb.create_sheet("Hướng dẫn")
    lines = [
        "HƯỚNG DẪN",
        "1. Chỉ điền vào các ô màu vàng của trang đầu; tên tiêu chí và điểm tối đa đã được khóa.",
        "2. Điểm là một số từ 0 đến điểm tối đa của tiêu chí; được dùng số thập phân (ví dụ 1,5 hoặc 0,75).",
        "3. Cột 'Tài liệu kiểm chứng' ghi số, ngày văn bản và trang làm căn cứ cho điểm tự chấm.",
        "4. Không thêm, xóa hoặc đổi thứ tự dòng; không đổi tên trang tính. Có thể đổi tên tệp khi gửi lại.",
        "5. Trang 'Tổng hợp' tự cộng điểm theo lĩnh vực bằng công thức.",
        "6. Các tiêu chí chấm bằng điều tra xã hội học hoặc số liệu hồ sơ không có trong phiếu: "
        "Sở Nội vụ tính điểm các tiêu chí đó.",
        f"Bộ tiêu chí: {m.title.vi} ({m.id}).",
    ]
    if stage == "appraisal":
        lines[1] = "1. Hội đồng chỉ điền điểm thẩm định và ý kiến (ô màu vàng); điểm tự chấm của đơn vị đã khóa."
    for line in lines:
        ws.append([line])
    ws.column_dimensions["A"].width = 120
    ws.protection.sheet = True


def _number(v):
    try:
        f = float(v)
    except (TypeError, ValueError):
        return v
    return int(f) if f.is_integer() else f


# ------------------------------------------------------------------------------------------ collect


@dataclass
class Collected:
    """What `collect` read: the merged self_assessment rows, problems (one per cell), who returned what."""

    rows: list[dict] = field(default_factory=list)
    problems: list[dict] = field(default_factory=list)
    returned: dict[str, str] = field(default_factory=dict)  # unit_code -> workbook file name
    stage: str = ""

    def add(self, workbook, sheet, cell, unit, criterion, column, value, en, vi):
        self.problems.append({"workbook": workbook, "sheet": sheet, "cell": cell, "unit_code": unit,
                              "criterion_code": criterion, "column": column,
                              "value": "" if value is None else str(value), "problem": en, "problem_vi": vi})


PROBLEM_COLUMNS = ["workbook", "sheet", "cell", "unit_code", "criterion_code", "column", "value", "problem",
                   "problem_vi"]


def read_number(value) -> tuple[float | None, bool]:
    """A cell as a number: (value, ok). Empty → (None, True); a decimal comma typed as text is read as a
    decimal; other text → (None, False)."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None, True
    if isinstance(value, bool):
        return None, False
    if isinstance(value, int | float):
        return float(value), True
    text = str(value).strip()
    text = DECIMAL_COMMA.sub(r"\1.\2", text)
    try:
        return float(text), True
    except ValueError:
        return None, False


def read_form(path: Path, m: Methodology, registry: dict[str, str], col: Collected) -> None:
    """Check one returned workbook against its unit and the methodology; add its rows or its problems."""
    opened = _open_form(path, m, registry, col)
    if opened is None:
        return
    sheet, unit, stage = opened
    header = [c.value for c in sheet[HEADER_ROW]]
    where = {n: header.index(n) for n in NAMES if n in header}
    missing = [n for n in NAMES[:8] if n not in where]
    if missing:
        col.add(path.name, sheet.title, f"A{HEADER_ROW}", unit, "", missing[0], "",
                f"the header row {HEADER_ROW} lacks {', '.join(missing)}: a column was removed or renamed",
                f"dòng tiêu đề {HEADER_ROW} thiếu cột {', '.join(missing)}: cột đã bị xóa hoặc đổi tên")
        return
    before = len(col.problems)
    rows = _form_rows(path.name, sheet, where, m, unit, stage, col)
    if len(col.problems) == before:
        col.rows.extend(rows)


def _open_form(path: Path, m: Methodology, registry: dict[str, str], col: Collected):
    """The form's first sheet, unit and stage, if it opens as a parindex form of this methodology, of a unit
    of the registry, filed under its own name, and the first of its unit; None (with the problem) if not."""
    from openpyxl import load_workbook

    name = path.name
    try:
        wb = load_workbook(path, data_only=True)
    except Exception as exc:  # not a workbook, damaged, password-protected
        col.add(name, "", "", "", "", "", "", f"cannot be opened as an Excel workbook ({exc.__class__.__name__})",
                "không mở được dạng sổ tính Excel (tệp hỏng hoặc sai định dạng)")
        return None
    if HIDDEN not in wb.sheetnames:
        col.add(name, "", "", "", "", "", "", "is not a parindex form (its record sheet is missing)",
                "không phải phiếu do parindex tạo (thiếu trang ghi nhận)")
        return None
    record = {str(r[0].value): ("" if r[1].value is None else str(r[1].value)) for r in wb[HIDDEN].iter_rows()
              if r[0].value}
    unit = record.get("unit_code", "")
    stem = path.stem
    refusal = (
        (record.get("methodology_sha256") != m.sha256, "methodology", record.get("methodology_id", ""),
         f"was made for methodology {record.get('methodology_id')} ({record.get('year')}), not {m.id}: "
         "it is another year's or another version's form",
         f"được tạo theo bộ tiêu chí {record.get('methodology_id')} ({record.get('year')}), không phải {m.id}: "
         "phiếu của năm khác hoặc phiên bản khác"),
        (unit not in registry, "unit_code", unit, "records a unit that is not in units.csv",
         "ghi mã đơn vị không có trong units.csv"),
        (stem in registry and stem != unit, "unit_code", stem,
         f"is filed as unit {stem} but is the workbook of unit {unit} ({registry.get(unit, '')}): a copy under "
         "another unit's name", f"được nộp với tên đơn vị {stem} nhưng là phiếu của đơn vị {unit} "
         f"({registry.get(unit, '')}): sao chép phiếu dưới tên đơn vị khác"),
        (unit in col.returned, "unit_code", unit,
         f"is a second workbook of unit {unit} (the first is {col.returned.get(unit)})",
         f"là phiếu thứ hai của đơn vị {unit} (phiếu thứ nhất là {col.returned.get(unit)})"))
    for refused, column, value, en, vi in refusal:
        if refused:
            col.add(name, HIDDEN, "", unit, "", column, value, en, vi)
            return None
    col.returned[unit] = name
    col.stage = col.stage or record.get("stage", "")
    return wb.worksheets[0], unit, record.get("stage", "self")


def _form_rows(name: str, sheet, where: dict[str, int], m: Methodology, unit: str, stage: str,
               col: Collected) -> list[dict]:
    """The criteria rows of a form's sheet; each changed code or maximum, duplicated or deleted row, and each
    points cell that is text, out of range or empty is a problem naming its cell."""
    leaves = {lf.code: lf for lf in m.leaves() if lf.source == "appraisal"}
    seen: dict[str, int] = {}
    rows = []
    for r, cells in enumerate(sheet.iter_rows(min_row=FIRST_ROW, values_only=True), start=FIRST_ROW):
        code = cells[where["criterion_code"]]
        if code in (None, ""):
            continue
        code = str(code).strip()
        ref = lambda k, r=r: f"{_letter(where[k])}{r}"  # noqa: E731
        if code not in leaves or code in seen:
            col.add(name, sheet.title, ref("criterion_code"), unit, code, "criterion_code", code,
                    *((f"row {r} is not an appraisal criterion of {m.id}: a row was added or its code changed",
                       f"dòng {r} không phải tiêu chí thẩm định của {m.id}: dòng bị thêm hoặc mã bị sửa")
                      if code not in leaves else
                      (f"criterion {code} appears twice (rows {seen[code]} and {r}): a row was duplicated",
                       f"tiêu chí {code} xuất hiện hai lần (dòng {seen[code]} và {r}): dòng bị nhân đôi")))
            continue
        seen[code] = r
        mx = leaves[code].max_points
        shown_max, ok = read_number(cells[where["max_points"]])
        if not ok or shown_max is None or abs(shown_max - mx) > TOLERANCE:
            col.add(name, sheet.title, ref("max_points"), unit, code, "max_points", cells[where["max_points"]],
                    f"the maximum of criterion {code} was changed (it is {mx:g})",
                    f"điểm tối đa của tiêu chí {code} đã bị sửa (đúng là {mx:g})")
        row = {"unit_code": unit, "criterion_code": code}
        for k in ("self_points", "appraised_points"):
            raw = cells[where[k]] if k in where else None
            v, ok = read_number(raw)
            if not ok:
                col.add(name, sheet.title, ref(k), unit, code, k, raw, "is text, not a number",
                        "là chữ, không phải số")
            elif v is not None and not (0 <= v <= mx + TOLERANCE):
                col.add(name, sheet.title, ref(k), unit, code, k, raw,
                        f"is outside 0 … {mx:g}, the maximum of criterion {code}",
                        f"nằm ngoài khoảng 0 … {mx:g} (điểm tối đa của tiêu chí {code})")
            elif v is None and (k == "self_points" or stage == "appraisal"):
                col.add(name, sheet.title, ref(k), unit, code, k, "", "is empty; every criterion needs its points",
                        "bị trống; mỗi tiêu chí phải có điểm")
            row[k] = v
        for k in ("evidence", "note", "council_note"):
            v = cells[where[k]] if k in where else None
            row[k] = "" if v is None else str(v).strip()
        rows.append(row)
    for code in leaves:
        if code not in seen:
            col.add(name, sheet.title, "", unit, code, "criterion_code", code,
                    f"criterion {code} has no row: a row was deleted", f"thiếu dòng của tiêu chí {code}: dòng bị xóa")
    return rows


def _letter(i: int) -> str:
    from openpyxl.utils import get_column_letter

    return get_column_letter(i + 1)


def collect(folder: Path, m: Methodology, units: pd.DataFrame) -> Collected:
    """Every workbook in `folder` (any file name), checked; units without a workbook are problems too."""
    scored = units[units["level"] == m.level]
    registry = dict(zip(scored["unit_code"], scored["unit_name"], strict=True))
    col = Collected()
    for path in sorted(Path(folder).glob("*.xlsx")):
        if path.name.startswith(("~$", ".")):  # Excel's lock files
            continue
        read_form(path, m, registry, col)
    for unit, unit_name in registry.items():
        if unit not in col.returned:
            col.add("", "", "", unit, "", "", "", f"no workbook returned by unit {unit} ({unit_name})",
                    f"đơn vị {unit} ({unit_name}) chưa nộp phiếu")
    return col


def differences(rows: pd.DataFrame) -> pd.DataFrame:
    """Self vs appraised points per unit and criterion, the biggest downgrades first (the evidence behind
    later complaints)."""
    d = rows.dropna(subset=["self_points", "appraised_points"])
    d = d.assign(difference=d["appraised_points"] - d["self_points"])
    d = d[d["difference"].abs() > TOLERANCE]
    return d.sort_values(["difference", "unit_code", "criterion_code"])[
        ["unit_code", "criterion_code", "self_points", "appraised_points", "difference", "council_note"]]
