"""Known answers for CUSUM, EWMA, EARS C1–C3 and the windowed NB test."""

from __future__ import annotations

import statistics

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from metrics.warnings.errors import WarningsError
from metrics.warnings.nbmodel import nb_score
from metrics.warnings.temporal import (
    cusum,
    ears,
    ewma,
    ewma_span,
    rolling_sum,
    trailing_sum,
    window_score,
)


def test_cusum_hand_worked() -> None:
    s, run = cusum(np.array([0.0, 1.0, 2.0, -1.0, 3.0, 0.0, -4.0, 1.0]), k=0.5)
    # 0 -> max(0, -0.5)=0; 0.5; 2.0; 0.5; 3.0; 2.5; max(0, 2.5-4.5)=0; 0.5
    assert s == pytest.approx([0.0, 0.5, 2.0, 0.5, 3.0, 2.5, 0.0, 0.5])
    assert list(run) == [0, 1, 2, 3, 4, 5, 0, 1]


def test_cusum_is_vectorised_over_series() -> None:
    z = np.array([[0.0, 1.0, 2.0], [3.0, -9.0, 1.0]])
    s, _ = cusum(z, k=1.0)
    assert s.tolist() == [[0.0, 0.0, 1.0], [2.0, 0.0, 0.0]]


@settings(max_examples=50, deadline=None)
@given(st.lists(st.floats(-5, 5), min_size=1, max_size=40), st.floats(0, 2))
def test_cusum_never_negative_and_grows_with_scores(z: list[float], k: float) -> None:
    arr = np.array(z)
    s, _ = cusum(arr, k)
    s_up, _ = cusum(arr + 0.5, k)
    assert (s >= 0).all()
    assert (s_up >= s - 1e-12).all()


def test_ewma_hand_worked() -> None:
    # E: 1, 0.5, 1.25; SD: sqrt(1/3 (1 - 0.5^(2t))) = 0.5, 0.5590, 0.5728
    got = ewma(np.array([2.0, 0.0, 2.0]), lam=0.5)
    assert got == pytest.approx([2.0, 0.5 / np.sqrt(0.3125), 1.25 / np.sqrt(0.328125)])


def test_ewma_rejects_bad_lambda() -> None:
    with pytest.raises(WarningsError, match="lam"):
        ewma(np.zeros(3), lam=0.0)


def test_ewma_span() -> None:
    assert ewma_span(0.2) == 9
    assert ewma_span(1.0) == 1


SERIES = [3.0, 5.0, 4.0, 6.0, 5.0, 4.0, 5.0, 4.0, 6.0, 5.0, 12.0, 14.0, 9.0]


def _ref_c(y: list[float], t: int, lo: int, hi: int, min_sd: float) -> float:
    base = y[t - hi : t - lo + 1]
    return (y[t] - statistics.mean(base)) / max(statistics.stdev(base), min_sd)


@pytest.mark.parametrize("t", [7, 10, 11, 12])
def test_ears_c1_against_hand_formula(t: int) -> None:
    got = ears(np.array(SERIES), "C1")
    assert got[t] == pytest.approx(_ref_c(SERIES, t, 1, 7, 0.5))
    assert np.isnan(got[:7]).all()


@pytest.mark.parametrize("t", [9, 10, 11, 12])
def test_ears_c2_against_hand_formula(t: int) -> None:
    got = ears(np.array(SERIES), "C2")
    assert got[t] == pytest.approx(_ref_c(SERIES, t, 3, 9, 0.5))
    assert np.isnan(got[:9]).all()


def test_ears_c2_worked_value() -> None:
    # day 10 (value 12): baseline days 1..7 = 5,4,6,5,4,5,4: mean 33/7, sample SD 0.7559
    got = ears(np.array(SERIES), "C2")[10]
    assert got == pytest.approx((12 - 33 / 7) / 0.7559289460184544)


def test_ears_c3_sums_three_c2_excesses() -> None:
    y = np.array(SERIES)
    c2 = ears(y, "C2")
    c3 = ears(y, "C3")
    assert np.isnan(c3[:11]).all()  # needs C2 at t-2
    assert c3[12] == pytest.approx(sum(max(0.0, c2[i] - 1) for i in (10, 11, 12)))


