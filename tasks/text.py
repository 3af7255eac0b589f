"""The one place where text is normalised: NFC for everything read, and Vietnamese sort order."""

from __future__ import annotations

import re
import unicodedata

_SPACES = re.compile(r"\s+")

# Vietnamese alphabet order (a ă â b c d đ e ê g h i k l m n o ô ơ p q r s t u ư v x y); tones sort after the
# letter, in the order: none, grave (huyền), hook (hỏi), tilde (ngã), acute (sắc), dot (nặng).
_ALPHABET = "aăâbcdđeêghiklmnoôơpqrstuưvxy"
_ORDER = {ch: i for i, ch in enumerate(_ALPHABET)}
_TONES = {"\u0300": 1, "\u0309": 2, "\u0303": 3, "\u0301": 4, "\u0323": 5}


def nfc(value):
    """NFC-normalise a string and trim it; other values pass unchanged."""
    if isinstance(value, str):
        return unicodedata.normalize("NFC", value).strip()
    return value


def name_key(name: str) -> str:
    """A key that matches the same unit name typed with composed or decomposed diacritics, any case/spacing."""
    return _SPACES.sub(" ", unicodedata.normalize("NFC", name).strip()).casefold()


def vi_sort_key(text: str) -> tuple:
    """Sort key for Vietnamese alphabetical order (letters first, then tones), case-insensitive."""
    letters: list[int] = []
    tones: list[int] = []
    for ch in unicodedata.normalize("NFC", text).casefold():
        base = unicodedata.normalize("NFD", ch)
        tone = 0
        for mark, rank in _TONES.items():
            if mark in base:
                tone = rank
                base = base.replace(mark, "")
        base = unicodedata.normalize("NFC", base)
        letters.append(_ORDER[base] if base in _ORDER else 100 + ord(base[0]) if base else 0)
        tones.append(tone)
    return (tuple(letters), tuple(tones))
