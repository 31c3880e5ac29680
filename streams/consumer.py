"""The consumer process: Kafka in, effectively-once counts in Redis out.

Delivery: Redis holds, per partition, the next offset to apply, written by the same atomic script as the
counts (see :mod:`metrics.store`). On assignment the consumer seeks to that offset; a batch is applied only
if the stored offset is still the one its state was read at. A crash at any instant, a redelivery, a stale
consumer finishing a batch after losing its partition, or a replay of a whole topic therefore leaves every
count exact. The Kafka commit only feeds lag monitoring.

Throughput: the main thread polls, decodes, validates and places (CPU); a writer thread reads state and
applies batches to Redis (I/O). A bounded queue between them overlaps the two.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from dataclasses import dataclass, field

import redis
from kafka import KafkaConsumer, TopicPartition
from kafka.consumer.subscription_state import ConsumerRebalanceListener
from kafka.structs import OffsetAndMetadata

from geo.city import CityModel
from kapok.settings import Settings
from metrics.opstats import record_batch_latency
from metrics.store import MetricsStore
from streams.kafka_io import DeadLetters, make_consumer, make_producer
from streams.pipeline import Ingestor, Prepared, RawRecord

log = logging.getLogger(__name__)

_REDIS_RETRY_S = (0.2, 0.5, 1.0, 2.0, 5.0)
#: Writer threads per consumer process.
WRITERS = 2


@dataclass
class ConsumerStats:
    """Figures of this process, for logs and ``/metrics``."""

    batches: int = 0
    records: int = 0
    conflicts: int = 0
    batch_seconds: list[float] = field(default_factory=list)
    #: Seconds spent per phase (prepare, deadletter, read, apply), for the profile in benchmarks/ingest.py.
    phase_seconds: dict[str, float] = field(default_factory=dict)

    def add(self, phase: str, seconds: float) -> None:
        self.phase_seconds[phase] = self.phase_seconds.get(phase, 0.0) + seconds


class _Partitions:
    """What the writer expects next per partition, and an epoch that invalidates queued batches."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.expected: dict[TopicPartition, int | None] = {}
        self.epoch: dict[TopicPartition, int] = {}
        self.completed: dict[TopicPartition, int] = {}
        self.conflicts: dict[TopicPartition, int | None] = {}


def _retry_redis(what: str, fn, stop: threading.Event):  # type: ignore[no-untyped-def]
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


