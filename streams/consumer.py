"""The consumer process: Kafka in, effectively-once counts in Redis out.

Delivery: Redis holds, per partition, the next offset to apply, written by the same atomic script as the
counts (see :mod:`metrics.store`). On assignment the consumer seeks to that offset; a batch is applied only
if the stored offset is still the one its state was read at. A crash at any instant, a redelivery, a stale
consumer finishing a batch after losing its partition, or a replay of a whole topic therefore leaves every
count exact. The Kafka commit only feeds lag monitoring.

Throughput: this process polls Kafka, with each fetched record batch decoded into columns rather than one
object per record (:mod:`streams.record_batches`: half the CPU of kafka-python's own decoding), and hands
each partition batch, as read, to a worker (:mod:`streams.workers`) that validates, places, plans and
applies it, in a process of its own (``consumer_workers``; 0 runs one worker thread here). A
partition always goes to the same worker, which keeps its batches in order. At most a few batches per
worker are in flight, so a slow Redis slows polling instead of filling memory.

Each partition has an epoch, raised by every seek and revocation; a worker applies only batches of the
partition's current epoch, from the offset the seek announced, so after a conflict or a rebalance nothing
read before it is applied (and the offset check would refuse it anyway).
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import queue
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import redis
from kafka import KafkaConsumer, TopicPartition
from kafka.consumer.subscription_state import ConsumerRebalanceListener
from kafka.structs import OffsetAndMetadata

from geo.city import CityModel
from kapok.settings import Settings
from metrics.store import MetricsStore
from streams.kafka_io import DeadLetters, make_consumer, make_producer
from streams.record_batches import RecordColumns
from streams.workers import BatchWorker, Message, StoreSpec, process_main, retry_redis, serve

log = logging.getLogger(__name__)

#: Batches handed to one worker and not yet answered: one being applied, the next ones ready behind it.
#: A poll often returns the batches of one worker's partitions only; while the poller waits for that worker
#: the other gets nothing new, so the queue is deep enough to ride that out (benchmarks/ingest.py: 3 gave
#: 42,000-48,000 events/s, 6 gave 55,000-58,000). Memory: about 1.5 MB a batch.
MAX_IN_FLIGHT = 6
#: Seconds a stopping worker gets to finish what it holds before it is killed (its batches are redone).
_STOP_TIMEOUT_S = 30.0


@dataclass
class ConsumerStats:
    """Figures of this process, for logs and ``/metrics``."""

    batches: int = 0
    records: int = 0
    conflicts: int = 0
    batch_seconds: list[float] = field(default_factory=list)
    #: Seconds spent per phase (poll and handoff here; prepare, deadletter, read+plan, apply in workers),
    #: for the profile in benchmarks/ingest.py.
    phase_seconds: dict[str, float] = field(default_factory=dict)

    def add(self, phase: str, seconds: float) -> None:
        self.phase_seconds[phase] = self.phase_seconds.get(phase, 0.0) + seconds


class WorkerFailed(RuntimeError):
    """A batch worker raised or died; the consumer stops (what it held is redone after a restart)."""


class _Workers:
    """The batch workers of one consumer: processes (``count`` > 0) or one thread, and one reply queue."""

    def __init__(self, settings: Settings, city: CityModel, store: MetricsStore, count: int,
                 stop: threading.Event) -> None:
        self.stopped = False
        self.inboxes: list[Any] = []
        self.processes: list[Any] = []
        self.threads: list[threading.Thread] = []
        if count == 0:
            self.replies: Any = queue.Queue()
            inbox: queue.Queue[Message] = queue.Queue()
            worker = BatchWorker(settings, city, store,
                                 DeadLetters(settings, make_producer(settings, linger_ms=5)), stop)
            thread = threading.Thread(target=self._thread_main, args=(worker, inbox), name="rk-batch-worker",
                                      daemon=True)
            self.inboxes.append(inbox)
            self.threads.append(thread)
            thread.start()
            return
        # Spawned, not forked: this process already runs client threads that a fork would copy half-way.
        ctx = multiprocessing.get_context("spawn")
        self.replies = ctx.Queue()
        spec = StoreSpec.of(store)
        for i in range(count):
            inbox = ctx.Queue()
            process = ctx.Process(target=process_main, name=f"rk-batch-worker-{i}", daemon=True,
                                  args=(settings, city, spec, inbox, self.replies, os.getpid(),
                                        logging.getLogger().getEffectiveLevel()))
            process.start()
            self.inboxes.append(inbox)
            self.processes.append(process)

    def _thread_main(self, worker: BatchWorker, inbox: queue.Queue[Message]) -> None:
        try:
            serve(worker, inbox, self.replies)
        except BaseException:
            log.exception("batch worker failed")
        finally:
            worker.dead_letters.close()

    def __len__(self) -> int:
        return len(self.inboxes)

    def send(self, index: int, message: Message) -> None:
        if not self.stopped:
            self.inboxes[index].put(message)

    def reply(self, timeout: float, *, stopped: bool = False) -> Message | None:
        """The next reply, or None when none came within ``timeout`` seconds; raises when a worker died
        (unless they were ``stopped``)."""
        try:
            return self.replies.get(timeout=timeout) if timeout > 0 else self.replies.get_nowait()
        except queue.Empty:
            pass
        if stopped:
            return None
        for process in self.processes:
            if not process.is_alive():
                raise WorkerFailed(f"batch worker {process.name} exited with code {process.exitcode}")
        for thread in self.threads:
            if not thread.is_alive():
                raise WorkerFailed(f"batch worker thread {thread.name} ended")
        return None

    def stop(self) -> None:
        """Ask every worker to finish what it holds and exit; kill the ones that do not in time. Later
        messages are dropped (closing the Kafka consumer still announces revocations)."""
        for index in range(len(self.inboxes)):
            self.send(index, ("stop",))
        self.stopped = True
        deadline = time.monotonic() + _STOP_TIMEOUT_S
        for thread in self.threads:
            thread.join(timeout=max(0.0, deadline - time.monotonic()))
        for process in self.processes:
            process.join(timeout=max(0.0, deadline - time.monotonic()))
            if process.is_alive():
                log.warning("batch worker %s did not stop in time; killing it", process.name)
                process.kill()
                process.join(timeout=5)
        for inbox in self.inboxes:
            if hasattr(inbox, "cancel_join_thread"):  # a dead reader must not hold this process's exit
                inbox.cancel_join_thread()
                inbox.close()


class StreamConsumer:
    """One consumer process of the group: subscribe, seek to Redis offsets, ingest until stopped."""

    def __init__(self, settings: Settings, city: CityModel, store: MetricsStore, *,
                 consumer: KafkaConsumer | None = None, group_id: str | None = None) -> None:
        self.settings = settings
        self.city = city
        self.store = store
        self.topic_stream = {topic: stream for stream, topic in settings.topics().items()}
        self.consumer = consumer or make_consumer(settings, group_id=group_id, columnar=True)
        self.stats = ConsumerStats()
        self._stop = threading.Event()
        self._workers: _Workers | None = None
        self._epoch: dict[TopicPartition, int] = {}
        self._in_flight: list[int] = []
        self._owner: dict[TopicPartition, int] = {}
        self._conflicts: dict[TopicPartition, int | None] = {}
        self._completed: dict[TopicPartition, int] = {}
        self._worker_error: BaseException | None = None

    # ------------------------------------------------------------------ workers
    def _worker_of(self, tp: TopicPartition) -> int:
        """The worker of a partition: fixed once chosen, so its batches never pass each other."""
        index = self._owner.get(tp)
        if index is None:
            # Round robin within each topic: the streams differ in volume, a topic's partitions do not.
            index = sum(1 for other in self._owner if other.topic == tp.topic) % len(self._in_flight)
            self._owner[tp] = index
        return index

    def _handle_reply(self, reply: Message) -> None:
        kind = reply[0]
        if kind == "error":
            raise WorkerFailed(f"batch worker failed:\n{reply[1]}")
        tp = TopicPartition(reply[1], reply[2])
        self._in_flight[self._worker_of(tp)] -= 1
        current = self._epoch.get(tp) == reply[3]
        if kind == "done":
            _, _, _, _, next_offset, records, seconds, phases = reply
            self._completed[tp] = next_offset
            self.stats.batches += 1
            self.stats.records += records
            self.stats.batch_seconds.append(seconds)
            del self.stats.batch_seconds[:-1000]
            for phase, spent in phases.items():
                self.stats.add(phase, spent)
        elif kind == "conflict" and current:
            stored = reply[4]
            log.warning("%s[%d]: stored offset is %s, not where this consumer was; seeking there",
                        tp.topic, tp.partition, stored)
            self.stats.conflicts += 1
            self._conflicts[tp] = stored

    def _take_replies(self, timeout: float = 0.0, *, stopped: bool = False) -> None:
        """Handle the replies that are there (waiting up to ``timeout`` for the first)."""
        assert self._workers is not None
        reply = self._workers.reply(timeout, stopped=stopped)
        while reply is not None:
            self._handle_reply(reply)
            reply = self._workers.reply(0.0, stopped=stopped)

    def _wait_until(self, done: Any, timeout: float | None = None) -> bool:
        """Handle replies until ``done()``; False when stopped or out of time first."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while not done():
            if self._stop.is_set() or (deadline is not None and time.monotonic() > deadline):
                return False
            self._take_replies(0.2)
        return True

    def _idle(self) -> bool:
        return not any(self._in_flight)

    # ------------------------------------------------------------------ rebalance
    def _on_assigned(self, assigned: list[TopicPartition]) -> None:
        for tp in sorted(assigned):
            stream = self.topic_stream[tp.topic]
            log_id = self._topic_id(tp.topic)
            if log_id is not None and retry_redis(
                "adopt log", lambda s=stream, p=tp.partition, i=log_id: self.store.adopt_log(s, p, i), self._stop
            ):
                log.error("%s[%d] is a new log (topic id %s): the topic was recreated or the broker lost its "
                          "data; counting it from its start (ids already seen are still duplicates)",
                          tp.topic, tp.partition, log_id)
            offset = retry_redis("seek", lambda s=stream, p=tp.partition: self.store.read_offset(s, p), self._stop)
            retry_redis("register", lambda s=stream, p=tp.partition: self.store.register_partition(s, p),
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
        assert self._workers is not None
        for tp in revoked:
            self._epoch[tp] = self._epoch.get(tp, 0) + 1
            self._conflicts.pop(tp, None)
            self._workers.send(self._worker_of(tp), ("revoke", tp.topic, tp.partition))
        if self._workers.stopped:
            return
        # Let the workers finish what they hold, so a batch is not half-done when another consumer takes
        # over (it would be safe anyway: the offset check rejects a stale batch). Bounded by the rebalance
        # timeout: a worker waiting on Redis must not keep the whole group from rebalancing.
        self._wait_until(self._idle, timeout=self.settings.max_poll_interval_ms / 2000)

    def _seek(self, tp: TopicPartition, offset: int | None) -> None:
        assert self._workers is not None
        epoch = self._epoch.get(tp, 0) + 1
        self._epoch[tp] = epoch
        self._workers.send(self._worker_of(tp), ("reset", tp.topic, tp.partition, epoch, offset))
        if offset is None:
            self.consumer.seek_to_beginning(tp)
        else:
            self.consumer.seek(tp, offset)

    # ------------------------------------------------------------------ main loop
    def _hand_off(self, tp: TopicPartition, fetched: list[Any], now: float) -> None:
        """Send a partition's polled records to its worker, in batches of at most ``batch_max_records``."""
        assert self._workers is not None
        if fetched and not isinstance(fetched[0], RecordColumns):  # a consumer that was not made columnar
            fetched = [RecordColumns.of_records(fetched)]
        limit = self.settings.batch_max_records
        pending: list[RecordColumns] = []
        size = 0
        for part in fetched:
            for lo in range(0, len(part), limit):  # a record batch can be larger than a consumer batch
                piece = part if len(part) <= limit else part[lo:lo + limit]
                if size + len(piece) > limit:
                    self._send_batch(tp, RecordColumns.concat(pending), now)
                    pending, size = [], 0
                pending.append(piece)
                size += len(piece)
        if pending:
            self._send_batch(tp, RecordColumns.concat(pending), now)

    def _send_batch(self, tp: TopicPartition, columns: RecordColumns, now: float) -> None:
        assert self._workers is not None
        index = self._worker_of(tp)
        if not self._wait_until(lambda: self._in_flight[index] < MAX_IN_FLIGHT):
            return  # stopping: the batch is read again by whoever consumes next
        self._workers.send(index, ("batch", tp.topic, tp.partition, self._epoch.get(tp, 0), now, columns))
        self._in_flight[index] += 1

    def _handle_conflicts_and_commit(self, last_lag: list[float]) -> bool:
        """Seek where a worker found conflicts, commit completed offsets, publish lag. True when it had
        to seek."""
        conflicts, self._conflicts = self._conflicts, {}
        completed, self._completed = self._completed, {}
        assignment = self.consumer.assignment()
        for tp, stored in conflicts.items():
            if tp in assignment:
                self._seek(tp, stored)
        if completed:
            offsets = {tp: OffsetAndMetadata(off, "", -1) for tp, off in completed.items() if tp in assignment}
            if offsets:
                self.consumer.commit_async(offsets=offsets)
        now = time.monotonic()
        if now - last_lag[0] >= 2.0:
            last_lag[0] = now
            lags = {}
            for tp in assignment:
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
        # Started from the thread that runs the loop: a worker process dies with this thread's process.
        self._workers = _Workers(self.settings, self.city, self.store, self.settings.consumer_workers,
                                 self._stop)
        self._in_flight = [0] * len(self._workers)
        self.consumer.subscribe(list(self.topic_stream), listener=_Listener(self))
        last_lag = [0.0]
        last_record = time.monotonic()
        try:
            while not self._stop.is_set():
                t_poll = time.perf_counter()
                polled = self.consumer.poll(timeout_ms=200, max_records=self.settings.batch_max_records)
                t_handoff = time.perf_counter()
                self.stats.add("poll", t_handoff - t_poll)
                now = time.time()
                for tp, records in polled.items():
                    self._hand_off(tp, records, now)
                self._take_replies()
                self.stats.add("handoff", time.perf_counter() - t_handoff)
                if polled or not self.consumer.assignment():
                    last_record = time.monotonic()
                elif idle_exit_s is not None and time.monotonic() - last_record > idle_exit_s:
                    self._wait_until(self._idle)
                    if not self._handle_conflicts_and_commit(last_lag):
                        break
                    continue
                self._handle_conflicts_and_commit(last_lag)
        except WorkerFailed as exc:
            self._worker_error = exc
            log.error("%s", exc)
        finally:
            self._stop_workers()
            try:
                self._handle_conflicts_and_commit(last_lag)
            except Exception:  # the broker may be gone at shutdown; Redis already holds the truth
                log.debug("final commit failed", exc_info=True)
            self.consumer.close(autocommit=False)
        if self._worker_error is not None:
            raise self._worker_error
        return self.stats

    def _stop_workers(self) -> None:
        """Let the workers finish what they hold (recording their replies), then stop them."""
        assert self._workers is not None
        self._workers.stop()
        try:
            self._take_replies(stopped=True)
        except WorkerFailed as exc:
            if self._worker_error is None and not self._stop.is_set():
                self._worker_error = exc


class _Listener(ConsumerRebalanceListener):
    def __init__(self, owner: StreamConsumer) -> None:
        self.owner = owner

    def on_partitions_revoked(self, revoked: list[TopicPartition]) -> None:
        self.owner._on_revoked(list(revoked))

    def on_partitions_assigned(self, assigned: list[TopicPartition]) -> None:
        self.owner._on_assigned(list(assigned))
