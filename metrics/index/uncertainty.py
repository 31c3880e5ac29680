"""Rank uncertainty: Monte Carlo over the method's uncertain choices, vectorised over draws.

Each draw picks a window variant (``configured`` windows, or every ratio indicator over 7 d or 30 d), a
normalisation method, and every indicator and dimension weight uniformly within its range; the
aggregation stays the configured one. The 5th, 50th and 95th percentiles of each entity's rank over the
draws form its rank interval.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from metrics.index.aggregate import membership
from metrics.index.config import IndexConfig
from metrics.index.indicators import CityData, raw_values
from metrics.index.normalise import normalise


def simulate_ranks(
    config: IndexConfig,
    variants: list[np.ndarray],
    indicator_names: list[str],
    draws: int | None = None,
    seed: int | None = None,
) -> np.ndarray:
    """Ranks (draws x entities, 1 = best) from raw-value matrices of each window variant.

    Args:
        variants: entities x indicators raw values, one matrix per window variant.
        indicator_names: the indicators of the columns, in order.
    """
    draws = draws or config.uncertainty.draws
    rng = np.random.default_rng(config.uncertainty.seed if seed is None else seed)
    by_name = {i.name: i for i in config.indicators}
    inds = [by_name[n] for n in indicator_names]
    dims = [d for d in config.score_dimensions() if any(i.dimension == d.name for i in inds)]
    member = membership([i.dimension for i in inds], [d.name for d in dims])
    stack = np.stack([normalise(v, inds, m) for v in variants for m in config.uncertainty.normalisations])
    combo = rng.integers(0, stack.shape[0], size=draws)
    ilo, ihi = np.array([i.weight_range for i in inds]).T
    klo, khi = np.array([d.weight_range for d in dims]).T
    wi = rng.uniform(ilo, ihi, size=(draws, len(inds)))
    wk = rng.uniform(klo, khi, size=(draws, len(dims)))
    x = stack[combo]  # draws x entities x indicators
    present = ~np.isnan(x)
    filled = np.where(present, x, 0.0)
    num = np.zeros((draws, x.shape[1], len(dims)))
    den = np.zeros_like(num)
    for k in range(len(dims)):  # per-dimension sums, not BLAS: see aggregate.by_dimension
        cols = np.flatnonzero(member[:, k])
        num[:, :, k] = (filled[:, :, cols] * wi[:, None, cols]).sum(axis=2)
        den[:, :, k] = (present[:, :, cols] * wi[:, None, cols]).sum(axis=2)
    with np.errstate(all="ignore"):
        dim = np.where(den > 0, num / np.where(den > 0, den, 1.0), np.nan)
        have = ~np.isnan(dim)
        wkk = have * wk[:, None, :]
        tot = wkk.sum(axis=2)
        if config.method.aggregation == "geometric":
            floor = config.method.geometric_floor
            logs = np.log(np.maximum(np.where(have, dim, floor), floor))
            score = np.exp((wkk * logs).sum(axis=2) / np.where(tot > 0, tot, 1.0))
        else:
            score = (wkk * np.where(have, dim, 0.0)).sum(axis=2) / np.where(tot > 0, tot, 1.0)
    score = np.where(tot > 0, score, -np.inf)
    order = np.argsort(-score, axis=1, kind="stable")
    ranks = np.empty_like(order)
    np.put_along_axis(ranks, order, np.arange(1, score.shape[1] + 1)[None, :].repeat(draws, 0), axis=1)
    return ranks


def rank_intervals(
    config: IndexConfig,
    data: CityData,
    level: str = "district",
    draws: int | None = None,
    seed: int | None = None,
) -> pd.DataFrame:
    """``rank_p05``, ``rank_p50``, ``rank_p95`` per entity of ``level`` (districts by default)."""
    variants = []
    names: list[str] | None = None
    for window in config.uncertainty.windows:
        raw = raw_values(config, level, data, None if window == "configured" else window)
        names = names or list(raw.values.columns)
        variants.append(raw.values[names].to_numpy(dtype=float))
        entities = raw.values.index
    assert names is not None
    ranks = simulate_ranks(config, variants, names, draws, seed)
    pct = np.percentile(ranks, [5, 50, 95], axis=0, method="inverted_cdf")
    return pd.DataFrame({"rank_p05": pct[0], "rank_p50": pct[1], "rank_p95": pct[2]}, index=entities)
