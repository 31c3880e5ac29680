"""The worker's fast paths give exactly what the plain ones give: the ledger's column-wise sequential
pass against the record-by-record one, float text against ``repr``, the recent summaries against a dict
encoding, the store's grouping of counter parts per hash, and placement of repeated points."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import msgspec
import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from metrics import ledger
from metrics.keys import TIERS, TOTAL_MEASURES
from metrics.ledger import (
    DEFAULT_SLA_HOURS,
    BatchPlan,
    PlacedEvent,
    _Accepted,
    _decide_columns,
    float_reprs,
    measure_columns,
    plan_batch,
    recent_summary,
)
from metrics.store import _counter_hashes, _recent_flat
from streams.schemas import FIRST_STAGE, STAGES, Event

T0 = 1_764_000_000.0  # a Shanghai day boundary
NOW = T0 + 86400
CELLS = [None, "", "88411c0001fffff", "88411c0003fffff", "88411c0005fffff"]
DISTRICTS = ["440106", "440104", "440111"]
IDS = [f"e{i}" for i in range(6)]


# --- the reference -------------------------------------------------------------------------------

def record_by_record(placed: Sequence[PlacedEvent], prior_states: Mapping[str, Mapping[str, str]],
                     plan: BatchPlan, register: Callable[[Mapping[str, str], Event], bytes] | None) -> _Accepted:
    """The ledger's sequential pass written record by record, the plainest statement of its rules and the
    reference the column form (``metrics.ledger._decide_columns``) must equal: duplicates, placement of
    stage updates, what each record knows of its start; ``register`` is called after every record."""
    events: list[Event] = []
    grids: list[str | None] = []
    districts: list[str] = []
    starts: list[float] = []
    slas: list[float] = []
    states = plan.states
    working: dict[str, dict[str, str]] = {}
    first_fields = {stream: "s:" + stage for stream, stage in FIRST_STAGE.items()}
    nan = math.nan
    for pe in placed:
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
        events.append(ev)
        grids.append(grid_id)
        districts.append(district_code)
        starts.append(nan if started is None else float(started))
        slas.append(DEFAULT_SLA_HOURS if sla is None else float(sla))
    plan.accepted = len(events)
    stream_stages = STAGES[events[0].stream] if events else ()
    return _Accepted(
        events,
        np.fromiter((e.ts for e in events), dtype=float, count=len(events)),
        np.array([stream_stages.index(e.stage) for e in events], dtype=np.int64),
        ledger._objects([e.category for e in events]),
        ledger._objects(grids),
        ledger._objects(districts),
        np.array(starts, dtype=float),
        np.array(slas, dtype=float),
    )



# --- strategies ---------------------------------------------------------------------------------------

def _extras(stream: str) -> st.SearchStrategy[dict[str, Any]]:
    """A stream's own optional fields, as validation leaves them (others stay None)."""
    if stream == "incidents":
        return st.fixed_dictionaries({"severity": st.integers(1, 4)})
    if stream == "surveillance":
        return st.fixed_dictionaries({"camera_id": st.sampled_from(["c1", "c2"]),
                                      "confidence": st.floats(0, 1),
                                      "verified": st.sampled_from([None, True, False])})
    if stream == "hotline":
        return st.fixed_dictionaries({
            "satisfaction": st.one_of(st.none(), st.integers(1, 5)),
            "sla_hours": st.one_of(st.none(), st.floats(0.01, 500), st.sampled_from([2.0, 48.0])),
            "caller_mask": st.one_of(st.none(), st.just("138****1234")),
            "text": st.one_of(st.none(), st.text(max_size=8)),
        })
    return st.fixed_dictionaries({"grade": st.sampled_from("ABCD"),
                                  "due": st.one_of(st.none(), st.floats(T0, T0 + 30 * 86400))})


_times = st.one_of(st.floats(T0 - 3 * 86400, T0 + 3600), st.integers(-3 * 86400, 3600).map(lambda s: T0 + s))


