"""The whole index on small hand-built cities: indicator values, levels, gates, explanations, ranks."""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
import pytest

from metrics.index import compute_index, load_config, raw_values, what_if
from metrics.index.indicators import CityData, LevelData
from metrics.index.synthetic import city_from_grid_frames, synthetic_attributes, synthetic_city
from metrics.index.uncertainty import rank_intervals, simulate_ranks

CONFIG = load_config()
WINDOWS = ("1h", "24h", "7d", "30d", "1h_baseline")


def model() -> tuple[pd.DataFrame, pd.DataFrame]:
    """Two districts of 100,000 and 50,000 residents; three cells of 2 km² in the first, one in the second."""
    districts = pd.DataFrame(
        {"population": [100_000, 50_000], "area_km2": [6.0, 2.0]},
        index=pd.Index(["440103", "440104"], name="district_code"),
    )
    grids = pd.DataFrame(
        {"district_code": ["440103"] * 3 + ["440104"], "area_km2": [2.0] * 4},
        index=pd.Index(["a", "b", "c", "d"], name="grid_id"),
    )
    return districts, grids


def city(
    cells: dict[str, dict[str, float]],
    per_window: dict[str, dict[str, dict[str, float]]] | None = None,
    fresh: bool = True,
) -> CityData:
    """Counters per cell, the same in every window unless ``per_window`` overrides a window."""
    districts, grids = model()
    base = pd.DataFrame(cells).T.reindex(grids.index).fillna(0.0)
    frames = {}
    for w in WINDOWS:
        frame = base.copy()
        for cell, counters in (per_window or {}).get(w, {}).items():
            for name, value in counters.items():
                frame.loc[cell, name] = value
        if fresh and w == "1h":
            frame.loc["a", "incidents.other.rec"] = 1.0
            frame.loc["a", "hotline.other.rec"] = 1.0
        frames[w] = frame.fillna(0.0)
    return city_from_grid_frames(frames, districts, grids)


def test_district_figures_come_from_district_counters_not_cell_averages() -> None:
    data = city({"a": {"incidents.robbery.sev": 14.0}, "b": {}, "c": {}, "d": {"incidents.theft.n": 7.0}})
    raw = raw_values(CONFIG, "district", data).values
    # 14 severity points over 7 days among 100,000 residents = 0.2 per 10,000 per day
    assert raw.loc["440103", "serious_incidents"] == pytest.approx(14 / 10 / 7)
    assert raw.loc["440104", "property_fraud"] == pytest.approx(7 / 5 / 7)
    assert raw_values(CONFIG, "city", data).values.loc["city", "serious_incidents"] == pytest.approx(
        14 / 15 / 7
    )


def test_surge_compares_the_last_hour_with_the_same_hour_of_week() -> None:
    data = city(
        {},
        per_window={
            "1h": {"a": {"incidents.fight.n": 3.0}},
            "1h_baseline": {"a": {"incidents.fight.n": 1.0}},
        },
    )
    raw = raw_values(CONFIG, "grid", data).values
    assert raw.loc["a", "incident_surge"] == pytest.approx((3 + 1) / (1 + 1))
    assert raw.loc["b", "incident_surge"] == pytest.approx(1.0)


def test_repeat_places_count_cells_with_k_incidents() -> None:
    data = city(
        {
            "a": {"incidents.theft.n": 5.0},
            "b": {"incidents.fight.n": 2.0, "incidents.theft.n": 1.0},
            "c": {"incidents.theft.n": 1.0},
            "d": {"incidents.dispute.n": 2.0},
        }
    )
    grid = raw_values(CONFIG, "grid", data).values["repeat_places"]
    district = raw_values(CONFIG, "district", data).values["repeat_places"]
    # k = 3: cells a (5) and b (3) are repeat places; per km²
    assert grid.tolist() == pytest.approx([0.5, 0.5, 0.0, 0.0])
    assert district.tolist() == pytest.approx([2 / 6, 0.0])
    assert raw_values(CONFIG, "city", data).values.loc["city", "repeat_places"] == pytest.approx(2 / 8)


def test_cell_rates_shrink_toward_their_district_and_thin_cells_are_marked() -> None:
    data = city(
        {
            "a": {"incidents.robbery.sev": 30.0, "incidents.robbery.n": 10.0},
            "b": {"incidents.robbery.n": 1.0},
            "c": {},
            "d": {},
        }
    )
    raw = raw_values(CONFIG, "grid", data).values["serious_incidents"]
    unshrunk_a = 30 / (100_000 / 3 / 10_000) / 7
    district = 30 / 10 / 7
    assert district < raw["a"] < unshrunk_a
    assert 0 < raw["b"] < district
    snap = compute_index(CONFIG, data, monte_carlo=False).snapshots["grid"]
    assert not bool(snap.loc["a", "thin_data"])
    assert bool(snap.loc["c", "thin_data"])


