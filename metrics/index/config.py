"""The indicator configuration (TOML): parsing, validation with line numbers, and the index version.

``load_config()`` reads the shipped ``default.toml`` next to this module; ``load_config(path)`` reads an
operator's file. Every semantic error names the file, the line of the offending table or key, and the
field, e.g. ``index.toml:41 [indicator.serious_incidents.window]: expected one of 24h, 7d, 30d, got '2d'``.
"""

from __future__ import annotations

import hashlib
import json
import re
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from metrics.index.errors import IndexConfigError
from metrics.index.expr import CounterExpr, ExpressionError, parse_expression
from metrics.index.vocabulary import LEVELS

DEFAULT_CONFIG_PATH = Path(__file__).with_name("default.toml")

NORMALISATIONS = ("goalposts", "minmax", "zscore", "target")
WEIGHTINGS = ("expert", "equal", "entropy", "ahp")
AGGREGATIONS = ("geometric", "arithmetic")
KINDS = ("ratio", "surge", "repeat_places", "attribute")
DIRECTIONS = ("higher_better", "higher_worse")
SCORE_WINDOWS = ("24h", "7d", "30d")
GATE_WINDOWS = ("1h", "24h", "7d", "30d")
UNITS_BY_KIND: dict[str, tuple[str, ...]] = {
    "ratio": ("per_10k", "per_km2", "per_camera", "rate", "duration", "count"),
    "surge": ("ratio",),
    "repeat_places": ("per_km2", "per_10k", "share", "count"),
    "attribute": ("per_10k", "per_km2", "per_camera", "rate", "count"),
}
LEVEL_NAMES = ("A", "B", "C", "D")

#: Saaty's random consistency index by matrix order (Saaty 1980, *The Analytic Hierarchy Process*).
SAATY_RANDOM_INDEX: dict[int, float] = {
    1: 0.0,
    2: 0.0,
    3: 0.58,
    4: 0.90,
    5: 1.12,
    6: 1.24,
    7: 1.32,
    8: 1.41,
    9: 1.45,
    10: 1.49,
}


@dataclass(frozen=True)
class Indicator:
    """One indicator: what it reads, over which window, in which unit, and how it scores.

    ``goalposts`` are (low, high) in the indicator's unit; the good end is ``high`` when ``direction``
    is ``higher_better`` and ``low`` otherwise. Gate indicators use ``gate_min``/``gate_max`` instead.
    """

    name: str
    label: str
    dimension: str
    kind: str
    unit: str
    direction: str
    window: str | None
    numerator: CounterExpr | None
    denominator: CounterExpr | None
    attribute: str | None
    weight: float
    weight_range: tuple[float, float]
    goalposts: tuple[float, float] | None
    target: float | None
    levels: tuple[str, ...]
    optional: bool
    shrink: bool
    k: int
    baseline_weeks: int
    gate_min: float | None
    gate_max: float | None
    scope: str
    when_no_data: str
    line: int | None

    @property
    def higher_is_better(self) -> bool:
        return self.direction == "higher_better"


@dataclass(frozen=True)
class Dimension:
    """A dimension groups indicators; ``role`` is ``score`` (enters the index) or ``gate``."""

    name: str
    label: str
    weight: float
    weight_range: tuple[float, float]
    role: str
    line: int | None


@dataclass(frozen=True)
class AhpMatrix:
    """A pairwise comparison matrix over ``order``, its priority vector and consistency ratio."""

    order: tuple[str, ...]
    matrix: np.ndarray = field(compare=False)
    weights: tuple[float, ...]
    consistency_ratio: float


@dataclass(frozen=True)
class Method:
    normalisation: str
    weighting: str
    aggregation: str
    geometric_floor: float
    ahp_dimensions: AhpMatrix | None
    ahp_indicators: Mapping[str, AhpMatrix]


@dataclass(frozen=True)
class LevelRules:
    """Score thresholds of levels A-C (below C is D), the hysteresis margin and the severity-4 hold."""

    thresholds: tuple[float, float, float]
    margin: float
    s4_hold: str | None
    s4_hold_scopes: tuple[str, ...]


@dataclass(frozen=True)
class SmallNumbers:
    shrink: bool
    min_events: int
    min_events_window: str
    duration_prior_n: float


@dataclass(frozen=True)
class Uncertainty:
    draws: int
    weight_spread: float
    normalisations: tuple[str, ...]
    windows: tuple[str, ...]
    seed: int


