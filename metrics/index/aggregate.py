"""Aggregation: indicator scores -> dimension scores (weighted mean) -> index (geometric or arithmetic).

Missing values (NaN) drop out and the remaining weights are rescaled to sum to 1, entity by entity.
"""

from __future__ import annotations

import numpy as np


def membership(indicator_dims: list[str], dimension_names: list[str]) -> np.ndarray:
    """Indicators x dimensions 0/1 matrix."""
    m = np.zeros((len(indicator_dims), len(dimension_names)))
    for i, d in enumerate(indicator_dims):
        m[i, dimension_names.index(d)] = 1.0
    return m


def by_dimension(x: np.ndarray, weights: np.ndarray, member: np.ndarray) -> np.ndarray:
    """sum_i x_ei w_i m_ik (entities x dimensions).

    Column sums rather than a matrix product: the inner dimension is a handful of indicators, and a
    multi-threaded BLAS on a busy machine turns a sub-millisecond product into tens of milliseconds.
    """
    out = np.zeros((x.shape[0], member.shape[1]))
    for k in range(member.shape[1]):
        cols = np.flatnonzero(member[:, k])
        if cols.size:
            out[:, k] = (x[:, cols] * weights[cols]).sum(axis=1)
    return out


def spread(per_dimension: np.ndarray, member: np.ndarray) -> np.ndarray:
    """Each indicator's column gets its dimension's value (entities x indicators)."""
    return per_dimension[..., member.argmax(axis=1)]


def dimension_scores(scores: np.ndarray, weights: np.ndarray, member: np.ndarray) -> np.ndarray:
    """D_ek = sum_i w_i s_ei / sum_i w_i over the indicators of k that entity e has (NaN if none)."""
    present = ~np.isnan(scores)
    filled = np.where(present, scores, 0.0)
    num = by_dimension(filled, weights, member)
    den = by_dimension(present.astype(float), weights, member)
    with np.errstate(all="ignore"):
        return np.where(den > 0, num / np.where(den > 0, den, 1.0), np.nan)


def aggregate(dim_scores: np.ndarray, weights: np.ndarray, method: str, floor: float = 1.0) -> np.ndarray:
    """Index per entity from dimension scores (entities x dimensions).

    geometric: exp(sum_k W_k ln max(D_k, floor) / sum_k W_k); arithmetic: sum_k W_k D_k / sum_k W_k,
    both over the dimensions the entity has.
    """
    present = ~np.isnan(dim_scores)
    wk = present * weights[None, :]
    total = wk.sum(axis=1)
    with np.errstate(all="ignore"):
        if method == "geometric":
            logs = np.log(np.maximum(np.where(present, dim_scores, floor), floor))
            value = np.exp((wk * logs).sum(axis=1) / np.where(total > 0, total, 1.0))
        elif method == "arithmetic":
            value = (wk * np.where(present, dim_scores, 0.0)).sum(axis=1) / np.where(total > 0, total, 1.0)
        else:
            raise ValueError(f"unknown aggregation {method!r}")
    return np.where(total > 0, np.clip(value, 0.0, 100.0), np.nan)
