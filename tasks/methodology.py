"""The methodology as data: parse a methodology YAML into frozen models and refuse one that does not add up.

Pure module: no Prefect, SQLAlchemy, GX or Jinja2 here (tests/test_conventions.py keeps it so).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from tasks.numbers import TOLERANCE
from tasks.schema import METRICS

#: Sums of maxima are compared with this tolerance: YAML maxima such as 1.5 + 0.25 are exact in binary,
#: but 0.1-steps are not, and a methodology must not be refused for float noise.
SUM_TOLERANCE = TOLERANCE  # tasks.numbers: the one tolerance

Source = Literal["appraisal", "survey", "dossier"]


class MethodologyError(ValueError):
    """A methodology file that cannot be used; `problems` lists every rule it breaks."""

    def __init__(self, path: str, problems: list[str]):
        self.path = path
        self.problems = problems
        super().__init__(f"{path}: the methodology is inconsistent:\n  - " + "\n  - ".join(problems))


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)


class Text(_Frozen):
    vi: str
    en: str

    def get(self, lang: str) -> str:
        return self.vi if lang == "vi" else self.en


class Step(_Frozen):
    """A threshold: `min` (higher is better: the first step whose min <= the rate) or `max` (lower is better:
    the first step whose max >= the rate)."""

    min: float | None = None
    max: float | None = None
    points: float


class Linear(_Frozen):
    from_: float = Field(alias="from")
    to: float


class Band(_Frozen):
    min: float
    code: str
    vi: str
    en: str


class Criterion(_Frozen):
    code: str
    name: Text
    max: float | None = None
    source: Source | None = None
    criteria: tuple[Criterion, ...] | None = None
    basis: str | None = None  # legal basis / source of the criterion, free text
    # dossier criteria
    metric: str | None = None  # a key of tasks.schema.METRICS
    steps: tuple[Step, ...] | None = None
    linear: Linear | None = None
    #: what a unit with no dossiers in the metric's denominator scores: `error` (a validation error, the
    #: default: never a silent zero), `full` (nothing was late or offline) or `zero`.
    if_no_dossiers: Literal["error", "full", "zero"] = "error"
    # survey criteria
    questions: tuple[str, ...] | None = None
    answer_points: dict[int, float] | None = None
    min_respondents: int | None = None

    @model_validator(mode="before")
    @classmethod
    def _codes_are_text(cls, data):
        # YAML reads `code: 1.1` as a float; criterion codes are text.
        if isinstance(data, dict) and "code" in data and not isinstance(data["code"], str):
            data = {**data, "code": str(data["code"])}
        return data

    @property
    def is_leaf(self) -> bool:
        return not self.criteria

    @property
    def max_points(self) -> float:
        if self.max is not None:
            return float(self.max)
        return sum(c.max_points for c in self.criteria or ())


class FieldSpec(_Frozen):
    code: str
    name: Text
    criteria: tuple[Criterion, ...]
    basis: str | None = None

    @property
    def max_points(self) -> float:
        return sum(c.max_points for c in self.criteria)


class Deductions(_Frozen):
    max: float


class Methodology(_Frozen):
    id: str
    year: int
    level: str
    title: Text
    max_points: float = 100
    decimals: int = Field(default=2, ge=0, le=6)
    rank_on: Literal["full", "published"] = "full"
    bands: tuple[Band, ...]
    fields: tuple[FieldSpec, ...]
    deductions: Deductions | None = None
    #: named answer scales, for reference by YAML anchors (`answer_points: *likert5`)
    scales: dict[str, dict[int, float]] | None = None
    #: the decision that issued the methodology, e.g. "QĐ 892/QĐ-BNV": text, or {vi, en} for both reports
    basis: Text | str | None = None
    province: str | None = None
    sha256: str = ""  # of the file it was read from; filled by load_methodology

    def leaves(self) -> list[Leaf]:
        return list(_iter_leaves(self))

    def needed_tables(self) -> dict[str, str]:
        """The input tables this methodology scores from (CONTRACT.md: which files a run needs follows from the
        methodology alone), each with the reason, in English; `dossier_stats` stands for either dossier file."""
        needs: dict[str, str] = {}
        for lf in self.leaves():
            c = lf.criterion
            if lf.source == "appraisal":
                needs.setdefault("self_assessment", f"appraisal criterion {c.code}")
            elif lf.source == "survey" and c.questions:
                needs.setdefault("survey_responses", f"survey criterion {c.code} (questions {', '.join(c.questions)})")
            elif lf.source == "survey":
                needs.setdefault("survey_scores", f"survey criterion {c.code} (points delivered per unit)")
            elif lf.source == "dossier":
                needs.setdefault("dossier_stats", f"dossier criterion {c.code} ({c.metric})")
        return needs

    def names(self, lang: str) -> dict[str, str]:
        """code -> name in `lang` of every field and criterion, sub-criteria included."""
        out: dict[str, str] = {}

        def walk(criteria) -> None:
            for c in criteria:
                out[c.code] = c.name.get(lang)
                walk(c.criteria or ())

        for f in self.fields:
            out[f.code] = f.name.get(lang)
            walk(f.criteria)
        return out

    def basis_in(self, lang: str) -> str:
        """The basis in `lang`; a basis given only as Vietnamese text is shown in the English report as it is,
        marked as the Vietnamese original rather than passed off as a translation."""
        if self.basis is None:
            return ""
        if isinstance(self.basis, Text):
            return self.basis.get(lang)
        return self.basis if lang == "vi" else f"{self.basis} (Vietnamese original)"

    def field_codes(self) -> list[str]:
        return [f.code for f in self.fields]

    def band_for(self, published_index: float) -> Band:
        """The first band whose `min` is at or below the published index (bands are highest first)."""
        for band in self.bands:
            if published_index >= band.min:
                return band
        return self.bands[-1]


@dataclass(frozen=True)
class Leaf:
    """A criterion that carries points itself, with the field and the top-level criterion it belongs to."""

    field_code: str
    criterion: Criterion
    parent_codes: tuple[str, ...]

    @property
    def code(self) -> str:
        return self.criterion.code

    @property
    def source(self) -> str:
        return self.criterion.source or ""

    @property
    def max_points(self) -> float:
        return self.criterion.max_points


def _iter_leaves(m: Methodology) -> Iterator[Leaf]:
    def walk(field_code: str, crit: Criterion, parents: tuple[str, ...]) -> Iterator[Leaf]:
        if crit.is_leaf:
            yield Leaf(field_code, crit, parents)
        else:
            for sub in crit.criteria or ():
                yield from walk(field_code, sub, parents + (crit.code,))

    for f in m.fields:
        for c in f.criteria:
            yield from walk(f.code, c, ())


def _close(a: float, b: float) -> bool:
    return abs(a - b) <= SUM_TOLERANCE * max(1.0, abs(a), abs(b))


def _check_dossier_scale(c: Criterion, at: str, problems: list[str]) -> None:
    """A dossier criterion's metric and scale; the scale must run the metric's way (a late rate scores more
    the lower it is: `linear` with from > to, or `steps` with ascending `max`)."""
    metric = METRICS.get(c.metric or "")
    if metric is None:
        problems.append(f"{at}: a dossier criterion needs a `metric`, one of {', '.join(METRICS)}"
                        + (f" (got {c.metric!r})" if c.metric else ""))
    if (c.steps is None) == (c.linear is None):
        problems.append(f"{at}: a dossier criterion needs exactly one of `steps` or `linear`")
    higher = metric.higher_is_better if metric else None
    if c.steps is not None:
        kinds = {("min" if s.min is not None else "") + ("max" if s.max is not None else "") for s in c.steps}
        if kinds not in ({"min"}, {"max"}):
            problems.append(f"{at}: every step needs either `min` (higher is better) or `max` (lower is "
                            "better), the same for all steps")
            return
        pts = [s.points for s in c.steps]
        if any(p < 0 or p > c.max + SUM_TOLERANCE for p in pts):
            problems.append(f"{at}: step points must lie between 0 and max {c.max:g} (got {pts})")
        if any(a < b for a, b in zip(pts, pts[1:], strict=False)):
            problems.append(f"{at}: step points must not rise from one step to the next (got {pts})")
        if kinds == {"min"}:
            mins = [s.min for s in c.steps]
            if any(a <= b for a, b in zip(mins, mins[1:], strict=False)):
                problems.append(f"{at}: steps must descend strictly by `min` (got {mins})")
            if mins and mins[-1] > 0:
                problems.append(f"{at}: the last step must start at 0 so that every rate scores "
                                f"(it starts at {mins[-1]:g})")
            if higher is False:
                problems.append(f"{at}: {c.metric} is better when lower: give steps with ascending `max` "
                                "thresholds, not `min`")
        else:
            maxes = [s.max for s in c.steps]
            if any(a >= b for a, b in zip(maxes, maxes[1:], strict=False)):
                problems.append(f"{at}: steps with `max` must ascend strictly (got {maxes})")
            if maxes and maxes[-1] < 1:
                problems.append(f"{at}: the last step must reach 1 so that every rate scores "
                                f"(it ends at {maxes[-1]:g})")
            if higher is True:
                problems.append(f"{at}: {c.metric} is better when higher: give steps with descending `min` "
                                "thresholds, not `max`")
    if c.linear is not None:
        lo, hi = c.linear.from_, c.linear.to
        if lo == hi:
            problems.append(f"{at}: linear scale needs from and to to differ (both are {lo:g})")
        elif higher is True and lo > hi:
            problems.append(f"{at}: {c.metric} is better when higher: the linear scale needs from < to "
                            f"(got from {lo:g}, to {hi:g})")
        elif higher is False and lo < hi:
            problems.append(f"{at}: {c.metric} is better when lower: the linear scale needs from > to "
                            f"(0 points at from, the maximum at to; got from {lo:g}, to {hi:g})")


def _check_criterion(c: Criterion, where: str, problems: list[str]) -> None:
    at = f"{where} criterion {c.code}"
    if c.criteria:
        if c.source or c.metric or c.steps or c.linear or c.questions:
            problems.append(f"{at}: has sub-criteria, so it cannot have its own source, metric, steps, "
                            "linear scale or questions (its points are the sum of its sub-criteria)")
        subtotal = sum(s.max_points for s in c.criteria)
        if c.max is not None and not _close(subtotal, c.max):
            problems.append(f"{at}: max is {c.max:g} but its sub-criteria add up to {subtotal:g}")
        for s in c.criteria:
            _check_criterion(s, where, problems)
        return
    if c.max is None or c.source is None:
        problems.append(f"{at}: a criterion needs either `max` and `source`, or sub-`criteria`")
        return
    if c.max <= 0:
        problems.append(f"{at}: max must be positive, not {c.max:g}")
    if c.source == "dossier":
        _check_dossier_scale(c, at, problems)
    elif c.metric or c.steps or c.linear:
        problems.append(f"{at}: `metric`, `steps` and `linear` belong to dossier criteria only")
    if c.source == "survey" and not c.questions:
        # points delivered per unit by a survey institute (survey_scores.csv): nothing to compute here
        if c.answer_points or c.min_respondents:
            problems.append(f"{at}: `answer_points` and `min_respondents` need `questions`; without questions "
                            "the points come from survey_scores.csv")
    elif c.source == "survey":
        if not c.answer_points:
            problems.append(f"{at}: a survey criterion needs `answer_points`")
        elif any(v < 0 or v > 1 for v in c.answer_points.values()):
            problems.append(f"{at}: answer_points map answers to fractions of the criterion's points, "
                            f"between 0 and 1 (got {dict(c.answer_points)})")
        if c.min_respondents is None or c.min_respondents < 1:
            problems.append(f"{at}: a survey criterion needs `min_respondents` of at least 1")
    elif c.questions or c.answer_points or c.min_respondents:
        problems.append(f"{at}: `questions`, `answer_points` and `min_respondents` belong to survey "
                        "criteria only")


def check_methodology(m: Methodology) -> list[str]:
    """Every rule of CONTRACT.md's methodology section that `m` breaks, as sentences (empty = valid)."""
    problems: list[str] = []
    seen: dict[str, str] = {}

    def note_code(code: str, what: str) -> None:
        if code in seen:
            problems.append(f"code {code!r} is used twice ({seen[code]} and {what})")
        seen[code] = what

    def note_tree(c: Criterion, where: str) -> None:
        note_code(c.code, f"{where} criterion")
        for s in c.criteria or ():
            note_tree(s, where)

    if not m.fields:
        problems.append("the methodology has no fields")
    for f in m.fields:
        note_code(f.code, "field")
        if not f.criteria:
            problems.append(f"field {f.code}: has no criteria")
        for c in f.criteria:
            note_tree(c, f"field {f.code}")
            _check_criterion(c, f"field {f.code}", problems)
    total = sum(f.max_points for f in m.fields)
    if not _close(total, m.max_points):
        parts = " + ".join(f"{f.code} {f.max_points:g}" for f in m.fields)
        problems.append(f"field maxima add up to {total:g} ({parts}), not max_points {m.max_points:g}")
    if not m.bands:
        problems.append("the methodology has no bands")
    else:
        mins = [b.min for b in m.bands]
        if any(a <= b for a, b in zip(mins, mins[1:], strict=False)):
            problems.append(f"bands must be listed highest first with strictly descending `min` (got {mins})")
        if mins[-1] > 0:
            problems.append(f"the lowest band must start at 0 so that every unit gets a band "
                            f"(it starts at {mins[-1]:g})")
        codes = [b.code for b in m.bands]
        if len(set(codes)) != len(codes):
            problems.append(f"band codes must be unique (got {codes})")
    if m.deductions is not None and m.deductions.max < 0:
        problems.append(f"deductions.max must not be negative (got {m.deductions.max:g})")
    return problems


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


