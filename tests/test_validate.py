"""streams.validate: hostile records, the contract's precedence, PII reduction, and fast/precise agreement.

Every table test runs the batch twice — with the fast path and with the precise path alone — and requires
the same answer, so each row also checks that the fast path never changes an outcome.
"""

from __future__ import annotations

import hmac
import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import hypothesis
import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import streams.validate as validate_mod
from geo.datum import bd09_to_gcj02, wgs84_to_gcj02
from streams.pii import CallerHasher, mask_phone, normalise_phone
from streams.schemas import CATEGORIES, FIRST_STAGE, STAGES, STREAMS, Event
from streams.validate import REASONS, Rejection, parse_timestamp, validate_batch
from tests.workload import DISTRICT_CODES

NOW_DT = datetime(2025, 6, 1, 12, 0, 0, tzinfo=UTC)
NOW = NOW_DT.timestamp()
RETENTION_S = 35 * 86400.0
TOLERANCE_S = 600.0
KEY = b"test-pii-key"
TS = "2025-06-01T11:00:00Z"  # an hour before NOW
TS_EPOCH = NOW - 3600.0


def kwargs() -> dict[str, Any]:
    return {
        "now": NOW,
        "retention_s": RETENTION_S,
        "future_tolerance_s": TOLERANCE_S,
        "district_codes": DISTRICT_CODES,
        "pii_key": KEY,
    }


def valid(stream: str, **changes: Any) -> dict[str, Any]:
    """A valid record of the stream; a change of None removes the field."""
    rec: dict[str, Any] = {"id": f"{stream}-1", "ts": TS, "lon": 113.32, "lat": 23.12}
    rec["category"] = {"incidents": "theft", "surveillance": "fight", "hotline": "noise", "hazards": "gas"}[
        stream
    ]
    if stream == "incidents":
        rec["severity"] = 2
    elif stream == "surveillance":
        rec.update(camera_id="cam-0001", confidence=0.87)
    elif stream == "hazards":
        rec.update(grade="B", due="2025-06-08T18:00:00+08:00")
    for name, value in changes.items():
        if value is None:
            rec.pop(name, None)
        else:
            rec[name] = value
    return rec


def enc(rec: Any) -> bytes:
    return json.dumps(rec, ensure_ascii=False).encode("utf-8")


def run(stream: str, values: list[bytes | None]) -> tuple[list[tuple[int, Event]], list[Rejection]]:
    fast = validate_batch(stream, values, **kwargs())
    precise = validate_mod._validate_batch(stream, values, **kwargs(), use_fast_path=False)
    assert fast == precise, "the fast path changed an outcome"
    return fast


def one(stream: str, value: bytes | None) -> Event | Rejection:
    accepted, rejected = run(stream, [value])
    assert len(accepted) + len(rejected) == 1
    return accepted[0][1] if accepted else rejected[0]


def reason_of(stream: str, value: bytes | None) -> str | None:
    result = one(stream, value)
    return result.reason if isinstance(result, Rejection) else None


# --------------------------------------------------------------------------------------------------
# the hostile-records table: (case id, stream, raw value, expected reason or None for accepted)

