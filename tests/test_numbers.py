"""Rounding half-up once, at publication, and Vietnamese/English number formats."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tasks.numbers import format_number, publish, settle


@pytest.mark.parametrize(("value", "decimals", "expected"), [
    pytest.param(92.625, 2, 92.63, id="half-up-not-half-even"),
    pytest.param(92.62499999999999, 2, 92.63, id="float-noise-of-a-true-half"),
    pytest.param(0.1 + 0.2, 2, 0.3, id="noise-below-full-precision"),
    pytest.param(1.375, 2, 1.38, id="exact-binary-half"),
    pytest.param(2.675, 2, 2.68, id="python-round-gives-2.67"),
    pytest.param(-0.125, 2, -0.13, id="half-away-from-zero"),
    pytest.param(89.5349, 2, 89.53, id="below-half"),
    pytest.param(7.5, 0, 8.0, id="zero-decimals"),
])
def test_publish_rounds_half_up(value, decimals, expected):
    assert publish(value, decimals) == expected


def test_python_round_would_have_been_wrong():
    # the trap the contract warns about: round() is half-even on the binary value
    assert round(92.625, 2) == 92.62 and publish(92.625, 2) == 92.63


@pytest.mark.parametrize(("value", "lang", "expected"), [
    (89.53, "vi", "89,53"), (89.53, "en", "89.53"), (1234567.891, "vi", "1.234.567,89"),
    (1234567.891, "en", "1,234,567.89"), (92.625, "vi", "92,63"), (5, "vi", "5,00"), (float("nan"), "vi", ""),
])
def test_format_number(value, lang, expected):
    assert format_number(value, 2, lang) == expected


def test_settle_makes_float_sums_comparable():
    assert settle(0.1 + 0.2) == settle(0.3)
    assert settle(sum([0.1] * 10)) == 1.0


@given(st.lists(st.decimals(min_value=0, max_value=100, places=3, allow_nan=False), min_size=1, max_size=50))
def test_the_vectorised_half_up_of_the_desk_publishes_what_publish_does(values):
    from tasks.numbers import publish_array

    floats = [float(v) for v in values]
    assert publish_array(floats, 2).tolist() == [publish(v, 2) for v in floats]


@given(st.lists(st.one_of(st.sampled_from([0.0, -0.0, 1.005, 2.675, 92.625, float("nan"), None, 3, -1.5]),
                          st.floats(allow_infinity=False, min_value=-1e6, max_value=1e6)), max_size=60),
       st.integers(0, 3))
def test_publish_all_rounds_each_value_as_publish_does(values, decimals):
    """publish_all rounds each distinct value once and reuses it: the same figures, signed zeros included."""
    import math

    from tasks.numbers import publish_all

    got = publish_all(values, decimals)
    want = [publish(v, decimals) for v in values]
    assert [repr(g) for g in got] == [repr(w) for w in want]
    assert all((math.isnan(g) and math.isnan(w)) or math.copysign(1, g) == math.copysign(1, w)
               for g, w in zip(got, want, strict=True))
