"""The register sweep: overdue flags, reminders, escalation, warnings and retention, vectorised. Pure.

Everything is decided from the register frame (:func:`metrics.hazards.register.entries_frame`), a clock
and the policy, so a frozen clock gives a reproducible answer:

- A hazard is overdue iff it is open and ``now > due`` (strictly: on the deadline itself it is still in
  time). A hazard without a deadline gets ``reported_at + limit_days`` of its grade (``due_estimated``).
- Reminders: for each of the grade's ``remind_hours`` h, once while ``due - h <= now < due``.
- Escalation: an overdue hazard reaches tier *t* once it is ``escalate[t]`` hours past due; the tier
  reached never falls while the delay grows (the hours may not decrease up the tiers). A closed hazard
  reports the tier it had reached when it was verified.
- Warnings: an overdue hazard of a grade with a ``warning`` level raises that warning once.

Every action is a *step* with a stable id ``<hazard id>|<kind>:<detail>|<deadline>``; the sweep returns
only steps whose id is not in the set already recorded, so repeating a sweep at the same or a later clock
never repeats one. The deadline is part of the id: a reassessment that moves the deadline, or a reopened
hazard missing a new one, starts its reminders and escalation afresh.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pandas as pd

from metrics.hazards.config import TIERS, HazardsConfig
from streams.schemas import GRADES

DETECTOR = "hazard_overdue"
STREAM = "hazards"
#: The ``escalation`` of a hazard that has reached no tier.
NO_ESCALATION = "none"
_CST_OFFSET_S = 8 * 3600  # explanations speak Guangzhou time (UTC+8, no daylight saving)
_GRADE_INDEX = pd.Index(GRADES, dtype=object)


@dataclass(frozen=True)
class WarningDescriptor:
    """A warning the sweep asks the warnings store to raise for an overdue hazard.

    ``fingerprint`` is ``("hazard_overdue", category, hazard id)``: one warning per hazard, whose level
    rises if a reassessment makes the hazard more serious. ``scope`` is ``grid`` (target: the cell) for a
    positioned hazard, else ``district`` (target: the district code).
    """

    fingerprint: tuple[str, str, str]
    level: str
    scope: str
    target: str
    stream: str
    category: str
    detector: str
    explanation: str
    hazard_id: str
    grade: str
    district: str
    due: float
    overdue_s: float
    raised_at: float

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready form."""
        out = asdict(self)
        out["fingerprint"] = list(self.fingerprint)
        return out


@dataclass
class SweepResult:
    """What one sweep found.

    Attributes:
        steps: new steps to record (dicts: ``step``, ``hazard``, ``kind`` remind/escalate/warn, ``detail``,
            ``grade``, ``category``, ``district``, ``grid``, ``due``, ``at``), sorted by hazard, then
            reminders (longest lead first), tiers upwards, warning.
        warnings: warnings to raise, one per new ``warn`` step.
        expired: ids of closed hazards past the retention, to drop from the register.
        status: the frame with its derived columns (see :func:`evaluate`).
    """

    steps: list[dict[str, Any]] = field(default_factory=list)
    warnings: list[WarningDescriptor] = field(default_factory=list)
    expired: list[str] = field(default_factory=list)
    status: pd.DataFrame = field(default_factory=pd.DataFrame)


@dataclass(frozen=True)
class _Policy:
    """The policy as arrays indexed by grade code (0..3 = A..D; 4 = a grade outside the vocabulary)."""

    limit_s: np.ndarray
    weight: np.ndarray
    warning: np.ndarray
    tier_after_s: np.ndarray  # (len(TIERS), 5), inf where the grade never reaches the tier
    reminders: tuple[tuple[int, float], ...]  # (grade code, hours before the deadline)


def _policy(config: HazardsConfig) -> _Policy:
    pols = [config.grades[g] for g in GRADES]
    # an unknown grade (not possible after validation, but a hand-edited register may hold one) is
    # treated like the mildest one for its deadline and raises nothing
    limit = np.array([p.limit_days for p in pols] + [pols[-1].limit_days]) * 86400.0
    weight = np.array([p.weight for p in pols] + [0.0])
    warning = np.array([p.warning for p in pols] + [""], dtype=object)
    after = np.full((len(TIERS), len(GRADES) + 1), np.inf)
    for j, p in enumerate(pols):
        for tier, hours in p.escalate:
            after[TIERS.index(tier), j] = hours * 3600.0
    reminders = tuple((j, h) for j, p in enumerate(pols) for h in p.remind_hours)
    return _Policy(limit, weight, warning, after, reminders)