BIG_TEXT = "x" * 70_000
# fmt: off
# one row per line reads as a table; the long rows are deliberate
HOSTILE: list[tuple[str, str, bytes | None, str | None]] = [
    # size
    ("a small record with an empty extra field", "incidents", enc(valid("incidents", pad="")) , None),
    ("over 64 KiB", "incidents", enc(valid("incidents", pad=BIG_TEXT)), "too_large"),
    ("1 MB", "hotline", b"{" + b" " * 1_000_000 + b"}", "too_large"),
    ("1 MB of garbage beats not_json", "hotline", b"\xff" * 1_000_000, "too_large"),
    # not JSON
    ("empty value", "incidents", b"", "not_json"),
    ("None value (tombstone)", "incidents", None, "not_json"),
    ("invalid UTF-8 at the start", "incidents", b"\xff\xfe{}", "not_json"),
    ("invalid UTF-8 in an ignored field", "incidents", enc(valid("incidents"))[:-1] + b',"x":"\xc3\x28"}', "not_json"),
    ("invalid UTF-8 in a kept field", "hotline", enc(valid("hotline"))[:-1] + b',"text":"\xe4\xb8"}', "not_json"),
    ("NaN literal", "incidents", enc(valid("incidents"))[:-1] + b',"lon2":NaN}', "not_json"),
    ("Infinity literal", "incidents", b'{"id":"a","lon":Infinity}', "not_json"),
    ("truncated JSON", "incidents", enc(valid("incidents"))[:-3], "not_json"),
    ("two JSON documents", "incidents", enc(valid("incidents")) * 2, "not_json"),
    ("UTF-8 BOM", "incidents", b"\xef\xbb\xbf" + enc(valid("incidents")), "not_json"),
    ("lone surrogate escape", "hotline", enc(valid("hotline"))[:-1] + b',"text":"\\ud800"}', "not_json"),
    ("single quotes", "incidents", b"{'id': 'a'}", "not_json"),
    # not an object
    ("JSON array", "incidents", b"[1, 2, 3]", "not_object"),
    ("JSON array of a valid record", "incidents", enc([valid("incidents")]), "not_object"),
    ("JSON string", "incidents", b'"hello"', "not_object"),
    ("JSON number", "incidents", b"42", "not_object"),
    ("JSON null", "incidents", b"null", "not_object"),
    ("JSON true", "incidents", b"true", "not_object"),
    # missing fields
    ("empty object", "incidents", b"{}", "missing_field"),
    ("no id", "incidents", enc(valid("incidents", id=None)), "missing_field"),
    ("null id", "incidents", enc({**valid("incidents"), "id": None}), "missing_field"),
    ("no ts", "surveillance", enc(valid("surveillance", ts=None)), "missing_field"),
    ("no category", "hotline", enc(valid("hotline", category=None)), "missing_field"),
    ("no position, no district", "incidents", enc(valid("incidents", lon=None, lat=None)), "missing_field"),
    ("lon without lat", "incidents", enc(valid("incidents", lat=None)), "missing_field"),
    ("lat without lon", "incidents", enc(valid("incidents", lon=None)), "missing_field"),
    ("incident without severity", "incidents", enc(valid("incidents", severity=None)), "missing_field"),
    ("alert without camera_id", "surveillance", enc(valid("surveillance", camera_id=None)), "missing_field"),
    ("alert without confidence", "surveillance", enc(valid("surveillance", confidence=None)), "missing_field"),
    ("rated ticket without satisfaction", "hotline", enc(valid("hotline", stage="rated")), "missing_field"),
    ("hazard without grade", "hazards", enc(valid("hazards", grade=None)), "missing_field"),
    ("reported hazard without due", "hazards", enc(valid("hazards", due=None)), "missing_field"),
    ("assessed hazard without due", "hazards", enc(valid("hazards", due=None, stage="assessed")), "missing_field"),
    # position alternatives that are fine
    ("district instead of position", "incidents", enc(valid("incidents", lon=None, lat=None, district="440106")), None),
    ("lon alone with a district", "incidents", enc(valid("incidents", lat=None, district="440106")), None),
    ("position and district", "hotline", enc(valid("hotline", district="440103")), None),
    ("null district with a position", "incidents", enc({**valid("incidents"), "district": None}), None),
    # bad types
    ("number as string: severity", "incidents", enc(valid("incidents", severity="2")), "bad_type"),
    ("number as string: lon", "incidents", enc(valid("incidents", lon="113.32")), "bad_type"),
    ("number as string: confidence", "surveillance", enc(valid("surveillance", confidence="0.9")), "bad_type"),
    ("boolean as number", "incidents", enc(valid("incidents", severity=True)), "bad_type"),
    ("boolean as coordinate", "incidents", enc(valid("incidents", lat=False)), "bad_type"),
    ("float severity 3.0", "incidents", enc(valid("incidents", severity=3.0)), "bad_type"),
    ("float satisfaction 4.5", "hotline", enc(valid("hotline", stage="rated", satisfaction=4.5)), "bad_type"),
    ("object where the id belongs", "incidents", enc(valid("incidents", id={"$ne": None})), "bad_type"),
    ("array where the category belongs", "incidents", enc(valid("incidents", category=["theft"])), "bad_type"),
    ("nested object as text", "hotline", enc(valid("hotline", text={"html": "<b>"})), "bad_type"),
    ("numeric id", "incidents", enc(valid("incidents", id=12345)), "bad_type"),
    ("numeric epoch ts", "incidents", enc(valid("incidents", ts=1748779200)), "bad_type"),
    ("district as number", "incidents", enc(valid("incidents", district=440106)), "bad_type"),
    ("stage as number", "incidents", enc(valid("incidents", stage=2)), "bad_type"),
    ("crs as object", "incidents", enc(valid("incidents", crs={"name": "wgs84"})), "bad_type"),
    ("verified as string", "surveillance", enc(valid("surveillance", verified="true")), "bad_type"),
    ("verified as 1", "surveillance", enc(valid("surveillance", verified=1)), "bad_type"),
    ("camera_id as number", "surveillance", enc(valid("surveillance", camera_id=17)), "bad_type"),
    ("caller_phone as number", "hotline", enc(valid("hotline", caller_phone=13812341234)), "bad_type"),
    ("caller_phone as object", "hotline", enc(valid("hotline", caller_phone={"n": "138"})), "bad_type"),
    ("sla_hours as string", "hotline", enc(valid("hotline", sla_hours="48")), "bad_type"),
    ("grade as number", "hazards", enc(valid("hazards", grade=1)), "bad_type"),
    ("due as number", "hazards", enc(valid("hazards", due=1749000000)), "bad_type"),
    # bad values
    ("severity 7", "incidents", enc(valid("incidents", severity=7)), "bad_value"),
    ("severity 0", "incidents", enc(valid("incidents", severity=0)), "bad_value"),
    ("severity with 400 digits", "incidents", enc(valid("incidents"))[:-1].replace(b'"severity": 2', b'"severity": 1' + b"0" * 400) + b"}", "bad_value"),  # noqa: E501
    ("confidence 1.01", "surveillance", enc(valid("surveillance", confidence=1.01)), "bad_value"),
    ("confidence -0.1", "surveillance", enc(valid("surveillance", confidence=-0.1)), "bad_value"),
    ("satisfaction 6", "hotline", enc(valid("hotline", stage="rated", satisfaction=6)), "bad_value"),
    ("satisfaction 0", "hotline", enc(valid("hotline", stage="rated", satisfaction=0)), "bad_value"),
    ("lon 180.5", "incidents", enc(valid("incidents", lon=180.5)), "bad_value"),
    ("lat -90.01", "incidents", enc(valid("incidents", lat=-90.01)), "bad_value"),
    ("lon 1e400 (infinite)", "incidents", enc(valid("incidents"))[:-1].replace(b'"lon": 113.32', b'"lon": 1e400') + b"}", "bad_value"),  # noqa: E501
    ("sla_hours 0", "hotline", enc(valid("hotline", sla_hours=0)), "bad_value"),
    ("sla_hours negative", "hotline", enc(valid("hotline", sla_hours=-4)), "bad_value"),
    ("grade E", "hazards", enc(valid("hazards", grade="E")), "bad_value"),
    ("grade lower-case", "hazards", enc(valid("hazards", grade="a")), "bad_value"),
    ("unknown stage", "incidents", enc(valid("incidents", stage="escalated")), "bad_value"),
    ("stage of another stream", "incidents", enc(valid("incidents", stage="detected")), "bad_value"),
    ("unknown crs", "incidents", enc(valid("incidents", crs="epsg:4326")), "bad_value"),
    ("crs in upper case", "incidents", enc(valid("incidents", crs="WGS84")), "bad_value"),
    ("district with 5 digits", "incidents", enc(valid("incidents", district="44010")), "bad_value"),
    ("district with letters", "incidents", enc(valid("incidents", district="44o106")), "bad_value"),
    ("district with a trailing newline", "incidents", enc(valid("incidents", district="440106\n")), "bad_value"),
    ("district with full-width digits", "incidents", enc(valid("incidents", district="４４０１０６")), "bad_value"),
    ("district of another city", "incidents", enc(valid("incidents", district="110101")), "bad_value"),
    ("empty id", "incidents", enc(valid("incidents", id="")), "bad_value"),
    ("id of 65 chars", "incidents", enc(valid("incidents", id="i" * 65)), "bad_value"),
    ("empty camera_id", "surveillance", enc(valid("surveillance", camera_id="")), "bad_value"),
    ("text of 2001 chars", "hotline", enc(valid("hotline", text="噪" * 2001)), "bad_value"),
    # unknown categories
    ("unknown category", "incidents", enc(valid("incidents", category="alien_landing")), "unknown_category"),
    ("category of another stream", "incidents", enc(valid("incidents", category="noise")), "unknown_category"),
    ("category in upper case", "hotline", enc(valid("hotline", category="NOISE")), "unknown_category"),
    ("empty category", "hotline", enc(valid("hotline", category="")), "unknown_category"),
    # timestamps
    ("ts without offset", "incidents", enc(valid("incidents", ts="2025-06-01T11:00:00")), "bad_timestamp"),
    ("ts date only", "incidents", enc(valid("incidents", ts="2025-06-01")), "bad_timestamp"),
    ("ts not a date", "incidents", enc(valid("incidents", ts="yesterday")), "bad_timestamp"),
    ("ts empty", "incidents", enc(valid("incidents", ts="")), "bad_timestamp"),
    ("ts month 13", "incidents", enc(valid("incidents", ts="2025-13-01T00:00:00Z")), "bad_timestamp"),
    ("ts with a non-ASCII separator", "incidents", enc(valid("incidents", ts="2025-06-01年11:00:00Z")), "bad_timestamp"),  # noqa: E501
    ("ts as RFC 2822", "incidents", enc(valid("incidents", ts="Sun, 01 Jun 2025 11:00:00 +0000")), "bad_timestamp"),
    ("due without offset", "hazards", enc(valid("hazards", due="2025-06-08T18:00:00")), "bad_timestamp"),
    ("due malformed on a later stage", "hazards", enc(valid("hazards", stage="rectifying", due="soon")), "bad_timestamp"),  # noqa: E501
    ("ts with +08:00", "incidents", enc(valid("incidents", ts="2025-06-01T19:00:00+08:00")), None),
    ("ts with basic offset +0800", "incidents", enc(valid("incidents", ts="2025-06-01T19:00:00+0800")), None),
    ("ts in ISO basic format", "incidents", enc(valid("incidents", ts="20250601T110000Z")), None),
    ("ts with an hour-only offset", "incidents", enc(valid("incidents", ts="2025-06-01T19:00:00+08")), None),
    ("ts with a space separator", "incidents", enc(valid("incidents", ts="2025-06-01 11:00:00Z")), None),
    ("ts year 9999", "incidents", enc(valid("incidents", ts="9999-12-31T23:59:59Z")), "future_timestamp"),
    ("ts year 9999 with a negative offset", "incidents", enc(valid("incidents", ts="9999-12-31T23:00:00-05:00")), "future_timestamp"),  # noqa: E501
    ("ts 11 minutes ahead", "incidents", enc(valid("incidents", ts="2025-06-01T12:11:00Z")), "future_timestamp"),
    ("ts 9 minutes ahead", "incidents", enc(valid("incidents", ts="2025-06-01T12:09:00Z")), None),
    ("ts 36 days old", "incidents", enc(valid("incidents", ts="2025-04-26T12:00:00Z")), "too_old"),
    ("ts year 1", "incidents", enc(valid("incidents", ts="0001-01-01T00:00:00+08:00")), "too_old"),
    ("ts 34 days old", "incidents", enc(valid("incidents", ts="2025-04-28T12:00:00Z")), None),
    ("due long past is still accepted", "hazards", enc(valid("hazards", due="2020-01-01T00:00:00Z")), None),
    # placement is the consumer's job
    ("other side of the earth (outside_city later)", "incidents", enc(valid("incidents", lon=-74.006, lat=40.71)), None),  # noqa: E501
    ("null island (outside_city later)", "incidents", enc(valid("incidents", lon=0, lat=0)), None),
    ("extreme but valid coordinates", "incidents", enc(valid("incidents", lon=-180, lat=90)), None),
    # untrusted content is stored raw
    ("SQL in text", "hotline", enc(valid("hotline", text="'; DROP TABLE tickets; --")), None),
    ("HTML in text", "hotline", enc(valid("hotline", text='<script>alert("x")</script><img src=x onerror=1>')), None),
    ("SQL in id", "incidents", enc(valid("incidents", id="1' OR '1'='1")), None),
    ("HTML in camera_id", "surveillance", enc(valid("surveillance", camera_id="<b>cam</b>")), None),
    ("text of 2000 Chinese chars", "hotline", enc(valid("hotline", text="噪" * 2000)), None),
    ("id of 64 emoji", "incidents", enc(valid("incidents", id="🚓" * 64)), None),
    ("NUL character in text", "hotline", enc(valid("hotline", text="a\u0000b")), None),
    # unknown and foreign fields are ignored
    ("unknown extra fields", "incidents", enc(valid("incidents", extra={"deep": [1, {"x": None}]}, v=2)), None),
    ("foreign stream field with a bad value", "hotline", enc(valid("hotline", severity="high", grade=9)), None),
    ("caller_phone on an incident is ignored", "incidents", enc(valid("incidents", caller_phone={"x": 1})), None),
    ("huge number in an ignored field", "incidents", enc(valid("incidents"))[:-1] + b',"x":1e400}', None),
    ("null optional fields", "hotline", enc(valid("hotline", text=None) | {"sla_hours": None, "crs": None}), None),
    ("duplicate key, last one wins", "incidents", enc(valid("incidents"))[:-1] + b',"severity":"x","severity":3}', None),  # noqa: E501
    ("integral float for a float field", "surveillance", enc(valid("surveillance", confidence=1)), None),
    # several faults: the first by precedence wins
    ("missing beats bad_type", "incidents", enc(valid("incidents", id=None, severity="2")), "missing_field"),
    ("missing beats bad_value", "incidents", enc(valid("incidents", ts=None, severity=9)), "missing_field"),
    ("bad_type beats bad_value", "incidents", enc(valid("incidents", severity=9, lon="x")), "bad_type"),
    ("bad_value beats unknown_category", "incidents", enc(valid("incidents", category="x", severity=9)), "bad_value"),
    ("unknown_category beats bad_timestamp", "incidents", enc(valid("incidents", category="x", ts="y")), "unknown_category"),  # noqa: E501
    ("bad_timestamp on due beats future ts", "hazards", enc(valid("hazards", due="later", ts="9999-01-01T00:00:00Z")), "bad_timestamp"),  # noqa: E501
    ("bad district beats unknown category", "incidents", enc(valid("incidents", district="x", category="y")), "bad_value"),  # noqa: E501
    ("all faults at once", "surveillance", enc({"ts": 5, "lon": "a", "camera_id": "", "category": "z"}), "missing_field"),  # noqa: E501
    ("every fault but missing", "surveillance", enc(valid("surveillance", ts=5, lon="a", camera_id="", category="z")), "bad_type"),  # noqa: E501
]
# fmt: on


