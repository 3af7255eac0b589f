"""NFC normalisation, name matching across composed/decomposed diacritics, Vietnamese order."""

import unicodedata

from hypothesis import given
from hypothesis import strategies as st

from tasks.text import inside, name_key, nfc, safe_filename, vi_sort_key


def test_nfc_and_name_key_match_decomposed_names():
    composed = "Huyện Thanh Miện"
    decomposed = unicodedata.normalize("NFD", composed)
    assert composed != decomposed
    assert nfc(decomposed) == composed
    assert name_key("  huyện   THANH miện ") == name_key(decomposed)


def test_vietnamese_alphabetical_order():
    names = ["Đông Cẩm", "Dương Quang", "Ái Quốc", "An Bình", "Ấp Bắc", "Bình Xuyên", "Ăn Hòa"]
    assert sorted(names, key=vi_sort_key) == ["Ái Quốc", "An Bình", "Ăn Hòa", "Ấp Bắc", "Bình Xuyên",
                                              "Dương Quang", "Đông Cẩm"]
    # tones order after the letters: a, à, ả, ã, á, ạ
    assert sorted(["ạ", "á", "ã", "ả", "à", "a"], key=vi_sort_key) == ["a", "à", "ả", "ã", "á", "ạ"]


@given(st.text(min_size=0, max_size=120))
def test_file_names_from_unit_codes_stay_in_their_folder(tmp_path_factory, code):
    folder = tmp_path_factory.getbasetemp() / "units"
    name = safe_filename(code, ".pdf")
    assert "/" not in name and "\\" not in name and not name.startswith(".") and name.isascii()
    assert inside(folder, name).parent == folder.resolve()


def test_file_names_keep_plain_codes_and_separate_changed_ones():
    assert safe_filename("00097", ".pdf") == "00097.pdf"
    assert safe_filename("SNV") == "SNV"
    assert safe_filename("30:SNV") != safe_filename("30_SNV") == "30_SNV"
    assert safe_filename("../../etc/passwd").startswith("_.._etc_passwd-")
    assert safe_filename("Sở Nội vụ") != safe_filename("So Noi vu")
