"""The sweep at a frozen clock: overdue flags, reminders, escalation, warnings, retention."""

from __future__ import annotations

import msgspec
import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from metrics.hazards.config import default_config
from metrics.hazards.register import HazardEntry, entries_frame
from metrics.hazards.sweep import evaluate, step_id, sweep

T0 = 1_750_000_000.0
H = 3600.0
DAY = 86400.0
CELL = "88411c8d3bfffff"
CONFIG = default_config()


def entry(hazard_id: str = "hz-1", grade: str = "A", due_h: float | None = 72.0, *, stage: str = "reported",
          closed_h: float | None = None, grid: str | None = CELL, district: str = "440106",
          category: str = "gas") -> bytes:
    """A stored entry: reported at T0, deadline ``due_h`` hours after T0, verified at ``closed_h``."""
    stages = {"reported": T0}
    if closed_h is not None:
        stage = "verified"
        stages["verified"] = T0 + closed_h * H
    elif stage != "reported":
        stages[stage] = T0 + H
    return msgspec.json.encode(HazardEntry(
        id=hazard_id, category=category, district=district, grid=grid, grade=grade,
        due=None if due_h is None else T0 + due_h * H, stage=stage, stage_at=max(stages.values()),
        open=closed_h is None, reported_at=T0, closed_at=None if closed_h is None else T0 + closed_h * H,
        updated_at=max(stages.values()), stages=stages, assessments=[],
    ))


def frame(*entries: bytes) -> pd.DataFrame:
    return entries_frame(list(entries))


def kinds(result) -> list[str]:  # type: ignore[no-untyped-def]
    return [f"{s['kind']}:{s['detail']}" for s in result.steps]


# grade A: due 72 h after report; reminder 24 h ahead; street at once, district after 24 h, city after 72 h
@pytest.mark.parametrize(("grade", "at_h", "overdue", "escalation", "steps"), [
    ("A", 47.0, False, "none", []),
    ("A", 48.0, False, "none", ["remind:24h"]),
    ("A", 71.0, False, "none", ["remind:24h"]),
    ("A", 72.0, False, "none", []),  # on the deadline itself: still in time
    ("A", 72.01, True, "street", ["escalate:street", "warn:red"]),
    ("A", 95.99, True, "street", ["escalate:street", "warn:red"]),
    ("A", 96.0, True, "district", ["escalate:street", "escalate:district", "warn:red"]),
    ("A", 144.0, True, "city", ["escalate:street", "escalate:district", "escalate:city", "warn:red"]),
    ("B", 72.01, True, "street", ["escalate:street", "warn:orange"]),
    ("B", 144.0, True, "district", ["escalate:street", "escalate:district", "warn:orange"]),
    ("B", 240.0, True, "city", ["escalate:street", "escalate:district", "escalate:city", "warn:orange"]),
    ("C", 0.0, False, "none", ["remind:72h"]),
    ("C", 100.0, True, "street", ["escalate:street"]),
    ("C", 72.0 + 168.0, True, "district", ["escalate:street", "escalate:district"]),
    ("D", 100.0, True, "none", []),
    ("D", 72.0 + 72.0, True, "street", ["escalate:street"]),
])
def test_known_answers_at_a_frozen_clock(grade: str, at_h: float, overdue: bool, escalation: str,
                                         steps: list[str]) -> None:
    now = T0 + at_h * H
    result = sweep(frame(entry(grade=grade)), now, CONFIG)
    status = result.status.iloc[0]
    assert (bool(status["overdue"]), status["escalation"]) == (overdue, escalation)
    assert kinds(result) == steps
    assert all(s["step"] == step_id("hz-1", s["kind"], s["detail"], T0 + 72 * H) for s in result.steps)


