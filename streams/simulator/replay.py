"""Replay recorded events (JSON lines, CSV or Parquet) into a sink, at N× their original pace.

Two kinds of input:

* The simulator's own ``--out`` files: lines ``{"topic", "key", "value"}``; a string ``value`` is a
  record broken on purpose and is sent as its raw text.
* Any table of events, one row per record, mapped to the v1 fields (contracts §1) by a mapping: a
  TOML or JSON file (``--replay-map``) and/or ``--map FIELD=COLUMN`` options::

      stream = "hotline"              # or: stream_column = "source" (values: stream or topic names)
      timezone = "+08:00"             # offset of timestamps written without one
      ts_unit = "s"                   # numeric timestamps: "s" or "ms"
      [columns]                       # v1 field = column of the file (unmapped fields: same name)
      id = "ticket_no"
      ts = "created_at"
      category = "type"
      [values.category]               # optional translation of a field's values
      "噪音" = "noise"
      [constants]                     # fields with one value for every row
      crs = "wgs84"

A row that cannot become a record (not JSON, no id, no time, a time that cannot be read, a number that
is not one, no position and no district, an unknown stream) is skipped and reported with its line number
(CSV and JSON lines: the file line where the row starts; Parquet: the row number) on stderr and in the
summary. Whether a record's values are acceptable is the consumer's call, as for live producers.

Pacing: records go out in file order; the replay clock follows the largest event time seen so far, at
``speed`` event seconds per real second (0 or inf: as fast as possible). Late records do not hold it back.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import json
import math
import sys
import threading
import time
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Final

import msgspec

from kapok.errors import ConfigError
from streams.schemas import FIRST_STAGE, STREAMS
from streams.simulator.runner import BadRow, RunSummary
from streams.simulator.sinks import RecordSink, send

__all__ = ["ReplayMapping", "load_mapping", "mapping_from_args", "read_rows", "replay", "replay_from_args"]

V1_FIELDS: Final[tuple[str, ...]] = (
    "id",
    "stage",
    "ts",
    "lon",
    "lat",
    "crs",
    "district",
    "category",
    "severity",
    "camera_id",
    "confidence",
    "verified",
    "satisfaction",
    "sla_hours",
    "caller_phone",
    "text",
    "grade",
    "due",
)
_FLOATS: Final = frozenset({"lon", "lat", "confidence", "sla_hours"})
_INTS: Final = frozenset({"severity", "satisfaction"})
_TIMES: Final = frozenset({"ts", "due"})
_MAX_REPORTED: Final = 1000
_MAX_PRINTED: Final = 100


@dataclass(frozen=True)
class ReplayMapping:
    """How a row of a replayed table becomes a v1 record (see the module docstring)."""

    stream: str | None = None
    stream_column: str | None = None
    columns: dict[str, str] = field(default_factory=dict)
    values: dict[str, dict[str, Any]] = field(default_factory=dict)
    constants: dict[str, Any] = field(default_factory=dict)
    timezone: str = "+08:00"
    ts_unit: str = "s"

    def __post_init__(self) -> None:
        if self.stream is not None and self.stream not in STREAMS:
            raise ConfigError(f"replay mapping: stream {self.stream!r} is not one of {', '.join(STREAMS)}")
        for name in (*self.columns, *self.values, *self.constants):
            if name not in V1_FIELDS:
                raise ConfigError(
                    f"replay mapping: {name!r} is not a v1 field; expected one of {', '.join(V1_FIELDS)}"
                )
        if self.ts_unit not in ("s", "ms"):
            raise ConfigError(f"replay mapping: ts_unit {self.ts_unit!r} must be 's' or 'ms'")
        try:
            dt.datetime.fromisoformat("2026-01-01T00:00:00" + self.timezone)
        except ValueError:
            raise ConfigError(
                f"replay mapping: timezone {self.timezone!r} is not an offset like +08:00"
            ) from None

    @property
    def tz(self) -> dt.tzinfo:
        parsed = dt.datetime.fromisoformat("2026-01-01T00:00:00" + self.timezone)
        assert parsed.tzinfo is not None
        return parsed.tzinfo


def load_mapping(path: str | Path) -> ReplayMapping:
    """Read a mapping file (TOML, or JSON when it ends in .json)."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
        data = json.loads(text) if p.suffix.lower() == ".json" else tomllib.loads(text)
    except OSError as exc:
        raise ConfigError(f"cannot read replay mapping {p}: {exc.strerror}") from exc
    except (tomllib.TOMLDecodeError, json.JSONDecodeError) as exc:
        raise ConfigError(f"replay mapping {p}: {exc}") from exc
    known = {"stream", "stream_column", "columns", "values", "constants", "timezone", "ts_unit"}
    extra = sorted(set(data) - known)
    if extra:
        raise ConfigError(
            f"replay mapping {p}: unknown key {extra[0]!r}; expected {', '.join(sorted(known))}"
        )
    try:
        return ReplayMapping(**data)
    except TypeError as exc:
        raise ConfigError(f"replay mapping {p}: {exc}") from exc


