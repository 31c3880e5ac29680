"""Expected counts: a negative-binomial (NB2) log-linear model of each series' count per time bucket.

``log mu_t = x_t · beta`` with hour-of-day harmonics (and their weekend variant), day of week, public
holidays and a linear trend; ``Var Y = mu + alpha mu²``. Many series share one design matrix (same
buckets), so the fit is a batched IRLS in numpy: one ``(S, p, p)`` solve per iteration. The dispersion
``alpha`` is the Pearson estimate (``Σ (y-mu)²/(mu(1+alpha mu)) = n - p``), re-solved by bisection
after every IRLS step.

Sparse grid-cell series get no model of their own: a cell's expected count is its shrunken share of
its parent series (district × category) times the parent's expected count, so it follows the parent's
time profile (:func:`shrunken_shares`).

Days and hours are Asia/Shanghai (UTC+8) local time; bucket starts are epoch seconds UTC.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import date

import numpy as np
import numpy.typing as npt
from scipy import special

from metrics.warnings.errors import WarningsError

FloatArray = npt.NDArray[np.float64]

LOCAL_OFFSET_S = 8 * 3600
DAY_S = 86400
WEEK_S = 7 * DAY_S
# Poisson below this dispersion: the NB formulas lose precision as 1/alpha grows without bound
POISSON_ALPHA = 1e-6
_ETA_MIN, _ETA_MAX = np.log(1e-8), np.log(1e7)


def _local_day_number(ts: FloatArray) -> npt.NDArray[np.int64]:
    return np.floor((ts + LOCAL_OFFSET_S) / DAY_S).astype(np.int64)


def holiday_day_numbers(holidays: Collection[date]) -> npt.NDArray[np.int64]:
    """Local day numbers (days since 1970-01-01) of the given calendar dates."""
    epoch = date(1970, 1, 1)
    return np.array(sorted((d - epoch).days for d in holidays), dtype=np.int64)


def design_matrix(
    bucket_start: FloatArray,
    *,
    bucket_s: float,
    harmonics: int,
    holidays: npt.NDArray[np.int64],
    trend_origin: float,
    trend_end: float,
) -> FloatArray:
    """Columns: 1, hour-of-day sin/cos 1..K, the first pair again on weekends, Mon..Sat, holiday, trend.

    Hour of day is taken at the bucket midpoint, so a 5-minute slice and an hourly bucket are on one
    continuous profile. The trend is in weeks from ``trend_origin`` and held flat after ``trend_end``
    (no extrapolation past the fitting window).
    """
    ts = np.asarray(bucket_start, dtype=float) + bucket_s / 2
    hour = ((ts + LOCAL_OFFSET_S) % DAY_S) / 3600.0
    day = _local_day_number(ts)
    dow = (day + 3) % 7  # 1970-01-01 was a Thursday; Monday = 0
    weekend = (dow >= 5).astype(float)
    cols = [np.ones_like(ts)]
    for k in range(1, harmonics + 1):
        angle = 2 * np.pi * k * hour / 24.0
        cols += [np.sin(angle), np.cos(angle)]
    angle = 2 * np.pi * hour / 24.0
    cols += [weekend * np.sin(angle), weekend * np.cos(angle)]
    cols += [(dow == d).astype(float) for d in range(6)]  # Sunday is the reference day
    cols.append(np.isin(day, holidays).astype(float))
    cols.append((np.minimum(ts, trend_end) - trend_origin) / WEEK_S)
    return np.column_stack(cols)


@dataclass(frozen=True)
class NBFit:
    """Fitted NB2 models of many series sharing one time axis.

    ``coef`` is ``(S, p)`` log-rate coefficients per bucket of ``bucket_s`` seconds; ``alpha`` the NB2
    dispersion per series; ``converged`` whether IRLS met its tolerance.
    """

    coef: FloatArray
    alpha: FloatArray
    bucket_s: float
    harmonics: int
    holidays: npt.NDArray[np.int64]
    trend_origin: float
    trend_end: float
    converged: npt.NDArray[np.bool_]

    def design(self, bucket_start: FloatArray, bucket_s: float | None = None) -> FloatArray:
        return design_matrix(
            bucket_start,
            bucket_s=self.bucket_s if bucket_s is None else bucket_s,
            harmonics=self.harmonics,
            holidays=self.holidays,
            trend_origin=self.trend_origin,
            trend_end=self.trend_end,
        )

    def expected(self, bucket_start: FloatArray) -> FloatArray:
        """Expected count per full bucket, ``(S, len(bucket_start))``."""
        eta = self.coef @ self.design(np.asarray(bucket_start, dtype=float)).T
        return np.exp(np.clip(eta, _ETA_MIN, _ETA_MAX))

    def elapsed_fraction(self, bucket_start: float, now: float, slice_s: float = 300.0) -> FloatArray:
        """Share of the bucket's expected count that falls before ``now``, per series.

        The bucket is cut into slices (5 minutes by default) weighted by the model's rate at each
        slice's midpoint, so in a rising hour the first minutes expect less than their clock share.
        """
        n_slices = max(1, round(self.bucket_s / slice_s))
        starts = bucket_start + np.arange(n_slices) * (self.bucket_s / n_slices)
        rate = np.exp(
            np.clip(self.coef @ self.design(starts, self.bucket_s / n_slices).T, _ETA_MIN, _ETA_MAX)
        )
        ends = starts + self.bucket_s / n_slices
        covered = np.clip((now - starts) / (ends - starts), 0.0, 1.0)
        return (rate @ covered) / rate.sum(axis=1)


def pearson_alpha(y: FloatArray, mu: FloatArray, dof: FloatArray | float, iters: int = 40) -> FloatArray:
    """NB2 dispersion per row solving ``Σ (y-mu)²/(mu(1+alpha mu)) = dof``.

    0 when the data are not overdispersed (the Pearson statistic at alpha = 0 is already below ``dof``).
    """
    r2 = (y - mu) ** 2 / np.maximum(mu, 1e-12)
    lo = np.full(y.shape[0], np.log(1e-6))
    hi = np.full(y.shape[0], np.log(1e2))
    dof_arr = np.broadcast_to(np.asarray(dof, dtype=float), lo.shape)
    for _ in range(iters):
        mid = (lo + hi) / 2
        stat = (r2 / (1 + np.exp(mid)[:, None] * mu)).sum(axis=1)
        too_small = stat > dof_arr  # statistic still too large: alpha must grow
        lo = np.where(too_small, mid, lo)
        hi = np.where(too_small, hi, mid)
    alpha = np.exp((lo + hi) / 2)
    return np.where(r2.sum(axis=1) <= dof_arr, 0.0, alpha)


def fit_nb(
    counts: FloatArray,
    bucket_start: FloatArray,
    *,
    bucket_s: float = 3600.0,
    harmonics: int = 3,
    holidays: npt.NDArray[np.int64] | None = None,
    max_iter: int = 30,
    tol: float = 1e-5,
    ridge: float = 1e-2,
) -> NBFit:
    """Fit NB2 log-linear models to ``counts`` ``(S, n)`` observed in buckets starting at ``bucket_start``.

    ``ridge`` is a small L2 penalty on every coefficient but the intercept; it keeps the solve defined
    when a column is empty in the window (no holiday, a day without data). Buckets with NaN counts
    (not observed) get zero weight.
    """
    y = np.atleast_2d(np.asarray(counts, dtype=float))
    ts = np.asarray(bucket_start, dtype=float)
    if y.shape[1] != ts.size:
        raise WarningsError(f"fit_nb: counts have {y.shape[1]} buckets but bucket_start has {ts.size}")
    if ts.size < 7 * DAY_S / bucket_s:
        raise WarningsError(f"fit_nb: {ts.size} buckets is less than a week; use the EARS fallback instead")
    hol = holiday_day_numbers(()) if holidays is None else holidays
    x = design_matrix(
        ts,
        bucket_s=bucket_s,
        harmonics=harmonics,
        holidays=hol,
        trend_origin=float(ts.mean()),
        trend_end=float(ts[-1]),
    )
    observed = np.isfinite(y)
    y0 = np.where(observed, y, 0.0)
    n_obs = observed.sum(axis=1)
    s, p = y.shape[0], x.shape[1]
    coef = np.zeros((s, p))
    coef[:, 0] = np.log((y0.sum(axis=1) + 0.5) / np.maximum(n_obs, 1))
    alpha = np.full(s, 0.1)
    penalty = np.full(p, ridge)
    penalty[0] = 0.0
    converged = np.zeros(s, dtype=bool)
    for _ in range(max_iter):
        eta = np.clip(coef @ x.T, _ETA_MIN, _ETA_MAX)
        mu = np.exp(eta)
        w = np.where(observed, mu / (1 + alpha[:, None] * mu), 0.0)
        z = eta + (y0 - mu) / mu
        xtwx = np.einsum("np,sn,nq->spq", x, w, x, optimize=True) + np.diag(penalty)
        xtwz = (w * z) @ x
        new = np.linalg.solve(xtwx, xtwz[:, :, None])[:, :, 0]
        step = np.abs(new - coef).max(axis=1)
        coef = new
        mu = np.exp(np.clip(coef @ x.T, _ETA_MIN, _ETA_MAX))
        alpha = pearson_alpha(np.where(observed, y0, mu), mu, np.maximum(n_obs - p, 1))
        converged = step < tol
        if converged.all():
            break
    return NBFit(
        coef=coef,
        alpha=alpha,
        bucket_s=bucket_s,
        harmonics=harmonics,
        holidays=hol,
        trend_origin=float(ts.mean()),
        trend_end=float(ts[-1]),
        converged=converged,
    )


def nb_sf_ge(y: FloatArray, mu: FloatArray, alpha: FloatArray) -> FloatArray:
    """Upper-tail probability ``P(Y >= y)`` of NB2(mu, alpha) (Poisson where alpha is ~0).

    ``P(Y >= y) = I_{q}(y, 1/alpha)`` with ``q = alpha mu / (1 + alpha mu)`` (regularised incomplete
    beta), and ``gammainc(y, mu)`` for the Poisson limit; 1 for ``y <= 0``.
    """
    y, mu, alpha = np.broadcast_arrays(np.asarray(y, float), np.asarray(mu, float), np.asarray(alpha, float))
    mu = np.maximum(mu, 1e-300)
    yy = np.maximum(y, 1.0)
    poisson = alpha < POISSON_ALPHA
    a = np.where(poisson, 1.0, alpha)
    nb = special.betainc(yy, 1.0 / a, a * mu / (1.0 + a * mu))
    pois = special.gammainc(yy, mu)
    out = np.where(poisson, pois, nb)
    return np.where(y <= 0, 1.0, out)


def nb_upper_p(y: FloatArray, mu: FloatArray, alpha: FloatArray) -> FloatArray:
    """The spike test's p-value: ``P(Y >= y)`` under the expected count."""
    return nb_sf_ge(y, mu, alpha)


