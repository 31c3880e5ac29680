"""Known answers and properties of batch planning (metrics.ledger): pure, no Redis."""

from __future__ import annotations

from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from metrics.keys import TIERS
from metrics.ledger import PlacedEvent
from metrics.ledger import plan_batch as _plan_batch
from streams.schemas import Event

T0 = 1_764_000_000.0  # 2025-11-24T16:00:00Z, a day boundary in Asia/Shanghai
GRID_A, GRID_B = "88411c0001fffff", "88411c0003fffff"


def plan_batch(*args, **kwargs):  # type: ignore[no-untyped-def]
    """The ledger at a clock just after the test events, so every tier still keeps their buckets."""
    kwargs.setdefault("now", T0 + 86400)
    return _plan_batch(*args, **kwargs)


def ev(stream: str, id_: str, stage: str, ts: float = T0, category: str = "theft", **kw: object) -> Event:
    return Event(stream=stream, id=id_, stage=stage, ts=ts, lon=113.3, lat=23.1, district=None,
                 category=category, **kw)  # type: ignore[arg-type]


def placed(events: list[Event], grid: str | None = GRID_A, district: str = "440106") -> list[PlacedEvent]:
    return [PlacedEvent(i, e, grid, district) for i, e in enumerate(events)]


def totals(plan, scope: str = "d", tier: str = "1h") -> Counter:  # type: ignore[no-untyped-def]
    out: Counter = Counter()
    for (t, s, _bucket), fields in plan.counters.items():
        if t == tier and s == scope:
            out.update(fields)
    return out


def test_incident_event_counts_in_every_tier_and_scope() -> None:
    plan = plan_batch(placed([ev("incidents", "i1", "reported", severity=4)]), {})
    assert plan.accepted == 1 and plan.duplicates == 0
    five = totals(plan, "d", "5m")
    assert five == Counter({"440106|*|n": 1, "440106|*|rec": 1})  # 5-minute tier: totals only
    for tier in (t for t in TIERS.values() if t.detailed):
        for scope in tier.scopes:
            entity = "440106" if scope == "d" else GRID_A
            got = totals(plan, scope, tier.name)
            assert got[f"{entity}|theft|n"] == 1
            assert got[f"{entity}|theft|rec"] == (1 if scope == "d" else 0)  # records: district only
            assert got[f"{entity}|theft|sev"] == 4
            assert got[f"{entity}|theft|s4"] == 1


def test_duplicate_in_batch_and_against_stored_state() -> None:
    events = [ev("incidents", "i1", "reported", severity=2), ev("incidents", "i1", "reported", severity=3)]
    plan = plan_batch(placed(events), {})
    assert (plan.accepted, plan.duplicates) == (1, 1)
    assert totals(plan)["440106|theft|sev"] == 2  # the first one wins; the resend changes nothing
    again = plan_batch(placed(events[:1]), {"i1": plan.states["i1"]})
    assert (again.accepted, again.duplicates) == (0, 1)
    assert not again.counters


def test_hotline_lifecycle_rates_and_durations() -> None:
    h = 3600.0
    events = [
        ev("hotline", "t1", "created", T0, "noise", sla_hours=2.0),
        ev("hotline", "t1", "responded", T0 + 1.5 * h, "noise"),
        ev("hotline", "t1", "resolved", T0 + 30 * h, "noise"),
        ev("hotline", "t1", "rated", T0 + 31 * h, "noise", satisfaction=5),
        ev("hotline", "t1", "reopened", T0 + 40 * h, "noise"),
        ev("hotline", "t2", "created", T0, "noise"),  # default SLA 24 h
        ev("hotline", "t2", "responded", T0 + 25 * h, "noise"),
        ev("hotline", "t2", "rated", T0 + 26 * h, "noise", satisfaction=2),
    ]
    got = totals(plan_batch(placed(events), {}), "d", "1d")
    key = "440106|noise|"
    assert got[key + "n"] == 2
    assert got[key + "rec"] == 8
    assert got[key + "resp_n"] == 2
    assert got[key + "resp_sla"] == 1
    assert got[key + "resp_s"] == round(1.5 * h + 25 * h)
    assert got[key + "res_n"] == 1 and got[key + "res_intime"] == 1
    assert (got[key + "rate_n"], got[key + "rate_sum"], got[key + "rate_ok"]) == (2, 7, 1)
    assert got[key + "reopen_n"] == 1