def mapping_from_args(args: argparse.Namespace) -> ReplayMapping:
    """The mapping of ``--replay-map``, overridden by ``--map FIELD=COLUMN`` and ``--replay-stream``."""
    base = load_mapping(args.replay_map) if getattr(args, "replay_map", None) else ReplayMapping()
    columns = dict(base.columns)
    for item in getattr(args, "map", None) or []:
        name, sep, column = item.partition("=")
        if not sep or not name.strip() or not column.strip():
            raise ConfigError(f"--map {item!r}: expected FIELD=COLUMN, e.g. --map ts=created_at")
        columns[name.strip()] = column.strip()
    stream = getattr(args, "replay_stream", None) or base.stream
    return ReplayMapping(
        stream=stream,
        stream_column=base.stream_column,
        columns=columns,
        values=base.values,
        constants=base.constants,
        timezone=base.timezone,
        ts_unit=base.ts_unit,
    )


class _Bad(Exception):
    pass


def _format_of(path: Path, fmt: str) -> str:
    if fmt != "auto":
        return fmt
    suffixes = [s.lower() for s in path.suffixes]
    if suffixes and suffixes[-1] in (".parquet", ".pq"):
        return "parquet"
    if suffixes and suffixes[-1] in (".csv", ".tsv"):
        return "csv"
    if suffixes and suffixes[-1] in (".jsonl", ".ndjson", ".json"):
        return "jsonl"
    raise ConfigError(
        f"cannot tell the format of {path} from its extension; give --replay-format jsonl, csv or parquet"
    )


def read_rows(path: str | Path, fmt: str = "auto") -> Iterator[tuple[int, dict[str, Any] | BadRow]]:
    """Rows of a file with their line (CSV, JSON lines) or row (Parquet) number, 1-based; unreadable
    rows come as :class:`BadRow`."""
    p = Path(path)
    kind = _format_of(p, fmt)
    if not p.exists():
        raise ConfigError(f"replay file {p} does not exist")
    if kind == "jsonl":
        yield from _jsonl_rows(p)
    elif kind == "csv":
        yield from _csv_rows(p)
    else:
        yield from _parquet_rows(p)


def _jsonl_rows(p: Path) -> Iterator[tuple[int, dict[str, Any] | BadRow]]:
    decoder = msgspec.json.Decoder()
    with open(p, "rb") as f:
        for n, line in enumerate(f, start=1):
            if not line.strip():
                continue
            try:
                row = decoder.decode(line)
            except msgspec.DecodeError as exc:
                yield n, BadRow(n, f"not JSON: {exc}")
                continue
            yield (
                n,
                row if isinstance(row, dict) else BadRow(n, f"a JSON {type(row).__name__}, not an object"),
            )


def _csv_rows(p: Path) -> Iterator[tuple[int, dict[str, Any] | BadRow]]:
    with open(p, encoding="utf-8-sig", newline="") as f:
        dialect = "excel-tab" if p.suffix.lower() == ".tsv" else "excel"
        reader = csv.reader(f, dialect=dialect)
        try:
            header = next(reader)
        except StopIteration:
            return
        except (csv.Error, UnicodeDecodeError) as exc:
            raise ConfigError(f"{p}: cannot read the CSV header: {exc}") from exc
        width = len(header)
        line = reader.line_num
        while True:
            start = line + 1
            try:
                values = next(reader)
            except StopIteration:
                return
            except (csv.Error, UnicodeDecodeError) as exc:
                line = reader.line_num
                yield start, BadRow(start, f"not CSV: {exc}")
                continue
            line = reader.line_num
            if not values or values == [""] * len(values):
                continue
            if len(values) != width:
                yield start, BadRow(start, f"{len(values)} columns, expected {width} as in the header")
                continue
            yield start, dict(zip(header, values, strict=True))


