"""Plan one partition batch: duplicates, lifecycle durations and counter increments. Pure: no Redis.

The consumer reads the prior lifecycle state of every event id in the batch, calls :func:`plan_batch`,
and hands the plan to :meth:`metrics.store.MetricsStore.apply_batch`, which applies it atomically only if
the partition's stored offset is still the one it read. Keeping the domain rules here, not in Lua, keeps
them testable and lets the script stay a generic "compare offset, then write" step.

Two passes: a sequential one decides, record by record in offset order, which records are new (the
duplicate check needs the order) and what each knows of its event's earlier stages; a vectorised one turns
the accepted records into measures and sums them per bucket, entity and category. The second pass is
where the time would go per record, so it is numpy and pandas, not a Python loop.
"""

from __future__ import annotations

import math
import time
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import msgspec
import numpy as np
import pandas as pd

from metrics.keys import ALL_CATEGORIES, RECENT_MAX, TIERS, TOTAL_MEASURES, Granularity, Scope
from streams.schemas import FIRST_STAGE, STAGES, Event

#: Default hotline response SLA when a ticket does not carry ``sla_hours``.
DEFAULT_SLA_HOURS = 24.0
#: A hotline ticket counts as resolved in time when resolved within this many hours of creation
#: (the common 12345 rule of five days for ordinary requests).
RESOLUTION_LIMIT_HOURS = 120.0
#: Satisfaction at or above this counts as "satisfied" (the 12345 "satisfaction rate").
SATISFIED_AT = 4
#: Confidence at or above which a camera alert counts as high-confidence.
HIGH_CONFIDENCE = 0.9


class PlacedEvent(msgspec.Struct, frozen=True, gc=False):
    """A validated record with its place: the grid cell (None for a district-only record) and district.
    (A struct, not a dataclass: one is made per record, at a tenth of the cost.)"""

    offset: int
    event: Event
    grid_id: str | None
    district_code: str


CounterKey = tuple[Granularity, Scope, int]


def _counter_dict() -> defaultdict[CounterKey, defaultdict[str, int]]:
    return defaultdict(lambda: defaultdict(int))


CounterPart = tuple[Granularity, Scope, np.ndarray, np.ndarray, np.ndarray]


@dataclass
class BatchPlan:
    """Everything one batch writes. Counter increments come as parts ``(tier, scope, buckets, fields,
    increments)`` (arrays; a field appears once per tier, scope and bucket); ``counters`` gives the same as
    ``{(tier, scope, bucket): {field: n}}``. ``registers`` holds per-event register entries (the hazard
    register) written beside the states."""

    counter_parts: list[CounterPart] = field(default_factory=list)
    states: dict[str, dict[str, str]] = field(default_factory=dict)
    registers: dict[str, bytes] = field(default_factory=dict)
    accepted: int = 0
    duplicates: int = 0
    rejected: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    recent: list[tuple[float, bytes]] = field(default_factory=list)
    last_ts: float = 0.0

    @property
    def counters(self) -> dict[CounterKey, dict[str, int]]:
        """The increments as nested dicts (for tests and inspection; the store reads the parts)."""
        out = _counter_dict()
        for tier, scope, buckets, fields, increments in self.counter_parts:
            for bucket, name, inc in zip(buckets.tolist(), fields.tolist(), increments.tolist(), strict=True):
                out[(tier, scope, bucket)][name] += inc
        return out


@dataclass
class _Accepted:
    """Columns of the accepted records, filled by the sequential pass."""

    rows: list[int] = field(default_factory=list)
    grid: list[str | None] = field(default_factory=list)
    district: list[str] = field(default_factory=list)
    started: list[float] = field(default_factory=list)
    sla_hours: list[float] = field(default_factory=list)


