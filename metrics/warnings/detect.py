"""One detection cycle over many series: scores, detectors, levels and explained warning candidates.

Pure: the engine hands in counts per bucket (the last bucket may be the current, unfinished one) and
the expected counts of the fitted model (for the unfinished bucket already multiplied by
:meth:`metrics.warnings.nbmodel.NBFit.elapsed_fraction`), and gets back arrays and
:class:`Candidate` warnings with their explanation. The detection window is recomputed every cycle
(CUSUM and EWMA start at 0 at its first bucket), so no detector state has to be stored.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt
from scipy import sparse
from scipy.sparse import csgraph

from metrics.warnings.config import WarningsConfig
from metrics.warnings.errors import WarningsError
from metrics.warnings.levels import LEVEL_NAMES, hysteresis, raw_level
from metrics.warnings.nbmodel import MAX_MOMENT_ALPHA, nb_score, nb_sf_ge, score_moments
from metrics.warnings.spatial import getis_ord_gi_star, gi_star_model, hot_cells, upper_p
from metrics.warnings.temporal import (
    cusum,
    ears,
    ears_baseline,
    ewma,
    ewma_span,
    rolling_sum,
    window_score,
)

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

TEMPORAL_DETECTORS = ("spike", "cusum", "ewma", "window")
FALLBACK_DETECTORS = ("ears_c2", "ears_c3")


@dataclass(frozen=True)
class SeriesKey:
    """Which series a row of counts is: area (scope, target) and stream/category (``*`` for all)."""

    scope: str  # "city", "district", "street" or "grid"
    target: str  # "city", a district_code, street_code or grid_id
    stream: str
    category: str

    @property
    def series_id(self) -> str:
        return f"{self.scope}:{self.target}:{self.stream}.{self.category}"


@dataclass(frozen=True)
class Explanation:
    """Why a warning was raised, in the terms an operator checks."""

    detector: str
    observed: float
    expected: float
    p_value: float
    recurrence_days: float
    window_start: float  # epoch s
    window_end: float  # epoch s (the cycle's ``now`` for an unfinished bucket)
    area: str  # "scope:target"
    series_ids: tuple[str, ...]
    cells: tuple[str, ...] = ()
    #: counter names (``<stream>.<category>.<measure>``, ``*`` for every category) behind the figures
    counters: tuple[str, ...] = ()
    #: what the expected count came from: ``nb`` (fitted model), ``ears``, ``profile`` (short history),
    #: ``rule`` (a threshold: ``expected`` is the threshold) or ``hazard``
    baseline: str = ""
    #: the sentence to show instead of the generated one (rules and hazard warnings write their own)
    summary: str = ""

    @property
    def relative_risk(self) -> float:
        return self.observed / self.expected if self.expected > 0 else float("inf")

    def text(self) -> str:
        if self.summary:
            return self.summary
        hours = (self.window_end - self.window_start) / 3600.0
        return (
            f"{self.detector}: {self.observed:.0f} observed vs {self.expected:.1f} expected "
            f"over {hours:.3g} h (x{self.relative_risk:.2f}) in {self.area}; p={self.p_value:.2g}, "
            f"about once in {self.recurrence_days:,.0f} series-days by chance"
        )


@dataclass(frozen=True)
class Candidate:
    """A detector's warning for one fingerprint at one cycle; the lifecycle dedups and tracks it."""

    detector: str
    stream: str
    category: str
    scope: str
    target: str
    level: int  # 1 blue .. 4 red
    at: float
    explanation: Explanation
    #: what one warning is about beyond its area, when several may be open there at once (a hazard id,
    #: the time bucket of a rule hit); empty for the statistical detectors
    subject: str = ""

    @property
    def level_name(self) -> str:
        return LEVEL_NAMES[self.level]


@dataclass(frozen=True)
class TemporalResult:
    """Per-series, per-bucket detector output of :func:`temporal_detect` (all ``(S, T)``)."""

    detectors: tuple[str, ...]
    stat: dict[str, FloatArray]
    recurrence_days: dict[str, FloatArray]
    observed: dict[str, FloatArray]
    expected: dict[str, FloatArray]
    window: dict[str, IntArray]
    raw_level: IntArray
    level: IntArray
    best: IntArray  # index into detectors of the detector behind the raw level
    extra: dict[str, FloatArray] = field(default_factory=dict)


def _window_sums(values: FloatArray, width: IntArray) -> FloatArray:
    """Sum of the last ``width[s, t]`` buckets ending at t (width >= 1, clipped to the series start)."""
    c = np.concatenate([np.zeros((*values.shape[:-1], 1)), np.cumsum(values, axis=-1)], axis=-1)
    t = np.arange(values.shape[-1])
    start = np.clip(t + 1 - width, 0, None)
    return np.take_along_axis(c, t + 1 + np.zeros_like(width), axis=-1) - np.take_along_axis(
        c, start, axis=-1
    )


