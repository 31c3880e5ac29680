"""The Redis store: applies planned batches atomically and reads counters back as frames.

It is handed its client (``redis.Redis`` or ``redis.RedisCluster``); every key comes from
:mod:`metrics.keys`.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from importlib import resources
from typing import Any

import msgspec
import numpy as np
import pandas as pd
import redis

from metrics.connect import compact_hash_limits
from metrics.keys import EXPIRY_SLACK_S, RECENT_MAX, TIERS, Granularity, Keys
from metrics.ledger import BatchPlan, CounterPart
from metrics.windows import STREAMS, Level, WindowSums

_msgpack = msgspec.msgpack.Encoder()
_state_encoder = msgspec.json.Encoder()
_state_decoder = msgspec.json.Decoder(dict[str, str])
#: Keys per MGET when reading event states (one reply of a few hundred kB at most).
_MGET_CHUNK = 1000
_APPLY_LUA = resources.files("metrics").joinpath("apply_batch.lua").read_text(encoding="utf-8")


@dataclass(frozen=True)
class ApplyResult:
    """Outcome of :meth:`MetricsStore.apply_batch`: ``applied`` False means the stored offset moved."""

    applied: bool
    stored_offset: int | None


def _as_str(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _counter_hashes(parts: Sequence[CounterPart]) -> list[tuple[str, str, int, list[str], list[int]]]:
    """The increments of counter parts per hash: ``(tier, scope, bucket, fields, increments)``, hashes in
    the order they first appear (part by part, buckets ascending), fields of a hash in part order.

    One stable sort of every increment by hash, instead of a sort and a split per part: a batch touches a
    few hundred hashes (the 5-minute tier alone has twelve an hour), so Python per hash adds up."""
    parts = [p for p in parts if len(p[2])]
    if not parts:
        return []
    tier_scopes: dict[tuple[str, str], int] = {}
    codes = [tier_scopes.setdefault((tier_name, scope), len(tier_scopes)) for tier_name, scope, *_ in parts]
    sizes = [len(p[2]) for p in parts]
    code = np.repeat(np.asarray(codes, dtype=np.int64), sizes)
    part_no = np.repeat(np.arange(len(parts), dtype=np.int64), sizes)
    bucket = np.concatenate([p[2] for p in parts]).astype(np.int64, copy=False)
    order = np.lexsort((bucket, code))  # stable: a hash's increments stay in part order
    code, bucket, part_no = code[order], bucket[order], part_no[order]
    starts = np.flatnonzero(np.r_[True, (code[1:] != code[:-1]) | (bucket[1:] != bucket[:-1])])
    ends = np.r_[starts[1:], len(order)]
    # A hash comes where its first part first reaches it, as when grouped part by part.
    first = np.lexsort((bucket[starts], part_no[starts]))
    fields = np.concatenate([p[3] for p in parts])[order].tolist()
    increments = np.concatenate([p[4] for p in parts])[order].tolist()
    names = list(tier_scopes)
    out = []
    for h in first.tolist():
        lo, hi = int(starts[h]), int(ends[h])
        tier_name, scope = names[int(code[lo])]
        out.append((tier_name, scope, int(bucket[lo]), fields[lo:hi], increments[lo:hi]))
    return out


def _recent_flat(recent: Sequence[tuple[float, bytes]]) -> list[float | str]:
    """``[score, member, ...]`` with members as str. Strings, not bytes: Redis 6's cmsgpack does not read
    MessagePack's bin type. Decoded in one call when no member holds a newline (JSON summaries never do)."""
    if not recent:
        return []
    members = [member for _, member in recent]
    joined = b"\n".join(members)
    if joined.count(b"\n") == len(members) - 1:
        texts = joined.decode().split("\n")
    else:
        texts = [member.decode() for member in members]
    flat: list[float | str] = [0.0, ""] * len(recent)
    flat[0::2] = [score for score, _ in recent]
    flat[1::2] = texts
    return flat


