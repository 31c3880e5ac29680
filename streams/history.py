"""Simulated history straight into the store, column-wise: 30 days in under a minute.

The record-by-record backfill (:class:`streams.backfill.StoreSink`) encodes every simulated record as
JSON, decodes and validates it again and plans it through the ledger record by record: about six minutes
for 30 days. Here the simulator hands over its records as columns (``encode_hour(columnar=True)``: the
same random draws, so the same records), and:

- records broken on purpose are still encoded and judged by the consumers' validator
  (:func:`streams.validate.validate_batch`), so rejections carry the reasons the consumers give; intact
  records are valid by construction (the simulator's tests check the validator accepts them all), so
  only the validator's clock window is applied to them;
- positions go back to GCJ-02 with the validator's datum functions and are placed by
  :meth:`geo.city.CityModel.assign`, once per event instead of once per record;
- the ledger's rules run on columns (:mod:`streams.history_plan`, built on ``metrics.ledger``'s
  constants): its sequential pass (duplicates, where stage updates count, what a record knows of its
  event's start and SLA) per hour chunk, its measures and its sums per tier, scope, bucket, entity and
  category per Shanghai day — oldest hours first, so a day is summed once, when it is complete;
- lifecycle states are built as the ledger builds them (hazards' with the grade and deadline of each
  record), and the hazard register entries by the register's own code from each event's final state;
- each counter hash of a day is written whole (one native HSET, moved into place by a small script that
  adds instead when the hash already exists), in a writer thread while the next day is planned; stats,
  states, register entries and the recent list go through :meth:`metrics.store.MetricsStore.apply_batch`.

The drill-down's recent list is made by the consumers' validation and the ledger's summary from the JSON
of the newest events. :func:`write_history` splits the hours over two processes. Tests write the same
hours this way and through the record-by-record path (``streams.backfill.StoreSink``) and compare every
key.
"""

from __future__ import annotations

import itertools
import multiprocessing
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from multiprocessing.connection import Connection

import numpy as np
import pandas as pd
import redis

from geo.datum import bd09_to_gcj02, wgs84_to_gcj02
from metrics import ledger
from metrics.connect import compact_hash_limits
from metrics.hazards.register import register_entry
from metrics.keys import EXPIRY_SLACK_S, RECENT_MAX, TIERS
from metrics.ledger import BatchPlan, measure_columns
from streams.history_plan import CounterWrite, FieldNames, decide, kafka_partitions, sum_counters
from streams.pipeline import Ingestor, RawRecord
from streams.schemas import STAGES, Event
from streams.simulator.encode import EmitBatch, StageColumns, encode_hour
from streams.simulator.model import HOUR, LOCAL_OFFSET_S, SimParams, generate_hour
from streams.simulator.profiles import CATEGORY_ORDER
from streams.simulator.scenarios import ScenarioPlan
from streams.simulator.world import World
from streams.validate import validate_batch

__all__ = ["HistorySummary", "HistoryWriter", "write_history"]

#: Stream-specific numeric fields the measures read, per stream.
_MEASURE_FIELDS = {
    "incidents": ("severity",),
    "surveillance": ("confidence", "verified"),
    "hotline": ("satisfaction",),
    "hazards": ("grade",),
}
_GRADE_CODES = {letter: float(i) for i, letter in enumerate("ABCD")}
_DAY = 86400

# A day's counter hash is staged with one plain HSET of all its fields (parsed natively, no script call
# per field), then moved into place: renamed when nobody has written the hash yet (most of history's
# hashes: each is complete when written), else added field by field with HINCRBY, as the consumers' script
# adds them. Versions and expiry as there. A hash that will hold more fields than Redis keeps compact
# (hash-max-ziplist-entries) ends up a hashtable anyway; staged with one over-long dummy value, it is one
# from its first field, which spares Redis the compact form's scan per insert (about 10x the work); the
# dummy is removed before the move.
# KEYS[1] staged hash, KEYS[2] counter hash, KEYS[3] counter versions
# ARGV[1] expire_at, ARGV[2] versions ttl, ARGV[3] the dummy field ("" when none)
_MERGE_LUA = """
if ARGV[3] ~= '' then redis.call('HDEL', KEYS[1], ARGV[3]) end
if redis.call('EXISTS', KEYS[2]) == 0 then
  redis.call('RENAME', KEYS[1], KEYS[2])
else
  local f = redis.call('HGETALL', KEYS[1])
  for i = 1, #f, 2 do
    redis.call('HINCRBY', KEYS[2], f[i], f[i + 1])
  end
  redis.call('DEL', KEYS[1])
end
redis.call('HINCRBY', KEYS[3], KEYS[2], 1)
redis.call('EXPIREAT', KEYS[2], ARGV[1])
redis.call('EXPIRE', KEYS[3], ARGV[2])
return 1
"""
#: The dummy field of a staged hash (no counter field starts with "~").
_DUMMY = b"~staged"


