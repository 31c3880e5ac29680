"""Column-wise planning of simulated history: the ledger's sequential pass done on whole columns. Pure.

The consumers decide record by record (:func:`metrics.ledger.plan_batch`, first pass): a record whose
(event, stage) was accepted before is a duplicate; a stage update counts in the cell and district of its
event's first accepted record; it knows its event's start (and a ticket's SLA) only when the first-stage
record came before it. For history the simulator hands over whole hour chunks, in which every record of an
event is present, so the same rules are a few sorts and lookups over arrays: no Python per record. What
the records then count is the ledger's own function (:func:`metrics.ledger.measure_columns`, called by
:mod:`streams.history`); the sums per bucket, entity and category (:func:`sum_counters`) follow the
ledger's rules on integer codes. ``tests/test_history.py`` writes the same hours both ways and compares
every key.

Also here: Kafka's default partitioner (murmur2) over many keys at once, so history lands in the
partition each event's later records will reach through Kafka.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from metrics.keys import ALL_CATEGORIES, TIERS, TOTAL_MEASURES, Granularity, Scope
from metrics.ledger import DEFAULT_SLA_HOURS, first_of_each_stage, first_stage_before

__all__ = ["CounterWrite", "Decided", "FieldNames", "decide", "kafka_partitions", "murmur2", "sum_counters"]

_M = np.uint32(0x5BD1E995)
_SEED = 0x9747B28C


def murmur2(keys: list[bytes]) -> np.ndarray:
    """Kafka's murmur2 hash (as ``kafka.partitioner.default.murmur2``) of each key, uint32, vectorised
    over keys of equal length (keys are grouped by length)."""
    out = np.zeros(len(keys), dtype=np.uint32)
    if not keys:
        return out
    lengths = np.fromiter(map(len, keys), dtype=np.int64, count=len(keys))
    for length in np.unique(lengths).tolist():
        rows = np.flatnonzero(lengths == length)
        data = np.frombuffer(b"".join(keys[i] for i in rows.tolist()), dtype=np.uint8).reshape(len(rows), length)
        out[rows] = _murmur2_fixed(data, length)
    return out


def _murmur2_fixed(data: np.ndarray, length: int) -> np.ndarray:
    with np.errstate(over="ignore"):
        h = np.full(data.shape[0], (_SEED ^ length) & 0xFFFFFFFF, dtype=np.uint32)
        words = length // 4
        if words:
            k_all = np.ascontiguousarray(data[:, : words * 4]).view("<u4")
            for i in range(words):
                k = k_all[:, i].astype(np.uint32) * _M
                k ^= k >> np.uint32(24)
                k *= _M
                h *= _M
                h ^= k
        tail = length & 3
        base = length & ~3
        if tail >= 3:
            h ^= data[:, base + 2].astype(np.uint32) << np.uint32(16)
        if tail >= 2:
            h ^= data[:, base + 1].astype(np.uint32) << np.uint32(8)
        if tail >= 1:
            h ^= data[:, base].astype(np.uint32)
            h *= _M
        h ^= h >> np.uint32(13)
        h *= _M
        h ^= h >> np.uint32(15)
    return h


def kafka_partitions(keys: list[bytes], partitions: int) -> np.ndarray:
    """The partition Kafka's default partitioner picks for each key (``streams.backfill.kafka_partition``)."""
    return ((murmur2(keys) & np.uint32(0x7FFFFFFF)) % np.uint32(partitions)).astype(np.int64)


@dataclass(frozen=True)
class Decided:
    """What the sequential pass decides for records in processing order (arrays over the records).

    Attributes:
        new: accepted and not a duplicate (counted).
        duplicate: accepted by validation, but its (event, stage) was accepted before.
        started: for a counted record, the event time of its event's first-stage record when that was
            counted before it, else NaN (what ``_Accepted.started`` holds in the ledger); NaN for others.
        sla_hours: for a counted record, the SLA its event's first-stage record carried when counted
            before it, else the default (``_Accepted.sla_hours``); the default for others.
    """

    new: np.ndarray
    duplicate: np.ndarray
    started: np.ndarray
    sla_hours: np.ndarray


