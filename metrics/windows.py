"""Counter sums over time windows, kept between reads: the engines' and the dashboard's read path.

A window is the set of counter hashes (one per partition and bucket, :mod:`metrics.keys`) covering
``[start, end)``. Engines ask for the same windows every run, a few minutes later, so a window's sum is
kept and updated from the buckets that entered, left or changed since: every counter hash has a version
(incremented by each batch that writes it, kept in the partition's versions hash), so a run re-reads
only the buckets whose version moved — the current hour, mostly — rather than thirty days of cells.

Sums are sorted arrays of integer codes (entity x counter column, packed in one int64) and their values
rather than labelled pandas objects: a cold start reads a month of cells (millions of fields), where a
code lookup per field and array merges are what make it affordable, and an hour of one stream stays as
small as its content (the warnings engine keeps dozens of those). Labels come back only in the frame
handed out.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd
import redis

from metrics.keys import TIERS, Granularity, Keys, Scope

Level = Literal["grid", "district", "city"]
STREAMS = ("incidents", "surveillance", "hotline", "hazards")

#: Window sums kept for incremental updates (the index engine uses about two dozen distinct windows).
KEPT_WINDOWS = 96
#: Buckets whose key strings are kept for reuse (an engine run names ~50,000 keys, the same each run).
_KEY_CACHE_MAX = 50_000
#: Replaced bucket versions kept for windows still counting them (the buckets of a few hours).
_PREVIOUS_MAX = 20_000
#: A packed counter code is ``entity << _COL_BITS | column``.
_COL_BITS = 20
_COL_MASK = (1 << _COL_BITS) - 1
#: Version field kept inside each counter hash by the batch script (not a counter).
_VERSION_FIELD = b"_v"


class CounterCodes:
    """Integer codes for the entities and counter columns (``stream.category.measure``) of one scope.

    Codes only grow; a counter hash field ``entity|category|measure`` is parsed once per stream and then
    found in a dict."""

    def __init__(self) -> None:
        # dicts keep insertion order: a name's code is its position
        self._entities: dict[str, int] = {}
        self._columns: dict[str, int] = {}
        self._fields: dict[str, dict[bytes, int]] = {}
        self._names: dict[str, tuple[int, np.ndarray]] = {}

    def encode(self, stream: str, fields: Sequence[bytes]) -> np.ndarray:
        """Packed codes of a hash's fields (int64)."""
        known = self._fields.setdefault(stream, {})
        new = list(set(fields).difference(known))
        if new:
            # Fields hold no "|" but the two separators: one split parses every new field.
            parts = b"|".join(new).decode().split("|")
            entities, columns = self._entities, self._columns
            prefix = stream + "."
            e_codes = [entities.setdefault(e, len(entities)) for e in parts[0::3]]
            c_codes = [columns.setdefault(f"{prefix}{c}.{m}", len(columns))
                       for c, m in zip(parts[1::3], parts[2::3], strict=True)]
            known.update(zip(new, (e << _COL_BITS | c for e, c in zip(e_codes, c_codes, strict=True)),
                             strict=True))
        return np.array(list(map(known.__getitem__, fields)), dtype=np.int64)

    def entity_code(self, entity: str) -> int | None:
        return self._entities.get(entity)

    def _named(self, kind: str, names: dict[str, int]) -> np.ndarray:
        cached = self._names.get(kind)
        if cached is None or cached[0] != len(names):
            cached = self._names[kind] = (len(names), np.asarray(list(names), dtype=object))
        return cached[1]

    def _ranked(self, kind: str, names: dict[str, int]) -> np.ndarray:
        cached = self._names.get(kind + "r")
        if cached is None or cached[0] != len(names):
            ranks = np.empty(len(names), dtype=np.int64)
            ranks[np.argsort(self._named(kind, names))] = np.arange(len(names))
            cached = self._names[kind + "r"] = (len(names), ranks)
        return cached[1]

    @property
    def entity_ranks(self) -> np.ndarray:
        """Each entity code's position in name order (frames are handed out sorted by name)."""
        return self._ranked("e", self._entities)

    @property
    def column_ranks(self) -> np.ndarray:
        """Each column code's position in name order."""
        return self._ranked("c", self._columns)

    @property
    def entity_names(self) -> np.ndarray:
        """Entity ids by code (object array)."""
        return self._named("e", self._entities)

    @property
    def column_names(self) -> np.ndarray:
        """Counter column names by code (object array)."""
        return self._named("c", self._columns)


