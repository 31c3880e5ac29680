"""Known answers for the NB2 expected-count model: tail p-values, scores, fit, shares."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from scipy import stats

from metrics.warnings.errors import WarningsError
from metrics.warnings.nbmodel import (
    cell_alpha,
    design_matrix,
    fit_nb,
    holiday_day_numbers,
    nb_score,
    nb_sf_ge,
    score_moments,
    shrunken_shares,
    window_alpha,
)

TZ = timezone(timedelta(hours=8))


@pytest.mark.parametrize(
    ("y", "mu", "alpha"),
    [
        (0, 3.0, 0.2),
        (1, 0.05, 0.5),
        (5, 2.0, 0.1),
        (12, 4.0, 0.3),
        (40, 20.0, 0.05),
        (3, 10.0, 1.5),
        (250, 200.0, 0.01),
    ],
)
def test_nb_tail_matches_scipy_nbinom(y: int, mu: float, alpha: float) -> None:
    n, p = 1.0 / alpha, 1.0 / (1.0 + alpha * mu)
    expected = stats.nbinom.sf(y - 1, n, p)  # P(Y >= y)
    assert nb_sf_ge(np.array(y), np.array(mu), np.array(alpha)) == pytest.approx(
        expected, rel=1e-9, abs=1e-300
    )


@pytest.mark.parametrize(("y", "mu"), [(0, 1.0), (1, 0.2), (4, 1.0), (9, 3.5), (30, 12.0)])
def test_nb_tail_is_poisson_without_dispersion(y: int, mu: float) -> None:
    got = nb_sf_ge(np.array(y), np.array(mu), np.array(0.0))
    assert got == pytest.approx(stats.poisson.sf(y - 1, mu), rel=1e-9)


@pytest.mark.parametrize(("y", "mu", "alpha"), [(0, 0.1, 0.2), (1, 0.1, 0.2), (7, 3.0, 0.1), (2, 2.0, 0.0)])
def test_score_is_normal_quantile_of_mid_p(y: int, mu: float, alpha: float) -> None:
    if alpha > 0:
        dist = stats.nbinom(1 / alpha, 1 / (1 + alpha * mu))
    else:
        dist = stats.poisson(mu)
    midp = dist.sf(y) + 0.5 * dist.pmf(y)
    assert nb_score(np.array(y), np.array(mu), np.array(alpha)) == pytest.approx(
        -stats.norm.ppf(midp), rel=1e-7
    )


@settings(max_examples=60, deadline=None)
@given(mu=st.floats(0.01, 500), alpha=st.floats(0.0, 2.0), y=st.integers(0, 400))
def test_score_rises_with_the_count(mu: float, alpha: float, y: int) -> None:
    lo = nb_score(np.array(float(y)), np.array(mu), np.array(alpha))
    hi = nb_score(np.array(float(y + 1)), np.array(mu), np.array(alpha))
    assume(-37 < lo < 37 and -37 < hi < 37)  # beyond, both tails underflow double precision
    assert hi > lo


def test_design_matrix_calendar_columns() -> None:
    monday_midnight = datetime(2025, 6, 9, 0, 0, tzinfo=TZ).timestamp()  # a Monday
    holidays = holiday_day_numbers([date(2025, 6, 9)])
    x = design_matrix(
        np.array([monday_midnight]),
        bucket_s=3600,
        harmonics=1,
        holidays=holidays,
        trend_origin=monday_midnight,
        trend_end=monday_midnight,
    )
    # 1, sin, cos (hour 0.5 at the bucket midpoint), weekend sin/cos, Mon..Sat, holiday, trend
    angle = 2 * np.pi * 0.5 / 24
    assert x[0, :3] == pytest.approx([1.0, np.sin(angle), np.cos(angle)])
    assert list(x[0, 3:5]) == [0.0, 0.0]
    assert list(x[0, 5:11]) == [1.0, 0, 0, 0, 0, 0]
    assert x[0, 11] == 1.0
    assert x[0, 12] == 0.0  # trend held at trend_end


def test_trend_is_held_after_the_fit_window() -> None:
    t = np.array([0.0, 7 * 86400.0, 14 * 86400.0])
    x = design_matrix(
        t,
        bucket_s=3600,
        harmonics=1,
        holidays=holiday_day_numbers([]),
        trend_origin=0.0,
        trend_end=7 * 86400.0,
    )
    assert x[1, -1] == x[2, -1]


def _simulate(
    rng: np.random.Generator, s: int, n: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    ts = datetime(2025, 4, 14, tzinfo=TZ).timestamp() + np.arange(n) * 3600.0
    x = design_matrix(
        ts,
        bucket_s=3600,
        harmonics=3,
        holidays=holiday_day_numbers([]),
        trend_origin=ts.mean(),
        trend_end=ts[-1],
    )
    beta = np.zeros((s, x.shape[1]))
    beta[:, 0] = np.log(rng.uniform(2, 20, s))
    beta[:, 1:3] = rng.normal(0, 0.5, (s, 2))
    beta[:, 9] = 0.3  # Tuesday effect
    mu = np.exp(beta @ x.T)
    alpha = rng.uniform(0.05, 0.3, s)
    shape = 1 / alpha[:, None]
    y = rng.poisson(rng.gamma(shape, mu / shape)).astype(float)
    return ts, y, beta, alpha


def test_fit_recovers_coefficients_and_dispersion() -> None:
    rng = np.random.default_rng(7)
    ts, y, beta, alpha = _simulate(rng, 20, 8 * 7 * 24)
    fit = fit_nb(y, ts, harmonics=3)
    assert fit.converged.all()
    assert np.abs(fit.coef[:, 1:3] - beta[:, 1:3]).max() < 0.15
    assert np.abs(fit.coef[:, 9] - 0.3).max() < 0.25
    assert np.median(fit.alpha / alpha) == pytest.approx(1.0, abs=0.15)


def test_fit_ignores_missing_buckets() -> None:
    rng = np.random.default_rng(8)
    ts, y, beta, _ = _simulate(rng, 3, 4 * 7 * 24)
    holed = y.copy()
    holed[:, 100:300] = np.nan
    fit = fit_nb(holed, ts)
    assert np.isfinite(fit.coef).all()
    assert np.abs(fit.coef[:, 1:3] - beta[:, 1:3]).max() < 0.25


def test_fit_refuses_less_than_a_week() -> None:
    with pytest.raises(WarningsError, match="EARS"):
        fit_nb(np.ones((1, 48)), np.arange(48) * 3600.0)


def test_elapsed_fraction_of_a_flat_profile_is_clock_time() -> None:
    rng = np.random.default_rng(9)
    ts = np.arange(14 * 24) * 3600.0
    fit = fit_nb(rng.poisson(5.0, (2, ts.size)).astype(float), ts, harmonics=1)
    flat = type(fit)(**{**fit.__dict__, "coef": np.array([[np.log(5.0)] + [0.0] * (fit.coef.shape[1] - 1)])})
    assert flat.elapsed_fraction(ts[-1] + 3600, ts[-1] + 3600 + 1800)[0] == pytest.approx(0.5)
    assert flat.elapsed_fraction(ts[-1] + 3600, ts[-1] + 7200)[0] == pytest.approx(1.0)


def test_window_alpha_of_equal_buckets() -> None:
    assert window_alpha(np.full(24, 3.0), 0.24) == pytest.approx(0.01)


def test_shrunken_shares_known_answer() -> None:
    # 1 prior event per cell: shapes 9, 3, 1 out of 10 + 3
    share, shape = shrunken_shares(np.array([8.0, 2.0, 0.0]), np.array([0, 0, 0]), np.full(3, 1 / 3), 1.0)
    assert share == pytest.approx([9 / 13, 3 / 13, 1 / 13])
    assert shape == pytest.approx([9.0, 3.0, 1.0])
    assert cell_alpha(np.array(0.1), shape[2]) == pytest.approx(1.1 * 2 - 1)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.integers(0, 50), min_size=2, max_size=12), st.floats(0.1, 100))
def test_shares_of_a_parent_sum_to_one(counts: list[int], strength: float) -> None:
    n = len(counts)
    share, _ = shrunken_shares(
        np.array(counts, float), np.zeros(n, dtype=np.int64), np.full(n, 1 / n), strength
    )
    assert share.sum() == pytest.approx(1.0)


@pytest.mark.parametrize(("mu", "alpha"), [(0.05, 0.0), (1.0, 0.0), (4.0, 0.2), (30.0, 0.05), (0.3, 1.5)])
def test_score_moments_match_direct_summation(mu: float, alpha: float) -> None:
    y = np.arange(0, 400, dtype=float)
    dist = stats.poisson(mu) if alpha == 0 else stats.nbinom(1 / alpha, 1 / (1 + alpha * mu))
    pmf = dist.pmf(y)
    z = nb_score(y, np.array(mu), np.array(alpha))
    mean = float((pmf * z).sum())
    var = float((pmf * (z - mean) ** 2).sum())
    got_mean, got_var = score_moments(np.array(mu), np.array(alpha))
    assert got_mean == pytest.approx(mean, abs=0.01)
    assert got_var == pytest.approx(var, abs=0.02)
