"""Temporal detectors over series of counts or standardised scores; time is the last axis.

- :func:`cusum`: one-sided upper CUSUM on standardised scores, for small sustained shifts.
- :func:`ewma`: EWMA of standardised scores, standardised by its exact variance, in the manner of
  ESSENCE's EWMA (the NB model plays the part of ESSENCE's 28-day baseline with a guard band).
- :func:`window_score`: the NB tail test of the last hours' total against its expected total, matched
  to outbreaks lasting a day or two.
- :func:`ears`: the CDC's EARS C1, C2 and C3, the fallback while a series has too little history.

Every function is vectorised over leading axes (series, replicates).
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import numpy.typing as npt

from metrics.warnings.errors import WarningsError
from metrics.warnings.nbmodel import nb_score

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


def cusum(z: FloatArray, k: float = 0.5, s0: FloatArray | float = 0.0) -> tuple[FloatArray, IntArray]:
    """Upper CUSUM ``S_t = max(0, S_{t-1} + z_t - k)`` and the length of the current run.

    ``run[t]`` counts the buckets since ``S`` was last 0 (0 when ``S_t = 0``): the window the alarm's
    observed-vs-expected explanation sums over. ``k`` is half the shift (in SD) the chart is tuned to.
    """
    z = np.asarray(z, dtype=float)
    out = np.empty_like(z)
    run = np.zeros(z.shape, dtype=np.int64)
    s = np.broadcast_to(np.asarray(s0, dtype=float), z.shape[:-1]).copy()
    r = np.zeros(z.shape[:-1], dtype=np.int64)
    for t in range(z.shape[-1]):
        s = np.maximum(0.0, s + np.nan_to_num(z[..., t]) - k)
        r = np.where(s > 0, r + 1, 0)
        out[..., t] = s
        run[..., t] = r
    return out, run


def ewma(z: FloatArray, lam: float = 0.4) -> FloatArray:
    """EWMA ``E_t = lam z_t + (1-lam) E_{t-1}`` (``E_0 = 0``) divided by its SD under N(0, 1) scores.

    The SD is the exact ``sqrt(lam/(2-lam) · (1-(1-lam)^{2t}))``, so the first buckets of a window are
    not over-weighted. Returns the standardised EWMA, approximately N(0, 1) without a shift.
    """
    if not 0 < lam <= 1:
        raise WarningsError(f"ewma: lam must be in (0, 1], got {lam}")
    z = np.asarray(z, dtype=float)
    out = np.empty_like(z)
    e = np.zeros(z.shape[:-1])
    for t in range(z.shape[-1]):
        e = lam * np.nan_to_num(z[..., t]) + (1 - lam) * e
        sd = np.sqrt(lam / (2 - lam) * (1 - (1 - lam) ** (2 * (t + 1))))
        out[..., t] = e / sd
    return out


def ewma_span(lam: float) -> int:
    """Buckets that carry most of an EWMA's weight, ``(2 - lam)/lam``: the window its explanation sums."""
    return max(1, round((2 - lam) / lam))


def _sliding(y: FloatArray, lag_lo: int, lag_hi: int, step: int) -> FloatArray:
    """``(..., T, m)`` values at lags lag_lo..lag_hi periods of ``step`` buckets; NaN before the start."""
    lags = np.arange(lag_lo, lag_hi + 1) * step
    t = y.shape[-1]
    padded = np.concatenate([np.full((*y.shape[:-1], lags.max()), np.nan), y], axis=-1)
    idx = np.arange(t)[:, None] + lags.max() - lags[None, :]
    return padded[..., idx]


def ears_baseline(
    y: FloatArray, method: Literal["C1", "C2", "C3"] = "C2", *, baseline: int = 7, step: int = 1
) -> tuple[FloatArray, FloatArray]:
    """EARS baseline mean and sample SD per bucket (NaN while the baseline is incomplete)."""
    base = _sliding(y, 1, baseline, step) if method == "C1" else _sliding(y, 3, baseline + 2, step)
    complete = np.isfinite(base).all(axis=-1)
    filled = np.where(np.isfinite(base), base, 0.0)
    mean = filled.mean(axis=-1)
    sd = np.sqrt(((filled - mean[..., None]) ** 2).sum(axis=-1) / (baseline - 1))
    return np.where(complete, mean, np.nan), np.where(complete, sd, np.nan)