def _combine(
    result_stat: dict[str, FloatArray],
    observed: dict[str, FloatArray],
    expected: dict[str, FloatArray],
    window: dict[str, IntArray],
    detectors: tuple[str, ...],
    config: WarningsConfig,
    extra: dict[str, FloatArray],
    *,
    shares: Mapping[str, float],
    factor: float = 1.0,
) -> TemporalResult:
    """Levels of several detectors OR-ed within one alert budget.

    Each detector's recurrence interval is multiplied by its share of the budget (``shares``, summing
    to 1: the detector then warns at ``share / R`` per series-day where the set warns at ``1 / R``) and
    divided by ``factor``, the measured ratio of the OR's chance rate to that sum (below 1 when the
    detectors overlap).
    """
    ri: dict[str, FloatArray] = {}
    levels = []
    for name in detectors:
        curve = config.calibration.get(name)
        if curve is None:
            raise WarningsError(
                f"no calibration curve for detector {name!r}; run benchmarks/warnings.py --calibrate"
            )
        ri[name] = curve.recurrence_days(result_stat[name]) * shares[name] / factor
        rr = np.where(expected[name] > 0, observed[name] / np.maximum(expected[name], 1e-12), np.inf)
        levels.append(raw_level(ri[name], observed[name] - expected[name], rr, config.levels))
    stacked = np.stack(levels)
    ri_stack = np.stack([ri[n] for n in detectors])
    # strongest level first, then the rarest chance signal
    best = np.lexsort((ri_stack, stacked), axis=0)[-1] if len(detectors) > 1 else np.zeros_like(stacked[0])
    raw = stacked.max(axis=0)
    return TemporalResult(
        detectors=detectors,
        stat=result_stat,
        recurrence_days=ri,
        observed=observed,
        expected=expected,
        window=window,
        raw_level=raw,
        level=hysteresis(raw, config.hysteresis_windows),
        best=best,
        extra=extra,
    )


def temporal_stats(
    counts: FloatArray, expected: FloatArray, alpha: FloatArray, config: WarningsConfig
) -> tuple[dict[str, FloatArray], dict[str, IntArray], FloatArray]:
    """Each temporal detector's statistic and explanation window ``(S, T)``, and the hourly scores.

    - ``spike``: the bucket's standardised score (NB tail test of one bucket);
    - ``cusum``, ``ewma``: on the hourly scores;
    - ``window``: the NB tail test of the last ``nb_window_hours`` buckets' total against its expected
      total (:func:`metrics.warnings.temporal.window_score`), the detector matched to outbreaks of a day
      or two.
    """
    y = np.asarray(counts, dtype=float)
    mu = np.asarray(expected, dtype=float)
    if y.shape != mu.shape:
        raise WarningsError(f"temporal_detect: counts {y.shape} and expected {mu.shape} differ")
    a = np.broadcast_to(np.asarray(alpha, dtype=float)[:, None], y.shape)
    z = nb_score(y, mu, a)
    det = config.detectors
    cs, run = cusum(z, det.cusum_k)
    ew = ewma(z, det.ewma_lambda)
    windows = {
        "spike": np.ones(y.shape, dtype=np.int64),
        "cusum": np.maximum(run, 1),
        "ewma": np.full(y.shape, ewma_span(det.ewma_lambda), dtype=np.int64),
        "window": np.full(y.shape, det.nb_window_hours, dtype=np.int64),
    }
    stat = {"spike": z, "cusum": cs, "ewma": ew, "window": window_score(y, mu, a, det.nb_window_hours)}
    return stat, windows, z


def temporal_detect(
    counts: FloatArray, expected: FloatArray, alpha: FloatArray, config: WarningsConfig
) -> TemporalResult:
    """Spike (NB tail), CUSUM, EWMA and the windowed NB test on ``counts`` ``(S, T)``, OR-ed within the
    alert budget.

    ``expected`` is the model's expected count per bucket (scaled for an unfinished last bucket) and
    ``alpha`` the NB2 dispersion per series.
    """
    y = np.asarray(counts, dtype=float)
    mu = np.asarray(expected, dtype=float)
    stat, windows, z = temporal_stats(y, mu, alpha, config)
    a = np.asarray(alpha, dtype=float)[:, None]
    observed = {k: _window_sums(y, w) for k, w in windows.items()}
    exp_w = {k: _window_sums(mu, w) for k, w in windows.items()}
    # each window's own NB2 dispersion, for the explanation's p-value
    extra = {"z": z} | {
        f"alpha_{k}": _window_sums(a * mu**2, w) / np.maximum(exp_w[k], 1e-300) ** 2 for k, w in windows.items()
    }
    return _combine(
        stat,
        observed,
        exp_w,
        windows,
        TEMPORAL_DETECTORS,
        config,
        extra,
        shares=config.detectors.budget,
        factor=config.combined_factor,
    )


