"""Weights of indicators within their dimension and of dimensions in the index."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from metrics.index.config import Dimension, IndexConfig, Indicator


def entropy_weights(matrix: np.ndarray) -> np.ndarray:
    """Entropy-weight method: w_j = (1 - e_j) / sum_k (1 - e_k).

    p_ij = x_ij / sum_i x_ij, e_j = -(1 / ln n) sum_i p_ij ln p_ij (0 ln 0 = 0). Rows with a NaN are
    left out; a column summing to 0 carries no information (e = 1). All-uninformative gives equal weights.
    """
    x = np.asarray(matrix, dtype=float)
    x = x[~np.isnan(x).any(axis=1)]
    m = x.shape[1]
    n = x.shape[0]
    if n < 2:
        return np.full(m, 1.0 / m)
    if (x < 0).any():
        raise ValueError("the entropy-weight method needs non-negative values")
    sums = x.sum(axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        p = np.where(sums > 0, x / np.where(sums > 0, sums, 1.0), 0.0)
        plogp = np.where(p > 0, p * np.log(np.where(p > 0, p, 1.0)), 0.0)
    e = np.where(sums > 0, -plogp.sum(axis=0) / np.log(n), 1.0)
    d = np.clip(1.0 - e, 0.0, None)
    if d.sum() <= 1e-15:
        return np.full(m, 1.0 / m)
    return d / d.sum()


def indicator_weights(
    config: IndexConfig, indicators: Sequence[Indicator], scores: np.ndarray, method: str | None = None
) -> np.ndarray:
    """Weight of each indicator within its dimension (sums to 1 per dimension).

    ``scores`` (entities x indicators, 0-100) feed the entropy method; ``method`` overrides the
    configured one.
    """
    method = method or config.method.weighting
    w = np.array([ind.weight for ind in indicators], dtype=float)
    dims = [ind.dimension for ind in indicators]
    for dim in dict.fromkeys(dims):
        cols = [j for j, d in enumerate(dims) if d == dim]
        if method == "equal":
            w[cols] = 1.0
        elif method == "entropy":
            w[cols] = entropy_weights(scores[:, cols])
        elif method == "ahp" and dim in config.method.ahp_indicators:
            ahp = config.method.ahp_indicators[dim]
            by_name = dict(zip(ahp.order, ahp.weights, strict=True))
            w[cols] = [by_name[indicators[j].name] for j in cols]
        total = w[cols].sum()
        w[cols] = w[cols] / total if total > 0 else 1.0 / len(cols)
    return w


def dimension_weights(
    config: IndexConfig, dimensions: Sequence[Dimension], dim_scores: np.ndarray, method: str | None = None
) -> np.ndarray:
    """Weight of each scored dimension (sums to 1)."""
    method = method or config.method.weighting
    if method == "equal":
        w = np.ones(len(dimensions))
    elif method == "entropy":
        w = entropy_weights(dim_scores)
    elif method == "ahp" and config.method.ahp_dimensions is not None:
        by_name = dict(
            zip(config.method.ahp_dimensions.order, config.method.ahp_dimensions.weights, strict=True)
        )
        w = np.array([by_name[d.name] for d in dimensions])
    else:
        w = np.array([d.weight for d in dimensions], dtype=float)
    total = w.sum()
    return w / total if total > 0 else np.full(len(dimensions), 1.0 / len(dimensions))
