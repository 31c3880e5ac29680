"""The warning lifecycle as pure functions over frozen dataclasses (storage is the engine's business).

States: ``raised → acknowledged → dispatched → resolved → closed``; a raised warning whose signal ends
before anyone acknowledges it becomes ``auto_recovered``. ``acknowledged → resolved`` is allowed (a
false alarm needs no dispatch). Resolving records an :class:`Outcome`.

- Dedup: a warning is identified by its :class:`Fingerprint` (detector, stream, category, scope,
  target). A new candidate with the fingerprint of an open warning updates it (its explanation, its
  current level) and can raise its level, never lower it and never duplicate it.
- Escalation: a warning not acknowledged within its level's time limit moves up one tier
  (grid → street → district → city); the clock restarts at each tier.
- Suppression: an open district warning suppresses the open grid and street warnings of the same
  stream and category inside that district (they stay recorded, marked ``suppressed_by``).
- Silences: a candidate matching an active silence (end time, reason, who) raises nothing.

Every change appends a :class:`Transition` with who and when.
"""

from __future__ import annotations

import hashlib
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, replace
from enum import StrEnum

from metrics.warnings.config import LEVEL_ORDER, SCOPE_ORDER
from metrics.warnings.detect import Candidate, Explanation
from metrics.warnings.errors import TransitionError, WarningsError

SYSTEM = "system"


class Status(StrEnum):
    RAISED = "raised"
    ACKNOWLEDGED = "acknowledged"
    DISPATCHED = "dispatched"
    RESOLVED = "resolved"
    CLOSED = "closed"
    AUTO_RECOVERED = "auto_recovered"


class Outcome(StrEnum):
    TRUE_EVENT = "true_event"
    KNOWN_CAUSE = "known_cause"
    DATA_ARTEFACT = "data_artefact"
    DUPLICATE = "duplicate"
    FALSE_ALARM = "false_alarm"


OPEN = frozenset({Status.RAISED, Status.ACKNOWLEDGED, Status.DISPATCHED})
_ALLOWED: dict[Status, frozenset[Status]] = {
    Status.RAISED: frozenset({Status.ACKNOWLEDGED, Status.AUTO_RECOVERED}),
    Status.ACKNOWLEDGED: frozenset({Status.DISPATCHED, Status.RESOLVED}),
    Status.DISPATCHED: frozenset({Status.RESOLVED}),
    Status.RESOLVED: frozenset({Status.CLOSED}),
    Status.CLOSED: frozenset(),
    Status.AUTO_RECOVERED: frozenset(),
}


@dataclass(frozen=True)
class Fingerprint:
    detector: str
    stream: str
    category: str
    scope: str
    target: str
    subject: str = ""  # see Candidate.subject

    @classmethod
    def of(cls, c: Candidate) -> Fingerprint:
        return cls(c.detector, c.stream, c.category, c.scope, c.target, c.subject)

    @property
    def key(self) -> str:
        """One string naming the fingerprint (the storage key of the open warning it belongs to)."""
        parts = [self.detector, self.stream, self.category, self.scope, self.target]
        return "|".join([*parts, self.subject] if self.subject else parts)


@dataclass(frozen=True)
class Transition:
    at: float  # epoch s
    by: str  # user name, or "system"
    # raised, level_raised, acknowledged, dispatched, resolved, closed, auto_recovered, escalated,
    # suppressed, unsuppressed
    action: str
    status: Status  # status after the action
    level: int
    note: str = ""


@dataclass(frozen=True)
class WarningRecord:
    id: str
    fingerprint: Fingerprint
    level: int  # highest level reached (1 blue .. 4 red)
    current_level: int  # level at the last evaluation
    status: Status
    raised_at: float
    updated_at: float
    tier: str  # who must act now: grid, street, district or city
    tier_since: float
    explanation: Explanation
    history: tuple[Transition, ...]
    outcome: Outcome | None = None
    suppressed_by: str | None = None

    @property
    def level_name(self) -> str:
        return LEVEL_ORDER[self.level - 1]

    @property
    def is_open(self) -> bool:
        return self.status in OPEN


@dataclass(frozen=True)
class Silence:
    """Mutes matching candidates from ``starts_at`` until ``ends_at``; None fields match anything."""

    id: str
    by: str
    reason: str
    starts_at: float
    ends_at: float
    detector: str | None = None
    stream: str | None = None
    category: str | None = None
    scope: str | None = None
    target: str | None = None

    def __post_init__(self) -> None:
        if not self.by or not self.reason.strip():
            raise WarningsError(
                f"silence {self.id!r}: who (by) and a reason are required, got by={self.by!r}"
            )
        if self.ends_at <= self.starts_at:
            raise WarningsError(
                f"silence {self.id!r}: ends_at {self.ends_at} must be after starts_at {self.starts_at}"
            )

    def matches(self, fp: Fingerprint, now: float) -> bool:
        if not self.starts_at <= now < self.ends_at:
            return False
        pairs = (
            (self.detector, fp.detector),
            (self.stream, fp.stream),
            (self.category, fp.category),
            (self.scope, fp.scope),
            (self.target, fp.target),
        )
        return all(want is None or want == have for want, have in pairs)


