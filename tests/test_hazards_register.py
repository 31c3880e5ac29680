"""Register entries from lifecycle state: stage order, reopening, reassessment, late records."""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from metrics.hazards.register import build_entry, current_stage, decode_entry, entries_frame, register_entry
from metrics.ledger import PlacedEvent, plan_batch
from streams.schemas import STAGES, Event

T0 = 1_750_000_000.0
H = 3600.0
DAY = 86400.0
CELL = "88411c8d3bfffff"


def rec(stage: str, at_h: float, grade: str = "A", due_h: float | None = None, hazard_id: str = "hz-1",
        category: str = "gas") -> Event:
    """A hazards record ``at_h`` hours after T0 (deadline ``due_h`` hours after T0)."""
    return Event("hazards", hazard_id, stage, T0 + at_h * H, 113.36, 23.12, None, category, grade=grade,
                 due=None if due_h is None else T0 + due_h * H)


def fold(records: Sequence[Event], *, per_stage: bool = True) -> tuple[dict[str, str], bytes]:
    """The state and entry the ledger leaves after these records, in this arrival order: what
    ``plan_batch`` stores, plus (``per_stage``) the ``grade:<stage>`` / ``due:<stage>`` fields the register
    asks for. Duplicates of a stage are skipped as the ledger does."""
    state: dict[str, str] = {}
    entry = b""
    for ev in records:
        if f"s:{ev.stage}" in state:
            continue
        updates = {f"s:{ev.stage}": repr(ev.ts)}
        if "d" not in state:
            updates.update(d="440106", g=CELL, c=ev.category)
        if ev.grade is not None:
            updates["grade"] = ev.grade
            if per_stage:
                updates[f"grade:{ev.stage}"] = ev.grade
        if ev.due is not None:
            updates["due"] = repr(ev.due)
            if per_stage:
                updates[f"due:{ev.stage}"] = repr(ev.due)
        state.update(updates)
        entry = register_entry(state, ev)
    return state, entry


LIFE = [
    rec("reported", 0, "B", due_h=7 * 24),
    rec("assessed", 20, "A", due_h=3 * 24),  # reassessed up: grade A, deadline 3 days
    rec("rectifying", 30, "A"),
    rec("rectified", 50, "A"),
    rec("reopened", 80, "A"),  # verification failed
    rec("verified", 120, "A"),
]


@pytest.mark.parametrize(("upto", "stage", "grade", "due_h", "is_open"), [
    (1, "reported", "B", 168, True),
    (2, "assessed", "A", 72, True),
    (3, "rectifying", "A", 72, True),
    (4, "rectified", "A", 72, True),
    (5, "reopened", "A", 72, True),
    (6, "verified", "A", 72, False),
])
def test_entry_through_the_lifecycle(upto: int, stage: str, grade: str, due_h: float, is_open: bool) -> None:
    entry = decode_entry(fold(LIFE[:upto])[1])
    assert (entry.stage, entry.grade, entry.due, entry.open) == (stage, grade, T0 + due_h * H, is_open)
    assert entry.reported_at == T0
    assert entry.closed_at == (None if is_open else T0 + 120 * H)
    assert list(entry.stages) == [r.stage for r in LIFE[:upto]]
    assert (entry.category, entry.district, entry.grid) == ("gas", "440106", CELL)


def test_reassessment_history_is_kept() -> None:
    entry = decode_entry(fold(LIFE)[1])
    assert [(a.stage, a.grade, a.due) for a in entry.assessments] == [
        ("reported", "B", T0 + 168 * H), ("assessed", "A", T0 + 72 * H)]


def test_reopened_after_verified_opens_again() -> None:
    records = [rec("reported", 0, due_h=72), rec("rectified", 10), rec("verified", 20), rec("reopened", 40)]
    entry = decode_entry(fold(records)[1])
    assert (entry.stage, entry.open, entry.closed_at) == ("reopened", True, None)


@pytest.mark.parametrize("late", ["reported", "assessed", "rectified", "rectifying"])
def test_a_late_record_does_not_undo_a_later_stage(late: str) -> None:
    """Every order of arrival leaves the entry that arrival in event-time order leaves."""
    closed = [*LIFE[:4], LIFE[5]]
    in_order = fold(closed)[1]
    records = [r for r in closed if r.stage != late] + [r for r in LIFE if r.stage == late]
    assert fold(records)[1] == in_order


def test_without_per_stage_fields_a_late_report_is_misread() -> None:
    """Why the ledger must store ``grade:<stage>`` / ``due:<stage>``: without them the last-written grade
    wins, and a late ``reported`` would undo the reassessment."""
    records = [LIFE[1], LIFE[0]]  # the assessment arrives first, the report late
    assert decode_entry(fold(records)[1]).grade == "A"
    assert decode_entry(fold(records, per_stage=False)[1]).grade == "B"


