"""Levels: entry conditions, hysteresis, warning starts, calibration curves."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from metrics.warnings.errors import WarningsConfigError
from metrics.warnings.levels import (
    CalibrationCurve,
    LevelSpec,
    calibrate_curve,
    episode_starts,
    hysteresis,
    raw_level,
)

LEVELS = (
    LevelSpec("blue", 30, 3, 1.1),
    LevelSpec("yellow", 100, 5, 1.15),
    LevelSpec("orange", 365, 10, 1.3),
    LevelSpec("red", 3650, 20, 1.5),
)


@pytest.mark.parametrize(
    ("ri", "excess", "rr", "level"),
    [
        (10, 100, 5, 0),  # not rare enough
        (40, 100, 5, 1),
        (150, 100, 5, 2),
        (500, 100, 5, 3),
        (5000, 100, 5, 4),
        (5000, 15, 5, 3),  # excess too small for red
        (5000, 100, 1.2, 2),  # relative risk too small for orange
        (5000, 2, 5, 0),  # below every minimum excess
    ],
)
def test_raw_level_table(ri: float, excess: float, rr: float, level: int) -> None:
    assert raw_level(np.array(ri), np.array(excess), np.array(rr), LEVELS) == level


@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        ([0, 3, 1, 1, 2, 0, 0], [0, 3, 3, 1, 2, 2, 0]),
        ([4, 0, 4, 0, 0], [4, 4, 4, 4, 0]),
        ([1, 2, 3, 4], [1, 2, 3, 4]),
        ([3, 2, 1, 0], [3, 3, 2, 1]),
    ],
)
def test_hysteresis_rises_at_once_and_falls_after_two_windows(raw: list[int], shown: list[int]) -> None:
    assert list(hysteresis(np.array(raw), 2)) == shown


def test_episode_starts_need_two_quiet_windows() -> None:
    flags = np.array([1, 1, 0, 1, 0, 0, 1], dtype=bool)
    assert list(episode_starts(flags, 2).astype(int)) == [1, 0, 0, 0, 0, 0, 1]


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(0, 4), min_size=1, max_size=50))
def test_hysteresis_never_below_raw_and_starts_match_shown_level(raw: list[int]) -> None:
    arr = np.array(raw)
    shown = hysteresis(arr, 2)
    assert (shown >= arr).all()
    for lvl in range(1, 5):
        on = shown >= lvl
        rising = on & ~np.concatenate([[False], on[:-1]])
        assert (rising == episode_starts(arr >= lvl, 2)).all()


def test_calibration_curve_interpolates_and_extrapolates() -> None:
    curve = CalibrationCurve(stat=(1.0, 2.0, 3.0), log10_days=(0.0, 1.0, 2.0))
    got = curve.recurrence_days(np.array([1.5, 3.0, 4.0, -np.inf]))
    assert got == pytest.approx([10**0.5, 100.0, 1000.0, 0.0])


@pytest.mark.parametrize(
    ("stat", "days"), [((1.0,), (0.0,)), ((2.0, 1.0), (0.0, 1.0)), ((1.0, 2.0), (1.0, 0.0))]
)
def test_calibration_curve_checks_its_points(stat: tuple[float, ...], days: tuple[float, ...]) -> None:
    with pytest.raises(WarningsConfigError):
        CalibrationCurve(stat=stat, log10_days=days)


def test_calibrate_curve_on_iid_normal_scores() -> None:
    # hourly iid N(0,1): a threshold of 3 is crossed with p = 0.00135 per hour -> one warning per ~31 days
    rng = np.random.default_rng(3)
    z = rng.standard_normal((200, 24 * 200))
    curve = calibrate_curve(z, 24.0)
    expected_days = 1 / (0.0013499 * 24 * (1 - 0.0013499) ** 2)
    assert curve.recurrence_days(np.array(3.0)) == pytest.approx(expected_days, rel=0.15)