@st.composite
def batches(draw: st.DrawFn, stream: str | None = None) -> list[PlacedEvent]:
    """A batch of one stream: few event ids, so stages repeat, arrive late and are resent."""
    stream = stream or draw(st.sampled_from(list(STAGES)))
    records = draw(st.lists(st.tuples(st.sampled_from(IDS), st.sampled_from(STAGES[stream]), _times,
                                      st.sampled_from(["theft", "noise"]), st.sampled_from(CELLS),
                                      st.sampled_from(DISTRICTS), _extras(stream)),
                            min_size=1, max_size=30))
    return [PlacedEvent(offset, Event(stream, event_id, stage, ts, 113.3, 23.1, None, category, **extras),
                        grid, district)
            for offset, (event_id, stage, ts, category, grid, district, extras) in enumerate(records)]


@st.composite
def stored_states(draw: st.DrawFn, stream: str) -> dict[str, dict[str, str]]:
    """Stored states as an earlier batch leaves them, and some hand-made ones (no place, odd keys)."""
    earlier = draw(batches(stream))
    states = {k: dict(v) for k, v in _plain(earlier, {})[0].states.items()}
    for event_id in draw(st.lists(st.sampled_from(IDS), max_size=3)):
        state = {"s:" + draw(st.sampled_from(STAGES[stream])): repr(draw(_times))}
        if draw(st.booleans()):
            state.update(d=draw(st.sampled_from(DISTRICTS)), g=draw(st.sampled_from(["", "88411c0007fffff"])),
                         c="noise")
        if draw(st.booleans()):
            state["sla"] = draw(st.sampled_from(["12.0", "0.5", "nan"]))
        states[event_id] = state
    for event_id in draw(st.lists(st.sampled_from(IDS), max_size=2)):
        states[event_id] = {}  # an empty stored state means unseen
    return states


def _plain(placed: list[PlacedEvent], prior: dict[str, dict[str, str]]) -> tuple[BatchPlan, Any]:
    plan = BatchPlan()
    return plan, record_by_record(placed, prior, plan, None)


def _columns(placed: list[PlacedEvent], prior: dict[str, dict[str, str]]) -> tuple[BatchPlan, Any]:
    plan = BatchPlan()
    return plan, _decide_columns(placed, prior, plan)


def _ordered(states: dict[str, dict[str, str]]) -> list[tuple[str, list[tuple[str, str]]]]:
    """States with their key order: the order is what the store's JSON keeps."""
    return [(event_id, list(state.items())) for event_id, state in states.items()]


@st.composite
def batch_with_states(draw: st.DrawFn) -> tuple[list[PlacedEvent], dict[str, dict[str, str]]]:
    placed = draw(batches())
    return placed, draw(stored_states(placed[0].event.stream))


# --- the sequential pass ------------------------------------------------------------------------------

@settings(max_examples=400, deadline=None)
@given(batch_with_states())
def test_column_pass_equals_the_record_by_record_pass(case: tuple[list[PlacedEvent], dict]) -> None:
    placed, prior = case
    plain_plan, plain = _plain(placed, prior)
    fast_plan, fast = _columns(placed, prior)
    assert (fast_plan.accepted, fast_plan.duplicates) == (plain_plan.accepted, plain_plan.duplicates)
    assert _ordered(fast_plan.states) == _ordered(plain_plan.states)
    assert len(fast) == len(plain)
    assert [id(e) for e in fast.events] == [id(e) for e in plain.events]
    for name in ("ts", "stage_no", "started", "sla_hours"):
        np.testing.assert_array_equal(getattr(fast, name), getattr(plain, name), err_msg=name)
    for name in ("category", "grid", "district"):
        assert getattr(fast, name).tolist() == getattr(plain, name).tolist(), name


def _parts(plan: BatchPlan) -> list[tuple[Any, ...]]:
    return [(t, s, b.tolist(), f.tolist(), i.tolist()) for t, s, b, f, i in plan.counter_parts]


def _entry(state: Mapping[str, str], ev: Event) -> bytes:
    """A register hook that shows what it was given: the whole state and the record."""
    return msgspec.json.encode([sorted(state.items()), ev.stage, ev.ts])


@settings(max_examples=250, deadline=None)
@given(batch_with_states())
def test_register_entries_are_what_calling_the_hook_after_every_record_leaves(
        case: tuple[list[PlacedEvent], dict]) -> None:
    """One entry per event, from its final state and its last accepted record, in first-accepted order."""
    placed, prior = case
    planned = plan_batch(placed, prior, now=NOW, register=_entry)
    reference = BatchPlan()
    record_by_record(placed, prior, reference, _entry)
    assert list(planned.registers.items()) == list(reference.registers.items())


