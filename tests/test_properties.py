"""Property tests (hypothesis) for the ranking and scoring invariants."""

import math

import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from tasks.methodology import parse_methodology
from tasks.numbers import publish, settle
from tasks.ranking import sport_rank
from tasks.scoring import points_on_scale, sum_results
from tests.conftest import MINI

scores = st.lists(st.sampled_from([0.0, 50.0, 75.0, 75.0, 80.0, 92.625, 100.0]) | st.floats(0, 100),
                  min_size=1, max_size=40)


@given(scores, st.integers(1, 4))
def test_sport_rank_invariants(values, n_groups):
    s = pd.Series(values)
    groups = pd.Series([i % n_groups for i in range(len(values))])
    ranks = sport_rank(s, groups)
    for _, idx in groups.groupby(groups).groups.items():
        v, r = s[idx], ranks[idx]
        for i in idx:
            # a unit's rank is 1 + the number of units in its group with a strictly higher score
            assert r[i] == 1 + int((v > v[i]).sum())
            assert 1 <= r[i] <= len(idx)
        # equal scores share a rank; a higher score never ranks below a lower one
        for i in idx:
            for j in idx:
                if v[i] == v[j]:
                    assert r[i] == r[j]
                elif v[i] > v[j]:
                    assert r[i] < r[j]


@given(st.floats(-1e6, 1e6, allow_nan=False), st.integers(0, 4))
def test_publish_is_within_half_a_unit_and_idempotent(x, d):
    p = publish(x, d)
    assert abs(p - settle(x)) <= 0.5 * 10 ** -d + 1e-9
    assert publish(p, d) == p


MINI_M = parse_methodology((MINI / "methodology.yaml").read_text(encoding="utf-8"))
DOSSIER = [lf.criterion for lf in MINI_M.leaves() if lf.source == "dossier"]


@given(st.floats(0, 1), st.floats(0, 1))
def test_dossier_points_are_bounded_and_monotone(a, b):
    for c in DOSSIER:
        pa, pb = points_on_scale(c, a), points_on_scale(c, b)
        assert 0 <= pa <= c.max_points
        if a <= b:
            assert pa <= pb + 1e-12


leaf_points = st.fixed_dictionaries({lf.code: st.floats(0, lf.max_points) for lf in MINI_M.leaves()})


@settings(max_examples=60, deadline=None)
@given(st.lists(leaf_points, min_size=1, max_size=6), st.lists(st.floats(0, 3), min_size=0, max_size=6))
def test_totals_add_up_and_stay_in_range(units_points, deduction_values):
    units = pd.DataFrame({"unit_code": [f"U{i}" for i in range(len(units_points))],
                          "unit_name": "x", "group": "g"})
    leaves = MINI_M.leaves()
    rows = [{"unit_code": f"U{i}", "field_code": lf.field_code, "criterion_code": lf.code, "source": lf.source,
             "max_points": lf.max_points, "points": settle(pts[lf.code])}
            for i, pts in enumerate(units_points) for lf in leaves]
    criteria = pd.DataFrame(rows)
    deductions = pd.DataFrame({"unit_code": [f"U{i % len(units_points)}" for i in range(len(deduction_values))],
                               "points": deduction_values})
    out = sum_results(MINI_M, units, criteria, deductions).set_index("unit_code")
    for i, pts in enumerate(units_points):
        u = f"U{i}"
        gross = sum(pts.values())
        assert 0 <= out.loc[u, "deduction_points"] <= MINI_M.deductions.max + 1e-9
        assert math.isclose(out.loc[u, "total_points"], max(0.0, gross - out.loc[u, "deduction_points"]),
                            abs_tol=1e-6)
        assert 0 <= out.loc[u, "index_pct"] <= 100
        fields = sum(out.loc[u, f"{f.code}_points"] for f in MINI_M.fields)
        sources = sum(out.loc[u, f"{s}_points"] for s in ("appraisal", "survey", "dossier"))
        assert math.isclose(fields, sources, abs_tol=1e-6) and math.isclose(fields, gross, abs_tol=1e-6)


# Vietnamese letters, decomposed or not, combining marks alone, and what a CSV cell holds around them
_cell_chars = st.sampled_from(list("aAeEoOuUyYdD ,;\t\"'.-0123456789đĐ") + ["\u0301", "\u0300", "\u0323", "\u0309",
                                                                          "\u0303", "\u0302", "\u0306", "\u031b",
                                                                          "ệ", "Ỷ", "ư", "\u00a0"])


