"""History written column-wise (streams.history): the same records as the simulator's JSON, Kafka's
partitioner, the ledger's sequential pass on columns, and — on the real embedded Redis — exactly what
the record-by-record backfill writes for the same seed."""

from __future__ import annotations

import json
import math
import time
from collections import defaultdict
from typing import Any

import numpy as np
import pytest
import redis
from hypothesis import given, settings
from hypothesis import strategies as st
from kafka.partitioner.default import murmur2 as kafka_murmur2

from kapok.settings import load_settings
from metrics.store import MetricsStore
from streams.backfill import StoreSink, kafka_partition
from streams.history import write_history
from streams.history_plan import decide, kafka_partitions, murmur2
from streams.pipeline import Ingestor
from streams.simulator.encode import encode_hour
from streams.simulator.model import HOUR, SimParams, generate_hour
from streams.simulator.runner import make_world
from streams.simulator.scenarios import DEFAULT_SCENARIOS_FILE, load_scenarios, plan_scenarios
from streams.simulator.schedule import Scheduler


@pytest.fixture(scope="module")
def app_settings():
    return load_settings()


@pytest.fixture(scope="module")
def world(app_settings, city):
    return make_world(app_settings, seed=5, city=city)


# --- Kafka's partitioner ---------------------------------------------------------------------------


@settings(max_examples=200, deadline=None)
@given(st.lists(st.binary(max_size=40), max_size=30), st.integers(1, 12))
def test_murmur2_matches_kafka(keys: list[bytes], partitions: int) -> None:
    assert murmur2(keys).tolist() == [kafka_murmur2(k) for k in keys]
    assert kafka_partitions(keys, partitions).tolist() == [kafka_partition(k, partitions) for k in keys]


# --- the sequential pass on columns ----------------------------------------------------------------

NAN = math.nan


@pytest.mark.parametrize(
    ("records", "new", "started", "sla"),
    [
        # (event, stage_no, ts, sla_hours sent, valid), in processing order
        pytest.param([(0, 0, 100, 48, True), (0, 1, 160, NAN, True)], [1, 1], [NAN, 100], [24, 48],
                     id="created-then-responded"),
        pytest.param([(0, 0, 100, NAN, True), (0, 0, 100, NAN, True), (0, 1, 150, NAN, True)], [1, 0, 1],
                     [NAN, NAN, 100], [24, 24, 24], id="exact-resend-is-a-duplicate"),
        pytest.param([(0, 1, 150, NAN, True), (0, 0, 100, 12, True), (0, 2, 300, NAN, True)], [1, 1, 1],
                     [NAN, NAN, 100], [24, 24, 12], id="late-first-stage-known-only-after-it"),
        pytest.param([(0, 0, 100, 12, False), (0, 0, 100, 12, True), (0, 1, 120, NAN, True)], [0, 1, 1],
                     [NAN, NAN, 100], [24, 24, 12], id="a-rejected-copy-counts-nothing"),
        pytest.param([(1, 0, 50, NAN, True), (0, 0, 60, 8, True), (1, 1, 70, NAN, True),
                      (0, 1, 90, NAN, True), (0, 1, 95, NAN, True)], [1, 1, 1, 1, 0],
                     [NAN, NAN, 50, 60, NAN], [24, 24, 24, 8, 24], id="two-events-interleaved"),
    ],
)
def test_decide_known_answers(records: list[tuple[Any, ...]], new: list[int], started: list[float],
                              sla: list[float]) -> None:
    event, stage_no, ts, sla_sent, valid = (np.array(c) for c in zip(*records, strict=True))
    got = decide(event, stage_no, ts.astype(float), sla_sent.astype(float), valid.astype(bool))
    assert got.new.astype(int).tolist() == new
    assert got.duplicate.tolist() == [bool(v) and not n for v, n in zip(valid, new, strict=True)]
    counted = got.new
    np.testing.assert_array_equal(got.started[counted], np.array(started)[counted])
    np.testing.assert_array_equal(got.sla_hours[counted], np.array(sla)[counted])


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 5), st.integers(0, 3), st.booleans()), max_size=60))
def test_decide_counts_each_valid_stage_once(rows: list[tuple[int, int, bool]]) -> None:
    if not rows:
        return
    event, stage_no, valid = (np.array(c) for c in zip(*rows, strict=True))
    ts = np.arange(len(rows), dtype=float)
    got = decide(event, stage_no, ts, np.full(len(rows), NAN), valid.astype(bool))
    assert got.new.sum() == len({(e, s) for e, s, v in rows if v})
    assert not (got.new & got.duplicate).any() and not ((got.new | got.duplicate) & ~valid).any()
    # a record knows its start only from an earlier counted first stage of its event
    for i in np.flatnonzero(got.new & ~np.isnan(got.started)).tolist():
        j = np.flatnonzero(got.new[:i] & (event[:i] == event[i]) & (stage_no[:i] == 0))
        assert len(j) == 1 and got.started[i] == ts[j[0]]


# --- the simulator's two forms of the same records --------------------------------------------------


