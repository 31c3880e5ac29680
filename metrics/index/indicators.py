"""Raw indicator values per entity, in each indicator's unit, from counter frames and attributes."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from metrics.index.config import IndexConfig, Indicator
from metrics.index.errors import IndexInputError
from metrics.index.expr import CounterExpr, parse_expression
from metrics.index.smoothing import shrink_mean, shrink_poisson, shrink_share
from metrics.index.vocabulary import BASELINE_FRAME, EVENTS_EXPRESSION, S4_EXPRESSION, WINDOWS

_S4 = parse_expression(S4_EXPRESSION)
_EVENTS = parse_expression(EVENTS_EXPRESSION)
_DAY = 86_400.0


class _Matrix:
    """A counters frame as one float matrix, so an expression is a matrix-vector product."""

    def __init__(self, frame: pd.DataFrame) -> None:
        self.positions = {str(c): k for k, c in enumerate(frame.columns.tolist())}
        self.values = frame.to_numpy(dtype=float)
        self._coef: dict[str, np.ndarray] = {}

    def evaluate(self, expr: CounterExpr) -> np.ndarray:
        coef = self._coef.get(expr.text)
        if coef is None:
            coef = self._coef[expr.text] = expr.coefficients(self.positions)
        nz = np.flatnonzero(coef)
        if nz.size == 0:
            return np.zeros(self.values.shape[0])
        return self.values[:, nz] @ coef[nz]


@dataclass(frozen=True)
class LevelData:
    """Counters and attributes of one level (``grid``, ``district`` or ``city``) at one moment.

    Attributes:
        frames: window name (``1h``, ``24h``, ``7d``, ``30d``, and ``1h_baseline`` = the mean of the
            same hour of week over the previous weeks) -> counters frame as ``window_frame`` returns it.
        attributes: one row per entity (this index defines the entities): ``population`` (residents),
            ``area_km2``; ``district_code`` for cells; optional ``cameras`` and hazard-register columns.
    """

    frames: Mapping[str, pd.DataFrame]
    attributes: pd.DataFrame


@dataclass(frozen=True)
class CityData:
    """The three levels at one moment; ``as_of`` is the epoch second (UTC) the windows end at."""

    grid: LevelData
    district: LevelData
    city: LevelData
    as_of: float | None = None
    # frames converted to matrices, shared by every reader of this moment (levels, uncertainty draws)
    matrices: dict[tuple[str, str], _Matrix] = field(default_factory=dict, compare=False, repr=False)

    def level(self, name: str) -> LevelData:
        return {"grid": self.grid, "district": self.district, "city": self.city}[name]


@dataclass(frozen=True)
class RawLevel:
    """Raw values (entities x indicators, NaN = no data), gate values, and per-entity facts."""

    values: pd.DataFrame
    gates: pd.DataFrame
    s4_24h: np.ndarray
    events: np.ndarray
    skipped: tuple[str, ...] = field(default=())


def entity_attributes(districts: pd.DataFrame, grids: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """Attributes of the three levels from the city model's ``districts`` and ``grids`` frames.

    A cell's population is its district's population apportioned by area (the city model has no
    residents per cell); an optional ``cameras`` column is summed upward when present on cells.
    """
    d = districts[["population", "area_km2"]].astype(float).copy()
    g = grids[["district_code", "area_km2"]].copy()
    g["area_km2"] = g["area_km2"].astype(float)
    density = (d["population"] / d["area_km2"].where(d["area_km2"] > 0)).reindex(g["district_code"])
    g["population"] = density.to_numpy() * g["area_km2"].to_numpy()
    g["population"] = g["population"].fillna(0.0)
    if "cameras" in grids.columns:
        g["cameras"] = grids["cameras"].astype(float)
        d["cameras"] = g.groupby("district_code")["cameras"].sum().reindex(d.index).fillna(0.0)
    city = pd.DataFrame({c: [float(d[c].sum())] for c in d.columns}, index=pd.Index(["city"], name="entity"))
    return {"grid": g, "district": d, "city": city}


def _frame(level: LevelData, window: str, index: pd.Index, level_name: str) -> pd.DataFrame:
    try:
        frame = level.frames[window]
    except KeyError as exc:
        raise IndexInputError(
            f"{level_name} frames have no {window!r} window (have {sorted(level.frames)}); the engine must "
            f"read every window the configuration uses"
        ) from exc
    if frame.index.equals(index):
        return frame
    return frame.reindex(index, fill_value=0.0)


def _exposure(ind: Indicator, attrs: pd.DataFrame, days: float) -> np.ndarray | None:
    """Exposure in the unit's denominator (None: unit has none); <= 0 or missing becomes NaN later."""
    column = {"per_10k": "population", "per_km2": "area_km2", "per_camera": "cameras"}.get(ind.unit)
    if column is None:
        return None
    if column not in attrs.columns:
        return np.full(len(attrs), np.nan)
    base = attrs[column].to_numpy(dtype=float)
    if ind.unit == "per_10k":
        base = base / 10_000.0
    return base * days