#: bounds on a YAML file (index.yaml, a methodology): a real methodology is ~10 kB with ~20 aliases; an
#: "alias bomb" of a few hundred bytes expands to billions of nodes when it is walked
YAML_MAX_BYTES = 1 << 20
YAML_MAX_NODES = 100_000


class YamlTooLarge(ValueError):
    pass


def load_yaml(text: str):
    """yaml.safe_load with bounds: at most YAML_MAX_BYTES, and at most YAML_MAX_NODES nodes once every alias
    is expanded (counted on the composed graph, which shares aliased nodes, before anything is built)."""
    if len(text.encode("utf-8")) > YAML_MAX_BYTES:
        raise YamlTooLarge(f"is larger than {YAML_MAX_BYTES // 1024} kB")
    loader = _YamlLoader(text)  # parsed once: the composed graph is measured, then built
    try:
        root = loader.get_single_node()
        _bounded(root)
        return None if root is None else loader.construct_document(root)
    finally:
        loader.dispose()


#: libyaml's parser where PyYAML has it (ten times faster), with PyYAML's safe constructor either way
_YamlLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _bounded(root) -> None:
    """Refuses a composed YAML graph of more than YAML_MAX_NODES nodes once every alias is expanded."""
    sizes: dict[int, int] = {}

    def size(node) -> int:
        if id(node) in sizes:
            return sizes[id(node)]
        sizes[id(node)] = 1  # a recursive alias counts once here; the constructor refuses it below anyway
        if isinstance(node, yaml.MappingNode):
            n = 1 + sum(size(k) + size(v) for k, v in node.value)
        elif isinstance(node, yaml.SequenceNode):
            n = 1 + sum(size(v) for v in node.value)
        else:
            n = 1
        sizes[id(node)] = min(n, YAML_MAX_NODES + 1)
        return sizes[id(node)]

    if root is not None and size(root) > YAML_MAX_NODES:
        raise YamlTooLarge(f"expands to more than {YAML_MAX_NODES:,} values (aliases repeated inside aliases?)")