def test_stage_ties_go_to_the_later_stage() -> None:
    assert current_stage({"reported": 5.0, "verified": 9.0, "reopened": 9.0}) == "reopened"
    assert current_stage({"reported": 5.0, "rectified": 9.0, "verified": 9.0}) == "verified"


def test_missing_report_leaves_due_unknown() -> None:
    """The reported record was lost: no deadline, report time is the earliest stage known."""
    entry = decode_entry(fold([rec("rectifying", 30, "C"), rec("rectified", 40, "C")])[1])
    assert entry.due is None and entry.reported_at == T0 + 30 * H and entry.grade == "C"


def test_district_only_hazard_has_no_grid() -> None:
    ev = Event("hazards", "hz-9", "reported", T0, None, None, "440104", "flood_prone", grade="D",
               due=T0 + DAY)
    entry = decode_entry(register_entry({"s:reported": repr(T0), "d": "440104", "g": "", "c": "flood_prone",
                                         "grade": "D", "due": repr(T0 + DAY)}, ev))
    assert entry.grid is None and entry.district == "440104"


_stage = st.sampled_from(STAGES["hazards"])


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(_stage, st.integers(0, 500), st.sampled_from("ABCD"), st.integers(0, 800)),
                min_size=1, max_size=8))
def test_entry_does_not_depend_on_arrival_order(raw: list[tuple[str, int, str, int]]) -> None:
    """Any permutation of one hazard's records (first of each stage kept) gives the same entry, and the
    entry's stage is the latest by event time."""
    seen: dict[str, Event] = {}
    for stage, at_h, grade, due_h in raw:
        seen.setdefault(stage, rec(stage, at_h, grade, due_h if stage in ("reported", "assessed") else None))
    records = list(seen.values())
    first = fold(records)[1]
    for perm in itertools.islice(itertools.permutations(records), 24):
        assert fold(list(perm))[1] == first
    entry = decode_entry(first)
    latest = max(r.ts for r in records)
    assert entry.stage_at == latest and entry.updated_at == latest
    assert entry.open == (entry.stage != "verified")


def test_entries_frame_columns() -> None:
    entries = [fold(LIFE)[1], fold([rec("reported", 0, "C", 100, hazard_id="hz-2")])[1]]
    frame = entries_frame(entries)
    assert list(frame["id"]) == ["hz-1", "hz-2"]
    assert list(frame["open"]) == [False, True]
    assert frame["closed_at"].isna().tolist() == [False, True]
    assert entries_frame([]).shape == (0, 10)
    with pytest.raises(msgspec.ValidationError):
        entries_frame([b'{"id": "x"}'])


def _placed(records: Sequence[Event]) -> list[PlacedEvent]:
    return [PlacedEvent(i, ev, CELL, "440106") for i, ev in enumerate(records)]


def test_the_ledger_hook_gives_the_entry() -> None:
    """Through the real batch planner: one entry per hazard id, from its last accepted record."""
    other = rec("reported", 1, "D", 500, hazard_id="hz-2", category="electrical")
    plan = plan_batch(_placed([*LIFE[:3], other, LIFE[2]]), {}, register=register_entry, now=T0 + 200 * H)
    assert set(plan.registers) == {"hz-1", "hz-2"}
    one = decode_entry(plan.registers["hz-1"])
    assert (one.stage, one.grade, one.due) == ("rectifying", "A", T0 + 72 * H)
    assert decode_entry(plan.registers["hz-2"]).category == "electrical"
    # a second batch on the stored state continues the entry
    plan2 = plan_batch(_placed(LIFE[3:]), {"hz-1": plan.states["hz-1"]}, register=register_entry,
                       now=T0 + 200 * H)
    stored = {**plan.states["hz-1"], **plan2.states["hz-1"]}
    assert decode_entry(plan2.registers["hz-1"]) == build_entry(stored, LIFE[5])


def _ledger_keeps_per_stage_fields() -> bool:
    plan = plan_batch(_placed([LIFE[0]]), {}, register=register_entry, now=T0)
    return "grade:reported" in plan.states["hz-1"]


@pytest.mark.skipif(not _ledger_keeps_per_stage_fields(),
                    reason="metrics.ledger does not yet store grade:<stage> / due:<stage> for hazards "
                           "(hook requested in docs/hazards.md, 'Ledger hooks')")
def test_the_ledger_hook_survives_a_late_report() -> None:
    plan = plan_batch(_placed([LIFE[1], LIFE[0]]), {}, register=register_entry, now=T0 + 200 * H)
    entry = decode_entry(plan.registers["hz-1"])
    assert (entry.grade, entry.due, entry.stage) == ("A", T0 + 72 * H, "assessed")
