"""The scorecards' PDF writer (tasks/pdfcanvas.py), read back with pypdf (strict) and, where it is installed,
poppler's pdfinfo; the ink check every report test uses, shown to see what it must see. Every character of
the fixed subsets and characters outside them come back as text, a document with more than 255 characters outside
the fixed subset gets a second and a third subset of its own, a character the font lacks draws the missing glyph,
and the files are well formed (cross-reference table, lengths) and the same for the same drawing."""

from __future__ import annotations

import shutil
import subprocess

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pypdf import PdfReader

from tasks import pdfcanvas
from tasks.scorecard import BOLD, REGULAR, register_fonts

register_fonts()
A4 = (595.2756, 841.8898)


def _write(tmp_path, lines: list[tuple[str, str]], name="t.pdf", pages: int = 1):
    cv = pdfcanvas.Canvas(A4, title="Phiếu điểm — Xã Hồng Phong", author="Tỉnh Hải Dương", creator="parindex")
    for p in range(pages):
        y = 800
        cv.stroke("#bbbbbb", 0.5)
        cv.fill("#f2e6e6")
        cv.rect(40, 40, 500, 760, stroke=True, fill=True)
        cv.line(40, 420, 540, 420)
        cv.fill("#111111")
        for font, text in lines:
            cv.set_font(font, 9)
            cv.draw_string(50, y, text)
            y -= 14
        cv.texts([(300, 60, f"trang {p + 1}", REGULAR, 8, "#555555", "c"), (540, 50, "phải", BOLD, 8, None, "r")])
        if p + 1 < pages:
            cv.show_page()
    path = tmp_path / name
    path.write_bytes(cv.save())
    return path


def _well_formed(path) -> PdfReader:
    reader = PdfReader(path, strict=True)  # a wrong offset or length raises here
    if shutil.which("pdfinfo"):
        done = subprocess.run(["pdfinfo", str(path)], capture_output=True, text=True, check=False)
        assert done.returncode == 0 and not done.stderr, done.stderr  # poppler: no "Syntax Error"
    return reader


def _lines(reader: PdfReader) -> list[str]:
    return [line.strip() for p in reader.pages for line in p.extract_text().splitlines() if line.strip()]


def test_every_character_of_the_fixed_subsets_reads_back_in_both_fonts(tmp_path):
    base = "".join(c for c in pdfcanvas.BASE if c != " ")
    chunks = [base[i:i + 60] for i in range(0, len(base), 60)]
    path = _write(tmp_path, [(f, c) for f in (REGULAR, BOLD) for c in chunks], pages=2)
    reader = _well_formed(path)
    assert len(reader.pages) == 2
    lines = _lines(reader)
    for c in chunks:
        assert lines.count(c) == 4, c  # two fonts, two pages
    fonts = {str(f.get_object()["/BaseFont"]) for f in reader.pages[0]["/Resources"]["/Font"].values()}
    assert fonts == {"/PARVAA+DejaVuSans", "/PARVAA+DejaVuSans-Bold"}  # one fixed subset each, nothing else
    assert reader.metadata.title == "Phiếu điểm — Xã Hồng Phong" and reader.metadata.author == "Tỉnh Hải Dương"


