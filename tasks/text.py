"""The one place where text is normalised: NFC for everything read, and Vietnamese sort order."""

from __future__ import annotations

import re
import unicodedata

_SPACES = re.compile(r"\s+")
#: a number written with a decimal comma (1,5): Excel under a Vietnamese locale; groups: whole and fraction
DECIMAL_COMMA = re.compile(r"^(-?\d+),(\d+)$")

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


_MONTHS_EN = {m: i for i, m in enumerate(
    ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"], start=1)}
_ISO_MONTH = re.compile(r"^(\d{4})[-/.](\d{1,2})(?:[-/.]\d{1,2}(?:[ T]\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?)?)?$")
_MONTH_YEAR = re.compile(r"^(?:t|th|thg|tháng)?\s*(\d{1,2})[-/.](\d{4})$", re.IGNORECASE)
_DMY = re.compile(r"^(\d{1,2})[-/.](\d{1,2})[-/.](\d{4})(?:\s+\d{1,2}:\d{2}(?::\d{2})?)?$")
_MON_YY = re.compile(r"^([A-Za-z]{3})[a-z]*[-/ ](\d{2}|\d{4})$")


def month_of(text: str) -> str:
    """A month cell as `YYYY-MM`, whatever Excel made of a typed `2024-03`: a date cell (2024-03-01 00:00:00),
    `03/2024`, `01/03/2024` (day first, as a Vietnamese locale writes it), `Mar-24`. Text that is none of
    these is returned unchanged, for the checks to report."""
    t = text.strip()
    if m := _ISO_MONTH.match(t):
        year, month = int(m.group(1)), int(m.group(2))
    elif m := _MONTH_YEAR.match(t):
        year, month = int(m.group(2)), int(m.group(1))
    elif m := _DMY.match(t):
        a, b, year = int(m.group(1)), int(m.group(2)), int(m.group(3))
        if a == 1 and 1 <= b <= 12 or a > 12:
            month = b  # day first (dd/mm/yyyy): the first of the month, or a day past 12
        elif b == 1 and 1 <= a <= 12:
            month = a  # month first (mm/dd/yyyy, an English locale): the first of the month
        else:
            return text
    elif (m := _MON_YY.match(t)) and m.group(1).lower() in _MONTHS_EN:
        month, year = _MONTHS_EN[m.group(1).lower()], int(m.group(2))
        year += 2000 if year < 100 else 0
    else:
        return text
    return f"{year:04d}-{month:02d}" if 1 <= month <= 12 else text


def unit_labels(codes, names) -> dict:
    """code -> the name a table shows: the unit's name, with its code where the name repeats (three
    'Xã Hồng Phong' in one province), matched diacritic- and case-insensitively."""
    codes, names = list(codes), list(names)
    counts: dict[str, int] = {}
    for n in names:
        counts[name_key(n)] = counts.get(name_key(n), 0) + 1
    return {c: (f"{n} ({c})" if counts[name_key(n)] > 1 else n) for c, n in zip(codes, names, strict=True)}


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
