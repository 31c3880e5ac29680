"""Window sums (metrics.windows) against sums computed here from the raw counter hashes, on a real Redis:
cold reads, warm reads after new batches, windows that slide, read sessions, several readers, series."""

from __future__ import annotations

import random
import time
from collections import Counter

import pandas as pd
import pytest
import redis
from hypothesis import given
from hypothesis import strategies as st

from geo.city import CityModel
from kapok.commands import _simulator_args
from kapok.settings import load_settings
from metrics.keys import Keys
from metrics.store import MetricsStore
from streams import simulator
from streams.backfill import StoreSink
from streams.pipeline import Ingestor
from streams.simulator.sinks import MemorySink

HOUR = 3600
EVENTS_PER_DAY = 30_000


def truth(client: redis.Redis, prefix: str, scope: str, start: float, end: float,
          entity: str | None = None) -> Counter:
    """(entity, column) -> sum over every hourly counter hash of ``scope`` with its bucket in
    [start, end), read field by field with HGETALL: nothing of metrics.windows is used."""
    out: Counter = Counter()
    for raw_key in client.scan_iter(match=f"{prefix}:v1:*:c:1h:{scope}:*", count=1000):
        key = raw_key.decode()
        bucket = int(key.rsplit(":", 1)[1])
        if not start <= bucket < end:
            continue
        stream = key[key.index("{") + 1:key.index("}")].rpartition(".")[0]
        for field, value in client.hgetall(raw_key).items():
            if field == b"_v":
                continue
            ent, category, measure = field.decode().split("|")
            if entity is None or ent == entity:
                out[(ent, f"{stream}.{category}.{measure}")] += int(value)
    return +out


def as_counter(frame: pd.DataFrame) -> Counter:
    stacked = frame.stack()
    return +Counter({(str(e), str(c)): float(v) for (e, c), v in stacked.items() if v != 0})