def _spread(placed: list[PlacedEvent], days: list[int]) -> list[PlacedEvent]:
    """The batch with its records moved whole days back, so its buckets lie far apart."""
    return [msgspec.structs.replace(pe, event=msgspec.structs.replace(pe.event, ts=pe.event.ts - 86400 * d))
            for pe, d in zip(placed, days + [0] * len(placed), strict=False)]


@settings(max_examples=200, deadline=None)
@given(batches(), st.sampled_from([NOW, T0 + 3 * 86400, T0 + 40 * 86400]),
       st.lists(st.sampled_from([0, 0, 1, 30, 200, 390]), max_size=30))
def test_counters_are_the_sums_per_bucket_entity_and_category(placed: list[PlacedEvent], now: float,
                                                              days_back: list[int]) -> None:
    """Against a plain per-record sum (the ways of summing a scope: every slot of a few buckets, or the
    groups present, buckets near or far apart)."""
    placed = _spread(placed, days_back)
    plan = plan_batch(placed, {}, now=now)
    acc = _plain(placed, {})[1]
    stream = placed[0].event.stream
    fields: dict[str, np.ndarray] = {
        "severity": np.array([math.nan if e.severity is None else e.severity for e in acc.events], dtype=float),
        "confidence": np.array([math.nan if e.confidence is None else e.confidence for e in acc.events]),
        "verified": np.array([math.nan if e.verified is None else float(e.verified) for e in acc.events]),
        "satisfaction": np.array([math.nan if e.satisfaction is None else e.satisfaction for e in acc.events],
                                 dtype=float),
        "grade": np.array([math.nan if e.grade is None else "ABCD".index(e.grade) for e in acc.events]),
    }
    names, values = measure_columns(stream, acc.stage_no, acc.ts, acc.started, acc.sla_hours, fields)
    expected: Counter = Counter()
    for row in range(len(acc)):
        for tier in TIERS.values():
            bucket = tier.bucket_start(float(acc.ts[row]))
            if bucket + tier.seconds + tier.retention_s <= now:
                continue
            for scope in tier.scopes:
                entity = acc.grid[row] if scope == "g" else acc.district[row]
                if entity is None:
                    continue
                category = acc.category[row] if tier.detailed else "*"
                for j, measure in enumerate(names):
                    if (scope == "g" and measure == "rec") or not (tier.detailed or measure in TOTAL_MEASURES):
                        continue
                    expected[(tier.name, scope, bucket, f"{entity}|{category}|{measure}")] += values[row, j]
    got: Counter = Counter()
    for tier_name, scope, buckets, names_, increments in plan.counter_parts:
        for bucket, name, inc in zip(buckets.tolist(), names_.tolist(), increments.tolist(), strict=True):
            key = (tier_name, scope, bucket, name)
            assert key not in got  # a field once per hash and part
            got[key] = inc
    assert got == {k: round(v) for k, v in expected.items() if round(v)}


# --- float text, summaries ----------------------------------------------------------------------------

@settings(max_examples=500, deadline=None)
@given(st.lists(st.one_of(st.floats(), st.floats(1e-5, 1e17), st.floats(-1e17, -1e-5)), max_size=20))
def test_float_text_is_repr(values: list[float]) -> None:
    assert float_reprs(values) == [repr(v) for v in values]


@given(st.lists(st.one_of(st.integers(), st.floats(allow_nan=False)), max_size=10))
def test_float_text_of_mixed_numbers_is_repr(values: list[Any]) -> None:
    assert float_reprs(values) == [repr(v) for v in values]


_SUMMARY_FIELDS = ("severity", "confidence", "verified", "satisfaction", "grade", "caller_mask", "camera_id")


def _summary_as_dict(ev: Event, grid_id: str | None, district_code: str, keep_text: bool) -> bytes:
    """The summary as it was first written: a dict, fields in this order."""
    summary: dict[str, object] = {"stream": ev.stream, "id": ev.id, "stage": ev.stage, "category": ev.category,
                                  "ts": ev.ts, "grid": grid_id, "district": district_code}
    for name in _SUMMARY_FIELDS:
        value = getattr(ev, name)
        if value is not None:
            summary[name] = value
    if keep_text and ev.text:
        summary["text"] = ev.text[:500]
    return msgspec.json.encode(summary)