def nb_cdf_le(y: FloatArray, mu: FloatArray, alpha: FloatArray) -> FloatArray:
    """Lower-tail probability ``P(Y <= y)`` of NB2(mu, alpha) (Poisson where alpha is ~0); 0 for ``y < 0``.

    ``P(Y <= y) = I_p(1/alpha, y + 1)`` with ``p = 1/(1 + alpha mu)``, and ``gammaincc(y + 1, mu)`` for
    Poisson. Computed directly rather than as ``1 - P(Y > y)`` so small lower tails keep their precision.
    """
    y, mu, alpha = np.broadcast_arrays(np.asarray(y, float), np.asarray(mu, float), np.asarray(alpha, float))
    mu = np.maximum(mu, 1e-300)
    yy = np.maximum(y, 0.0)
    poisson = alpha < POISSON_ALPHA
    a = np.where(poisson, 1.0, alpha)
    nb = special.betainc(1.0 / a, yy + 1.0, 1.0 / (1.0 + a * mu))
    pois = special.gammaincc(yy + 1.0, mu)
    return np.where(y < 0, 0.0, np.where(poisson, pois, nb))


def nb_score(y: FloatArray, mu: FloatArray, alpha: FloatArray) -> FloatArray:
    """Standardised score: the normal quantile of the mid-p upper tail, ``-Φ⁻¹(P(Y>y) + P(Y=y)/2)``.

    Unlike Pearson residuals it is close to N(0, 1) under the model even for counts near zero, which is
    what CUSUM, EWMA and Gi* assume. Each side is computed from its own tail, so both stay accurate.
    """
    y = np.asarray(y, float)
    upper = 0.5 * (nb_sf_ge(y, mu, alpha) + nb_sf_ge(y + 1.0, mu, alpha))
    lower = 0.5 * (nb_cdf_le(y - 1.0, mu, alpha) + nb_cdf_le(y, mu, alpha))
    z_up = -special.ndtri(np.clip(upper, 1e-300, 0.5))
    z_low = special.ndtri(np.clip(lower, 1e-300, 0.5))
    return np.where(upper <= 0.5, z_up, z_low)


