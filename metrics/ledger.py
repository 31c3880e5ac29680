"""Plan one partition batch: duplicates, lifecycle durations and counter increments. Pure: no Redis.

The consumer reads the prior lifecycle state of every event id in the batch, calls :func:`plan_batch`,
and hands the plan to :meth:`metrics.store.MetricsStore.apply_batch`, which applies it atomically only if
the partition's stored offset is still the one it read. Keeping the domain rules here, not in Lua, keeps
them testable and lets the script stay a generic "compare offset, then write" step.

Two passes: a sequential one decides, in offset order, which records are new (the duplicate check needs
the order) and what each knows of its event's earlier stages; a vectorised one turns the accepted records
into measures and sums them per bucket, entity and category. The consumer's workers spend most of their
time here, so both passes work on columns: the sequential pass is sorts and lookups over arrays
(:func:`_decide_columns`) with Python per record only to write the states. The same rules record by
record, the easiest form to read, are the reference ``tests/test_fastpath_ledger.py`` holds it to.
"""

from __future__ import annotations

import itertools
import math
import time
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import msgspec
import numpy as np
import pandas as pd

from metrics.keys import ALL_CATEGORIES, RECENT_MAX, TIERS, TOTAL_MEASURES, Granularity, Scope
from streams.schemas import STAGES, Event

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
    """Columns of the accepted records, in offset order (what both sequential passes give)."""

    events: list[Event]
    ts: np.ndarray  # float, event time
    stage_no: np.ndarray  # int64, position of the stage in ``STAGES[stream]``
    category: np.ndarray  # object
    grid: np.ndarray  # object: str, or None for a district-only record
    district: np.ndarray  # object: str
    started: np.ndarray  # float: event time of the event's first stage when known before, else NaN
    sla_hours: np.ndarray  # float: the ticket's SLA known before, else the default

    def __len__(self) -> int:
        return len(self.events)


def _objects(values: list[Any]) -> np.ndarray:
    """A 1-d object array of the values (``np.array`` would make a 2-d array of equal-length tuples)."""
    out = np.empty(len(values), dtype=object)
    out[:] = values
    return out


def optional_floats(values: list[Any]) -> tuple[np.ndarray, np.ndarray]:
    """Floats of optional numbers (NaN where None) and where a value is present (a mask)."""
    column = _objects(values)
    present = np.not_equal(column, None)
    column[~present] = math.nan
    return column.astype(float), present


_float_encoder = msgspec.json.Encoder()


def float_reprs(values: list[float]) -> list[str]:
    """``[repr(v) for v in values]`` for floats, several times faster: ``repr`` of a float costs about a
    microsecond, and a state holds one per stage. msgspec writes the same shortest round-trip digits, in
    the same positional form, for magnitudes in [1e-4, 1e16) and zero (repr turns to exponents outside;
    msgspec writes non-finite numbers as null); other values, and non-floats, go through ``repr``."""
    if not values:
        return []
    if set(map(type, values)) == {float}:
        magnitude = np.abs(np.array(values, dtype=float))
        plain = ((magnitude >= 1e-4) & (magnitude < 1e16)) | (magnitude == 0.0)
        if plain.all():
            return _float_encoder.encode(values)[1:-1].decode().split(",")
    return [repr(v) for v in values]


def first_of_each_stage(event: np.ndarray, stage_no: np.ndarray) -> np.ndarray:
    """Rows holding the first record of each (event, stage), records in processing order; ``event`` and
    ``stage_no`` are small non-negative integer codes. Every later one is a duplicate of it."""
    if not len(event):
        return np.zeros(0, dtype=np.int64)
    key = event.astype(np.int64) * (int(stage_no.max()) + 1) + stage_no
    return np.unique(key, return_index=True)[1]