@pytest.mark.parametrize(
    ("stream", "value", "expected"), [row[1:] for row in HOSTILE], ids=[row[0] for row in HOSTILE]
)
def test_hostile_records(stream: str, value: bytes | None, expected: str | None) -> None:
    result = one(stream, value)
    if expected is None:
        assert isinstance(result, Event), result
    else:
        assert isinstance(result, Rejection), result
        assert (result.reason, result.index) == (expected, 0), result.detail
        assert result.detail


def test_every_reason_but_outside_city_is_reachable() -> None:
    reached = {row[3] for row in HOSTILE if row[3] is not None}
    assert reached == set(REASONS) - {"outside_city"}


def test_reasons_are_in_contract_order() -> None:
    assert REASONS == (
        "too_large", "not_json", "not_object", "missing_field", "bad_type", "bad_value",
        "unknown_category", "bad_timestamp", "future_timestamp", "too_old", "outside_city",
    )  # fmt: skip


def test_too_large_boundary_is_64_kib() -> None:
    base = enc(valid("incidents", pad=""))
    at_limit = base.replace(b'"pad": ""', b'"pad": "' + b"p" * (65536 - len(base)) + b'"')
    assert len(at_limit) == 65536
    assert reason_of("incidents", at_limit) is None
    assert reason_of("incidents", at_limit[:-1] + b" }") == "too_large"


