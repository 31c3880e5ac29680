"""Plan one partition batch: duplicates, lifecycle durations and counter increments. Pure: no Redis.

The consumer reads the prior lifecycle state of every event id in the batch, calls :func:`plan_batch`,
and hands the plan to :meth:`metrics.store.MetricsStore.apply_batch`, which applies it atomically only if
the partition's stored offset is still the one it read. Keeping the domain rules here, not in Lua, keeps
them testable and lets the script stay a generic "compare offset, then write" step.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

import msgspec

from metrics.keys import TIERS, Granularity, Scope
from streams.schemas import FIRST_STAGE, Event

#: Default hotline response SLA when a ticket does not carry ``sla_hours``.
DEFAULT_SLA_HOURS = 24.0
#: A hotline ticket counts as resolved in time when resolved within this many hours of creation
#: (the common 12345 rule of five days for ordinary requests).
RESOLUTION_LIMIT_HOURS = 120.0
#: Satisfaction at or above this counts as "satisfied" (the 12345 "satisfaction rate").
SATISFIED_AT = 4


@dataclass(frozen=True)
class PlacedEvent:
    """A validated record with its place: the grid cell (None for a district-only record) and district."""

    offset: int
    event: Event
    grid_id: str | None
    district_code: str


CounterKey = tuple[Granularity, Scope, int]
_TIER_LIST = tuple(TIERS.values())


@dataclass
class BatchPlan:
    """Everything one batch writes. ``counters[(tier, scope, bucket)][field] += n``."""

    counters: dict[CounterKey, dict[str, int]] = field(default_factory=lambda: defaultdict(lambda: defaultdict(int)))
    states: dict[str, dict[str, str]] = field(default_factory=dict)
    accepted: int = 0
    duplicates: int = 0
    rejected: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    recent: list[tuple[float, bytes]] = field(default_factory=list)
    last_ts: float = 0.0


def _measures(ev: Event, state: Mapping[str, str]) -> list[tuple[str, int]]:
    """The measures (name, increment) one accepted record adds, given its event's prior state."""
    out: list[tuple[str, int]] = [("rec", 1)]
    first = FIRST_STAGE[ev.stream]
    if ev.stage == first:
        out.append(("n", 1))
        if ev.stream == "incidents" and ev.severity is not None:
            out.append(("sev", ev.severity))
            if ev.severity >= 4:
                out.append(("s4", 1))
        elif ev.stream == "surveillance" and ev.confidence is not None and ev.confidence >= 0.9:
            out.append(("conf90", 1))
        elif ev.stream == "hazards" and ev.grade:
            out.append((f"g{ev.grade}", 1))
        return out
    started = state.get(f"s:{first}")
    elapsed = ev.ts - float(started) if started is not None else None
    if ev.stream == "incidents":
        if ev.stage == "dispatched" and elapsed is not None:
            out += [("disp_n", 1), ("disp_s", max(0, round(elapsed)))]
        elif ev.stage == "arrived" and elapsed is not None:
            out += [("arr_n", 1), ("arr_s", max(0, round(elapsed)))]
        elif ev.stage == "closed":
            out.append(("closed_n", 1))
    elif ev.stream == "surveillance" and ev.stage == "reviewed":
        out.append(("rev_n", 1))
        if ev.verified is True:
            out.append(("rev_true", 1))
        elif ev.verified is False:
            out.append(("rev_false", 1))
    elif ev.stream == "hotline":
        if ev.stage == "responded" and elapsed is not None:
            sla_h = float(state.get("sla") or DEFAULT_SLA_HOURS)
            out += [("resp_n", 1), ("resp_s", max(0, round(elapsed)))]
            if elapsed <= sla_h * 3600:
                out.append(("resp_sla", 1))
        elif ev.stage == "resolved":
            out.append(("res_n", 1))
            if elapsed is not None and elapsed <= RESOLUTION_LIMIT_HOURS * 3600:
                out.append(("res_intime", 1))
        elif ev.stage == "rated" and ev.satisfaction is not None:
            out += [("rate_n", 1), ("rate_sum", ev.satisfaction)]
            if ev.satisfaction >= SATISFIED_AT:
                out.append(("rate_ok", 1))
        elif ev.stage == "reopened":
            out.append(("reopen_n", 1))
    return out