@dataclass
class _Bucket:
    """One counter hash as read at ``version``: packed codes and values."""

    version: bytes
    codes: np.ndarray
    values: np.ndarray


@dataclass
class _Window:
    """A kept window sum: the bucket versions it includes, the sum (sorted unique packed codes and their
    values), and the frames handed out."""

    versions: dict[str, bytes]
    codes: np.ndarray
    values: np.ndarray
    wide: pd.DataFrame | None = None
    city: pd.DataFrame | None = None


@dataclass
class _ReadSession:
    """What one read session has already fetched."""

    versions: dict[str, bytes | None] = field(default_factory=dict)
    partitions: list[tuple[str, int]] | None = None


def _merge(codes: np.ndarray, values: np.ndarray, buckets: Sequence[_Bucket], sign: float
           ) -> tuple[np.ndarray, np.ndarray]:
    """The sum ``(codes, values)`` plus ``sign`` times the buckets' counters, as new arrays (a kept sum
    may be shared by another window)."""
    if not buckets:
        return codes, values
    added, inverse = np.unique(np.concatenate([b.codes for b in buckets]), return_inverse=True)
    sums = sign * np.bincount(inverse, weights=np.concatenate([b.values for b in buckets]), minlength=len(added))
    if not len(codes):
        return added, sums
    at = np.searchsorted(codes, added)
    found = at < len(codes)
    found[found] = codes[at[found]] == added[found]
    values = values.copy()
    values[at[found]] += sums[found]
    if found.all():
        return codes, values
    new = ~found
    return np.insert(codes, at[new], added[new]), np.insert(values, at[new], sums[new])