def test_detail_example_from_the_brief() -> None:
    result = one("incidents", enc(valid("incidents", severity=7)))
    assert isinstance(result, Rejection)
    assert result.detail == "severity 7 is out of range 1–4"


# --------------------------------------------------------------------------------------------------
# each stream: required fields, stages, defaults, the built Event


@pytest.mark.parametrize("stream", STREAMS)
def test_each_stage_is_accepted_and_the_first_is_the_default(stream: str) -> None:
    for stage in STAGES[stream]:
        extra: dict[str, Any] = {"stage": stage}
        if stream == "hotline" and stage == "rated":
            extra["satisfaction"] = 4
        event = one(stream, enc(valid(stream, **extra)))
        assert isinstance(event, Event) and event.stage == stage
        assert event.is_first_stage is (stage == FIRST_STAGE[stream])
    default = one(stream, enc(valid(stream)))
    assert isinstance(default, Event) and default.stage == FIRST_STAGE[stream]


@pytest.mark.parametrize("stream", STREAMS)
def test_every_category_is_accepted(stream: str) -> None:
    values = [enc(valid(stream, category=c, id=f"id-{c}")) for c in sorted(CATEGORIES[stream])]
    accepted, rejected = run(stream, values)
    assert not rejected
    assert [e.category for _, e in accepted] == sorted(CATEGORIES[stream])