class MetricsStore:
    """Red Kapok's Redis state behind one small class."""

    def __init__(self, client: redis.Redis, *, prefix: str = "rk", retention_days: int = 35,
                 text_retention_days: int = 7, hazard_retention_days: int = 400) -> None:
        self.client = client
        self.keys = Keys(prefix)
        self.retention_s = retention_days * 86400
        # A hazard may stay open for months: its lifecycle state must outlive the event retention.
        self.state_ttl_s = {"hazards": max(hazard_retention_days * 86400, self.retention_s)}
        self.text_retention_s = text_retention_days * 86400
        # Recent summaries carry hotline text, so they are kept no longer than text may be; without
        # text they serve the drill-down for two days.
        self.recent_retention_s = self.text_retention_s or 2 * 86400
        self._apply = client.register_script(_APPLY_LUA)
        self._compact_limits: tuple[int, bytes] | None = None  # read at the first batch
        # The read path (window sums kept between reads) lives in metrics.windows.
        self.windows = WindowSums(client, self.keys, self._read_partitions)

    # ------------------------------------------------------------------ write path
    def register_partition(self, stream: str, partition: int) -> None:
        """Record that a partition exists so readers sum over it."""
        self.client.sadd(self.keys.partitions(), f"{stream}.{partition}")

    def read_offset(self, stream: str, partition: int) -> int | None:
        """The next offset to apply for a partition, or None when the store has none."""
        raw = self.client.get(self.keys.offset(stream, partition))
        return int(raw) if raw is not None else None

    def adopt_log(self, stream: str, partition: int, log_id: str) -> bool:
        """Tie the partition's stored offset to the Kafka log ``log_id`` (the topic id). When the store's
        offset belongs to another log, forget it — atomically — so the new log is read from its start.
        Returns True when an offset was forgotten."""
        offset_key = self.keys.offset(stream, partition)
        id_key = self.keys.log_id(stream, partition)
        reset = self.client.eval(
            "local old = redis.call('GET', KEYS[2]) "
            "if old and old ~= ARGV[1] then redis.call('DEL', KEYS[1]); redis.call('SET', KEYS[2], ARGV[1]) "
            "return 1 end "
            "redis.call('SET', KEYS[2], ARGV[1]) return 0",
            2, offset_key, id_key, log_id,
        )
        return bool(reset)

    def read_states(self, stream: str, partition: int, event_ids: Iterable[str]
                    ) -> tuple[int | None, dict[str, dict[str, str]]]:
        """The stored offset and the lifecycle state of each event id, read in one round trip."""
        ids = list(dict.fromkeys(event_ids))
        # MGET in chunks, not a GET per id: the client's cost per command is most of a GET's cost. The
        # keys share the partition's hash tag, so this holds on a cluster too.
        prefix = self.keys.event_state(stream, partition, "")
        keys = [prefix + event_id for event_id in ids]
        pipe = self.client.pipeline(transaction=False)
        pipe.get(self.keys.offset(stream, partition))
        for lo in range(0, len(keys), _MGET_CHUNK):
            pipe.mget(keys[lo:lo + _MGET_CHUNK])
        replies = pipe.execute()
        offset = int(replies[0]) if replies[0] is not None else None
        found = [reply for chunk in replies[1:] for reply in chunk]
        states = {event_id: _state_decoder.decode(reply)
                  for event_id, reply in zip(ids, found, strict=True) if reply}
        return offset, states

    def apply_batch(self, stream: str, partition: int, *, expected_offset: int | str | None,
                    new_offset: int, plan: BatchPlan, now: float | None = None) -> ApplyResult:
        """Write a planned batch and move the stored offset to ``new_offset``, atomically, if the stored
        offset still equals ``expected_offset`` (None: no offset stored yet). ``"*"`` writes without the
        check and leaves the offset alone: the direct backfill, whose records have no Kafka offsets."""
        now = time.time() if now is None else now
        k = self.keys
        keys: list[str] = [
            k.offset(stream, partition), k.stats(stream, partition), k.recent(stream, partition),
            k.register(stream, partition), k.counter_versions(stream, partition),
        ]
        counters = []
        for tier_name, scope, bucket, fields, increments in _counter_hashes(plan.counter_parts):
            tier = TIERS[tier_name]  # type: ignore[index]
            keys.append(k.counters(stream, partition, tier_name, scope, bucket))  # type: ignore[arg-type]
            if len(set(fields)) != len(fields):  # the script reads each field once per hash
                summed: dict[str, int] = {}
                for name, inc in zip(fields, increments, strict=True):
                    summed[name] = summed.get(name, 0) + inc
                fields, increments = list(summed), list(summed.values())
            counters.append((bucket + tier.seconds + tier.retention_s + EXPIRY_SLACK_S, fields, increments))
        state_prefix = k.event_state(stream, partition, "")
        keys.extend([state_prefix + event_id for event_id in plan.states])
        # One encoder call for every state (JSON lines hold no raw newline), not one per state.
        states = _state_encoder.encode_lines(list(plan.states.values())).decode().split("\n")[:-1]
        stats = {"accepted": plan.accepted, "duplicates": plan.duplicates}
        stats.update({f"rej:{reason}": n for reason, n in plan.rejected.items()})
        if self._compact_limits is None:
            self._compact_limits = compact_hash_limits(self.client)
        compact_entries, long_value = self._compact_limits
        payload = {
            "counters": counters,
            "state_ttl": self.state_ttl_s.get(stream, self.retention_s),
            "versions_ttl": TIERS["1d"].retention_s,
            "states": states,
            # Strings, not bytes: Redis 6's cmsgpack does not read MessagePack's bin type.
            "register": [x for event_id, entry in plan.registers.items()
                         for x in (event_id, entry.decode())],
            "stats": [x for name, n in stats.items() if n for x in (name, n)],
            "last_ts": plan.last_ts,
            "recent": _recent_flat(plan.recent),
            "compact_entries": compact_entries,
            "long_value": long_value.decode(),
        }
        argv = [
            "" if expected_offset is None else str(expected_offset),
            str(new_offset),
            repr(now),
            repr(now - self.recent_retention_s),
            str(RECENT_MAX),
            _msgpack.encode(payload),
        ]
        applied, stored = self._apply(keys=keys, args=argv)
        stored_offset = int(stored) if stored not in (b"", "", None) else None
        return ApplyResult(bool(int(applied)), stored_offset)

    def publish_lag(self, lags: Mapping[str, int]) -> None:
        """Store consumer lag per ``stream.partition`` (from the Kafka side) for the stats endpoint."""
        if not lags:
            return
        pipe = self.client.pipeline(transaction=False)
        pipe.hset(self.keys.consumer_lag(), mapping={name: int(v) for name, v in lags.items()})
        pipe.expire(self.keys.consumer_lag(), 60)
        pipe.execute()

    # ------------------------------------------------------------------ read path
    def read_session(self) -> AbstractContextManager[None]:
        """Reads inside see one view of the bucket versions (see ``WindowSums.read_session``)."""
        return self.windows.read_session()

    def partitions(self) -> list[tuple[str, int]]:
        """Every (stream, partition) ever applied (read once per read session)."""
        return self.windows.partitions()

    def _read_partitions(self) -> list[tuple[str, int]]:
        out = []
        for raw in self.client.smembers(self.keys.partitions()):
            stream, _, part = _as_str(raw).rpartition(".")
            out.append((stream, int(part)))
        return sorted(out)

    def stats(self) -> dict[str, Any]:
        """The ``/api/v1/stats`` figures summed over partitions, plus consumer lag and freshness."""
        parts = self.partitions()
        pipe = self.client.pipeline(transaction=False)
        for stream, partition in parts:
            pipe.hgetall(self.keys.stats(stream, partition))
        pipe.hgetall(self.keys.consumer_lag())
        replies = pipe.execute()
        accepted = {s: 0 for s in STREAMS}
        deadletter: dict[str, int] = {}
        duplicates = 0
        last_ts: dict[str, float] = {}
        for (stream, _), reply in zip(parts, replies[:-1], strict=True):
            fields = {_as_str(a): _as_str(b) for a, b in reply.items()}
            accepted[stream] = accepted.get(stream, 0) + int(fields.get("accepted", 0))
            duplicates += int(fields.get("duplicates", 0))
            for name, value in fields.items():
                if name.startswith("rej:"):
                    deadletter[name[4:]] = deadletter.get(name[4:], 0) + int(value)
            if "last_ts" in fields:
                last_ts[stream] = max(last_ts.get(stream, 0.0), float(fields["last_ts"]))
        lag_reply = replies[-1]
        lag = sum(int(v) for v in lag_reply.values()) if lag_reply else None
        return {"accepted": accepted, "duplicates": duplicates, "deadletter": deadletter, "lag": lag,
                "last_event_ts": last_ts}

    def window_frame(self, level: Level, start: float, end: float,
                     streams: Sequence[str] | None = None) -> pd.DataFrame:
        """Counters summed over ``[start, end)``: one row per entity, one column per
        ``stream.category.measure`` (see ``metrics.windows``). Level ``city`` is the sum of the districts."""
        return self.windows.window_frame(level, start, end, time.time(), streams)

    def series(self, level: Level, start: float, end: float, tier: Granularity = "1h",
               entity: str | None = None, streams: Sequence[str] | None = None) -> pd.DataFrame:
        """Counters per bucket of one tier over ``[start, end)`` (see ``WindowSums.series``)."""
        return self.windows.series(level, start, end, tier, entity, streams)

    def recent_events(self, *, grid_id: str | None = None, district_code: str | None = None,
                      limit: int = 50, streams: Sequence[str] | None = None) -> list[dict[str, Any]]:
        """Newest accepted records (masked summaries), optionally of one cell or district."""
        wanted = set(streams or STREAMS)
        parts = [(s, p) for s, p in self.partitions() if s in wanted]
        pipe = self.client.pipeline(transaction=False)
        scan = limit if grid_id is None and district_code is None else RECENT_MAX
        for stream, partition in parts:
            pipe.zrevrange(self.keys.recent(stream, partition), 0, scan - 1)
        found: list[dict[str, Any]] = []
        for reply in pipe.execute():
            for raw in reply:
                item = json.loads(raw)
                if grid_id is not None and item.get("grid") != grid_id:
                    continue
                if district_code is not None and item.get("district") != district_code:
                    continue
                found.append(item)
        found.sort(key=lambda item: item["ts"], reverse=True)
        return found[:limit]