def test_ears_min_sd_on_a_flat_baseline() -> None:
    y = np.array([4.0] * 9 + [6.0])
    assert ears(y, "C2", min_sd=0.5)[9] == pytest.approx(4.0)


def test_ears_step_compares_same_hour_on_earlier_days() -> None:
    day = np.tile([1.0, 10.0], 10)  # two "hours" per day, period 2
    got = ears(day, "C1", step=2)
    assert np.nanmax(np.abs(got)) == 0.0  # each hour matches its own history, not the other hour


def test_rolling_sum() -> None:
    got = rolling_sum(np.array([1.0, 2.0, 3.0, 4.0]), 2)
    assert np.isnan(got[0])
    assert list(got[1:]) == [3.0, 5.0, 7.0]


def test_ears_rejects_unknown_method() -> None:
    with pytest.raises(WarningsError, match="C1, C2 or C3"):
        ears(np.zeros(10), "C4")  # type: ignore[arg-type]


def test_trailing_sum_shortens_only_at_the_start() -> None:
    assert trailing_sum(np.array([1.0, 2.0, 3.0, 4.0]), 2).tolist() == [1.0, 3.0, 5.0, 7.0]
    assert trailing_sum(np.array([[1.0, np.nan, 3.0]]), 5).tolist() == [[1.0, 1.0, 4.0]]


def test_window_score_poisson_hand_worked() -> None:
    # totals of the last 3 buckets: 0 of 1, 2 of 2, 6 of 3, 7 of 3 expected (Poisson);
    # score = -Φ⁻¹(P(Y > y) + P(Y = y)/2), e.g. y=0, M=1: -Φ⁻¹(e^-1/2 + (1 - e^-1)) = -0.90045
    got = window_score(np.array([0.0, 2.0, 4.0, 1.0]), np.ones(4), np.zeros(4), 3)
    assert got == pytest.approx([-0.9004526, 0.1038130, 1.5656675, 2.0008084], abs=1e-6)


@pytest.mark.parametrize(
    ("counts", "expected", "alpha", "score"),
    [
        # total 20 vs 12; window alpha 0.1 (4 + 16 + 36) / 12² = 0.038889; scipy.stats.nbinom mid-p
        ((5.0, 7.0, 8.0), (2.0, 4.0, 6.0), 0.1, 1.7514472),
        # Poisson total 9 vs 3: P(Y > 9) + P(Y = 9)/2 = 0.0011025 + 0.0027005/2
        ((3.0, 3.0, 3.0), (1.0, 1.0, 1.0), 0.0, 2.8131759),
    ],
)
def test_window_score_known_answers(
    counts: tuple[float, ...], expected: tuple[float, ...], alpha: float, score: float
) -> None:
    got = window_score(np.array([counts]), np.array([expected]), np.array([[alpha]]), len(counts))
    assert got[0, -1] == pytest.approx(score, abs=1e-6)


@settings(max_examples=50, deadline=None)
@given(
    st.lists(st.integers(0, 40), min_size=1, max_size=30),
    st.floats(0.2, 30.0),
    st.floats(0.0, 0.5),
    st.integers(1, 30),
)
def test_window_score_one_bucket_is_the_spike_score_and_grows_with_counts(
    counts: list[int], mu: float, alpha: float, width: int
) -> None:
    y = np.array(counts, dtype=float)
    m = np.full(y.size, mu)
    a = np.full(y.size, alpha)
    assert window_score(y, m, a, 1) == pytest.approx(nb_score(y, m, a), abs=1e-9)
    more = y.copy()
    more[-1] += 1
    before, after = window_score(y, m, a, width)[-1], window_score(more, m, a, width)[-1]
    # far out in the tail the p-value underflows and the score saturates (~37): it can only stay there
    assert after > before or after == before > 30


def test_window_score_rejects_an_empty_window() -> None:
    with pytest.raises(WarningsError, match="width"):
        window_score(np.ones(3), np.ones(3), np.zeros(3), 0)