def test_warning_descriptors() -> None:
    f = frame(entry("a", "A"), entry("b", "B", grid=None, district="440104", category="structural"),
              entry("c", "C"), entry("d", "A", due_h=500))
    result = sweep(f, T0 + 100 * H, CONFIG)
    by_id = {w.hazard_id: w for w in result.warnings}
    assert set(by_id) == {"a", "b"}
    red, orange = by_id["a"], by_id["b"]
    assert (red.level, red.scope, red.target) == ("red", "grid", CELL)
    assert red.fingerprint == ("hazard_overdue", "gas", "a")
    assert (orange.level, orange.scope, orange.target) == ("orange", "district", "440104")
    assert orange.fingerprint == ("hazard_overdue", "structural", "b")
    assert (red.stream, red.detector, red.category) == ("hazards", "hazard_overdue", "gas")
    assert "28.0 h past" in red.explanation and "escalated to district" in red.explanation
    assert red.overdue_s == pytest.approx(28 * H)
    assert red.to_dict()["fingerprint"] == ["hazard_overdue", "gas", "a"]


def test_recorded_steps_are_not_repeated() -> None:
    f = frame(entry(grade="A"))
    first = sweep(f, T0 + 100 * H, CONFIG)
    recorded = {s["step"] for s in first.steps}
    assert sweep(f, T0 + 100 * H, CONFIG, recorded).steps == []
    later = sweep(f, T0 + 150 * H, CONFIG, recorded)
    assert kinds(later) == ["escalate:city"] and later.warnings == []


def test_a_moved_deadline_starts_afresh() -> None:
    """Reassessed to a later deadline: no longer overdue; missing the new one escalates again."""
    recorded = {s["step"] for s in sweep(frame(entry(due_h=72)), T0 + 100 * H, CONFIG).steps}
    moved = frame(entry(due_h=200))
    assert sweep(moved, T0 + 100 * H, CONFIG, recorded).status["overdue"].tolist() == [False]
    again = sweep(moved, T0 + 201 * H, CONFIG, recorded)
    assert kinds(again) == ["escalate:street", "warn:red"]
    assert all(s["step"].endswith(f"|{round(T0 + 200 * H)}") for s in again.steps)


def test_closed_hazards_are_never_overdue_and_keep_their_escalation() -> None:
    f = frame(entry("late", due_h=72, closed_h=100), entry("fine", due_h=72, closed_h=50))
    result = sweep(f, T0 + 1000 * H, CONFIG)
    assert result.steps == [] and result.warnings == []
    assert result.status["overdue"].tolist() == [False, False]
    assert result.status["escalation"].tolist() == ["district", "none"]  # reached by the time it closed


def test_reopened_hazard_is_overdue_again() -> None:
    f = frame(entry(stage="reopened", due_h=72))
    result = sweep(f, T0 + 80 * H, CONFIG)
    assert result.status["overdue"].tolist() == [True]
    assert kinds(result) == ["escalate:street", "warn:red"]


def test_deadline_estimated_from_the_grade_limit() -> None:
    f = frame(entry(grade="B", due_h=None))
    status = evaluate(f, T0 + 7 * DAY + 1, CONFIG).iloc[0]
    assert status["due_estimated"] and status["due_at"] == T0 + 7 * DAY and status["overdue"]


@pytest.mark.parametrize(("closed_days_ago", "expired"), [(399.9, False), (400.0, True), (1000.0, True)])
def test_retention_drops_closed_hazards(closed_days_ago: float, expired: bool) -> None:
    now = T0 + 2000 * DAY
    closed_h = (2000 - closed_days_ago) * 24
    result = sweep(frame(entry("old", closed_h=closed_h), entry("open-long", due_h=1)), now, CONFIG)
    assert result.expired == (["old"] if expired else [])


def test_empty_register() -> None:
    result = sweep(frame(), T0, CONFIG)
    assert result.steps == [] and result.warnings == [] and result.expired == []


# ----------------------------------------------------------------------------------------- properties

