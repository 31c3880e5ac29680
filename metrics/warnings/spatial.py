"""Spatial statistics over the grid: Getis-Ord Gi*, Benjamini–Hochberg, Mann–Kendall, emerging hot spots.

Gi* runs on the cells' standardised scores (:func:`metrics.warnings.nbmodel.nb_score` of the last
buckets), with binary weights over each cell's H3 disk (itself included). Hot cells are those whose
upper-tail Gi* p-value survives Benjamini–Hochberg at the configured FDR. The emerging-hot-spot classes
(a Gi* map per time step plus a Mann–Kendall trend of each cell's Gi* z) feed the analysts' daily map,
not the alarms.
"""

from __future__ import annotations

from collections.abc import Sequence

import h3
import numpy as np
import numpy.typing as npt
from scipy import sparse, special

from metrics.warnings.errors import WarningsError

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]


def h3_weights(grid_ids: Sequence[str], k: int = 1) -> sparse.csr_matrix:
    """Binary ``(n, n)`` weights: ``w_ij = 1`` when cell j is within ``k`` rings of cell i (i included).

    Neighbours outside ``grid_ids`` (beyond the city edge) are left out.
    """
    position = {cell: i for i, cell in enumerate(grid_ids)}
    rows: list[int] = []
    cols: list[int] = []
    for i, cell in enumerate(grid_ids):
        for other in h3.grid_disk(cell, k):
            j = position.get(other)
            if j is not None:
                rows.append(i)
                cols.append(j)
    n = len(grid_ids)
    return sparse.csr_matrix((np.ones(len(rows)), (rows, cols)), shape=(n, n))


def getis_ord_gi_star(x: FloatArray, weights: sparse.spmatrix | FloatArray) -> FloatArray:
    """Gi* z-score of every cell (rows of ``x``; extra columns are independent maps).

    ``G*_i = (Σ_j w_ij x_j - x̄ W_i) / (S sqrt((n Σ_j w_ij² - W_i²)/(n-1)))`` with ``W_i = Σ_j w_ij``,
    ``x̄`` and ``S = sqrt(Σ x²/n - x̄²)`` over all n cells (Getis & Ord 1995; Ord & Getis 1995).
    """
    x = np.asarray(x, dtype=float)
    w = sparse.csr_matrix(weights)
    n = x.shape[0]
    if w.shape != (n, n):
        raise WarningsError(f"getis_ord_gi_star: weights are {w.shape}, expected ({n}, {n})")
    mean = x.mean(axis=0)
    s = np.sqrt(np.maximum((x**2).mean(axis=0) - mean**2, 0.0))
    wi = np.asarray(w.sum(axis=1)).ravel()
    wi2 = np.asarray(w.multiply(w).sum(axis=1)).ravel()
    local = w @ x
    denom_w = np.sqrt(np.maximum((n * wi2 - wi**2) / (n - 1), 0.0))
    if x.ndim == 2:
        wi, denom_w = wi[:, None], denom_w[:, None]
    with np.errstate(divide="ignore", invalid="ignore"):
        z = (local - mean * wi) / (s * denom_w)
    return np.where(np.isfinite(z), z, 0.0)


def gi_star_model(
    score: FloatArray, mean: FloatArray, var: FloatArray, weights: sparse.spmatrix | FloatArray
) -> FloatArray:
    """Gi* with the null moments of each cell's score taken from the model instead of the map.

    ``G_i = Σ_j w_ij (x_j - m_j) / sqrt(Σ_j w_ij² v_j)`` where ``m_j``, ``v_j`` are the mean and variance
    of cell j's score under its expected count (:func:`metrics.warnings.nbmodel.score_moments`). The
    classic Gi* divides by one map-wide SD; on a grid where most cells are sparse (score variance far
    below 1) that SD is too small for the busy core, which then lights up by chance.
    """
    w = sparse.csr_matrix(weights)
    x = np.asarray(score, dtype=float) - np.asarray(mean, dtype=float)
    denom = np.sqrt(w.multiply(w) @ np.asarray(var, dtype=float))
    with np.errstate(divide="ignore", invalid="ignore"):
        z = (w @ x) / denom
    return np.where(np.isfinite(z), z, 0.0)


def upper_p(z: FloatArray) -> FloatArray:
    """One-sided upper-tail normal p-value ``1 - Φ(z)``."""
    return special.ndtr(-np.asarray(z, dtype=float))


def benjamini_hochberg(p: FloatArray, q: float = 0.05, axis: int = 0) -> BoolArray:
    """Rejections of the Benjamini–Hochberg step-up procedure at FDR ``q``, along ``axis``.

    Rejects the ``k`` smallest p-values, ``k`` the largest rank with ``p_(k) <= k q / m``.
    """
    p = np.moveaxis(np.asarray(p, dtype=float), axis, 0)
    m = p.shape[0]
    order = np.argsort(p, axis=0)
    ranked = np.take_along_axis(p, order, axis=0)
    crit = (np.arange(1, m + 1) * q / m).reshape((m,) + (1,) * (p.ndim - 1))
    below = ranked <= crit
    k = np.where(below.any(axis=0), m - np.argmax(below[::-1], axis=0), 0)
    reject_sorted = np.arange(m).reshape((m,) + (1,) * (p.ndim - 1)) < k
    reject = np.empty_like(reject_sorted)
    np.put_along_axis(reject, order, reject_sorted, axis=0)
    return np.moveaxis(reject, 0, axis)


