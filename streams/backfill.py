"""Direct backfill: records written straight into the store through the consumers' own pipeline.

History for the demo (30 days, several million records) would take many minutes through the broker;
written here it is counted by exactly the same validation, placement and ledger code, in large batches.
Each record is put in the partition Kafka's default partitioner would choose for its key, so a ticket
created in the backfill and updated later through Kafka keeps one lifecycle state. Rejected records
still go to the dead-letter topic when a producer is given.

Two shortcuts, both safe because the backfill writes into an empty store with no consumer running yet:
- lifecycle states come from the sink's own memory instead of a Redis read per batch;
- only events active in the last ``state_days`` keep a state in Redis: older ones will get no further
  stage (the simulator's lifecycles end within days), so their state would only cost memory.
"""

from __future__ import annotations

import datetime as dt
import time
from collections import defaultdict
from collections.abc import Callable
from functools import lru_cache
from typing import Protocol

import msgspec
from kafka.partitioner.default import murmur2

from streams.kafka_io import DeadLetters
from streams.pipeline import Ingestor, RawRecord
from streams.schemas import FIRST_STAGE


class RecordSinkLike(Protocol):
    def send(self, stream: str, key: str, value: bytes) -> None: ...
    def flush(self) -> None: ...
    def close(self) -> None: ...


@lru_cache(maxsize=1 << 20)
def kafka_partition(key: bytes, partitions: int) -> int:
    """The partition kafka-python's (and Java's) default partitioner picks for a keyed record."""
    return (murmur2(key) & 0x7FFFFFFF) % partitions


class StoreSink:
    """A record sink (``streams.simulator.RecordSink``) that ingests into the store in batches."""

    def __init__(self, ingestor: Ingestor, *, partitions: int, batch_size: int = 25000,
                 state_days: float = 3.0, dead_letters: DeadLetters | None = None,
                 topics: dict[str, str] | None = None) -> None:
        self.ingestor = ingestor
        self.partitions = partitions
        self.batch_size = batch_size
        self.state_days = state_days
        self.dead_letters = dead_letters
        self.topics = topics or {}
        self._buffers: dict[tuple[str, int], list[RawRecord]] = defaultdict(list)
        self._states: dict[tuple[str, int], dict[str, dict[str, str]]] = defaultdict(dict)
        self._registered: set[tuple[str, int]] = set()
        self.accepted = 0
        self.rejected = 0
        self.duplicates = 0

    def send(self, stream: str, key: str, value: bytes) -> None:
        key_bytes = key.encode()
        part = kafka_partition(key_bytes, self.partitions)
        buf = self._buffers[(stream, part)]
        # Offsets here only order records within the batch; the stored Kafka offset is left untouched.
        buf.append(RawRecord(len(buf), key_bytes, value))
        if len(buf) >= self.batch_size:
            self._flush_one(stream, part)

    def _flush_one(self, stream: str, part: int) -> None:
        records = self._buffers.pop((stream, part), [])
        if not records:
            return
        ingestor = self.ingestor
        ingestor.store.client.set(ingestor.store.keys.backfill_running(), "1", ex=120)
        now = time.time()
        prepared = ingestor.prepare(stream, records, now=now)
        if self.dead_letters is not None:
            for rej in prepared.rejected:
                self.dead_letters.send(topic=self.topics.get(stream, stream), partition=part, offset=-1,
                                       key=rej.record.key, value=rej.record.value, reason=rej.reason)
        states = self._states[(stream, part)]
        plan = ingestor.plan_with(prepared, states, now=now)
        states.update(plan.states)
        keep_after = now - self.state_days * 86400
        plan.states = {event_id: states[event_id] for event_id in plan.states
                       if _newest(states[event_id]) >= keep_after}
        self._forget(states, now - 2 * self.state_days * 86400)
        if (stream, part) not in self._registered:
            ingestor.store.register_partition(stream, part)
            self._registered.add((stream, part))
        ingestor.apply(prepared, part, expected_offset="*", plan=plan)
        self.accepted += plan.accepted
        self.duplicates += plan.duplicates
        self.rejected += len(prepared.rejected)

    @staticmethod
    def _forget(states: dict[str, dict[str, str]], before: float) -> None:
        """Drop remembered states of events quiet since ``before`` (their lifecycles are over)."""
        if len(states) < 200_000:
            return
        for event_id in [e for e, s in states.items() if _newest(s) < before]:
            del states[event_id]

    def flush(self) -> None:
        for stream, part in list(self._buffers):
            self._flush_one(stream, part)
        self.ingestor.store.client.delete(self.ingestor.store.keys.backfill_running())
        if self.dead_letters is not None:
            self.dead_letters.flush()

    def close(self) -> None:
        self.flush()


def _newest(state: dict[str, str]) -> float:
    """The latest stage time in a lifecycle state."""
    return max((float(v) for k, v in state.items() if k.startswith("s:")), default=0.0)


class DiscardSink:
    """Takes records and drops them: the history part of a run whose history another writer wrote
    (``streams.history``), so only its live part goes anywhere."""

    def __init__(self) -> None:
        self.dropped = 0

    def send(self, stream: str, key: str, value: bytes) -> None:
        self.dropped += 1

    def send_malformed(self, stream: str, key: str, value: bytes) -> None:
        self.dropped += 1

    def flush(self) -> None:
        pass

    def close(self) -> None:
        pass


class PhaseSink:
    """History into the store, then the live feed into Kafka: one simulator run, so a ticket created in
    the history carries on with its later stages in the live feed."""

    def __init__(self, history: RecordSinkLike, live: RecordSinkLike,
                 on_live: Callable[[], None] | None = None) -> None:
        self.history = history
        self.live = live
        self._current: RecordSinkLike = history
        self._on_live = on_live

    def send(self, stream: str, key: str, value: bytes) -> None:
        self._current.send(stream, key, value)

    def start_live(self) -> None:
        self.history.close()
        self._current = self.live
        if self._on_live is not None:
            self._on_live()

    def flush(self) -> None:
        self._current.flush()

    def close(self) -> None:
        self.history.close()
        self.live.close()


class OlderHistorySink:
    """The older part of a history written in two runs of the same world: passes on only events created
    before ``boundary`` (and their later stages), since the other run wrote the rest. Records broken on
    purpose are left out here: the other run's window has its own."""

    def __init__(self, inner: StoreSink, *, boundary: float) -> None:
        self.inner = inner
        self.boundary = boundary
        self._later: set[str] = set()
        self._decoder = msgspec.json.Decoder(_Head)

    def send(self, stream: str, key: str, value: bytes) -> None:
        if key in self._later:
            return
        try:
            head = self._decoder.decode(value)
            ts = dt.datetime.fromisoformat(head.ts).timestamp()
        except (msgspec.DecodeError, ValueError, TypeError):
            return
        if (head.stage is None or head.stage == FIRST_STAGE[stream]) and ts >= self.boundary:
            self._later.add(key)
            return
        self.inner.send(stream, key, value)

    def send_malformed(self, stream: str, key: str, value: bytes) -> None:
        """Broken on purpose: not written (see the class docstring)."""

    def flush(self) -> None:
        self.inner.flush()

    def close(self) -> None:
        self.inner.close()


class _Head(msgspec.Struct):
    ts: str
    stage: str | None = None
