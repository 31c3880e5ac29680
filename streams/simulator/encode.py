"""Turn an hour's events and stage records into contract §1 JSON records, with a real feed's defects.

Each record is a dict in contract field order, encoded with msgspec. Then, per record, with the shares
of :class:`SimParams`: a few positions are sent in WGS-84 or BD-09 (converted with :mod:`geo.datum`),
some are sent late (their emit time trails the event time by minutes to hours), some twice (an exact
resend), and a few are replaced by a broken version. Scenario events are never broken, so every
ground-truth label points at a record that arrives intact.

The result is an :class:`EmitBatch` per stage: records with their emit time and a total order key, so
the runner can interleave hours and streams deterministically.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from itertools import repeat
from typing import Any, Final

import msgspec
import numpy as np
from msgspec import UnsetType

from geo.datum import gcj02_to_bd09, gcj02_to_wgs84
from streams.simulator.lifecycle import StageRecords
from streams.simulator.model import (
    LOCAL_OFFSET_S,
    P_DEFECTS,
    STREAM_CODE,
    HourStream,
    SimParams,
    hour_rng,
)
from streams.simulator.profiles import CATEGORY_ORDER, TEXT_SPOTS, TEXT_TEMPLATES
from streams.simulator.world import World

__all__ = ["MALFORMED_KINDS", "EmitBatch", "StageColumns", "encode_hour", "iso_local"]

ID_PREFIX: Final[dict[str, str]] = {
    "incidents": "INC",
    "surveillance": "SV",
    "hotline": "HL",
    "hazards": "HZ",
}

MALFORMED_KINDS: Final[tuple[tuple[str, float], ...]] = (
    ("not_json", 0.25),
    ("missing_field", 0.20),
    ("bad_value", 0.20),
    ("unknown_category", 0.15),
    ("bad_type", 0.10),
    ("bad_timestamp", 0.10),
)
"""Kinds of deliberately broken record and their shares; each names the reason a consumer should give."""

_KIND_NAMES: Final = tuple(k for k, _ in MALFORMED_KINDS)
_KIND_CUM: Final = np.cumsum([p for _, p in MALFORMED_KINDS])
_ENCODER: Final = msgspec.json.Encoder()
_SEQ_TEXT: Final = [f"{i:05d}" for i in range(100000)]
_STAGE_BITS: Final = 3
_SEQ_BITS: Final = 20


@dataclass
class EmitBatch:
    """Encoded records of one stage of one hour chunk, in seq order, duplicates appended at the end.

    Attributes:
        stream: the records' stream.
        emit: when each record is sent (epoch seconds, int64); ≥ its event time.
        order: total order key among records with the same emit time (chunk, stream, stage, seq, copy).
        keys: record keys (the event id), an object array of str.
        values: record values (UTF-8 JSON, or broken bytes where ``malformed``), an object array of bytes.
        first: record is in the stream's first stage (an event) and not a resend.
        malformed, duplicate, late: the record's defects.
        truth: position in the batch -> ground-truth row, for scenario events' first records.
    """

    stream: str
    emit: np.ndarray
    order: np.ndarray
    keys: np.ndarray
    values: np.ndarray
    first: np.ndarray
    malformed: np.ndarray
    duplicate: np.ndarray
    late: np.ndarray
    truth: dict[int, dict[str, Any]] = field(default_factory=dict)
    columns: StageColumns | None = None

    def __len__(self) -> int:
        return len(self.keys)


@dataclass
class StageColumns:
    """The records of an :class:`EmitBatch` as columns, in the batch's order (``encode_hour(columnar=True)``).

    Attributes:
        stage, stage_no: the stage and its position in ``STAGES[stream]``.
        event: index of each record's event in the hour chunk's ``EventFrame``.
        ts: event time (epoch seconds, int64).
        lon, lat: position as sent (in the record's datum, rounded to 6 decimals); NaN without one.
        crs: the record's datum: 0 GCJ-02, 1 WGS-84, 2 BD-09.
        district: the district code a record without position carries, else None.
        category: category codes (positions in ``CATEGORY_ORDER[stream]``).
        fields: the stage's stream-specific fields (``StageRecords.fields``), one value per record.
        encode: the JSON of the records at the given positions, as ``encode_hour`` would send them.
    """

    stage: str
    stage_no: int
    event: np.ndarray
    ts: np.ndarray
    lon: np.ndarray
    lat: np.ndarray
    crs: np.ndarray
    district: np.ndarray
    category: np.ndarray
    fields: dict[str, np.ndarray]
    encode: Callable[[np.ndarray], list[bytes]]


def _objects(items: list[bytes]) -> np.ndarray:
    """An object array holding ``items`` as they are (numpy would otherwise make a bytes array)."""
    out = np.empty(len(items), dtype=object)
    out[:] = items
    return out


_CLOCK: Final = np.array(
    [f"{s // 3600:02d}:{s // 60 % 60:02d}:{s % 60:02d}+08:00" for s in range(86400)], dtype=object
)


def iso_local(ts: np.ndarray) -> list[str]:
    """ISO 8601 strings in Asia/Shanghai time with an explicit ``+08:00`` offset (second precision).

    >>> iso_local(np.array([1795600800]))
    ['2026-11-25T18:00:00+08:00']
    """
    local = np.asarray(ts, dtype=np.int64) + LOCAL_OFFSET_S
    day = local // 86400
    days, which = np.unique(day, return_inverse=True)
    # a table of the day's dates and one of the 86,400 clock times: cheaper than formatting each time
    dates = np.array([f"{d}T" for d in days.astype("datetime64[D]").astype(str).tolist()], dtype=object)
    return (dates[which] + _CLOCK[local - day * 86400]).tolist()


def _ids(stream: str, hour: int, n: int) -> np.ndarray:
    tag = np.datetime_as_string(np.datetime64(hour * 3600 + LOCAL_OFFSET_S, "s"), unit="h").replace("-", "")
    prefix = f"{ID_PREFIX[stream]}{tag.replace('T', '')}"
    return np.array(
        [prefix + suffix for suffix in _SEQ_TEXT[:n]]
        if n <= len(_SEQ_TEXT)
        else [f"{prefix}{i:05d}" for i in range(n)],
        dtype=object,
    )


def _corrupt(rec: Any, stream: str, kind: str, rng: np.random.Generator) -> bytes:
    """A broken copy of a record, of the given kind (see MALFORMED_KINDS)."""
    r = as_dict(rec)
    if kind == "not_json":
        raw = _ENCODER.encode(r)
        return raw[: int(rng.integers(1, len(raw) - 1))]
    if kind == "missing_field":
        required = {"incidents": "severity", "surveillance": "camera_id", "hazards": "grade", "hotline": "id"}
        victim = ("category", "id", "ts", required[stream])[int(rng.integers(0, 4))]
        r.pop(victim, None)
    elif kind == "bad_type":
        if stream == "incidents":
            r["severity"] = "high"
        elif stream == "surveillance":
            r["confidence"] = str(r["confidence"])
        else:
            r["category"] = [r["category"]]
    elif kind == "bad_value":
        if stream == "incidents":
            r["severity"] = int(rng.choice([0, 5, 7, 9]))
        elif stream == "surveillance":
            r["confidence"] = float(rng.choice([1.7, -0.2, 95.0]))
        elif "lat" in r:
            r["lat"] = float(np.round(r["lat"] + 100.0, 6))  # a swapped or mistyped latitude
        else:
            r["stage"] = "finished"
    elif kind == "unknown_category":
        cat = r["category"]
        r["category"] = (cat.upper(), cat.replace("_", " ") + " complaint", cat + "s")[
            int(rng.integers(0, 3))
        ]
    elif kind == "bad_timestamp":
        r["ts"] = r["ts"][:19].replace("T", " ")  # local time without an offset
    return _ENCODER.encode(r)


def _texts(rng: np.random.Generator, categories: list[str], districts: list[str]) -> list[str]:
    out = []
    picks = rng.integers(0, 1 << 30, (len(categories), 3)).tolist()
    for cat, area, (a, b, c) in zip(categories, districts, picks, strict=True):
        templates = TEXT_TEMPLATES.get(cat, TEXT_TEMPLATES["other"])
        out.append(
            templates[a % len(templates)].format(area=area, spot=TEXT_SPOTS[b % len(TEXT_SPOTS)], n=c % 9 + 1)
        )
    return out


_U: Final = msgspec.UNSET


class _Common(msgspec.Struct, omit_defaults=True):
    """Fields of every stream, in contract order; UNSET fields are left out of the JSON."""

    id: str
    stage: str | UnsetType = _U
    ts: str | UnsetType = _U
    lon: float | UnsetType = _U
    lat: float | UnsetType = _U
    category: str | UnsetType = _U
    crs: str | UnsetType = _U
    district: str | UnsetType = _U


class _Incident(_Common, omit_defaults=True):
    severity: int | UnsetType = _U


class _Alert(_Common, omit_defaults=True):
    camera_id: str | UnsetType = _U
    confidence: float | UnsetType = _U
    verified: bool | UnsetType = _U


class _Ticket(_Common, omit_defaults=True):
    sla_hours: float | UnsetType = _U
    satisfaction: int | UnsetType = _U
    caller_phone: str | UnsetType = _U
    text: str | UnsetType = _U


class _Hazard(_Common, omit_defaults=True):
    grade: str | UnsetType = _U
    due: str | UnsetType = _U


_STRUCT: Final[dict[str, tuple[type[_Common], tuple[str, ...]]]] = {
    "incidents": (_Incident, ("severity",)),
    "surveillance": (_Alert, ("camera_id", "confidence", "verified")),
    "hotline": (_Ticket, ("sla_hours", "satisfaction")),
    "hazards": (_Hazard, ("grade", "due")),
}
"""Stream -> record struct and the stage fields passed to it positionally (after ``district``)."""


def as_dict(rec: _Common) -> dict[str, Any]:
    """A record struct as a plain dict without its unset fields."""
    return {k: v for k, v in msgspec.structs.asdict(rec).items() if v is not _U}


@dataclass
class _StageDraws:
    """The per-record draws of one stage that only shape a record's JSON (not what it counts)."""

    omit_stage: np.ndarray | None = None
    phone: dict[int, str] = field(default_factory=dict)
    text: dict[int, str] = field(default_factory=dict)


def _stage_draws(
    hs: HourStream, st: StageRecords, world: World, params: SimParams, rng: np.random.Generator
) -> _StageDraws:
    """Draw a stage's JSON-only details (omitted ``stage``, caller phone, ticket text), in the fixed order
    the random stream of the hour requires."""
    draws = _StageDraws()
    m = len(st.idx)
    if st.stage_no == 0 and params.omit_stage_share > 0:
        draws.omit_stage = rng.random(m) < params.omit_stage_share
    if hs.stream == "hotline" and st.stage_no == 0 and m:
        _hotline_personal(draws, hs, st, world, params, rng)
    return draws


def _stage_records(
    hs: HourStream,
    st: StageRecords,
    world: World,
    ids: np.ndarray,
    positioned: np.ndarray,
    crs: np.ndarray,
    converted: tuple[np.ndarray, np.ndarray],
    draws: _StageDraws,
    rows: np.ndarray | None = None,
) -> list[Any]:
    """The record structs of a stage: every record, or only those at ``rows`` (positions in the stage)."""
    ev = hs.events
    rows = np.arange(len(st.idx)) if rows is None else np.asarray(rows, dtype=np.int64)
    idx = st.idx[rows]
    m = len(idx)
    pos = positioned[idx]
    lon = ev.lon[idx]
    lat = ev.lat[idx]
    datum = crs[idx]
    wgs = datum == 1
    bd = datum == 2
    if wgs.any() or bd.any():
        lon = np.where(datum > 0, converted[0][idx], lon)
        lat = np.where(datum > 0, converted[1][idx], lat)
    lon = np.round(lon, 6)
    lat = np.round(lat, 6)
    names = CATEGORY_ORDER[hs.stream]
    cats = [names[c] for c in ev.category[idx].tolist()]
    cls, field_names = _STRUCT[hs.stream]
    columns: list[Any] = []
    for name in field_names:
        values = st.fields.get(name)
        if values is None:
            columns.append(repeat(_U, m))
        elif name == "due":
            columns.append(iso_local(values[rows]))
        elif name == "sla_hours":
            columns.append([v if v == v else _U for v in values[rows].tolist()])  # NaN: SLA left out
        else:
            columns.append(values[rows].tolist())
    recs = [
        cls(*row)
        for row in zip(
            ids[idx].tolist(),
            repeat(st.stage, m),
            iso_local(st.ts[rows]),
            lon.tolist(),
            lat.tolist(),
            cats,
            repeat(_U, m),
            repeat(_U, m),
            *columns,
            strict=True,
        )
    ]
    for j in np.flatnonzero(wgs).tolist():
        recs[j].crs = "wgs84"
    for j in np.flatnonzero(bd).tolist():
        recs[j].crs = "bd09"
    if not pos.all():
        codes = world.districts.index.to_numpy()[ev.district[idx]]
        for j in np.flatnonzero(~pos).tolist():
            r = recs[j]
            r.lon = r.lat = _U
            r.district = str(codes[j])
    omit, phone, text = draws.omit_stage, draws.phone, draws.text
    for j, row in enumerate(rows.tolist()):
        if omit is not None and omit[row]:
            recs[j].stage = _U
        if row in phone:
            recs[j].caller_phone = phone[row]
        if row in text:
            recs[j].text = text[row]
    return recs


def _hotline_personal(
    draws: _StageDraws,
    hs: HourStream,
    st: StageRecords,
    world: World,
    params: SimParams,
    rng: np.random.Generator,
) -> None:
    idx = st.idx
    m = len(idx)
    ev = hs.events
    phone = np.flatnonzero(rng.random(m) < params.phone_share)
    drawn = np.searchsorted(world.caller_cum, rng.random(len(phone)) * world.caller_cum[-1], side="right")
    given = ev.caller[idx[phone]]
    who = np.where(given >= 0, given, np.minimum(drawn, len(world.callers) - 1))
    draws.phone = dict(zip(phone.tolist(), world.callers[who].tolist(), strict=True))
    texted = np.flatnonzero(rng.random(m) < params.text_share)
    names_zh = (
        world.districts["name_zh"].to_numpy() if "name_zh" in world.districts else world.districts.index
    )
    names = CATEGORY_ORDER[hs.stream]
    texts = _texts(
        rng,
        [names[c] for c in ev.category[idx[texted]].tolist()],
        [str(x) for x in np.asarray(names_zh)[ev.district[idx[texted]]].tolist()],
    )
    draws.text = dict(zip(texted.tolist(), texts, strict=True))


def encode_hour(
    hs: HourStream,
    world: World,
    params: SimParams,
    scenario_names: tuple[str, ...] = (),
    *,
    columnar: bool = False,
) -> list[EmitBatch]:
    """Encode one stream's hour chunk into emit batches (one per stage), defects applied.

    ``columnar``: leave the JSON out (``values`` holds only the broken records' bytes, None elsewhere) and
    give the records as :class:`StageColumns` instead, for the column-wise history writer. The random
    draws are the same either way, so both forms describe the same records.
    """
    rng = hour_rng(world.seed, hs.hour, hs.stream, P_DEFECTS)
    ev = hs.events
    n = len(ev)
    ids = _ids(hs.stream, hs.hour, n)
    positioned = np.ones(n, dtype=bool)
    if hs.stream == "hotline":
        positioned = (rng.random(n) >= params.district_only_share) | (ev.scenario >= 0)
    scenario_event = ev.scenario >= 0
    # a producer sends all stages of an event in one datum: 0 gcj02, 1 wgs84, 2 bd09
    u = rng.random(n)
    crs = np.where(
        positioned & (u < params.wgs84_share),
        1,
        np.where(positioned & (u >= params.wgs84_share) & (u < params.wgs84_share + params.bd09_share), 2, 0),
    )
    converted = (ev.lon.copy(), ev.lat.copy())
    for code, convert in ((1, gcj02_to_wgs84), (2, gcj02_to_bd09)):
        sel = np.flatnonzero(crs == code)
        if len(sel):
            converted[0][sel], converted[1][sel] = convert(ev.lon[sel], ev.lat[sel])
    out = []
    for st in hs.stages:
        m = len(st.idx)
        if m == 0:
            continue
        draws = _stage_draws(hs, st, world, params, rng)
        recs: list[Any] = []
        values: list[bytes | None]
        if columnar:
            values = [None] * m
        else:
            recs = _stage_records(hs, st, world, ids, positioned, crs, converted, draws)
            values = [_ENCODER.encode(r) for r in recs]
        emit = st.ts.copy()
        late = rng.random(m) < params.late_share
        delay = np.clip(1200.0 * np.exp(1.2 * rng.standard_normal(m)), 120, 12 * 3600).astype(np.int64)
        emit[late] += delay[late]
        malformed = (rng.random(m) < params.malformed_share) & ~scenario_event[st.idx]
        kinds = np.searchsorted(_KIND_CUM, rng.random(m) * _KIND_CUM[-1], side="right")
        bad_rows = np.flatnonzero(malformed)
        bad_recs = (
            _stage_records(hs, st, world, ids, positioned, crs, converted, draws, bad_rows)
            if columnar
            else [recs[j] for j in bad_rows.tolist()]
        )
        for j, rec in zip(bad_rows.tolist(), bad_recs, strict=True):
            values[j] = _corrupt(rec, hs.stream, _KIND_NAMES[min(kinds[j], len(_KIND_NAMES) - 1)], rng)
        dup = np.flatnonzero(rng.random(m) < params.duplicate_share)
        resend = np.maximum(1, rng.exponential(90.0, len(dup))).astype(np.int64)
        seq = st.idx.astype(np.int64)
        base = ((hs.hour << 3 | STREAM_CODE[hs.stream]) << _STAGE_BITS | st.stage_no) << _SEQ_BITS
        order = (base + seq) << 1
        keys = ids[st.idx]
        truth = {}
        if st.stage_no == 0 and scenario_event.any():
            for j in np.flatnonzero(scenario_event[st.idx]).tolist():
                e = int(st.idx[j])
                truth[j] = {
                    "stream": hs.stream,
                    "id": keys[j],
                    "scenario": scenario_names[int(ev.scenario[e])],
                    "grid_id": str(world.cell_ids[ev.cell[e]]),
                    "district_code": str(world.districts.index[ev.district[e]]),
                    "ts": iso_local(st.ts[j : j + 1])[0],
                }
        columns = None
        if columnar:
            columns = _stage_columns(hs, st, world, ids, positioned, crs, converted, draws, dup)
        out.append(
            EmitBatch(
                stream=hs.stream,
                emit=np.concatenate([emit, emit[dup] + resend]),
                order=np.concatenate([order, order[dup] + 1]),
                keys=np.concatenate([keys, keys[dup]]),
                values=np.concatenate([_objects(values), _objects(values)[dup]])
                if len(dup)
                else _objects(values),
                first=np.concatenate([np.full(m, st.stage_no == 0), np.zeros(len(dup), dtype=bool)]),
                malformed=np.concatenate([malformed, malformed[dup]]),
                duplicate=np.concatenate([np.zeros(m, dtype=bool), np.ones(len(dup), dtype=bool)]),
                late=np.concatenate([late, late[dup]]),
                truth=truth,
                columns=columns,
            )
        )
    return out


def _stage_columns(
    hs: HourStream,
    st: StageRecords,
    world: World,
    ids: np.ndarray,
    positioned: np.ndarray,
    crs: np.ndarray,
    converted: tuple[np.ndarray, np.ndarray],
    draws: _StageDraws,
    dup: np.ndarray,
) -> StageColumns:
    """A stage's records as columns (resends appended, as in the EmitBatch)."""
    rows = np.concatenate([np.arange(len(st.idx)), dup])
    idx = st.idx[rows]
    datum = crs[idx]
    lon = np.round(np.where(datum > 0, converted[0][idx], hs.events.lon[idx]), 6)
    lat = np.round(np.where(datum > 0, converted[1][idx], hs.events.lat[idx]), 6)
    pos = positioned[idx]
    lon[~pos] = np.nan
    lat[~pos] = np.nan
    district = np.full(len(rows), None, dtype=object)
    if not pos.all():
        codes = world.districts.index.to_numpy(dtype=object)[hs.events.district[idx]]
        district[~pos] = codes[~pos]

    def encode(which: np.ndarray) -> list[bytes]:
        recs = _stage_records(hs, st, world, ids, positioned, crs, converted, draws, rows[which])
        return [_ENCODER.encode(r) for r in recs]

    return StageColumns(
        stage=st.stage,
        stage_no=st.stage_no,
        event=idx,
        ts=st.ts[rows],
        lon=lon,
        lat=lat,
        crs=datum,
        district=district,
        category=hs.events.category[idx],
        fields={name: values[rows] for name, values in st.fields.items()},
        encode=encode,
    )
