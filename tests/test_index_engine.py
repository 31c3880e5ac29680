"""The index engine against an in-memory reader and writer (the Redis store is wired in by metrics.store)."""

from __future__ import annotations

import threading

import pandas as pd
import pytest

import metrics.index.engine as engine_module
from metrics.index import entity_attributes, load_config
from metrics.index.engine import IndexEngine

CONFIG = load_config()
HOUR, WEEK = 3600, 7 * 86_400
NOW = 1_767_225_600.0 + 10 * HOUR + 1800 + 17  # 10:30:17 on some day, UTC


class MemoryStore:
    """Counters as (ts, grid_id, counter, value) records; windows sum the records in [start, end)."""

    def __init__(self, grids: pd.DataFrame) -> None:
        self.grids = grids
        self.records: list[tuple[float, str, str, float]] = []
        self.reads: list[tuple[str, float, float]] = []
        self.snapshots: list[tuple[str, pd.DataFrame, float, str]] = []
        self.fail_reads = 0

    def add(self, ts: float, grid_id: str, counter: str, value: float = 1.0) -> None:
        self.records.append((ts, grid_id, counter, value))

    def window_frame(self, level: str, start: float, end: float) -> pd.DataFrame:
        if self.fail_reads:
            self.fail_reads -= 1
            raise ConnectionRefusedError("store unreachable")
        self.reads.append((level, start, end))
        rows = [r for r in self.records if start <= r[0] < end]
        frame = pd.DataFrame(rows, columns=["ts", "grid", "counter", "value"])
        if level == "grid":
            frame["entity"] = frame["grid"]
        elif level == "district":
            frame["entity"] = frame["grid"].map(self.grids["district_code"])
        else:
            frame["entity"] = "city"
        return frame.pivot_table(index="entity", columns="counter", values="value", aggfunc="sum").fillna(0.0)

    def write_snapshot(self, level: str, snapshot: pd.DataFrame, as_of: float, version: str) -> None:
        self.snapshots.append((level, snapshot, as_of, version))


def model() -> tuple[pd.DataFrame, pd.DataFrame]:
    districts = pd.DataFrame(
        {"population": [100_000, 50_000], "area_km2": [6.0, 2.0]},
        index=pd.Index(["440103", "440104"], name="district_code"),
    )
    grids = pd.DataFrame(
        {"district_code": ["440103"] * 3 + ["440104"], "area_km2": [2.0] * 4},
        index=pd.Index(["a", "b", "c", "d"], name="grid_id"),
    )
    return districts, grids


def make_engine(**kwargs: object) -> tuple[IndexEngine, MemoryStore]:
    districts, grids = model()
    store = MemoryStore(grids)
    for k in range(20):  # a month of mixed activity
        store.add(NOW - k * 36_000, "abcd"[k % 4], "incidents.theft.n")
        store.add(NOW - k * 36_000, "abcd"[k % 4], "hotline.noise.n")
    store.add(NOW - 600, "a", "incidents.other.rec")
    store.add(NOW - 600, "a", "hotline.other.rec")
    engine = IndexEngine(store, store, CONFIG, entity_attributes(districts, grids), **kwargs)  # type: ignore[arg-type]
    return engine, store


def test_run_once_writes_every_level_stamped_with_version_and_time() -> None:
    engine, store = make_engine(monte_carlo=False)
    result = engine.run_once(NOW)
    as_of = NOW - 17
    assert result.as_of == as_of and result.version == CONFIG.version
    assert [(lv, a, v) for lv, _, a, v in store.snapshots] == [
        ("grid", as_of, CONFIG.version),
        ("district", as_of, CONFIG.version),
        ("city", as_of, CONFIG.version),
    ]
    grid = store.snapshots[0][1]
    assert list(grid.index) == ["a", "b", "c", "d"]
    assert {"score", "level", "rank", "change_1d", "change_7d", "dim.public_order"} <= set(grid.columns)
    assert grid["change_1d"].notna().all()
    for window in (86_400, WEEK, 30 * 86_400):
        assert ("district", as_of - window, as_of) in store.reads
        assert ("district", as_of - 86_400 - window, as_of - 86_400) in store.reads  # previous day
        assert ("district", as_of - WEEK - window, as_of - WEEK) in store.reads  # previous week