_recent_encoder = msgspec.json.Encoder()


def _recent_summary(ev: Event, grid_id: str | None, district_code: str, keep_text: bool) -> bytes:
    """What the drill-down shows of a record: personal data only masked, text only while it may be kept."""
    summary: dict[str, object] = {
        "stream": ev.stream,
        "id": ev.id,
        "stage": ev.stage,
        "category": ev.category,
        "ts": ev.ts,
        "grid": grid_id,
        "district": district_code,
    }
    for name in ("severity", "confidence", "verified", "satisfaction", "grade", "caller_mask", "camera_id"):
        value = getattr(ev, name)
        if value is not None:
            summary[name] = value
    if keep_text and ev.text:
        summary["text"] = ev.text[:500]
    return _recent_encoder.encode(summary)


def plan_batch(
    placed: Iterable[PlacedEvent],
    prior_states: Mapping[str, Mapping[str, str]],
    *,
    keep_text: bool = True,
) -> BatchPlan:
    """Plan the writes of one partition batch, records in offset order.

    ``prior_states`` maps event id -> its stored lifecycle hash (empty or missing when unseen). A record
    whose (id, stage) was accepted before — in Redis or earlier in this batch — is a duplicate: counted as
    such and nothing else. Stage updates are counted in the grid and district of the event's first record
    when that is known, so a ticket's lifecycle stays in one place.
    """
    plan = BatchPlan()
    working: dict[str, dict[str, str]] = {}
    for pe in placed:
        ev = pe.event
        state = working.get(ev.id)
        if state is None:
            state = dict(prior_states.get(ev.id) or {})
            working[ev.id] = state
        stage_field = f"s:{ev.stage}"
        if stage_field in state:
            plan.duplicates += 1
            continue
        if "d" in state:
            grid_id, district_code = state.get("g") or None, state["d"]
        else:
            grid_id, district_code = pe.grid_id, pe.district_code
        updates = {stage_field: repr(ev.ts)}
        if "d" not in state:
            updates["d"] = district_code
            updates["g"] = grid_id or ""
            updates["c"] = ev.category
        if ev.sla_hours is not None and ev.stage == FIRST_STAGE[ev.stream]:
            updates["sla"] = repr(ev.sla_hours)
        if ev.grade is not None:
            updates["grade"] = ev.grade
        if ev.due is not None:
            updates["due"] = repr(ev.due)
        measures = _measures(ev, state)
        state.update(updates)
        plan.states.setdefault(ev.id, {}).update(updates)
        plan.accepted += 1
        plan.last_ts = max(plan.last_ts, ev.ts)
        district_prefix = f"{district_code}|{ev.category}|"
        grid_prefix = f"{grid_id}|{ev.category}|" if grid_id is not None else None
        # ``rec`` (every accepted record) feeds the district figures and /stats only; leaving it out of
        # the grid cells saves a fifth of the batch's writes.
        grid_measures = [(m, inc) for m, inc in measures if m != "rec"]
        for tier in _TIER_LIST:
            bucket = tier.bucket_start(ev.ts)
            fields = plan.counters[(tier.name, "d", bucket)]
            for measure, inc in measures:
                fields[district_prefix + measure] += inc
            if grid_prefix is not None and "g" in tier.scopes:
                fields = plan.counters[(tier.name, "g", bucket)]
                for measure, inc in grid_measures:
                    fields[grid_prefix + measure] += inc
        plan.recent.append((ev.ts, _recent_summary(ev, grid_id, district_code, keep_text)))
    return plan