@dataclass(frozen=True)
class IndexConfig:
    """A validated indicator system. ``version`` is a hash of its content (comments do not count)."""

    name: str
    version: str
    source: str
    indicators: tuple[Indicator, ...]
    dimensions: tuple[Dimension, ...]
    method: Method
    levels: LevelRules
    small_numbers: SmallNumbers
    uncertainty: Uncertainty

    def score_dimensions(self) -> tuple[Dimension, ...]:
        return tuple(d for d in self.dimensions if d.role == "score")

    def scoring_indicators(self, level: str | None = None) -> tuple[Indicator, ...]:
        roles = {d.name: d.role for d in self.dimensions}
        return tuple(
            i
            for i in self.indicators
            if roles[i.dimension] == "score" and (level is None or level in i.levels)
        )

    def gate_indicators(self, level: str | None = None) -> tuple[Indicator, ...]:
        roles = {d.name: d.role for d in self.dimensions}
        return tuple(
            i
            for i in self.indicators
            if roles[i.dimension] == "gate" and (level is None or level in i.levels)
        )

    def windows_used(self) -> frozenset[str]:
        """Window frames the engine must read (``1h`` implies the surge baseline too)."""
        out = {i.window for i in self.indicators if i.window}
        out.add("24h")  # the severity-4 hold
        out.add(self.small_numbers.min_events_window)
        out.update(w for w in self.uncertainty.windows if w != "configured")
        return frozenset(out)


# --------------------------------------------------------------------------------------------- locating


class _Locator:
    """Finds the line of a table header or key in TOML text, for error messages."""

    _HEADER = re.compile(r"^\s*\[\[?\s*([^\]]+?)\s*\]\]?\s*(#.*)?$")
    _KEY = re.compile(r"^\s*([A-Za-z0-9_.\"' -]+?)\s*=")

    def __init__(self, text: str) -> None:
        self.lines = text.splitlines()

    @staticmethod
    def _norm(path: str) -> str:
        return ".".join(p.strip().strip("\"'") for p in path.split("."))

    def table(self, table: str) -> int | None:
        for no, line in enumerate(self.lines, 1):
            m = self._HEADER.match(line)
            if m and self._norm(m.group(1)) == table:
                return no
        return None

    def key(self, table: str, key: str) -> int | None:
        start = self.table(table)
        if start is not None:
            for no in range(start + 1, len(self.lines) + 1):
                line = self.lines[no - 1]
                if self._HEADER.match(line):
                    break
                m = self._KEY.match(line)
                if m and self._norm(m.group(1)) == key:
                    return no
            return start
        # the key may be written dotted in a parent table, e.g. `serious_incidents.window = ...`
        leaf = f"{table.rsplit('.', 1)[-1]}.{key}" if table else key
        for no, line in enumerate(self.lines, 1):
            m = self._KEY.match(line)
            if m and self._norm(m.group(1)) in (key if not table else leaf, f"{table}.{key}"):
                return no
        return None


