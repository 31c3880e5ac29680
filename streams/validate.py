"""Validation of raw Kafka values into :class:`streams.schemas.Event` objects (contracts §1).

Two paths give the same answer:

* The fast path decodes each value with a typed msgspec decoder per stream, in which every type, range,
  vocabulary and timestamp-format rule is declared, so msgspec checks it natively; Python then only checks
  the rules that depend on several fields (position or district, stage-dependent fields), district
  membership and the time window. It either accepts a record or gives up.
* The precise path (for every record the fast path gave up on) decodes to plain Python objects and checks
  field by field, in the contract's precedence order, to name the *first* reason of a faulty record. It also
  accepts the few valid records the fast path is too strict for (e.g. ISO 8601 forms beyond RFC 3339).

Decisions the contract leaves open, applied by both paths:

* A JSON ``null`` counts as an absent field: a null required field is ``missing_field``; a null optional
  field is ignored (``"crs": null`` means the default datum, ``"stage": null`` the first stage).
* Integer fields (``severity``, ``satisfaction``) need a JSON integer: ``3.0`` is ``bad_type``. Booleans are
  never numbers. Numbers given as strings are ``bad_type``.
* A number literal too large for a float (``1e400``) is valid JSON, read as infinity: ``bad_value`` where
  a number is checked, ignored elsewhere. A JSON string holding a lone UTF-16 surrogate (``"\\ud800"``) is
  not valid Unicode text and is ``not_json``.
* ``id`` is 1–64 characters and ``camera_id`` 1–128 (an empty or longer one is ``bad_value``); ``text`` is at
  most 2,000 characters (code points). ``text`` is kept as sent — SQL, HTML, anything: it is untrusted and
  must never be rendered as HTML or interpolated into a query downstream.
* ``lon`` without ``lat`` (or the reverse) is ``missing_field`` unless ``district`` is given; then the lone
  coordinate is still type- and range-checked but dropped, and the event is placed by district only.
* ``ts`` and ``due`` accept RFC 3339 and the ISO 8601 forms :meth:`datetime.fromisoformat` reads (basic
  format, week dates, ``+08`` offsets), always with an explicit offset or ``Z``; without one it is
  ``bad_timestamp``. Only ``ts`` is checked against the clock (``due`` is a deadline, usually ahead).
* ``caller_phone`` is reduced to a keyed hash and a mask (:mod:`streams.pii`) and never kept; one with no
  digit at all (withheld) is treated as absent. No rejection detail ever contains it or ``text``.
* Fields not named for the record's stream are ignored, whatever their value (a ``severity`` on a hotline
  record, a ``caller_phone`` on an incident).
* ``outside_city`` is in :data:`REASONS` but never decided here: placing a position needs the city model,
  so the consumer rejects with it after :func:`geo.city.CityModel.assign`. Duplicates are the ledger's job.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Annotated, Any, Final, Literal

import msgspec
import numpy as np

from geo.datum import bd09_to_gcj02, wgs84_to_gcj02
from streams.pii import CallerHasher, mask_phone, normalise_phone
from streams.schemas import (
    CATEGORIES,
    CRS_VALUES,
    DEFAULT_CRS,
    DUE_REQUIRED_STAGES,
    FIRST_STAGE,
    GRADES,
    STAGES,
    STREAMS,
    Event,
)

__all__ = [
    "MAX_CAMERA_ID_CHARS",
    "MAX_ID_CHARS",
    "MAX_TEXT_CHARS",
    "MAX_VALUE_BYTES",
    "REASONS",
    "Rejection",
    "parse_timestamp",
    "validate_batch",
]

REASONS: Final[tuple[str, ...]] = (
    "too_large",
    "not_json",
    "not_object",
    "missing_field",
    "bad_type",
    "bad_value",
    "unknown_category",
    "bad_timestamp",
    "future_timestamp",
    "too_old",
    "outside_city",
)
"""Rejection reason codes in precedence order: a record with several faults gets the first."""

MAX_VALUE_BYTES: Final = 65536  # 64 KiB; larger values are too_large
MAX_ID_CHARS: Final = 64
MAX_CAMERA_ID_CHARS: Final = 128
MAX_TEXT_CHARS: Final = 2000
_DETAIL_VALUE_CHARS = 40  # how much of an offending value a rejection detail may quote


class Rejection(msgspec.Struct, frozen=True):
    """A record that was not accepted.

    Attributes:
        index: position of the record in the batch given to :func:`validate_batch`.
        reason: one of :data:`REASONS`.
        detail: a short human explanation; never contains ``caller_phone`` or ``text``.
    """

    index: int
    reason: str
    detail: str


# --------------------------------------------------------------------------------------------------
# fast path: typed decoders


def _literal(values: Sequence[str]) -> Any:
    return Literal[tuple(sorted(values))]  # type: ignore[valid-type]


_Ts = Annotated[datetime, msgspec.Meta(tz=True)]
_COMMON_FIELDS: list[tuple[str, Any] | tuple[str, Any, Any]] = [
    ("id", Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_ID_CHARS)]),
    ("ts", _Ts),
    ("lon", Annotated[float, msgspec.Meta(ge=-180.0, le=180.0)] | None, None),
    ("lat", Annotated[float, msgspec.Meta(ge=-90.0, le=90.0)] | None, None),
    ("crs", _literal(CRS_VALUES) | None, None),
    ("district", str | None, None),
]
_STREAM_FIELDS: dict[str, list[tuple[str, Any] | tuple[str, Any, Any]]] = {
    "incidents": [("severity", Annotated[int, msgspec.Meta(ge=1, le=4)])],
    "surveillance": [
        ("camera_id", Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_CAMERA_ID_CHARS)]),
        ("confidence", Annotated[float, msgspec.Meta(ge=0.0, le=1.0)]),
        ("verified", bool | None, None),
    ],
    "hotline": [
        ("satisfaction", Annotated[int, msgspec.Meta(ge=1, le=5)] | None, None),
        ("sla_hours", Annotated[float, msgspec.Meta(gt=0.0)] | None, None),
        ("caller_phone", str | None, None),
        ("text", Annotated[str, msgspec.Meta(max_length=MAX_TEXT_CHARS)] | None, None),
    ],
    "hazards": [("grade", _literal(GRADES)), ("due", _Ts | None, None)],
}


def _fast_struct(stream: str) -> type[msgspec.Struct]:
    fields = [
        *_COMMON_FIELDS,
        ("category", _literal(sorted(CATEGORIES[stream]))),
        ("stage", _literal(STAGES[stream]) | None, None),
        *_STREAM_FIELDS[stream],
    ]
    return msgspec.defstruct(f"_Fast{stream.title()}", fields, kw_only=True)


_FAST_DECODERS: Final[dict[str, msgspec.json.Decoder[Any]]] = {
    stream: msgspec.json.Decoder(_fast_struct(stream)) for stream in STREAMS
}

# The precise path reads numbers too large for a float as infinity instead of failing, so such a literal
# in an ignored field does not make an otherwise valid record not_json (the typed decoder skips it).
_PLAIN_DECODER: Final = msgspec.json.Decoder(float_hook=float)

# What the precise path returns: the event with lon/lat still in the record's datum, and that datum.
_Accepted = tuple[Event, str]


_NINE_NONES: Final = (None,) * 9  # Event's fields from severity to text, between category and grade


def _make_fast(
    stream: str, max_ts: float, min_ts: float, district_codes: frozenset[str], hasher: CallerHasher
) -> Callable[[Any], Event | None]:
    """The per-batch Python half of the fast path: cross-field rules, membership, the clock window.

    Returns a function of one decoded fast-path struct giving its Event (lon/lat still in the record's
    datum) or None when the precise path must decide. The common checks are repeated in each stream's
    function rather than shared because a call per record costs a measurable share of the budget; for the
    same reason events are made with positional arguments (in :class:`Event`'s field order).
    """
    first = FIRST_STAGE[stream]

    def incidents(rec: Any) -> Event | None:
        lon, lat, district = rec.lon, rec.lat, rec.district
        if district is not None and district not in district_codes:
            return None
        if lon is None or lat is None:
            if district is None:
                return None
            lon = lat = None
        ts = rec.ts.timestamp()
        if ts > max_ts or ts < min_ts:
            return None
        return Event(stream, rec.id, rec.stage or first, ts, lon, lat, district, rec.category, rec.severity)

    def surveillance(rec: Any) -> Event | None:
        lon, lat, district = rec.lon, rec.lat, rec.district
        if district is not None and district not in district_codes:
            return None
        if lon is None or lat is None:
            if district is None:
                return None
            lon = lat = None
        ts = rec.ts.timestamp()
        if ts > max_ts or ts < min_ts:
            return None
        return Event(
            stream, rec.id, rec.stage or first, ts, lon, lat, district, rec.category,
            None, rec.camera_id, rec.confidence, rec.verified,
        )  # fmt: skip

    def hotline(rec: Any) -> Event | None:
        lon, lat, district = rec.lon, rec.lat, rec.district
        if district is not None and district not in district_codes:
            return None
        if lon is None or lat is None:
            if district is None:
                return None
            lon = lat = None
        ts = rec.ts.timestamp()
        if ts > max_ts or ts < min_ts:
            return None
        stage = rec.stage or first
        if stage == "rated" and rec.satisfaction is None:
            return None
        phone_hash = phone_mask = None
        if rec.caller_phone is not None:
            digits = normalise_phone(rec.caller_phone)
            if digits:
                phone_hash, phone_mask = hasher(digits), mask_phone(digits)
        return Event(
            stream, rec.id, stage, ts, lon, lat, district, rec.category,
            None, None, None, None, rec.satisfaction, rec.sla_hours, phone_hash, phone_mask, rec.text,
        )  # fmt: skip

    def hazards(rec: Any) -> Event | None:
        lon, lat, district = rec.lon, rec.lat, rec.district
        if district is not None and district not in district_codes:
            return None
        if lon is None or lat is None:
            if district is None:
                return None
            lon = lat = None
        ts = rec.ts.timestamp()
        if ts > max_ts or ts < min_ts:
            return None
        stage = rec.stage or first
        due = rec.due
        if due is None:
            if stage in DUE_REQUIRED_STAGES:
                return None
        else:
            due = due.timestamp()
        return Event(stream, rec.id, stage, ts, lon, lat, district, rec.category, *_NINE_NONES, rec.grade, due)

    by_stream: dict[str, Callable[[Any], Event | None]] = {
        "incidents": incidents,
        "surveillance": surveillance,
        "hotline": hotline,
        "hazards": hazards,
    }
    return by_stream[stream]


# --------------------------------------------------------------------------------------------------
# precise path


class _Reject(Exception):
    """Internal control flow of the precise path; never escapes this module."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(reason, detail)
        self.reason = reason
        self.detail = detail


_Kind = Literal["str", "number", "int", "bool"]
_KIND_WORDS: Final[dict[str, str]] = {
    "str": "a string",
    "number": "a number",
    "int": "an integer",
    "bool": "a boolean",
}
_COMMON_KINDS: Final[tuple[tuple[str, _Kind], ...]] = (
    ("id", "str"),
    ("ts", "str"),
    ("lon", "number"),
    ("lat", "number"),
    ("crs", "str"),
    ("district", "str"),
    ("category", "str"),
    ("stage", "str"),
)
_STREAM_KINDS: Final[dict[str, tuple[tuple[str, _Kind], ...]]] = {
    "incidents": (("severity", "int"),),
    "surveillance": (("camera_id", "str"), ("confidence", "number"), ("verified", "bool")),
    "hotline": (("satisfaction", "int"), ("sla_hours", "number"), ("caller_phone", "str"), ("text", "str")),
    "hazards": (("grade", "str"), ("due", "str")),
}
_ALWAYS_REQUIRED: Final[dict[str, tuple[str, ...]]] = {
    "incidents": ("severity",),
    "surveillance": ("camera_id", "confidence"),
    "hotline": (),
    "hazards": ("grade",),
}
_PERSONAL_FIELDS: Final = frozenset({"caller_phone", "text"})


def _json_type(value: Any) -> str:
    if value is True or value is False:
        return "boolean"
    return {int: "integer", float: "number", str: "string", list: "array", dict: "object"}.get(
        type(value), type(value).__name__
    )


def _has_kind(value: Any, kind: _Kind) -> bool:
    t = type(value)  # exact types: bool is a subclass of int but never a number here
    if kind == "str":
        return t is str
    if kind == "number":
        return t is int or t is float
    if kind == "int":
        return t is int
    return t is bool


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= _DETAIL_VALUE_CHARS else text[: _DETAIL_VALUE_CHARS - 1] + "…"


def _number_in(name: str, value: int | float, low: float, high: float, *, low_open: bool = False) -> float:
    """The value as a float when low ≤ value ≤ high (low < value when low_open), else bad_value."""
    try:
        number = float(value)
    except OverflowError:  # an integer literal with hundreds of digits
        number = math.inf if value > 0 else -math.inf
    below = number <= low if low_open else number < low
    if not math.isfinite(number) or below or number > high:
        bound = f"> {low:g}" if low_open else f"{low:g}–{high:g}"
        raise _Reject("bad_value", f"{name} {_show(value)} is out of range {bound}")
    return number


def parse_timestamp(text: str) -> float | None:
    """Seconds since the epoch (UTC) of an ISO 8601 time with an explicit offset, or None if it is not one.

    RFC 3339 first (what the fast path's decoder reads, so both paths agree to the microsecond), then the
    wider forms of :meth:`datetime.fromisoformat`; a time without offset is refused.
    """
    try:
        return msgspec.convert(text, _Ts).timestamp()
    except msgspec.ValidationError:
        pass
    if not text.isascii():  # fromisoformat would take any character as the date/time separator
        return None
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    if parsed.utcoffset() is None:
        return None
    return parsed.timestamp()


class _Precise:
    """The field-by-field validator; one per batch (holds the clock window, districts and PII key)."""

    def __init__(
        self, stream: str, max_ts: float, min_ts: float, district_codes: frozenset[str], hasher: CallerHasher
    ) -> None:
        self.stream = stream
        self.max_ts = max_ts
        self.min_ts = min_ts
        self.district_codes = district_codes
        self.hasher = hasher
        self.kinds = _COMMON_KINDS + _STREAM_KINDS[stream]

    def validate(self, value: object) -> _Accepted:
        """Accept one raw value or raise _Reject with the first reason by precedence."""
        raw = self._raw_bytes(value)
        if len(raw) > MAX_VALUE_BYTES:
            raise _Reject("too_large", f"value has {len(raw)} bytes, more than {MAX_VALUE_BYTES}")
        if not raw:
            raise _Reject("not_json", "value is empty")
        try:
            raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise _Reject("not_json", f"value is not UTF-8 (byte {exc.start})") from None
        try:
            obj = _PLAIN_DECODER.decode(raw)
        except msgspec.DecodeError as exc:
            raise _Reject("not_json", f"value is not JSON: {exc}") from None
        if type(obj) is not dict:
            raise _Reject("not_object", f"value is a JSON {_json_type(obj)}, not an object")
        # JSON null counts as absent everywhere
        rec = {k: v for k, v in obj.items() if v is not None}
        stage_given = rec.get("stage", FIRST_STAGE[self.stream])
        if type(stage_given) is not str:  # a bad_type stage, reported below; it requires nothing
            stage_given = ""
        self._check_present(rec, stage_given)
        self._check_types(rec)
        stage, lon, lat = self._check_values(rec)
        category = rec["category"]
        if category not in CATEGORIES[self.stream]:
            raise _Reject(
                "unknown_category", f"category {_show(category)} is not one of the {self.stream} categories"
            )
        ts = parse_timestamp(rec["ts"])
        if ts is None:
            raise _Reject("bad_timestamp", f"ts {_show(rec['ts'])} is not ISO 8601 with a UTC offset")
        due: float | None = None
        if self.stream == "hazards" and "due" in rec:
            due = parse_timestamp(rec["due"])
            if due is None:
                raise _Reject("bad_timestamp", f"due {_show(rec['due'])} is not ISO 8601 with a UTC offset")
        if ts > self.max_ts:
            raise _Reject(
                "future_timestamp",
                f"ts {_show(rec['ts'])} is {ts - self.max_ts:.0f} s beyond the tolerated lead on the clock",
            )
        if ts < self.min_ts:
            raise _Reject(
                "too_old",
                f"ts {_show(rec['ts'])} is {self.min_ts - ts:.0f} s older than the retention allows",
            )
        return self._event(rec, stage, ts, lon, lat, due), rec.get("crs", DEFAULT_CRS)

    @staticmethod
    def _raw_bytes(value: object) -> bytes:
        if value is None:
            raise _Reject("not_json", "value is null (a tombstone)")
        if isinstance(value, bytes):
            return value
        if isinstance(value, bytearray | memoryview):
            return bytes(value)
        raise _Reject("not_json", f"value is a Python {type(value).__name__}, not bytes")

    def _check_present(self, rec: dict[str, Any], stage: Any) -> None:
        for name in ("id", "ts", "category", *_ALWAYS_REQUIRED[self.stream]):
            if name not in rec:
                raise _Reject("missing_field", f"required field {name} is missing")
        if "district" not in rec:
            for name in ("lon", "lat"):
                if name not in rec:
                    raise _Reject("missing_field", f"{name} is missing and no district is given")
        if self.stream == "hotline" and stage == "rated" and "satisfaction" not in rec:
            raise _Reject("missing_field", "satisfaction is required on stage rated")
        if self.stream == "hazards" and stage in DUE_REQUIRED_STAGES and "due" not in rec:
            raise _Reject("missing_field", f"due is required on stage {stage}")

    def _check_types(self, rec: dict[str, Any]) -> None:
        for name, kind in self.kinds:
            if name in rec and not _has_kind(rec[name], kind):
                raise _Reject(
                    "bad_type", f"{name} must be {_KIND_WORDS[kind]}, got a JSON {_json_type(rec[name])}"
                )

    def _check_values(self, rec: dict[str, Any]) -> tuple[str, float | None, float | None]:
        """Range and vocabulary checks (not category); returns the stage and the position as floats."""
        record_id = rec["id"]
        if not 1 <= len(record_id) <= MAX_ID_CHARS:
            raise _Reject("bad_value", f"id has {len(record_id)} characters; it must have 1–{MAX_ID_CHARS}")
        crs = rec.get("crs", DEFAULT_CRS)
        if crs not in CRS_VALUES:
            raise _Reject("bad_value", f"crs {_show(crs)} is not one of {', '.join(CRS_VALUES)}")
        stage = rec.get("stage", FIRST_STAGE[self.stream])
        if stage not in STAGES[self.stream]:
            raise _Reject("bad_value", f"stage {_show(stage)} is not a {self.stream} stage")
        if "district" in rec:
            district = rec["district"]
            if not (len(district) == 6 and district.isascii() and district.isdigit()):
                raise _Reject("bad_value", f"district {_show(district)} is not a 6-digit code")
            if district not in self.district_codes:
                raise _Reject("bad_value", f"district {district} is not a district of the city")
        lon = _number_in("lon", rec["lon"], -180.0, 180.0) if "lon" in rec else None
        lat = _number_in("lat", rec["lat"], -90.0, 90.0) if "lat" in rec else None
        if lon is None or lat is None:  # a lone coordinate with a district: placed by district only
            lon = lat = None
        if self.stream == "incidents":
            _number_in("severity", rec["severity"], 1, 4)
        elif self.stream == "surveillance":
            camera_id = rec["camera_id"]
            if not 1 <= len(camera_id) <= MAX_CAMERA_ID_CHARS:
                raise _Reject(
                    "bad_value",
                    f"camera_id has {len(camera_id)} characters; it must have 1–{MAX_CAMERA_ID_CHARS}",
                )
            _number_in("confidence", rec["confidence"], 0.0, 1.0)
        elif self.stream == "hotline":
            if "satisfaction" in rec:
                _number_in("satisfaction", rec["satisfaction"], 1, 5)
            if "sla_hours" in rec:
                _number_in("sla_hours", rec["sla_hours"], 0.0, math.inf, low_open=True)
            if "text" in rec and len(rec["text"]) > MAX_TEXT_CHARS:
                raise _Reject(
                    "bad_value", f"text has {len(rec['text'])} characters, more than {MAX_TEXT_CHARS}"
                )
        elif self.stream == "hazards" and rec["grade"] not in GRADES:
            raise _Reject("bad_value", f"grade {_show(rec['grade'])} is not one of {', '.join(GRADES)}")
        return stage, lon, lat

    def _event(
        self,
        rec: dict[str, Any],
        stage: str,
        ts: float,
        lon: float | None,
        lat: float | None,
        due: float | None,
    ) -> Event:
        common = (self.stream, rec["id"], stage, ts, lon, lat, rec.get("district"), rec["category"])
        if self.stream == "incidents":
            return Event(*common, severity=rec["severity"])
        if self.stream == "surveillance":
            return Event(
                *common,
                camera_id=rec["camera_id"],
                confidence=float(rec["confidence"]),
                verified=rec.get("verified"),
            )
        if self.stream == "hotline":
            phone_hash = phone_mask = None
            if "caller_phone" in rec:
                digits = normalise_phone(rec["caller_phone"])
                if digits:
                    phone_hash, phone_mask = self.hasher(digits), mask_phone(digits)
            sla = rec.get("sla_hours")
            return Event(
                *common,
                satisfaction=rec.get("satisfaction"),
                sla_hours=None if sla is None else float(sla),
                caller_hash=phone_hash,
                caller_mask=phone_mask,
                text=rec.get("text"),
            )
        return Event(*common, grade=rec["grade"], due=due)


# --------------------------------------------------------------------------------------------------
# the batch


def validate_batch(
    stream: str,
    values: Sequence[bytes | None],
    *,
    now: float,
    retention_s: float,
    future_tolerance_s: float,
    district_codes: frozenset[str],
    pii_key: bytes,
) -> tuple[list[tuple[int, Event]], list[Rejection]]:
    """Validate one batch of raw record values of one stream; never raises for a bad record.

    Args:
        stream: ``incidents``, ``surveillance``, ``hotline`` or ``hazards``.
        values: raw Kafka record values (UTF-8 JSON bytes); ``None`` (a tombstone) is rejected not_json.
        now: the consumer's clock, seconds since the epoch (UTC).
        retention_s: events with ``ts`` older than ``now - retention_s`` seconds are ``too_old``.
        future_tolerance_s: events with ``ts`` later than ``now + future_tolerance_s`` seconds are
            ``future_timestamp``.
        district_codes: the city's 6-digit district codes; any other ``district`` is ``bad_value``.
        pii_key: secret key of the caller-phone HMAC.

    Returns:
        ``(accepted, rejected)``: accepted ``(index, event)`` pairs in input order, with positions in
        GCJ-02, and one :class:`Rejection` per refused record, in input order. ``outside_city`` is never
        given here (see the module docstring).

    Raises:
        ValueError: ``stream`` is not one of the four streams (a programming error, not a bad record).
    """
    return _validate_batch(
        stream,
        values,
        now=now,
        retention_s=retention_s,
        future_tolerance_s=future_tolerance_s,
        district_codes=district_codes,
        pii_key=pii_key,
        use_fast_path=True,
    )


def _validate_batch(
    stream: str,
    values: Sequence[bytes | None],
    *,
    now: float,
    retention_s: float,
    future_tolerance_s: float,
    district_codes: frozenset[str],
    pii_key: bytes,
    use_fast_path: bool,
) -> tuple[list[tuple[int, Event]], list[Rejection]]:
    if stream not in STREAMS:
        raise ValueError(f"unknown stream {stream!r}; expected one of {', '.join(STREAMS)}")
    max_ts = now + future_tolerance_s
    min_ts = now - retention_s
    decode = _FAST_DECODERS[stream].decode
    hasher = CallerHasher(pii_key)
    fast = _make_fast(stream, max_ts, min_ts, district_codes, hasher)
    precise = _Precise(stream, max_ts, min_ts, district_codes, hasher)
    fast_errors = (msgspec.DecodeError, UnicodeDecodeError)  # ValidationError is a DecodeError

    accepted: list[tuple[int, Event]] = []
    to_convert: dict[str, list[int]] = {"wgs84": [], "bd09": []}  # positions in `accepted`
    rejected: list[Rejection] = []
    for index, value in enumerate(values):
        if use_fast_path and type(value) is bytes and 0 < len(value) <= MAX_VALUE_BYTES:
            try:
                rec = decode(value)
                event = fast(rec)
                if event is not None and not value.isascii():
                    value.decode("utf-8")  # msgspec does not check the text of fields it skips
            except fast_errors:
                event = None
            if event is not None:
                crs = rec.crs
                if crs is not None and crs != DEFAULT_CRS and event.lon is not None:
                    to_convert[crs].append(len(accepted))
                accepted.append((index, event))
                continue
        try:
            event, crs = precise.validate(value)
        except _Reject as rej:
            rejected.append(Rejection(index, rej.reason, rej.detail))
            continue
        if crs != DEFAULT_CRS and event.lon is not None:
            to_convert[crs].append(len(accepted))
        accepted.append((index, event))

    for crs, convert in (("wgs84", wgs84_to_gcj02), ("bd09", bd09_to_gcj02)):
        positions = to_convert[crs]
        if not positions:
            continue
        events = [accepted[p][1] for p in positions]
        gcj_lon, gcj_lat = convert(np.array([e.lon for e in events]), np.array([e.lat for e in events]))
        for p, event, x, y in zip(positions, events, gcj_lon.tolist(), gcj_lat.tolist(), strict=True):
            accepted[p] = (accepted[p][0], msgspec.structs.replace(event, lon=x, lat=y))
    return accepted, rejected