@dataclass(frozen=True)
class Board:
    """All warnings the engine keeps, oldest first."""

    warnings: tuple[WarningRecord, ...] = ()

    def get(self, warning_id: str) -> WarningRecord:
        for w in self.warnings:
            if w.id == warning_id:
                return w
        raise WarningsError(f"no warning with id {warning_id!r}")

    def open_by_fingerprint(self) -> dict[Fingerprint, WarningRecord]:
        return {w.fingerprint: w for w in self.warnings if w.is_open}

    def _replace(self, changed: Mapping[str, WarningRecord], added: Iterable[WarningRecord] = ()) -> Board:
        return Board(tuple(changed.get(w.id, w) for w in self.warnings) + tuple(added))


def warning_id(fp: Fingerprint, raised_at: float) -> str:
    """Stable id from the fingerprint and the raise time (so a replayed cycle gives the same id)."""
    raw = f"{fp.key}|{raised_at:.3f}"
    return "w-" + hashlib.sha1(raw.encode()).hexdigest()[:12]


def _start_tier(scope: str) -> str:
    return scope if scope in SCOPE_ORDER else "city"


def apply_candidates(
    board: Board, candidates: Iterable[Candidate], now: float, silences: Iterable[Silence] = ()
) -> Board:
    """Raise new warnings and update open ones from this cycle's candidates (dedup by fingerprint)."""
    strongest: dict[Fingerprint, Candidate] = {}
    for c in candidates:
        fp = Fingerprint.of(c)
        if fp not in strongest or c.level > strongest[fp].level:
            strongest[fp] = c
    active = [s for s in silences if s.starts_at <= now < s.ends_at]
    open_now = board.open_by_fingerprint()
    changed: dict[str, WarningRecord] = {}
    added: list[WarningRecord] = []
    for fp, c in strongest.items():
        if any(s.matches(fp, now) for s in active):
            continue
        w = open_now.get(fp)
        if w is None:
            history = (Transition(now, SYSTEM, "raised", Status.RAISED, c.level, c.explanation.text()),)
            added.append(
                WarningRecord(
                    id=warning_id(fp, now),
                    fingerprint=fp,
                    level=c.level,
                    current_level=c.level,
                    status=Status.RAISED,
                    raised_at=now,
                    updated_at=now,
                    tier=_start_tier(fp.scope),
                    tier_since=now,
                    explanation=c.explanation,
                    history=history,
                )
            )
            continue
        history = w.history
        if c.level > w.level:
            history += (
                Transition(
                    now,
                    SYSTEM,
                    "level_raised",
                    w.status,
                    c.level,
                    f"{LEVEL_ORDER[w.level - 1]} -> {LEVEL_ORDER[c.level - 1]}",
                ),
            )
        changed[w.id] = replace(
            w,
            level=max(w.level, c.level),
            current_level=c.level,
            updated_at=now,
            explanation=c.explanation,
            history=history,
        )
    return board._replace(changed, added)


def auto_recover(
    board: Board, candidates: Iterable[Candidate], now: float, detectors: Collection[str]
) -> Board:
    """Raised (unacknowledged) warnings of ``detectors`` with no candidate this cycle end as auto_recovered.

    The candidates already carry the level hysteresis, so a warning only recovers after its signal stayed
    below the entry conditions for the configured number of windows. Rule warnings are not listed in
    ``detectors``: they wait for a person.
    """
    present = {Fingerprint.of(c) for c in candidates}
    changed = {}
    for w in board.warnings:
        if w.status is Status.RAISED and w.fingerprint.detector in detectors and w.fingerprint not in present:
            changed[w.id] = replace(
                w,
                status=Status.AUTO_RECOVERED,
                current_level=0,
                updated_at=now,
                history=(
                    *w.history,
                    Transition(now, SYSTEM, "auto_recovered", Status.AUTO_RECOVERED, w.level),
                ),
            )
    return board._replace(changed)


def _act(
    w: WarningRecord, to: Status, action: str, by: str, now: float, note: str, **fields: object
) -> WarningRecord:
    if not by:
        raise TransitionError(f"{action} of warning {w.id}: who acts (by) is required")
    if to not in _ALLOWED[w.status]:
        allowed = sorted(s.value for s in _ALLOWED[w.status]) or ["nothing (final)"]
        raise TransitionError(
            f"cannot {action} warning {w.id}: it is {w.status.value}; from there: {allowed}"
        )
    return replace(
        w,
        status=to,
        updated_at=now,
        history=(*w.history, Transition(now, by, action, to, w.level, note)),
        **fields,
    )  # type: ignore[arg-type]


