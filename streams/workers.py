"""Batch workers: the per-record work of a consumer, away from the process that polls Kafka.

Validating, placing, planning and building the Lua payload cost more CPU per record than polling Kafka;
in one process both share one interpreter lock and neither gets a core. The consumer process therefore
only polls (and keeps group membership, seeks and commits), and hands each partition batch — offsets, keys
and values, as read, in columns — to a worker process, which validates, places, reads states, plans,
sends dead letters and applies the batch.

Every partition goes to one worker, and a worker handles its messages in order, so a partition's batches
are applied in offset order. Delivery stays effectively-once through the offset compare-and-set of the
batch script: a worker applies a batch only if Redis still holds the offset the worker expects, and a
worker that falls behind a seek or a revocation cannot do harm (see :mod:`streams.consumer`).

Workers are spawned (no fork of a process that runs client threads) and die with their parent: the kernel
kills them when the consumer process dies, even by SIGKILL (``PR_SET_PDEATHSIG``, as ``kapok.embedded``
does for services).

Messages, consumer to worker (plain tuples):

* ``("batch", topic, partition, epoch, now, columns)``: one partition batch in offset order, as
  :class:`~streams.record_batches.RecordColumns` (one bytes object and a few arrays: cheap to pickle);
* ``("reset", topic, partition, epoch, expected_offset)``: the consumer sought; apply from this offset on,
  and only batches of this epoch;
* ``("revoke", topic, partition)``: the partition left this consumer; skip its batches;
* ``("stop",)``: finish what is queued and exit.

Worker to consumer, one reply per batch (and ``("error", traceback)`` before a worker gives up):

* ``("done", topic, partition, epoch, next_offset, records, seconds, phases)``;
* ``("conflict", topic, partition, epoch, stored_offset)``: Redis holds another offset; nothing written;
* ``("skipped", topic, partition, epoch)``: the batch belonged to a revoked partition or an older epoch.
"""

from __future__ import annotations

import ctypes
import gc
import logging
import os
import signal
import sys
import threading
import time
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

import redis

from geo.city import CityModel
from kapok.settings import Settings
from metrics.opstats import record_batch_latency
from metrics.store import MetricsStore
from streams.kafka_io import DeadLetters, make_producer
from streams.pipeline import Ingestor
from streams.record_batches import RecordColumns

log = logging.getLogger(__name__)

_REDIS_RETRY_S = (0.2, 0.5, 1.0, 2.0, 5.0)
_PR_SET_PDEATHSIG = 1
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3  # mallopt parameters (glibc's malloc.h)
T = TypeVar("T")
Message = tuple[Any, ...]


class Channel(Protocol):
    """What a worker needs of its queues (``queue.Queue`` for threads, ``multiprocessing`` queues else)."""

    def get(self) -> Message: ...

    def put(self, item: Message) -> None: ...


def retry_redis(what: str, fn: Callable[[], T], stop: threading.Event) -> T:
    """Call ``fn`` until Redis answers: a Redis outage pauses ingestion, it never drops a batch."""
    attempt = 0
    while True:
        try:
            return fn()
        except (redis.ConnectionError, redis.TimeoutError, redis.BusyLoadingError) as exc:
            if stop.is_set() and attempt > 3:
                raise
            delay = _REDIS_RETRY_S[min(attempt, len(_REDIS_RETRY_S) - 1)]
            log.warning("redis unavailable during %s (%s); retrying in %.1fs", what, exc, delay)
            time.sleep(delay)
            attempt += 1


