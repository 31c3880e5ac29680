"""The Redis store: applies planned batches atomically and reads counters back as frames.

It is handed its client (``redis.Redis`` or ``redis.RedisCluster``); every key comes from
:mod:`metrics.keys`.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from typing import Any, Literal

import msgspec
import numpy as np
import pandas as pd
import redis

from metrics.keys import EXPIRY_SLACK_S, RECENT_MAX, TIERS, Granularity, Keys, Scope
from metrics.ledger import BatchPlan

Level = Literal["grid", "district", "city"]
#: Window sums kept for incremental updates (the index engine uses about a dozen distinct windows).
_KEPT_WINDOWS = 96


@dataclass
class _Window:
    """A kept window sum: the bucket versions it includes, the long sum, and its wide form."""

    versions: dict[str, bytes]
    total: pd.Series
    wide: pd.DataFrame | None


def _parse_counters(key: str, reply: Mapping[bytes, bytes]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A counter hash as (entity, ``stream.category.measure``, value) arrays. Fields are
    ``entity|category|measure`` and none of the three holds a ``|``: one split of the joined fields parses
    them all, which matters when a cold engine reads a month of cells."""
    if not reply:
        empty = np.array([], dtype=object)
        return empty, empty, np.array([], dtype=np.float64)
    stream = key.split("{", 1)[1].split(".", 1)[0]
    parts = np.array(b"|".join(reply.keys()).decode().split("|"), dtype=object)
    entities = parts[0::3]
    columns = (stream + ".") + parts[1::3] + "." + parts[2::3]
    values = np.fromiter((int(v) for v in reply.values()), dtype=np.float64, count=len(reply))
    return entities, columns, values


def _sum_parts(parts: Sequence[tuple[np.ndarray, np.ndarray, np.ndarray]]) -> pd.Series:
    """Parsed hashes summed per (entity, counter)."""
    if not parts:
        return pd.Series(dtype=float, index=pd.MultiIndex.from_arrays([[], []], names=["entity", "column"]))
    frame = pd.DataFrame({
        "entity": np.concatenate([p[0] for p in parts]),
        "column": np.concatenate([p[1] for p in parts]),
        "value": np.concatenate([p[2] for p in parts]),
    })
    return frame.groupby(["entity", "column"], sort=False)["value"].sum()


def _as_level(wide: pd.DataFrame, level: str) -> pd.DataFrame:
    """District sums as the city's one row when the city is asked for."""
    if level != "city":
        return wide
    return pd.DataFrame([wide.sum(axis=0)], index=pd.Index(["city"], dtype=object)) if len(wide) else \
        pd.DataFrame(index=pd.Index(["city"], dtype=object))
STREAMS = ("incidents", "surveillance", "hotline", "hazards")

_msgpack = msgspec.msgpack.Encoder()
_state_encoder = msgspec.json.Encoder()
_state_decoder = msgspec.json.Decoder(dict[str, str])
_APPLY_LUA = resources.files("metrics").joinpath("apply_batch.lua").read_text(encoding="utf-8")


@dataclass(frozen=True)
class ApplyResult:
    """Outcome of :meth:`MetricsStore.apply_batch`: ``applied`` False means the stored offset moved."""

    applied: bool
    stored_offset: int | None