def spike_detect(
    counts: FloatArray, expected: FloatArray, alpha: FloatArray, config: WarningsConfig
) -> TemporalResult:
    """The spike test alone (NB tail of each bucket), for baselines too rough for CUSUM and EWMA: a
    short-history profile accumulates its bias in a CUSUM or an EWMA, but a single bucket's tail test
    only needs the expected count to be about right."""
    y = np.asarray(counts, dtype=float)
    mu = np.asarray(expected, dtype=float)
    if y.shape != mu.shape:
        raise WarningsError(f"spike_detect: counts {y.shape} and expected {mu.shape} differ")
    a = np.broadcast_to(np.asarray(alpha, dtype=float)[:, None], y.shape)
    z = nb_score(y, mu, a)
    ones = np.ones(y.shape, dtype=np.int64)
    return _combine(
        {"spike": z}, {"spike": y}, {"spike": mu}, {"spike": ones}, ("spike",), config, {"z": z}, shares={"spike": 1.0}
    )


def ears_detect(counts: FloatArray, config: WarningsConfig, buckets_per_day: int = 24) -> TemporalResult:
    """EARS C2/C3 fallback for series with too little history for a model: 24-hour rolling sums, each
    compared with the same hour on earlier days (so the daily cycle does not raise alarms)."""
    y = np.asarray(counts, dtype=float)
    daily = rolling_sum(y, buckets_per_day)
    c2 = ears(daily, "C2", step=buckets_per_day, min_sd=config.detectors.ears_min_sd)
    c3 = ears(daily, "C3", step=buckets_per_day, min_sd=config.detectors.ears_min_sd)
    base, _ = ears_baseline(daily, "C2", step=buckets_per_day)
    width = np.full(y.shape, buckets_per_day, dtype=np.int64)
    observed = {"ears_c2": np.nan_to_num(daily), "ears_c3": np.nan_to_num(daily)}
    exp_w = {k: np.nan_to_num(base, nan=np.inf) for k in observed}
    stat = {"ears_c2": np.nan_to_num(c2, nan=-np.inf), "ears_c3": np.nan_to_num(c3, nan=-np.inf)}
    # two detectors OR-ed: half the budget each (a union bound; C2 and C3 overlap, so conservative)
    return _combine(
        stat,
        observed,
        exp_w,
        {k: width for k in observed},
        FALLBACK_DETECTORS,
        config,
        {},
        shares={"ears_c2": 0.5, "ears_c3": 0.5},
    )


def temporal_candidates(
    keys: Sequence[SeriesKey],
    result: TemporalResult,
    bucket_start: FloatArray,
    bucket_s: float,
    now: float,
    alpha: FloatArray | None = None,
) -> list[Candidate]:
    """Candidates for the series whose shown level at the last bucket is at least blue."""
    t = result.level.shape[1] - 1
    out = []
    for s in np.flatnonzero(result.level[:, t] > 0):
        det = result.detectors[int(result.best[s, t])]
        width = int(result.window[det][s, t])
        obs = float(result.observed[det][s, t])
        exp = float(result.expected[det][s, t])
        window_alpha = result.extra.get(f"alpha_{det}")
        if window_alpha is not None:
            a = float(window_alpha[s, t])
        else:  # a flat profile over the window: alpha of a sum of ``width`` equal buckets
            a = 0.0 if alpha is None else float(alpha[s]) / max(width, 1)
        key = keys[s]
        expl = Explanation(
            detector=det,
            observed=obs,
            expected=exp,
            p_value=float(nb_sf_ge(np.array(obs), np.array(exp), np.array(a))),
            recurrence_days=float(result.recurrence_days[det][s, t]),
            window_start=float(bucket_start[max(t - width + 1, 0)]),
            window_end=float(min(now, bucket_start[t] + bucket_s)),
            area=f"{key.scope}:{key.target}",
            series_ids=(key.series_id,),
        )
        out.append(
            Candidate(
                detector=det,
                stream=key.stream,
                category=key.category,
                scope=key.scope,
                target=key.target,
                level=int(result.level[s, t]),
                at=now,
                explanation=expl,
            )
        )
    return out


