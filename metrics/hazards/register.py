"""The hazard register entry: one JSON document per hazard, computed from its lifecycle state. Pure.

The consumer's batch planner (:func:`metrics.ledger.plan_batch`, ``register=register_entry``) calls
:func:`register_entry` after each accepted hazards record with the event's lifecycle hash as it stands
after that record, and the store writes the entry beside the counts in the same atomic script. The entry
depends on the state only (the record adds its id and fallbacks), so the last record of a batch leaves the
right entry whatever order the records arrived in.

Rules (contracts §1, hazards):
- The current stage is the accepted stage with the latest event time; on equal times the later one in the
  lifecycle (``reopened`` last) wins. A hazard is open unless that stage is ``verified``: ``reopened``
  after ``verified`` opens it again, and a late ``rectified`` arriving after ``verified`` changes nothing.
- Grade and deadline are set by ``reported`` and ``assessed`` (the assessment may change either); the one
  with the later event time wins, so a late ``reported`` does not undo a reassessment. When neither
  arrived, the latest record (by event time) that carried a value gives it. This needs the per-stage
  fields ``grade:<stage>`` / ``due:<stage>`` in the state; without them the last-written ``grade`` /
  ``due`` are used.
- A deadline never received (the ``reported`` record was lost) is stored as null; the sweep then counts
  the grade's ``limit_days`` from the report.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import msgspec
import numpy as np
import pandas as pd

from streams.schemas import STAGES, Event

#: Version of the entry's layout; a reader meeting a newer one knows it is behind.
ENTRY_VERSION = 1
HAZARD_STAGES: tuple[str, ...] = STAGES["hazards"]
#: Stages whose records set the grade and the deadline.
SETTING_STAGES: tuple[str, ...] = ("reported", "assessed")
_RANK = {stage: i for i, stage in enumerate(HAZARD_STAGES)}


class Assessment(msgspec.Struct, frozen=True):
    """A grade and deadline as one record set them (the history of reassessments)."""

    stage: str
    at: float
    grade: str | None
    due: float | None


class HazardEntry(msgspec.Struct, frozen=True, kw_only=True):
    """One hazard in the register. Times are epoch seconds UTC (event time).

    Attributes:
        v: layout version (:data:`ENTRY_VERSION`).
        id: the hazard id.
        category, district, grid: from the hazard's first accepted record (grid None without position).
        grade: current grade, ``A``..``D``.
        due: current rectification deadline, None when no record carried one.
        stage: current stage (latest by event time).
        stage_at: event time of the current stage.
        open: True unless the current stage is ``verified``.
        reported_at: time of ``reported``, or of the earliest stage known when that record is missing.
        closed_at: time of ``verified`` while the hazard is closed, else None.
        updated_at: latest stage time known.
        stages: stage -> event time, every accepted stage.
        assessments: grade and deadline of each ``reported`` / ``assessed`` record, oldest first.
    """

    v: int = ENTRY_VERSION
    id: str
    category: str
    district: str
    grid: str | None
    grade: str
    due: float | None
    stage: str
    stage_at: float
    open: bool
    reported_at: float
    closed_at: float | None
    updated_at: float
    stages: dict[str, float]
    assessments: list[Assessment]


_encoder = msgspec.json.Encoder()
_decoder = msgspec.json.Decoder(HazardEntry)


def current_stage(stage_times: Mapping[str, float]) -> str:
    """The stage with the latest event time; ties go to the later stage of the lifecycle."""
    return max(stage_times, key=lambda s: (stage_times[s], _RANK.get(s, -1)))


def _setting(state: Mapping[str, str], times: Mapping[str, float], prefix: str) -> str | None:
    """The value (``grade:`` or ``due:``) the ``reported`` / ``assessed`` record latest by event time
    carried; when neither arrived, the latest record of any stage that carried one."""
    for stages in (SETTING_STAGES, HAZARD_STAGES):
        best: tuple[float, int] | None = None
        value: str | None = None
        for stage in stages:
            raw = state.get(prefix + stage)
            if raw and stage in times:
                key = (times[stage], _RANK[stage])
                if best is None or key > best:
                    best, value = key, raw
        if value is not None:
            return value
    return None


def build_entry(state: Mapping[str, str], event: Event) -> HazardEntry:
    """The register entry of ``event``'s hazard from its lifecycle state after ``event`` was applied.

    Args:
        state: the event-state hash: ``s:<stage>`` -> repr(event time) of each accepted stage, ``g`` grid
            ("" when none), ``d`` district, ``c`` category, ``grade`` and ``due`` (last written), and
            optionally ``grade:<stage>`` / ``due:<stage>`` (what each record carried).
        event: the record just applied (gives the id, and fallbacks when the state lacks a field).
    """
    times = {s: float(state[f"s:{s}"]) for s in HAZARD_STAGES if f"s:{s}" in state}
    times.setdefault(event.stage, event.ts)
    stage = current_stage(times)
    grade = _setting(state, times, "grade:") or state.get("grade") or event.grade or ""
    due_raw = _setting(state, times, "due:") or state.get("due")
    due = float(due_raw) if due_raw else event.due
    is_open = stage != "verified"
    assessments = []
    for s in sorted((s for s in SETTING_STAGES if s in times), key=lambda s: (times[s], _RANK[s])):
        a_grade, a_due = state.get(f"grade:{s}"), state.get(f"due:{s}")
        assessments.append(Assessment(
            s, times[s],
            a_grade or (event.grade if s == event.stage else None),
            float(a_due) if a_due else (event.due if s == event.stage else None),
        ))
    return HazardEntry(
        id=event.id,
        category=state.get("c") or event.category,
        district=state.get("d") or event.district or "",
        grid=state.get("g") or None,
        grade=grade,
        due=due,
        stage=stage,
        stage_at=times[stage],
        open=is_open,
        reported_at=times.get("reported", min(times.values())),
        closed_at=None if is_open else times[stage],
        updated_at=max(times.values()),
        stages=dict(sorted(times.items(), key=lambda kv: (kv[1], _RANK[kv[0]]))),
        assessments=assessments,
    )


def register_entry(state: Mapping[str, str], event: Event) -> bytes:
    """:func:`build_entry` encoded as the JSON the register hash stores (the ledger's ``register`` hook)."""
    return _encoder.encode(build_entry(state, event))


def decode_entry(raw: bytes | str) -> HazardEntry:
    """One stored entry back as a :class:`HazardEntry`."""
    return _decoder.decode(raw)


class _Row(msgspec.Struct, frozen=True):
    """The fields the sweep and the API read (decoding skips the rest)."""

    id: str
    category: str
    district: str
    grid: str | None
    grade: str
    due: float | None
    stage: str
    open: bool
    reported_at: float
    closed_at: float | None


_rows_decoder = msgspec.json.Decoder(list[_Row])

FRAME_COLUMNS: tuple[str, ...] = (
    "id", "grade", "category", "district", "grid", "stage", "due", "open", "reported_at", "closed_at",
)


def entries_frame(entries: Iterable[bytes | str]) -> pd.DataFrame:
    """Stored entries as one frame, a row per hazard: the sweep's and the API's input.

    Columns: ``id``, ``grade``, ``category``, ``district``, ``grid`` (None without position), ``stage``
    (all object dtype, holding str); ``due``, ``reported_at``, ``closed_at`` (float epoch s, NaN when
    unknown or open); ``open`` (bool). Decoded in one pass over a JSON array, several times faster than
    entry by entry.
    """
    chunks = [e.encode() if isinstance(e, str) else bytes(e) for e in entries]
    rows = _rows_decoder.decode(b"[" + b",".join(chunks) + b"]") if chunks else []
    n = len(rows)

    def floats(values: Iterable[float | None]) -> np.ndarray:
        return np.fromiter((np.nan if v is None else v for v in values), dtype=float, count=n)

    def objects(values: list[str | None]) -> pd.Series:
        # object dtype on purpose: pandas 3 would infer its Arrow string dtype, whose conversions back to
        # numpy cost more than the whole sweep
        return pd.Series(np.array(values, dtype=object), dtype=object, copy=False)

    return pd.DataFrame({
        "id": objects([r.id for r in rows]),
        "grade": objects([r.grade for r in rows]),
        "category": objects([r.category for r in rows]),
        "district": objects([r.district for r in rows]),
        "grid": objects([r.grid for r in rows]),
        "stage": objects([r.stage for r in rows]),
        "due": floats(r.due for r in rows),
        "open": np.fromiter((r.open for r in rows), dtype=bool, count=n),
        "reported_at": np.fromiter((r.reported_at for r in rows), dtype=float, count=n),
        "closed_at": floats(r.closed_at for r in rows),
    })
