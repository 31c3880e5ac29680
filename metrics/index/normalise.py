"""Normalisation of raw indicator values to 0-100 scores (100 = best), column by column."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy.special import ndtr

from metrics.index.config import Indicator


def goalposts(values: np.ndarray, low: float, high: float, higher_is_better: bool) -> np.ndarray:
    """100 (x - low) / (high - low), reversed when lower is better, clipped to [0, 100]."""
    t = (np.asarray(values, dtype=float) - low) / (high - low)
    if not higher_is_better:
        t = 1.0 - t
    return 100.0 * np.clip(t, 0.0, 1.0)


def min_max(values: np.ndarray, higher_is_better: bool) -> np.ndarray:
    """100 (x - min) / (max - min) over the entities given; 50 for all when they are all equal."""
    x = np.asarray(values, dtype=float)
    if np.all(np.isnan(x)):
        return x.copy()
    lo, hi = np.nanmin(x), np.nanmax(x)
    if hi - lo <= 1e-12 * max(1.0, abs(hi)):
        return np.where(np.isnan(x), np.nan, 50.0)
    t = (x - lo) / (hi - lo)
    return 100.0 * (t if higher_is_better else 1.0 - t)


def z_score(values: np.ndarray, higher_is_better: bool) -> np.ndarray:
    """100 Phi(z), z = (x - mean) / sd over the entities given (population sd); 50 when sd = 0."""
    x = np.asarray(values, dtype=float)
    if np.all(np.isnan(x)):
        return x.copy()
    mean, sd = np.nanmean(x), np.nanstd(x)
    if sd <= 1e-12 * max(1.0, abs(mean)):
        return np.where(np.isnan(x), np.nan, 50.0)
    z = (x - mean) / sd
    return 100.0 * ndtr(z if higher_is_better else -z)


def distance_to_target(values: np.ndarray, target: float, higher_is_better: bool) -> np.ndarray:
    """CityScore ratio capped at the target: 100 min(1, x / T), or 100 min(1, T / x) when lower is better."""
    x = np.asarray(values, dtype=float)
    with np.errstate(all="ignore"):
        if higher_is_better:
            ratio = np.where(x > 0, x / target, 0.0)
        else:
            ratio = np.where(x > target, target / np.where(x > 0, x, 1.0), 1.0)
    return np.where(np.isnan(x), np.nan, 100.0 * np.clip(ratio, 0.0, 1.0))


def target_of(ind: Indicator) -> float:
    """An indicator's target: its own, else the middle of its goalposts (positive for any goalposts)."""
    if ind.target is not None and ind.target > 0:
        return ind.target
    assert ind.goalposts is not None
    lo, hi = ind.goalposts
    mid = (lo + hi) / 2.0
    return mid if mid > 0 else hi


def normalise(values: np.ndarray, indicators: Sequence[Indicator], method: str) -> np.ndarray:
    """Scores 0-100 for a matrix of raw values (entities x indicators); NaN stays NaN."""
    x = np.asarray(values, dtype=float)
    out = np.empty_like(x)
    for j, ind in enumerate(indicators):
        col = x[:, j]
        if method == "goalposts":
            assert ind.goalposts is not None
            out[:, j] = goalposts(col, *ind.goalposts, ind.higher_is_better)
        elif method == "minmax":
            out[:, j] = min_max(col, ind.higher_is_better)
        elif method == "zscore":
            out[:, j] = z_score(col, ind.higher_is_better)
        elif method == "target":
            out[:, j] = distance_to_target(col, target_of(ind), ind.higher_is_better)
        else:
            raise ValueError(f"unknown normalisation {method!r}")
    return out