@settings(max_examples=300, deadline=None)
@given(batches(), st.booleans(), st.text(max_size=600))
def test_recent_summary_is_the_dict_encoding(placed: list[PlacedEvent], keep_text: bool, text: str) -> None:
    for pe in placed:
        ev = msgspec.structs.replace(pe.event, text=text) if pe.event.stream == "hotline" else pe.event
        assert recent_summary(ev, pe.grid_id, pe.district_code, keep_text) == \
            _summary_as_dict(ev, pe.grid_id, pe.district_code, keep_text)


# --- the store's grouping -----------------------------------------------------------------------------

def _grouped_part_by_part(parts: list[Any]) -> list[tuple[Any, ...]]:
    """The grouping as first written: sort and split each part, append per hash in part order."""
    grouped: dict[tuple[str, str, int], list[tuple[np.ndarray, np.ndarray]]] = {}
    for tier_name, scope, buckets, fields, increments in parts:
        order = np.argsort(buckets, kind="stable")
        buckets, fields, increments = buckets[order], fields[order], increments[order]
        cuts = np.flatnonzero(np.diff(buckets)) + 1
        for lo, hi in zip(np.r_[0, cuts], np.r_[cuts, len(buckets)], strict=True):
            grouped.setdefault((tier_name, scope, int(buckets[lo])), []).append((fields[lo:hi], increments[lo:hi]))
    return [(t, s, b, np.concatenate([c[0] for c in chunks]).tolist(), np.concatenate([c[1] for c in chunks]).tolist())
            for (t, s, b), chunks in grouped.items()]


_part = st.tuples(
    st.sampled_from([("5m", "d"), ("1h", "g"), ("1h", "d"), ("1d", "d")]),
    st.lists(st.tuples(st.integers(0, 4).map(lambda k: int(T0) + 300 * k), st.sampled_from("abc"),
                       st.integers(-5, 5)), min_size=1, max_size=8),  # plans make no empty part
).map(lambda p: (p[0][0], p[0][1], np.array([r[0] for r in p[1]], dtype=np.int64),
                 np.array([r[1] for r in p[1]], dtype=object), np.array([r[2] for r in p[1]], dtype=np.int64)))


@settings(max_examples=300, deadline=None)
@given(st.lists(_part, max_size=6))
def test_counter_hashes_group_as_part_by_part(parts: list[Any]) -> None:
    assert _counter_hashes(parts) == [tuple(h) for h in _grouped_part_by_part(parts)]


@given(st.lists(st.tuples(st.floats(allow_nan=False), st.binary(max_size=6).map(lambda b: b.replace(b"\x80", b"")
                                                                                .replace(b"\xff", b""))),
                max_size=6))
def test_recent_members_flatten_as_one_by_one(recent: list[tuple[float, bytes]]) -> None:
    recent = [(score, member) for score, member in recent if _utf8(member)]
    assert _recent_flat(recent) == [x for score, member in recent for x in (score, member.decode())]


def _utf8(raw: bytes) -> bool:
    try:
        raw.decode()
    except UnicodeDecodeError:
        return False
    return True


# --- placement of repeated points ---------------------------------------------------------------------

@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.floats(113.0, 114.2), st.floats(22.5, 23.95)), min_size=1, max_size=12),
       st.lists(st.integers(0, 11), max_size=20), st.lists(st.integers(0, 19), max_size=3))
def test_placing_repeated_points_once_places_each_point_alike(city, points: list[tuple[float, float]],
                                                              picks: list[int], unplaced: list[int]) -> None:
    chosen = [points[k % len(points)] for k in picks] + points
    lon = np.array([p[0] for p in chosen])
    lat = np.array([p[1] for p in chosen])
    for k in unplaced:
        if k < len(lon):
            lon[k] = math.nan
    grid, district = city.assign(lon, lat)
    for i in range(len(lon)):
        one_grid, one_district = city.assign(lon[i:i + 1], lat[i:i + 1])
        assert (grid[i], district[i]) == (one_grid[0], one_district[0])
