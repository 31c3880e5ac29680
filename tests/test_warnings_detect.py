"""One detection cycle: temporal and spatial candidates with explanations; the shipped configuration."""

from __future__ import annotations

from pathlib import Path

import h3
import numpy as np
import pytest

from metrics.warnings.config import load_config
from metrics.warnings.detect import (
    TEMPORAL_DETECTORS,
    SeriesKey,
    ears_detect,
    spatial_candidates,
    spatial_detect,
    temporal_candidates,
    temporal_detect,
)
from metrics.warnings.errors import WarningsConfigError
from metrics.warnings.spatial import h3_weights

CONFIG = load_config()
T0 = 1_750_000_000.0 - (1_750_000_000.0 % 3600)


def test_shipped_config_is_complete() -> None:
    assert [lv.name for lv in CONFIG.levels] == ["blue", "yellow", "orange", "red"]
    assert set(CONFIG.calibration) == set(TEMPORAL_DETECTORS)
    assert set(CONFIG.detectors.budget) == set(TEMPORAL_DETECTORS)
    assert sum(CONFIG.detectors.budget.values()) == pytest.approx(1.0)
    # the detectors overlap, so the OR of their shares warns less often than the shares add up to
    assert 0.3 <= CONFIG.combined_factor <= 1.0
    assert {r.name for r in CONFIG.rules} >= {"severity4_incident", "verified_fire_smoke"}


def test_config_errors_name_the_problem(tmp_path: Path) -> None:
    bad = tmp_path / "w.toml"
    bad.write_text("[model]\nfit_weekz = 3\n", encoding="utf-8")
    with pytest.raises(WarningsConfigError, match="fit_weekz"):
        load_config(bad)
    bad.write_text(
        "[levels.blue]\nrecurrence_days = 1\nmin_excess = 1\nmin_relative_risk = 1\n", encoding="utf-8"
    )
    with pytest.raises(WarningsConfigError, match=r"levels\.yellow"):
        load_config(bad)


@pytest.mark.parametrize(
    ("budget", "match"),
    [
        ("spike = 0.5\ncusum = 0.5\newma = 0.0\nwindow = 0.0\n", "positive"),
        ("spike = 0.3\ncusum = 0.3\newma = 0.3\nwindow = 0.3\n", "sum to 1"),
        ("spike = 0.5\ncusum = 0.5\n", "window"),
    ],
)
def test_budget_shares_are_checked(tmp_path: Path, budget: str, match: str) -> None:
    text = (Path(__file__).parents[1] / "metrics/warnings/default.toml").read_text(encoding="utf-8")
    start = text.index("[detectors.budget]")
    end = text.index("[spatial]")
    bad = tmp_path / "w.toml"
    bad.write_text(text[:start] + "[detectors.budget]\n" + budget + "\n" + text[end:], encoding="utf-8")
    with pytest.raises(WarningsConfigError, match=match):
        load_config(bad)


def test_a_day_long_rise_is_explained_over_its_24_hour_window() -> None:
    # +25 % for a day at 20 an hour: 120 extra events, about 4.7 SD of the day's count (sqrt(480 + 0.01
    # · 24 · 400) ≈ 22.1) but only ≈ 1.0 SD in any hour
    rng = np.random.default_rng(17)
    expected = np.full((1, 168), 20.0)
    counts = rng.poisson(expected).astype(float)
    counts[0, -24:] = rng.poisson(25.0, 24)
    result = temporal_detect(counts, expected, np.full(1, 0.01), CONFIG)
    assert result.stat["window"][0, -1] > 3.5
    keys = [SeriesKey("city", "city", "hotline", "*")]
    cands = temporal_candidates(keys, result, T0 + np.arange(168) * 3600.0, 3600.0, T0 + 168 * 3600.0)
    assert len(cands) == 1 and cands[0].detector == "window"
    e = cands[0].explanation
    assert e.window_end - e.window_start == 24 * 3600.0
    assert e.expected == pytest.approx(480.0)
    assert e.observed == counts[0, -24:].sum()
    assert "over 24 h" in e.text()
    assert e.p_value < 1e-3


def _series(rng: np.random.Generator, s: int, t: int, mu: float) -> tuple[np.ndarray, np.ndarray]:
    expected = np.full((s, t), mu)
    return rng.poisson(expected).astype(float), expected