@dataclass(frozen=True)
class StoreSpec:
    """What a worker process needs to open the same store as its consumer (a client cannot be pickled)."""

    prefix: str
    retention_s: int
    state_ttl_s: dict[str, int]
    text_retention_s: int
    recent_retention_s: int

    @classmethod
    def of(cls, store: MetricsStore) -> StoreSpec:
        return cls(store.keys.root.removesuffix(":v1"), store.retention_s, dict(store.state_ttl_s),
                   store.text_retention_s, store.recent_retention_s)

    def open(self, settings: Settings) -> MetricsStore:
        from metrics.connect import make_redis

        store = MetricsStore(make_redis(settings), prefix=self.prefix)
        store.retention_s = self.retention_s
        store.state_ttl_s = dict(self.state_ttl_s)
        store.text_retention_s = self.text_retention_s
        store.recent_retention_s = self.recent_retention_s
        return store


class BatchWorker:
    """Applies partition batches in the order given, each only where the stored offset is as expected."""

    def __init__(self, settings: Settings, city: CityModel, store: MetricsStore, dead_letters: DeadLetters,
                 stop: threading.Event) -> None:
        self.ingestor = Ingestor(settings, city, store)
        self.store = store
        self.dead_letters = dead_letters
        self.stop = stop
        self.topic_stream = {topic: stream for stream, topic in settings.topics().items()}
        #: (topic, partition) -> the next offset to apply (None: Redis holds none); absent: not ours
        self.expected: dict[tuple[str, int], int | None] = {}
        self.epoch: dict[tuple[str, int], int] = {}

    def handle(self, message: Message) -> Message | None:
        """Act on one message; the reply to send back, if any."""
        kind = message[0]
        if kind == "batch":
            return self.batch(*message[1:])
        if kind == "reset":
            _, topic, partition, epoch, expected = message
            self.epoch[(topic, partition)] = epoch
            self.expected[(topic, partition)] = expected
            return None
        if kind == "revoke":
            self.expected.pop((message[1], message[2]), None)
            return None
        raise ValueError(f"unknown worker message {kind!r}")

    def batch(self, topic: str, partition: int, epoch: int, now: float, columns: RecordColumns) -> Message:
        # A batch allocates tens of thousands of short-lived containers (events, states, summaries): with
        # the cyclic collector running, it would scan them many times over while the batch holds them.
        # Paused, it runs once the batch has let them go; any cycle a batch leaves is collected then.
        with _collector_paused():
            return self._batch(topic, partition, epoch, now, columns)

    def _batch(self, topic: str, partition: int, epoch: int, now: float, columns: RecordColumns) -> Message:
        tp = (topic, partition)
        if self.epoch.get(tp) != epoch or tp not in self.expected:
            return ("skipped", topic, partition, epoch)
        expected = self.expected[tp]
        phases: dict[str, float] = {}
        started = time.perf_counter()
        prepared = self.ingestor.prepare_columns(self.topic_stream[topic], columns.offsets.tolist(),
                                                 columns.keys(), columns.values(), now=now)
        t_dead = time.perf_counter()
        phases["prepare"] = t_dead - started
        if prepared.rejected:
            for rej in prepared.rejected:
                self.dead_letters.send(topic=topic, partition=partition, offset=rej.record.offset,
                                       key=rej.record.key, value=rej.record.value, reason=rej.reason)
                log.info("rejected %s[%d] offset %d: %s (%s)", topic, partition, rej.record.offset,
                         rej.reason, rej.detail)
            # Sent before the batch is applied: a crash in between sends them again (at least once).
            self.dead_letters.flush()
        t_read = time.perf_counter()
        phases["deadletter"] = t_read - t_dead
        stored, plan = retry_redis("read", lambda: self.ingestor.plan(prepared, partition), self.stop)
        t_apply = time.perf_counter()
        phases["read+plan"] = t_apply - t_read
        if expected is not None and prepared.first_offset < expected and stored == expected:
            # Kafka only delivers below the position we sought when the log itself went back: the broker
            # lost its data (a memory-only broker restarted) or the topic was recreated. The counts so far
            # stay; the new log is counted from its start (ids already seen are still duplicates).
            log.error("%s[%d]: the broker's log restarts at offset %d, below the stored offset %d; the broker "
                      "lost data or the topic was recreated — counting the new log from its start",
                      topic, partition, prepared.first_offset, expected)
        if stored != expected:
            del self.expected[tp]  # until the consumer seeks: later batches of this epoch are skipped
            return ("conflict", topic, partition, epoch, stored)
        result = retry_redis(
            "apply",
            lambda: self.ingestor.apply(prepared, partition, expected_offset=expected, plan=plan),
            self.stop,
        )
        finished = time.perf_counter()
        phases["apply"] = finished - t_apply
        if not result.applied:
            del self.expected[tp]
            return ("conflict", topic, partition, epoch, result.stored_offset)
        self.expected[tp] = prepared.next_offset
        try:  # for /metrics: the dashboard process reads the histogram from Redis
            record_batch_latency(self.store.client, self.store.keys, [finished - started])
        except redis.RedisError:
            log.debug("batch latency not recorded", exc_info=True)
        return ("done", topic, partition, epoch, prepared.next_offset, prepared.next_offset - prepared.first_offset,
                finished - started, phases)

    def close(self) -> None:
        self.dead_letters.flush()