def grade_codes(grades: pd.Series | np.ndarray) -> np.ndarray:
    """0..3 for A..D, 4 for anything else."""
    codes = _GRADE_INDEX.get_indexer(pd.Index(np.asarray(grades, dtype=object), dtype=object))
    return np.where(codes < 0, len(GRADES), codes)


def evaluate(frame: pd.DataFrame, now: float, config: HazardsConfig) -> pd.DataFrame:
    """Derived status of every hazard at ``now``: a copy of ``frame`` with, in addition,

    - ``grade_code`` (int, 0..3 = A..D), ``weight`` (the grade's index weight),
    - ``due_at`` (effective deadline, epoch s) and ``due_estimated`` (no record carried one),
    - ``overdue`` (open and ``now > due_at``) and ``overdue_s`` (seconds past due, 0 when not overdue),
    - ``tier`` (0 none, 1 street, 2 district, 3 city) and ``escalation`` (its name, or ``"none"``): reached
      at ``now`` for an open hazard, at closing for a closed one.
    """
    pol = _policy(config)
    codes = grade_codes(frame["grade"])
    due = frame["due"].to_numpy(dtype=float)
    estimated = np.isnan(due)
    due_at = np.where(estimated, frame["reported_at"].to_numpy(dtype=float) + pol.limit_s[codes], due)
    is_open = frame["open"].to_numpy(dtype=bool)
    overdue = is_open & (now > due_at)
    # Escalation is evaluated at now while open, at the verification time once closed.
    ref = np.where(is_open, now, frame["closed_at"].to_numpy(dtype=float))
    late_s = ref - due_at
    past = late_s > 0
    tier = np.zeros(len(frame), dtype=np.int64)
    for t in range(len(TIERS)):
        tier += past & (late_s >= pol.tier_after_s[t][codes])
    names = np.array((NO_ESCALATION, *TIERS), dtype=object)
    out = frame.copy()
    out["grade_code"] = codes
    out["weight"] = pol.weight[codes]
    out["due_at"] = due_at
    out["due_estimated"] = estimated
    out["overdue"] = overdue
    out["overdue_s"] = np.where(overdue, now - due_at, 0.0)
    out["tier"] = tier
    out["escalation"] = pd.Series(names[tier], index=out.index, dtype=object)
    return out


def _local_minutes(ts: np.ndarray) -> list[str]:
    """Epoch seconds as Guangzhou wall time ``YYYY-MM-DD HH:MM`` (vectorised)."""
    shifted = (np.floor(ts) + _CST_OFFSET_S).astype("datetime64[s]")
    return [t.replace("T", " ") for t in np.datetime_as_string(shifted, unit="m").tolist()]


def _explain(hazard_id: str, grade: str, category: str, stage: str, due_local: str, late_s: float,
             tier: str, estimated: bool) -> str:
    deadline = f"{due_local} (UTC+8{', estimated from the grade time limit' if estimated else ''})"
    reached = f"; escalated to {tier}" if tier != NO_ESCALATION else ""
    return (f"Hazard {hazard_id} ({category}, grade {grade}) is {late_s / 3600:.1f} h past its rectification "
            f"deadline {deadline} and still open at stage '{stage}'{reached}.")


def step_id(hazard_id: str, kind: str, detail: str, due_at: float) -> str:
    """The stable id of one step (see module docstring)."""
    return f"{hazard_id}|{kind}:{detail}|{round(due_at)}"


