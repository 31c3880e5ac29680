"""Release generated records in emit-time order, generating hour chunks only when they are needed.

Records of hour chunk *h* are emitted at or after *h*'s start, so once every chunk up to *H* exists, the
records due in hour *H* are all known. The scheduler keeps one bucket per emit hour (a stage record due
days later waits in its bucket), sorts a bucket by ``(emit, order)`` when its hour comes, and hands out
records up to a given simulated time. Nothing depends on the wall clock: the same seed, start and end
give the same sequence.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterator
from dataclasses import dataclass
from itertools import pairwise
from typing import Any, NamedTuple

import numpy as np

from streams.schemas import STREAMS
from streams.simulator.encode import EmitBatch, encode_hour
from streams.simulator.model import HOUR, STREAM_CODE, SimParams, generate_hour
from streams.simulator.scenarios import ScenarioPlan
from streams.simulator.world import World

__all__ = ["Record", "Scheduler"]


class Record(NamedTuple):
    """One record ready to send."""

    emit: int
    stream: str
    key: str
    value: bytes
    first: bool
    malformed: bool
    duplicate: bool
    late: bool
    truth: dict[str, Any] | None


@dataclass
class Chunk:
    """Consecutive records in emit order, as parallel columns (cheaper than one object per record).

    ``code`` is the stream's position in ``STREAMS`` (int8 array); ``first``, ``malformed``,
    ``duplicate`` and ``late`` are boolean arrays; ``truth`` maps a position in
    the chunk to the ground-truth row of a scenario event's first record.
    """

    emit: list[int]
    stream: list[str]
    key: list[str]
    value: list[bytes]
    code: np.ndarray
    first: np.ndarray
    malformed: np.ndarray
    duplicate: np.ndarray
    late: np.ndarray
    truth: dict[int, dict[str, Any]]

    def __len__(self) -> int:
        return len(self.key)

    def slice(self, start: int, stop: int) -> Chunk:
        return Chunk(
            self.emit[start:stop],
            self.stream[start:stop],
            self.key[start:stop],
            self.value[start:stop],
            self.code[start:stop],
            self.first[start:stop],
            self.malformed[start:stop],
            self.duplicate[start:stop],
            self.late[start:stop],
            {i - start: row for i, row in self.truth.items() if start <= i < stop},
        )

    def records(self) -> Iterator[Record]:
        flags = zip(
            self.first.tolist(),
            self.malformed.tolist(),
            self.duplicate.tolist(),
            self.late.tolist(),
            strict=True,
        )
        for i, (e, s, k, v, (f, m, d, late)) in enumerate(
            zip(self.emit, self.stream, self.key, self.value, flags, strict=True)
        ):
            yield Record(e, s, k, v, f, m, d, late, self.truth.get(i))


_EMPTY = Chunk([], [], [], [], np.zeros(0, dtype=np.int8), *(np.zeros(0, dtype=bool),) * 4, {})
_STREAM_NAMES = np.array(STREAMS, dtype=object)


class Scheduler:
    """Generates hour chunks from ``first_hour`` on and releases their records in emit order."""

    def __init__(
        self, world: World, params: SimParams, plans: tuple[ScenarioPlan, ...], first_hour: int
    ) -> None:
        self.world = world
        self.params = params
        self.plans = plans
        self.names = tuple(p.name for p in plans)
        self._buckets: dict[int, list[tuple[EmitBatch, np.ndarray]]] = {}
        self._generated = first_hour  # next chunk to generate
        self._hour = first_hour  # hour whose bucket is being released
        self._chunk: Chunk | None = None
        self._pos = 0
        self.chunks = 0

    def _generate_through(self, hour: int) -> None:
        while self._generated <= hour:
            for hs in generate_hour(self.world, self.params, self._generated, self.plans):
                for batch in encode_hour(hs, self.world, self.params, self.names):
                    self._file(batch)
            self._generated += 1
            self.chunks += 1

    def _file(self, batch: EmitBatch) -> None:
        hours = batch.emit // HOUR
        if hours[0] == hours[-1] and (hours == hours[0]).all():  # the common case: one emit hour
            self._buckets.setdefault(int(hours[0]), []).append((batch, np.arange(len(hours))))
            return
        order = np.argsort(hours, kind="stable")
        sorted_hours = hours[order]
        bounds = [0, *(np.flatnonzero(np.diff(sorted_hours)) + 1).tolist(), len(order)]
        for a, b in pairwise(bounds):
            self._buckets.setdefault(int(sorted_hours[a]), []).append((batch, order[a:b]))

    def _load(self) -> None:
        self._generate_through(self._hour)
        pieces = self._buckets.pop(self._hour, [])
        self._pos = 0
        if not pieces:
            self._chunk = _EMPTY
            return
        emit = np.concatenate([b.emit[i] for b, i in pieces])
        perm = np.lexsort((np.concatenate([b.order[i] for b, i in pieces]), emit))
        truth_at: dict[int, dict[str, Any]] = {}
        offset = 0
        for batch, idx in pieces:
            if batch.truth:
                for n, j in enumerate(idx.tolist()):
                    row = batch.truth.get(j)
                    if row is not None and not batch.duplicate[j]:
                        truth_at[offset + n] = row
            offset += len(idx)
        rank = np.empty(len(perm), dtype=np.int64)
        rank[perm] = np.arange(len(perm))

        def column(name: str) -> np.ndarray:
            return np.concatenate([getattr(b, name)[i] for b, i in pieces])[perm]

        code = np.concatenate([np.full(len(i), STREAM_CODE[b.stream], dtype=np.int8) for b, i in pieces])[
            perm
        ]
        self._chunk = Chunk(
            emit=emit[perm].tolist(),
            stream=_STREAM_NAMES[code].tolist(),
            key=column("keys").tolist(),
            value=column("values").tolist(),
            code=code,
            first=column("first"),
            malformed=column("malformed"),
            duplicate=column("duplicate"),
            late=column("late"),
            truth={int(rank[old]): row for old, row in truth_at.items()},
        )

    def release_chunks(self, upto: float, *, skip_before: float | None = None) -> Iterator[Chunk]:
        """Records with emit time < ``upto`` (epoch s) not yet released, in order, as chunks; records
        before ``skip_before`` are dropped instead."""
        while True:
            if self._chunk is None:
                if self._hour * HOUR >= upto:
                    return
                self._load()
            chunk = self._chunk
            assert chunk is not None
            start = self._pos
            stop = bisect_left(chunk.emit, upto, lo=start)
            self._pos = stop
            if skip_before is not None:
                start = max(start, bisect_left(chunk.emit, skip_before, lo=start, hi=stop))
            if stop > start:
                yield chunk if (start, stop) == (0, len(chunk)) else chunk.slice(start, stop)
            if stop < len(chunk):
                return
            self._chunk = None
            self._hour += 1

    def release(self, upto: float, *, skip_before: float | None = None) -> Iterator[Record]:
        """Like :meth:`release_chunks`, one :class:`Record` at a time."""
        for chunk in self.release_chunks(upto, skip_before=skip_before):
            yield from chunk.records()

    def next_emit(self, horizon_s: float = 7 * 86400) -> float | None:
        """Emit time of the next record, generating ahead up to ``horizon_s``; None if none within it."""
        start = self._hour
        while True:
            if self._chunk is None:
                if (self._hour - start) * HOUR > horizon_s:
                    return None
                self._load()
            assert self._chunk is not None
            if self._pos < len(self._chunk):
                return float(self._chunk.emit[self._pos])
            self._chunk = None
            self._hour += 1