def window_alpha(mu: FloatArray, alpha: FloatArray | float, axis: int = -1) -> FloatArray:
    """NB2 dispersion of a sum of independent NB2 buckets, matching its variance: ``alpha Σmu² / (Σmu)²``."""
    mu = np.asarray(mu, dtype=float)
    a = np.asarray(alpha, dtype=float)
    if a.ndim:
        a = np.expand_dims(a, axis)
    total = mu.sum(axis=axis)
    return (a * mu**2).sum(axis=axis) / np.maximum(total, 1e-300) ** 2


def shrunken_shares(
    child_counts: FloatArray,
    parent_of: npt.NDArray[np.int64],
    prior_share: FloatArray,
    strength: float,
) -> tuple[FloatArray, FloatArray]:
    """Empirical-Bayes share of each child (cell) in its parent's (district's) count.

    A gamma prior on each child's rate with shape ``k · m · prior_c`` (``m`` children in the parent,
    ``prior_c`` the child's prior share within it — its share over all categories, or its area share —
    and ``k = strength`` the prior's weight in events *per child*) gives the posterior share
    ``(y_c + k m prior_c) / (Y_parent + k m)``. With a uniform prior every cell starts from ``k`` events,
    so a cell with no history is neither certain to stay at zero nor wildly uncertain.
    Returns the shares and the posterior shapes ``y_c + k m prior_c``: a cell's count given its parent's
    expected count is NB2 with dispersion ``(1 + alpha_parent)(1 + 1/shape) - 1`` (:func:`cell_alpha`).
    """
    y = np.asarray(child_counts, dtype=float)
    prior = np.asarray(prior_share, dtype=float)
    parent_total = np.bincount(parent_of, weights=y)[parent_of]
    children = np.bincount(parent_of)[parent_of].astype(float)
    shape = y + strength * children * prior
    share = shape / (parent_total + strength * children)
    return share, np.maximum(shape, 1e-9)


