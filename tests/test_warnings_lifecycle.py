"""The warning lifecycle: transitions, dedup, levels, auto-recovery, escalation, suppression, silences."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from metrics.warnings.detect import Candidate, Explanation
from metrics.warnings.errors import TransitionError, WarningsError
from metrics.warnings.lifecycle import (
    Board,
    Fingerprint,
    Outcome,
    Silence,
    Status,
    acknowledge,
    act,
    apply_candidates,
    auto_recover,
    close,
    cycle,
    dispatch,
    escalate,
    resolve,
    suppress,
    visible,
)

ACK = {"blue": 1440, "yellow": 240, "orange": 60, "red": 15}
T0 = 1_750_000_000.0


def cand(
    level: int = 2,
    *,
    scope: str = "grid",
    target: str = "cellA",
    detector: str = "cusum",
    category: str = "noise",
    at: float = T0,
) -> Candidate:
    expl = Explanation(
        detector=detector,
        observed=30,
        expected=10,
        p_value=1e-4,
        recurrence_days=200,
        window_start=at - 3600,
        window_end=at,
        area=f"{scope}:{target}",
        series_ids=(f"{scope}:{target}:hotline.{category}",),
    )
    return Candidate(
        detector=detector,
        stream="hotline",
        category=category,
        scope=scope,
        target=target,
        level=level,
        at=at,
        explanation=expl,
    )


def test_raise_records_who_and_when() -> None:
    board = apply_candidates(Board(), [cand()], T0)
    (w,) = board.warnings
    assert w.status is Status.RAISED
    assert w.level_name == "yellow"
    assert (w.history[0].by, w.history[0].at, w.history[0].action) == ("system", T0, "raised")
    assert "30 observed vs 10.0 expected" in w.history[0].note


def test_full_path_to_closed() -> None:
    board = apply_candidates(Board(), [cand()], T0)
    wid = board.warnings[0].id
    board = act(board, wid, "ack", "li.wei", T0 + 60)
    board = act(board, wid, "dispatch", "li.wei", T0 + 120, note="team 3")
    board = act(board, wid, "resolve", "zhang.min", T0 + 3600, outcome="true_event")
    board = act(board, wid, "close", "chen.jie", T0 + 7200)
    w = board.get(wid)
    assert w.status is Status.CLOSED
    assert w.outcome is Outcome.TRUE_EVENT
    assert [(t.action, t.by, t.at) for t in w.history] == [
        ("raised", "system", T0),
        ("acknowledged", "li.wei", T0 + 60),
        ("dispatched", "li.wei", T0 + 120),
        ("resolved", "zhang.min", T0 + 3600),
        ("closed", "chen.jie", T0 + 7200),
    ]


@pytest.mark.parametrize(
    ("path", "bad"),
    [
        ([], dispatch),  # raised -> dispatched skips acknowledgement
        ([], close),
        ([acknowledge], close),
        ([acknowledge, dispatch], acknowledge),
    ],
)
def test_illegal_transitions_are_refused(path: list, bad: object) -> None:
    w = apply_candidates(Board(), [cand()], T0).warnings[0]
    for step in path:
        w = step(w, "u", T0 + 1)
    with pytest.raises(TransitionError, match="cannot"):
        bad(w, "u", T0 + 2)  # type: ignore[operator]


def test_resolve_from_acknowledged_and_outcome_checked() -> None:
    w = acknowledge(apply_candidates(Board(), [cand()], T0).warnings[0], "u", T0 + 1)
    with pytest.raises(TransitionError, match="outcome"):
        resolve(w, "u", T0 + 2, "maybe")
    assert resolve(w, "u", T0 + 2, Outcome.FALSE_ALARM).outcome is Outcome.FALSE_ALARM


def test_actor_is_required() -> None:
    w = apply_candidates(Board(), [cand()], T0).warnings[0]
    with pytest.raises(TransitionError, match="who"):
        acknowledge(w, "", T0)


def test_dedup_updates_and_raises_level_never_lowers() -> None:
    board = apply_candidates(Board(), [cand(2)], T0)
    board = apply_candidates(board, [cand(4, at=T0 + 300)], T0 + 300)
    board = apply_candidates(board, [cand(1, at=T0 + 600)], T0 + 600)
    (w,) = board.warnings
    assert (w.level, w.current_level) == (4, 1)
    assert [t.action for t in w.history] == ["raised", "level_raised"]


def test_same_cycle_duplicates_keep_the_strongest() -> None:
    board = apply_candidates(Board(), [cand(1), cand(3), cand(2)], T0)
    assert [w.level for w in board.warnings] == [3]


def test_new_warning_after_resolution() -> None:
    board = apply_candidates(Board(), [cand()], T0)
    wid = board.warnings[0].id
    board = act(board, wid, "ack", "u", T0 + 1)
    board = act(board, wid, "resolve", "u", T0 + 2, outcome="known_cause")
    board = apply_candidates(board, [cand(at=T0 + 10)], T0 + 10)
    assert len(board.warnings) == 2
    assert board.warnings[1].id != wid


def test_auto_recovery_only_for_unacknowledged_statistical_warnings() -> None:
    rule = cand(4, detector="rule:severity4_incident", target="cellB")
    board = apply_candidates(Board(), [cand(target="c1"), cand(target="c2"), rule], T0)
    board = act(board, board.warnings[1].id, "ack", "u", T0 + 1)
    board = auto_recover(board, [], T0 + 3600, detectors=("cusum",))
    assert [w.status for w in board.warnings] == [Status.AUTO_RECOVERED, Status.ACKNOWLEDGED, Status.RAISED]


def test_escalation_by_level_time_limit() -> None:
    board = apply_candidates(Board(), [cand(4, target="c1"), cand(1, target="c2")], T0)
    board = escalate(board, T0 + 14 * 60, ACK)
    assert [w.tier for w in board.warnings] == ["grid", "grid"]
    board = escalate(board, T0 + 15 * 60, ACK)
    assert [w.tier for w in board.warnings] == ["street", "grid"]
    board = escalate(board, T0 + 30 * 60, ACK)
    board = escalate(board, T0 + 45 * 60, ACK)
    board = escalate(board, T0 + 60 * 60, ACK)
    assert board.warnings[0].tier == "city"
    assert [t.note for t in board.warnings[0].history if t.action == "escalated"] == [
        "grid -> street",
        "street -> district",
        "district -> city",
    ]


def test_acknowledged_warnings_do_not_escalate() -> None:
    board = apply_candidates(Board(), [cand(4)], T0)
    board = act(board, board.warnings[0].id, "ack", "u", T0 + 60)
    assert escalate(board, T0 + 86400, ACK).warnings[0].tier == "grid"


def test_district_warning_suppresses_its_cells() -> None:
    district_of = {"c1": "440106", "c2": "440106", "c3": "440103"}
    cands = [
        cand(target="c1"),
        cand(target="c2", category="water"),
        cand(target="c3"),
        cand(3, scope="district", target="440106"),
    ]
    board = cycle(Board(), cands, T0, district_of=district_of, ack_minutes=ACK)
    by_target = {(w.fingerprint.target, w.fingerprint.category): w for w in board.warnings}
    district_id = by_target[("440106", "noise")].id
    assert by_target[("c1", "noise")].suppressed_by == district_id
    assert by_target[("c2", "water")].suppressed_by is None  # other category
    assert by_target[("c3", "noise")].suppressed_by is None  # other district
    assert {w.fingerprint.target for w in visible(board)} == {"440106", "c2", "c3"}
    # the district warning ends: its cells come back
    board = act(board, district_id, "ack", "u", T0 + 60)
    board = act(board, district_id, "resolve", "u", T0 + 120, outcome="true_event")
    board = suppress(board, district_of, T0 + 120)
    assert board.get(by_target[("c1", "noise")].id).suppressed_by is None


def test_silence_mutes_matching_candidates_until_it_ends() -> None:
    s = Silence(id="s1", by="ops", reason="road works", starts_at=T0, ends_at=T0 + 3600, category="noise")
    board = apply_candidates(Board(), [cand(), cand(target="c9", category="water")], T0 + 10, [s])
    assert [w.fingerprint.category for w in board.warnings] == ["water"]
    board = apply_candidates(board, [cand(at=T0 + 3600)], T0 + 3600, [s])
    assert len(board.warnings) == 2


@pytest.mark.parametrize(("by", "reason", "end"), [("", "x", T0 + 1), ("ops", " ", T0 + 1), ("ops", "x", T0)])
def test_silence_needs_who_reason_and_end(by: str, reason: str, end: float) -> None:
    with pytest.raises(WarningsError):
        Silence(id="s", by=by, reason=reason, starts_at=T0, ends_at=end)


def test_unknown_warning_and_action() -> None:
    board = apply_candidates(Board(), [cand()], T0)
    with pytest.raises(WarningsError, match="no warning"):
        board.get("w-nope")
    with pytest.raises(TransitionError, match="unknown action"):
        act(board, board.warnings[0].id, "shrug", "u", T0)


@settings(max_examples=40, deadline=None)
@given(
    st.lists(
        st.tuples(st.sampled_from(["c1", "c2", "c3"]), st.integers(1, 4), st.booleans()),
        min_size=1,
        max_size=30,
    )
)
def test_never_two_open_warnings_per_fingerprint(steps: list[tuple[str, int, bool]]) -> None:
    board = Board()
    for i, (target, level, ack) in enumerate(steps):
        now = T0 + 300 * i
        board = cycle(board, [cand(level, target=target, at=now)], now, ack_minutes=ACK)
        if ack:
            for w in board.warnings:
                if w.status is Status.RAISED:
                    board = act(board, w.id, "ack", "u", now)
        opened = [w.fingerprint for w in board.warnings if w.is_open]
        assert len(opened) == len(set(opened))
        for w in board.warnings:
            assert w.level >= w.history[0].level
            assert all(a.at <= b.at for a, b in zip(w.history, w.history[1:], strict=False))
    assert Fingerprint("cusum", "hotline", "noise", "grid", "c1") == Fingerprint.of(cand(target="c1"))