def mann_kendall(x: FloatArray) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Mann–Kendall trend test along the last axis: ``S``, its z (continuity-corrected) and two-sided p.

    ``Var S = [n(n-1)(2n+5) - Σ_ties t(t-1)(2t+5)] / 18``; ``z = (S - sign S)/sqrt(Var S)``.
    """
    x = np.asarray(x, dtype=float)
    n = x.shape[-1]
    i, j = np.triu_indices(n, k=1)
    s = np.sign(x[..., j] - x[..., i]).sum(axis=-1)
    ordered = np.sort(x, axis=-1)
    # tie groups: for each run of equal values of length t, add t(t-1)(2t+5)
    tie_term = np.zeros(x.shape[:-1])
    run = np.ones(x.shape[:-1])
    for idx in range(1, n):
        same = ordered[..., idx] == ordered[..., idx - 1]
        ending = ~same
        tie_term += np.where(ending, run * (run - 1) * (2 * run + 5), 0.0)
        run = np.where(same, run + 1, 1.0)
    tie_term += run * (run - 1) * (2 * run + 5)
    var = (n * (n - 1) * (2 * n + 5) - tie_term) / 18.0
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.where(var > 0, (s - np.sign(s)) / np.sqrt(var), 0.0)
    p = 2 * special.ndtr(-np.abs(z))
    return s, z, p


HOT_SPOT_CLASSES = (
    "new",
    "consecutive",
    "intensifying",
    "persistent",
    "diminishing",
    "sporadic",
    "oscillating",
    "historical",
    "no_pattern",
)


def emerging_hot_spots(
    gi_z: FloatArray, hot: BoolArray, cold: BoolArray, alpha: float = 0.05
) -> npt.NDArray[np.str_]:
    """Emerging-hot-spot class of each cell from its Gi* z per time step (``(n_cells, T)``, oldest first).

    ``hot``/``cold`` are the significant hot/cold cells per step (e.g. BH on Gi* each step). The rules
    follow ESRI's emerging hot spot analysis, hot side:

    - new: hot only in the final step;
    - consecutive: one uninterrupted run of hot steps ending in the final step, < 90 % of steps hot;
    - intensifying / persistent / diminishing: hot in ≥ 90 % of steps including the final one, with a
      significantly rising / no significant / significantly falling Mann–Kendall trend of Gi* z;
    - sporadic: final step hot, < 90 % hot, on-and-off, never a cold spot;
    - oscillating: final step hot, < 90 % hot, a cold spot at some earlier step;
    - historical: final step not hot, but hot in ≥ 90 % of the other steps;
    - no_pattern: none of these.
    """
    hot = np.asarray(hot, dtype=bool)
    cold = np.asarray(cold, dtype=bool)
    n, t = hot.shape
    share = hot.mean(axis=1)
    final = hot[:, -1]
    earlier_hot = hot[:, :-1].any(axis=1)
    _, z, p = mann_kendall(gi_z)
    rising = (p < alpha) & (z > 0)
    falling = (p < alpha) & (z < 0)
    # length of the run of hot steps that ends at the final step
    run_end = np.zeros(n, dtype=np.int64)
    still = np.ones(n, dtype=bool)
    for step in range(t - 1, -1, -1):
        still &= hot[:, step]
        run_end += still
    hot_before_run = np.array([hot[i, : t - run_end[i]].any() for i in range(n)])
    mostly = share >= 0.9
    out = np.full(n, "no_pattern", dtype=object)
    out[final & ~earlier_hot] = "new"
    out[final & earlier_hot & ~mostly & ~hot_before_run] = "consecutive"
    out[final & mostly & rising] = "intensifying"
    out[final & mostly & ~rising & ~falling] = "persistent"
    out[final & mostly & falling] = "diminishing"
    sporadic = final & ~mostly & hot_before_run
    out[sporadic & ~cold.any(axis=1)] = "sporadic"
    out[sporadic & cold.any(axis=1)] = "oscillating"
    out[~final & (hot[:, :-1].mean(axis=1) >= 0.9)] = "historical"
    return out.astype(str)


def hot_cells(gi: FloatArray, q: float) -> BoolArray:
    """Hot cells at FDR ``q``: upper-tail Gi* p-values through BH over all cells of each map (axis 0)."""
    return benjamini_hochberg(upper_p(gi), q) & (gi > 0)


__all__ = [
    "HOT_SPOT_CLASSES",
    "benjamini_hochberg",
    "emerging_hot_spots",
    "getis_ord_gi_star",
    "gi_star_model",
    "h3_weights",
    "hot_cells",
    "mann_kendall",
    "upper_p",
]