@pytest.mark.parametrize(
    ("stream", "required"),
    [
        ("incidents", ["id", "ts", "category", "severity"]),
        ("surveillance", ["id", "ts", "category", "camera_id", "confidence"]),
        ("hotline", ["id", "ts", "category"]),
        ("hazards", ["id", "ts", "category", "grade", "due"]),
    ],
)
def test_required_fields_per_stream(stream: str, required: list[str]) -> None:
    for name in required:
        assert reason_of(stream, enc(valid(stream, **{name: None}))) == "missing_field", name
    optional = {
        "incidents": [],
        "surveillance": ["verified"],
        "hotline": ["satisfaction", "sla_hours", "text"],
        "hazards": [],
    }[stream]
    for name in optional:
        assert reason_of(stream, enc(valid(stream, **{name: None}))) is None, name


def test_hazard_due_is_optional_after_assessment() -> None:
    for stage in ("rectifying", "rectified", "verified", "reopened"):
        event = one("hazards", enc(valid("hazards", stage=stage, due=None)))
        assert isinstance(event, Event) and event.due is None


def test_event_fields_per_stream() -> None:
    incident = one("incidents", enc(valid("incidents", severity=4, district="440106")))
    assert incident == Event(
        "incidents", "incidents-1", "reported", TS_EPOCH, 113.32, 23.12, "440106", "theft", severity=4
    )
    alert = one("surveillance", enc(valid("surveillance", stage="reviewed", verified=False, confidence=1)))
    assert isinstance(alert, Event)
    assert (alert.camera_id, alert.confidence, alert.verified, alert.severity) == (
        "cam-0001",
        1.0,
        False,
        None,
    )
    assert type(alert.confidence) is float
    ticket = one(
        "hotline", enc(valid("hotline", stage="rated", satisfaction=5, sla_hours=48, text="楼下很吵"))
    )
    assert isinstance(ticket, Event)
    assert (ticket.satisfaction, ticket.sla_hours, ticket.text) == (5, 48.0, "楼下很吵")
    assert type(ticket.sla_hours) is float
    hazard = one("hazards", enc(valid("hazards", grade="A")))
    assert isinstance(hazard, Event)
    assert hazard.grade == "A"
    assert hazard.due == datetime(2025, 6, 8, 10, 0, tzinfo=UTC).timestamp()


def test_district_only_event_has_no_position() -> None:
    event = one("hotline", enc(valid("hotline", lon=None, lat=None, district="440104", crs="bd09")))
    assert isinstance(event, Event)
    assert (event.lon, event.lat, event.district) == (None, None, "440104")


def test_lone_coordinate_with_district_is_still_range_checked() -> None:
    assert (
        reason_of("incidents", enc(valid("incidents", lat=None, lon=999, district="440106"))) == "bad_value"
    )