def test_severity_4_holds_the_cell_at_c() -> None:
    data = city({"a": {"incidents.fire.s4": 1.0, "incidents.fire.n": 1.0, "incidents.fire.sev": 4.0}})
    snap = compute_index(CONFIG, data, monte_carlo=False).snapshots
    assert snap["grid"].loc["a", "level"] in ("C", "D") and bool(snap["grid"].loc["a", "s4_hold"])
    assert snap["grid"].loc["b", "score"] > 50 and snap["grid"].loc["b", "level"] in ("A", "B")
    assert not snap["district"]["s4_hold"].any()  # districts are not held by default


def test_stale_streams_gate_insufficient_data() -> None:
    snap = compute_index(
        CONFIG, city({"a": {"incidents.theft.n": 1.0}}, fresh=False), monte_carlo=False
    ).snapshots
    for level in ("grid", "district", "city"):
        assert not snap[level]["data_ok"].any()
        assert snap[level]["level"].isna().all() and snap[level]["rank"].isna().all()
        assert snap[level]["score"].notna().all()  # still computed for analysts


def test_hazard_register_hook_reads_attributes_when_present() -> None:
    data = city({})
    assert "hazards_open_weighted" not in raw_values(CONFIG, "district", data).values
    attrs = data.district.attributes.assign(
        hazards_open_weighted=[20.0, 0.0], hazards_overdue_share=[0.5, 0.0]
    )
    with_hazards = CityData(data.grid, LevelData(data.district.frames, attrs), data.city)
    raw = raw_values(CONFIG, "district", with_hazards).values
    assert raw.loc["440103", "hazards_open_weighted"] == pytest.approx(2.0)  # 20 per 100,000 residents
    assert raw.loc["440103", "hazards_overdue_share"] == pytest.approx(0.5)
    before = compute_index(CONFIG, data, monte_carlo=False).snapshots["district"]["score"]
    after = compute_index(CONFIG, with_hazards, monte_carlo=False).snapshots["district"]["score"]
    assert after["440103"] < before["440103"]


def test_changes_and_their_explanation() -> None:
    now = city({"a": {"incidents.robbery.sev": 30.0}})
    before = city({})
    snap = compute_index(CONFIG, now, previous_day=before, monte_carlo=False).snapshots["district"]
    row = snap.loc["440103"]
    assert row["change_1d"] < 0
    contrib = row[[c for c in snap if c.startswith("contrib_1d.")]]
    assert contrib.sum() == pytest.approx(row["change_1d"])
    assert contrib.idxmin() == "contrib_1d.serious_incidents"
    assert contrib.drop("contrib_1d.serious_incidents").abs().max() == pytest.approx(0.0, abs=1e-9)
    assert np.isnan(snap.loc["440103", "change_7d"])


def test_what_if_recomputes_rankings_with_analyst_weights() -> None:
    d, g = synthetic_attributes(cell_km2=25.0)
    snap = compute_index(CONFIG, synthetic_city(d, g, seed=3), monte_carlo=False).snapshots["district"]
    only_service = what_if(
        snap, CONFIG, dimension_weights={"public_order": 0, "disputes": 0, "safety_hazards": 0, "service": 1}
    )
    np.testing.assert_allclose(only_service["score"], snap["dim.service"])
    assert sorted(only_service["rank"].astype(int)) == list(range(1, len(snap) + 1))
    same = what_if(snap, CONFIG)
    np.testing.assert_allclose(same["score"], snap["score"])
    assert (same["rank_change"] == 0).all()


def test_monte_carlo_rank_intervals() -> None:
    d, g = synthetic_attributes(cell_km2=25.0)
    data = synthetic_city(d, g, seed=5)
    started = time.perf_counter()
    intervals = rank_intervals(CONFIG, data)
    elapsed = time.perf_counter() - started
    assert elapsed < 2.0
    assert list(intervals.index) == list(d.index)
    assert (intervals["rank_p05"] <= intervals["rank_p50"]).all()
    assert (intervals["rank_p50"] <= intervals["rank_p95"]).all()
    assert intervals.min().min() >= 1 and intervals.max().max() <= len(d)
    pd.testing.assert_frame_equal(intervals, rank_intervals(CONFIG, data))  # seeded: reproducible


def test_simulated_ranks_are_permutations_and_certain_when_one_entity_dominates() -> None:
    inds = [i for i in CONFIG.scoring_indicators("district") if i.kind != "attribute"]
    names = [i.name for i in inds]
    # far beyond the bad goalpost / at the good end, so every normalisation and weight agrees
    bad = np.array([[0.0 if i.higher_is_better else 50.0 for i in inds]])
    good = np.array([[1.0 if i.higher_is_better else 0.0 for i in inds]])
    variants = [np.vstack([good, bad, (good + bad) / 2])] * 3
    ranks = simulate_ranks(CONFIG, variants, names, draws=200)
    assert ranks.shape == (200, 3)
    assert (np.sort(ranks, axis=1) == [1, 2, 3]).all()
    assert (ranks[:, 0] == 1).all() and (ranks[:, 1] == 3).all()