def test_surge_compares_the_last_clock_hour_with_the_same_hour_of_previous_weeks() -> None:
    engine, store = make_engine(monte_carlo=False, changes=False)
    as_of = NOW - 17  # 10:30
    hour_end = as_of - 1800  # the last complete clock hour is 09:00-10:00
    week_3 = 3 * WEEK
    for week, count in ((1, 2), (2, 4), (4, 6), (5, 100)):  # week 5 lies beyond the 4-week baseline
        for _ in range(count):
            store.add(hour_end - week * WEEK - 60, "b", "incidents.fight.n")
    store.add(hour_end - week_3 - 60, "a", "incidents.theft.n")  # week 3: data, none of it in "b"
    store.add(hour_end - 60, "b", "incidents.fight.n")
    store.add(hour_end + 60, "b", "incidents.fight.n")  # the unfinished hour does not count
    frames = engine.city_data(as_of).grid.frames
    assert frames["1h_baseline"].loc["b", "incidents.fight.n"] == pytest.approx((2 + 4 + 0 + 6) / 4)
    assert frames["1h"].loc["b", "incidents.fight.n"] == 1.0
    assert ("grid", hour_end - HOUR - WEEK, hour_end - WEEK) in store.reads


def test_surge_baseline_averages_only_the_weeks_the_store_has() -> None:
    # A store one week old: the weeks before it are missing, not quiet, so the hour is compared with
    # the one week there is (averaging in three empty weeks would show a surge of about 4 everywhere).
    engine, store = make_engine(monte_carlo=False, changes=False)
    as_of = NOW - 17
    hour_end = as_of - 1800
    for _ in range(8):
        store.add(hour_end - WEEK - 60, "b", "incidents.fight.n")
    frames = engine.city_data(as_of).grid.frames
    assert frames["1h_baseline"].loc["b", "incidents.fight.n"] == pytest.approx(8.0)


def test_first_run_takes_previous_levels_from_the_store(monkeypatch: pytest.MonkeyPatch) -> None:
    engine, store = make_engine(monte_carlo=False, changes=False)
    seen: list[object] = []
    real = engine_module.compute_index

    def spy(*args: object, **kwargs: object):
        seen.append(kwargs["previous_levels"])
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(engine_module, "compute_index", spy)
    latest = pd.DataFrame({"level": ["A", "D"]}, index=["440103", "440104"])
    store.latest_snapshot = lambda level: latest if level == "district" else None  # type: ignore[attr-defined]
    engine.run_once(NOW)
    engine.run_once(NOW + 300)
    assert seen[0]["district"].tolist() == ["A", "D"]  # type: ignore[index]
    second = seen[1]["district"]  # type: ignore[index]
    assert second.tolist() == store.snapshots[1][1]["level"].tolist()


def test_run_loop_survives_a_transient_store_failure() -> None:
    engine, store = make_engine(monte_carlo=False, changes=False, clock=lambda: NOW)
    store.fail_reads = 1
    stop = threading.Event()
    written = store.write_snapshot

    def write_and_stop(level: str, snapshot: pd.DataFrame, as_of: float, version: str) -> None:
        written(level, snapshot, as_of, version)
        if level == "city":
            stop.set()

    store.write_snapshot = write_and_stop  # type: ignore[method-assign]
    thread = threading.Thread(target=engine.run, args=(stop, 0.01), daemon=True)
    thread.start()
    thread.join(timeout=30)
    assert not thread.is_alive()
    assert [s[0] for s in store.snapshots] == ["grid", "district", "city"]