def test_time_window_boundaries() -> None:
    on_edge = datetime.fromtimestamp(NOW + TOLERANCE_S, UTC).isoformat()
    past_edge = datetime.fromtimestamp(NOW + TOLERANCE_S + 1, UTC).isoformat()
    oldest = datetime.fromtimestamp(NOW - RETENTION_S, UTC).isoformat()
    too_old = datetime.fromtimestamp(NOW - RETENTION_S - 1, UTC).isoformat()
    assert reason_of("incidents", enc(valid("incidents", ts=on_edge))) is None
    assert reason_of("incidents", enc(valid("incidents", ts=past_edge))) == "future_timestamp"
    assert reason_of("incidents", enc(valid("incidents", ts=oldest))) is None
    assert reason_of("incidents", enc(valid("incidents", ts=too_old))) == "too_old"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2025-06-01T11:00:00Z", TS_EPOCH),
        ("2025-06-01T11:00:00z", TS_EPOCH),
        ("2025-06-01t11:00:00+00:00", TS_EPOCH),
        ("2025-06-01T19:00:00+08:00", TS_EPOCH),
        ("2025-06-01T06:00:00-05:00", TS_EPOCH),
        ("2025-06-01T11:00:00.250Z", TS_EPOCH + 0.25),
        ("20250601T190000+0800", TS_EPOCH),
        ("2025-W22-7T11:00:00Z", TS_EPOCH),
        ("2025-06-01T11:00:00", None),
        ("2025-06-01", None),
        ("2025-06-01T25:00:00Z", None),
        ("2025-02-30T00:00:00Z", None),
        ("1748775600", None),
        ("", None),
    ],
)
def test_parse_timestamp(text: str, expected: float | None) -> None:
    assert parse_timestamp(text) == expected


# --------------------------------------------------------------------------------------------------
# datum conversion in the batch


def test_positions_are_converted_to_gcj02_in_place() -> None:
    values = [
        enc(valid("incidents", id="g")),
        enc(valid("incidents", id="w", crs="wgs84")),
        enc(valid("incidents", id="b", crs="bd09")),
        b"not json",
        enc(valid("incidents", id="w2", crs="wgs84", lon=113.4, lat=23.0)),
        enc(valid("incidents", id="far", crs="wgs84", lon=-74.0, lat=40.7)),
    ]
    accepted, rejected = run("incidents", values)
    assert [r.index for r in rejected] == [3]
    by_id = {e.id: (i, e) for i, e in accepted}
    assert [i for i, _ in accepted] == [0, 1, 2, 4, 5]
    assert (by_id["g"][1].lon, by_id["g"][1].lat) == (113.32, 23.12)
    for record_id, convert, lon, lat in (
        ("w", wgs84_to_gcj02, 113.32, 23.12),
        ("b", bd09_to_gcj02, 113.32, 23.12),
        ("w2", wgs84_to_gcj02, 113.4, 23.0),
    ):
        exp_lon, exp_lat = convert(lon, lat)
        assert by_id[record_id][1].lon == pytest.approx(float(exp_lon), abs=1e-12)
        assert by_id[record_id][1].lat == pytest.approx(float(exp_lat), abs=1e-12)
    assert by_id["w"][1].lon != 113.32
    assert (by_id["far"][1].lon, by_id["far"][1].lat) == (-74.0, 40.7)  # WGS-84 outside China is unchanged


# --------------------------------------------------------------------------------------------------
# personal data


@pytest.mark.parametrize(
    ("raw", "digits", "mask"),
    [
        ("13812341234", "13812341234", "138****1234"),
        ("138-1234-1234", "13812341234", "138****1234"),
        ("+86 138 1234 1234", "13812341234", "138****1234"),
        ("0086 13812341234", "13812341234", "138****1234"),
        ("8613812341234", "13812341234", "138****1234"),
        ("１３８１２３４１２３４", "13812341234", "138****1234"),
        ("+86 20 8888 7777", "02088887777", "020****7777"),
        ("020-88887777", "02088887777", "020****7777"),
        ("12345", "12345", "***45"),
        ("110", "110", "*10"),
        ("12", "12", "**"),
        ("withheld", "", ""),
    ],
)
def test_phone_normalisation_and_mask(raw: str, digits: str, mask: str) -> None:
    assert normalise_phone(raw) == digits
    assert mask_phone(digits) == mask


@pytest.mark.parametrize("key", [b"", b"k", b"x" * 64, b"y" * 65, bytes(range(200))])
def test_caller_hasher_is_hmac_sha256(key: bytes) -> None:
    for digits in ("13812341234", "02088887777", "1"):
        expected = hmac.digest(key, digits.encode(), "sha256")[:16].hex()
        assert CallerHasher(key)(digits) == expected


def test_caller_phone_is_reduced_and_never_kept() -> None:
    event = one("hotline", enc(valid("hotline", caller_phone="+86 138-1234-1234")))
    assert isinstance(event, Event)
    assert event.caller_mask == "138****1234"
    assert event.caller_hash == hmac.digest(KEY, b"13812341234", "sha256")[:16].hex()
    assert "13812341234" not in msgspec.json.encode(event).decode()
    same_caller = one("hotline", enc(valid("hotline", caller_phone="13812341234", id="other")))
    assert isinstance(same_caller, Event) and same_caller.caller_hash == event.caller_hash
    withheld = one("hotline", enc(valid("hotline", caller_phone="anonymous")))
    assert isinstance(withheld, Event) and (withheld.caller_hash, withheld.caller_mask) == (None, None)


def test_other_key_gives_other_hash() -> None:
    value = [enc(valid("hotline", caller_phone="13812341234"))]
    a = validate_batch("hotline", value, **kwargs())[0][0][1]
    b = validate_batch("hotline", value, **(kwargs() | {"pii_key": b"other"}))[0][0][1]
    assert a.caller_hash != b.caller_hash and a.caller_mask == b.caller_mask