def _divide(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    with np.errstate(all="ignore"):
        return np.where(den > 0, num / np.where(den > 0, den, 1.0), np.nan)


class _LevelReader:
    """Evaluates indicators on one level, caching frames as matrices."""

    def __init__(self, config: IndexConfig, level_name: str, data: CityData) -> None:
        self.config = config
        self.level_name = level_name
        self.data = data
        self.level = data.level(level_name)
        self.attrs = self.level.attributes
        self.index = self.attrs.index
        self._groups: np.ndarray | None = None

    def frame(self, window: str) -> _Matrix:
        key = (self.level_name, window)
        cache = self.data.matrices
        if key not in cache:
            cache[key] = _Matrix(_frame(self.level, window, self.index, self.level_name))
        return cache[key]

    def groups(self) -> np.ndarray:
        if self._groups is None:
            codes, _ = pd.factorize(self.attrs["district_code"].astype(str), sort=True)
            self._groups = np.where(codes < 0, 0, codes).astype(np.int64)
        return self._groups

    def ratio(self, ind: Indicator, window: str, shrink: bool) -> np.ndarray:
        assert ind.numerator is not None
        frame = self.frame(window)
        num = frame.evaluate(ind.numerator)
        days = WINDOWS[window] / _DAY
        if ind.unit == "count":
            return num
        if ind.unit in ("rate", "duration"):
            assert ind.denominator is not None
            den = frame.evaluate(ind.denominator)
            scale = 1 / 60.0 if ind.unit == "duration" else 1.0
            if shrink:
                if ind.unit == "rate":
                    return shrink_share(num, den, self.groups())
                return shrink_mean(
                    num * scale, den, self.groups(), self.config.small_numbers.duration_prior_n
                )
            return _divide(num * scale, den)
        exposure = _exposure(ind, self.attrs, days)
        assert exposure is not None
        if shrink:
            return shrink_poisson(num, np.nan_to_num(exposure), self.groups())
        return _divide(num, exposure)

    def surge(self, ind: Indicator) -> np.ndarray:
        assert ind.numerator is not None
        observed = self.frame("1h").evaluate(ind.numerator)
        expected = self.frame(BASELINE_FRAME).evaluate(ind.numerator)
        # +1 on both sides: an hour with no history and no events is "as expected" (1.0), and one
        # event against an empty baseline is a surge of 2, not infinity.
        return (observed + 1.0) / (expected + 1.0)

    def repeat_places(self, ind: Indicator, grid_counts: pd.Series) -> np.ndarray:
        repeat = (grid_counts >= ind.k).astype(float)
        if self.level_name == "grid":
            count = repeat.reindex(self.index, fill_value=0.0).to_numpy()
            cells = np.ones(len(self.index))
        elif self.level_name == "district":
            districts = self.data.grid.attributes["district_code"].reindex(repeat.index)
            count = repeat.groupby(districts).sum().reindex(self.index, fill_value=0.0).to_numpy()
            cells = (
                self.data.grid.attributes.groupby("district_code")
                .size()
                .reindex(self.index, fill_value=0)
                .to_numpy(dtype=float)
            )
        else:
            count = np.full(len(self.index), float(repeat.sum()))
            cells = np.full(len(self.index), float(len(self.data.grid.attributes)))
        if ind.unit == "count":
            return count
        if ind.unit == "share":
            return _divide(count, cells)
        exposure = _exposure(ind, self.attrs, 1.0)
        assert exposure is not None
        return _divide(count, exposure)

    def attribute(self, ind: Indicator) -> np.ndarray | None:
        assert ind.attribute is not None
        if ind.attribute not in self.attrs.columns:
            if ind.optional:
                return None
            raise IndexInputError(
                f"indicator {ind.name!r} reads attribute {ind.attribute!r}, which {self.level_name} "
                "attributes "
                f"lack (have {sorted(self.attrs.columns)}); add it or mark the indicator optional = true"
            )
        values = self.attrs[ind.attribute].to_numpy(dtype=float)
        exposure = _exposure(ind, self.attrs, 1.0)
        return values if exposure is None else _divide(values, exposure)


def _grid_counts(grid: _LevelReader, ind: Indicator) -> pd.Series:
    assert ind.numerator is not None and ind.window is not None
    return pd.Series(grid.frame(ind.window).evaluate(ind.numerator), index=grid.index)


def raw_values(
    config: IndexConfig, level_name: str, data: CityData, window_override: str | None = None
) -> RawLevel:
    """Raw value of every indicator of ``level_name``, plus gate values, severity-4 and event counts.

    ``window_override`` replaces the window of ratio indicators (the uncertainty analysis uses it;
    surge, repeat-place and attribute indicators keep theirs). Optional attribute indicators whose
    column is absent are left out and listed in ``skipped``.
    """
    reader = _LevelReader(config, level_name, data)
    grid_reader = reader if level_name == "grid" else _LevelReader(config, "grid", data)
    shrink_level = level_name == "grid" and config.small_numbers.shrink
    if shrink_level and "district_code" not in reader.attrs.columns:
        raise IndexInputError("grid attributes need a 'district_code' column (shrinkage and repeat places)")
    columns: dict[str, np.ndarray] = {}
    skipped: list[str] = []
    for ind in config.scoring_indicators(level_name):
        if ind.kind == "ratio":
            window = window_override or ind.window
            assert window is not None
            columns[ind.name] = reader.ratio(ind, window, shrink_level and ind.shrink)
        elif ind.kind == "surge":
            columns[ind.name] = reader.surge(ind)
        elif ind.kind == "repeat_places":
            columns[ind.name] = reader.repeat_places(ind, _grid_counts(grid_reader, ind))
        else:
            value = reader.attribute(ind)
            if value is None:
                skipped.append(ind.name)
            else:
                columns[ind.name] = value
    gates = gate_values(config, level_name, data, reader)
    return RawLevel(
        values=pd.DataFrame(columns, index=reader.index),
        gates=gates,
        s4_24h=reader.frame("24h").evaluate(_S4),
        events=reader.frame(config.small_numbers.min_events_window).evaluate(_EVENTS),
        skipped=tuple(skipped),
    )


def gate_values(
    config: IndexConfig, level_name: str, data: CityData, reader: _LevelReader | None = None
) -> pd.DataFrame:
    """Pass (True) / fail (False) of each gate indicator per entity of ``level_name``.

    Scope ``district`` judges a cell by its district's value and ``city`` every entity by the city's.
    """
    reader = reader or _LevelReader(config, level_name, data)
    out: dict[str, np.ndarray] = {}
    for ind in config.gate_indicators():
        scope_level = {
            "entity": level_name,
            "district": "district" if level_name == "grid" else level_name,
            "city": "city",
        }[ind.scope]
        src = reader if scope_level == level_name else _LevelReader(config, scope_level, data)
        if ind.kind == "attribute":
            value = src.attribute(ind)
            if value is None:
                continue
        elif ind.kind == "surge":
            value = src.surge(ind)
        else:
            assert ind.window is not None
            value = src.ratio(ind, ind.window, shrink=False)
        passed = np.ones(len(value), dtype=bool)
        if ind.gate_min is not None:
            passed &= value >= ind.gate_min
        if ind.gate_max is not None:
            passed &= value <= ind.gate_max
        passed = np.where(np.isnan(value), ind.when_no_data == "pass", passed)
        series = pd.Series(passed, index=src.index)
        if scope_level == "city":
            out[ind.name] = np.full(len(reader.index), bool(series.iloc[0]))
        elif scope_level != level_name:
            out[ind.name] = (
                series.reindex(reader.attrs["district_code"])
                .fillna(ind.when_no_data == "pass")
                .to_numpy(dtype=bool)
            )
        else:
            out[ind.name] = series.to_numpy(dtype=bool)
    return pd.DataFrame(out, index=reader.index)