def decide(event: np.ndarray, stage_no: np.ndarray, ts: np.ndarray, sla_hours: np.ndarray,
           valid: np.ndarray) -> Decided:
    """The ledger's sequential pass over a chunk's records, in processing order, with no prior states.

    Args:
        event: event index of each record (all records of an event are in the chunk).
        stage_no: stage of each record, 0 = the stream's first stage.
        ts: event time of each record.
        sla_hours: the record's ``sla_hours`` (NaN when absent).
        valid: the record passed validation and placement (rejected records count nothing).
    """
    n = len(event)
    valid_rows = np.flatnonzero(valid)
    new = np.zeros(n, dtype=bool)
    new[valid_rows[first_of_each_stage(event[valid_rows], stage_no[valid_rows])]] = True
    duplicate = valid & ~new
    counted = np.flatnonzero(new)
    _, first_ts, first_sla = first_stage_before(event[counted], stage_no[counted], ts[counted],
                                                sla_hours[counted])
    started = np.full(n, np.nan)
    started[counted] = first_ts
    sla = np.full(n, DEFAULT_SLA_HOURS)
    sla[counted] = np.where(np.isnan(first_sla), DEFAULT_SLA_HOURS, first_sla)
    return Decided(new, duplicate, started, sla)


@dataclass(frozen=True)
class CounterWrite:
    """Increments of one counter hash: ``metrics.keys.Keys.counters(stream, partition, tier, scope,
    bucket)``, fields ``entity|category|measure``."""

    partition: int
    tier: Granularity
    scope: Scope
    bucket: int
    fields: np.ndarray
    increments: np.ndarray


