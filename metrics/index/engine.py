"""The index engine: reads counter windows, computes every level's snapshot, writes it (I/O at the edge).

The engine talks to two small interfaces, so the store can change underneath:

- ``reader.window_frame(level, start, end) -> DataFrame`` (``metrics.store.MetricsStore``): counters
  summed over the buckets covering [start, end), indexed by entity id, one float column per counter;
  if the reader also has ``read_session()`` (a context manager), a run reads all its windows inside one;
- ``writer.write_snapshot(level, snapshot, as_of, version) -> None``: stores one level's snapshot
  (see ``metrics.index.compute`` for its columns) for the moment ``as_of`` (epoch s, UTC) under the
  index ``version``; the store keeps history at its own retention tiers. If the writer also has
  ``latest_snapshot(level) -> DataFrame | None``, the first run takes its ``level`` column as the
  previous levels for hysteresis.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable, Mapping
from contextlib import nullcontext
from typing import Protocol

import pandas as pd

from metrics.index.compute import IndexResult, compute_index
from metrics.index.config import IndexConfig
from metrics.index.indicators import CityData, LevelData
from metrics.index.vocabulary import BASELINE_FRAME, LEVELS, WINDOWS

log = logging.getLogger(__name__)

BUCKET_S = 300  # the finest counter bucket: windows end on a bucket boundary
HOUR_S = 3600
WEEK_S = 7 * 86_400


class WindowReader(Protocol):
    def window_frame(self, level: str, start: float, end: float) -> pd.DataFrame: ...


class SnapshotWriter(Protocol):
    def write_snapshot(self, level: str, snapshot: pd.DataFrame, as_of: float, version: str) -> None: ...


AttributesProvider = Callable[[float], Mapping[str, pd.DataFrame]]


class IndexEngine:
    """Computes and stores the index snapshot of every level, once per ``run_once``.

    Args:
        reader: counter windows (see module docstring).
        writer: snapshot sink.
        config: the indicator system (its ``version`` stamps every snapshot).
        attributes: level -> entity attributes (``metrics.index.entity_attributes`` of the city model);
            their index defines the entities of each level.
        extra_attributes: called with ``as_of``; returns level -> extra attribute columns to join (cameras,
            the hazard register's ``hazards_open_weighted`` / ``hazards_overdue_share``).
        changes: also compute the windows ending a day and a week earlier (changes and their explanation).
        monte_carlo: add the districts' rank intervals.
    """

    def __init__(
        self,
        reader: WindowReader,
        writer: SnapshotWriter,
        config: IndexConfig,
        attributes: Mapping[str, pd.DataFrame],
        *,
        extra_attributes: AttributesProvider | None = None,
        changes: bool = True,
        monte_carlo: bool = True,
        clock: Callable[[], float] = time.time,
    ) -> None:
        missing = [lv for lv in LEVELS if lv not in attributes]
        if missing:
            raise ValueError(f"attributes lack level(s) {missing}; expected {list(LEVELS)}")
        self.reader = reader
        self.writer = writer
        self.config = config
        self.attributes = dict(attributes)
        self.extra_attributes = extra_attributes
        self.changes = changes
        self.monte_carlo = monte_carlo
        self.clock = clock
        self._levels: dict[str, pd.Series] | None = None
        # Between runs: the previous periods' scores and the baselines, reused while their inputs hold.
        self._previous_memo: dict[tuple[str, str], object] = {}
        self._baseline_memo: dict[tuple[str, float], tuple[tuple[pd.DataFrame, ...], pd.DataFrame]] = {}
        weeks = [i.baseline_weeks for i in config.indicators if i.kind == "surge"]
        self.baseline_weeks = max(weeks) if weeks else 0
        self.windows = sorted(config.windows_used(), key=WINDOWS.__getitem__)

    # ------------------------------------------------------------------------------------- reading

    def _window(self, level: str, start: float, end: float) -> pd.DataFrame:
        return self.reader.window_frame(level, start, end)

    def _baseline(self, level: str, hour_end: float) -> pd.DataFrame:
        """Mean over the previous weeks of the clock hour [hour_end - 1 h, hour_end) of the same weekday,
        over the weeks whose hour holds any data: a store younger than ``baseline_weeks`` (a new
        deployment, the demo while it writes history) would otherwise average in empty weeks and show
        every area surging."""
        frames = tuple(self._window(level, end - HOUR_S, end)
                       for end in (hour_end - week * WEEK_S for week in range(1, self.baseline_weeks + 1)))
        kept = self._baseline_memo.get((level, hour_end))
        if kept is not None and all(a is b for a, b in zip(kept[0], frames, strict=True)):
            return kept[1]  # the same unchanged windows: the same frame (callers memoise on identity)
        total = frames[0]
        for frame in frames[1:]:
            total = total.add(frame, fill_value=0.0)
        baseline = total / max(1, sum(not frame.empty for frame in frames))
        # one per level and period (now, a day and a week ago); older hours are dropped
        self._baseline_memo = {k: v for k, v in self._baseline_memo.items() if k[1] > hour_end - 2 * WEEK_S}
        self._baseline_memo[(level, hour_end)] = (frames, baseline)
        return baseline

    def city_data(self, as_of: float, attributes: Mapping[str, pd.DataFrame] | None = None) -> CityData:
        """Every frame the configuration needs, for the windows ending at ``as_of``."""
        attributes = attributes or self.attributes
        # The hour window is the last complete clock hour: grid counters are kept in hourly buckets only,
        # and the surge baseline (same hour of previous weeks) is then read bucket for bucket.
        hour_end = math.floor(as_of / HOUR_S) * HOUR_S
        levels = {}
        for level in LEVELS:
            frames = {
                w: self._window(level, hour_end - HOUR_S, hour_end)
                if w == "1h"
                else self._window(level, as_of - WINDOWS[w], as_of)
                for w in self.windows
            }
            if self.baseline_weeks:
                frames[BASELINE_FRAME] = self._baseline(level, hour_end)
            levels[level] = LevelData(frames, attributes[level])
        return CityData(levels["grid"], levels["district"], levels["city"], as_of=as_of)

    def _attributes(self, as_of: float) -> dict[str, pd.DataFrame]:
        if self.extra_attributes is None:
            return self.attributes
        extra = self.extra_attributes(as_of)
        out = {}
        for level, attrs in self.attributes.items():
            more = extra.get(level)
            if more is None or more.empty:
                out[level] = attrs
            else:
                cols = [c for c in more.columns if c not in attrs.columns]
                out[level] = attrs.join(more[cols].reindex(attrs.index))
        return out

    def _previous_levels(self) -> dict[str, pd.Series]:
        if self._levels is None:
            self._levels = {}
            latest = getattr(self.writer, "latest_snapshot", None)
            if latest is not None:
                for level in LEVELS:
                    snap = latest(level)
                    if snap is not None and "level" in snap.columns:
                        self._levels[level] = snap["level"]
        return self._levels

    # ------------------------------------------------------------------------------------- running

    def run_once(self, now: float | None = None) -> IndexResult:
        """Compute and write one snapshot per level for the last complete 5-minute bucket before ``now``."""
        now = self.clock() if now is None else now
        as_of = math.floor(now / BUCKET_S) * BUCKET_S
        attrs = self._attributes(as_of)
        # One view of the store for the run's few dozen overlapping windows (if the reader offers it).
        session = getattr(self.reader, "read_session", None)
        with session() if session is not None else nullcontext():
            current = self.city_data(as_of, attrs)
            previous_day = self.city_data(as_of - 86_400, attrs) if self.changes else None
            previous_week = self.city_data(as_of - WEEK_S, attrs) if self.changes else None
        result = compute_index(
            self.config,
            current,
            previous_day=previous_day,
            previous_week=previous_week,
            previous_levels=self._previous_levels(),
            monte_carlo=self.monte_carlo,
            previous_memo=self._previous_memo,
        )
        for level in LEVELS:
            self.writer.write_snapshot(level, result.snapshots[level], as_of, self.config.version)
        self._levels = {level: result.snapshots[level]["level"] for level in LEVELS}
        return result

    def run(
        self,
        stop: threading.Event,
        interval_s: float = 60.0,
        transient: tuple[type[BaseException], ...] = (OSError,),
    ) -> None:
        """Run every ``interval_s`` until ``stop`` is set; ``transient`` errors are logged and retried."""
        while not stop.is_set():
            started = time.monotonic()
            try:
                result = self.run_once()
                log.info(
                    "index %s as of %s: %d cells, %d districts in %.0f ms",
                    result.version,
                    time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(result.as_of or 0)),
                    len(result.snapshots["grid"]),
                    len(result.snapshots["district"]),
                    (time.monotonic() - started) * 1e3,
                )
            except transient as exc:
                log.warning(
                    "index run failed (%s: %s); retrying in %.0f s", type(exc).__name__, exc, interval_s
                )
            stop.wait(max(0.0, interval_s - (time.monotonic() - started)))
