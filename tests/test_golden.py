"""Golden files: the sample province's 2024 tables for all three indices, byte for byte.

Regenerate only deliberately (`python -m tests.regen_golden`) and explain the diff in the commit."""

import pytest

from flows.sample import LEVELS
from tasks.render import write_csv
from tests.regen_golden import GOLDEN, golden_tables


@pytest.fixture(scope="module")
def tables(sample_root, tmp_path_factory):
    return golden_tables(sample_root, tmp_path_factory.mktemp("golden"))


@pytest.mark.parametrize("level", LEVELS)
@pytest.mark.parametrize("name", ["results.csv", "criteria.csv"])
def test_sample_province_matches_golden(tables, level, name, tmp_path):
    path = tmp_path / name
    write_csv(tables[level][name], path)
    assert path.read_bytes() == (GOLDEN / f"hai-duong-2024-{level}" / name).read_bytes()


def test_golden_has_the_realistic_shape():
    import pandas as pd

    d = pd.read_csv(GOLDEN / "hai-duong-2024-district" / "results.csv", dtype={"unit_code": str}, encoding="utf-8-sig")
    c = pd.read_csv(GOLDEN / "hai-duong-2024-commune" / "results.csv", dtype={"unit_code": str}, encoding="utf-8-sig")
    assert len(d) == 12 and len(c) == 207 and c["group"].nunique() == 12
    assert d["index_pct"].between(70, 97).all()
    assert d["rank_change"].abs().max() >= 5  # some units rise or fall sharply
    assert c["unit_code"].str.len().eq(5).all()  # GSO commune codes keep their leading zeros