@pytest.mark.parametrize(
    "changes",
    [
        {"sla_hours": -1},
        {"satisfaction": "5"},
        {"stage": "rated"},
        {"category": "zzz"},
        {"ts": "nope"},
        {"ts": "2099-01-01T00:00:00Z"},
        {"text": "13812341234 " * 400},
        {"text": {"phone": "13812341234"}},
        {"caller_phone": ["13812341234"]},
        {"caller_phone": {"number": "13812341234"}},
        {"id": ""},
    ],
)
def test_details_never_contain_the_phone_or_text(changes: dict[str, Any]) -> None:
    # other fields' values may be quoted (truncated) in a detail; caller_phone and text never are
    rec = valid("hotline", **({"caller_phone": "13812341234"} | changes))
    if "text" not in changes:
        rec["text"] = "my number is 13812341234, secret"
    result = one("hotline", enc(rec))
    assert isinstance(result, Rejection)
    assert "13812341234" not in result.detail and "secret" not in result.detail
    assert "1234" not in result.detail


# --------------------------------------------------------------------------------------------------
# the fast path really is the common path


def test_typical_valid_records_never_need_the_precise_path(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(self: object, value: object) -> object:
        raise AssertionError(f"precise path used for {value!r}")

    monkeypatch.setattr(validate_mod._Precise, "validate", refuse)
    cases = {
        "incidents": [
            valid("incidents"),
            valid("incidents", crs="wgs84", stage="closed"),
            valid("incidents", lon=None, lat=None, district="440113"),
        ],
        "surveillance": [
            valid("surveillance", stage="reviewed", verified=True),
            valid("surveillance", crs="bd09"),
        ],
        "hotline": [
            valid("hotline", caller_phone="13812341234", text="楼下施工噪音", sla_hours=24),
            valid("hotline", stage="rated", satisfaction=3),
            valid("hotline", ts="2025-06-01T19:00:00+08:00"),
        ],
        "hazards": [valid("hazards"), valid("hazards", stage="rectified", due=None)],
    }
    for stream, records in cases.items():
        accepted, rejected = validate_batch(stream, [enc(r) for r in records], **kwargs())
        assert len(accepted) == len(records) and not rejected


def test_unknown_stream_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="unknown stream 'alerts'"):
        validate_batch("alerts", [], **kwargs())


def test_batch_keeps_indices_and_order() -> None:
    values = [b"[]", enc(valid("incidents", id="a")), None, enc(valid("incidents", id="b")), b"{}"]
    accepted, rejected = run("incidents", values)
    assert [(i, e.id) for i, e in accepted] == [(1, "a"), (3, "b")]
    assert [(r.index, r.reason) for r in rejected] == [
        (0, "not_object"),
        (2, "not_json"),
        (4, "missing_field"),
    ]


def test_bytes_like_values() -> None:
    raw = enc(valid("incidents"))
    accepted, rejected = run("incidents", [bytearray(raw), memoryview(raw)])  # type: ignore[list-item]
    assert len(accepted) == 2 and not rejected


# --------------------------------------------------------------------------------------------------
# properties

json_leaf = (
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text()
)
json_values = st.recursive(
    json_leaf,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=8,
)

FIELD_NAMES = ["id", "ts", "lon", "lat", "crs", "district", "category", "stage", "severity", "camera_id",
               "confidence", "verified", "satisfaction", "sla_hours", "caller_phone", "text", "grade",
               "due"]  # fmt: skip
ALL_CATEGORIES = sorted(set().union(*CATEGORIES.values()))
ALL_STAGES = sorted({s for stages in STAGES.values() for s in stages})


def timestamps() -> st.SearchStrategy[str]:
    offsets = st.builds(
        timezone, st.timedeltas(min_value=timedelta(hours=-23), max_value=timedelta(hours=23))
    )
    moments = st.datetimes(
        min_value=datetime(2025, 4, 20), max_value=datetime(2025, 6, 4), timezones=st.just(UTC)
    ) | st.datetimes(timezones=offsets | st.none())
    formats = st.sampled_from(["iso", "z", "space", "seconds", "micro", "lower", "date"])

    @st.composite
    def build(draw: st.DrawFn) -> str:
        moment = draw(moments)
        fmt = draw(formats)
        if fmt == "z":
            return moment.strftime("%Y-%m-%dT%H:%M:%S") + ("Z" if moment.tzinfo else "")
        if fmt == "space":
            return moment.isoformat(sep=" ")
        if fmt == "seconds":
            return moment.isoformat(timespec="seconds")
        if fmt == "micro":
            return moment.isoformat(timespec="microseconds")
        if fmt == "lower":
            return moment.isoformat().lower()
        if fmt == "date":
            return moment.date().isoformat()
        return moment.isoformat()

    return build() | st.text(max_size=30)


