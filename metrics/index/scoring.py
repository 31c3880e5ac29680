"""One level's scores from raw indicator values: normalise, weight, aggregate."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from metrics.index.aggregate import aggregate, dimension_scores, membership
from metrics.index.config import Dimension, IndexConfig, Indicator
from metrics.index.explain import Weighted, effective
from metrics.index.normalise import normalise
from metrics.index.weighting import dimension_weights, indicator_weights


@dataclass(frozen=True)
class ScoredLevel:
    """Scores of the entities of one level; arrays are entities x indicators / dimensions."""

    entities: pd.Index
    indicators: tuple[Indicator, ...]
    dimensions: tuple[Dimension, ...]
    member: np.ndarray
    raw: np.ndarray
    scores: np.ndarray
    ind_weights: np.ndarray
    dim_scores: np.ndarray
    dim_weights: np.ndarray
    index: np.ndarray
    aggregation: str

    def weighted(self) -> Weighted:
        return effective(
            self.scores, self.ind_weights, self.member, self.dim_scores, self.dim_weights, self.index
        )


def _override(
    names: list[str], base: np.ndarray, given: Mapping[str, float] | None, groups: list[str]
) -> np.ndarray:
    """Replace weights by analyst-given ones (by name) and renormalise within each group."""
    if not given:
        return base
    unknown = sorted(set(given) - set(names))
    if unknown:
        raise ValueError(f"unknown weight name(s) {unknown}; expected from {names}")
    w = np.array([float(given.get(n, b)) for n, b in zip(names, base, strict=True)])
    if (w < 0).any():
        raise ValueError("weights must be non-negative")
    for g in dict.fromkeys(groups):
        cols = [j for j, x in enumerate(groups) if x == g]
        total = w[cols].sum()
        w[cols] = w[cols] / total if total > 0 else 1.0 / len(cols)
    return w


def score_level(
    config: IndexConfig,
    values: pd.DataFrame,
    *,
    normalisation: str | None = None,
    weighting: str | None = None,
    aggregation: str | None = None,
    indicator_weights_given: Mapping[str, float] | None = None,
    dimension_weights_given: Mapping[str, float] | None = None,
) -> ScoredLevel:
    """Normalise ``values`` (entities x indicator names), weight and aggregate them.

    Method arguments override the configuration (the what-if and uncertainty analyses use them); given
    weights replace configured/derived ones by name and are renormalised, so scaling them changes nothing.
    """
    by_name = {i.name: i for i in config.indicators}
    inds = tuple(by_name[c] for c in values.columns)
    raw = values.to_numpy(dtype=float)
    scores = normalise(raw, inds, normalisation or config.method.normalisation)
    return weigh_and_aggregate(
        config,
        values.index,
        inds,
        raw,
        scores,
        weighting=weighting,
        aggregation=aggregation,
        indicator_weights_given=indicator_weights_given,
        dimension_weights_given=dimension_weights_given,
    )


def weigh_and_aggregate(
    config: IndexConfig,
    entities: pd.Index,
    inds: tuple[Indicator, ...],
    raw: np.ndarray,
    scores: np.ndarray,
    *,
    weighting: str | None = None,
    aggregation: str | None = None,
    indicator_weights_given: Mapping[str, float] | None = None,
    dimension_weights_given: Mapping[str, float] | None = None,
) -> ScoredLevel:
    """Weight and aggregate already normalised indicator scores (entities x ``inds``)."""
    dims = tuple(d for d in config.score_dimensions() if any(i.dimension == d.name for i in inds))
    member = membership([i.dimension for i in inds], [d.name for d in dims])
    iw = indicator_weights(config, inds, scores, weighting)
    iw = _override([i.name for i in inds], iw, indicator_weights_given, [i.dimension for i in inds])
    dscores = dimension_scores(scores, iw, member)
    dw = dimension_weights(config, dims, dscores, weighting)
    dw = _override([d.name for d in dims], dw, dimension_weights_given, ["all"] * len(dims))
    agg = aggregation or config.method.aggregation
    index = aggregate(dscores, dw, agg, config.method.geometric_floor)
    return ScoredLevel(entities, inds, dims, member, raw, scores, iw, dscores, dw, index, agg)
