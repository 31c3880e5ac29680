"""Known answers of the change explanation (metrics.index.explain) in the cases where indicators come
and go between the two periods."""

from __future__ import annotations

import numpy as np
import pytest

from metrics.index.aggregate import dimension_scores
from metrics.index.explain import change_contributions, effective

# Two dimensions of two indicators each, all weights equal.
MEMBER = np.array([[1, 0], [1, 0], [0, 1], [0, 1]], dtype=float)
IND_W = np.array([0.5, 0.5, 0.5, 0.5])
DIM_W = np.array([0.5, 0.5])


def period(scores: list[float]) -> tuple:
    s = np.array([scores], dtype=float)
    dims = dimension_scores(s, IND_W, MEMBER)
    present = ~np.isnan(dims)
    w = np.where(present, DIM_W, 0.0)
    index = np.exp((w * np.log(np.where(present, dims, 1.0))).sum(axis=1) / w.sum(axis=1))
    return effective(s, IND_W, MEMBER, dims, DIM_W, index), index[0]


def test_terms_that_cancel_in_a_dimension_whose_weight_moved_still_add_up() -> None:
    # Before: A = (70, 70) -> 70, B = (90, 70) -> 80, S = sqrt(70 * 80). Now B has no data and A only
    # its first indicator, still 70: A's indicator terms cancel, but A now carries all the weight.
    before, s0 = period([70, 70, 90, 70])
    now, s1 = period([70, np.nan, np.nan, np.nan])
    assert s0 == pytest.approx(np.sqrt(70 * 80)) and s1 == pytest.approx(70.0)
    change = change_contributions(now, before, MEMBER, "geometric", 1.0)[0]
    assert change.sum() == pytest.approx(s1 - s0)
    lm = (s1 - s0) / (np.log(s1) - np.log(s0))  # the logarithmic mean of the two scores
    a_term = lm * (1.0 * np.log(70) - 0.5 * np.log(70))
    b_term = lm * (0.0 - 0.5 * np.log(80))
    # A's term is split by the indicators' weights of both periods: (1 + 0.5) : (0 + 0.5).
    assert change[:2] == pytest.approx([0.75 * a_term, 0.25 * a_term])
    # B's by each indicator's change of weighted score: 0.5 * 90 : 0.5 * 70.
    assert change[2:] == pytest.approx([b_term * 90 / 160, b_term * 70 / 160])


def test_an_indicator_that_drops_out_of_a_dimension_keeps_the_sum() -> None:
    before, s0 = period([80, 60, 90, 70])
    now, s1 = period([80, np.nan, 90, 70])
    change = change_contributions(now, before, MEMBER, "geometric", 1.0)[0]
    assert change.sum() == pytest.approx(s1 - s0)
    assert change[2] == pytest.approx(0.0) and change[3] == pytest.approx(0.0)
