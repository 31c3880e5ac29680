"""Where simulated (or replayed) records go: the RecordSink protocol and the JSON-lines file sink.

Sinks receive finished records: the stream name, the key (the event id) and the value bytes. The Kafka
sink (:class:`streams.kafka_io.KafkaSink`) and the direct-to-store sink (:class:`streams.backfill.StoreSink`)
implement the same protocol. A sink that also has ``send_malformed`` is told which records were broken on
purpose; :func:`send` calls it when present.
"""

from __future__ import annotations

from pathlib import Path
from typing import IO, Any, Protocol, runtime_checkable

import msgspec

__all__ = ["FileSink", "MemorySink", "RecordSink", "send"]


@runtime_checkable
class RecordSink(Protocol):
    """Anything records can be sent to."""

    def send(self, stream: str, key: str, value: bytes) -> None:
        """Queue one record of ``stream`` (a stream name, not a topic) keyed by ``key``."""

    def flush(self) -> None:
        """Deliver everything queued so far."""

    def close(self) -> None:
        """Flush and release resources."""


def send(sink: RecordSink, stream: str, key: str, value: bytes, malformed: bool) -> None:
    """Send a record, telling sinks that care (``send_malformed``) when it was broken on purpose."""
    if malformed:
        special = getattr(sink, "send_malformed", None)
        if special is not None:
            special(stream, key, value)
            return
    sink.send(stream, key, value)


_DECODER = msgspec.json.Decoder()
_ENCODER = msgspec.json.Encoder()


class FileSink:
    """Writes ``{"topic": …, "key": …, "value": …}`` JSON lines (contracts §3, ``simulate --out FILE``).

    ``value`` is the record itself when it is a JSON object; a record broken on purpose (sent with
    :meth:`send_malformed`) or any value that is not a JSON object is written as a string holding its
    raw text (bytes that are not UTF-8 are replaced by U+FFFD), so every line stays valid JSON.
    """

    def __init__(
        self, path: str | Path | IO[bytes], topics: dict[str, str], *, check_values: bool = False
    ) -> None:
        """Open ``path`` for writing (truncating it); ``topics`` maps stream names to topic names.

        Args:
            check_values: decode every value passed to :meth:`send` to make sure it is a JSON object
                (costs about a microsecond a record); off, values of ``send`` are trusted to be objects.
        """
        if isinstance(path, (str, Path)):
            self._file: IO[bytes] = open(path, "wb")
            self._owns = True
        else:
            self._file = path
            self._owns = False
        self._prefix = {s: b'{"topic":' + _ENCODER.encode(t) + b',"key":' for s, t in topics.items()}
        self._check = check_values
        self._buffer: list[bytes] = []
        self.records = 0

    def _write(self, stream: str, key: str, value_json: bytes) -> None:
        try:
            prefix = self._prefix[stream]
        except KeyError:
            raise ValueError(
                f"unknown stream {stream!r}; expected one of {', '.join(self._prefix)}"
            ) from None
        self._buffer.append(prefix + _ENCODER.encode(key) + b',"value":' + value_json + b"}\n")
        self.records += 1
        if len(self._buffer) >= 8192:
            self._drain()

    def send(self, stream: str, key: str, value: bytes) -> None:
        if self._check or not value.startswith(b"{"):
            try:
                is_object = isinstance(_DECODER.decode(value), dict)
            except (msgspec.DecodeError, UnicodeDecodeError):
                is_object = False
            if not is_object:
                self.send_malformed(stream, key, value)
                return
        self._write(stream, key, value)

    def send_malformed(self, stream: str, key: str, value: bytes) -> None:
        """Write a record broken on purpose: its value as a JSON string of its raw text."""
        self._write(stream, key, _ENCODER.encode(value.decode("utf-8", errors="replace")))

    def send_chunk(self, chunk: Any) -> None:
        """Write a simulator chunk (columns ``stream``, ``key``, ``value``, ``malformed``) in one go.

        Same lines as :meth:`send` / :meth:`send_malformed` record by record, without a call per record.
        """
        enc = _ENCODER.encode
        prefix = self._prefix
        lines = [
            prefix[s] + enc(k) + b',"value":' + v + b"}\n"
            for s, k, v in zip(chunk.stream, chunk.key, chunk.value, strict=True)
        ]
        for j in chunk.malformed.nonzero()[0].tolist():
            text = enc(chunk.value[j].decode("utf-8", errors="replace"))
            lines[j] = prefix[chunk.stream[j]] + enc(chunk.key[j]) + b',"value":' + text + b"}\n"
        self._buffer.extend(lines)
        self.records += len(lines)
        if len(self._buffer) >= 8192:
            self._drain()

    def _drain(self) -> None:
        if self._buffer:
            self._file.write(b"".join(self._buffer))
            self._buffer.clear()

    def flush(self) -> None:
        self._drain()
        self._file.flush()

    def close(self) -> None:
        self.flush()
        if self._owns:
            self._file.close()


class MemorySink:
    """Keeps every record in a list of ``(stream, key, value, malformed)``; for tests and benchmarks."""

    def __init__(self) -> None:
        self.records: list[tuple[str, str, bytes, bool]] = []
        self.flushes = 0
        self.closed = False

    def send(self, stream: str, key: str, value: bytes) -> None:
        self.records.append((stream, key, value, False))

    def send_malformed(self, stream: str, key: str, value: bytes) -> None:
        self.records.append((stream, key, value, True))

    def flush(self) -> None:
        self.flushes += 1

    def close(self) -> None:
        self.closed = True
