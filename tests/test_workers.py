"""Batch workers on a real Redis: batches apply in order from the announced offset, stale ones do nothing,
dead letters go out before the batch is applied, and a worker process dies with its consumer."""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import textwrap
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from kapok.settings import Settings
from metrics.store import MetricsStore
from streams.record_batches import RecordColumns
from streams.workers import BatchWorker, StoreSpec, serve
from tests.helpers import pipeline_settings

ROOT = Path(__file__).resolve().parent.parent
NOW = time.time()
TIANHE = (113.3612, 23.1247)


class DeadLetterLog:
    """Stands in for :class:`streams.kafka_io.DeadLetters`: remembers what was sent and flushed."""

    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []
        self.flushed = 0

    def send(self, **record: Any) -> None:
        self.sent.append(record)

    def flush(self) -> None:
        self.flushed = len(self.sent)

    def close(self) -> None:
        self.flush()


@pytest.fixture
def settings(kafka_bootstrap: str, redis_url: str, key_prefix: str, topic_names: dict[str, str]) -> Settings:
    return pipeline_settings(kafka_bootstrap, redis_url, key_prefix, topic_names)


@pytest.fixture
def store(redis_client, settings: Settings) -> MetricsStore:  # type: ignore[no-untyped-def]
    return MetricsStore(redis_client, prefix=settings.key_prefix)


@pytest.fixture
def worker(settings: Settings, city, store: MetricsStore) -> BatchWorker:  # type: ignore[no-untyped-def]
    return BatchWorker(settings, city, store, DeadLetterLog(), threading.Event())  # type: ignore[arg-type]


def incident(event_id: str, stage: str = "reported") -> bytes:
    ts = datetime.fromtimestamp(NOW - 600, tz=UTC).isoformat()
    return json.dumps({"id": event_id, "ts": ts, "lon": TIANHE[0], "lat": TIANHE[1], "category": "theft",
                       "severity": 2, "stage": stage}).encode()


def batch(topic: str, epoch: int, first: int, values: list[bytes]) -> tuple[Any, ...]:
    offsets = list(range(first, first + len(values)))
    return ("batch", topic, 0, epoch, NOW, RecordColumns.of_values(offsets, [b"k"] * len(values), values))


def accepted(store: MetricsStore) -> int:
    store.register_partition("incidents", 0)
    return store.stats()["accepted"]["incidents"]


def test_batches_apply_in_order_from_the_announced_offset(worker, store, settings) -> None:  # type: ignore[no-untyped-def]
    topic = settings.topic_incidents
    assert worker.handle(("reset", topic, 0, 1, None)) is None
    reply = worker.handle(batch(topic, 1, 0, [incident("a"), incident("b")]))
    assert reply[:6] == ("done", topic, 0, 1, 2, 2)
    assert set(reply[7]) == {"prepare", "deadletter", "read+plan", "apply"}
    reply = worker.handle(batch(topic, 1, 2, [incident("a", "dispatched"), incident("c")]))
    assert reply[:5] == ("done", topic, 0, 1, 4)
    assert store.read_offset("incidents", 0) == 4
    assert accepted(store) == 4


def test_a_batch_of_an_older_epoch_or_a_revoked_partition_is_skipped(worker, store, settings) -> None:  # type: ignore[no-untyped-def]
    topic = settings.topic_incidents
    worker.handle(("reset", topic, 0, 2, None))
    assert worker.handle(batch(topic, 1, 0, [incident("a")])) == ("skipped", topic, 0, 1)
    worker.handle(("revoke", topic, 0))
    assert worker.handle(batch(topic, 2, 0, [incident("a")])) == ("skipped", topic, 0, 2)
    assert store.read_offset("incidents", 0) is None
    assert accepted(store) == 0


def test_a_moved_offset_is_a_conflict_until_the_consumer_seeks(worker, store, settings) -> None:  # type: ignore[no-untyped-def]
    topic = settings.topic_incidents
    worker.handle(("reset", topic, 0, 1, None))
    assert worker.handle(batch(topic, 1, 0, [incident("a")]))[0] == "done"
    # Another consumer took the partition and applied offsets 1-2 meanwhile.
    store.client.set(store.keys.offset("incidents", 0), "3")
    assert worker.handle(batch(topic, 1, 1, [incident("b")])) == ("conflict", topic, 0, 1, 3)
    # Batches read before the consumer sought are skipped, not applied against an unknown offset.
    assert worker.handle(batch(topic, 1, 2, [incident("c")])) == ("skipped", topic, 0, 1)
    worker.handle(("reset", topic, 0, 2, 3))
    assert worker.handle(batch(topic, 2, 3, [incident("d")]))[:5] == ("done", topic, 0, 2, 4)
    assert accepted(store) == 2