def cell_alpha(parent_alpha: FloatArray, shape: FloatArray) -> FloatArray:
    """NB2 dispersion of a cell that follows its parent: gamma share uncertainty on top of the parent's."""
    return (1.0 + np.asarray(parent_alpha)) * (1.0 + 1.0 / np.asarray(shape)) - 1.0


__all__ = [
    "MAX_MOMENT_ALPHA",
    "NBFit",
    "cell_alpha",
    "design_matrix",
    "fit_nb",
    "holiday_day_numbers",
    "nb_cdf_le",
    "nb_score",
    "nb_sf_ge",
    "nb_upper_p",
    "pearson_alpha",
    "score_moments",
    "shrunken_shares",
    "window_alpha",
]


_MOMENT_LOG_MU = np.linspace(np.log(1e-3), np.log(1e3), 97)
MAX_MOMENT_ALPHA = 3.0
_MOMENT_LOG_ALPHA = np.linspace(np.log(1e-4), np.log(MAX_MOMENT_ALPHA), 16)
_MOMENT_Y_CAP = (
    6000  # counts beyond are left out of the moment sums (renormalised); only huge alpha*mu reach it
)


def _moment_table() -> tuple[FloatArray, FloatArray]:
    """Mean and variance of :func:`nb_score` under NB2(mu, alpha) on a (log mu, log alpha) grid (cached)."""
    cached = getattr(_moment_table, "_cache", None)
    if cached is not None:
        return cached
    shape = (_MOMENT_LOG_MU.size, _MOMENT_LOG_ALPHA.size)
    mean, var = np.zeros(shape), np.zeros(shape)
    alpha = np.exp(_MOMENT_LOG_ALPHA)[:, None]
    for i, mu in enumerate(np.exp(_MOMENT_LOG_MU)):
        y_max = min(int(mu + 10 * np.sqrt(mu + alpha.max() * mu**2)) + 30, _MOMENT_Y_CAP)
        cdf = nb_cdf_le(np.arange(-1, y_max, dtype=float)[None, :], np.array(mu), alpha)
        pmf = np.clip(np.diff(cdf, axis=-1), 0.0, None)
        # the score is the normal quantile of the mid-p lower tail; one CDF pass serves pmf and score
        z = special.ndtri(np.clip(0.5 * (cdf[:, :-1] + cdf[:, 1:]), 1e-300, 1 - 1e-16))
        total = pmf.sum(axis=-1)
        mean[i] = (pmf * z).sum(axis=-1) / total
        var[i] = (pmf * (z - mean[i][:, None]) ** 2).sum(axis=-1) / total
    _moment_table._cache = (mean, var)  # type: ignore[attr-defined]
    return mean, var