def _parquet_rows(p: Path) -> Iterator[tuple[int, dict[str, Any] | BadRow]]:
    import pyarrow.parquet as pq

    try:
        table = pq.ParquetFile(p)
    except Exception as exc:  # pyarrow raises several types for a file that is not Parquet
        raise ConfigError(f"{p}: not a Parquet file: {exc}") from exc
    n = 0
    for batch in table.iter_batches(batch_size=8192):
        for row in batch.to_pylist():
            n += 1
            yield n, row


def _parse_time(value: Any, mapping: ReplayMapping, name: str) -> tuple[str, float]:
    """(ISO 8601 with offset, epoch seconds) of a timestamp cell."""
    if isinstance(value, dt.datetime):
        moment = value if value.tzinfo is not None else value.replace(tzinfo=mapping.tz)
        return moment.isoformat(), moment.timestamp()
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        seconds = float(value) / (1000.0 if mapping.ts_unit == "ms" else 1.0)
        if not math.isfinite(seconds):
            raise _Bad(f"{name} {value!r} is not a time")
        moment = dt.datetime.fromtimestamp(seconds, mapping.tz)
        return moment.isoformat(), seconds
    text = str(value).strip()
    try:
        number = float(text)
    except ValueError:
        pass
    else:
        return _parse_time(number, mapping, name)
    try:
        moment = dt.datetime.fromisoformat(text.replace(" ", "T", 1) if "T" not in text else text)
    except ValueError:
        raise _Bad(f"{name} {text[:40]!r} is not an ISO 8601 time or epoch number") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=mapping.tz)
        return moment.isoformat(), moment.timestamp()
    return text, moment.timestamp()


def _convert(name: str, value: Any, mapping: ReplayMapping) -> Any:
    if name in _FLOATS:
        try:
            number = float(value)
        except (TypeError, ValueError):
            raise _Bad(f"{name} {str(value)[:40]!r} is not a number") from None
        return number
    if name in _INTS:
        try:
            number = float(value)
        except (TypeError, ValueError):
            raise _Bad(f"{name} {str(value)[:40]!r} is not a number") from None
        return int(number) if number.is_integer() else number
    if name == "verified":
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text in ("true", "1", "yes", "y", "t"):
            return True
        if text in ("false", "0", "no", "n", "f"):
            return False
        raise _Bad(f"verified {str(value)[:40]!r} is not a boolean")
    return value if isinstance(value, str) else str(value)


def _stream_of(value: Any, topics: dict[str, str]) -> str:
    name = str(value)
    if name in STREAMS:
        return name
    for stream, topic in topics.items():
        if topic == name:
            return stream
    raise _Bad(f"unknown stream or topic {name[:40]!r}; expected one of {', '.join(STREAMS)}")


def _from_envelope(row: dict[str, Any], topics: dict[str, str]) -> tuple[str, str, bytes, bool, float | None]:
    stream = _stream_of(row["topic"], topics)
    value = row["value"]
    if isinstance(value, str):
        key = row.get("key")
        return stream, str(key) if key is not None else "", value.encode("utf-8"), True, None
    if not isinstance(value, dict):
        raise _Bad(f"value is a JSON {type(value).__name__}; expected an object or a string")
    key = row.get("key", value.get("id"))
    if key is None:
        raise _Bad("no key and no id in the value")
    ts: float | None = None
    if isinstance(value.get("ts"), str):
        try:
            ts = dt.datetime.fromisoformat(value["ts"]).timestamp()
        except ValueError:
            ts = None
    return stream, str(key), msgspec.json.encode(value), False, ts


