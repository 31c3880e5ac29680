"""Known answers for Gi*, Benjamini–Hochberg, Mann–Kendall and the emerging-hot-spot classes."""

from __future__ import annotations

import h3
import numpy as np
import pytest
from scipy import sparse

from metrics.warnings.spatial import (
    benjamini_hochberg,
    emerging_hot_spots,
    getis_ord_gi_star,
    gi_star_model,
    h3_weights,
    mann_kendall,
)

CHAIN = sparse.csr_matrix(
    np.array(
        [
            [1, 1, 0, 0, 0],
            [1, 1, 1, 0, 0],
            [0, 1, 1, 1, 0],
            [0, 0, 1, 1, 1],
            [0, 0, 0, 1, 1],
        ],
        dtype=float,
    )
)


def test_gi_star_on_a_hand_computed_chain() -> None:
    # x = 1..5: mean 3, S = sqrt(55/5 - 9) = sqrt(2). Cell 0: (3 - 3*2) / (sqrt2 * sqrt((5*2-4)/4)) = -sqrt(3)
    got = getis_ord_gi_star(np.arange(1.0, 6.0), CHAIN)
    r3 = np.sqrt(3.0)
    assert got == pytest.approx([-r3, -r3, 0.0, r3, r3])


def test_gi_star_columns_are_independent_maps() -> None:
    x = np.column_stack([np.arange(1.0, 6.0), np.arange(5.0, 0.0, -1.0)])
    got = getis_ord_gi_star(x, CHAIN)
    assert got[:, 0] == pytest.approx(-got[:, 1])


def test_gi_star_of_a_constant_map_is_zero() -> None:
    assert (getis_ord_gi_star(np.full(5, 2.0), CHAIN) == 0).all()


def test_model_gi_star_by_hand() -> None:
    # cell 2: (x1 + x2 + x3 - (m1 + m2 + m3)) / sqrt(v1 + v2 + v3) = (1 + 2 + 3 - 0.3) / sqrt(0.5 + 1 + 0.25)
    x = np.array([0.0, 1.0, 2.0, 3.0, 0.0])
    m = np.full(5, 0.1)
    v = np.array([1.0, 0.5, 1.0, 0.25, 1.0])
    got = gi_star_model(x, m, v, CHAIN)
    assert got[2] == pytest.approx(5.7 / np.sqrt(1.75))
    assert got[0] == pytest.approx((1.0 - 0.2) / np.sqrt(1.5))


def test_h3_weights_use_the_first_ring() -> None:
    centre = h3.latlng_to_cell(23.13, 113.32, 8)
    cells = sorted(h3.grid_disk(centre, 1))
    w = h3_weights(cells, 1).toarray()
    i = cells.index(centre)
    assert w[i].sum() == 7
    assert (w == w.T).all()
    assert np.diag(w).all()


# Benjamini & Hochberg (1995), section 4: 15 p-values; at q = 0.05 the procedure rejects the 4 smallest.
BH_1995 = [
    0.0001,
    0.0004,
    0.0019,
    0.0095,
    0.0201,
    0.0278,
    0.0298,
    0.0344,
    0.0459,
    0.3240,
    0.4262,
    0.5719,
    0.6528,
    0.7590,
    1.0000,
]


def test_benjamini_hochberg_textbook_example() -> None:
    p = np.array(BH_1995)
    rng = np.random.default_rng(1)
    order = rng.permutation(p.size)
    got = benjamini_hochberg(p[order], 0.05)
    assert got.sum() == 4
    assert set(p[order][got]) == set(BH_1995[:4])


@pytest.mark.parametrize(
    ("p", "q", "n_reject"),
    [
        ([0.01, 0.02, 0.03, 0.04], 0.05, 4),  # p_(4) = 0.04 <= 4*0.05/4
        ([0.2, 0.3, 0.4], 0.05, 0),
        ([0.001, 0.5, 0.9, 0.04], 0.1, 2),  # sorted 0.04 <= 2*0.1/4
        ([0.001, 0.5, 0.9, 0.06], 0.1, 1),  # 0.06 > 2*0.1/4
    ],
)
def test_benjamini_hochberg_table(p: list[float], q: float, n_reject: int) -> None:
    assert benjamini_hochberg(np.array(p), q).sum() == n_reject


def test_benjamini_hochberg_per_column() -> None:
    p = np.column_stack([BH_1995, np.ones(15)])
    assert list(benjamini_hochberg(p, 0.05).sum(axis=0)) == [4, 0]


@pytest.mark.parametrize(
    ("x", "s", "z"),
    [
        ([1, 2, 3, 4, 5], 10, 9 / np.sqrt(5 * 4 * 15 / 18)),
        ([5, 4, 3, 2, 1], -10, -9 / np.sqrt(5 * 4 * 15 / 18)),
        ([1, 2, 2, 3], 5, 4 / np.sqrt((4 * 3 * 13 - 2 * 1 * 9) / 18)),  # one tie pair
        ([3, 1, 3, 1], -2, -1 / np.sqrt((4 * 3 * 13 - 2 * 18) / 18)),  # two tie pairs
    ],
)
def test_mann_kendall_known_answers(x: list[float], s: float, z: float) -> None:
    got_s, got_z, got_p = mann_kendall(np.array(x, dtype=float))
    assert got_s == s
    assert got_z == pytest.approx(z)
    assert 0 <= got_p <= 1


def test_mann_kendall_p_of_a_perfect_trend_of_five() -> None:
    _, _, p = mann_kendall(np.arange(5.0))
    assert p == pytest.approx(0.0275, abs=5e-4)


def test_emerging_hot_spot_classes() -> None:
    t = 10
    hot = np.zeros((9, t), dtype=bool)
    cold = np.zeros((9, t), dtype=bool)
    gi = np.zeros((9, t))
    hot[0, -1] = True  # new
    hot[1, -3:] = True  # consecutive
    hot[2] = True  # intensifying
    gi[2] = np.arange(t, dtype=float) + 3
    hot[3] = True  # persistent
    gi[3] = np.array([3, 4, 3, 4, 3, 4, 3, 4, 3, 4], dtype=float)
    hot[4] = True  # diminishing
    gi[4] = 20.0 - np.arange(t)
    hot[5, [1, 4, 9]] = True  # sporadic
    hot[6, [1, 4, 9]] = True  # oscillating: also a cold spot earlier
    cold[6, 6] = True
    hot[7, :-1] = True  # historical
    got = emerging_hot_spots(gi, hot, cold)
    assert list(got) == [
        "new",
        "consecutive",
        "intensifying",
        "persistent",
        "diminishing",
        "sporadic",
        "oscillating",
        "historical",
        "no_pattern",
    ]