def _decide(placed: Sequence[PlacedEvent], prior_states: Mapping[str, Mapping[str, str]], plan: BatchPlan,
            register: Callable[[Mapping[str, str], Event], bytes] | None) -> _Accepted:
    """Sequential pass: duplicates, placement of stage updates, what each record knows of its start."""
    acc = _Accepted()
    rows, grids, districts, starts, slas = acc.rows, acc.grid, acc.district, acc.started, acc.sla_hours
    states = plan.states
    working: dict[str, dict[str, str]] = {}
    first_fields = {stream: "s:" + stage for stream, stage in FIRST_STAGE.items()}
    nan = math.nan
    for i, pe in enumerate(placed):
        ev = pe.event
        event_id = ev.id
        state = working.get(event_id)
        if state is None:
            prior = prior_states.get(event_id)
            state = dict(prior) if prior else {}
            working[event_id] = state
        stage_field = "s:" + ev.stage
        if stage_field in state:
            plan.duplicates += 1
            continue
        # What the event knew before this record (its start, its SLA), read before the record's updates.
        started = state.get(first_fields[ev.stream])
        sla = state.get("sla")
        # Stage updates stay in the cell and district of the event's first accepted record.
        district_code = state.get("d")
        if district_code is not None:
            grid_id = state["g"] or None
        else:
            grid_id, district_code = pe.grid_id, pe.district_code
            state["d"] = district_code
            state["g"] = grid_id or ""
            state["c"] = ev.category
        state[stage_field] = repr(ev.ts)
        if ev.sla_hours is not None and ev.is_first_stage:
            state["sla"] = repr(ev.sla_hours)
        if ev.grade is not None:
            state["grade"] = ev.grade
            # Per stage too: a late `reported` must not overwrite what `assessed` decided.
            state["grade:" + ev.stage] = ev.grade
        if ev.due is not None:
            state["due"] = repr(ev.due)
            state["due:" + ev.stage] = repr(ev.due)
        states[event_id] = state  # the whole state: the store replaces it in one write
        if register is not None:
            plan.registers[event_id] = register(state, ev)
        rows.append(i)
        grids.append(grid_id)
        districts.append(district_code)
        starts.append(nan if started is None else float(started))
        slas.append(DEFAULT_SLA_HOURS if sla is None else float(sla))
    plan.accepted = len(rows)
    return acc


def _column(events: list[Event], name: str) -> np.ndarray:
    """One optional numeric field of the events as floats (NaN where absent)."""
    return np.array([math.nan if (v := getattr(e, name)) is None else float(v) for e in events], dtype=float)


def measure_columns(stream: str, stage_no: np.ndarray, ts: np.ndarray, started: np.ndarray, sla_hours: np.ndarray,
             fields: dict[str, np.ndarray]) -> tuple[tuple[str, ...], np.ndarray]:
    """Measure columns of counted records (docs/architecture.md, "Base metrics"): the measure names and a
    float matrix, one row per record. The consumers' batches (:func:`plan_batch`) and the column-wise
    history (``streams.history``) both count with this function.

    ``stage_no`` is each record's stage as its position in ``STAGES[stream]``; ``started`` the event time of
    its event's first stage (NaN when unknown); ``sla_hours`` the ticket's response SLA.

    ``fields`` holds the stream's numeric fields per record (NaN where absent): ``severity``;
    ``confidence``, ``verified`` (1.0/0.0); ``satisfaction``; ``grade`` (0-3 for A-D).
    """
    stages = STAGES[stream]
    n = len(ts)

    def at(name: str) -> np.ndarray:
        return stage_no == stages.index(name)

    first = stage_no == 0
    elapsed = ts - started
    known = ~np.isnan(elapsed)
    seconds = np.where(known, np.rint(np.maximum(elapsed, 0.0)), 0.0)
    out: dict[str, np.ndarray] = {"rec": np.ones(n), "n": first.astype(float)}
    if stream == "incidents":
        severity = np.nan_to_num(fields["severity"])
        out["sev"] = severity * first
        out["s4"] = (first & (severity >= 4)).astype(float)
        for name, stage_name in (("disp", "dispatched"), ("arr", "arrived")):
            hit = at(stage_name) & known
            out[f"{name}_n"] = hit.astype(float)
            out[f"{name}_s"] = seconds * hit
        out["closed_n"] = at("closed").astype(float)
    elif stream == "surveillance":
        confidence, verified = fields["confidence"], fields["verified"]
        reviewed = at("reviewed")
        with np.errstate(invalid="ignore"):
            out["conf90"] = (first & (confidence >= HIGH_CONFIDENCE)).astype(float)
        out["rev_n"] = reviewed.astype(float)
        out["rev_true"] = (reviewed & (verified == 1.0)).astype(float)
        out["rev_false"] = (reviewed & (verified == 0.0)).astype(float)
    elif stream == "hotline":
        responded = at("responded") & known
        sla_s = sla_hours * 3600.0
        resolved = at("resolved")
        satisfaction = fields["satisfaction"]
        rated = at("rated") & ~np.isnan(satisfaction)
        with np.errstate(invalid="ignore"):
            out["resp_n"] = responded.astype(float)
            out["resp_s"] = seconds * responded
            out["resp_sla"] = (responded & (elapsed <= sla_s)).astype(float)
            out["res_n"] = resolved.astype(float)
            out["res_intime"] = (resolved & known & (elapsed <= RESOLUTION_LIMIT_HOURS * 3600)).astype(float)
            out["rate_n"] = rated.astype(float)
            out["rate_sum"] = np.nan_to_num(satisfaction) * rated
            out["rate_ok"] = (rated & (satisfaction >= SATISFIED_AT)).astype(float)
        out["reopen_n"] = at("reopened").astype(float)
    elif stream == "hazards":
        grade = fields["grade"]  # 0-3 for A-D
        for i, letter in enumerate("ABCD"):
            out[f"g{letter}"] = (first & (grade == i)).astype(float)
    else:
        raise ValueError(f"unknown stream {stream!r}")
    names = tuple(out)
    return names, np.column_stack([out[m] for m in names])