def score_moments(mu: FloatArray, alpha: FloatArray) -> tuple[FloatArray, FloatArray]:
    """Mean and variance of the standardised score :func:`nb_score` when the count follows NB2(mu, alpha).

    Near zero the mid-p score is almost constant (variance → 0); spatial sums use these moments so
    sparse cells neither dilute nor inflate their neighbourhood's statistic. Bilinear interpolation in
    (log mu, log alpha) on a table computed once; mu beyond 1000 is treated as 1000 (variance ≈ 1).
    """
    mean_t, var_t = _moment_table()
    lm = np.clip(np.log(np.maximum(np.asarray(mu, float), 1e-300)), _MOMENT_LOG_MU[0], _MOMENT_LOG_MU[-1])
    la = np.clip(
        np.log(np.maximum(np.asarray(alpha, float), 1e-300)), _MOMENT_LOG_ALPHA[0], _MOMENT_LOG_ALPHA[-1]
    )
    lm, la = np.broadcast_arrays(lm, la)
    fi = (lm - _MOMENT_LOG_MU[0]) / (_MOMENT_LOG_MU[1] - _MOMENT_LOG_MU[0])
    fj = (la - _MOMENT_LOG_ALPHA[0]) / (_MOMENT_LOG_ALPHA[1] - _MOMENT_LOG_ALPHA[0])
    i = np.clip(np.floor(fi).astype(int), 0, _MOMENT_LOG_MU.size - 2)
    j = np.clip(np.floor(fj).astype(int), 0, _MOMENT_LOG_ALPHA.size - 2)
    di, dj = fi - i, fj - j

    def interp(t: FloatArray) -> FloatArray:
        return (
            (1 - di) * (1 - dj) * t[i, j]
            + di * (1 - dj) * t[i + 1, j]
            + (1 - di) * dj * t[i, j + 1]
            + di * dj * t[i + 1, j + 1]
        )

    return interp(mean_t), np.maximum(interp(var_t), 0.0)
