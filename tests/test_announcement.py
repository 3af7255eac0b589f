"""The announcement as an official signs it (CONTRACT.md `--draft`, `--published-on`, `publication:`): the
council's draft is marked DỰ THẢO on every page and carries the warnings and the technical annex; the final
carries neither, opens with the national heading, issuer, number, place and date, and closes with the
signature block. Read back from the PDFs `parindex run` writes."""

import pytest
from pypdf import PdfReader

from tests.helpers import ink_outside_printable, outside_printable
from tests.test_cli import parindex

pytestmark = pytest.mark.xdist_group("cli")


@pytest.fixture(scope="module")
def draft_and_final(tmp_path_factory):
    root = tmp_path_factory.mktemp("announce")
    parindex("sample", "--out", str(root / "in"), "--year", "2024", "--years", "2", check_exit=0)
    folder = str(root / "in" / "2024" / "district")
    parindex("run", "--inputs", folder, "--out", str(root / "draft"), "--draft", "--published-on", "2025-04-10",
             check_exit=0)
    parindex("run", "--inputs", folder, "--out", str(root / "final"), "--published-on", "2025-04-12", check_exit=0)
    return root / "draft", root / "final"


def pages(pdf) -> list[str]:
    return [p.extract_text() for p in PdfReader(pdf).pages]


def test_the_draft_is_marked_on_every_page_and_annexes_warnings_and_provenance(draft_and_final):
    draft, _ = draft_and_final
    vi = pages(draft / "report.vi.pdf")
    assert all("DỰ THẢO" in p for p in vi), [i for i, p in enumerate(vi) if "DỰ THẢO" not in p]
    text = "\n".join(vi)
    assert "Phụ lục kỹ thuật" in text and "ngày 10 tháng 4 năm 2025" in text
    assert "(chưa ký — dự thảo)" in text
    en = "\n".join(pages(draft / "report.en.pdf"))
    assert "DRAFT" in en and "Technical annex" in en
    card = next((draft / "units").glob("*.pdf"))
    assert all("DỰ THẢO" in p for p in pages(card))


def test_the_final_is_an_official_document_without_the_councils_notes(draft_and_final):
    _, final = draft_and_final
    vi = pages(final / "report.vi.pdf")
    text = "\n".join(vi)
    first = vi[0]
    for part in ("CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM", "Độc lập - Tự do - Hạnh phúc", "UBND TỈNH HẢI DƯƠNG",
                 "Số: 101/QĐ-UBND", "Hải Dương, ngày 12 tháng 4 năm 2025"):
        assert part in first, part
    assert "TM. ỦY BAN NHÂN DÂN" in vi[-1] and "CHỦ TỊCH" in vi[-1] and "Nguyễn Văn A" in vi[-1]
    for absent in ("DỰ THẢO", "Phụ lục kỹ thuật", "cảnh báo", "đề nghị"):
        assert absent not in text, absent
    assert "manifest.json" in text  # the short provenance line of the final
    assert not any("DỰ THẢO" in p for p in pages(next((final / "units").glob("*.pdf"))))


def test_a_published_on_that_is_not_a_date_is_refused_plainly(tmp_path):
    proc = parindex("run", "--inputs", str(tmp_path), "--out", str(tmp_path / "o"), "--published-on", "12/4/2025")
    assert proc.returncode == 2 and "YYYY-MM-DD" in proc.stderr and "Traceback" not in proc.stderr


def test_one_command_publishes_a_provinces_year(tmp_path):
    """`parindex run --inputs DIR/2024 --out OUT/2024`: every <level>/ folder in one process; a level that fails
    validation is named (exit 2) and the others are published."""
    parindex("sample", "--out", str(tmp_path / "in"), "--year", "2024", "--years", "1", check_exit=0)
    broken = tmp_path / "in" / "2024" / "department" / "units.csv"
    broken.write_text(broken.read_text(encoding="utf-8").replace("department", "", 1), encoding="utf-8")
    proc = parindex("run", "--inputs", str(tmp_path / "in" / "2024"), "--out", str(tmp_path / "out"),
                    "--no-unit-pdfs")
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "1 of 3 indices failed validation" in proc.stderr and "Traceback" not in proc.stderr
    for level in ("district", "commune"):
        assert (tmp_path / "out" / level / "results.csv").is_file(), level
    assert not (tmp_path / "out" / "department" / "results.csv").exists()
    assert (tmp_path / "out" / "department" / "validation" / "errors.csv").is_file()


def test_every_page_of_both_reports_stays_within_the_printable_area(draft_and_final):
    for folder in draft_and_final:
        for pdf in ("report.vi.pdf", "report.en.pdf"):
            assert outside_printable(folder / pdf) == [], (folder.name, pdf)
            assert ink_outside_printable(folder / pdf) == [], (folder.name, pdf)
