"""The one validator of a run: Great Expectations 1.x runs the declared row rules of tasks/rules.py as
generated suites (one per table, in an ephemeral context), tasks/checks.py types the tables and runs the rules
across rows and tables, and `validate` returns every problem once, worded by the rule that found it.

`validate` is the entry point of the flow, the rerun, the desk, the sample generator and the tests. Each rule
kind maps to one expectation (`expectation`); each failing row GX lists becomes a row of validation/errors.csv
worded by `tasks.rules.problem_of`, with `gx:<table>:<rule>` in `check`. A table flooded with errors (a rule
failing on more rows than are listed) is worded from the same rules by pandas: the run fails on it anyway,
and GX would spend minutes on a million junk rows.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import os
import sys
import threading
import types

import pandas as pd

from tasks.checks import Checked, check_inputs
from tasks.compute import ValidationFailed
from tasks.corrections import check_corrections
from tasks.problems import PROBLEMS_PER_COLUMN, Problem, cap_problems, in_fixing_order
from tasks.rules import Prepared, RowRule, pandas_engine, problem_of

#: what Great Expectations imports for expectations this project never declares (the KL divergence and the
#: Kolmogorov–Smirnov tests, and their charts): ~1 CPU-s of its ~3 s import, in every process that validates
LOADED_ON_USE = ("scipy.stats", "altair")
_loading = threading.Lock()  # one real import of a module loaded on use, whichever thread reads it first


class _LoadedOnUse(types.ModuleType):
    """Stands in `sys.modules` for a module until one of its attributes is read, and then imports it: GX's
    modules that import it at their top get this, and whatever uses it gets the real module's attributes.
    (The standard library's LazyLoader cannot do this on Python 3.11: an `import` of a module already in
    `sys.modules` reads its `__spec__`, which loads it.)"""

    def __getattr__(self, attr: str):
        with _loading:
            if sys.modules.get(self.__name__) is self:
                del sys.modules[self.__name__]
            real = importlib.import_module(self.__name__)
        return getattr(real, attr)


def _on_first_use(name: str) -> None:
    """Put `name` in sys.modules as a _LoadedOnUse, unless it is imported already or not installed."""
    if name not in sys.modules and importlib.util.find_spec(name) is not None:
        sys.modules[name] = _LoadedOnUse(name)


def _gx():
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
    import logging

    for name in LOADED_ON_USE:
        _on_first_use(name)
    import great_expectations as gx  # ~2 s: imported only when a run validates

    for name in ["great_expectations", *[n for n in logging.root.manager.loggerDict
                                          if n.startswith("great_expectations.")]]:
        logging.getLogger(name).setLevel(logging.WARNING)  # GX sets INFO on its own loggers
    return gx


def expectation(E, rule: RowRule, number: int = 0):
    """The GX expectation that tests what `rule` declares (tasks.rules.failing is its pandas twin); `number`
    goes into its meta, to find the rule of a result (GX does not keep the suite's order in its results)."""
    where = {"row_condition": f"{rule.only_if}==True", "condition_parser": "pandas"} if rule.only_if else {}
    where["meta"] = {"rule": number}
    col, arg = rule.reads, rule.arg
    pair = {"ignore_row_if": "either_value_is_missing"}
    made = {
        "filled": lambda: E.ExpectColumnValuesToNotMatchRegex(column=col, regex=r"^$", **where),
        "in_set": lambda: E.ExpectColumnValuesToBeInSet(column=col, value_set=list(arg), **where),
        "matches": lambda: E.ExpectColumnValuesToMatchRegex(column=col, regex=arg, **where),
        "at_least": lambda: E.ExpectColumnValuesToBeBetween(column=col, min_value=arg, **where),
        "at_most": lambda: E.ExpectColumnPairValuesAToBeGreaterThanB(column_A=arg, column_B=col, or_equal=True,
                                                                    **pair, **where),
        "equals": lambda: E.ExpectColumnPairValuesToBeEqual(column_A=col, column_B=arg, **pair, **where),
        "holds": lambda: E.ExpectColumnValuesToBeInSet(column=col, value_set=[True], **where),
    }
    return made[rule.kind]()


#: GX's result with the failing rows (up to PROBLEMS_PER_COLUMN of each rule), found again by their position
ROWS = {"result_format": "SUMMARY", "partial_unexpected_count": PROBLEMS_PER_COLUMN,
        "unexpected_index_column_names": ["_pos"], "return_unexpected_index_query": False}


def flooded(masks: dict[str, pd.Series]) -> bool:
    """A rule fails on more rows than are listed: the table is worded by pandas, GX would only be slow."""
    return any(int(m.sum()) > PROBLEMS_PER_COLUMN for m in masks.values())


def _columns(rules: list[RowRule]) -> list[str]:
    """The columns a table's expectations read (tested columns and the bounds of pair rules), in order."""
    cols = [c for r in rules for c in (r.reads, r.arg if r.kind in ("at_most", "equals") else None, r.only_if) if c]
    return list(dict.fromkeys(cols))


@contextlib.contextmanager
def configurations_kept(gx):
    """While one suite is validated, each expectation's `configuration` is made once. GX rebuilds it at every
    read — a pydantic dump, a regex and a new object — and reads it 60–80 times per expectation while it
    plans the metrics (3,000 times for a commune index: ~40 % of GX's time). Within one validation nothing
    changes an expectation (GX deep-copies a configuration before it edits one), so the first one made is the
    one each later read would have made. GX's own property is restored on leaving; the validation runs under
    the context's lock, the only place this process validates (tests/test_expectations.py compares the
    results with and without)."""
    cls = gx.expectations.Expectation
    made = cls.__dict__["configuration"]
    kept: dict[int, tuple[object, object]] = {}

    def configuration(self):
        hit = kept.get(id(self))
        if hit is None or hit[0] is not self:  # an id reused by a new object is a new expectation
            hit = kept[id(self)] = (self, made.fget(self))
        return hit[1]

    cls.configuration = property(configuration, doc=made.__doc__)
    try:
        yield
    finally:
        cls.configuration = made


class _Gx:
    """The ephemeral GX context of this process, made once: its pandas data source keeps one asset per table,
    whose batch definition takes each validation's frame as a batch parameter. (A context per validation
    re-serialised its whole configuration as YAML at every asset it added: a tenth of GX's time.)"""

    def __init__(self):
        gx = _gx()
        import great_expectations.execution_engine.pandas_execution_engine as engine
        from great_expectations.data_context.types.base import ProgressBarsConfig

        # GX fingerprints every batch of a pandas frame (an MD5 over its hashed rows) for the batch's metadata,
        # which nothing here reads: ~9 % of a validation. GX's own size limit turns it off (frames above it get
        # no fingerprint); in this process's GX, every frame is above it.
        engine.HASH_THRESHOLD = 0
        self.gx = gx
        self.context = gx.get_context(mode="ephemeral")
        self.context.variables.progress_bars = ProgressBarsConfig(globally=False)  # no bars in the logs
        self.source = self.context.data_sources.add_pandas("parindex")
        self.batches: dict[str, object] = {}
        self.suites = 0
        self.lock = threading.Lock()  # one validation at a time in the shared context

    def batch(self, table: str, frame: pd.DataFrame):
        if table not in self.batches:
            self.batches[table] = self.source.add_dataframe_asset(table).add_batch_definition_whole_dataframe("all")
        return self.batches[table].get_batch(batch_parameters={"dataframe": frame})


_context: _Gx | None = None


def _shared() -> _Gx:
    global _context
    if _context is None:
        _context = _Gx()
    return _context


class GxEngine:
    """Words a table's rule failures with Great Expectations: one generated suite per table, validated on the
    columns its rules read, in the process's one ephemeral context."""

    def __init__(self):
        self.gx = _shared()
        self.found: list[Problem] = []  # every row this engine worded, for the flow's cache (gx_problems)

    def __call__(self, file: str, prepared: Prepared, masks: dict[str, pd.Series], col) -> None:
        if prepared.frame.empty or not prepared.rules:
            return
        if flooded(masks):
            pandas_engine(file, prepared, masks, col)  # not cached: Replay words a flooded table afresh
            return
        rows = self.problems(file, prepared, expect_failures=any(bool(m.any()) for m in masks.values()))
        self.found += rows
        col.extend(rows)

    def problems(self, file: str, prepared: Prepared, expect_failures: bool = True) -> list[Problem]:
        """GX's failing rows of one table, worded by their rules. GX evaluates every rule on every row either
        way; when the declared rules fail on no row (`expect_failures` False: the usual, valid file) it is
        asked only whether each holds (BOOLEAN_ONLY: a third less work than listing rows), and asked again for
        the rows if it finds a failure after all. GX is given only the columns the rules read (it hashes and
        copies what it is given); the problems are worded from the whole row."""
        g = self.gx
        rules = prepared.rules
        frame = prepared.frame.reset_index(drop=True)
        tested = frame[_columns(rules)].assign(_pos=range(len(frame)))
        with g.lock:
            g.suites += 1
            # validated as it is, not added to the context's store: storing and deleting it serialised the whole
            # suite twice (value sets included), ~7 % of a validation, for a suite used once
            suite = g.gx.ExpectationSuite(
                name=f"{rules[0].table}-{g.suites}",
                expectations=[expectation(g.gx.expectations, r, i) for i, r in enumerate(rules)])
            batch = g.batch(rules[0].table, tested)
            with configurations_kept(g.gx):
                result = None if expect_failures else batch.validate(
                    suite, result_format={"result_format": "BOOLEAN_ONLY"})
            if result is None or not result.success:
                with configurations_kept(g.gx):
                    result = batch.validate(suite, result_format=ROWS)
        found: list[list[Problem]] = [[] for _ in rules]
        for res in result.results:
            rule = int(res.expectation_config.meta["rule"])
            for hit in ([] if res.success else res.result.get("partial_unexpected_index_list") or []):
                found[rule].append(problem_of(rules[rule], frame.iloc[int(hit["_pos"])].to_dict(), file, "gx"))
        return [p for rows in found for p in rows]  # in the rules' order


class Replay:
    """Words a table's failures with the rows GX found earlier for the same content (the flow's cache), but only
    if they are exactly the rows the declared rules fail on now, as GX words them; otherwise GX runs again. So a
    cached file edited on disk can neither hide a problem nor invent one."""

    def __init__(self, rows: list[Problem]):
        self.rows: dict[tuple[str, str], list[Problem]] = {}
        for p in rows:
            self.rows.setdefault((p.file, p.check.split(":")[1]), []).append(p)
        self.engine: GxEngine | None = None
        self.replayed = 0

    def __call__(self, file: str, prepared: Prepared, masks: dict[str, pd.Series], col) -> None:
        if prepared.frame.empty or not prepared.rules:
            return
        cached = self.rows.get((file, prepared.rules[0].table), [])
        if not flooded(masks) and cached == [problem_of(r, d, file, "gx") for r in prepared.rules
                                             for d in prepared.frame[masks[r.name]].to_dict("records")]:
            self.replayed += 1
            col.extend(cached)
            return
        self.engine = self.engine or GxEngine()
        self.engine(file, prepared, masks, col)


#: the check gx_problems just made, for `validate` of the same bundle in this process (one at a time)
_fresh: dict[int, tuple[object, Checked]] = {}


def gx_problems(bundle) -> list[Problem]:
    """The problem rows GX finds in a bundle's tables (what the flow caches under the inputs' hashes). The
    whole check it made stays in this process for the `validate` that follows, which then does not check the
    same bundle twice; when the flow's cache answered instead, nothing stays and `validate` replays the rows."""
    engine = GxEngine()
    checked = check_inputs(bundle, engine)
    _fresh.clear()
    _fresh[id(bundle)] = (bundle, checked)
    return engine.found


def validate(bundle, raise_on_error: bool = True, gx_rows: list[Problem] | None = None) -> Checked:
    """Check and type a read input bundle: GX runs the row rules, tasks.checks the rules across rows and
    tables. Raises ValidationFailed on errors (or, with raise_on_error=False, leaves them in `problems`).
    `gx_rows`: GX's rows for these inputs from an earlier run (gx_problems), used where they still hold; when
    gx_problems checked this very bundle in this process, its check is taken as it is."""
    bundle_then, checked = _fresh.pop(id(bundle), (None, None))
    _fresh.clear()  # another bundle's check (its flow found GX's rows in the cache) is not kept any longer
    if bundle_then is not bundle or gx_rows is None:
        checked = check_inputs(bundle, GxEngine() if gx_rows is None else Replay(gx_rows))
    checked.problems = in_fixing_order(cap_problems(checked.problems))
    if checked.errors and raise_on_error:
        raise ValidationFailed(checked)
    return checked


def validate_corrections(table, m, units: pd.DataFrame) -> tuple[pd.DataFrame, list[Problem]]:
    """A corrections file (rerun) checked by the same rules and engine: the typed rows and the problems."""
    typed, problems = check_corrections(table.frame, table.file, m, units, GxEngine())
    return typed, in_fixing_order(problems)
