"""Warning levels from an alert budget: recurrence intervals, minimum excess and relative risk, hysteresis.

A detector statistic is turned into a *recurrence interval*: the series-days between chance signals at
least that strong on a series without any disturbance, read from a calibration table measured on
outbreak-free simulations (``benchmarks/warnings.py --calibrate``). A level is reached when the
recurrence interval, the excess over expected and the relative risk all pass that level's minimum. The
shown level rises at once and falls only after the raw level has stayed below it for
``hysteresis_windows`` evaluation windows (so a warning level is a rolling maximum of raw levels).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from metrics.warnings.errors import WarningsConfigError

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]

LEVEL_NAMES = ("none", "blue", "yellow", "orange", "red")


@dataclass(frozen=True)
class LevelSpec:
    """Entry conditions of one warning level."""

    name: str
    recurrence_days: float  # chance signals this strong come at most once per this many series-days
    min_excess: float  # observed - expected, in events, over the detector's window
    min_relative_risk: float  # observed / expected over the same window


@dataclass(frozen=True)
class CalibrationCurve:
    """Monotone map from a detector statistic to log10 recurrence interval in series-days.

    Between the points it interpolates linearly; beyond the last point it extends the least-squares slope
    of the last six points, which for Gaussian-like tails understates the interval (errs towards a lower
    level).
    """

    stat: tuple[float, ...]
    log10_days: tuple[float, ...]

    def __post_init__(self) -> None:
        if len(self.stat) < 2 or len(self.stat) != len(self.log10_days):
            raise WarningsConfigError(
                f"calibration curve needs >= 2 (stat, log10_days) pairs of equal length, got "
                f"{len(self.stat)} and {len(self.log10_days)}"
            )
        if np.any(np.diff(self.stat) <= 0) or np.any(np.diff(self.log10_days) < 0):
            raise WarningsConfigError(
                "calibration curve: stat must increase and log10_days must not decrease"
            )

    def recurrence_days(self, stat: FloatArray) -> FloatArray:
        s = np.asarray(self.stat)
        d = np.asarray(self.log10_days)
        x = np.asarray(stat, dtype=float)
        inside = np.interp(x, s, d)
        tail = slice(-min(6, s.size), None)  # a fit over the last points: the last two are the noisiest
        slope = max(float(np.polyfit(s[tail], d[tail], 1)[0]), 0.0)
        beyond = d[-1] + slope * (x - s[-1])
        log_days = np.where(x > s[-1], beyond, inside)
        return np.where(np.isfinite(x), 10.0**log_days, 0.0)


def raw_level(
    recurrence_days: FloatArray,
    excess: FloatArray,
    relative_risk: FloatArray,
    levels: Sequence[LevelSpec],
) -> IntArray:
    """Highest level (1 = first of ``levels``) whose three entry conditions hold; 0 when none does."""
    out = np.zeros(np.shape(recurrence_days), dtype=np.int64)
    for i, spec in enumerate(levels, start=1):
        ok = (
            (np.asarray(recurrence_days) >= spec.recurrence_days)
            & (np.asarray(excess) >= spec.min_excess)
            & (np.asarray(relative_risk) >= spec.min_relative_risk)
        )
        out = np.where(ok, i, out)
    return out


def hysteresis(raw: IntArray, windows: int = 2) -> IntArray:
    """Shown level along the last axis: rises at once, falls after ``windows`` windows below it.

    Equivalent to the rolling maximum of the raw level over the last ``windows`` windows: a level is
    held while any of them reached it.
    """
    raw = np.asarray(raw)
    out = raw.copy()
    for lag in range(1, windows):
        out[..., lag:] = np.maximum(out[..., lag:], raw[..., :-lag])
    return out


def episode_starts(flags: BoolArray, windows: int = 2) -> BoolArray:
    """Where a warning would be raised: the flag is on and was off for the ``windows`` windows before."""
    flags = np.asarray(flags, dtype=bool)
    start = flags.copy()
    for lag in range(1, windows + 1):
        start[..., lag:] &= ~flags[..., :-lag]
    return start


def calibrate_curve(
    null_stat: FloatArray,
    buckets_per_day: float,
    *,
    windows: int = 2,
    n_points: int = 24,
    min_episodes: int = 10,
) -> CalibrationCurve:
    """Measure recurrence interval vs threshold on outbreak-free statistics ``(series, buckets)``.

    For thresholds spread over the upper tail, counts the warnings that would be raised
    (:func:`episode_starts`) and converts their rate into series-days per chance warning. Only
    thresholds with at least ``min_episodes`` warnings are kept, so the curve is not read from noise;
    beyond them :class:`CalibrationCurve` extrapolates.
    """
    stat = np.asarray(null_stat, dtype=float)
    series_days = stat.shape[0] * stat.shape[-1] / buckets_per_day
    finite = stat[np.isfinite(stat)]
    lo = float(np.quantile(finite, 0.99))
    hi = float(np.quantile(finite, 1 - min(0.5, 4.0 * min_episodes / finite.size)))
    grid = np.linspace(lo, max(hi, lo + 1e-6), n_points)
    pts_s: list[float] = []
    pts_d: list[float] = []
    for thr in grid:
        count = int(episode_starts(np.nan_to_num(stat, nan=-np.inf) >= thr, windows).sum())
        if count < min_episodes:
            break
        pts_s.append(float(thr))
        pts_d.append(float(np.log10(series_days / count)))
    if len(pts_s) < 2:
        raise WarningsConfigError(
            "calibrate_curve: too few chance warnings to calibrate; simulate more series-days"
        )
    d = np.maximum.accumulate(np.asarray(pts_d))
    return CalibrationCurve(
        stat=tuple(round(float(v), 4) for v in pts_s), log10_days=tuple(round(float(v), 4) for v in d)
    )


__all__ = [
    "LEVEL_NAMES",
    "CalibrationCurve",
    "LevelSpec",
    "calibrate_curve",
    "episode_starts",
    "hysteresis",
    "raw_level",
]