def test_columnar_encoding_gives_the_same_records(world) -> None:
    hour = 1795600800 // HOUR - 30
    plans = plan_scenarios(load_scenarios(DEFAULT_SCENARIOS_FILE), world, 1795600800)
    names = tuple(p.name for p in plans)
    checked = 0
    for h in (hour, hour + 1):
        for hs in generate_hour(world, SimParams(), h, plans):
            as_json = encode_hour(hs, world, SimParams(), names)
            as_columns = encode_hour(hs, world, SimParams(), names, columnar=True)
            assert len(as_json) == len(as_columns)
            for a, b in zip(as_json, as_columns, strict=True):
                for name in ("emit", "order", "keys", "first", "malformed", "duplicate", "late"):
                    np.testing.assert_array_equal(getattr(a, name), getattr(b, name))
                assert a.truth == b.truth
                assert b.columns is not None
                rows = np.arange(len(b))
                intact = ~b.malformed
                assert np.array_equal(np.array(b.columns.encode(rows), dtype=object)[intact], a.values[intact])
                assert b.values[b.malformed].tolist() == a.values[b.malformed].tolist()
                assert all(v is None for v in b.values[intact])
                checked += len(b)
    assert checked > 10_000


# --- both ways into the real Redis ------------------------------------------------------------------


def _dump(client: redis.Redis, prefix: str) -> dict[str, Any]:
    """Every key of a store, by its name after the prefix; stats without their wall-clock field."""
    names = list(client.scan_iter(match=f"{prefix}:*", count=5000))
    pipe = client.pipeline(transaction=False)
    for raw in names:
        pipe.type(raw)
    kinds = pipe.execute()
    read = {b"hash": pipe.hgetall, b"string": pipe.get, b"set": pipe.smembers,
            b"zset": lambda k: pipe.zrange(k, 0, -1, withscores=True)}
    for raw, kind in zip(names, kinds, strict=True):
        assert kind in read, f"unexpected {kind!r} key {raw!r}"
        read[kind](raw)
    out: dict[str, Any] = {}
    for raw, kind, value in zip(names, kinds, pipe.execute(), strict=True):
        name = raw.decode()[len(prefix):]
        if kind == b"hash":
            fields = {a.decode(): b.decode() for a, b in value.items()}
            fields.pop("applied_at", None)
            if name.endswith(":versions"):
                fields = {f[len(prefix):]: "changed" for f in fields}  # how often differs by batching
            out[name] = fields
        elif kind == b"string":
            out[name] = json.loads(value) if value.startswith(b"{") else value
        elif kind == b"set":
            out[name] = sorted(value)
        else:
            out[name] = value
    return out


def _counter_sums(dump: dict[str, Any]) -> dict[str, dict[str, int]]:
    """Counter hashes summed over partitions: what every reader sees."""
    sums: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for name, fields in dump.items():
        if ":c:" in name:
            stream = name.split("{", 1)[1].split(".", 1)[0]
            for f, v in fields.items():
                sums[stream + name.split("}", 1)[1]][f] += int(v)
    return {k: dict(v) for k, v in sums.items()}


def _both_ways(app_settings, city, world, client, prefix: str, *, hours: int, events_per_day: float,
               **history: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    until = int(time.time()) - 1800
    start = until - hours * HOUR
    params = SimParams(events_per_day=events_per_day)
    plans = plan_scenarios(load_scenarios(DEFAULT_SCENARIOS_FILE), world, until)
    old = MetricsStore(client, prefix=prefix + "a")
    sink = StoreSink(Ingestor(app_settings, city, old), partitions=4)
    for chunk in Scheduler(world, params, plans, start // HOUR).release_chunks(until, skip_before=start):
        for stream, key, value in zip(chunk.stream, chunk.key, chunk.value, strict=True):
            sink.send(stream, key, value)
    sink.flush()
    new = MetricsStore(client, prefix=prefix + "b")
    summary = write_history(app_settings, city, new, world, params, plans, start=start, until=until,
                            partitions=4, **history)
    assert summary.records > 0 and (summary.accepted, summary.duplicates) == (sink.accepted, sink.duplicates)
    assert sum(summary.rejected.values()) == sink.rejected
    return _dump(client, prefix + "a"), _dump(client, prefix + "b")


def test_history_writes_what_the_record_path_writes(app_settings, city, world, redis_client, key_prefix) -> None:
    """Every key, field and value, partition by partition: counters, versions, stats, states, the
    hazard register and the recent lists."""
    old, new = _both_ways(app_settings, city, world, redis_client, key_prefix, hours=6, events_per_day=60000,
                          processes=1, counter_partition=None)
    assert len(old) > 1000
    assert old.keys() == new.keys()
    differing = [k for k in old if old[k] != new[k]]
    assert not differing, (differing[:3], [old[k] for k in differing[:1]], [new[k] for k in differing[:1]])


def test_history_in_two_processes_sums_to_the_same(app_settings, city, world, redis_client, key_prefix) -> None:
    """The demo's way: two processes, every count under one partition's hashes. Readers sum over
    partitions, so the sums must match; stats, states, registers and recent lists match key by key."""
    old, new = _both_ways(app_settings, city, world, redis_client, key_prefix, hours=26, events_per_day=6000,
                          processes=2, min_hours_per_process=12)
    assert _counter_sums(old) == _counter_sums(new)
    rest_old = {k: v for k, v in old.items() if ":c:" not in k and not k.endswith(":versions")}
    rest_new = {k: v for k, v in new.items() if ":c:" not in k and not k.endswith(":versions")}
    assert rest_old.keys() == rest_new.keys()
    differing = [k for k in rest_old if rest_old[k] != rest_new[k]]
    assert not differing, differing[:3]