class StreamConsumer:
    """One consumer process of the group: subscribe, seek to Redis offsets, ingest until stopped."""

    def __init__(self, settings: Settings, city: CityModel, store: MetricsStore, *,
                 consumer: KafkaConsumer | None = None, group_id: str | None = None) -> None:
        self.settings = settings
        self.store = store
        self.ingestor = Ingestor(settings, city, store)
        self.topic_stream = {topic: stream for stream, topic in settings.topics().items()}
        self.consumer = consumer or make_consumer(settings, group_id=group_id)
        self.dead_letters = DeadLetters(settings, make_producer(settings, linger_ms=5))
        self.parts = _Partitions()
        self.stats = ConsumerStats()
        # Writers own disjoint partitions (by hash), so each partition's batches stay in order while one
        # writer waits on Redis and another plans: Redis runs on the other core.
        self._queues: list[queue.Queue[tuple[TopicPartition, int, Prepared] | None]] = [
            queue.Queue(maxsize=2) for _ in range(WRITERS)
        ]
        self._stop = threading.Event()
        self._writer_error: BaseException | None = None

    # ------------------------------------------------------------------ rebalance
    def _on_assigned(self, assigned: list[TopicPartition]) -> None:
        for tp in assigned:
            stream = self.topic_stream[tp.topic]
            log_id = self._topic_id(tp.topic)
            if log_id is not None and _retry_redis(
                "adopt log", lambda s=stream, p=tp.partition, i=log_id: self.store.adopt_log(s, p, i), self._stop
            ):
                log.error("%s[%d] is a new log (topic id %s): the topic was recreated or the broker lost its "
                          "data; counting it from its start (ids already seen are still duplicates)",
                          tp.topic, tp.partition, log_id)
            offset = _retry_redis("seek", lambda s=stream, p=tp.partition: self.store.read_offset(s, p), self._stop)
            _retry_redis("register", lambda s=stream, p=tp.partition: self.store.register_partition(s, p),
                         self._stop)
            self._seek(tp, offset)
            log.info("assigned %s[%d]: starting at %s", tp.topic, tp.partition,
                     "the beginning" if offset is None else f"offset {offset} (from Redis)")

    def _topic_id(self, topic: str) -> str | None:
        """The broker's id of a topic (KIP-516), when the broker reports one."""
        cluster = getattr(getattr(self.consumer, "_client", None), "cluster", None)
        topic_id = cluster.topic_id(topic) if cluster is not None and hasattr(cluster, "topic_id") else None
        return str(topic_id) if topic_id else None

    def _on_revoked(self, revoked: list[TopicPartition]) -> None:
        # Let the writer finish what it holds, so a batch is not half-done when another consumer takes over
        # (it would be safe anyway: the offset check rejects a stale batch).
        for q in self._queues:
            q.join()
        with self.parts.lock:
            for tp in revoked:
                self.parts.epoch[tp] = self.parts.epoch.get(tp, 0) + 1
                self.parts.expected.pop(tp, None)

    def _seek(self, tp: TopicPartition, offset: int | None) -> None:
        with self.parts.lock:
            self.parts.epoch[tp] = self.parts.epoch.get(tp, 0) + 1
            self.parts.expected[tp] = offset
        if offset is None:
            self.consumer.seek_to_beginning(tp)
        else:
            self.consumer.seek(tp, offset)

    # ------------------------------------------------------------------ writer thread
    def _write(self, tp: TopicPartition, epoch: int, prepared: Prepared) -> None:
        with self.parts.lock:
            if self.parts.epoch.get(tp) != epoch or tp not in self.parts.expected:
                return
            expected = self.parts.expected[tp]
        started = time.perf_counter()
        if prepared.rejected:
            for rej in prepared.rejected:
                self.dead_letters.send(topic=tp.topic, partition=tp.partition, offset=rej.record.offset,
                                       key=rej.record.key, value=rej.record.value, reason=rej.reason)
                log.info("rejected %s[%d] offset %d: %s (%s)", tp.topic, tp.partition, rej.record.offset,
                         rej.reason, rej.detail)
            self.dead_letters.flush()
        t_read = time.perf_counter()
        self.stats.add("deadletter", t_read - started)
        stored, plan = _retry_redis("read", lambda: self.ingestor.plan(prepared, tp.partition), self._stop)
        t_apply = time.perf_counter()
        self.stats.add("read+plan", t_apply - t_read)
        if expected is not None and prepared.first_offset < expected and stored == expected:
            # Kafka only delivers below the position we sought when the log itself went back: the broker
            # lost its data (a memory-only broker restarted) or the topic was recreated. The counts so far
            # stay; the new log is counted from its start (ids already seen are still duplicates).
            log.error("%s[%d]: the broker's log restarts at offset %d, below the stored offset %d; the broker "
                      "lost data or the topic was recreated — counting the new log from its start",
                      tp.topic, tp.partition, prepared.first_offset, expected)
        if stored != expected:
            self._conflict(tp, epoch, stored)
            return
        result = _retry_redis(
            "apply",
            lambda: self.ingestor.apply(prepared, tp.partition, expected_offset=expected, plan=plan),
            self._stop,
        )
        self.stats.add("apply", time.perf_counter() - t_apply)
        if not result.applied:
            self._conflict(tp, epoch, result.stored_offset)
            return
        with self.parts.lock:
            if self.parts.epoch.get(tp) == epoch:
                self.parts.expected[tp] = prepared.next_offset
            self.parts.completed[tp] = prepared.next_offset
        self.stats.batches += 1
        self.stats.records += prepared.next_offset - prepared.first_offset
        self.stats.batch_seconds.append(time.perf_counter() - started)
        del self.stats.batch_seconds[:-1000]
        try:  # for /metrics: the dashboard process reads the histogram from Redis
            record_batch_latency(self.store.client, self.store.keys, [self.stats.batch_seconds[-1]])
        except redis.RedisError:
            log.debug("batch latency not recorded", exc_info=True)

    def _conflict(self, tp: TopicPartition, epoch: int, stored: int | None) -> None:
        """The stored offset is not where this consumer thought: another consumer moved it, or Redis lost
        data. Ask the main thread to seek to what Redis holds and drop what is queued."""
        log.warning("%s[%d]: stored offset is %s, not where this consumer was; seeking there",
                    tp.topic, tp.partition, stored)
        self.stats.conflicts += 1
        with self.parts.lock:
            if self.parts.epoch.get(tp) == epoch:
                self.parts.epoch[tp] = epoch + 1
                self.parts.conflicts[tp] = stored

    def _writer(self, q: queue.Queue[tuple[TopicPartition, int, Prepared] | None]) -> None:
        while True:
            item = q.get()
            try:
                if item is None:
                    return
                self._write(*item)
            except BaseException as exc:
                self._writer_error = exc
                self._stop.set()
                log.exception("writer failed")
                self._drain(q)
                return
            finally:
                q.task_done()

    @staticmethod
    def _drain(q: queue.Queue[tuple[TopicPartition, int, Prepared] | None]) -> None:
        """Empty a dead writer's queue so nobody blocks on it (its batches are redone after restart)."""
        while True:
            try:
                q.get_nowait()
            except queue.Empty:
                return
            q.task_done()

    # ------------------------------------------------------------------ main loop
    def _handle_conflicts_and_commit(self, last_lag: list[float]) -> bool:
        """Seek where the writer found conflicts, commit completed offsets, publish lag. True when it
        had to seek."""
        with self.parts.lock:
            conflicts, self.parts.conflicts = self.parts.conflicts, {}
            completed, self.parts.completed = self.parts.completed, {}
        for tp, stored in conflicts.items():
            if tp in self.consumer.assignment():
                self._seek(tp, stored)
        if completed:
            offsets = {tp: OffsetAndMetadata(off, "", -1) for tp, off in completed.items()
                       if tp in self.consumer.assignment()}
            if offsets:
                self.consumer.commit_async(offsets=offsets)
        now = time.monotonic()
        if now - last_lag[0] >= 2.0:
            last_lag[0] = now
            lags = {}
            for tp in self.consumer.assignment():
                high = self.consumer.highwater(tp)
                pos = self.consumer.position(tp) if high is not None else None
                if high is not None and pos is not None:
                    lags[f"{self.topic_stream[tp.topic]}.{tp.partition}"] = max(0, high - pos)
            try:
                self.store.publish_lag(lags)
            except redis.RedisError:
                pass
        return bool(conflicts)

    def run(self, stop: threading.Event | None = None, *, idle_exit_s: float | None = None) -> ConsumerStats:
        """Consume until ``stop`` is set (or, with ``idle_exit_s``, until no record came for that long)."""
        if stop is not None:
            threading.Thread(target=lambda: (stop.wait(), self._stop.set()), daemon=True).start()
        listener = _Listener(self)
        self.consumer.subscribe(list(self.topic_stream), listener=listener)
        writers = [threading.Thread(target=self._writer, args=(q,), name=f"rk-writer-{i}", daemon=True)
                   for i, q in enumerate(self._queues)]
        for writer in writers:
            writer.start()
        last_lag = [0.0]
        last_record = time.monotonic()
        try:
            while not self._stop.is_set():
                t_poll = time.perf_counter()
                polled = self.consumer.poll(timeout_ms=200, max_records=self.settings.batch_max_records)
                self.stats.add("poll", time.perf_counter() - t_poll)
                now = time.time()
                for tp, records in polled.items():
                    with self.parts.lock:
                        epoch = self.parts.epoch.get(tp, 0)
                    t_prepare = time.perf_counter()
                    raw = [RawRecord(r.offset, r.key, r.value) for r in records]
                    prepared = self.ingestor.prepare(self.topic_stream[tp.topic], raw, now=now)
                    self.stats.add("prepare", time.perf_counter() - t_prepare)
                    q = self._queues[hash(tp) % len(self._queues)]
                    while not self._stop.is_set():
                        try:
                            q.put((tp, epoch, prepared), timeout=0.5)
                            break
                        except queue.Full:
                            continue
                if polled or not self.consumer.assignment():
                    last_record = time.monotonic()
                elif idle_exit_s is not None and time.monotonic() - last_record > idle_exit_s:
                    for q in self._queues:
                        q.join()
                    if not self._handle_conflicts_and_commit(last_lag):
                        break
                    continue
                self._handle_conflicts_and_commit(last_lag)
        finally:
            for q, writer in zip(self._queues, writers, strict=True):
                while writer.is_alive():
                    try:
                        q.put(None, timeout=0.5)
                        break
                    except queue.Full:
                        continue
                writer.join(timeout=30)
            try:
                self._handle_conflicts_and_commit(last_lag)
            except Exception:  # the broker may be gone at shutdown; Redis already holds the truth
                log.debug("final commit failed", exc_info=True)
            self.consumer.close(autocommit=False)
            self.dead_letters.flush()
        if self._writer_error is not None:
            raise self._writer_error
        return self.stats


class _Listener(ConsumerRebalanceListener):
    def __init__(self, owner: StreamConsumer) -> None:
        self.owner = owner

    def on_partitions_revoked(self, revoked: list[TopicPartition]) -> None:
        self.owner._on_revoked(list(revoked))

    def on_partitions_assigned(self, assigned: list[TopicPartition]) -> None:
        self.owner._on_assigned(list(assigned))
