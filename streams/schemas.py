"""Event streams: vocabularies, lifecycle stages and the validated event type (contracts §1).

Everything a consumer needs to know about the four event streams lives here as plain data; the rules that
turn raw Kafka values into :class:`Event` objects are in :mod:`streams.validate`.
"""

from __future__ import annotations

from typing import Final

import msgspec

__all__ = [
    "CATEGORIES",
    "CRS_VALUES",
    "DEFAULT_CRS",
    "DUE_REQUIRED_STAGES",
    "FIRST_STAGE",
    "GRADES",
    "STAGES",
    "STREAMS",
    "Event",
]

STREAMS: Final[tuple[str, ...]] = ("incidents", "surveillance", "hotline", "hazards")
"""The four event streams, in the contract's order."""

CATEGORIES: Final[dict[str, frozenset[str]]] = {
    "incidents": frozenset(
        {
            "theft",
            "robbery",
            "assault",
            "fight",
            "traffic_accident",
            "fire",
            "public_disorder",
            "dispute",
            "fraud",
            "other",
        }
    ),
    "surveillance": frozenset(
        {
            "crowd_gathering",
            "fight",
            "fire_smoke",
            "intrusion",
            "illegal_parking",
            "street_vending",
            "garbage_overflow",
            "road_obstruction",
            "waterlogging",
            "other",
        }
    ),
    "hotline": frozenset(
        {
            "noise",
            "sanitation",
            "property_management",
            "labor_dispute",
            "neighbour_dispute",
            "traffic",
            "public_security",
            "illegal_construction",
            "environment",
            "consultation",
            "other",
        }
    ),
    "hazards": frozenset(
        {
            "gas",
            "fire_safety",
            "structural",
            "construction_site",
            "hazardous_chemicals",
            "flood_prone",
            "electrical",
            "road_traffic",
            "crowd_venue",
            "other",
        }
    ),
}
"""Stream -> the category vocabulary of that stream."""

STAGES: Final[dict[str, tuple[str, ...]]] = {
    "incidents": ("reported", "dispatched", "arrived", "closed"),
    "surveillance": ("detected", "reviewed"),
    "hotline": ("created", "responded", "resolved", "rated", "reopened"),
    "hazards": ("reported", "assessed", "rectifying", "rectified", "verified", "reopened"),
}
"""Stream -> its lifecycle stages in lifecycle order; the first is the default and marks a new event."""

FIRST_STAGE: Final[dict[str, str]] = {stream: stages[0] for stream, stages in STAGES.items()}
"""Stream -> the stage a record has when it sends none; records in it are counted as events."""

CRS_VALUES: Final[tuple[str, ...]] = ("gcj02", "wgs84", "bd09")
"""Datums a record's ``crs`` may name; positions are converted to GCJ-02 on arrival."""

DEFAULT_CRS: Final[str] = "gcj02"

GRADES: Final[tuple[str, ...]] = ("A", "B", "C", "D")
"""Hazard grades, most serious first (A major/red, B orange, C yellow, D blue)."""

DUE_REQUIRED_STAGES: Final[frozenset[str]] = frozenset({"reported", "assessed"})
"""Hazard stages on which ``due`` (the rectification deadline) is required."""


class Event(msgspec.Struct, frozen=True, gc=False):
    """One accepted record of an event stream, after validation and datum conversion.

    Fields that do not belong to the record's stream are ``None``. Personal data arrives already reduced:
    ``caller_phone`` is never kept, only its keyed hash and mask.

    Attributes:
        stream: ``incidents``, ``surveillance``, ``hotline`` or ``hazards``.
        id: the producer's id, 1–64 characters, unique within the stream.
        stage: a stage of the stream (``STAGES[stream]``); the first stage when the record sent none.
        ts: event time, seconds since the Unix epoch, UTC (not arrival time).
        lon: longitude in degrees, GCJ-02 (converted from ``crs``), or ``None`` when the record has only a
            ``district``.
        lat: latitude in degrees, GCJ-02, or ``None`` like ``lon``.
        district: the 6-digit administrative code as given in the record, or ``None``. It is a fallback for
            placement; the consumer places positioned events by their position.
        category: a category from ``CATEGORIES[stream]``.
        severity: incidents: 1–4, 4 most serious.
        camera_id: surveillance: the camera's id.
        confidence: surveillance: the analytics' confidence, 0–1.
        verified: surveillance: an operator confirmed (``True``) or rejected (``False``) the alert.
        satisfaction: hotline: the caller's rating, 1–5 (present on ``rated``).
        sla_hours: hotline: the service-level deadline in hours after creation, > 0.
        caller_hash: hotline: keyed HMAC-SHA256 of the normalised caller number, 32 hex chars (128 bits).
        caller_mask: hotline: the caller number masked for display, e.g. ``138****1234``.
        text: hotline: the ticket text, at most 2,000 characters, untrusted and personal: never render it as
            HTML, and keep it no longer than ``text_retention_days``.
        grade: hazards: ``A`` (major) to ``D``.
        due: hazards: the rectification deadline, seconds since the Unix epoch, UTC.
    """

    stream: str
    id: str
    stage: str
    ts: float
    lon: float | None
    lat: float | None
    district: str | None
    category: str
    severity: int | None = None
    camera_id: str | None = None
    confidence: float | None = None
    verified: bool | None = None
    satisfaction: int | None = None
    sla_hours: float | None = None
    caller_hash: str | None = None
    caller_mask: str | None = None
    text: str | None = None
    grade: str | None = None
    due: float | None = None

    @property
    def is_first_stage(self) -> bool:
        """True when this record opens an event (it is counted), False for a later stage update."""
        return self.stage == FIRST_STAGE[self.stream]