@dataclass
class HistorySummary:
    """What a history write did (the column-wise streams; hazards are counted by their StoreSink)."""

    hours: int = 0
    records: int = 0
    accepted: int = 0
    duplicates: int = 0
    rejected: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    seconds: float = 0.0
    #: seconds the writer thread waited on Redis, and counter fields it wrote
    redis_seconds: float = 0.0
    fields: int = 0
    stopped: bool = False
    #: seconds each process took (write_history)
    process_seconds: list[float] = field(default_factory=list)


@dataclass
class _Bin:
    """Counted records of one stream whose event time falls in one Shanghai day, as column pieces."""

    partition: list[np.ndarray] = field(default_factory=list)
    ts: list[np.ndarray] = field(default_factory=list)
    grid: list[np.ndarray] = field(default_factory=list)
    district: list[np.ndarray] = field(default_factory=list)
    category: list[np.ndarray] = field(default_factory=list)
    stage_no: list[np.ndarray] = field(default_factory=list)
    started: list[np.ndarray] = field(default_factory=list)
    sla_hours: list[np.ndarray] = field(default_factory=list)
    fields: dict[str, list[np.ndarray]] = field(default_factory=lambda: defaultdict(list))


@dataclass
class _Tally:
    """Stats and lifecycle states of one (stream, partition) waiting for the next write."""

    states: dict[str, dict[str, str]] = field(default_factory=dict)
    accepted: int = 0
    duplicates: int = 0
    rejected: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    last_ts: float = 0.0
    registers: dict[str, bytes] = field(default_factory=dict)


