"""NFC normalisation, name matching across composed/decomposed diacritics, Vietnamese order."""

import unicodedata

from tasks.text import name_key, nfc, vi_sort_key


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
