"""Test helpers: validate and compute a folder without Prefect (with the production validator,
expectations.suites.validate), and small CSV edits."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from expectations.suites import validate
from tasks.compute import compute
from tasks.ingest import archive_inputs, locate_inputs, read_inputs
from tests.conftest import CONFIG


def read_folder(folder: Path, scratch: Path):
    archived = archive_inputs(locate_inputs(folder, CONFIG), scratch)
    return read_inputs(scratch, archived)


def compute_folder(folder: Path, scratch: Path):
    bundle = read_folder(folder, scratch)
    return compute(bundle, validate(bundle))


def edit_csv(path: Path, fn) -> None:
    df = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig")
    fn(df).to_csv(path, index=False)


MM = 72 / 25.4


def outside_printable(pdf_path, side_mm: float = 13.0, edge_mm: float = 5.0, slack_pt: float = 1.5) -> list:
    """Every glyph and every drawn point (rectangles, lines, curves) of a PDF that lies outside the printable
    area: more than `slack_pt` into the side margins (`side_mm`), or within `edge_mm` of the top or bottom edge
    (the running title and page number live in the top and bottom margins). Positions are read back from the
    content streams with their transformation matrices. Returns [(page, what, x, y)]."""
    from pypdf import PdfReader

    def mul(a, b):
        return [a[0] * b[0] + a[1] * b[2], a[0] * b[1] + a[1] * b[3], a[2] * b[0] + a[3] * b[2],
                a[2] * b[1] + a[3] * b[3], a[4] * b[0] + a[5] * b[2] + b[4], a[4] * b[1] + a[5] * b[3] + b[5]]

    bad = []
    for n, page in enumerate(PdfReader(pdf_path).pages, start=1):
        w, h = float(page.mediabox.width), float(page.mediabox.height)
        x_lo, x_hi = side_mm * MM - slack_pt, w - side_mm * MM + slack_pt
        y_lo, y_hi = edge_mm * MM, h - edge_mm * MM
        state = {"ctm": [1, 0, 0, 1, 0, 0], "stack": []}

        def check(what, x, y, m, n=n, x_lo=x_lo, x_hi=x_hi, y_lo=y_lo, y_hi=y_hi):
            px, py = x * m[0] + y * m[2] + m[4], x * m[1] + y * m[3] + m[5]
            if not (x_lo <= px <= x_hi and y_lo <= py <= y_hi):
                bad.append((n, what, round(px, 1), round(py, 1)))

        def before(op, args, cm, tm, state=state, check=check):
            ctm = [float(v) for v in cm]
            nums = [float(a) for a in args if isinstance(a, (int, float)) or hasattr(a, "as_numeric")]
            if op == b"re" and len(nums) == 4:
                x, y, rw, rh = nums
                if rw and rh:  # a clip of zero size draws nothing
                    for px, py in ((x, y), (x + rw, y + rh)):
                        check("rect", px, py, ctm)
            elif op in (b"m", b"l") and len(nums) == 2:
                check("path", nums[0], nums[1], ctm)
            elif op == b"c" and len(nums) == 6:
                check("curve", nums[4], nums[5], ctm)
            elif op in (b"Tj", b"TJ"):
                check("text", 0, 0, mul([float(v) for v in tm], ctm))

        page.extract_text(visitor_operand_before=before)
    return bad


def ink_outside_printable(pdf_path, side_mm: float = 12.5, edge_mm: float = 5.0, dpi: int = 36) -> list:
    """Pages with ink (any pixel darker than light grey) in the side margins or at the top and bottom edges,
    from the pages rasterised by PDFium (PyPI `pypdfium2`, a pinned dev dependency with its own binary, so the
    check runs on every machine, CI's fresh one included — it was poppler's pdftoppm, and skipped where poppler
    was not installed): catches a glyph or drawing that starts inside the printable area and runs out of it,
    which the origins read by outside_printable cannot. The draft's pale diagonal mark is lighter than the
    threshold. Returns [(page, where)]."""
    import numpy as np
    import pypdfium2

    bad = []
    pdf = pypdfium2.PdfDocument(str(pdf_path))
    try:
        for number, page in enumerate(pdf, start=1):
            ink = np.asarray(page.render(scale=dpi / 72, grayscale=True).to_pil().convert("L")) < 200
            page.close()
            h, w = ink.shape
            side, edge = int(side_mm / 25.4 * dpi), int(edge_mm / 25.4 * dpi)
            columns = np.flatnonzero(np.r_[ink[:, :side].any(axis=0), ink[:, w - side:].any(axis=0)])
            if len(columns):
                x = int(columns[0]) if columns[0] < side else w - 2 * side + int(columns[0])
                bad.append((number, f"ink in a side margin at x={x}px"))
            rows = np.flatnonzero(np.r_[ink[:edge].any(axis=1), ink[h - edge:].any(axis=1)])
            if len(rows):
                y = int(rows[0]) if rows[0] < edge else h - 2 * edge + int(rows[0])
                bad.append((number, f"ink at the top or bottom edge at y={y}px"))
    finally:
        pdf.close()
    return bad
