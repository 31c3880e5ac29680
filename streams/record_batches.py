"""Kafka records as columns: one partition's offsets, keys and values, decoded a fetch at a time.

kafka-python decodes every record in Python and wraps it in a ``ConsumerRecord`` of thirteen fields:
about 11 µs a record, a quarter of what the whole machine spends on one event. The consumer needs three
of those fields, so :mod:`streams.kafka_io` has kafka-python hand over the fetched v2 record batches
whole, and this module decodes them into a :class:`RecordColumns`: a Python step per record only to find
where it starts (each record begins with its length), and the fields inside every record decoded at once
with numpy. Keys and values stay as spans into the batch's bytes until someone asks for them, so a
partition batch crosses to a worker process as one bytes object and five arrays.

Pure: no client, no socket. The format is Kafka's message format v2 (KIP-98), which every broker since
0.11 writes; older batches are converted from kafka-python's own records (:meth:`RecordColumns.of_records`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, overload

import numpy as np
from kafka.errors import CorruptRecordError

#: Longest varint Kafka writes (a zigzag-encoded 64-bit varlong).
_VARINT_MAX_BYTES = 10


class _KeyedRecord(Protocol):
    offset: int
    key: bytes | None
    value: bytes | None


@dataclass(frozen=True)
class RecordColumns:
    """Records of one partition, in offset order: ``offsets[i]``, and the key and value of record ``i`` as
    the span ``data[start:end]`` (start -1: null)."""

    data: bytes
    offsets: np.ndarray
    key_start: np.ndarray
    key_end: np.ndarray
    value_start: np.ndarray
    value_end: np.ndarray

    def __len__(self) -> int:
        return len(self.offsets)

    @property
    def offset(self) -> int:
        """The last record's offset: kafka-python skips a fetched item whose ``offset`` lies below the
        position it fetched from, and a batch with any record at or past that position must stay."""
        return int(self.offsets[-1])

    def values(self) -> list[bytes | None]:
        data = self.data
        return [data[s:e] if s >= 0 else None
                for s, e in zip(self.value_start.tolist(), self.value_end.tolist(), strict=True)]

    def keys(self) -> _LazyKeys:
        """The keys, each cut from the batch only when read (the consumer reads only rejected records')."""
        return _LazyKeys(self)

    def since(self, offset: int) -> RecordColumns:
        """The records at ``offset`` and after."""
        first = int(np.searchsorted(self.offsets, offset))
        return self if first == 0 else self[first:]

    def __getitem__(self, rows: slice) -> RecordColumns:
        """Records ``rows``, with only their own bytes (a batch sent to a worker carries what it needs)."""
        key_start, key_end = self.key_start[rows], self.key_end[rows]
        value_start, value_end = self.value_start[rows], self.value_end[rows]
        used = np.concatenate([key_start[key_start >= 0], value_start[value_start >= 0]])
        lo = int(used.min()) if len(used) else 0
        hi = max(int(key_end.max(initial=0)), int(value_end.max(initial=0)), lo)
        return RecordColumns(self.data[lo:hi], self.offsets[rows], *_shifted(key_start, key_end, -lo),
                             *_shifted(value_start, value_end, -lo))

    @classmethod
    def concat(cls, parts: Sequence[RecordColumns]) -> RecordColumns:
        """One run of records from consecutive parts (one copy of their bytes)."""
        if len(parts) == 1:
            return parts[0]
        shifts = np.cumsum([0] + [len(p.data) for p in parts[:-1]]).tolist()
        keys = [_shifted(p.key_start, p.key_end, by) for p, by in zip(parts, shifts, strict=True)]
        values = [_shifted(p.value_start, p.value_end, by) for p, by in zip(parts, shifts, strict=True)]
        return cls(b"".join(p.data for p in parts), np.concatenate([p.offsets for p in parts]),
                   np.concatenate([start for start, _ in keys]), np.concatenate([end for _, end in keys]),
                   np.concatenate([start for start, _ in values]), np.concatenate([end for _, end in values]))

    @classmethod
    def of_values(cls, offsets: Sequence[int], keys: Sequence[bytes | None],
                  values: Sequence[bytes | None]) -> RecordColumns:
        """Columns of records given one by one (tests, and batches kafka-python decoded itself)."""
        chunks: list[bytes] = []
        starts: dict[str, list[int]] = {"key": [], "value": []}
        ends: dict[str, list[int]] = {"key": [], "value": []}
        at = 0
        for key, value in zip(keys, values, strict=True):
            for name, item in (("key", key), ("value", value)):
                if item is None:
                    starts[name].append(-1)
                    ends[name].append(-1)
                else:
                    chunks.append(item)
                    starts[name].append(at)
                    at += len(item)
                    ends[name].append(at)
        return cls(b"".join(chunks), _int_array(offsets), _int_array(starts["key"]), _int_array(ends["key"]),
                   _int_array(starts["value"]), _int_array(ends["value"]))

    @classmethod
    def of_records(cls, records: Iterable[_KeyedRecord]) -> RecordColumns:
        listed = list(records)
        return cls.of_values([r.offset for r in listed], [r.key for r in listed], [r.value for r in listed])


class _LazyKeys(Sequence[bytes | None]):
    def __init__(self, columns: RecordColumns) -> None:
        self._columns = columns

    def __len__(self) -> int:
        return len(self._columns)

    @overload
    def __getitem__(self, index: int) -> bytes | None: ...

    @overload
    def __getitem__(self, index: slice) -> Sequence[bytes | None]: ...

    def __getitem__(self, index: Any) -> Any:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        cols = self._columns
        start = int(cols.key_start[index])
        return None if start < 0 else cols.data[start:int(cols.key_end[index])]


def _int_array(values: Sequence[int]) -> np.ndarray:
    return np.asarray(values, dtype=np.int64).reshape(-1)


def _shifted(start: np.ndarray, end: np.ndarray, by: int) -> tuple[np.ndarray, np.ndarray]:
    """Spans moved ``by`` bytes; null spans (start -1) stay null."""
    present = start >= 0
    return np.where(present, start + by, -1), np.where(present, end + by, -1)


def _varints(buffer: np.ndarray, positions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The zigzag varints starting at ``positions``: their values and their lengths in bytes.

    ``buffer`` ends in ``_VARINT_MAX_BYTES`` zeros. A position past the data (a malformed record claimed
    more bytes than it has) reads those zeros; the caller's bounds check then rejects the record."""
    positions = np.minimum(positions, len(buffer) - _VARINT_MAX_BYTES)
    raw = np.zeros(len(positions), dtype=np.uint64)
    size = np.zeros(len(positions), dtype=np.int64)
    going = np.ones(len(positions), dtype=bool)
    for k in range(_VARINT_MAX_BYTES):
        byte = buffer[positions + k].astype(np.uint64)
        raw |= np.where(going, (byte & np.uint64(0x7F)) << np.uint64(7 * k), np.uint64(0))
        size += going
        going &= byte >= 0x80
        if not going.any():
            break
    else:
        raise CorruptRecordError("a varint in a record batch runs past 10 bytes")
    value = (raw >> np.uint64(1)).astype(np.int64) ^ -(raw & np.uint64(1)).astype(np.int64)
    return value, size


def _record_bodies(records: bytes, count: int, shift: int, body_start: list[int], body_end: list[int]) -> None:
    """Append where each of a batch's records starts and ends (after its length), plus ``shift``: the one
    sequential step, since each record gives its own length."""
    size = len(records)
    at = 0
    for found in range(count):
        if at >= size:
            raise CorruptRecordError(f"record batch ends after {found} of {count} records")
        raw = records[at]
        at += 1
        if raw >= 0x80:  # lengths of 64 bytes and more take a second byte (or more)
            raw &= 0x7F
            bits = 7
            while True:
                if at >= size or bits > 63:
                    raise CorruptRecordError("a record length in a record batch is cut off")
                byte = records[at]
                at += 1
                raw |= (byte & 0x7F) << bits
                if byte < 0x80:
                    break
                bits += 7
        length = (raw >> 1) ^ -(raw & 1)
        if length < 0:
            raise CorruptRecordError(f"a record in a record batch has the negative length {length}")
        body_start.append(at + shift)
        at += length
        body_end.append(at + shift)
    if at > size:
        raise CorruptRecordError(f"the last record of a record batch runs {at - size} bytes past its end")


def decode_batches(batches: Sequence[tuple[bytes, int, int]]) -> RecordColumns:
    """Decode consecutive v2 batches, each given as (its records' bytes after the 61-byte header,
    uncompressed; its base offset; its record count), in one vectorised pass: numpy's fixed cost per call
    is paid once per fetch, not once per batch (producers often send batches of a few dozen records)."""
    body_start: list[int] = []
    body_end: list[int] = []
    shift = 0
    for records, _base_offset, count in batches:
        _record_bodies(records, count, shift, body_start, body_end)
        shift += len(records)
    records = batches[0][0] if len(batches) == 1 else b"".join(b[0] for b in batches)
    size = len(records)
    base_offsets = np.repeat(np.asarray([b[1] for b in batches], dtype=np.int64),
                             np.asarray([b[2] for b in batches], dtype=np.int64))
    starts = np.asarray(body_start, dtype=np.int64)
    ends = np.asarray(body_end, dtype=np.int64)
    # Padded, so a varint read near the end cannot index past the array; the end checks below catch it.
    buffer = np.zeros(size + _VARINT_MAX_BYTES, dtype=np.uint8)
    buffer[:size] = np.frombuffer(records, dtype=np.uint8)
    _timestamp_delta, width = _varints(buffer, starts + 1)  # after the attributes byte (unused)
    offset_delta, width2 = _varints(buffer, starts + 1 + width)
    offsets = base_offsets + offset_delta
    at_field = starts + 1 + width + width2
    key_len, width = _varints(buffer, at_field)
    key_start = at_field + width
    key_end = key_start + np.maximum(key_len, 0)
    value_len, width = _varints(buffer, key_end)
    value_start = key_end + width
    value_end = value_start + np.maximum(value_len, 0)
    header_count, width = _varints(buffer, value_end)
    bad = (key_len < -1) | (value_len < -1) | (header_count < 0) | (value_end + width > ends)
    # A record without headers ends right after its header count; one with headers, no earlier.
    bad |= (header_count == 0) & (value_end + width != ends)
    if bad.any():
        i = int(np.argmax(bad))
        raise CorruptRecordError(f"record at offset {int(offsets[i])} of a record batch is malformed "
                                 f"(key length {int(key_len[i])}, value length {int(value_len[i])}, "
                                 f"{int(header_count[i])} headers, {int(ends[i] - starts[i])} bytes)")
    return RecordColumns(
        records, offsets,
        np.where(key_len >= 0, key_start, -1), np.where(key_len >= 0, key_end, -1),
        np.where(value_len >= 0, value_start, -1), np.where(value_len >= 0, value_end, -1),
    )