def ears(
    y: FloatArray,
    method: Literal["C1", "C2", "C3"] = "C2",
    *,
    baseline: int = 7,
    step: int = 1,
    min_sd: float = 0.5,
) -> FloatArray:
    """EARS statistic per bucket (NaN while the baseline is incomplete).

    - C1: ``(y_t - mean) / sd`` over the ``baseline`` periods just before ``t``.
    - C2: the same over periods ``t-3 … t-(baseline+2)`` (a two-period guard band).
    - C3: ``Σ_{i=t-2}^{t} max(0, C2_i - 1)``.

    The usual alarm thresholds are 3 (C1, C2) and 2 (C3). ``step`` is the spacing of a period in buckets
    (24 on hourly 24-hour rolling sums compares each hour with the same hour on earlier days). ``sd`` is
    the sample SD, floored at ``min_sd`` so a flat baseline does not give an infinite statistic.
    """
    y = np.asarray(y, dtype=float)
    if method not in ("C1", "C2", "C3"):
        raise WarningsError(f"ears: method must be C1, C2 or C3, got {method!r}")
    mean, sd = ears_baseline(y, method, baseline=baseline, step=step)
    stat = (y - mean) / np.maximum(sd, min_sd)
    if method != "C3":
        return stat
    excess = np.maximum(0.0, stat - 1.0)
    c3 = np.full_like(stat, np.nan)
    c3[..., 2 * step :] = 0.0
    for lag in range(3):
        shifted = excess[..., 2 * step - lag * step : stat.shape[-1] - lag * step]
        c3[..., 2 * step :] = c3[..., 2 * step :] + shifted
    return c3


def rolling_sum(y: FloatArray, width: int) -> FloatArray:
    """Sum of the last ``width`` buckets at each bucket (NaN until ``width`` buckets exist)."""
    y = np.asarray(y, dtype=float)
    c = np.cumsum(np.nan_to_num(y), axis=-1)
    out = np.full_like(y, np.nan)
    out[..., width - 1] = c[..., width - 1]
    out[..., width:] = c[..., width:] - c[..., :-width]
    return out


def trailing_sum(y: FloatArray, width: int) -> FloatArray:
    """Sum of the last ``width`` buckets at each bucket, the first buckets summing what exists so far."""
    y = np.nan_to_num(np.asarray(y, dtype=float))
    c = np.concatenate([np.zeros((*y.shape[:-1], 1)), np.cumsum(y, axis=-1)], axis=-1)
    t = np.arange(y.shape[-1])
    return c[..., t + 1] - c[..., np.clip(t + 1 - width, 0, None)]


def window_score(counts: FloatArray, expected: FloatArray, alpha: FloatArray, width: int) -> FloatArray:
    """Standardised score of each trailing ``width``-bucket total against its expected total.

    The buckets are independent NB2(mu_t, alpha), so their total has mean ``M = Σ mu_t`` and variance
    ``M + alpha Σ mu_t²``; it is tested as NB2(M, alpha_w) with ``alpha_w = alpha Σ mu_t² / M²``, which
    matches both moments, and scored with the mid-p normal quantile of
    :func:`metrics.warnings.nbmodel.nb_score`. Evaluated at every bucket (an outbreak is seen as soon as
    its excess fills enough of the window); windows at the start of the series are shorter.
    """
    if width < 1:
        raise WarningsError(f"window_score: width must be >= 1, got {width}")
    mu = np.asarray(expected, dtype=float)
    a = np.broadcast_to(np.asarray(alpha, dtype=float), mu.shape)
    total = trailing_sum(mu, width)
    alpha_w = trailing_sum(a * mu**2, width) / np.maximum(total, 1e-300) ** 2
    return nb_score(trailing_sum(counts, width), total, alpha_w)


__all__ = ["cusum", "ears", "ears_baseline", "ewma", "ewma_span", "rolling_sum", "trailing_sum", "window_score"]