@contextmanager
def _collector_paused() -> Iterator[None]:
    """Pause Python's cyclic garbage collector (process-wide) for the block, if it was running."""
    running = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if running:
            gc.enable()


def serve(worker: BatchWorker, inbox: Channel, outbox: Channel) -> None:
    """Handle messages until ``("stop",)``; report a failure as ``("error", traceback)`` and re-raise."""
    while True:
        message = inbox.get()
        if message[0] == "stop":
            worker.close()
            return
        try:
            reply = worker.handle(message)
        except BaseException:
            outbox.put(("error", traceback.format_exc()))
            raise
        if reply is not None:
            outbox.put(reply)


def _die_with_parent(parent_pid: int) -> None:
    """Have the kernel SIGKILL this process when the consumer process dies (Linux)."""
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    # The parent may have died before prctl; then nobody would ever send the signal.
    if os.getppid() != parent_pid:
        os._exit(1)


def _keep_freed_memory() -> None:
    """Have glibc's malloc keep freed memory instead of handing it back to the kernel (Linux, glibc).

    Each batch allocates and frees buffers of hundreds of kB (the batch script's payload, its protocol
    encoding, numpy columns). By default such buffers are mapped afresh and the heap's top is trimmed, so
    every batch page-faults them in again (measured in the ingest benchmark: a fault every four records,
    a few microseconds each). A worker's memory stays at its largest batch's instead.
    """
    if not sys.platform.startswith("linux"):
        return
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except AttributeError:  # not glibc
        return
    mallopt(_M_MMAP_THRESHOLD, 64 * 1024 * 1024)
    mallopt(_M_TRIM_THRESHOLD, 256 * 1024 * 1024)


def process_main(settings: Settings, city: CityModel, spec: StoreSpec, inbox: Channel, outbox: Channel,
                 parent_pid: int, log_level: int) -> None:
    """Entry point of a worker process; it logs at the consumer process's level (``log_level``)."""
    _die_with_parent(parent_pid)
    _keep_freed_memory()
    # Ctrl-C reaches the whole process group; the consumer stops its workers itself, in order.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    from kapok.logs import setup_logging

    setup_logging(logging.getLevelName(log_level), json_lines=settings.log_json)
    try:
        store = spec.open(settings)
        dead_letters = DeadLetters(settings, make_producer(settings, linger_ms=5))
        worker = BatchWorker(settings, city, store, dead_letters, threading.Event())
    except BaseException:
        outbox.put(("error", traceback.format_exc()))
        raise
    # What is alive now (modules, the city model) lives as long as the process: leave it out of the
    # collector's full passes, which would otherwise walk it again and again.
    gc.freeze()
    try:
        serve(worker, inbox, outbox)
    finally:
        dead_letters.close()