def field_values(name: str) -> st.SearchStrategy[Any]:
    """Plausible values of a field, near misses included."""
    plausible: dict[str, st.SearchStrategy[Any]] = {
        "id": st.text(min_size=0, max_size=70),
        "ts": timestamps(),
        "due": timestamps(),
        "lon": st.floats(-200, 200) | st.integers(-200, 200),
        "lat": st.floats(-100, 100) | st.integers(-100, 100),
        "crs": st.sampled_from(["gcj02", "wgs84", "bd09", "WGS84", ""]),
        "district": st.sampled_from([*sorted(DISTRICT_CODES), "110101", "44010", "440106 "]),
        "category": st.sampled_from([*ALL_CATEGORIES, "x"]),
        "stage": st.sampled_from([*ALL_STAGES, "nope"]),
        "severity": st.integers(-1, 6) | st.floats(0, 5),
        "camera_id": st.text(max_size=3) | st.sampled_from(["c" * 128, "c" * 129]),
        "confidence": st.floats(-0.5, 1.5) | st.integers(-1, 2),
        "verified": st.booleans() | st.integers(0, 1),
        "satisfaction": st.integers(-1, 7) | st.floats(0, 6),
        "sla_hours": st.floats(-10, 100) | st.integers(-5, 100),
        "caller_phone": st.text(alphabet="0123456789+- ", max_size=16) | st.text(max_size=5),
        "text": st.text(max_size=20) | st.sampled_from(["噪" * 2000, "噪" * 2001, "<b>'; --"]),
        "grade": st.sampled_from(["A", "B", "C", "D", "E", "a"]),
    }
    return plausible[name]


# built once: building strategies per draw makes hypothesis re-inspect their source every time
PLAUSIBLE: dict[str, st.SearchStrategy[Any]] = {name: field_values(name) for name in FIELD_NAMES}
FIELD_STRATEGIES: dict[str, st.SearchStrategy[Any]] = {
    name: strategy | json_values | st.none() for name, strategy in PLAUSIBLE.items()
}


@st.composite
def contract_records(draw: st.DrawFn) -> dict[str, Any]:
    """Every contract field: mostly a plausible value, sometimes absent or arbitrary JSON."""
    rec: dict[str, Any] = {}
    for name in FIELD_NAMES:
        roll = draw(st.integers(0, 19))
        if roll < 2:
            continue
        rec[name] = draw(PLAUSIBLE[name] if roll < 18 else FIELD_STRATEGIES[name])
    if draw(st.booleans()):
        rec.update(draw(st.dictionaries(st.text(max_size=6), json_values, max_size=2)))
    return rec


def _check_batch(stream: str, values: list[bytes | None]) -> None:
    accepted, rejected = run(stream, values)
    for outcome in ["accepted"] * len(accepted) + [r.reason for r in rejected]:
        hypothesis.event(outcome)  # shown by --hypothesis-show-statistics
    assert len(accepted) + len(rejected) == len(values)
    assert sorted([i for i, _ in accepted] + [r.index for r in rejected]) == list(range(len(values)))
    for rejection in rejected:
        assert rejection.reason in REASONS and rejection.reason != "outside_city"
    for _, event in accepted:
        assert event.stream == stream and event.stage in STAGES[stream]
        assert event.category in CATEGORIES[stream]
        assert NOW - RETENTION_S <= event.ts <= NOW + TOLERANCE_S
        assert (event.lon is None) == (event.lat is None)
        assert event.lon is not None or event.district in DISTRICT_CODES


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(STREAMS), st.lists(contract_records(), min_size=1, max_size=3))
def test_contract_shaped_records_never_raise_and_paths_agree(
    stream: str, records: list[dict[str, Any]]
) -> None:
    _check_batch(stream, [msgspec.json.encode(r) for r in records])


@st.composite
def nearly_valid(draw: st.DrawFn) -> dict[str, Any]:
    """A valid record with one or two fields replaced, so the later reasons and acceptance are explored."""
    stream = draw(st.sampled_from(STREAMS))
    rec = valid(stream)
    for name in draw(st.lists(st.sampled_from(FIELD_NAMES), max_size=2, unique=True)):
        rec[name] = draw(FIELD_STRATEGIES[name])
    return {"stream": stream, "record": rec}


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(nearly_valid(), min_size=1, max_size=4))
def test_nearly_valid_records_paths_agree(cases: list[dict[str, Any]]) -> None:
    for case in cases:
        _check_batch(case["stream"], [msgspec.json.encode(case["record"])])


@settings(max_examples=200, deadline=None)
@given(
    st.sampled_from(STREAMS),
    st.lists(json_values.map(msgspec.json.encode) | st.binary(max_size=40), max_size=5),
)
def test_arbitrary_json_and_bytes_never_raise(stream: str, values: list[bytes]) -> None:
    _check_batch(stream, values)


def test_records_a_week_apart_in_one_batch() -> None:
    values = [
        enc(valid("incidents", id=f"i{n}", ts=(NOW_DT - timedelta(days=n)).isoformat()))
        for n in range(0, 43, 7)
    ]
    accepted, rejected = run("incidents", values)
    assert [e.id for _, e in accepted] == ["i0", "i7", "i14", "i21", "i28", "i35"]
    assert [(r.index, r.reason) for r in rejected] == [(6, "too_old")]