def acknowledge(w: WarningRecord, by: str, now: float, note: str = "") -> WarningRecord:
    return _act(w, Status.ACKNOWLEDGED, "acknowledged", by, now, note)


def dispatch(w: WarningRecord, by: str, now: float, note: str = "") -> WarningRecord:
    return _act(w, Status.DISPATCHED, "dispatched", by, now, note)


def resolve(w: WarningRecord, by: str, now: float, outcome: Outcome | str, note: str = "") -> WarningRecord:
    try:
        result = Outcome(outcome)
    except ValueError as exc:
        raise TransitionError(
            f"resolve warning {w.id}: outcome {outcome!r} is not one of {[o.value for o in Outcome]}"
        ) from exc
    return _act(w, Status.RESOLVED, "resolved", by, now, note or result.value, outcome=result)


def close(w: WarningRecord, by: str, now: float, note: str = "") -> WarningRecord:
    return _act(w, Status.CLOSED, "closed", by, now, note)


def act(board: Board, warning_id_: str, action: str, by: str, now: float, **kwargs: str) -> Board:
    """Apply ``acknowledge``/``dispatch``/``resolve``/``close`` to one warning of the board."""
    actions = {
        "ack": acknowledge,
        "acknowledge": acknowledge,
        "dispatch": dispatch,
        "resolve": resolve,
        "close": close,
    }
    if action not in actions:
        raise TransitionError(f"unknown action {action!r}; use one of {sorted(actions)}")
    w = board.get(warning_id_)
    return board._replace({w.id: actions[action](w, by, now, **kwargs)})  # type: ignore[operator]


def escalate(board: Board, now: float, ack_minutes: Mapping[str, float]) -> Board:
    """Move unacknowledged warnings past their level's time limit up one tier.

    Tiers: grid → street → district → city; the clock restarts at each.
    """
    changed = {}
    for w in board.warnings:
        if w.status is not Status.RAISED or w.tier == SCOPE_ORDER[-1]:
            continue
        limit_s = 60.0 * ack_minutes[w.level_name]
        if now - w.tier_since < limit_s:
            continue
        new_tier = SCOPE_ORDER[SCOPE_ORDER.index(w.tier) + 1]
        changed[w.id] = replace(
            w,
            tier=new_tier,
            tier_since=now,
            updated_at=now,
            history=(
                *w.history,
                Transition(now, SYSTEM, "escalated", w.status, w.level, f"{w.tier} -> {new_tier}"),
            ),
        )
    return board._replace(changed)


def suppress(board: Board, district_of: Mapping[str, str], now: float) -> Board:
    """Mark open grid/street warnings covered by an open district warning of the same stream and category.

    ``district_of`` maps grid_id and street_code to district_code.
    """
    district_open = {
        (w.fingerprint.target, w.fingerprint.stream, w.fingerprint.category): w.id
        for w in board.warnings
        if w.is_open and w.fingerprint.scope == "district"
    }
    changed = {}
    for w in board.warnings:
        if w.fingerprint.scope not in ("grid", "street"):
            continue
        district = district_of.get(w.fingerprint.target)
        by = (
            district_open.get((district, w.fingerprint.stream, w.fingerprint.category)) if w.is_open else None
        )
        if by == w.suppressed_by:
            continue
        action, note = ("suppressed", f"by district warning {by}") if by else ("unsuppressed", "")
        changed[w.id] = replace(
            w,
            suppressed_by=by,
            updated_at=now,
            history=(*w.history, Transition(now, SYSTEM, action, w.status, w.level, note)),
        )
    return board._replace(changed)


def cycle(
    board: Board,
    candidates: Iterable[Candidate],
    now: float,
    *,
    silences: Iterable[Silence] = (),
    district_of: Mapping[str, str] | None = None,
    ack_minutes: Mapping[str, float] | None = None,
    recovering_detectors: Collection[str] = ("spike", "cusum", "ewma", "ears_c2", "ears_c3", "gi_star"),
) -> Board:
    """One engine cycle: apply candidates, auto-recover, suppress, escalate."""
    cands = list(candidates)
    board = apply_candidates(board, cands, now, silences)
    board = auto_recover(board, cands, now, recovering_detectors)
    if district_of is not None:
        board = suppress(board, district_of, now)
    if ack_minutes is not None:
        board = escalate(board, now, ack_minutes)
    return board


def visible(board: Board) -> list[WarningRecord]:
    """Open warnings not suppressed, highest level first, then oldest."""
    return sorted(
        (w for w in board.warnings if w.is_open and w.suppressed_by is None),
        key=lambda w: (-w.level, w.raised_at),
    )


__all__ = [
    "OPEN",
    "Board",
    "Fingerprint",
    "Outcome",
    "Silence",
    "Status",
    "Transition",
    "WarningRecord",
    "acknowledge",
    "act",
    "apply_candidates",
    "auto_recover",
    "close",
    "cycle",
    "dispatch",
    "escalate",
    "resolve",
    "suppress",
    "visible",
    "warning_id",
]
