"""Small numbers: empirical-Bayes shrinkage of cell figures toward their district.

Counts per exposure use the Gamma-Poisson model with a method-of-moments prior per district (Marshall,
R. J. 1991, "Mapping disease and mortality rates using empirical Bayes estimators", *Applied Statistics*
40(2): 283-294). Shares use the Beta-Binomial analogue; mean durations a credibility weighting with a
fixed number of pseudo-observations of the district mean. Groups are integer codes 0..G-1 (one per
district); a cell without exposure keeps NaN for counts and takes its district's figure for shares and
durations (no tickets in a cell says nothing against the district's service).
"""

from __future__ import annotations

import numpy as np


def _group_sum(values: np.ndarray, groups: np.ndarray, n_groups: int) -> np.ndarray:
    return np.bincount(groups, weights=values, minlength=n_groups)


def shrink_poisson(counts: np.ndarray, exposure: np.ndarray, groups: np.ndarray) -> np.ndarray:
    """Posterior mean rates (x + alpha) / (E + beta) per cell, prior Gamma(alpha, beta) fitted per group.

    Args:
        counts: events per cell (non-negative).
        exposure: exposure per cell in the rate's unit (e.g. 10,000 residents x days); <= 0 means none.
        groups: district index of each cell, 0..G-1.

    The prior mean m is the district's pooled rate sum(x)/sum(E); the between-cell variance
    v = sum(E (r - m)^2)/sum(E) - m / mean(E) (Marshall's estimator); v <= 0 pools the cells fully.
    The posterior is written (x v + m^2) / (E v + m), which is alpha = m^2/v, beta = m/v and stays
    finite as v -> 0.
    """
    x = np.asarray(counts, dtype=float)
    e = np.asarray(exposure, dtype=float)
    g = np.asarray(groups, dtype=np.int64)
    n_groups = int(g.max()) + 1 if g.size else 0
    has = e > 0
    e_pos = np.where(has, e, 0.0)
    x_pos = np.where(has, x, 0.0)
    sum_x = _group_sum(x_pos, g, n_groups)
    sum_e = _group_sum(e_pos, g, n_groups)
    n_cells = _group_sum(has.astype(float), g, n_groups)
    with np.errstate(all="ignore"):
        m = np.where(sum_e > 0, sum_x / sum_e, 0.0)
        r = np.where(has, x_pos / np.where(has, e_pos, 1.0), 0.0)
        s2 = np.where(sum_e > 0, _group_sum(e_pos * (r - m[g]) ** 2, g, n_groups) / sum_e, 0.0)
        mean_e = np.where(n_cells > 0, sum_e / np.maximum(n_cells, 1), 1.0)
        v = np.maximum(s2 - m / mean_e, 0.0)
        mg, vg = m[g], v[g]
        den = e_pos * vg + mg
        post = np.where(den > 0, (x_pos * vg + mg**2) / np.where(den > 0, den, 1.0), 0.0)
    return np.where(has, post, np.nan)


def shrink_share(successes: np.ndarray, trials: np.ndarray, groups: np.ndarray) -> np.ndarray:
    """Posterior mean shares (y + p M) / (n + M) with a Beta(pM, (1-p)M) prior fitted per group.

    p = sum(y)/sum(n) of the district; v = sum(n (p_i - p)^2)/sum(n) - p(1-p)/mean(n) is the
    between-cell variance and M = p(1-p)/v - 1 the prior's weight in pseudo-trials; v <= 0 pools fully.
    A cell with no trials takes p; a district with no trials leaves its cells NaN.
    """
    y = np.asarray(successes, dtype=float)
    n = np.asarray(trials, dtype=float)
    g = np.asarray(groups, dtype=np.int64)
    n_groups = int(g.max()) + 1 if g.size else 0
    has = n > 0
    n_pos = np.where(has, n, 0.0)
    y_pos = np.where(has, y, 0.0)
    sum_y = _group_sum(y_pos, g, n_groups)
    sum_n = _group_sum(n_pos, g, n_groups)
    k = _group_sum(has.astype(float), g, n_groups)
    with np.errstate(all="ignore"):
        p = np.where(sum_n > 0, sum_y / sum_n, np.nan)
        pc = np.clip(np.nan_to_num(p), 0.0, 1.0)
        pi = np.where(has, y_pos / np.where(has, n_pos, 1.0), 0.0)
        s2 = np.where(
            sum_n > 0, _group_sum(n_pos * (pi - np.nan_to_num(p)[g]) ** 2, g, n_groups) / sum_n, 0.0
        )
        mean_n = np.where(k > 0, sum_n / np.maximum(k, 1), 1.0)
        v = s2 - pc * (1 - pc) / mean_n
        # v <= 0: cells vary no more than binomial noise, pool fully (M infinite).
        big_m = np.where(v > 0, pc * (1 - pc) / np.where(v > 0, v, 1.0) - 1.0, np.inf)
        big_m = np.maximum(big_m, 0.0)
        mg, pg = big_m[g], p[g]
        post = np.where(
            np.isinf(mg),
            pg,
            (y_pos + pg * np.where(np.isinf(mg), 0.0, mg)) / (n_pos + np.where(np.isinf(mg), 1.0, mg)),
        )
    return np.where(has, post, pg)


def shrink_mean(totals: np.ndarray, counts: np.ndarray, groups: np.ndarray, prior_n: float) -> np.ndarray:
    """Credibility-weighted means (total + n0 m) / (n + n0), m the district's pooled mean total/count."""
    t = np.asarray(totals, dtype=float)
    n = np.asarray(counts, dtype=float)
    g = np.asarray(groups, dtype=np.int64)
    n_groups = int(g.max()) + 1 if g.size else 0
    sum_t = _group_sum(t, g, n_groups)
    sum_n = _group_sum(n, g, n_groups)
    with np.errstate(all="ignore"):
        m = np.where(sum_n > 0, sum_t / sum_n, np.nan)[g]
        den = n + prior_n
        post = np.where(den > 0, (t + prior_n * np.nan_to_num(m)) / np.where(den > 0, den, 1.0), np.nan)
    return np.where(n > 0, post, m)