class _Validator:
    def __init__(self, text: str, source: str) -> None:
        self.loc = _Locator(text)
        self.source = source

    def fail(self, table: str, key: str | None, message: str) -> IndexConfigError:
        line = self.loc.key(table, key) if key else self.loc.table(table)
        fld = f"{table}.{key}" if key else table
        return IndexConfigError(message, source=self.source, line=line, field=fld)

    def table(self, data: Mapping[str, Any], table: str, name: str) -> dict[str, Any]:
        value = data.get(name, {})
        if not isinstance(value, dict):
            raise self.fail(table, name, f"expected a table, got {type(value).__name__}")
        return value

    def no_unknown(self, tbl: Mapping[str, Any], table: str, allowed: Sequence[str]) -> None:
        for key in tbl:
            if key not in allowed:
                raise self.fail(table, key, f"unknown field {key!r}; expected one of {', '.join(allowed)}")

    def choice(
        self, tbl: Mapping[str, Any], table: str, key: str, options: Sequence[str], default: str | None = None
    ) -> str:
        value = tbl.get(key, default)
        if value is None:
            raise self.fail(table, None, f"missing required field {key!r} (one of {', '.join(options)})")
        if value not in options:
            raise self.fail(table, key, f"expected one of {', '.join(options)}, got {value!r}")
        return str(value)

    def number(
        self,
        tbl: Mapping[str, Any],
        table: str,
        key: str,
        default: float | None = None,
        *,
        lo: float | None = None,
        hi: float | None = None,
        required: bool = False,
    ) -> float | None:
        if key not in tbl:
            if required:
                raise self.fail(table, None, f"missing required field {key!r} (a number)")
            return default
        value = tbl[key]
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self.fail(table, key, f"expected a number, got {value!r}")
        if (lo is not None and value < lo) or (hi is not None and value > hi):
            raise self.fail(table, key, f"expected a number in [{lo}, {hi}], got {value!r}")
        return float(value)

    def boolean(self, tbl: Mapping[str, Any], table: str, key: str, default: bool) -> bool:
        value = tbl.get(key, default)
        if not isinstance(value, bool):
            raise self.fail(table, key, f"expected true or false, got {value!r}")
        return value

    def pair(self, tbl: Mapping[str, Any], table: str, key: str) -> tuple[float, float] | None:
        if key not in tbl:
            return None
        value = tbl[key]
        if (
            not isinstance(value, list)
            or len(value) != 2
            or not all(isinstance(v, int | float) and not isinstance(v, bool) for v in value)
        ):
            raise self.fail(table, key, f"expected two numbers [low, high], got {value!r}")
        lo, hi = float(value[0]), float(value[1])
        if not lo < hi:
            raise self.fail(table, key, f"expected low < high, got {value!r}")
        return lo, hi

    def expression(self, tbl: Mapping[str, Any], table: str, key: str) -> CounterExpr | None:
        if key not in tbl:
            return None
        try:
            return parse_expression(tbl[key])
        except ExpressionError as exc:
            raise self.fail(table, key, str(exc)) from exc

    def strings(
        self, tbl: Mapping[str, Any], table: str, key: str, options: Sequence[str], default: Sequence[str]
    ) -> tuple[str, ...]:
        value = tbl.get(key, list(default))
        if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
            raise self.fail(table, key, f"expected a non-empty list of strings from {', '.join(options)}")
        bad = [v for v in value if v not in options]
        if bad:
            raise self.fail(table, key, f"unknown value(s) {bad}; expected from {', '.join(options)}")
        return tuple(value)


# ---------------------------------------------------------------------------------------------- AHP


def ahp_priorities(matrix: np.ndarray) -> tuple[np.ndarray, float, float]:
    """Principal-eigenvector priorities, lambda_max and consistency ratio CR = CI / RI of a matrix.

    CI = (lambda_max - n) / (n - 1); RI is Saaty's random index for order n (CR is 0 for n <= 2).
    """
    a = np.asarray(matrix, dtype=float)
    n = a.shape[0]
    values, vectors = np.linalg.eig(a)
    k = int(np.argmax(values.real))
    lam = float(values[k].real)
    w = np.abs(vectors[:, k].real)
    w = w / w.sum()
    if n <= 2:
        return w, lam, 0.0
    ci = (lam - n) / (n - 1)
    ri = SAATY_RANDOM_INDEX.get(n)
    if ri is None:
        raise ValueError(f"AHP matrices of order {n} are not supported (Saaty's RI table covers 1-10)")
    return w, lam, max(ci, 0.0) / ri


def _ahp(v: _Validator, tbl: Mapping[str, Any], table: str, expected: Sequence[str]) -> AhpMatrix:
    v.no_unknown(tbl, table, ("order", "matrix"))
    order = tbl.get("order")
    if not isinstance(order, list) or sorted(order) != sorted(expected):
        raise v.fail(
            table,
            "order" if "order" in tbl else None,
            f"expected 'order' listing exactly {sorted(expected)}, got {order!r}",
        )
    raw = tbl.get("matrix")
    n = len(order)
    if (
        not isinstance(raw, list)
        or len(raw) != n
        or not all(isinstance(r, list) and len(r) == n for r in raw)
    ):
        raise v.fail(table, "matrix" if "matrix" in tbl else None, f"expected an {n}x{n} matrix of numbers")
    try:
        a = np.array(raw, dtype=float)
    except (TypeError, ValueError) as exc:
        raise v.fail(table, "matrix", f"expected numbers in the matrix: {exc}") from exc
    if (a <= 0).any() or not np.allclose(np.diag(a), 1.0) or not np.allclose(a * a.T, 1.0, rtol=1e-3):
        raise v.fail(
            table,
            "matrix",
            "expected a positive reciprocal matrix (a[i][j] = 1 / a[j][i], ones on the diagonal)",
        )
    w, _, cr = ahp_priorities(a)
    if cr >= 0.1:
        raise v.fail(
            table,
            "matrix",
            f"pairwise judgements are inconsistent: CR = {cr:.3f} (must be < 0.1); revise the comparisons",
        )
    return AhpMatrix(tuple(order), a, tuple(float(x) for x in w), float(cr))