def _as_str(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


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
        # key -> (version, entity array, column array, values) of counter hashes already parsed
        self._parsed: dict[str, tuple[bytes | None, np.ndarray, np.ndarray, np.ndarray]] = {}
        self._windows: list[tuple[tuple[Any, ...], _Window]] = []

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
        pipe = self.client.pipeline(transaction=False)
        pipe.get(self.keys.offset(stream, partition))
        for event_id in ids:
            pipe.get(self.keys.event_state(stream, partition, event_id))
        replies = pipe.execute()
        offset = int(replies[0]) if replies[0] is not None else None
        states = {event_id: _state_decoder.decode(reply)
                  for event_id, reply in zip(ids, replies[1:], strict=True) if reply}
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
        grouped: dict[tuple[str, str, int], list[tuple[np.ndarray, np.ndarray]]] = {}
        for tier_name, scope, buckets, fields, increments in plan.counter_parts:
            order = np.argsort(buckets, kind="stable")
            buckets, fields, increments = buckets[order], fields[order], increments[order]
            cuts = np.flatnonzero(np.diff(buckets)) + 1
            for lo, hi in zip(np.r_[0, cuts], np.r_[cuts, len(buckets)], strict=True):
                grouped.setdefault((tier_name, scope, int(buckets[lo])), []).append(
                    (fields[lo:hi], increments[lo:hi]))
        counters = []
        for (tier_name, scope, bucket), chunks in grouped.items():
            tier = TIERS[tier_name]  # type: ignore[index]
            keys.append(k.counters(stream, partition, tier_name, scope, bucket))  # type: ignore[arg-type]
            fields = np.concatenate([c[0] for c in chunks]).tolist()
            increments = np.concatenate([c[1] for c in chunks]).tolist()
            pairs: list[Any] = [None] * (2 * len(fields))
            pairs[0::2] = fields
            pairs[1::2] = increments
            counters.append((bucket + tier.seconds + tier.retention_s + EXPIRY_SLACK_S, pairs))
        states = []
        for event_id, fields in plan.states.items():
            keys.append(k.event_state(stream, partition, event_id))
            states.append(_state_encoder.encode(fields).decode())
        stats = {"accepted": plan.accepted, "duplicates": plan.duplicates}
        stats.update({f"rej:{reason}": n for reason, n in plan.rejected.items()})
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
            "recent": [x for score, member in plan.recent for x in (score, member.decode())],
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
    def partitions(self) -> list[tuple[str, int]]:
        """Every (stream, partition) ever applied."""
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

    def _cover(self, level: Level, start: float, end: float) -> list[tuple[Granularity, int]]:
        """The buckets covering ``[start, end)``: the coarsest tier that fits at each step, finer ones at
        the edges. ``start`` is rounded to the nearest boundary of the finest tier still kept there (grid
        counters have no 5-minute tier, so grid windows are whole hours); the bucket holding ``end`` is
        included, so a window ending now counts the current, unfinished bucket."""
        now = time.time()
        scope: Scope = "g" if level == "grid" else "d"
        # Only detailed tiers: the 5-minute totals lack categories and lifecycle measures.
        tiers = [t for t in (TIERS["1d"], TIERS["1h"], TIERS["5m"]) if scope in t.scopes and t.detailed]

        def alive(tier: Any, bucket: float) -> bool:
            return bucket + tier.seconds + tier.retention_s > now

        kept = [tier for tier in reversed(tiers) if alive(tier, start)] or [tiers[0]]
        base = kept[0]
        t = base.bucket_start(start + base.seconds / 2)
        out: list[tuple[Granularity, int]] = []
        while t < end:
            for tier in tiers:
                if alive(tier, t) and tier.bucket_start(t) == t and t + tier.seconds <= end:
                    break
            else:
                tier = next((tr for tr in reversed(tiers) if alive(tr, t)), base)
            out.append((tier.name, t))
            t += tier.seconds
        return out

    def _hash_keys(self, level: Level, start: float, end: float,
                   streams: Sequence[str] | None = None) -> list[str]:
        scope: Scope = "g" if level == "grid" else "d"
        wanted = set(streams or STREAMS)
        parts = [(s, p) for s, p in self.partitions() if s in wanted]
        return [
            self.keys.counters(stream, partition, tier, scope, bucket)
            for tier, bucket in self._cover(level, start, end)
            for stream, partition in parts
        ]

    def _versions(self, hash_keys: Sequence[str]) -> list[bytes | None]:
        """The version of each counter hash (None: the bucket holds nothing), one HMGET per partition."""
        by_tag: dict[str, list[int]] = {}
        for i, key in enumerate(hash_keys):
            by_tag.setdefault(key[key.index("{"):key.index("}") + 1], []).append(i)
        out: list[bytes | None] = [None] * len(hash_keys)
        pipe = self.client.pipeline(transaction=False)
        order = []
        for tag, positions in by_tag.items():
            stream, _, part = tag[1:-1].rpartition(".")
            pipe.hmget(self.keys.counter_versions(stream, int(part)), [hash_keys[i] for i in positions])
            order.append(positions)
        for positions, reply in zip(order, pipe.execute(), strict=True):
            for i, version in zip(positions, reply, strict=True):
                out[i] = version
        return out

    def _load(self, hash_keys: Sequence[str], *, known: Mapping[str, bytes] | None = None
              ) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
        """Parsed contents of counter hashes, re-reading only hashes whose version moved. ``known`` gives
        versions just read (saves a round trip)."""
        if known is None:
            versions = self._versions(hash_keys)
        else:
            versions = [known.get(key) for key in hash_keys]
        stale = [key for key, v in zip(hash_keys, versions, strict=True)
                 if v is not None and (key not in self._parsed or self._parsed[key][0] != v)]
        if stale:
            version_of = dict(zip(hash_keys, versions, strict=True))
            pipe = self.client.pipeline(transaction=False)
            for key in stale:
                pipe.hgetall(key)
            for key, reply in zip(stale, pipe.execute(), strict=True):
                # The version read before the contents: if a batch landed in between, the next read sees a
                # newer version and parses again.
                version = version_of[key]
                reply.pop(b"_v", None)
                self._parsed[key] = (version, *_parse_counters(key, reply))
        for key, v in zip(hash_keys, versions, strict=True):
            if v is None:
                self._parsed.pop(key, None)
        return [self._parsed[key][1:] for key in hash_keys if key in self._parsed]

    def window_frame(self, level: Level, start: float, end: float,
                     streams: Sequence[str] | None = None) -> pd.DataFrame:
        """Counters summed over ``[start, end)``: one row per entity, one column per
        ``stream.category.measure``. Level ``city`` is the sum of the districts (index ``"city"``).

        Engines ask for the same windows every run, a few minutes later: the sum is kept and updated by
        the buckets that entered, left or changed since (each counter hash carries a version), so a run
        re-reads only the current hour rather than thirty days of cells."""
        source: Level = "district" if level == "city" else level
        keys = self._hash_keys(source, start, end, streams)
        present = {key: v for key, v in zip(keys, self._versions(keys), strict=True) if v is not None}
        family = (source, tuple(sorted(streams or STREAMS)))
        window = self._nearest_window(family, present)
        if window is None:
            self._load(list(present), known=present)
            total = _sum_parts([self._parsed[key][1:] for key in present])
        else:
            stale = [key for key, v in window.versions.items() if present.get(key) != v]
            fresh = [key for key, v in present.items() if window.versions.get(key) != v]
            old_parts = [self._parsed[key][1:] for key in stale if key in self._parsed
                         and self._parsed[key][0] == window.versions[key]]
            if len(old_parts) < len(stale):  # an old version is no longer at hand: start afresh
                self._load(list(present), known=present)
                total = _sum_parts([self._parsed[key][1:] for key in present])
            else:
                self._load(fresh, known=present)
                total = window.total
                if old_parts:
                    total = total.sub(_sum_parts(old_parts), fill_value=0)
                if fresh:
                    total = total.add(_sum_parts([self._parsed[key][1:] for key in fresh]), fill_value=0)
                if not stale and not fresh and window.wide is not None:
                    self._remember(family, _Window(present, total, window.wide), replacing=window)
                    return _as_level(window.wide, level)
        total = total[total != 0]
        wide = total.unstack(fill_value=0.0) if len(total) else pd.DataFrame(dtype=float)
        wide.index.name = None
        wide.columns.name = None
        wide = wide.astype(float)
        self._remember(family, _Window(present, total, wide), replacing=window)
        return _as_level(wide, level)

    def _nearest_window(self, family: tuple[Any, ...], present: Mapping[str, bytes]) -> _Window | None:
        """The kept window of this family over the same buckets, else the one sharing the most buckets
        with ``present`` (at least half)."""
        best, best_shared = None, 0
        for fam, window in self._windows:
            if fam != family:
                continue
            if window.versions.keys() == present.keys():
                return window
            shared = sum(1 for key in present if key in window.versions)
            if shared > best_shared:
                best, best_shared = window, shared
        return best if best is not None and 2 * best_shared >= len(present) else None

    def _remember(self, family: tuple[Any, ...], window: _Window, *, replacing: _Window | None) -> None:
        """Keep a window sum; it replaces the one it was derived from only when both cover the same buckets
        (an engine asks for the same span at several offsets: each keeps its own)."""
        if replacing is not None and replacing.versions.keys() != window.versions.keys():
            replacing = None
        self._windows = [(f, w) for f, w in self._windows if w is not replacing]
        self._windows.append((family, window))
        del self._windows[:-_KEPT_WINDOWS]

    def series(self, level: Level, start: float, end: float, tier: Granularity = "1h",
               entity: str | None = None, streams: Sequence[str] | None = None) -> pd.DataFrame:
        """Counters per bucket of one tier over ``[start, end)``, for one entity (or summed over all, or
        the city when ``entity`` is None): a frame indexed by bucket start (UTC) with a column per
        counter name."""
        scope: Scope = "g" if level == "grid" else "d"
        t = TIERS[tier]
        buckets = list(range(t.bucket_start(start), int(end), t.seconds))
        wanted = set(streams or STREAMS)
        parts = [(s, p) for s, p in self.partitions() if s in wanted]
        rows: dict[int, dict[str, float]] = {b: {} for b in buckets}
        keys = [(b, self.keys.counters(s, p, tier, scope, b)) for b in buckets for s, p in parts]
        loaded = self._load([key for _, key in keys])
        by_key = dict(zip([key for _, key in keys if key in self._parsed], loaded, strict=True))
        for bucket, key in keys:
            if key not in by_key:
                continue
            ents, cols, vals = by_key[key]
            mask = np.ones(len(ents), dtype=bool) if entity is None else ents == entity
            row = rows[bucket]
            for col, val in zip(cols[mask], vals[mask], strict=True):
                row[col] = row.get(col, 0.0) + val
        frame = pd.DataFrame.from_dict(rows, orient="index").fillna(0.0)
        frame.index = pd.to_datetime(frame.index, unit="s", utc=True)
        return frame

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
