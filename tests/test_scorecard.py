"""The per-unit scorecard drawn on a PDF canvas (tasks/scorecard.py), read back with pypdf: long cards run onto
a second page with the table header repeated, nothing is drawn past the margins, fonts are embedded, the same
card gives the same bytes."""

from __future__ import annotations

from pypdf import PdfReader
from reportlab.pdfbase import pdfmetrics

from tasks import scorecard
from tasks.charts import field_profile
from tasks.report import LABELS

LONG_NAME = ("Ủy ban nhân dân phường Nguyễn Trãi thuộc thành phố Hải Dương, tỉnh Hải Dương, đơn vị hình thành từ "
             "việc sắp xếp các phường Trần Hưng Đạo, Quang Trung và Phạm Ngũ Lão")


def _card(n_criteria: int, name: str = "Xã Chi Lăng Bắc") -> tuple[dict, dict]:
    fields = [{"code": f"F{i}", "name": f"Lĩnh vực cải cách số {i}", "points": "7,28", "max": "9,00",
               "lost": "1,72", "pct": f"{60 + 5 * i},87", "pct_value": 60 + 5 * i + 0.87, "best": "93,06",
               "best_value": 93.06, "change": "+1,06", "heat": f"h{i % 6}"} for i in range(1, 9)]
    criteria = [{"code": f"{1 + i // 6}.{1 + i % 6}",
                 "name": "Mức độ hài lòng của người dân, tổ chức đối với việc giải quyết thủ tục hành chính "
                         "tại bộ phận một cửa" if i % 7 == 0 else f"Tiêu chí thành phần số {i}",
                 "source": "Thẩm định", "points": "1,75", "max": "2,00", "lost": "0,25" if i % 2 else "",
                 "lost_css": "lost" if i % 2 else ""} for i in range(n_criteria)]
    u = {"unit_name": name, "group": "Thị xã Kinh Môn", "rank": "16/24", "index": "82,18", "points": "82,18",
         "band": "Tốt", "change": "▼ 3", "change_css": "down", "prev_rank": "13", "prev_index": "82,53",
         "next_band": "Cần thêm 7,82 điểm để đạt mức Xuất sắc", "predecessors": "",
         "deductions_signed": "−0,50", "fields": fields, "criteria": criteria, "profile": field_profile(fields)}
    ctx = {"L": LABELS["vi"], "level_name": "UBND cấp xã", "province": "Tỉnh Hải Dương", "year": "2024",
           "version": "2", "date": "ngày 15 tháng 4 năm 2025", "synthetic": True}
    return u, ctx


def _fragments(page) -> list[tuple[float, float, str, float, str]]:
    """(x, y, text, size, font) of every piece of text on a page, as pypdf reads it."""
    out = []

    def visit(text, cm, tm, font, size):
        if text.strip() and font is not None:
            x = tm[4] * cm[0] + cm[4]
            y = tm[5] * cm[3] + cm[5]
            out.append((x, y, text.strip("\n"), size * tm[0] * cm[0], str(font["/BaseFont"])))

    page.extract_text(visitor_text=visit)
    return out


def test_a_long_card_runs_onto_a_second_page_with_its_header_and_footer(tmp_path):
    u, ctx = _card(90)
    path = tmp_path / "long.pdf"
    assert scorecard.write_card(path, u, ctx) == 2
    reader = PdfReader(path)
    assert len(reader.pages) == 2
    first, second = (" ".join(p.extract_text().split()) for p in reader.pages)
    assert "Tiêu chí" in second and "Nguồn" in second and "Điểm tối đa" in second  # the header, repeated
    assert first.count("Xã Chi Lăng Bắc") >= 2 and "Xã Chi Lăng Bắc" in second  # title and footer
    both = first + " " + second
    at = 0
    for c in u["criteria"]:  # every criterion once, in order, across the break
        at = both.index(f" {c['code']} ", at) + 1
    assert "F8: Lĩnh vực cải cách số 8" in second


def test_nothing_is_drawn_past_the_margins(tmp_path):
    u, ctx = _card(45, name=LONG_NAME)
    u["group"] = "Các phường thuộc thành phố Hải Dương, trung tâm chính trị, kinh tế và văn hóa của tỉnh"
    ctx["province"] = "Thành phố Hồ Chí Minh (gồm Bình Dương và Bà Rịa – Vũng Tàu sau sắp xếp năm 2025)"
    path = tmp_path / "wide.pdf"
    assert scorecard.write_card(path, u, ctx) == 2  # 45 criteria in 7-point type: a second page
    pages = PdfReader(path).pages
    right = float(pages[0].mediabox.width) - scorecard.RIGHT
    frags = [f for page in pages for f in _fragments(page)]
    assert len(frags) > 300
    scorecard.register_fonts()
    for x, y, text, size, font in frags:
        name = scorecard.BOLD if "Bold" in font else scorecard.REGULAR
        width = pdfmetrics.stringWidth(text, name, size)
        assert size >= 6.5 or "…" in text, (text, size)  # nothing under 6.5 pt but the provenance line
        assert scorecard.LEFT - 0.5 <= x and x + width <= right + 0.5, (text, x, width)
        assert scorecard.BOTTOM / 2 - 1 <= y <= float(pages[0].mediabox.height) - scorecard.TOP, (text, y)
    page = pages[0]
    text = " ".join(page.extract_text().split())
    assert "Ủy ban nhân dân phường Nguyễn Trãi" in text and "Phạm Ngũ Lão" in text  # the long name, wrapped
    assert "Bà Rịa – Vũng Tàu".upper() in text and "văn hóa của tỉnh" in text and "ngày 15 tháng 4 năm 2025" in text


def test_every_font_is_embedded_and_the_same_card_gives_the_same_bytes(tmp_path):
    u, ctx = _card(30)
    ctx.update(inputs_digest="ab" * 32, methodology_id="hd-commune-2024")
    a, b = tmp_path / "a.pdf", tmp_path / "b.pdf"
    scorecard.write_card(a, u, ctx)
    scorecard.write_card(b, u, ctx)
    assert a.read_bytes() == b.read_bytes()
    fonts = PdfReader(a).pages[0]["/Resources"]["/Font"].values()
    names = set()
    for font in fonts:
        font = font.get_object()
        names.add(str(font["/BaseFont"]))
        assert "/FontFile2" in font["/FontDescriptor"].get_object(), font["/BaseFont"]
    assert names and all("DejaVuSans" in n for n in names)  # no Helvetica left in by the canvas
    text = " ".join(PdfReader(a).pages[0].extract_text().split())
    assert "DỮ LIỆU MÔ PHỎNG" in text and "16/24 82,18 82,18 Tốt ▼ 3 13 82,53" in text
    assert "Điểm trừ −0,50" in text
    assert "Phiên bản 2 · Mã băm tổng hợp các tệp đầu vào: abababababababab… · Bộ tiêu chí: hd-commune-2024" in text