# ------------------------------------------------------------------------------------------- parsing

_INDICATOR_KEYS = (
    "dimension",
    "label",
    "kind",
    "unit",
    "direction",
    "window",
    "numerator",
    "denominator",
    "attribute",
    "weight",
    "weight_range",
    "goalposts",
    "target",
    "levels",
    "optional",
    "shrink",
    "k",
    "baseline_weeks",
    "min",
    "max",
    "scope",
    "when_no_data",
)


def _weight_range(
    v: _Validator, tbl: Mapping[str, Any], table: str, weight: float, spread: float
) -> tuple[float, float]:
    rng = v.pair(tbl, table, "weight_range")
    if rng is None:
        return weight * (1 - spread), weight * (1 + spread)
    if rng[0] < 0:
        raise v.fail(table, "weight_range", f"expected non-negative weights, got {list(rng)}")
    return rng


def _indicator(
    v: _Validator, name: str, tbl: Mapping[str, Any], roles: Mapping[str, str], spread: float
) -> Indicator:
    table = f"indicator.{name}"
    if not isinstance(tbl, dict):
        raise v.fail("indicator", name, "expected a table [indicator.NAME]")
    v.no_unknown(tbl, table, _INDICATOR_KEYS)
    dimension = v.choice(tbl, table, "dimension", tuple(roles))
    gate = roles[dimension] == "gate"
    kind = v.choice(tbl, table, "kind", KINDS, "ratio")
    unit = v.choice(tbl, table, "unit", UNITS_BY_KIND[kind], "ratio" if kind == "surge" else None)
    direction = v.choice(tbl, table, "direction", DIRECTIONS, "higher_better" if gate else None)
    numerator = v.expression(tbl, table, "numerator")
    denominator = v.expression(tbl, table, "denominator")
    attribute = tbl.get("attribute")
    if kind == "attribute":
        if not isinstance(attribute, str) or not attribute:
            raise v.fail(
                table,
                "attribute" if "attribute" in tbl else None,
                "kind 'attribute' needs 'attribute' = the entity attribute column it reads",
            )
        if numerator or denominator:
            raise v.fail(
                table,
                "numerator" if numerator else "denominator",
                "kind 'attribute' reads an entity attribute, not counters",
            )
        window = None
    else:
        if numerator is None:
            raise v.fail(
                table, None, f"missing required field 'numerator' (a counter expression) for kind {kind!r}"
            )
        if attribute is not None:
            raise v.fail(table, "attribute", f"'attribute' is only for kind 'attribute', not {kind!r}")
        if kind == "surge":
            if "window" in tbl and tbl["window"] != "1h":
                raise v.fail(table, "window", "a surge indicator always compares the last hour; use '1h'")
            window = "1h"
        else:
            window = v.choice(tbl, table, "window", GATE_WINDOWS if gate else SCORE_WINDOWS)
    if unit in ("rate", "duration") and kind == "ratio" and denominator is None:
        raise v.fail(table, "unit", f"unit {unit!r} needs a 'denominator' counter expression")
    if denominator is not None and unit not in ("rate", "duration"):
        raise v.fail(
            table, "denominator", f"a denominator only makes sense for units rate and duration, not {unit!r}"
        )
    weight = v.number(tbl, table, "weight", 1.0, lo=0.0)
    assert weight is not None
    goalposts = v.pair(tbl, table, "goalposts")
    if not gate and goalposts is None:
        raise v.fail(table, None, "missing required field 'goalposts' = [low, high] in the indicator's unit")
    target = v.number(tbl, table, "target")
    gate_min = v.number(tbl, table, "min")
    gate_max = v.number(tbl, table, "max")
    if gate and gate_min is None and gate_max is None:
        raise v.fail(table, None, "a gate indicator needs 'min' and/or 'max' (the range that passes)")
    if not gate and (gate_min is not None or gate_max is not None):
        raise v.fail(
            table,
            "min" if gate_min is not None else "max",
            f"'min'/'max' are for gate dimensions; {dimension!r} is scored",
        )
    levels = v.strings(tbl, table, "levels", LEVELS, LEVELS)
    k = v.number(tbl, table, "k", 3, lo=1)
    weeks = v.number(tbl, table, "baseline_weeks", 4, lo=1, hi=5)
    assert k is not None and weeks is not None
    label = tbl.get("label", name)
    if not isinstance(label, str):
        raise v.fail(table, "label", f"expected a string, got {label!r}")
    return Indicator(
        name=name,
        label=label,
        dimension=dimension,
        kind=kind,
        unit=unit,
        direction=direction,
        window=window,
        numerator=numerator,
        denominator=denominator,
        attribute=attribute if kind == "attribute" else None,
        weight=weight,
        weight_range=_weight_range(v, tbl, table, weight, spread),
        goalposts=goalposts,
        target=target,
        levels=levels,
        optional=v.boolean(tbl, table, "optional", False),
        shrink=v.boolean(tbl, table, "shrink", True),
        k=int(k),
        baseline_weeks=int(weeks),
        gate_min=gate_min,
        gate_max=gate_max,
        scope=v.choice(tbl, table, "scope", ("entity", "district", "city"), "entity"),
        when_no_data=v.choice(tbl, table, "when_no_data", ("pass", "fail"), "pass"),
        line=v.loc.table(table),
    )