@dataclass(frozen=True)
class SpatialResult:
    """One Gi* map: per-cell scores, Gi* z, hot cells and their clusters (connected components)."""

    score: FloatArray
    gi: FloatArray
    hot: npt.NDArray[np.bool_]
    cluster: IntArray  # cluster number per cell, -1 when not hot


def spatial_detect(
    observed: FloatArray,
    expected: FloatArray,
    alpha: FloatArray,
    weights: sparse.spmatrix,
    config: WarningsConfig,
) -> SpatialResult:
    """Gi* over the cells' window totals ``observed``/``expected`` ``(cells,)`` or ``(cells, maps)``.

    With ``condition_on_total`` the expected counts are first scaled to the map's observed total, so a
    city-wide rise (a festival, the weather) does not paint the busiest cells as a cluster; the map
    shows where counts are high *relative to the rest of the city*.
    """
    y = np.asarray(observed, dtype=float)
    mu = np.asarray(expected, dtype=float)
    if config.spatial.condition_on_total:
        mu = mu * (y.sum(axis=0) / np.maximum(mu.sum(axis=0), 1e-12))
    # the score-moment table ends at MAX_MOMENT_ALPHA; scores and moments use the same clipped dispersion
    a = np.minimum(np.asarray(alpha, dtype=float), MAX_MOMENT_ALPHA)
    if y.ndim == 2 and a.ndim == 1:
        a = a[:, None]
    score = nb_score(y, mu, a)
    if config.spatial.moments == "model":
        mean, var = score_moments(mu, np.broadcast_to(a, mu.shape))
        gi = gi_star_model(score, mean, var, weights)
    else:
        gi = getis_ord_gi_star(score, weights)
    # where the neighbourhood expects few events the normal approximation of Gi* fails (one event in a
    # quiet area looks like a 4-SD cluster), so those cells are mapped but not tested
    testable = (sparse.csr_matrix(weights) @ mu) >= config.spatial.min_expected
    hot = hot_cells(np.where(testable, gi, -np.inf), config.spatial.fdr_q)
    cluster = np.full(y.shape[0], -1, dtype=np.int64)
    if y.ndim == 1 and hot.any():
        idx = np.flatnonzero(hot)
        sub = sparse.csr_matrix(weights)[idx][:, idx]
        _, labels = csgraph.connected_components(sub, directed=False)
        cluster[idx] = labels
    return SpatialResult(score=score, gi=gi, hot=hot, cluster=cluster)


def spatial_candidates(
    grid_ids: Sequence[str],
    result: SpatialResult,
    observed: FloatArray,
    expected: FloatArray,
    stream: str,
    category: str,
    window_start: float,
    now: float,
    config: WarningsConfig,
) -> list[Candidate]:
    """One candidate per cluster of hot cells, targeted at its cell of highest Gi*.

    The recurrence interval is Bonferroni-conservative: one over (cells × maps per day × the centre's
    Gi* p-value), so it never overstates how rare the cluster is.
    """
    n = len(grid_ids)
    maps_per_day = 24.0 / config.spatial.window_hours
    out = []
    for c in np.unique(result.cluster[result.cluster >= 0]):
        members = np.flatnonzero(result.cluster == c)
        centre = members[np.argmax(result.gi[members])]
        p = float(upper_p(result.gi[centre]))
        ri = 1.0 / max(p * n * maps_per_day, 1e-300)
        obs, exp = float(observed[members].sum()), float(expected[members].sum())
        rr = obs / exp if exp > 0 else np.inf
        level = int(raw_level(np.array(ri), np.array(obs - exp), np.array(rr), config.levels))
        if level == 0:
            continue
        cells = tuple(grid_ids[i] for i in members)
        expl = Explanation(
            detector="gi_star",
            observed=obs,
            expected=exp,
            p_value=p,
            recurrence_days=ri,
            window_start=window_start,
            window_end=now,
            area=f"grid:{grid_ids[centre]}",
            series_ids=tuple(f"grid:{g}:{stream}.{category}" for g in cells),
            cells=cells,
        )
        out.append(
            Candidate(
                detector="gi_star",
                stream=stream,
                category=category,
                scope="grid",
                target=grid_ids[centre],
                level=level,
                at=now,
                explanation=expl,
            )
        )
    return out


__all__ = [
    "FALLBACK_DETECTORS",
    "TEMPORAL_DETECTORS",
    "Candidate",
    "Explanation",
    "SeriesKey",
    "SpatialResult",
    "TemporalResult",
    "ears_detect",
    "getis_ord_gi_star",
    "spatial_candidates",
    "spatial_detect",
    "spike_detect",
    "temporal_candidates",
    "temporal_detect",
    "temporal_stats",
]