def _measures(stream: str, events: list[Event], acc: _Accepted) -> dict[str, np.ndarray]:
    """Measure columns (one value per accepted record) of a batch's events: :func:`measure_columns`."""
    stages = STAGES[stream]
    stage_no = np.array([stages.index(e.stage) for e in events], dtype=np.int64)
    ts = np.fromiter((e.ts for e in events), dtype=float, count=len(events))
    fields: dict[str, np.ndarray] = {}
    if stream == "incidents":
        fields["severity"] = _column(events, "severity")
    elif stream == "surveillance":
        fields["confidence"] = _column(events, "confidence")
        fields["verified"] = _column(events, "verified")
    elif stream == "hotline":
        fields["satisfaction"] = _column(events, "satisfaction")
    elif stream == "hazards":
        fields["grade"] = np.array([math.nan if e.grade is None else "ABCD".index(e.grade) for e in events],
                                   dtype=float)
    names, values = measure_columns(stream, stage_no, ts, np.asarray(acc.started, dtype=float),
                                    np.asarray(acc.sla_hours, dtype=float), fields)
    return {name: values[:, j] for j, name in enumerate(names)}


def _sum_counters(plan: BatchPlan, ts: np.ndarray, category: np.ndarray, acc: _Accepted,
                  measures: dict[str, np.ndarray], now: float) -> None:
    """Vectorised pass: sum the measures per (tier, scope, bucket, entity, category) into the plan."""
    district = np.asarray(acc.district, dtype=object)
    grid = np.asarray(acc.grid, dtype=object)
    has_grid = np.array([g is not None for g in acc.grid], dtype=bool)
    names = list(measures)
    values = np.column_stack([measures[m] for m in names])
    for tier in TIERS.values():
        if tier.detailed:
            cat_codes, cat_names = pd.factorize(category)
        else:
            cat_codes, cat_names = np.zeros(len(category), dtype=np.int64), pd.Index([ALL_CATEGORIES])
        if tier.name == "1d":
            bucket = (np.floor((ts + _DAY_OFFSET) / 86400) * 86400 - _DAY_OFFSET).astype(np.int64)
        else:
            bucket = (np.floor(ts / tier.seconds) * tier.seconds).astype(np.int64)
        # A late record for a bucket the store no longer keeps would only create a key that expires at once.
        alive = bucket + tier.seconds + tier.retention_s > now
        for scope in tier.scopes:
            rows = alive & has_grid if scope == "g" else alive
            if not rows.any():
                continue
            ent_codes, ent_names = pd.factorize(grid[rows] if scope == "g" else district[rows])
            b_codes, b_values = pd.factorize(bucket[rows])
            n_ent, n_cat = len(ent_names), len(cat_names)
            combo = (b_codes.astype(np.int64) * n_ent + ent_codes) * n_cat + cat_codes[rows]
            groups, inverse = np.unique(combo, return_inverse=True)
            g_bucket = np.asarray(b_values)[groups // (n_ent * n_cat)]
            prefixes = (np.asarray(ent_names, dtype=object)[(groups // n_cat) % n_ent] + "|"
                        + np.asarray(cat_names, dtype=object)[groups % n_cat] + "|")
            for j, measure in enumerate(names):
                if scope == "g" and measure == "rec":
                    continue  # ``rec`` feeds the district figures and /stats only
                if not tier.detailed and measure not in TOTAL_MEASURES:
                    continue
                summed = np.rint(np.bincount(inverse, weights=values[rows, j], minlength=len(groups)))
                nonzero = np.flatnonzero(summed)
                if nonzero.size:
                    plan.counter_parts.append((tier.name, scope, g_bucket[nonzero],
                                               prefixes[nonzero] + measure, summed[nonzero].astype(np.int64)))


_DAY_OFFSET = -TIERS["1d"].bucket_start(0)  # seconds from a UTC midnight back to the Shanghai day start
_recent_encoder = msgspec.json.Encoder()
_SUMMARY_FIELDS = ("severity", "confidence", "verified", "satisfaction", "grade", "caller_mask", "camera_id")


def recent_summary(ev: Event, grid_id: str | None, district_code: str, keep_text: bool) -> bytes:
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
    for name in _SUMMARY_FIELDS:
        value = getattr(ev, name)
        if value is not None:
            summary[name] = value
    if keep_text and ev.text:
        summary["text"] = ev.text[:500]
    return _recent_encoder.encode(summary)


def plan_batch(
    placed: Sequence[PlacedEvent],
    prior_states: Mapping[str, Mapping[str, str]],
    *,
    keep_text: bool = True,
    now: float | None = None,
    recent_since: float | None = None,
    register: Callable[[Mapping[str, str], Event], bytes] | None = None,
) -> BatchPlan:
    """Plan the writes of one partition batch (one stream), records in offset order.

    ``prior_states`` maps event id -> its stored lifecycle hash (empty or missing when unseen). A record
    whose (id, stage) was accepted before — in Redis or earlier in this batch — is a duplicate: counted as
    such and nothing else. Stage updates are counted in the grid and district of the event's first record
    when that is known, so a ticket's lifecycle stays in one place. ``recent_since`` (epoch s) leaves
    older records out of the recent-events list; ``register`` computes a register entry from an event's
    state after each accepted record (the hazard register).
    """
    plan = BatchPlan()
    placed = list(placed)
    if not placed:
        return plan
    now = time.time() if now is None else now
    acc = _decide(placed, prior_states, plan, register)
    if not acc.rows:
        return plan
    events = [placed[i].event for i in acc.rows]
    stream = events[0].stream
    ts = np.fromiter((e.ts for e in events), dtype=float, count=len(events))
    category = np.array([e.category for e in events], dtype=object)
    plan.last_ts = float(ts.max())
    _sum_counters(plan, ts, category, acc, _measures(stream, events, acc), now)
    # The drill-down lists events, so only first-stage records go to the recent list.
    is_event = np.array([e.is_first_stage for e in events], dtype=bool)
    newest = [j for j in np.argsort(-ts, kind="stable") if is_event[j]][:RECENT_MAX]
    for j in newest:
        if recent_since is not None and ts[j] < recent_since:
            break
        plan.recent.append((float(ts[j]), recent_summary(events[j], acc.grid[j], acc.district[j], keep_text)))
    return plan
