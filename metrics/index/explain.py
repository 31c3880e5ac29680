"""Explanations: each indicator's contribution to an entity's score and to its change.

Arithmetic aggregation: contribution c_i = W_k w_i s_i (effective weights after missing values drop
out), which add up to the score; changes are c_i(now) - c_i(before).
Geometric aggregation: ln S = sum_k W_k ln D_k. Level: dimension k gets S W_k ln D_k / ln S, shared among
its indicators by w_i s_i / D_k. Change: the logarithmic-mean Divisia index (Ang 2004, *Energy Policy*
32: 1131-1139), S1 - S0 = L(S1, S0) sum_k (W1_k ln D1_k - W0_k ln D0_k) with L(a, b) = (a - b)/(ln a - ln b),
each dimension's term shared among its indicators by their share of the dimension's change
w1_i s1_i - w0_i s0_i. Both add up exactly to the score and to its change.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from metrics.index.aggregate import by_dimension, spread


@dataclass(frozen=True)
class Weighted:
    """Effective per-entity weights and scores of one period (entities x indicators / dimensions)."""

    scores: np.ndarray  # indicator scores, NaN = missing
    ind_weights: np.ndarray  # w~_ei: weight within the dimension, renormalised over present ones
    dim_scores: np.ndarray  # D_ek
    dim_weights: np.ndarray  # W~_ek: renormalised over present dimensions
    index: np.ndarray  # S_e


def effective(
    scores: np.ndarray,
    ind_w: np.ndarray,
    member: np.ndarray,
    dim_scores: np.ndarray,
    dim_w: np.ndarray,
    index: np.ndarray,
) -> Weighted:
    present = ~np.isnan(scores)
    raw = present * ind_w[None, :]
    denom = spread(by_dimension(present.astype(float), ind_w, member), member)  # sum over i's dimension
    with np.errstate(all="ignore"):
        w = np.where(denom > 0, raw / np.where(denom > 0, denom, 1.0), 0.0)
        dpresent = ~np.isnan(dim_scores)
        wk = dpresent * dim_w[None, :]
        tot = wk.sum(axis=1, keepdims=True)
        wk = np.where(tot > 0, wk / np.where(tot > 0, tot, 1.0), 0.0)
    return Weighted(scores, w, dim_scores, wk, index)


def _logmean(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    with np.errstate(all="ignore"):
        lm = (a - b) / (np.log(a) - np.log(b))
    return np.where(np.isclose(a, b, rtol=1e-12, atol=0), a, lm)


def contributions(cur: Weighted, member: np.ndarray, method: str, floor: float) -> np.ndarray:
    """Entities x indicators contributions that add up to the score (NaN where the score is NaN)."""
    s = np.nan_to_num(cur.scores)
    ws = cur.ind_weights * s  # w_i s_i
    wk_i = spread(cur.dim_weights, member)  # W_k of each indicator's dimension
    ones = np.ones(member.shape[0])
    if method == "arithmetic":
        out = wk_i * ws
    else:
        d_raw = spread(by_dimension(ws, ones, member), member)  # D_ek of i's dimension (0 if missing)
        d_star = np.maximum(np.where(np.isnan(cur.dim_scores), floor, cur.dim_scores), floor)
        log_s = np.log(np.maximum(np.nan_to_num(cur.index, nan=floor), floor))
        dim_part = cur.dim_weights * np.log(d_star)  # e x k, sums to ln S
        with np.errstate(all="ignore"):
            share = np.where(d_raw > 0, ws / np.where(d_raw > 0, d_raw, 1.0), cur.ind_weights)
            scale = np.where(
                log_s > 1e-12, np.nan_to_num(cur.index) / np.where(log_s > 1e-12, log_s, 1.0), 0.0
            )
        out = spread(dim_part, member) * share * scale[:, None]
        flat = log_s <= 1e-12  # every dimension at the floor: split by weight
        out[flat] = (wk_i * cur.ind_weights * np.nan_to_num(cur.index)[:, None])[flat]
    out = np.where(np.isnan(cur.scores) & (cur.ind_weights == 0), 0.0, out)
    return np.where(np.isnan(cur.index)[:, None], np.nan, out)


def change_contributions(
    cur: Weighted, prev: Weighted, member: np.ndarray, method: str, floor: float
) -> np.ndarray:
    """Entities x indicators contributions that add up to S_now - S_before (NaN if either is NaN)."""
    if method == "arithmetic":
        out = np.nan_to_num(contributions(cur, member, method, floor)) - np.nan_to_num(
            contributions(prev, member, method, floor)
        )
    else:

        def logd(w: Weighted) -> np.ndarray:
            d = np.maximum(np.where(np.isnan(w.dim_scores), floor, w.dim_scores), floor)
            return w.dim_weights * np.log(d)

        s1, s0 = np.nan_to_num(cur.index, nan=floor), np.nan_to_num(prev.index, nan=floor)
        lm = _logmean(np.maximum(s1, floor), np.maximum(s0, floor))
        dim_effect = lm[:, None] * (logd(cur) - logd(prev))  # e x k, sums to dS
        t = cur.ind_weights * np.nan_to_num(cur.scores) - prev.ind_weights * np.nan_to_num(prev.scores)
        ones = np.ones(member.shape[0])
        dd = by_dimension(t, ones, member)  # e x k
        scale_i = by_dimension(np.abs(t), ones, member)
        # Where a dimension's indicator terms cancel (its score is unchanged, but its weight moved
        # because another dimension came or went), its term is shared by the indicators' weights of
        # both periods, normalised within the dimension so the shares still add up to 1.
        both = cur.ind_weights + prev.ind_weights
        both_sum = spread(by_dimension(both, ones, member), member)
        ok_i = spread(np.abs(dd) > 1e-9 * np.maximum(scale_i, 1e-300), member)
        dd_i = spread(dd, member)
        with np.errstate(all="ignore"):
            by_weight = np.where(both_sum > 0, both / np.where(both_sum > 0, both_sum, 1.0), 0.0)
            share = np.where(ok_i, t / np.where(ok_i, dd_i, 1.0), by_weight)
        out = spread(dim_effect, member) * share
    bad = np.isnan(cur.index) | np.isnan(prev.index)
    return np.where(bad[:, None], np.nan, out)