def parse_config(text: str, source: str = "<string>") -> IndexConfig:
    """Parse and validate a configuration; raises IndexConfigError naming the line and field."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        m = re.search(r"line (\d+)", str(exc))
        raise IndexConfigError(
            f"not valid TOML: {exc}", source=source, line=int(m.group(1)) if m else None, field=None
        ) from exc
    v = _Validator(text, source)
    v.no_unknown(
        data, "", ("index", "method", "levels", "small_numbers", "uncertainty", "dimension", "indicator")
    )

    index = v.table(data, "", "index")
    v.no_unknown(index, "index", ("name", "description"))
    unc = v.table(data, "", "uncertainty")
    v.no_unknown(unc, "uncertainty", ("draws", "weight_spread", "normalisations", "windows", "seed"))
    spread = v.number(unc, "uncertainty", "weight_spread", 0.25, lo=0.0, hi=0.95)
    assert spread is not None

    dims_raw = v.table(data, "", "dimension")
    if not dims_raw:
        raise v.fail("", None, "no [dimension.NAME] tables: the index needs at least one scored dimension")
    dimensions = []
    for name, tbl in dims_raw.items():
        table = f"dimension.{name}"
        if not isinstance(tbl, dict):
            raise v.fail("dimension", name, "expected a table [dimension.NAME]")
        v.no_unknown(tbl, table, ("label", "weight", "weight_range", "role"))
        role = v.choice(tbl, table, "role", ("score", "gate"), "score")
        weight = v.number(tbl, table, "weight", 1.0, lo=0.0)
        assert weight is not None
        dimensions.append(
            Dimension(
                name,
                str(tbl.get("label", name)),
                weight,
                _weight_range(v, tbl, table, weight, spread),
                role,
                v.loc.table(table),
            )
        )
    roles = {d.name: d.role for d in dimensions}
    if not any(r == "score" for r in roles.values()):
        raise v.fail("", None, "every dimension is a gate; at least one must have role = 'score'")

    inds_raw = v.table(data, "", "indicator")
    indicators = tuple(_indicator(v, name, tbl, roles, spread) for name, tbl in inds_raw.items())
    for d in dimensions:
        if d.role == "score" and not any(i.dimension == d.name for i in indicators):
            raise v.fail(f"dimension.{d.name}", None, f"dimension {d.name!r} has no indicator")

    method_tbl = v.table(data, "", "method")
    v.no_unknown(
        method_tbl, "method", ("normalisation", "weighting", "aggregation", "geometric_floor", "ahp")
    )
    weighting = v.choice(method_tbl, "method", "weighting", WEIGHTINGS, "expert")
    ahp_tbl = v.table(method_tbl, "method", "ahp")
    ahp_dims: AhpMatrix | None = None
    ahp_inds: dict[str, AhpMatrix] = {}
    if ahp_tbl:
        v.no_unknown(ahp_tbl, "method.ahp", ("dimensions", "indicators"))
        score_dims = [d.name for d in dimensions if d.role == "score"]
        if "dimensions" in ahp_tbl:
            ahp_dims = _ahp(
                v, v.table(ahp_tbl, "method.ahp", "dimensions"), "method.ahp.dimensions", score_dims
            )
        for dim_name, tbl in v.table(ahp_tbl, "method.ahp", "indicators").items():
            table = f"method.ahp.indicators.{dim_name}"
            if dim_name not in score_dims or not isinstance(tbl, dict):
                raise v.fail(
                    "method.ahp.indicators",
                    dim_name,
                    f"expected a table named after a scored dimension ({', '.join(score_dims)})",
                )
            ahp_inds[dim_name] = _ahp(v, tbl, table, [i.name for i in indicators if i.dimension == dim_name])
    if weighting == "ahp" and ahp_dims is None:
        raise v.fail("method", "weighting", "weighting 'ahp' needs a [method.ahp.dimensions] matrix")
    floor = v.number(method_tbl, "method", "geometric_floor", 1.0, lo=1.0, hi=50.0)
    assert floor is not None
    method = Method(
        normalisation=v.choice(method_tbl, "method", "normalisation", NORMALISATIONS, "goalposts"),
        weighting=weighting,
        aggregation=v.choice(method_tbl, "method", "aggregation", AGGREGATIONS, "geometric"),
        geometric_floor=floor,
        ahp_dimensions=ahp_dims,
        ahp_indicators=ahp_inds,
    )

    lv = v.table(data, "", "levels")
    v.no_unknown(lv, "levels", ("A", "B", "C", "margin", "s4_hold", "s4_hold_scopes"))
    a = v.number(lv, "levels", "A", 80.0, lo=0, hi=100)
    b = v.number(lv, "levels", "B", 60.0, lo=0, hi=100)
    c = v.number(lv, "levels", "C", 40.0, lo=0, hi=100)
    assert a is not None and b is not None and c is not None
    if not a > b > c:
        raise v.fail("levels", "A", f"expected thresholds A > B > C, got A={a}, B={b}, C={c}")
    margin = v.number(lv, "levels", "margin", 3.0, lo=0.0, hi=20.0)
    assert margin is not None
    hold = v.choice(lv, "levels", "s4_hold", ("C", "D", "none"), "C")
    levels = LevelRules(
        (a, b, c),
        margin,
        None if hold == "none" else hold,
        v.strings(lv, "levels", "s4_hold_scopes", LEVELS, ("grid",)),
    )

    sn = v.table(data, "", "small_numbers")
    v.no_unknown(sn, "small_numbers", ("shrink", "min_events", "min_events_window", "duration_prior_n"))
    min_events = v.number(sn, "small_numbers", "min_events", 5, lo=0)
    prior_n = v.number(sn, "small_numbers", "duration_prior_n", 5.0, lo=0.0)
    assert min_events is not None and prior_n is not None
    small = SmallNumbers(
        v.boolean(sn, "small_numbers", "shrink", True),
        int(min_events),
        v.choice(sn, "small_numbers", "min_events_window", SCORE_WINDOWS, "30d"),
        prior_n,
    )

    draws = v.number(unc, "uncertainty", "draws", 1000, lo=10, hi=100_000)
    seed = v.number(unc, "uncertainty", "seed", 0, lo=0)
    assert draws is not None and seed is not None
    uncertainty = Uncertainty(
        int(draws),
        spread,
        v.strings(unc, "uncertainty", "normalisations", NORMALISATIONS, NORMALISATIONS),
        v.strings(unc, "uncertainty", "windows", ("configured", *SCORE_WINDOWS), ("configured", "7d", "30d")),
        int(seed),
    )
    if "target" in uncertainty.normalisations or method.normalisation == "target":
        for ind in indicators:
            if roles[ind.dimension] == "score" and ind.target is None and ind.goalposts is None:
                raise v.fail(
                    f"indicator.{ind.name}", None, "normalisation 'target' needs 'target' or 'goalposts'"
                )

    canonical = json.dumps(data, sort_keys=True, separators=(",", ":"), default=str)
    version = hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:12]
    return IndexConfig(
        name=str(index.get("name", "governance index")),
        version=version,
        source=source,
        indicators=indicators,
        dimensions=tuple(dimensions),
        method=method,
        levels=levels,
        small_numbers=small,
        uncertainty=uncertainty,
    )


def load_config(path: str | Path | None = None) -> IndexConfig:
    """Read and validate the configuration at ``path`` (default: the shipped ``default.toml``)."""
    p = Path(path) if path is not None else DEFAULT_CONFIG_PATH
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise IndexConfigError(
            "file does not exist; pass the path of an index TOML file", source=str(p), line=None, field=None
        ) from exc
    return parse_config(text, source=p.name if path is None else str(p))