def test_rejected_records_are_dead_lettered_and_flushed_before_the_batch_is_applied(  # type: ignore[no-untyped-def]
        worker, store, settings) -> None:
    topic = settings.topic_incidents
    worker.handle(("reset", topic, 0, 1, None))
    values = [incident("a"), b"{not json", b"[1]", incident("a")]
    reply = worker.handle(batch(topic, 1, 10, values))
    assert reply[0] == "done"
    dead = worker.dead_letters.sent
    assert [(d["offset"], d["reason"], d["value"]) for d in dead] == [
        (11, "not_json", b"{not json"), (12, "not_object", b"[1]")]
    assert worker.dead_letters.flushed == 2
    store.register_partition("incidents", 0)
    stats = store.stats()
    assert stats["deadletter"] == {"not_json": 1, "not_object": 1}
    assert stats["duplicates"] == 1
    # A redo of the batch (a consumer killed before it learnt the outcome) sends the dead letters again
    # (at least once), and the offset check keeps the counts.
    worker.handle(("reset", topic, 0, 2, None))
    assert worker.handle(batch(topic, 2, 10, values)) == ("conflict", topic, 0, 2, 14)
    assert store.stats()["deadletter"] == {"not_json": 1, "not_object": 1}


def test_serve_answers_in_order_and_reports_a_failure(worker, settings) -> None:  # type: ignore[no-untyped-def]
    topic = settings.topic_incidents
    inbox: queue.Queue[tuple[Any, ...]] = queue.Queue()
    outbox: queue.Queue[tuple[Any, ...]] = queue.Queue()
    for message in (("reset", topic, 0, 1, None), batch(topic, 1, 0, [incident("a")]),
                    batch(topic, 1, 1, [incident("b")]), ("stop",)):
        inbox.put(message)
    serve(worker, inbox, outbox)
    assert [outbox.get_nowait()[:5] for _ in range(2)] == [("done", topic, 0, 1, 1), ("done", topic, 0, 1, 2)]
    inbox.put(("bogus",))
    with pytest.raises(ValueError, match="bogus"):
        serve(worker, inbox, outbox)
    kind, text = outbox.get_nowait()
    assert kind == "error" and "bogus" in text


def test_a_store_spec_opens_the_same_store(settings, redis_client) -> None:  # type: ignore[no-untyped-def]
    store = MetricsStore(redis_client, prefix=settings.key_prefix, retention_days=40, text_retention_days=0,
                         hazard_retention_days=500)
    opened = StoreSpec.of(store).open(settings)
    assert opened.keys.offset("incidents", 3) == store.keys.offset("incidents", 3)
    assert (opened.retention_s, opened.state_ttl_s, opened.text_retention_s, opened.recent_retention_s) == (
        store.retention_s, store.state_ttl_s, store.text_retention_s, store.recent_retention_s)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie is dead too
        with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux only")
def test_worker_processes_die_with_a_killed_consumer(settings, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    script = tmp_path / "parent.py"
    script.write_text(textwrap.dedent(f"""
        import sys, threading, time
        sys.path.insert(0, {str(ROOT)!r})
        from geo.city import load_city
        from kapok.settings import load_settings
        from metrics.connect import make_redis
        from metrics.store import MetricsStore
        from streams.consumer import _Workers

        if __name__ == "__main__":
            settings = load_settings(redis_url={settings.redis_url!r}, kafka_bootstrap={settings.kafka_bootstrap!r},
                                     key_prefix={settings.key_prefix!r})
            store = MetricsStore(make_redis(settings), prefix=settings.key_prefix)
            workers = _Workers(settings, load_city(settings), store, 2, threading.Event())
            print(" ".join(str(p.pid) for p in workers.processes), flush=True)
            time.sleep(120)
    """), encoding="utf-8")
    parent = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True)
    try:
        assert parent.stdout is not None
        pids = [int(p) for p in parent.stdout.readline().split()]
        assert len(pids) == 2 and all(_alive(p) for p in pids)
        parent.send_signal(signal.SIGKILL)
        parent.wait(timeout=10)
        deadline = time.monotonic() + 10
        while any(_alive(p) for p in pids) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not any(_alive(p) for p in pids)
    finally:
        if parent.poll() is None:
            parent.kill()
