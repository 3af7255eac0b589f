"""The one place where numbers are rounded and formatted for publication.

Rule (CONTRACT.md): points are computed at full precision and rounded half-up (half away from zero) only when
published. "Full precision" means binary floats settled to FULL_DECIMALS places first, so that float noise
(0.1 + 0.2 = 0.30000000000000004, a sum of 92.625 computed as 92.62499999999999) cannot move a published
digit or split a tie. Python's round() and Babel round half to even; they are never used for figures.
"""

from __future__ import annotations

import functools
import math
from decimal import ROUND_HALF_UP, Decimal

#: Places kept at "full precision": far below any difference an appraisal council can make (0.01 point).
FULL_DECIMALS = 9
#: The one tolerance of comparisons between computed figures (a point on a band's edge, a maximum): float noise
#: below full precision never decides a band, a range or a difference
TOLERANCE = 10.0 ** -FULL_DECIMALS


@functools.cache
def _quantum(decimals: int) -> Decimal:
    return Decimal(1).scaleb(-decimals)


def to_decimal(value: float, decimals: int) -> Decimal:
    """`value` settled to full precision, then rounded half-up to `decimals` places."""
    settled = Decimal(repr(float(value))).quantize(_quantum(FULL_DECIMALS), rounding=ROUND_HALF_UP)
    return settled.quantize(_quantum(decimals), rounding=ROUND_HALF_UP)


def settle(value: float) -> float:
    """Full-precision value used for sums, comparisons and ranks (rank_on: full)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return math.nan
    return float(to_decimal(value, FULL_DECIMALS))


def publish(value: float, decimals: int) -> float:
    """The published figure as a number (for CSV/JSON/Excel), rounded half-up once."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return math.nan
    return float(to_decimal(value, decimals))


#: the minus sign of displayed figures (not the hyphen "-")
MINUS = "\u2212"


def format_number(value: float | None, decimals: int, lang: str = "vi", signed: bool = False) -> str:
    """A figure as its readers expect it: 1.234,56 in Vietnamese, 1,234.56 in English; '' for no value.
    A negative figure takes the minus sign U+2212 (−4,20), the sign every displayed difference and deduction
    uses, so that the report never mixes "-7,75" and "−2,00"; `signed` adds "+" to a positive one."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    return _formatted(value, decimals, lang, signed)


@functools.lru_cache(maxsize=1 << 16)
def _formatted(value: float, decimals: int, lang: str, signed: bool) -> str:
    """format_number of a value; remembered, since a publication shows the same figures again and again (a
    criterion's maximum and its usual points on every card). Equal keys give equal text: 0.0 and -0.0 both
    print 0,00, and 1, 1.0 and numpy's 1.0 the same 1,00."""
    d = to_decimal(value, decimals)
    sign = MINUS if d < 0 else ("+" if signed and d > 0 else "")
    text = f"{abs(d):,.{decimals}f}"  # Decimal formatting does not round again: d is already quantized
    if lang == "vi":
        text = text.replace(",", "\x00").replace(".", ",").replace("\x00", ".")
    return sign + text


def publish_all(values, decimals: int) -> list[float]:
    """`publish` of each value (a column of a frame): the published figures, rounded half-up once. Each
    distinct value is rounded once (a column of lost points repeats the same few figures thousands of times);
    values are told apart by their repr, so 0.0 and -0.0 stay what `publish` makes of each."""
    done: dict[str, float] = {}
    out = []
    for v in values:
        key = repr(v)
        if key not in done:
            done[key] = publish(v, decimals)
        out.append(done[key])
    return out


def publish_array(values, decimals: int):
    """`publish` for a NumPy array of replicates (the robustness desk's thousands of indices at once): half-up
    after the same settling, vectorised (tests/test_numbers.py checks it against `publish`)."""
    import numpy as np

    scale = 10.0 ** decimals
    return np.floor(np.asarray(values, dtype=float) * scale + 0.5 + TOLERANCE) / scale