def first_stage_before(event: np.ndarray, stage_no: np.ndarray, ts: np.ndarray, sla_hours: np.ndarray
                       ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """What an event's first-stage record in a batch tells its later records there, over counted records
    in processing order (each (event, stage) once; ``event`` small integer codes): whether it came
    before, its event time, and the SLA it carried (NaN where it did not come before or carried none)."""
    n = len(event)
    first_at = np.full(int(event.max()) + 1 if n else 0, n, dtype=np.int64)
    first = np.flatnonzero(stage_no == 0)
    first_at[event[first]] = first
    before = first_at[event]
    after_first = before < np.arange(n)
    started = np.where(after_first, np.append(ts, math.nan)[before], math.nan)
    sla = np.where(after_first, np.append(sla_hours, math.nan)[before], math.nan)
    return after_first, started, sla


_STAGE_NO = {stream: {stage: i for i, stage in enumerate(stages)} for stream, stages in STAGES.items()}
_STAGE_FIELDS = {stream: np.array(["s:" + stage for stage in stages], dtype=object)
                 for stream, stages in STAGES.items()}


def _decide_columns(placed: Sequence[PlacedEvent], prior_states: Mapping[str, Mapping[str, str]],
                    plan: BatchPlan) -> _Accepted:
    """The sequential pass on whole columns: duplicates, placements, starts, SLAs and states, with Python
    per record only where a state is written (``tests/test_fastpath_ledger.py`` has the same rules
    record by record).

    A record is new when its (event, stage) is neither in its event's stored state nor earlier in the
    batch. Before a record, its event knows its first-stage time and SLA from the stored state or from the
    batch's new first-stage record when that came earlier; its place is the stored one or that of the
    event's first new record. All records are of one stream (as :func:`plan_batch` requires).
    """
    n = len(placed)
    events = [pe.event for pe in placed]
    stream = events[0].stream
    stages = STAGES[stream]
    first_field = "s:" + stages[0]
    ids = [e.id for e in events]
    codes, event_ids = pd.factorize(_objects(ids))
    n_events = len(event_ids)
    event_ids = event_ids.tolist()
    stage_index = _STAGE_NO[stream]
    stage_no = np.array([stage_index[e.stage] for e in events], dtype=np.int64)
    # New in the batch: the first record of each (event, stage) ...
    new = np.zeros(n, dtype=bool)
    new[first_of_each_stage(codes, stage_no)] = True
    # ... whose stage the stored state does not hold.
    priors = list(map(prior_states.get, event_ids))
    with_prior = [e for e, prior in enumerate(priors) if prior]
    if with_prior:
        has_prior = np.zeros(n_events, dtype=bool)
        has_prior[with_prior] = True
        for r in np.flatnonzero(new & has_prior[codes]).tolist():
            if "s:" + events[r].stage in priors[codes[r]]:  # type: ignore[operator]
                new[r] = False
    rows = np.flatnonzero(new)
    plan.accepted = len(rows)
    plan.duplicates = n - len(rows)
    row_list = rows.tolist()
    code = codes[rows]
    stage_acc = stage_no[rows]
    ts_values = [events[r].ts for r in row_list]
    ts = np.array(ts_values, dtype=float)

    # Place: where the event's first new record is, unless its stored state places it.
    with_new, first_new = np.unique(code, return_index=True)
    event_grid = np.empty(n_events, dtype=object)
    event_district = np.empty(n_events, dtype=object)
    first_placed = [placed[r] for r in rows[first_new].tolist()]
    event_grid[with_new] = _objects([pe.grid_id for pe in first_placed])
    event_district[with_new] = _objects([pe.district_code for pe in first_placed])
    placed_by_state = np.zeros(n_events, dtype=bool)
    stored_start = np.full(n_events, math.nan)
    stored_sla = np.full(n_events, math.nan)
    sla_stored = np.zeros(n_events, dtype=bool)
    has_new = np.zeros(n_events, dtype=bool)
    has_new[with_new] = True
    for e in with_prior:
        prior = priors[e]
        if not has_new[e]:
            continue  # nothing new: its state is neither read nor written
        assert prior is not None
        if prior.get("d") is not None:
            event_district[e] = prior["d"]
            event_grid[e] = prior["g"] or None
            placed_by_state[e] = True
        if (value := prior.get(first_field)) is not None:
            stored_start[e] = float(value)
        if (value := prior.get("sla")) is not None:
            stored_sla[e] = float(value)
            sla_stored[e] = True
    # A later record reads the cell back from the state, where "no cell" is stored as "".
    grid = event_grid[code]
    grid[grid == ""] = None
    own = ~placed_by_state[with_new]
    grid[first_new[own]] = event_grid[with_new[own]]
    district = event_district[code]

    # The start and SLA a record knows: stored, or set by its event's new first-stage record before it.
    sla_values = [events[r].sla_hours for r in row_list]
    sla_sent, sla_given = optional_floats(sla_values)
    after_first, batch_start, batch_sla = first_stage_before(code, stage_acc, ts, sla_sent)
    started = np.where(after_first, batch_start, stored_start[code])
    sla_hours = np.where(~np.isnan(batch_sla), batch_sla,
                         np.where(sla_stored[code], stored_sla[code], DEFAULT_SLA_HOURS))

    # The states, keys in the order the record-by-record pass writes them: a state is made at its event's
    # first new record (the stored state, else the place), then takes each new record's stage time.
    accepted_events = [events[r] for r in row_list]
    categories = [e.category for e in accepted_events]
    code_list = code.tolist()
    made: list[dict[str, str]] = []
    made_ids: list[str] = []
    first_new_in_order = np.sort(first_new)
    for j in first_new_in_order.tolist():
        e = code_list[j]
        pe = placed[row_list[j]]
        prior = priors[e]
        state = dict(prior) if prior else {}
        if state.get("d") is None:
            state["d"] = pe.district_code
            state["g"] = pe.grid_id or ""
            state["c"] = categories[j]
        made.append(state)
        made_ids.append(event_ids[e])
    plan.states.update(zip(made_ids, made, strict=True))
    state_of = np.empty(n_events, dtype=object)
    state_of[code[first_new_in_order]] = _objects(made)
    targets = state_of[code].tolist()
    field_of = _STAGE_FIELDS[stream][stage_acc].tolist()
    ts_text = float_reprs(ts_values)
    grades = [e.grade for e in accepted_events]
    dues = [e.due for e in accepted_events]
    if not sla_given.any() and grades.count(None) == len(grades) and dues.count(None) == len(dues):
        for state, key, text in zip(targets, field_of, ts_text, strict=True):
            state[key] = text
    else:
        for j, (state, key, text) in enumerate(zip(targets, field_of, ts_text, strict=True)):
            state[key] = text
            stage = accepted_events[j].stage
            if sla_values[j] is not None and stage_acc[j] == 0:
                state["sla"] = repr(sla_values[j])
            if (grade := grades[j]) is not None:
                state["grade"] = grade
                state["grade:" + stage] = grade  # a late `reported` must not overwrite what `assessed` decided
            if (due := dues[j]) is not None:
                state["due"] = repr(due)
                state["due:" + stage] = repr(due)
    return _Accepted(accepted_events, ts, stage_acc, _objects(categories), grid, district, started, sla_hours)


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


def _measures(stream: str, acc: _Accepted) -> tuple[tuple[str, ...], np.ndarray]:
    """Measure columns (one row per accepted record) of a batch: :func:`measure_columns`."""
    events = acc.events
    fields: dict[str, np.ndarray] = {}
    if stream == "incidents":
        fields["severity"] = optional_floats([e.severity for e in events])[0]
    elif stream == "surveillance":
        fields["confidence"] = optional_floats([e.confidence for e in events])[0]
        fields["verified"] = optional_floats([e.verified for e in events])[0]
    elif stream == "hotline":
        fields["satisfaction"] = optional_floats([e.satisfaction for e in events])[0]
    elif stream == "hazards":
        fields["grade"] = np.array([math.nan if e.grade is None else "ABCD".index(e.grade) for e in events],
                                   dtype=float)
    return measure_columns(stream, acc.stage_no, acc.ts, acc.started, acc.sla_hours, fields)


def _sum_counters(plan: BatchPlan, acc: _Accepted, names: tuple[str, ...], values: np.ndarray,
                  now: float) -> None:
    """Vectorised pass: sum the measures per (tier, scope, bucket, entity, category) into the plan, one
    part per tier, scope and measure; in a part, groups in order of bucket, then entity and category by
    first appearance."""
    ts = acc.ts
    n = len(ts)
    has_grid = np.not_equal(acc.grid, None)
    # Codes of every column once. Within a hash, fields follow entities and categories by first
    # appearance; a subset of the rows (some buckets no longer kept) numbers its entities again.
    grid_codes, grid_names = pd.factorize(acc.grid[has_grid])
    grid_code = np.full(n, -1, dtype=np.int64)
    grid_code[has_grid] = grid_codes
    district_code, district_names = pd.factorize(acc.district)
    entity_column = {"g": grid_code, "d": district_code}
    entity_bars = {"g": np.asarray(grid_names, dtype=object) + "|",
                   "d": np.asarray(district_names, dtype=object) + "|"}
    detailed_codes, detailed_names = pd.factorize(acc.category)
    for tier in TIERS.values():
        if tier.detailed:
            cat_codes, cat_names = detailed_codes, list(detailed_names)
        else:
            cat_codes, cat_names = np.zeros(n, dtype=np.int64), [ALL_CATEGORIES]
        if tier.name == "1d":
            bucket = (np.floor((ts + _DAY_OFFSET) / 86400) * 86400 - _DAY_OFFSET).astype(np.int64)
        else:
            bucket = (np.floor(ts / tier.seconds) * tier.seconds).astype(np.int64)
        # A late record for a bucket the store no longer keeps would only create a key that expires at once.
        alive = bucket + tier.seconds + tier.retention_s > now
        all_alive = bool(alive.all())
        for scope in tier.scopes:
            rows = np.flatnonzero(alive & has_grid if scope == "g" else alive)
            if not len(rows):
                continue
            columns = [j for j, measure in enumerate(names)
                       if not (scope == "g" and measure == "rec")  # ``rec`` feeds the district figures only
                       and (tier.detailed or measure in TOTAL_MEASURES)]
            entity = entity_column[scope][rows]
            bars = entity_bars[scope]
            if not all_alive:
                entity, uniques = pd.factorize(entity)
                bars = bars[uniques]
            row_buckets = bucket[rows]
            first_bucket = int(row_buckets.min())
            b_codes = (row_buckets - first_bucket) // tier.seconds  # buckets are whole multiples apart
            n_buckets = int(b_codes.max()) + 1
            if n_buckets <= len(rows):
                b_values = first_bucket + np.arange(n_buckets, dtype=np.int64) * tier.seconds
            else:  # buckets far apart: number the ones present
                b_values, b_codes = np.unique(row_buckets, return_inverse=True)
                n_buckets = len(b_values)
            n_ent, n_cat, n_col = len(bars), len(cat_names), len(columns)
            combo = (b_codes * n_ent + entity) * n_cat + cat_codes[rows]
            space = n_buckets * n_ent * n_cat
            if space <= 4 * len(rows) + 1024:
                groups, inverse = None, combo  # few slots: sum into every one, no sort
            else:
                groups, inverse = np.unique(combo, return_inverse=True)
            n_groups = space if groups is None else len(groups)
            # Every column summed in one bincount; each sum adds its records in order, as a bincount per
            # column does (and the values are whole numbers, so the sums are exact anyway).
            slots = (inverse[:, None] * n_col + np.arange(n_col)).ravel()
            summed = np.rint(np.bincount(slots, weights=values[np.ix_(rows, columns)].ravel(),
                                         minlength=n_groups * n_col)).reshape(n_groups, n_col).T
            measure_at, group_at = np.nonzero(summed)  # measure by measure, groups in order
            if not len(group_at):
                continue
            increments = summed[measure_at, group_at].astype(np.int64)
            if groups is not None:
                group_at = groups[group_at]
            # "<entity>|" + "<category>|<measure>": one string concatenation per field.
            tails = np.array([f"{c}|{names[j]}" for j in columns for c in cat_names], dtype=object)
            fields = bars[(group_at // n_cat) % n_ent] + tails[measure_at * n_cat + group_at % n_cat]
            buckets = b_values[group_at // (n_ent * n_cat)]
            cuts = np.searchsorted(measure_at, np.arange(n_col + 1)).tolist()
            for lo, hi in itertools.pairwise(cuts):
                if hi > lo:
                    plan.counter_parts.append((tier.name, scope, buckets[lo:hi], fields[lo:hi],
                                               increments[lo:hi]))


_DAY_OFFSET = -TIERS["1d"].bucket_start(0)  # seconds from a UTC midnight back to the Shanghai day start
_recent_encoder = msgspec.json.Encoder()


class _Summary(msgspec.Struct, omit_defaults=True, gc=False):
    """A recent-list entry: the first seven fields always, the others when present (in this order)."""

    stream: str
    id: str
    stage: str
    category: str
    ts: float
    grid: str | None
    district: str
    severity: int | None = None
    confidence: float | None = None
    verified: bool | None = None
    satisfaction: int | None = None
    grade: str | None = None
    caller_mask: str | None = None
    camera_id: str | None = None
    text: str | None = None


def _summary(ev: Event, grid_id: str | None, district_code: str, keep_text: bool) -> _Summary:
    return _Summary(ev.stream, ev.id, ev.stage, ev.category, ev.ts, grid_id, district_code, ev.severity,
                    ev.confidence, ev.verified, ev.satisfaction, ev.grade, ev.caller_mask, ev.camera_id,
                    ev.text[:500] if keep_text and ev.text else None)


def recent_summary(ev: Event, grid_id: str | None, district_code: str, keep_text: bool) -> bytes:
    """What the drill-down shows of a record: personal data only masked, text only while it may be kept."""
    return _recent_encoder.encode(_summary(ev, grid_id, district_code, keep_text))


def _recent_summaries(events: Sequence[Event], grids: Sequence[str | None], districts: Sequence[str],
                      keep_text: bool) -> list[bytes]:
    """:func:`recent_summary` of each record, encoded in one call (JSON lines hold no raw newline)."""
    if not events:
        return []
    lines = _recent_encoder.encode_lines(
        [_summary(ev, g, d, keep_text) for ev, g, d in zip(events, grids, districts, strict=True)])
    return lines.split(b"\n")[:-1]


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
    older records out of the recent-events list; ``register`` computes a register entry of each event
    with accepted records, from its state after the last of them (the hazard register).
    """
    plan = BatchPlan()
    placed = list(placed)
    if not placed:
        return plan
    now = time.time() if now is None else now
    acc = _decide_columns(placed, prior_states, plan)
    if not len(acc):
        return plan
    if register is not None:
        # One entry per event, made from its state after its last accepted record (the state is final
        # once the pass is over), in the order the events were first accepted.
        last = {ev.id: ev for ev in acc.events}
        plan.registers.update((event_id, register(plan.states[event_id], ev)) for event_id, ev in last.items())
    stream = acc.events[0].stream
    ts = acc.ts
    plan.last_ts = float(ts.max())
    names, values = _measures(stream, acc)
    _sum_counters(plan, acc, names, values, now)
    # The drill-down lists events, so only first-stage records go to the recent list.
    order = np.argsort(-ts, kind="stable")
    newest = order[acc.stage_no[order] == 0][:RECENT_MAX]
    if recent_since is not None:
        newest = newest[np.logical_and.accumulate(~(ts[newest] < recent_since))]
    rows = newest.tolist()
    summaries = _recent_summaries([acc.events[j] for j in rows], acc.grid[newest].tolist(),
                                  acc.district[newest].tolist(), keep_text)
    plan.recent = list(zip(ts[newest].tolist(), summaries, strict=True))
    return plan
