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


_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def safe_filename(code: str, suffix: str = "") -> str:
    """A file name for a unit code that cannot leave its folder or clash with another code's file.

    Codes are user input (`../../etc`, `30:SNV`, `CON`, a name with diacritics): anything but ASCII letters,
    digits, `.`, `_` and `-` becomes `_`, leading dots go, and a code that had to change gets a short hash
    of the original so two codes never share a file. Plain codes (`00097`, `SNV`) keep their own name.
    """
    import hashlib

    text = nfc(str(code))
    cleaned = _UNSAFE.sub("_", text).lstrip(".")[:80] or "_"
    if cleaned != text:
        cleaned += "-" + hashlib.sha256(text.encode("utf-8")).hexdigest()[:8]
    return cleaned + suffix


def inside(folder, name: str):
    """`folder / name`, refusing any name that would resolve outside `folder` (defence in depth)."""
    from pathlib import Path

    root = Path(folder).resolve()
    target = (root / name).resolve()
    if root not in target.parents:
        raise ValueError(f"refusing to write {name!r} outside {root}")
    return target


def ascii_slug(name: str) -> str:
    """`Hồ Chí Minh` → `ho-chi-minh`: a folder name without diacritics (đ → d)."""
    base = unicodedata.normalize("NFD", nfc(name).replace("đ", "d").replace("Đ", "D"))
    plain = "".join(ch for ch in base if not unicodedata.combining(ch)).lower()
    return re.sub(r"[^a-z0-9]+", "-", plain).strip("-")