class HistoryWriter:
    """Writes simulated history into one store, column-wise (see the module docstring).

    Args:
        settings, city, store: as for :class:`streams.pipeline.Ingestor`.
        partitions: partitions of each topic (where the consumers will look for an event's state).
        state_days: only events with a stage in the last ``state_days`` keep a lifecycle state in Redis
            (as :class:`streams.backfill.StoreSink`).
        now: the clock the validation window, bucket retention and recent list are judged at.
        counter_partition: the partition whose counter hashes receive every history count (readers sum
            over partitions, so every figure is the same); None: each event's own partition, as the
            consumers write them. One partition means a quarter of the hashes and a third fewer fields
            (a busy cell-hour's fields would otherwise repeat in each partition).
        clears_flag: whether ``write`` ends by clearing the "history is being written" flag
            (``Keys.backfill_running``); several writers working together leave it to their caller.
    """

    def __init__(self, settings, city, store, *, partitions: int,  # type: ignore[no-untyped-def]
                 state_days: float = 3.0, now: float | None = None,
                 counter_partition: int | None = 0, clears_flag: bool = True) -> None:
        self.clears_flag = clears_flag
        self.settings = settings
        self.city = city
        self.store = store
        self.partitions = partitions
        self.counter_partition = counter_partition
        self.now = time.time() if now is None else now
        self.keep_states_after = self.now - state_days * 86400
        self.recent_since = self.now - store.recent_retention_s
        self.ingestor = Ingestor(settings, city, store)
        self._codes = frozenset(city.districts.index)
        self._grid_index = pd.Index(city.grids.index)
        self._district_index = pd.Index(city.districts.index)
        self._grid_names = city.grids.index.to_numpy(dtype=object)
        self._district_names = city.districts.index.to_numpy(dtype=object)
        self._min_ts = self.now - settings.retention_days * 86400
        self._max_ts = self.now + settings.future_tolerance_s
        self._bins: dict[tuple[str, int], _Bin] = defaultdict(_Bin)
        self._tallies: dict[tuple[str, int], _Tally] = defaultdict(_Tally)
        self._field_names: dict[str, FieldNames] = defaultdict(FieldNames)
        # (stream, partition) -> pieces (event times, stage columns, positions) of the newest events
        self._recent: dict[tuple[str, int], list[tuple[np.ndarray, StageColumns, np.ndarray]]] = defaultdict(list)
        self._merge = store.client.register_script(_MERGE_LUA)
        store.client.script_load(_MERGE_LUA)  # MULTI/EXEC below calls it by its hash
        self._field_bulk: dict[str, bytes] = {}
        self._compact_entries, self._dummy_value = compact_hash_limits(store.client)
        self._pool: ThreadPoolExecutor | None = None
        self._pending: list[Future[None]] = []
        self._registered: set[tuple[str, int]] = set()
        self.summary = HistorySummary()

    # ------------------------------------------------------------------ driving
    def write(self, world: World, params: SimParams, plans: tuple[ScenarioPlan, ...], *, start: float,
              until: float, hours: tuple[int, int] | None = None,
              stop: threading.Event | None = None) -> HistorySummary:
        """Write every record the simulator emits in ``[start, until)`` from the hour chunks (epoch hours)
        ``hours`` (first, last; default: those from ``start``'s to ``until``'s, i.e. everything
        ``streams.simulator.run`` with ``--backfill-days`` sends). Oldest hours first: a day's counters
        are complete, and written, once the hours up to its end are generated."""
        began = time.perf_counter()
        names = tuple(p.name for p in plans)
        first_hour, last_hour = hours or (int(start) // HOUR, (int(until) - 1) // HOUR)
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="history-writer")
        try:
            for hour in range(first_hour, last_hour + 1):
                if stop is not None and stop.is_set():
                    self.summary.stopped = True
                    break
                # every record of this chunk and later ones happens at or after its start
                self._flush(before=hour * HOUR)
                for hs in generate_hour(world, params, hour, plans):
                    self._chunk(hs.stream, encode_hour(hs, world, params, names, columnar=True), start, until)
                self.summary.hours += 1
            self._flush(before=None)
            self._write_recent()
            self._drain()
        finally:
            self._pool.shutdown(wait=True)
            if self.clears_flag:
                self.store.client.delete(self.store.keys.backfill_running())
        self.summary.seconds = time.perf_counter() - began
        return self.summary

    # ------------------------------------------------------------------ one hour chunk of one stream
    def _chunk(self, stream: str, batches: list[EmitBatch], start: float, until: float) -> None:
        if not batches:
            return
        emit = np.concatenate([b.emit for b in batches])
        order = np.concatenate([b.order for b in batches])
        rows = np.flatnonzero((emit >= start) & (emit < until))
        if not len(rows):
            return
        # processing order: the order the records reach a consumer (emit time, then the simulator's order)
        rows = rows[np.lexsort((order[rows], emit[rows]))]
        cols = [b.columns for b in batches]
        assert all(c is not None for c in cols)

        def column(get: Callable[[object], np.ndarray]) -> np.ndarray:
            return np.concatenate([get(c) for c in cols])[rows]

        def field_column(name: str) -> np.ndarray:
            """A numeric field (grades as 0-3 for A-D), NaN where the stage has none."""
            def get(c: StageColumns) -> np.ndarray:
                values = c.fields.get(name)
                if values is None:
                    return np.full(len(c.event), np.nan)
                if values.dtype == object:
                    return np.array([_GRADE_CODES.get(v, np.nan) for v in values.tolist()], dtype=float)
                return values.astype(float)
            return column(get)  # type: ignore[arg-type]

        event = column(lambda c: c.event)
        stage_no = column(lambda c: np.full(len(c.event), c.stage_no, dtype=np.int64))
        ts = column(lambda c: c.ts).astype(float)
        category = column(lambda c: c.category)
        keys = np.concatenate([b.keys for b in batches])[rows]
        malformed = np.concatenate([b.malformed for b in batches])[rows]
        n = len(rows)
        self.summary.records += n

        # events: partition and place once each (every record of an event has the same position)
        _, first_row, inverse = np.unique(event, return_index=True, return_inverse=True)
        partition = kafka_partitions([k.encode() for k in keys[first_row].tolist()], self.partitions)[inverse]
        grid, district = self._place(column(lambda c: c.lon)[first_row], column(lambda c: c.lat)[first_row],
                                     column(lambda c: c.crs)[first_row],
                                     column(lambda c: c.district)[first_row])
        grid, district = grid[inverse], district[inverse]

        reasons = np.full(n, None, dtype=object)
        bad = np.flatnonzero(malformed)
        if len(bad):
            values = np.concatenate([b.values for b in batches])[rows]
            accepted, rejections = validate_batch(
                stream, values[bad].tolist(), now=self.now, retention_s=self.settings.retention_days * 86400,
                future_tolerance_s=self.settings.future_tolerance_s, district_codes=self._codes,
                pii_key=self.settings.pii_hash_key.encode())
            if accepted:
                raise RuntimeError(f"a {stream} record broken on purpose passed validation: "
                                   f"{values[bad[accepted[0][0]]]!r}")
            reasons[bad[[r.index for r in rejections]]] = [r.reason for r in rejections]
        intact = ~malformed
        reasons[intact & (ts < self._min_ts)] = "too_old"
        reasons[intact & (ts > self._max_ts)] = "future_timestamp"
        reasons[(reasons == None) & (district < 0)] = "outside_city"  # noqa: E711 (object array)
        valid = reasons == None  # noqa: E711

        sla_sent = field_column("sla_hours")
        decided = decide(inverse, stage_no, ts, sla_sent, valid)
        counted = np.flatnonzero(decided.new)
        day = (ts[counted].astype(np.int64) + LOCAL_OFFSET_S) // _DAY
        measure_fields = {name: field_column(name)[counted] for name in _MEASURE_FIELDS[stream]}
        for d in np.unique(day).tolist():
            sel = counted[day == d]
            in_day = day == d
            b = self._bins[(stream, d)]
            b.partition.append(partition[sel] if self.counter_partition is None
                               else np.full(len(sel), self.counter_partition))
            b.ts.append(ts[sel])
            b.grid.append(grid[sel])
            b.district.append(district[sel])
            b.category.append(category[sel])
            b.stage_no.append(stage_no[sel])
            b.started.append(decided.started[sel])
            b.sla_hours.append(decided.sla_hours[sel])
            for name, values_ in measure_fields.items():
                b.fields[name].append(values_[in_day])

        stage_names = np.asarray(STAGES[stream], dtype=object)
        category_names = np.asarray(CATEGORY_ORDER[stream], dtype=object)
        for p in np.unique(partition).tolist():
            in_part = partition == p
            tally = self._tallies[(stream, p)]
            for reason, count in zip(*np.unique(reasons[in_part & ~valid].astype(str), return_counts=True),
                                     strict=True):
                tally.rejected[str(reason)] += int(count)
            tally.duplicates += int((decided.duplicate & in_part).sum())
            take = np.flatnonzero(decided.new & in_part)
            if not len(take):
                continue
            tally.accepted += len(take)
            tally.last_ts = max(tally.last_ts, float(ts[take].max()))
            if stream == "hazards":
                self._hazard_states(tally, take, keys, stage_no, stage_names, ts, grid, district, category,
                                    category_names, field_column("grade"), field_column("due"))
            else:
                self._states(tally, take, inverse, keys, stage_no, stage_names, ts, grid, district, category,
                             category_names, sla_sent if stream == "hotline" else None)
            self._recent_candidates((stream, p), take, stage_no, ts, batches, rows)
        self.summary.accepted += len(counted)
        self.summary.duplicates += int(decided.duplicate.sum())
        for reason, count in zip(*np.unique(reasons[~valid].astype(str), return_counts=True), strict=True):
            self.summary.rejected[str(reason)] += int(count)

    def _place(self, lon: np.ndarray, lat: np.ndarray, crs: np.ndarray, given: np.ndarray
               ) -> tuple[np.ndarray, np.ndarray]:
        """Grid cell and district of each event (positions in the city's tables, -1 for none), as the
        consumer places its records: back to GCJ-02 as the validator converts, then ``CityModel.assign``."""
        lon, lat = lon.copy(), lat.copy()
        for code, convert in ((1, wgs84_to_gcj02), (2, bd09_to_gcj02)):
            sel = np.flatnonzero(crs == code)
            if len(sel):
                lon[sel], lat[sel] = convert(lon[sel], lat[sel])
        grid_id = np.full(len(lon), None, dtype=object)
        district_code = np.full(len(lon), None, dtype=object)
        positioned = np.flatnonzero(~np.isnan(lon))
        if len(positioned):
            grid_id[positioned], district_code[positioned] = self.city.assign(lon[positioned], lat[positioned])
        # no usable position: the record counts at district level (the contract's fallback)
        fallback = (district_code == None) & (given != None)  # noqa: E711 (object arrays)
        grid_id[fallback] = None
        district_code[fallback] = given[fallback]
        return self._grid_index.get_indexer(grid_id), self._district_index.get_indexer(district_code)

    def _states(self, tally: _Tally, take: np.ndarray, inverse: np.ndarray, keys: np.ndarray,
                stage_no: np.ndarray, stage_names: np.ndarray, ts: np.ndarray, grid: np.ndarray,
                district: np.ndarray, category: np.ndarray, category_names: np.ndarray,
                sla_hours: np.ndarray | None) -> None:
        """Lifecycle states (as the ledger builds them) of the events active in the last ``state_days``."""
        newest = np.full(int(inverse.max()) + 1, -np.inf)
        np.maximum.at(newest, inverse[take], ts[take])
        rows = take[newest[inverse[take]] >= self.keep_states_after]
        if not len(rows):
            return
        states = tally.states
        grid_ids = np.where(grid[rows] >= 0, self._grid_names[np.maximum(grid[rows], 0)], "")
        for event_id, stage, t, g, d, c, sla in zip(
            keys[rows].tolist(), stage_names[stage_no[rows]].tolist(), ts[rows].tolist(),
            grid_ids.tolist(), self._district_names[district[rows]].tolist(),
            category_names[category[rows]].tolist(),
            (sla_hours[rows] if sla_hours is not None else np.full(len(rows), np.nan)).tolist(), strict=True):
            state = _note_stage(states, event_id, stage, t, g, d, c)
            if sla == sla and stage == stage_names[0]:
                state["sla"] = repr(sla)

    def _hazard_states(self, tally: _Tally, take: np.ndarray, keys: np.ndarray, stage_no: np.ndarray,
                       stage_names: np.ndarray, ts: np.ndarray, grid: np.ndarray, district: np.ndarray,
                       category: np.ndarray, category_names: np.ndarray, grade: np.ndarray,
                       due: np.ndarray) -> None:
        """Hazards' lifecycle states (with the grade and deadline each record carried, as the ledger
        keeps them) and their register entries (``metrics.hazards.register``), from each event's final
        state and last record, which is what the register holds after the consumers' batches."""
        states: dict[str, dict[str, str]] = {}
        last: dict[str, Event] = {}
        grid_ids = np.where(grid[take] >= 0, self._grid_names[np.maximum(grid[take], 0)], "")
        letters = np.array([*"ABCD", None], dtype=object)[np.where(np.isnan(grade[take]), 4,
                                                                     np.nan_to_num(grade[take])).astype(int)]
        for event_id, stage, t, g, d, c, letter, deadline in zip(
            keys[take].tolist(), stage_names[stage_no[take]].tolist(), ts[take].tolist(), grid_ids.tolist(),
            self._district_names[district[take]].tolist(), category_names[category[take]].tolist(),
            letters.tolist(), due[take].tolist(), strict=True):
            state = _note_stage(states, event_id, stage, t, g, d, c)
            if letter is not None:
                state["grade"] = letter
                state["grade:" + stage] = letter
            if deadline == deadline:
                state["due"] = repr(deadline)
                state["due:" + stage] = repr(deadline)
            last[event_id] = Event("hazards", event_id, stage, t, None, None, None, c, grade=letter,
                                   due=deadline if deadline == deadline else None)
        for event_id, state in states.items():
            tally.registers[event_id] = register_entry(state, last[event_id])
            if max(float(v) for k, v in state.items() if k.startswith("s:")) >= self.keep_states_after:
                tally.states[event_id] = state

    def _recent_candidates(self, key: tuple[str, int], take: np.ndarray, stage_no: np.ndarray,
                           ts: np.ndarray, batches: list[EmitBatch], rows: np.ndarray) -> None:
        """Remember where the events that may be among the partition's newest are (the drill-down list);
        their JSON is made at the end, for the newest only."""
        firsts = take[(stage_no[take] == 0) & (ts[take] >= self.recent_since)]
        if not len(firsts):
            return
        lengths = np.cumsum([0, *(len(b) for b in batches)])
        source = rows[firsts]
        which = np.searchsorted(lengths, source, side="right") - 1
        for b in np.unique(which).tolist():
            cols = batches[b].columns
            assert cols is not None
            sel = which == b
            self._recent[key].append((ts[firsts[sel]], cols, source[sel] - lengths[b]))
        pieces = self._recent[key]
        if sum(len(t) for t, _, _ in pieces) > 4 * RECENT_MAX:
            self._recent[key] = _newest(pieces)

    # ------------------------------------------------------------------ writing
    def _flush(self, before: int | None) -> None:
        """Count and queue the days complete before ``before`` (epoch s; None: all), with the stats and
        states gathered so far."""
        done = [k for k in self._bins if before is None or (k[1] + 1) * _DAY - LOCAL_OFFSET_S <= before]
        if not done:
            return
        writes: list[tuple[str, CounterWrite]] = []
        for stream, d in sorted(done):
            b = self._bins.pop((stream, d))
            names, values = measure_columns(
                stream, np.concatenate(b.stage_no), np.concatenate(b.ts), np.concatenate(b.started),
                np.concatenate(b.sla_hours), {name: np.concatenate(v) for name, v in b.fields.items()})
            writes.extend((stream, w) for w in sum_counters(
                partition=np.concatenate(b.partition), ts=np.concatenate(b.ts), grid=np.concatenate(b.grid),
                district=np.concatenate(b.district), category=np.concatenate(b.category), names=names,
                values=values, now=self.now, grid_names=self._grid_names,
                district_names=self._district_names, category_names=np.asarray(CATEGORY_ORDER[stream]),
                field_names=self._field_names[stream]))
        tallies, self._tallies = self._tallies, defaultdict(_Tally)
        self._submit(writes, tallies)
        # planning runs ahead of Redis by one day at most
        while len(self._pending) > 1:
            self._pending.pop(0).result()

    def _submit(self, writes: list[tuple[str, CounterWrite]],
                tallies: dict[tuple[str, int], _Tally] | None = None, *,
                recent: dict[tuple[str, int], list[tuple[float, bytes]]] | None = None) -> None:
        store = self.store
        summary = self.summary

        def apply() -> None:
            began = time.perf_counter()
            store.client.set(store.keys.backfill_running(), "1", ex=120)
            by_partition: dict[tuple[str, int], list[CounterWrite]] = defaultdict(list)
            for stream, w in writes:
                by_partition[(stream, w.partition)].append(w)
            touched = set(by_partition) | set(tallies or {}) | set(recent or {})
            for stream, p in sorted(touched - self._registered):
                store.register_partition(stream, p)
                self._registered.add((stream, p))
            for (stream, p), ws in by_partition.items():
                for lo in range(0, len(ws), 200):
                    self._write_counters(stream, p, ws[lo:lo + 200])
                summary.fields += sum(len(w.fields) for w in ws)
            for (stream, p), tally in (tallies or {}).items():
                plan = BatchPlan(states=tally.states, accepted=tally.accepted, duplicates=tally.duplicates,
                                 last_ts=tally.last_ts, registers=tally.registers)
                plan.rejected.update(tally.rejected)
                store.apply_batch(stream, p, expected_offset="*", new_offset=0, plan=plan, now=self.now)
            for (stream, p), items in (recent or {}).items():
                store.apply_batch(stream, p, expected_offset="*", new_offset=0, plan=BatchPlan(recent=items),
                                  now=self.now)
            summary.redis_seconds += time.perf_counter() - began

        assert self._pool is not None
        self._pending.append(self._pool.submit(apply))

    def _write_counters(self, stream: str, partition: int, writes: list[CounterWrite]) -> None:
        """Stage and merge counter hashes (``_MERGE_LUA``) in one MULTI/EXEC. On a plain Redis client the
        commands are encoded here, from field encodings kept between calls: redis-py's encoding of
        every argument would cost more than Redis spends storing it."""
        k = self.store.keys
        versions = k.counter_versions(stream, partition)
        versions_ttl = TIERS["1d"].retention_s
        merges = []
        for w in writes:
            tier = TIERS[w.tier]
            key = k.counters(stream, partition, w.tier, w.scope, w.bucket)
            merges.append((w, key + ":staged", key,  # same hash tag: same cluster slot
                           w.bucket + tier.seconds + tier.retention_s + EXPIRY_SLACK_S))
        client = self.store.client
        if not isinstance(client, redis.Redis):
            pipe = client.pipeline(transaction=True)
            for w, staged, key, expire_at in merges:
                pairs: list[object] = [None] * (2 * len(w.fields))
                pairs[0::2] = w.fields.tolist()
                pairs[1::2] = w.increments.tolist()
                pipe.execute_command("HSET", staged, *pairs)
                self._merge(keys=[staged, key, versions], args=[expire_at, versions_ttl, ""], client=pipe)
            pipe.execute()
            return
        out: list[bytes] = [b"*1\r\n$5\r\nMULTI\r\n"]
        for w, staged, key, expire_at in merges:
            dummy = len(w.fields) > self._compact_entries
            out.append(b"*%d\r\n$4\r\nHSET\r\n" % (2 + 2 * len(w.fields) + 2 * dummy) + _bulk(staged.encode()))
            if dummy:
                out.append(_bulk(_DUMMY) + _bulk(self._dummy_value))
            parts = np.empty(2 * len(w.fields), dtype=object)
            parts[0::2] = self._encoded_fields(w.fields)
            parts[1::2] = _encoded_ints(w.increments)
            out.append(b"".join(parts.tolist()))
            out.append(_command(b"EVALSHA", self._merge.sha.encode(), b"3", staged.encode(), key.encode(),
                                versions.encode(), b"%d" % expire_at, b"%d" % versions_ttl,
                                _DUMMY if dummy else b""))
        out.append(b"*1\r\n$4\r\nEXEC\r\n")
        pool = client.connection_pool
        conn = pool.get_connection()
        try:
            conn.send_packed_command(out)
            for _ in range(1 + 2 * len(merges)):
                conn.read_response()  # OK, then QUEUED per command (an error reply raises)
            replies = conn.read_response()
        except BaseException:
            conn.disconnect()
            raise
        finally:
            pool.release(conn)
        failed = [r for r in replies or [] if isinstance(r, Exception)]
        if replies is None or failed:
            raise redis.ResponseError(f"history counters not written: {failed[:1] or 'transaction aborted'}")

    def _encoded_fields(self, fields: np.ndarray) -> list[bytes]:
        cache = self._field_bulk
        out = []
        for name in fields.tolist():
            encoded = cache.get(name)
            if encoded is None:
                encoded = cache[name] = _bulk(name.encode())
            out.append(encoded)
        return out

    def _drain(self) -> None:
        while self._pending:
            self._pending.pop(0).result()

    def _write_recent(self) -> None:
        """The drill-down's newest events per partition: validated and placed by the consumers' pipeline
        from their JSON, summarised by the ledger (as ``plan_batch`` does for a batch's newest events)."""
        keep_text = self.settings.text_retention_days > 0
        recent: dict[tuple[str, int], list[tuple[float, bytes]]] = {}
        for (stream, p), pieces in sorted(self._recent.items()):
            values: list[bytes] = []
            times: list[np.ndarray] = []
            for t, cols, at in _newest(pieces):
                values.extend(cols.encode(at))
                times.append(t)
            order = np.argsort(-np.concatenate(times), kind="stable")
            records = [RawRecord(i, None, values[j]) for i, j in enumerate(order.tolist())]
            prepared = self.ingestor.prepare(stream, records, now=self.now)
            recent[(stream, p)] = [
                (pe.event.ts, ledger.recent_summary(pe.event, pe.grid_id, pe.district_code, keep_text))
                for pe in prepared.placed[:RECENT_MAX] if pe.event.ts >= self.recent_since]
        self._submit([], None, recent=recent)