def sum_counters(*, partition: np.ndarray, ts: np.ndarray, grid: np.ndarray, district: np.ndarray,
                 category: np.ndarray, names: tuple[str, ...], values: np.ndarray, now: float,
                 grid_names: np.ndarray, district_names: np.ndarray, category_names: np.ndarray,
                 field_names: FieldNames | None = None) -> list[CounterWrite]:
    """Sum measures per partition, tier, scope, bucket, entity and category, as
    :func:`metrics.ledger.plan_batch` does per batch (same buckets, retention cut, measures per tier and
    scope, zero sums left out), over integer codes: ``grid`` indexes ``grid_names`` (-1: no cell),
    ``district`` indexes ``district_names``, ``category`` indexes ``category_names``. ``field_names``
    keeps the field strings made so far (the same cells and categories recur every hour)."""
    out: list[CounterWrite] = []
    for tier in TIERS.values():
        if tier.name == "1d":
            bucket = (np.floor((ts + _DAY_OFFSET) / 86400) * 86400 - _DAY_OFFSET).astype(np.int64)
        else:
            bucket = (np.floor(ts / tier.seconds) * tier.seconds).astype(np.int64)
        alive = bucket + tier.seconds + tier.retention_s > now
        if tier.detailed:
            cats, cat_names = category, np.asarray(category_names, dtype=object)
        else:
            cats, cat_names = np.zeros(len(ts), dtype=np.int64), np.array([ALL_CATEGORIES], dtype=object)
        measures_here = [j for j, m in enumerate(names) if tier.detailed or m in TOTAL_MEASURES]
        for scope in tier.scopes:
            rows = np.flatnonzero(alive & (grid >= 0)) if scope == "g" else np.flatnonzero(alive)
            if not len(rows):
                continue
            entity = grid[rows] if scope == "g" else district[rows]
            entity_names = np.asarray(grid_names if scope == "g" else district_names, dtype=object)
            b_values, b_codes = np.unique(bucket[rows], return_inverse=True)
            n_ent, n_cat = len(entity_names), len(cat_names)
            combo = ((partition[rows].astype(np.int64) * len(b_values) + b_codes) * n_ent
                     + entity) * n_cat + cats[rows]
            groups, inverse = np.unique(combo, return_inverse=True)
            g_cat = groups % n_cat
            g_ent = (groups // n_cat) % n_ent
            g_bucket = (groups // (n_cat * n_ent)) % len(b_values)
            g_part = groups // (n_cat * n_ent * len(b_values))
            table = field_names.table(scope, entity_names, cat_names, names) if field_names else None
            prefixes = None if table is not None else entity_names[g_ent] + "|" + cat_names[g_cat] + "|"
            pieces_g: list[np.ndarray] = []
            pieces_f: list[np.ndarray] = []
            pieces_v: list[np.ndarray] = []
            for j in measures_here:
                if scope == "g" and names[j] == "rec":
                    continue  # ``rec`` feeds the district figures and /stats only
                summed = np.rint(np.bincount(inverse, weights=values[rows, j], minlength=len(groups)))
                nonzero = np.flatnonzero(summed)
                pieces_g.append(nonzero)
                if table is not None:
                    pieces_f.append(table.get((g_ent[nonzero] * n_cat + g_cat[nonzero]) * len(names) + j))
                else:
                    assert prefixes is not None
                    pieces_f.append(prefixes[nonzero] + names[j])
                pieces_v.append(summed[nonzero].astype(np.int64))
            g = np.concatenate(pieces_g) if pieces_g else np.zeros(0, dtype=np.int64)
            if not len(g):
                continue
            fields = np.concatenate(pieces_f)
            increments = np.concatenate(pieces_v)
            key = g_part[g] * len(b_values) + g_bucket[g]
            order = np.argsort(key, kind="stable")
            key, fields, increments = key[order], fields[order], increments[order]
            cuts = np.flatnonzero(np.diff(key)) + 1
            for lo, hi in zip(np.r_[0, cuts], np.r_[cuts, len(key)], strict=True):
                k = int(key[lo])
                out.append(CounterWrite(k // len(b_values), tier.name, scope, int(b_values[k % len(b_values)]),
                                        fields[lo:hi], increments[lo:hi]))
    return out


_DAY_OFFSET = -TIERS["1d"].bucket_start(0)


class _FieldTable:
    """Field strings ``entity|category|measure`` by code, made once each."""

    def __init__(self, entity_names: np.ndarray, cat_names: np.ndarray, names: tuple[str, ...]) -> None:
        self.entity_names = np.asarray(entity_names, dtype=object)
        self.cat_names = np.asarray(cat_names, dtype=object)
        self.names = np.asarray(names, dtype=object)
        self.strings = np.full(len(entity_names) * len(cat_names) * len(names), None, dtype=object)

    def get(self, codes: np.ndarray) -> np.ndarray:
        out = self.strings[codes]
        missing = np.flatnonzero(np.equal(out, None))
        if len(missing):
            new = np.unique(codes[missing])
            n_meas, n_cat = len(self.names), len(self.cat_names)
            self.strings[new] = (self.entity_names[new // (n_meas * n_cat)] + "|"
                                 + self.cat_names[(new // n_meas) % n_cat] + "|" + self.names[new % n_meas])
            out = self.strings[codes]
        return out


class FieldNames:
    """The field-string tables of one stream's counters, one per scope and measure set (see
    :func:`sum_counters`)."""

    def __init__(self) -> None:
        self._tables: dict[tuple[str, int, tuple[str, ...]], _FieldTable] = {}

    def table(self, scope: str, entity_names: np.ndarray, cat_names: np.ndarray,
              names: tuple[str, ...]) -> _FieldTable:
        key = (scope, len(cat_names), names)
        table = self._tables.get(key)
        if table is None:
            table = self._tables[key] = _FieldTable(entity_names, cat_names, names)
        return table