def parse_methodology(text: str, where: str = "methodology.yaml", sha256: str = "") -> Methodology:
    """Parse and validate a methodology; raise MethodologyError naming every problem found."""
    try:
        data = load_yaml(text)
    except YamlTooLarge as exc:
        raise MethodologyError(where, [f"the file {exc}: refused"]) from exc
    except yaml.YAMLError as exc:
        raise MethodologyError(where, [f"not valid YAML: {_yaml_where(exc)}"]) from exc
    if not isinstance(data, dict):
        raise MethodologyError(where, ["the file must hold a YAML mapping (id, year, level, fields, …)"])
    try:
        m = Methodology.model_validate({**data, "sha256": sha256})
    except ValidationError as exc:
        raise MethodologyError(where, [_explain(e, data) for e in exc.errors()]) from exc
    problems = check_methodology(m)
    if problems:
        raise MethodologyError(where, problems)
    return m


def _yaml_where(exc: yaml.YAMLError) -> str:
    """A YAML error as its line and column and what was expected, never the file's text (which may hold a
    password or a name that does not belong in errors.csv)."""
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None) or "cannot be parsed"
    return f"{problem} at line {mark.line + 1}, column {mark.column + 1}" if mark else str(problem)


def _explain(err: dict, data: dict) -> str:
    """A pydantic error with its location spelled with codes: `field F1 criterion 1.1: source: …`."""
    parts: list[str] = []
    node = data
    loc = list(err["loc"])
    i = 0
    while i < len(loc):
        key = loc[i]
        nxt = loc[i + 1] if i + 1 < len(loc) else None
        if key in ("fields", "criteria") and isinstance(nxt, int) and isinstance(node, dict):
            items = node.get(key) or []
            node = items[nxt] if nxt < len(items) else {}
            label = "field" if key == "fields" else "criterion"
            code = node.get("code", f"#{nxt + 1}") if isinstance(node, dict) else f"#{nxt + 1}"
            parts.append(f"{label} {code}")
            i += 2
            continue
        parts.append(str(key))
        node = node.get(key, {}) if isinstance(node, dict) else {}
        i += 1
    where = " ".join(parts)
    return f"{where}: {err['msg']}" + (f" (got {err['input']!r})" if err.get("type") != "missing" else "")


def resolve_methodology_path(name: str, inputs_dir: Path, config_dir: Path) -> Path:
    """`methodology:` in index.yaml is a path relative to the input folder or a file in config/methodology."""
    for candidate in (inputs_dir / name, config_dir / "methodology" / name,
                      config_dir / "methodology" / f"{name}.yaml"):
        if candidate.is_file():
            return candidate
    raise FileNotFoundError(
        f"{inputs_dir / 'index.yaml'}: methodology {name!r} is neither a file in the input folder nor in "
        f"{config_dir / 'methodology'}")


def load_methodology(path: Path) -> Methodology:
    return parse_methodology(path.read_text(encoding="utf-8-sig"), str(path), file_sha256(path))