_hazard = st.tuples(
    st.sampled_from("ABCD"),
    st.one_of(st.none(), st.floats(-500, 1500)),  # due, hours after T0
    st.one_of(st.none(), st.floats(0, 3000)),  # closed at, hours after T0
    st.booleans(),  # has a grid cell
)


def _frame_of(hazards: list[tuple[str, float | None, float | None, bool]]) -> pd.DataFrame:
    return frame(*(entry(f"hz-{i}", g, due, closed_h=closed, grid=CELL if cell else None)
                   for i, (g, due, closed, cell) in enumerate(hazards)))


@settings(max_examples=150, deadline=None)
@given(st.lists(_hazard, max_size=30), st.floats(-100, 4000))
def test_overdue_iff_open_and_past_due(hazards, at_h: float) -> None:  # type: ignore[no-untyped-def]
    now = T0 + at_h * H
    status = evaluate(_frame_of(hazards), now, CONFIG)
    for (grade, due, closed, _), row in zip(hazards, status.itertuples(), strict=True):
        due_at = T0 + due * H if due is not None else T0 + CONFIG.grades[grade].limit_days * DAY
        assert row.overdue == (closed is None and now > due_at)
        assert row.overdue == (row.overdue_s > 0)


@settings(max_examples=100, deadline=None)
@given(st.lists(_hazard, min_size=1, max_size=20), st.lists(st.floats(0, 4000), min_size=1, max_size=8))
def test_steps_are_never_repeated(hazards, clocks: list[float]) -> None:  # type: ignore[no-untyped-def]
    """Sweeping at rising clocks with the steps recorded so far never returns a recorded step, and the
    escalations and warnings taken along the way are those of one sweep at the last clock."""
    f = _frame_of(hazards)
    recorded: set[str] = set()
    for at_h in sorted(clocks):
        result = sweep(f, T0 + at_h * H, CONFIG, recorded)
        ids = [s["step"] for s in result.steps]
        assert len(ids) == len(set(ids)) and not recorded & set(ids)
        assert sweep(f, T0 + at_h * H, CONFIG, recorded | set(ids)).steps == []
        recorded |= set(ids)
    once = sweep(f, T0 + max(clocks) * H, CONFIG)
    lasting = {s["step"] for s in once.steps if s["kind"] != "remind"}
    assert {s for s in recorded if "|remind:" not in s} == lasting


@settings(max_examples=200, deadline=None)
@given(st.sampled_from("ABCD"), st.floats(0, 2000), st.floats(0, 2000))
def test_escalation_is_monotone_in_delay(grade: str, d1: float, d2: float) -> None:
    lo, hi = sorted((d1, d2))
    f = frame(entry(grade=grade, due_h=0))
    tiers = [int(evaluate(f, T0 + d * H, CONFIG)["tier"].iloc[0]) for d in (lo, hi)]
    assert tiers[0] <= tiers[1]
    steps = [{s["detail"] for s in sweep(f, T0 + d * H, CONFIG).steps if s["kind"] == "escalate"}
             for d in (lo, hi)]
    assert steps[0] <= steps[1]
    assert len(steps[1]) == tiers[1]


def test_sweep_is_vectorised_over_many_hazards() -> None:
    """A larger register gives the same answer as sweeping each hazard alone."""
    rng = np.random.default_rng(7)
    hazards = [(str(g), float(d), None, bool(c)) for g, d, c in
               zip(rng.choice(list("ABCD"), 200), rng.uniform(-300, 300, 200), rng.random(200) < 0.7,
                   strict=True)]
    whole = sweep(_frame_of(hazards), T0, CONFIG)
    alone: list[str] = []
    for i, hz in enumerate(hazards):
        single = frame(entry(f"hz-{i}", hz[0], hz[1], grid=CELL if hz[3] else None))
        alone += [s["step"] for s in sweep(single, T0, CONFIG).steps]
    assert sorted(s["step"] for s in whole.steps) == sorted(alone)