def test_surge_raises_an_explained_red_candidate_and_quiet_series_do_not() -> None:
    rng = np.random.default_rng(11)
    counts, expected = _series(rng, 50, 168, 10.0)
    counts[0, -6:] += 40  # six hours at five times the usual rate
    result = temporal_detect(counts, expected, np.full(50, 0.0), CONFIG)
    keys = [SeriesKey("district", f"4401{i:02d}", "hotline", "noise") for i in range(50)]
    cands = temporal_candidates(keys, result, T0 + np.arange(168) * 3600.0, 3600.0, T0 + 168 * 3600.0)
    top = [c for c in cands if c.target == "440100"]
    assert top and top[0].level == 4
    e = top[0].explanation
    assert e.observed - e.expected >= 150  # 240 injected
    assert e.series_ids == ("district:440100:hotline.noise",)
    assert e.p_value < 1e-6
    assert e.recurrence_days >= 3650
    assert len([c for c in cands if c.target != "440100"]) <= 2


def test_unfinished_bucket_is_judged_against_its_elapsed_share() -> None:
    rng = np.random.default_rng(12)
    counts, expected = _series(rng, 1, 168, 12.0)
    counts[0, -1] = 30.0  # 30 events in the first 10 minutes of an hour expecting 12
    expected[0, -1] = 12.0 * 10 / 60
    result = temporal_detect(counts, expected, np.zeros(1), CONFIG)
    assert result.level[0, -1] == 4
    assert result.detectors[result.best[0, -1]] == "spike"


def test_small_sustained_shift_is_caught_by_cusum_or_ewma() -> None:
    rng = np.random.default_rng(13)
    expected = np.full((1, 168), 20.0)
    counts = rng.poisson(expected).astype(float)
    counts[0, 96:] = rng.poisson(26.0, 72)  # +30 % for three days: no single hour stands out
    result = temporal_detect(counts, expected, np.zeros(1), CONFIG)
    assert result.level[0, -1] >= 2
    assert result.detectors[result.best[0, -1]] in ("cusum", "ewma")


def test_ears_fallback_flags_a_doubled_day() -> None:
    rng = np.random.default_rng(14)
    counts = rng.poisson(np.full((1, 24 * 12), 5.0)).astype(float)
    counts[0, -24:] = rng.poisson(12.0, 24)
    result = ears_detect(counts, CONFIG if "ears_c2" in CONFIG.calibration else _with_ears_curves())
    assert result.raw_level[0, -1] >= 1


def _with_ears_curves():  # EARS C2/C3 curves: the textbook thresholds 3 and 2 taken as ~1 per 30 series-days
    from dataclasses import replace

    from metrics.warnings.levels import CalibrationCurve

    return replace(
        CONFIG,
        calibration=CONFIG.calibration
        | {
            "ears_c2": CalibrationCurve(stat=(2.0, 3.0), log10_days=(1.0, 1.48)),
            "ears_c3": CalibrationCurve(stat=(1.0, 2.0), log10_days=(1.0, 1.48)),
        },
    )


def test_spatial_cluster_found_and_explained() -> None:
    centre = h3.latlng_to_cell(23.13, 113.32, 8)
    cells = sorted(h3.grid_disk(centre, 12))
    weights = h3_weights(cells, 1)
    rng = np.random.default_rng(15)
    expected = np.full(len(cells), 6.0)
    observed = rng.poisson(expected).astype(float)
    hot_disk = [cells.index(c) for c in h3.grid_disk(centre, 1)]
    observed[hot_disk] = rng.poisson(18.0, len(hot_disk))
    res = spatial_detect(observed, expected, np.full(len(cells), 0.01), weights, CONFIG)
    assert res.hot[hot_disk].any()
    far = [i for i, c in enumerate(cells) if h3.grid_distance(centre, c) > 2]
    assert not res.hot[far].any()
    cands = spatial_candidates(cells, res, observed, expected, "hotline", "noise", T0, T0 + 86400, CONFIG)
    assert len(cands) == 1
    c = cands[0]
    assert c.detector == "gi_star" and c.scope == "grid"
    assert set(c.explanation.cells) >= {cells[i] for i in hot_disk if res.hot[i]}
    assert c.explanation.observed > c.explanation.expected


def test_city_wide_rise_is_not_a_cluster() -> None:
    centre = h3.latlng_to_cell(23.13, 113.32, 8)
    cells = sorted(h3.grid_disk(centre, 12))
    rng = np.random.default_rng(16)
    expected = rng.uniform(1, 40, len(cells))
    observed = rng.poisson(expected * 1.6).astype(float)
    res = spatial_detect(observed, expected, np.full(len(cells), 0.01), h3_weights(cells, 1), CONFIG)
    assert res.hot.sum() <= 1