def _from_row(
    row: dict[str, Any], mapping: ReplayMapping, topics: dict[str, str]
) -> tuple[str, str, bytes, float]:
    record: dict[str, Any] = {}
    for name in V1_FIELDS:
        column = mapping.columns.get(name, name)
        value = row.get(column)
        if (
            value is None
            or (isinstance(value, str) and not value.strip())
            or (isinstance(value, float) and math.isnan(value))
        ):
            value = mapping.constants.get(name)
            if value is None:
                continue
        translate = mapping.values.get(name)
        if translate is not None and str(value) in translate:
            value = translate[str(value)]
        record[name] = value
    if mapping.stream is not None:
        stream = mapping.stream
    else:
        column = mapping.stream_column or ("stream" if "stream" in row else "topic")
        if row.get(column) in (None, ""):
            raise _Bad(f"no stream: give --replay-stream, or a stream_column (no column {column!r} here)")
        stream = _stream_of(row[column], topics)
    for required in ("id", "ts", "category"):
        if required not in record:
            raise _Bad(f"missing {required} (column {mapping.columns.get(required, required)!r})")
    if ("lon" not in record or "lat" not in record) and "district" not in record:
        raise _Bad("no position (lon and lat) and no district")
    epoch = 0.0
    for name in list(record):
        if name in _TIMES:
            record[name], seconds = _parse_time(record[name], mapping, name)
            if name == "ts":
                epoch = seconds
        else:
            record[name] = _convert(name, record[name], mapping)
    return stream, str(record["id"]), msgspec.json.encode(record), epoch


def replay(
    path: str | Path,
    sink: RecordSink,
    topics: dict[str, str],
    *,
    mapping: ReplayMapping | None = None,
    fmt: str = "auto",
    speed: float = math.inf,
    stop: threading.Event | None = None,
    clock: Any = time.monotonic,
    stderr: IO[str] | None = None,
) -> RunSummary:
    """Send the records of a file to ``sink``; see the module docstring. The sink is flushed, not closed."""
    mapping = mapping or ReplayMapping()
    stop = stop or threading.Event()
    err = stderr if stderr is not None else sys.stderr
    summary = RunSummary(mode="replay")
    began = clock()
    first_ts: float | None = None
    clock_ts: float | None = None
    last_flush = began
    paced = 0 < speed < math.inf
    for line, row in read_rows(path, fmt):
        if stop.is_set():
            summary.stopped = True
            break
        try:
            if isinstance(row, BadRow):
                raise _Bad(row.reason)
            if "topic" in row and "value" in row:
                stream, key, value, malformed, ts = _from_envelope(row, topics)
            else:
                stream, key, value, ts = _from_row(row, mapping, topics)
                malformed = False
        except _Bad as exc:
            summary.bad_row_count += 1
            if len(summary.bad_rows) < _MAX_REPORTED:
                summary.bad_rows.append(BadRow(line, str(exc)))
            if summary.bad_row_count <= _MAX_PRINTED:
                print(f"{path}:{line}: skipped: {exc}", file=err)
            continue
        if paced and ts is not None:
            if first_ts is None:
                first_ts = clock_ts = ts
            clock_ts = max(clock_ts or ts, ts)
            due = began + (clock_ts - first_ts) / speed
            wait = due - clock()
            if wait > 0:
                sink.flush()
                if stop.wait(wait):
                    summary.stopped = True
                    break
        send(sink, stream, key, value, malformed)
        summary.records[stream] += 1
        summary.malformed += malformed
        if not malformed:
            stage = msgspec.json.decode(value).get("stage") if b'"stage"' in value else None
            if stage in (None, FIRST_STAGE[stream]):
                summary.events[stream] += 1
        now = clock()
        if now - last_flush >= 0.5:
            sink.flush()
            last_flush = now
    sink.flush()
    if summary.bad_row_count > _MAX_PRINTED:
        print(f"{path}: {summary.bad_row_count} rows skipped in all", file=err)
    summary.elapsed_s = round(clock() - began, 3)
    return summary


def replay_from_args(
    args: argparse.Namespace,
    settings: Any,
    sink: RecordSink,
    *,
    stop: threading.Event | None = None,
    clock: Any = time.monotonic,
) -> RunSummary:
    """``simulate --replay FILE`` with its options."""
    speed = float(getattr(args, "speed", 1.0))
    return replay(
        args.replay,
        sink,
        settings.topics(),
        mapping=mapping_from_args(args),
        fmt=getattr(args, "replay_format", "auto"),
        speed=math.inf if speed == 0 else speed,
        stop=stop,
        clock=clock,
    )