def test_incident_dispatch_and_arrival_times() -> None:
    events = [ev("incidents", "i9", "reported", T0, severity=1), ev("incidents", "i9", "dispatched", T0 + 120),
              ev("incidents", "i9", "arrived", T0 + 600), ev("incidents", "i9", "closed", T0 + 3000)]
    got = totals(plan_batch(placed(events), {}), "d", "1d")
    assert (got["440106|theft|disp_n"], got["440106|theft|disp_s"]) == (1, 120)
    assert (got["440106|theft|arr_n"], got["440106|theft|arr_s"]) == (1, 600)
    assert got["440106|theft|closed_n"] == 1


def test_stage_update_without_known_start_counts_no_duration() -> None:
    got = totals(plan_batch(placed([ev("incidents", "late", "dispatched", T0)]), {}))
    assert got["440106|theft|rec"] == 1
    assert got["440106|theft|disp_n"] == 0 and got["440106|theft|n"] == 0


def test_surveillance_review_outcomes() -> None:
    events = [ev("surveillance", "a1", "detected", category="fire_smoke", camera_id="c1", confidence=0.95),
              ev("surveillance", "a1", "reviewed", category="fire_smoke", camera_id="c1", confidence=0.95,
                 verified=False)]
    got = totals(plan_batch(placed(events), {}))
    assert got["440106|fire_smoke|conf90"] == 1
    assert (got["440106|fire_smoke|rev_n"], got["440106|fire_smoke|rev_false"]) == (1, 1)


def test_stage_update_stays_in_the_first_records_cell() -> None:
    first = plan_batch([PlacedEvent(0, ev("incidents", "m", "reported", severity=1), GRID_A, "440106")], {})
    update = plan_batch([PlacedEvent(1, ev("incidents", "m", "dispatched", T0 + 60), GRID_B, "440104")],
                        {"m": first.states["m"]})
    got = totals(update, "g")
    assert got[f"{GRID_A}|theft|disp_n"] == 1 and got[f"{GRID_B}|theft|disp_n"] == 0
    assert totals(update, "d")["440106|theft|disp_n"] == 1


def test_district_only_record_has_no_grid_counters() -> None:
    plan = plan_batch(placed([ev("incidents", "d1", "reported", severity=1)], grid=None), {})
    assert totals(plan, "g") == Counter()
    assert totals(plan, "d")["440106|theft|n"] == 1


def test_daily_bucket_is_a_shanghai_day() -> None:
    late_evening_utc = T0 - 60  # 23:59 in Shanghai
    day = TIERS["1d"]
    assert day.bucket_start(late_evening_utc) == T0 - 86400
    assert day.bucket_start(T0) == T0


@pytest.mark.parametrize("keep_text", [True, False])
def test_recent_summary_masks_and_respects_text_retention(keep_text: bool) -> None:
    e = ev("hotline", "t5", "created", category="noise", caller_hash="ab" * 16, caller_mask="138****1234",
           text="<script>alert(1)</script>")
    plan = plan_batch(placed([e]), {}, keep_text=keep_text)
    (_, summary), = plan.recent
    assert b"138****1234" in summary and b"abab" not in summary
    assert (b"<script>" in summary) is keep_text


stages = st.sampled_from(["created", "responded", "resolved", "rated", "reopened"])


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 5), stages, st.integers(0, 400_000)), min_size=1, max_size=40),
       st.integers(1, 39))
def test_splitting_a_batch_changes_nothing(records, cut) -> None:  # type: ignore[no-untyped-def]
    """Redelivery safety: planning in two batches, carrying state, equals planning in one."""
    events = [ev("hotline", f"t{i}", s, T0 + dt, "noise", satisfaction=3 if s == "rated" else None)
              for i, s, dt in records]
    whole = plan_batch(placed(events), {})
    first = plan_batch(placed(events[:cut]), {})
    second = plan_batch(placed(events[cut:]), first.states)
    merged = Counter()
    for plan in (first, second):
        for fields in plan.counters.values():
            merged.update(fields)
    expected = Counter()
    for fields in whole.counters.values():
        expected.update(fields)
    assert +merged == +expected
    assert first.accepted + second.accepted == whole.accepted
    assert whole.accepted + whole.duplicates == len(events)
    assert whole.accepted == len({(e.id, e.stage) for e in events})


def test_buckets_the_store_no_longer_keeps_are_not_written() -> None:
    old = ev("incidents", "o1", "reported", T0, severity=1)
    plan = _plan_batch(placed([old]), {}, now=T0 + 10 * 86400)
    tiers = {tier for tier, _, _ in plan.counters}
    assert tiers == {"1h", "1d"}  # 5-minute buckets live 48 h
    plan = _plan_batch(placed([old]), {}, now=T0 + 100 * 86400)
    assert {tier for tier, _, _ in plan.counters} == {"1d"}