@settings(max_examples=60, deadline=None)
@given(st.lists(st.lists(st.text(_cell_chars, max_size=8), min_size=4, max_size=4), min_size=1, max_size=6),
       st.sampled_from([",", ";", "\t"]), st.booleans())
def test_a_csv_read_is_every_cell_nfc_and_trimmed(rows, sep, decompose):
    """read_table normalises a CSV's whole text at once: the cells are exactly those of per-cell NFC and trim,
    whatever the separator, quoting or combining marks at a cell's edge."""
    import csv
    import io
    import tempfile
    import unicodedata
    from pathlib import Path

    from tasks.ingest import read_table

    head = ["unit_code", "unit_name", "level", "group"]
    buf = io.StringIO()
    csv.writer(buf, delimiter=sep, lineterminator="\n", quoting=csv.QUOTE_ALL).writerows([head, *rows])
    text = unicodedata.normalize("NFD", buf.getvalue()) if decompose else buf.getvalue()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "units.csv"
        path.write_text(text, encoding="utf-8")
        got = read_table(path, "units").frame[head].values.tolist()
    cells = [[unicodedata.normalize("NFC", c).strip() for c in row] for row in csv.reader(
        io.StringIO(text), delimiter=sep)][1:]
    assert got == cells


def _same(a, b) -> bool:
    """Equal, or both the same kind of missing (NaN, None, pd.NA), and of the same type."""
    if type(a) is not type(b):
        return False
    return a is b or a == b or (isinstance(a, float) and math.isnan(a) and math.isnan(b))


cells = st.lists(st.one_of(st.none(), st.text(max_size=6)), min_size=0, max_size=12)


@settings(max_examples=60, deadline=None)
@given(cells, st.lists(st.one_of(st.none(), st.floats(allow_nan=True, allow_infinity=False)), max_size=12),
       st.lists(st.one_of(st.none(), st.integers(-5, 5)), max_size=12), st.booleans())
def test_rows_read_column_by_column_are_the_rows_pandas_iterates(texts, floats, ints, duplicate):
    """report.rows_of and render's column conversion read a frame a column at a time (a pyarrow column read cell
    by cell is slow): they give what itertuples gives, type for type, missing values included."""
    from tasks.render import _column_values, _json_value
    from tasks.report import rows_of

    n = min(len(texts), len(floats), len(ints))
    df = pd.DataFrame({"a": pd.array(texts[:n], dtype="string[pyarrow]"), "b": pd.Series(floats[:n], dtype=float),
                       "c": pd.array(ints[:n], dtype="Int64"), "d": pd.Series(texts[:n], dtype=object),
                       "e": pd.Series([x is None for x in texts[:n]], dtype=bool),
                       "f": pd.array([None if i is None else i > 0 for i in ints[:n]], dtype="boolean"),
                       "g": pd.array(texts[:n], dtype="string[python]")})
    if duplicate:
        df = pd.concat([df, df[["b"]]], axis=1)  # two columns of one name
    expected = list(df.itertuples(index=False))
    got = rows_of(df)
    assert len(got) == len(expected) and type(got[0] if got else None).__name__ in ("Row", "NoneType")
    for g, e in zip(got, expected, strict=True):
        assert all(_same(x, y) for x, y in zip(g, e, strict=True)), (g, e)
        assert g._fields == e._fields
    for k in range(df.shape[1]):  # what the workbook and results.json write: _json_value of each cell
        kind, values = _column_values(df.iloc[:, k])
        assert all(_same(x, _json_value(y)) for x, y in zip(values, df.iloc[:, k], strict=True))
        assert kind in ("s", "f", "i", "b", "")


json_values = st.one_of(st.none(), st.booleans(), st.integers(-10**12, 10**12), st.text(max_size=8),
                        st.floats(allow_nan=True, allow_infinity=True))


@settings(max_examples=80, deadline=None)
@given(st.dictionaries(st.text(max_size=5), json_values, max_size=4),
       st.lists(st.tuples(json_values, json_values, json_values), max_size=6),
       st.sampled_from(["fast", "repeated column", "object column", "no columns", "meta table"]))
def test_results_json_is_what_json_dumps_writes(meta, rows, shape):
    """render.write_json writes a column at a time exactly what json.dumps(indent=1, ensure_ascii=False) writes
    for the same document — or hands the document to the json module when it is not one of scalars."""
    import json

    from tasks.render import _column_values, _json_document

    df = pd.DataFrame(rows, columns=["a", "b", "c"], dtype=object)
    if shape == "repeated column":
        df.columns = ["a", "b", "a"]
    elif shape == "object column":
        df["d"] = [[1, 2]] * len(df)
    elif shape == "no columns":
        df = df[[]]
    tables = {"results": df, "empty": df.iloc[:0]}
    if shape == "meta table":
        meta = {**meta, "results": 1}
    doc = dict(meta)
    for name, t in tables.items():
        cols = [_column_values(t.iloc[:, k])[1] for k in range(t.shape[1])]
        doc[name] = [dict(zip(t.columns, r, strict=True)) for r in zip(*cols, strict=True)] if cols else \
            [{} for _ in range(len(t))]
    assert _json_document(meta, tables) == json.dumps(doc, ensure_ascii=False, indent=1)