def _note_stage(states: dict[str, dict[str, str]], event_id: str, stage: str, ts: float, grid_id: str,
                district_code: str, category: str) -> dict[str, str]:
    """Note one counted record in its event's lifecycle state, as the ledger does: the stage's time, and
    the place and category of the event's first counted record."""
    state = states.get(event_id)
    if state is None:
        state = states[event_id] = {}
    state["s:" + stage] = repr(ts)
    if "d" not in state:
        state["d"] = district_code
        state["g"] = grid_id
        state["c"] = category
    return state


def _bulk(value: bytes) -> bytes:
    """A RESP bulk string."""
    return b"$%d\r\n%s\r\n" % (len(value), value)


def _command(*args: bytes) -> bytes:
    return b"*%d\r\n" % len(args) + b"".join(_bulk(a) for a in args)


_SMALL_INTS = np.array([_bulk(b"%d" % i) for i in range(1 << 16)], dtype=object)


def _encoded_ints(values: np.ndarray) -> np.ndarray:
    """RESP bulk strings of integers (a table for the common small ones)."""
    small = (values >= 0) & (values < len(_SMALL_INTS))
    out = _SMALL_INTS[np.where(small, values, 0)]
    for i in np.flatnonzero(~small).tolist():
        out[i] = _bulk(b"%d" % int(values[i]))
    return out