def _dense_ranks(codes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The distinct codes (ascending) and each code's position among them, in linear time."""
    if not len(codes):
        return codes, codes
    present = np.bincount(codes) > 0
    rank = np.cumsum(present) - 1
    return np.flatnonzero(present), rank[codes]


class WindowSums:
    """Reads counter windows and series from Redis (see the module docstring).

    Args:
        client: the Redis client (``redis.Redis`` or ``redis.RedisCluster``).
        keys: the key schema of the store.
        partitions: every (stream, partition) ever applied (``MetricsStore.partitions``).
    """

    def __init__(self, client: redis.Redis, keys: Keys, partitions: Callable[[], list[tuple[str, int]]]) -> None:
        self.client = client
        self.keys = keys
        self._partitions = partitions
        self._codes = {"g": CounterCodes(), "d": CounterCodes()}
        self._buckets: dict[str, _Bucket] = {}
        # The version each bucket had before its latest read (or before it expired): a kept window that
        # still counts that version subtracts it, even after another window read the new one.
        self._previous: dict[str, _Bucket] = {}
        self._windows: list[tuple[tuple[Any, ...], _Window]] = []
        self._session: _ReadSession | None = None
        # (scope, partitions) -> (tier, bucket) -> the bucket's counter keys, one per partition
        self._key_cache: dict[tuple[str, tuple[tuple[str, int], ...]], dict[tuple[str, int], list[str]]] = {}

    # ------------------------------------------------------------------ sessions
    @contextmanager
    def read_session(self) -> Iterator[None]:
        """Reads inside see one view of the bucket versions and partitions: an engine run asks for a
        few dozen overlapping windows, and each would otherwise fetch the versions of the same buckets
        again. Versions move on between sessions, never within one (a window may then lag a batch that
        landed during the run; the next run includes it)."""
        if self._session is not None:
            yield
            return
        self._session = _ReadSession()
        try:
            yield
        finally:
            self._session = None

    def partitions(self) -> list[tuple[str, int]]:
        if self._session is None:
            return self._partitions()
        if self._session.partitions is None:
            self._session.partitions = self._partitions()
        return self._session.partitions

    # ------------------------------------------------------------------ buckets
    def cover(self, level: Level, start: float, end: float, now: float) -> list[tuple[Granularity, int]]:
        """The buckets covering ``[start, end)``: the coarsest tier that fits at each step, finer ones at
        the edges. ``start`` is rounded to the nearest boundary of the finest tier still kept there (grid
        counters have no 5-minute tier, so grid windows are whole hours); the bucket holding ``end`` is
        included, so a window ending now counts the current, unfinished bucket."""
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

    def hash_keys(self, level: Level, start: float, end: float, now: float,
                  streams: Sequence[str] | None = None) -> list[str]:
        scope: Scope = "g" if level == "grid" else "d"
        wanted = set(streams or STREAMS)
        parts = [(s, p) for s, p in self.partitions() if s in wanted]
        cache = self._key_cache.get((scope, tuple(parts)))
        if cache is None or len(cache) > _KEY_CACHE_MAX:
            cache = self._key_cache[(scope, tuple(parts))] = {}
        out: list[str] = []
        for tier, bucket in self.cover(level, start, end, now):
            keys = cache.get((tier, bucket))
            if keys is None:
                keys = cache[(tier, bucket)] = [self.keys.counters(stream, partition, tier, scope, bucket)
                                                for stream, partition in parts]
            out += keys
        return out

    def versions(self, hash_keys: Sequence[str]) -> list[bytes | None]:
        """The version of each counter hash (None: the bucket holds nothing), one HMGET per partition;
        inside a read session, each key's version is read once."""
        if self._session is None:
            return self._read_versions(hash_keys)
        known = self._session.versions
        missing = [key for key in dict.fromkeys(hash_keys) if key not in known]
        if missing:
            known.update(zip(missing, self._read_versions(missing), strict=True))
        return [known[key] for key in hash_keys]

    def _read_versions(self, hash_keys: Sequence[str]) -> list[bytes | None]:
        by_partition: dict[tuple[str, int], list[int]] = {}
        for i, key in enumerate(hash_keys):
            by_partition.setdefault(self.keys.parse_counters(key)[:2], []).append(i)
        out: list[bytes | None] = [None] * len(hash_keys)
        pipe = self.client.pipeline(transaction=False)
        order = []
        for (stream, partition), positions in by_partition.items():
            pipe.hmget(self.keys.counter_versions(stream, partition), [hash_keys[i] for i in positions])
            order.append(positions)
        for positions, reply in zip(order, pipe.execute(), strict=True):
            for i, version in zip(positions, reply, strict=True):
                out[i] = version
        return out

    def load(self, hash_keys: Sequence[str], versions: Sequence[bytes | None]) -> list[_Bucket]:
        """The buckets of ``hash_keys`` (absent ones left out), re-reading only hashes whose version
        moved since they were last read."""
        stale = [key for key, v in zip(hash_keys, versions, strict=True)
                 if v is not None and (key not in self._buckets or self._buckets[key].version != v)]
        if stale:
            # Field names and values in one transaction per hash: two lists, no dict to build.
            pipe = self.client.pipeline(transaction=True)
            for key in stale:
                pipe.hkeys(key)
                pipe.hvals(key)
            replies = pipe.execute()
            version_of = dict(zip(hash_keys, versions, strict=True))
            for i, key in enumerate(stale):
                fields, values = replies[2 * i], replies[2 * i + 1]
                if _VERSION_FIELD in fields:
                    at = fields.index(_VERSION_FIELD)
                    fields = fields[:at] + fields[at + 1:]
                    values = values[:at] + values[at + 1:]
                stream, _, _, scope, _ = self.keys.parse_counters(key)
                # The version was read before the contents: if a batch landed in between, the next read
                # sees a newer version and reads the hash again.
                self._retire(key)
                self._buckets[key] = _Bucket(
                    version_of[key],  # type: ignore[arg-type]
                    self._codes[scope].encode(stream, fields),
                    np.array(values, dtype=np.float64) if values else np.zeros(0),
                )
        for key, v in zip(hash_keys, versions, strict=True):
            if v is None:
                self._retire(key)
        return [self._buckets[key] for key in hash_keys if key in self._buckets]

    def _retire(self, key: str) -> None:
        bucket = self._buckets.pop(key, None)
        if bucket is not None:
            if len(self._previous) >= _PREVIOUS_MAX:
                self._previous.clear()  # windows that still need one start afresh
            self._previous[key] = bucket

    def _at(self, key: str, version: bytes) -> _Bucket | None:
        """The bucket's contents as of ``version``, if still at hand."""
        for bucket in (self._buckets.get(key), self._previous.get(key)):
            if bucket is not None and bucket.version == version:
                return bucket
        return None

    # ------------------------------------------------------------------ windows
    def window_frame(self, level: Level, start: float, end: float, now: float,
                     streams: Sequence[str] | None = None) -> pd.DataFrame:
        """Counters summed over ``[start, end)``: one row per entity, one column per
        ``stream.category.measure``, only rows and columns holding a non-zero count. Level ``city`` is
        the sum of the districts (index ``"city"``)."""
        source: Level = "district" if level == "city" else level
        keys = self.hash_keys(source, start, end, now, streams)
        present = {key: v for key, v in zip(keys, self.versions(keys), strict=True) if v is not None}
        family = (source, tuple(sorted(streams or STREAMS)))
        window = self._nearest_window(family, present)
        if window is not None:
            stale = [key for key, v in window.versions.items() if present.get(key) != v]
            fresh = [key for key, v in present.items() if window.versions.get(key) != v]
            if not stale and not fresh and window.wide is not None:
                self._remember(family, window, replacing=window)
                return self._handed_out(window, level)
            at_hand = [self._at(key, window.versions[key]) for key in stale]
            old = [bucket for bucket in at_hand if bucket is not None]
            if len(old) == len(stale):
                loaded = self.load(fresh, [present[key] for key in fresh])
                packed, values = _merge(window.codes, window.values, old, -1.0)
                kept = _Window(present, *_merge(packed, values, loaded, 1.0))
                self._remember(family, kept, replacing=window)
                return self._handed_out(kept, level)
            # an old version is no longer at hand: start afresh
        loaded = self.load(list(present), list(present.values()))
        kept = _Window(present, *_merge(np.zeros(0, np.int64), np.zeros(0), loaded, 1.0))
        self._remember(family, kept, replacing=window)
        return self._handed_out(kept, level)

    def _handed_out(self, window: _Window, level: Level) -> pd.DataFrame:
        if window.wide is None:
            names = self._codes["g" if level == "grid" else "d"]
            held = window.values != 0
            packed, values = window.codes[held], window.values[held]
            # codes are small integers: which are present and their positions by counting, not sorting
            entity_codes, rows = _dense_ranks(packed >> _COL_BITS)
            column_codes, cols = _dense_ranks(packed & _COL_MASK)
            # rows and columns in name order: each present code's place among them, then one scatter
            r_order = np.argsort(names.entity_ranks[entity_codes])
            c_order = np.argsort(names.column_ranks[column_codes])
            r_place, c_place = np.empty_like(r_order), np.empty_like(c_order)
            r_place[r_order] = np.arange(len(r_order))
            c_place[c_order] = np.arange(len(c_order))
            matrix = np.zeros((len(entity_codes), len(column_codes)))
            matrix[r_place[rows], c_place[cols]] = values
            window.wide = pd.DataFrame(
                matrix,
                index=pd.Index(names.entity_names[entity_codes[r_order]], dtype=object),
                columns=pd.Index(names.column_names[column_codes[c_order]], dtype=object),
            )
        if level != "city":
            return window.wide
        if window.city is None:
            wide = window.wide
            window.city = (pd.DataFrame([wide.sum(axis=0)], index=pd.Index(["city"], dtype=object))
                           if len(wide) else pd.DataFrame(index=pd.Index(["city"], dtype=object)))
        return window.city

    def _nearest_window(self, family: tuple[Any, ...], present: dict[str, bytes]) -> _Window | None:
        """The kept window of this family over the same buckets, else the one needing the fewest buckets
        added and removed, if that is fewer than summing ``present`` afresh (a month ending yesterday is a
        month ending now minus a day plus a day)."""
        best, best_cost = None, len(present)
        wanted = present.keys()
        for fam, window in self._windows:
            if fam != family:
                continue
            if len(window.versions) == len(present) and window.versions.keys() == wanted:
                return window
            shared = len(wanted & window.versions.keys())
            cost = len(window.versions) + len(present) - 2 * shared
            if cost < best_cost:
                best, best_cost = window, cost
        return best

    def _remember(self, family: tuple[Any, ...], window: _Window, *, replacing: _Window | None) -> None:
        """Keep a window sum; it replaces the one it was derived from only when both cover the same buckets
        (an engine asks for the same span at several offsets: each keeps its own)."""
        if replacing is not None and replacing.versions.keys() != window.versions.keys():
            replacing = None
        self._windows = [(f, w) for f, w in self._windows if w is not replacing and w is not window]
        self._windows.append((family, window))
        del self._windows[:-KEPT_WINDOWS]

    # ------------------------------------------------------------------ series
    def series(self, level: Level, start: float, end: float, tier: Granularity = "1h",
               entity: str | None = None, streams: Sequence[str] | None = None) -> pd.DataFrame:
        """Counters per bucket of one tier over ``[start, end)``, for one entity (or summed over all, or
        the city when ``entity`` is None): a frame indexed by bucket start (UTC) with a column per
        counter name."""
        scope: Scope = "g" if level == "grid" else "d"
        codes = self._codes[scope]
        t = TIERS[tier]
        buckets = list(range(t.bucket_start(start), int(end), t.seconds))
        wanted = set(streams or STREAMS)
        parts = [(s, p) for s, p in self.partitions() if s in wanted]
        keys = [(b, self.keys.counters(s, p, tier, scope, b)) for b in buckets for s, p in parts]
        names = [key for _, key in keys]
        versions = self.versions(names)
        present = [key for key, v in zip(names, versions, strict=True) if v is not None]
        loaded = dict(zip(present, self.load(names, versions), strict=True))
        entity_code = codes.entity_code(entity) if entity is not None else None
        width = len(codes.column_names)
        matrix = np.zeros((len(buckets), width))
        seen = np.zeros(width, dtype=bool)
        row_of = {bucket: i for i, bucket in enumerate(buckets)}
        for bucket, key in keys:
            part = loaded.get(key)
            if part is None:
                continue
            codes_, values = part.codes, part.values
            if entity is not None:
                mine = (codes_ >> _COL_BITS) == (-1 if entity_code is None else entity_code)
                codes_, values = codes_[mine], values[mine]
            cols = codes_ & _COL_MASK
            np.add.at(matrix[row_of[bucket]], cols, values)
            seen[cols] = True
        used = np.flatnonzero(seen)
        names = codes.column_names[used]
        order = np.argsort(names)
        frame = pd.DataFrame(matrix[:, used[order]], index=buckets, columns=pd.Index(names[order], dtype=object))
        frame.index = pd.to_datetime(frame.index, unit="s", utc=True)
        return frame