def sweep(frame: pd.DataFrame, now: float, config: HazardsConfig,
          recorded: Collection[str] = frozenset()) -> SweepResult:
    """Run the sweep at ``now`` over the register frame; ``recorded`` holds the step ids already done."""
    status = evaluate(frame, now, config)
    pol = _policy(config)
    n = len(status)
    if n == 0:
        return SweepResult(status=status)
    ids = status["id"].to_numpy(dtype=object)
    codes = status["grade_code"].to_numpy()
    due_at = status["due_at"].to_numpy()
    is_open = status["open"].to_numpy(dtype=bool)
    overdue = status["overdue"].to_numpy(dtype=bool)
    late_s = now - due_at

    # (row, kind, detail) of every step the clock has reached, by kind; ids built only for those rows
    wanted: list[tuple[np.ndarray, str, str]] = []
    for code, hours in pol.reminders:
        rows = np.flatnonzero(is_open & (codes == code) & (due_at - hours * 3600.0 <= now) & (now < due_at))
        wanted.append((rows, "remind", f"{hours:g}h"))
    for t, tier in enumerate(TIERS):
        rows = np.flatnonzero(overdue & (late_s >= pol.tier_after_s[t][codes]))
        wanted.append((rows, "escalate", tier))
    warning = pol.warning[codes]
    for level in ("blue", "yellow", "orange", "red"):
        rows = np.flatnonzero(overdue & (warning == level))
        wanted.append((rows, "warn", level))

    due_key = np.full(n, "", dtype=object)
    any_rows = np.unique(np.concatenate([rows for rows, _, _ in wanted])) if wanted else np.array([], int)
    due_key[any_rows] = np.rint(due_at[any_rows]).astype(np.int64).astype(str).astype(object)

    new_rows: list[np.ndarray] = []
    new_ids: list[np.ndarray] = []
    new_seq: list[np.ndarray] = []
    new_kind: list[str] = []
    new_detail: list[str] = []
    for seq, (rows, kind, detail) in enumerate(wanted):
        if len(rows) == 0:
            continue
        sids = ids[rows] + f"|{kind}:{detail}|" + due_key[rows]
        fresh = np.fromiter((s not in recorded for s in sids), dtype=bool, count=len(sids)) if recorded \
            else np.ones(len(sids), dtype=bool)
        if fresh.any():
            count = int(fresh.sum())
            new_rows.append(rows[fresh])
            new_ids.append(sids[fresh])
            new_seq.append(np.full(count, seq))
            new_kind += [kind] * count
            new_detail += [detail] * count

    result = SweepResult(status=status)
    if new_rows:
        rows_all = np.concatenate(new_rows)
        # per hazard: reminders, then tiers upwards, then the warning (the order they happen in)
        order = np.lexsort((np.concatenate(new_seq), ids[rows_all].astype(str)))
        rows = rows_all[order]
        kinds_sorted = [new_kind[k] for k in order.tolist()]
        details_sorted = [new_detail[k] for k in order.tolist()]
        grid = status["grid"].to_numpy(dtype=object)[rows]
        cells = [g if isinstance(g, str) and g else None for g in grid.tolist()]
        columns = zip(
            np.concatenate(new_ids)[order].tolist(), ids[rows].tolist(), kinds_sorted, details_sorted,
            status["grade"].to_numpy(dtype=object)[rows].tolist(),
            status["category"].to_numpy(dtype=object)[rows].tolist(),
            status["district"].to_numpy(dtype=object)[rows].tolist(), cells, due_at[rows].tolist(),
            strict=True,
        )
        at = float(now)
        result.steps = [
            {"step": sid, "hazard": hid, "kind": kind, "detail": detail, "grade": grade, "category": category,
             "district": district, "grid": cell, "due": due, "at": at}
            for sid, hid, kind, detail, grade, category, district, cell, due in columns
        ]
        warn = np.flatnonzero(np.array(kinds_sorted, dtype=object) == "warn")
        if len(warn):
            wrows = rows[warn]
            local = _local_minutes(due_at[wrows])
            stage = status["stage"].to_numpy(dtype=object)[wrows].tolist()
            estimated = status["due_estimated"].to_numpy(dtype=bool)[wrows].tolist()
            tier = status["escalation"].to_numpy(dtype=object)[wrows].tolist()
            late = late_s[wrows].tolist()
            for j, i in enumerate(warn.tolist()):
                step = result.steps[i]
                cell = step["grid"]
                result.warnings.append(WarningDescriptor(
                    fingerprint=(DETECTOR, step["category"], step["hazard"]),
                    level=step["detail"],
                    scope="grid" if cell else "district",
                    target=cell or step["district"],
                    stream=STREAM,
                    category=step["category"],
                    detector=DETECTOR,
                    explanation=_explain(step["hazard"], step["grade"], step["category"], stage[j], local[j],
                                         late[j], tier[j], estimated[j]),
                    hazard_id=step["hazard"],
                    grade=step["grade"],
                    district=step["district"],
                    due=step["due"],
                    overdue_s=late[j],
                    raised_at=at,
                ))
    closed_at = status["closed_at"].to_numpy(dtype=float)
    expired = ~is_open & (now - closed_at >= config.retention_s)
    result.expired = sorted(str(i) for i in ids[expired])
    return result


def iso(ts: float) -> str:
    """Epoch seconds as ISO 8601 UTC (the API's time format)."""
    return datetime.fromtimestamp(ts, tz=UTC).isoformat(timespec="seconds")
