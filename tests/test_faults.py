"""Faults on the real broker and Redis: every count must still equal the ground truth.

- The consumer process is SIGKILLed at random moments (at least 10 times) while 200,000 records with
  resends and bad records flow; it is restarted each time.
- Redis is restarted mid-stream: the consumer waits, retries, and goes on exactly.
- The (memory-only) broker is restarted: the consumer survives and counts the new log.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import pytest

from kapok.embedded import create_topics
from kapok.settings import Settings
from metrics.store import MetricsStore
from streams.consumer import StreamConsumer
from streams.kafka_io import make_producer
from tests.helpers import consume_all, pipeline_settings
from tests.workload import Truth, mixed_workload

ROOT = Path(__file__).resolve().parent.parent
FAST_GROUP = {"max_poll_interval_ms": 6000}


@pytest.fixture
def settings(kafka_bootstrap: str, redis_url: str, key_prefix: str, topic_names: dict[str, str]) -> Settings:
    return pipeline_settings(kafka_bootstrap, redis_url, key_prefix, topic_names, **FAST_GROUP)


def produce(settings: Settings, records: list[tuple[str, str, bytes]]) -> None:
    producer = make_producer(settings)
    for stream, key, value in records:
        producer.send(settings.topics()[stream], key=key.encode(), value=value)
    producer.flush()
    producer.close()


def processed(store: MetricsStore) -> int:
    stats = store.stats()
    return sum(stats["accepted"].values()) + stats["duplicates"] + sum(stats["deadletter"].values())


def accepted_and_rejected(store: MetricsStore) -> int:
    stats = store.stats()
    return sum(stats["accepted"].values()) + sum(stats["deadletter"].values())


def wait_for(store: MetricsStore, total: int, timeout_s: float, *, exact: bool = True) -> None:
    deadline = time.monotonic() + timeout_s
    while (accepted_and_rejected(store) if not exact else processed(store)) < total:
        assert time.monotonic() < deadline, f"only {processed(store)} of {total} records processed in time"
        time.sleep(0.2)


def assert_exact(store: MetricsStore, truth: Truth, settings: Settings) -> None:
    stats = store.stats()
    assert {s: stats["accepted"][s] for s in truth.accepted} == dict(truth.accepted)
    assert stats["duplicates"] == truth.duplicates
    assert stats["deadletter"] == dict(truth.deadletter)
    now = time.time()
    frame = store.window_frame("district", now - 30 * 3600, now + 3600)
    got: Counter = Counter()
    for stream in ("incidents", "surveillance", "hotline"):
        cols = [c for c in frame.columns if c.startswith(f"{stream}.") and c.endswith(".n")]
        for district, value in frame[cols].sum(axis=1).items():
            if value:
                got[(stream, district)] = int(value)
    assert got == truth.events_by_district
    # Dead letters are delivered at least once; (topic, partition, offset) identifies repeats exactly.
    dead = {}
    for m in consume_all(settings.kafka_bootstrap, settings.topic_deadletter):
        h = dict(m.headers)
        dead[(h["rk-topic"], h["rk-partition"], h["rk-offset"])] = m.value
    assert Counter(dead.values()) == Counter(truth.bad_values)


def consumer_env(settings: Settings) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RK_")}
    for name in ("kafka_bootstrap", "redis_url", "key_prefix", "topic_incidents", "topic_surveillance",
                 "topic_hotline", "topic_hazards", "topic_deadletter", "consumer_group",
                 "max_poll_interval_ms"):
        env[f"RK_{name.upper()}"] = str(getattr(settings, name))
    env["RK_LOG_LEVEL"] = "WARNING"
    return env


@pytest.mark.slow
def test_sigkill_at_random_moments_leaves_every_count_exact(settings, city, redis_client) -> None:  # type: ignore[no-untyped-def]
    records, truth = mixed_workload(city, 200_000, seed=11, now=time.time())
    produce(settings, records)
    store = MetricsStore(redis_client, prefix=settings.key_prefix)
    rng = random.Random(5)
    env = consumer_env(settings)
    kills = 0
    command = [sys.executable, str(ROOT / "app.py"), "consume"]
    while kills < 10:
        proc = subprocess.Popen(command, env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        # Kill once it is working: after it has applied something, at a random moment.
        before = processed(store)
        deadline = time.monotonic() + 60
        while processed(store) == before and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.05)
        time.sleep(rng.uniform(0.0, 1.5))
        assert proc.poll() is None, proc.stderr.read().decode()[-2000:] if proc.stderr else ""
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        kills += 1
        if processed(store) >= len(records):
            break
    proc = subprocess.Popen(command, env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        wait_for(store, len(records), timeout_s=300)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)
    assert kills >= 10 or processed(store) >= len(records)
    assert_exact(store, truth, settings)


def test_redis_restart_mid_stream_pauses_then_continues_exactly(services, settings, city, redis_client) -> None:  # type: ignore[no-untyped-def]
    records, truth = mixed_workload(city, 30_000, seed=12, now=time.time())
    produce(settings, records)
    store = MetricsStore(redis_client, prefix=settings.key_prefix)
    consumer = StreamConsumer(settings, city, store)
    stop = threading.Event()
    runner = threading.Thread(target=consumer.run, args=(stop,), daemon=True)
    runner.start()
    deadline = time.monotonic() + 60
    while processed(store) < 3000:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    services.redis.restart()  # persistent (append-only file): what was applied survives
    wait_for(store, len(records), timeout_s=120)
    stop.set()
    runner.join(timeout=30)
    assert_exact(store, truth, settings)


def test_broker_restart_loses_the_log_but_not_the_consumer(services, settings, city, redis_client,  # type: ignore[no-untyped-def]
                                                           topic_names) -> None:
    first, truth1 = mixed_workload(city, 3_000, seed=13, now=time.time())
    produce(settings, first)
    store = MetricsStore(redis_client, prefix=settings.key_prefix)
    consumer = StreamConsumer(settings, city, store)
    stop = threading.Event()
    runner = threading.Thread(target=consumer.run, args=(stop,), daemon=True)
    runner.start()
    wait_for(store, len(first), timeout_s=60)
    services.kafka.restart()  # memory-only: every topic and record is gone
    create_topics(settings.kafka_bootstrap, list(topic_names.values()), 4)
    second, truth2 = mixed_workload(city, 3_000, seed=14, now=time.time())
    produce(settings, second)
    distinct = sum((truth1.accepted + truth2.accepted).values()) + sum(
        (truth1.deadletter + truth2.deadletter).values())
    wait_for(store, distinct, timeout_s=120, exact=False)
    stop.set()
    runner.join(timeout=30)
    stats = store.stats()
    for stream in truth1.accepted:
        assert stats["accepted"][stream] == truth1.accepted[stream] + truth2.accepted[stream]
    # Records of the new log read before the consumer learnt the log was new are read again from its start
    # and counted as duplicates: the events are still counted once.
    assert stats["duplicates"] >= truth1.duplicates + truth2.duplicates
