"""Pure module: from validated inputs to ranked results — the scoring core shared by the flow and `sample`.
Validation itself is expectations.suites.validate (the one entry point: GX and the typed checks)."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from tasks.checks import Checked
from tasks.ranking import published_criteria, published_results, rank_and_classify
from tasks.scoring import dossier_rates, score_criteria, sum_results


class ValidationFailed(Exception):
    """The inputs have errors; nothing may be published. `checked.problems` lists them all."""

    def __init__(self, checked: Checked):
        self.checked = checked
        n = len(checked.errors)
        super().__init__(f"the inputs failed validation with {n} error(s)")


class InputsUnreadable(Exception):
    """An input folder that cannot be read (missing file or column, broken methodology); `rows` are problems."""

    def __init__(self, rows: list[dict]):
        self.rows = rows
        super().__init__(rows[0].problem if rows else "the inputs cannot be read")


@dataclass
class Computed:
    checked: Checked
    criteria: pd.DataFrame  # full precision, one row per unit and leaf criterion
    ranked: pd.DataFrame  # full precision, one row per unit, with ranks and bands
    rates: pd.DataFrame  # dossier totals and rates per unit
    results: pd.DataFrame  # results.csv (published precision)
    criteria_published: pd.DataFrame  # criteria.csv


def score(inputs, checked: Checked) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    m = inputs.methodology
    scored_units = checked.units[checked.units["level"] == m.level].reset_index(drop=True)
    criteria = score_criteria(m, scored_units, checked.appraisal, checked.answers, checked.stats,
                              checked.survey_scores)
    totals = sum_results(m, scored_units, criteria, checked.deductions)
    return criteria, totals, dossier_rates(checked.stats)


def rank(inputs, checked: Checked, totals: pd.DataFrame) -> pd.DataFrame:
    return rank_and_classify(inputs.methodology, totals, checked.previous, checked.lineage)


def compute(inputs, checked: Checked) -> Computed:
    """score → rank of validated inputs, without Prefect (the flow runs the same steps as tasks)."""
    criteria, totals, rates = score(inputs, checked)
    ranked = rank(inputs, checked, totals)
    m = inputs.methodology
    return Computed(checked, criteria, ranked, rates, published_results(m, ranked),
                    published_criteria(m, criteria))