def _newest(pieces: list[tuple[np.ndarray, StageColumns, np.ndarray]]
            ) -> list[tuple[np.ndarray, StageColumns, np.ndarray]]:
    """The RECENT_MAX newest of the remembered events, and every event tied with the last of them."""
    times = np.concatenate([t for t, _, _ in pieces])
    if len(times) <= RECENT_MAX:
        return pieces
    threshold = np.partition(times, len(times) - RECENT_MAX)[len(times) - RECENT_MAX]
    return [(t[keep], cols, at[keep]) for t, cols, at in pieces if (keep := t >= threshold).any()]


def write_history(settings, city, store, world: World, params: SimParams,  # type: ignore[no-untyped-def]
                  plans: tuple[ScenarioPlan, ...], *, start: float, until: float, partitions: int,
                  hours: tuple[int, int] | None = None, processes: int = 2, now: float | None = None,
                  counter_partition: int | None = 0, stop: threading.Event | None = None,
                  min_hours_per_process: int = 24) -> HistorySummary:
    """:meth:`HistoryWriter.write` over ``processes`` processes, each writing a consecutive run of the
    hour chunks (forked: the city and world are shared, not rebuilt). Counts from two runs that reach the
    same hash are added (``_MERGE_LUA``), each event is wholly in one run, and each run's newest events
    join the one recent list, so the result is the same as one process writing everything."""
    now = time.time() if now is None else now
    first_hour, last_hour = hours or (int(start) // HOUR, (int(until) - 1) // HOUR)
    total = last_hour - first_hour + 1
    # a process costs a fork and a second Redis writer: worth it from a day of hours up
    processes = max(1, min(processes, total // min_hours_per_process))

    def writer() -> HistoryWriter:
        # with several processes the engines stay paused until the last one is done
        return HistoryWriter(settings, city, store, partitions=partitions, now=now,
                             counter_partition=counter_partition, clears_flag=processes == 1)

    if processes == 1:
        return writer().write(world, params, plans, start=start, until=until, hours=(first_hour, last_hour),
                              stop=stop)
    bounds = [first_hour + total * i // processes for i in range(processes + 1)]
    ctx = multiprocessing.get_context("fork")
    children = []
    for lo, hi in itertools.pairwise(bounds[1:]):
        receive, send = ctx.Pipe(duplex=False)
        child = ctx.Process(target=_child, name=f"history-{lo}", daemon=True,
                            args=(writer, store.client, world, params, plans, start, until, (lo, hi - 1), send))
        child.start()
        send.close()
        children.append((child, receive))
    summary = writer().write(world, params, plans, start=start, until=until, hours=(bounds[0], bounds[1] - 1),
                             stop=stop)
    summary.process_seconds = [summary.seconds]
    for child, receive in children:
        while child.is_alive() and not receive.poll(0.2):
            if stop is not None and stop.is_set():
                child.terminate()
        if stop is not None and stop.is_set():
            summary.stopped = True
            child.join()
            continue
        try:
            part: HistorySummary = receive.recv()
        except EOFError:
            raise RuntimeError(f"history process {child.name} failed (exit code {child.exitcode})") from None
        child.join()
        summary.hours += part.hours
        summary.records += part.records
        summary.accepted += part.accepted
        summary.duplicates += part.duplicates
        summary.fields += part.fields
        summary.redis_seconds += part.redis_seconds
        summary.process_seconds.append(part.seconds)
        for reason, n in part.rejected.items():
            summary.rejected[reason] += n
    store.client.delete(store.keys.backfill_running())
    return summary


def _child(writer: Callable[[], HistoryWriter], client: object, world: World, params: SimParams,
           plans: tuple[ScenarioPlan, ...], start: float, until: float, hours: tuple[int, int],
           send: Connection) -> None:
    # a thread of the parent may have held the pool's lock when it forked: start from a fresh pool
    pool = getattr(client, "connection_pool", None)
    if pool is not None:
        pool.reset()
    summary = writer().write(world, params, plans, start=start, until=until, hours=hours)
    summary.rejected = dict(summary.rejected)  # type: ignore[assignment]  # picklable
    send.send(summary)
    send.close()
