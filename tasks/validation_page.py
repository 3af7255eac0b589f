"""Pure module: the view-model of validation/report.html, the page a council reads when inputs have problems."""

from __future__ import annotations

import math

import pandas as pd


def build_validation_context(problems: pd.DataFrame, limit: int = 2000) -> dict:
    """The validation page: counts per file and severity, and the problems a council reads (both languages)."""
    errors = int((problems["severity"] == "error").sum())
    by_file = [{"file": f, "errors": int((g["severity"] == "error").sum()),
                "warnings": int((g["severity"] == "warning").sum())} for f, g in problems.groupby("file", sort=True)]
    rows = []
    for p in problems.head(limit).to_dict("records"):
        rows.append({k: ("" if v is None or (isinstance(v, float) and math.isnan(v)) else
                         str(int(v)) if k == "row" else str(v)) for k, v in p.items()})
    return {"lang": "vi", "errors": errors, "warnings": len(problems) - errors, "by_file": by_file,
            "problems": rows, "truncated": max(0, len(problems) - limit)}
