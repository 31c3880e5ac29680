"""Known-answer tests of the methods: normalisation, weighting, AHP, aggregation, shrinkage, levels."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from metrics.index.aggregate import aggregate, dimension_scores
from metrics.index.config import SAATY_RANDOM_INDEX, LevelRules, ahp_priorities
from metrics.index.levels import assign_levels, level_index, rank_scores, rank_within
from metrics.index.normalise import distance_to_target, goalposts, min_max, z_score
from metrics.index.smoothing import shrink_mean, shrink_poisson, shrink_share
from metrics.index.weighting import entropy_weights

# ------------------------------------------------------------------------------------ normalisation


@pytest.mark.parametrize(
    ("x", "low", "high", "better", "expected"),
    [
        (0.0, 0.0, 3.0, False, 100.0),
        (3.0, 0.0, 3.0, False, 0.0),
        (1.5, 0.0, 3.0, False, 50.0),
        (6.0, 0.0, 3.0, False, 0.0),  # beyond the bad goalpost: clipped
        (0.8, 0.6, 1.0, True, 50.0),
        (0.5, 0.6, 1.0, True, 0.0),
        (1.2, 0.6, 1.0, True, 100.0),
        (12.0, 2.0, 30.0, False, 64.28571428571429),
    ],
)
def test_goalposts(x: float, low: float, high: float, better: bool, expected: float) -> None:
    assert goalposts(np.array([x]), low, high, better)[0] == pytest.approx(expected)


@pytest.mark.parametrize(
    ("values", "better", "expected"),
    [
        ([1.0, 2.0, 3.0], True, [0.0, 50.0, 100.0]),
        ([1.0, 2.0, 3.0], False, [100.0, 50.0, 0.0]),
        ([4.0, 4.0, 4.0], True, [50.0, 50.0, 50.0]),
        ([1.0, np.nan, 5.0], True, [0.0, np.nan, 100.0]),
    ],
)
def test_min_max(values: list[float], better: bool, expected: list[float]) -> None:
    np.testing.assert_allclose(min_max(np.array(values), better), expected)


@pytest.mark.parametrize(
    ("values", "better", "expected"),
    [
        # z = (-1.2247, 0, 1.2247) with the population sd; Phi(1.2247) = 0.88966
        ([1.0, 2.0, 3.0], True, [11.034, 50.0, 88.966]),
        ([1.0, 2.0, 3.0], False, [88.966, 50.0, 11.034]),
        ([7.0, 7.0], True, [50.0, 50.0]),
        # z = +-1 exactly: Phi(1) = 0.841345
        ([0.0, 2.0], True, [15.8655, 84.1345]),
    ],
)
def test_z_score(values: list[float], better: bool, expected: list[float]) -> None:
    np.testing.assert_allclose(z_score(np.array(values), better), expected, atol=1e-3)


@pytest.mark.parametrize(
    ("x", "target", "better", "expected"),
    [
        (0.45, 0.9, True, 50.0),  # half the target
        (0.9, 0.9, True, 100.0),
        (1.2, 0.9, True, 100.0),  # above target: capped (CityScore would give 1.33)
        (10.0, 5.0, False, 50.0),  # twice the target when lower is better
        (4.0, 5.0, False, 100.0),
        (0.0, 5.0, False, 100.0),
        (0.0, 0.9, True, 0.0),
    ],
)
def test_distance_to_target(x: float, target: float, better: bool, expected: float) -> None:
    assert distance_to_target(np.array([x]), target, better)[0] == pytest.approx(expected)


# ---------------------------------------------------------------------------------------- weighting


def test_entropy_weights_reproduce_xu_2004() -> None:
    # Xu, X. (2004). A note on the subjective and objective integrated approach to determine attribute
    # weights. European Journal of Operational Research 156(2): 530-532, doi:10.1016/S0377-2217(03)00146-2.
    # Four alternatives, four benefit attributes; the paper's entropy weights are 0.4630, 0.3992, 0.1378,
    # 0.0000 (the fourth attribute barely varies, so it carries no information).
    matrix = np.array([[30, 30, 38, 29], [19, 54, 86, 29], [19, 15, 85, 28.9], [68, 70, 60, 29]], dtype=float)
    np.testing.assert_allclose(entropy_weights(matrix).round(4), [0.4630, 0.3992, 0.1378, 0.0000])


@pytest.mark.parametrize(
    ("matrix", "expected"),
    [
        ([[1, 5], [1, 5], [1, 5]], [0.5, 0.5]),  # nothing varies: equal weights
        ([[0, 5], [0, 6], [0, 7]], [0.0, 1.0]),  # an all-zero column carries no information
        ([[1, 1], [0, 1]], [1.0, 0.0]),  # maximal contrast vs none
        ([[1, 1]], [0.5, 0.5]),  # one entity: equal
    ],
)
def test_entropy_weights_edge_cases(matrix: list[list[float]], expected: list[float]) -> None:
    np.testing.assert_allclose(entropy_weights(np.array(matrix, dtype=float)), expected, atol=1e-12)


def test_ahp_known_answer() -> None:
    # The classic three-criterion example: priorities 0.637 / 0.258 / 0.105, lambda_max 3.0385,
    # CI = 0.0193, CR = CI / RI(3) = 0.0193 / 0.58 = 0.033.
    w, lam, cr = ahp_priorities(np.array([[1, 3, 5], [1 / 3, 1, 3], [1 / 5, 1 / 3, 1]]))
    np.testing.assert_allclose(w, [0.6370, 0.2583, 0.1047], atol=1e-4)
    assert lam == pytest.approx(3.0385, abs=1e-4)
    assert cr == pytest.approx(0.0332, abs=1e-4)


@pytest.mark.parametrize(
    ("n", "ri"), [(3, 0.58), (4, 0.90), (5, 1.12), (6, 1.24), (7, 1.32), (8, 1.41), (9, 1.45), (10, 1.49)]
)
def test_saaty_random_index(n: int, ri: float) -> None:
    assert SAATY_RANDOM_INDEX[n] == ri
    # a perfectly consistent matrix a_ij = w_i / w_j has lambda_max = n and CR = 0
    w = np.arange(1, n + 1, dtype=float)
    got, lam, cr = ahp_priorities(w[:, None] / w[None, :])
    np.testing.assert_allclose(got, w / w.sum(), atol=1e-10)
    assert lam == pytest.approx(n) and cr == pytest.approx(0.0, abs=1e-9)


def test_ahp_cyclic_judgements_are_inconsistent() -> None:
    # A over B, B over C, C over A, each strongly: CR far above 0.1
    _, _, cr = ahp_priorities(np.array([[1, 9, 1 / 9], [1 / 9, 1, 9], [9, 1 / 9, 1]]))
    assert cr > 1.0


# -------------------------------------------------------------------------------------- aggregation


@pytest.mark.parametrize(
    ("dims", "weights", "method", "expected"),
    [
        ([80.0, 20.0], [0.5, 0.5], "arithmetic", 50.0),
        ([80.0, 20.0], [0.5, 0.5], "geometric", 40.0),
        ([90.0, 90.0, 10.0], [1, 1, 1], "geometric", (90 * 90 * 10) ** (1 / 3)),
        ([0.0, 100.0], [0.5, 0.5], "geometric", 10.0),  # 0 floored at 1: sqrt(1 x 100)
        ([80.0, np.nan], [0.5, 0.5], "geometric", 80.0),  # missing dimension: weights renormalised
        ([80.0, 20.0], [3.0, 1.0], "arithmetic", 65.0),
        ([np.nan, np.nan], [0.5, 0.5], "arithmetic", np.nan),
    ],
)
def test_aggregate(dims: list[float], weights: list[float], method: str, expected: float) -> None:
    got = aggregate(np.array([dims]), np.array(weights, dtype=float), method, floor=1.0)[0]
    if np.isnan(expected):
        assert np.isnan(got)
    else:
        assert got == pytest.approx(expected)


def test_geometric_punishes_one_bad_dimension_more_than_arithmetic() -> None:
    dims = np.array([[95.0, 95.0, 95.0, 5.0], [70.0, 70.0, 70.0, 70.0]])
    w = np.full(4, 0.25)
    arith = aggregate(dims, w, "arithmetic")
    geo = aggregate(dims, w, "geometric")
    assert arith[0] > arith[1]  # the hotline-hides-violence failure of the arithmetic mean
    assert geo[0] < geo[1]
    # the figures quoted in docs/index-method.md
    np.testing.assert_allclose([arith[0], geo[0]], [72.5, 45.5025], atol=1e-4)


def test_dimension_scores_weighted_mean_over_present_indicators() -> None:
    scores = np.array([[100.0, 0.0, 50.0], [np.nan, 40.0, np.nan]])
    member = np.array([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
    got = dimension_scores(scores, np.array([0.75, 0.25, 1.0]), member)
    np.testing.assert_allclose(got, [[75.0, 50.0], [40.0, np.nan]])


# -------------------------------------------------------------------------------------- shrinkage


@pytest.mark.parametrize(
    ("counts", "exposure", "expected"),
    [
        # m = 5, s2 = 25, v = 25 - 5/1 = 20: alpha = 1.25, beta = 0.25 -> (0+1.25)/1.25, (10+1.25)/1.25
        ([0, 10], [1, 1], [1.0, 9.0]),
        # no extra-Poisson variation (v <= 0): full pooling at the district rate
        ([2, 0], [1, 1], [1.0, 1.0]),
        ([3, 3], [1, 1], [3.0, 3.0]),
        # no events anywhere: rate 0, not NaN
        ([0, 0], [1, 2], [0.0, 0.0]),
        # no exposure: no estimate
        ([1, 4], [0, 2], [np.nan, 2.0]),
    ],
)
def test_shrink_poisson(counts: list[float], exposure: list[float], expected: list[float]) -> None:
    got = shrink_poisson(np.array(counts, float), np.array(exposure, float), np.zeros(len(counts), int))
    np.testing.assert_allclose(got, expected)


def test_shrink_poisson_pulls_toward_each_own_district() -> None:
    got = shrink_poisson(np.array([0.0, 10, 100, 100]), np.ones(4), np.array([0, 0, 1, 1]))
    np.testing.assert_allclose(got, [1.0, 9.0, 100.0, 100.0])


def test_shrink_share() -> None:
    # p = 0.5, s2 = 0.25, v = 0.25 - 0.25/10 = 0.225, M = 0.25/0.225 - 1 = 1/9
    got = shrink_share(np.array([0.0, 10.0, 0.0]), np.array([10.0, 10.0, 0.0]), np.zeros(3, int))
    m = 1 / 9
    np.testing.assert_allclose(got, [(0.5 * m) / (10 + m), (10 + 0.5 * m) / (10 + m), 0.5])


def test_shrink_mean() -> None:
    got = shrink_mean(np.array([100.0, 60.0, 0.0]), np.array([10.0, 2.0, 0.0]), np.zeros(3, int), prior_n=5)
    m = 160 / 12
    np.testing.assert_allclose(got, [(100 + 5 * m) / 15, (60 + 5 * m) / 7, m])


# ----------------------------------------------------------------------------------------- levels

RULES = LevelRules((80.0, 65.0, 50.0), 2.5, "C", ("grid",))


@pytest.mark.parametrize(
    ("score", "letter"), [(100, "A"), (80, "A"), (79.99, "B"), (65, "B"), (50, "C"), (49.9, "D"), (0, "D")]
)
def test_level_index(score: float, letter: str) -> None:
    assert "ABCD"[level_index(np.array([score]), RULES.thresholds)[0]] == letter


@pytest.mark.parametrize(
    ("score", "previous", "s4", "expected"),
    [
        (81.0, "B", 0, "B"),  # above A's threshold, but not by the margin
        (82.5, "B", 0, "A"),
        (63.0, "B", 0, "B"),  # below B's threshold, within the margin
        (62.4, "B", 0, "C"),
        (40.0, "A", 0, "D"),  # a collapse moves all the way
        (79.0, "A", 0, "A"),
        (79.0, None, 0, "B"),  # first run: no hysteresis
        (90.0, None, 1, "C"),  # severity-4 hold
        (90.0, "A", 2, "C"),
        (30.0, None, 1, "D"),  # the hold never improves a level
        (np.nan, "A", 0, None),
    ],
)
def test_levels_with_hysteresis_and_hold(
    score: float, previous: str | None, s4: int, expected: str | None
) -> None:
    got = assign_levels(
        np.array([score]), RULES, np.array([previous], dtype=object), np.array([s4]), hold=True
    )
    assert got[0] == expected


def test_hold_applies_only_where_asked() -> None:
    assert assign_levels(np.array([90.0]), RULES, None, np.array([1]), hold=False)[0] == "A"


def test_ranks_ties_broken_by_id_and_ineligible_left_out() -> None:
    ids = pd.Index(["b", "a", "c", "d"])
    got = rank_scores(np.array([70.0, 70.0, 90.0, 95.0]), np.array([True, True, True, False]), ids)
    np.testing.assert_array_equal(got, [3.0, 2.0, 1.0, np.nan])


def test_rank_within_groups() -> None:
    ids = pd.Index(["g1", "g2", "g3", "g4", "g5"])
    got = rank_within(
        np.array([10.0, 30.0, 20.0, 5.0, np.nan]), np.ones(5, bool), ids, np.array(["x", "x", "y", "y", "y"])
    )
    np.testing.assert_array_equal(got, [2.0, 1.0, 1.0, 2.0, np.nan])