def test_results_json_writes_every_kind_of_value_as_json_does():
    import json

    from tasks.render import _json_document

    values = [None, True, False, 0, -7, 2**70, 0.1 + 0.2, -0.0, 1e300, math.nan, math.inf, -math.inf, "",
              'Xã "Hồng" \\ Phong\n\t\u2028', "ư"]
    df = pd.DataFrame({"v": pd.Series(values, dtype=object), "n": range(len(values))})
    meta = {"province": "Hải Dương", "year": 2024, "synthetic": False, "nothing": None, "ratio": math.nan}
    cell = [None if isinstance(v, float) and math.isnan(v) else v for v in values]  # a missing cell is null
    doc = {**meta, "results": [{"v": v, "n": n} for n, v in enumerate(cell)]}
    assert _json_document(meta, {"results": df}) == json.dumps(doc, ensure_ascii=False, indent=1)


_NUMBERISH = st.one_of(st.none(), st.sampled_from(["", "1", "2", "03", "+4", "-5", "2.5", "5.", ".5", "1e3", "x",
                                                   "99999999999999999999", "3,5", " 7"]),
                       st.integers(-10**6, 10**6).map(str), st.floats(allow_nan=False, allow_infinity=False).map(str))


@given(st.lists(_NUMBERISH, max_size=40))
@settings(max_examples=300, deadline=None)
def test_numbers_parsed_once_per_distinct_text_are_what_to_numeric_gives(texts):
    """rules.to_numbers (each distinct text parsed once) gives pd.to_numeric's values and dtype, on the string
    columns ingest reads."""
    from tasks.rules import to_numbers

    s = pd.Series(texts, dtype=pd.StringDtype(na_value=math.nan), index=range(7, 7 + len(texts)))
    pd.testing.assert_series_equal(to_numbers(s), pd.to_numeric(s, errors="coerce"), check_names=False)


_ANSWER = st.tuples(st.sampled_from(["u2", "u1", "u3"]), st.sampled_from(["r1", "r2", "r3", None]),
                    st.sampled_from(["Q1", "Q2", "Q3", "Q9"]), st.sampled_from([1.0, 2.0, 3.0, None]))


@given(st.lists(_ANSWER, max_size=60))
@settings(max_examples=300, deadline=None)
def test_survey_points_are_pandas_plain_grouping_of_the_answers(rows):
    """scoring.score_survey (integer codes, distinct unit-respondent pairs) gives, to the last bit, what grouping
    the answers by unit with pandas' mean, size and nunique gives: a criterion's questions pooled, empty answers
    left out, a missing respondent id counted as one respondent, a question of no criterion ignored."""
    from types import SimpleNamespace as NS

    from tasks.scoring import coded_answers, score_survey

    points = {1: 0.0, 2: 1 / 3, 3: 1.0}
    crits = [NS(code="2.1", questions=("Q1", "Q2"), answer_points=points, max_points=1.5),
             NS(code="2.2", questions=("Q3",), answer_points=points, max_points=2.0),
             NS(code="2.3", questions=("Q7",), answer_points=points, max_points=1.0)]
    m = NS(leaves=lambda: [NS(source="survey", code=c.code, criterion=c) for c in crits])
    answers = pd.DataFrame(rows, columns=["unit_code", "respondent_id", "question_code", "answer"])
    answers = answers.astype({"unit_code": "str", "respondent_id": pd.StringDtype(na_value=math.nan),
                              "question_code": "str", "answer": "float64"})
    got = score_survey(m, answers)

    coded, unit_codes = coded_answers(answers)
    expected = []
    for c in crits:
        mine = coded[coded["question_code"].isin(c.questions)]
        g = mine.assign(value=mine["answer"].astype(int).map(c.answer_points)).groupby("unit").agg(
            mean_value=("value", "mean"), answers=("value", "size"), respondents=("respondent", "nunique"))
        expected += [(unit_codes[u], c.code, c.max_points * r.mean_value, r.respondents, r.answers)
                     for u, r in g.iterrows()]
    assert [tuple(r) for r in got.itertuples(index=False)] == expected