def test_characters_outside_the_fixed_subset_get_subsets_of_the_document(tmp_path):
    face = pdfcanvas.font(REGULAR).face
    outside = [chr(u) for u in sorted(face.charToGlyph) if chr(u) not in pdfcanvas.font(REGULAR).known
               and u > 0xA0 and chr(u).isprintable() and not chr(u).isspace()][:300]
    assert len(outside) == 300
    name = "Xã Ðông Ŧân Çhâu"  # a name with letters outside the fixed subset, between Vietnamese ones
    chunks = [name] + ["".join(outside[i:i + 50]) for i in range(0, 300, 50)] + ["thiếu 中 chữ"]
    reader = _well_formed(_write(tmp_path, [(REGULAR, c) for c in chunks]))
    lines = _lines(reader)
    for c in chunks[:-1]:
        assert c in lines, c
    fonts = sorted(str(f.get_object()["/BaseFont"]) for f in reader.pages[0]["/Resources"]["/Font"].values())
    assert fonts == ["/PARVAA+DejaVuSans", "/PARVAA+DejaVuSans-Bold", "/PARVAB+DejaVuSans", "/PARVAC+DejaVuSans"]
    for f in reader.pages[0]["/Resources"]["/Font"].values():
        f = f.get_object()
        assert "/FontFile2" in f["/FontDescriptor"].get_object()  # every subset embedded
        assert len(f["/Widths"]) == f["/LastChar"] + 1
    missing = [line for line in lines if line.startswith("thiếu")]  # 中 is not in DejaVu Sans: the missing
    assert len(missing) == 1 and missing[0].endswith("chữ")  # glyph is drawn, the rest reads


def test_the_same_drawing_gives_the_same_bytes(tmp_path):
    rows = [(REGULAR, "Phường Nguyễn Trãi · 82,18 · −0,50 ▼ 3"), (BOLD, "Ưu tiên ĐỔI MỚI")]
    a = _write(tmp_path, rows, "a.pdf").read_bytes()
    b = _write(tmp_path, rows, "b.pdf").read_bytes()
    c = _write(tmp_path, rows[:1], "c.pdf").read_bytes()
    assert a == b and a != c


_letters = st.sampled_from(pdfcanvas.BASE[1:] + [c for c in "ÐŦÇßÑØŞ✓◼" if ord(c) in pdfcanvas.font(REGULAR).face.charToGlyph
                                                 and ord(c) in pdfcanvas.font(BOLD).face.charToGlyph])


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(texts=st.lists(st.text(_letters, min_size=1, max_size=40).map(str.strip).filter(bool), min_size=1,
                      max_size=5))
def test_any_text_of_the_font_reads_back(tmp_path, texts):
    path = _write(tmp_path, [(REGULAR if i % 2 else BOLD, t) for i, t in enumerate(texts)], "h.pdf")
    read = " ".join(PdfReader(path, strict=True).pages[0].extract_text().split())
    for t in texts:
        assert " ".join(t.split()) in read


def test_an_unregistered_font_is_refused():
    cv = pdfcanvas.Canvas(A4)
    cv.set_font("No-Such-Font", 9)
    with pytest.raises(KeyError):
        cv.draw_string(10, 10, "x")


def test_the_ink_check_of_the_report_tests_sees_what_runs_out_of_the_printable_area(tmp_path):
    """tests.helpers.ink_outside_printable, which every report test relies on, rasterises the pages itself
    (PDFium): a clean page passes, a word running into the side margin and a rule at the foot are reported,
    each on its own page — and the scorecard pages the other tests draw are clean."""
    from tests.helpers import ink_outside_printable

    cv = pdfcanvas.Canvas(A4, title="t", author="t", creator="parindex")
    cv.set_font(REGULAR, 9)
    cv.fill("#000000")
    cv.stroke("#000000", 1)
    cv.draw_string(60, 400, "Trang sạch: chữ trong vùng in")  # page 1: inside
    cv.show_page()
    cv.set_font(REGULAR, 9)
    cv.draw_string(A4[0] - 20, 400, "Xã Hồng Phong")  # page 2: starts 7 mm from the right edge, runs off
    cv.show_page()
    cv.line(100, 4, 300, 4)  # page 3: a rule 1.4 mm above the bottom edge
    path = tmp_path / "ink.pdf"
    path.write_bytes(cv.save())
    found = ink_outside_printable(path)
    assert [page for page, _ in found] == [2, 3], found
    assert "side margin" in found[0][1] and "bottom edge" in found[1][1]
    assert ink_outside_printable(_write(tmp_path, [(REGULAR, "Phiếu điểm")], pages=2)) == []