def hour_floor(ts: float) -> int:
    return int(ts // HOUR * HOUR)


@pytest.fixture
def filled(redis_url: str, key_prefix: str, city: CityModel) -> tuple[MetricsStore, StoreSink, list, float]:
    """Six simulated hours in the store, and the next hour of records (another seed) held back."""
    settings = load_settings(redis_url=redis_url, key_prefix=key_prefix, auth="none")
    store = MetricsStore(redis.Redis.from_url(redis_url), prefix=key_prefix)
    sink = StoreSink(Ingestor(settings, city, store), partitions=4)
    now = time.time()
    history_end = int(now - HOUR)
    simulator.run(_simulator_args(seed=3, backfill_days=6 / 24, live_minutes=0, events_per_day=EVENTS_PER_DAY,
                                  scenarios="none", until=str(history_end)), settings, sink, city=city)
    sink.flush()
    later = MemorySink()
    simulator.run(_simulator_args(seed=4, backfill_days=1 / 24, live_minutes=0, events_per_day=EVENTS_PER_DAY,
                                  scenarios="none", until=str(int(now))), settings, later, city=city)
    return store, sink, [r for r in later.records if not r[3]], now


def ingest(sink: StoreSink, records: list) -> None:
    for stream, key, value, _ in records:
        sink.send(stream, key, value)
    sink.flush()


def test_cold_and_warm_window_sums_equal_the_raw_hashes(filled, redis_url: str, key_prefix: str) -> None:
    store, sink, later, now = filled
    client = store.client
    start, end = hour_floor(now) - 8 * HOUR, hour_floor(now) + HOUR
    expected = truth(client, key_prefix, "g", start, end)
    assert len(expected) > 1000  # the test means something only with many cells
    assert as_counter(store.window_frame("grid", start, end)) == expected

    # New batches land in the current hour (and, as late records do, in earlier ones): the kept sum is
    # updated from the buckets whose version moved, and equals a fresh reader's cold sum.
    ingest(sink, later[: len(later) // 2])
    expected = truth(client, key_prefix, "g", start, end)
    warm = as_counter(store.window_frame("grid", start, end))
    cold = as_counter(MetricsStore(redis.Redis.from_url(redis_url), prefix=key_prefix)
                      .window_frame("grid", start, end))
    assert warm == expected
    assert cold == expected


def test_sliding_windows_subtract_the_buckets_that_left(filled, key_prefix: str) -> None:
    store, sink, later, now = filled
    client = store.client
    base = hour_floor(now)
    rng = random.Random(5)
    chunks = [later[i::4] for i in range(4)]
    for step in range(8):
        if step % 2 and chunks:
            ingest(sink, chunks.pop())
        span = rng.choice([2, 3, 5])
        end = base + HOUR - rng.choice([0, 1, 2]) * HOUR
        start = end - span * HOUR
        level = rng.choice(["grid", "district"])
        scope = "g" if level == "grid" else "d"
        # district windows ending within the day may use daily buckets; keep them on whole hours here
        assert as_counter(store.window_frame(level, start, end)) == truth(client, key_prefix, scope, start, end), \
            (step, level, start, end)


def test_city_is_the_sum_of_districts(filled) -> None:
    store, _, _, now = filled
    start, end = hour_floor(now) - 6 * HOUR, hour_floor(now) + HOUR
    districts = store.window_frame("district", start, end)
    city = store.window_frame("city", start, end)
    assert list(city.index) == ["city"]
    pd.testing.assert_series_equal(city.loc["city"], districts.sum(axis=0), check_names=False)


def test_a_read_session_sees_one_version_of_each_bucket(filled, key_prefix: str) -> None:
    store, sink, later, now = filled
    start, end = hour_floor(now) - 2 * HOUR, hour_floor(now) + HOUR
    with store.read_session():
        before = as_counter(store.window_frame("grid", start, end))
        ingest(sink, later)
        assert as_counter(store.window_frame("grid", start, end)) == before
    after = as_counter(store.window_frame("grid", start, end))
    assert after == truth(store.client, key_prefix, "g", start, end)
    assert after != before


def test_series_of_one_cell_per_hour(filled, key_prefix: str) -> None:
    store, _, _, now = filled
    start, end = hour_floor(now) - 6 * HOUR, hour_floor(now) + HOUR
    frame = store.window_frame("grid", start, end)
    busiest = frame.sum(axis=1).idxmax()
    series = store.series("grid", start, end, entity=busiest)
    assert len(series) == 7
    for bucket, row in series.iterrows():
        b = int(bucket.timestamp())
        expected = truth(store.client, key_prefix, "g", b, b + HOUR, entity=busiest)
        got = +Counter({(busiest, str(c)): float(v) for c, v in row.items() if v != 0})
        assert got == expected, bucket
    assert store.series("grid", start, end, entity="no-such-cell").to_numpy().sum() == 0


@given(prefix=st.from_regex(r"[a-z][a-z0-9]{0,11}", fullmatch=True),
       stream=st.sampled_from(["incidents", "surveillance", "hotline", "hazards"]),
       partition=st.integers(0, 511), tier=st.sampled_from(["5m", "1h", "1d"]), scope=st.sampled_from(["g", "d"]),
       bucket=st.integers(0, 4_000_000_000))
def test_counter_keys_parse_back(prefix: str, stream: str, partition: int, tier: str, scope: str, bucket: int) -> None:
    keys = Keys(prefix)
    key = keys.counters(stream, partition, tier, scope, bucket)  # type: ignore[arg-type]
    assert keys.parse_counters(key) == (stream, partition, tier, scope, bucket)


def test_counter_hashes_past_64_fields_are_hashtables_and_keep_no_marker(filled, key_prefix: str) -> None:
    """The batch script converts a hash it takes past 64 fields (a compact hash is scanned on every
    access): the marker field it converts with is gone, and small hashes stay compact."""
    store, _sink, _later, _now = filled
    client = store.client
    sizes = {"big": 0, "small": 0}
    for key in client.scan_iter(match=f"{key_prefix}:v1:*:c:*", count=1000):
        size = client.hlen(key)
        encoding = client.object("encoding", key)
        assert not client.hexists(key, "~convert")
        if size > 64:
            sizes["big"] += 1
            assert encoding == b"hashtable", (key, size)
        else:
            sizes["small"] += 1
            assert encoding in (b"ziplist", b"listpack"), (key, size)
    assert sizes["big"] and sizes["small"]
