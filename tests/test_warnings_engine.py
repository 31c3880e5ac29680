"""The warnings engine on the real embedded Redis: a few days of simulated backfill, a spike of incidents
in one district in the current hour, severity-4 incidents, the lifecycle's dedup, hazard descriptors, the
store's concurrency, and the pure helpers of the engine and of the stored form."""

from __future__ import annotations

import itertools
import json
import math
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pytest
import redis
from hypothesis import given, settings
from hypothesis import strategies as st

from geo.city import CityModel
from kapok.commands import _simulator_args
from kapok.settings import Settings, load_settings
from metrics.hazards.sweep import WarningDescriptor
from metrics.store import MetricsStore
from metrics.warnings import lifecycle
from metrics.warnings.config import load_config
from metrics.warnings.detect import Candidate, Explanation
from metrics.warnings.engine import WarningsEngine, build_series, profile_expected
from metrics.warnings.errors import InvalidAction, TransitionError, WarningNotFound
from metrics.warnings.lifecycle import Fingerprint, Outcome, Status
from metrics.warnings.records import dumps, loads, precision_table, to_api
from metrics.warnings.store import WarningStore
from streams import simulator
from streams.backfill import StoreSink
from streams.pipeline import Ingestor, RawRecord

TIANHE = "440106"
TIANHE_POINT = (113.3612, 23.1247)
SPIKE = 45
#: Events a day of the test backfill: a tenth of the demo's, so three days take seconds.
EVENTS_PER_DAY = 6000.0


# ------------------------------------------------------------------------------------------ fixtures
@dataclass
class Filled:
    settings: Settings
    store: MetricsStore
    warnings: WarningStore
    engine: WarningsEngine
    city: CityModel
    spike_at: float
    backfill_s: float


def iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, tz=UTC).isoformat()


def ingest(settings: Settings, city: CityModel, store: MetricsStore, stream: str,
           records: list[dict[str, Any]]) -> None:
    """Records straight into the store through the consumers' pipeline (no Kafka offsets)."""
    ingestor = Ingestor(settings, city, store)
    raw = [RawRecord(i, r["id"].encode(), json.dumps(r).encode()) for i, r in enumerate(records)]
    prepared = ingestor.prepare(stream, raw)
    assert not prepared.rejected, [(r.reason, r.detail) for r in prepared.rejected]
    plan = ingestor.plan_with(prepared, {})
    assert ingestor.apply(prepared, 0, expected_offset="*", plan=plan).applied
    store.register_partition(stream, 0)


def incident(event_id: str, ts: float, category: str, severity: int) -> dict[str, Any]:
    lon, lat = TIANHE_POINT
    return {"id": event_id, "ts": iso(ts), "lon": lon, "lat": lat, "category": category, "severity": severity}


def spike_time() -> float:
    """A moment of the current hour at least a second after it began (so the spike is in this bucket)."""
    now = time.time()
    hour = now // 3600 * 3600
    if now - hour < 2:
        time.sleep(2)
        now = time.time()
    return max(hour + 1, now - 20)


def fill(redis_url: str, city: CityModel, prefix: str, days: float = 3.0) -> Filled:
    """A store with ``days`` of simulated history and, in the current hour, a spike of thefts and two
    severity-4 fires in Tianhe."""
    settings_ = load_settings(redis_url=redis_url, key_prefix=prefix, auth="none")
    client = redis.Redis.from_url(redis_url)
    store = MetricsStore(client, prefix=prefix)
    started = time.perf_counter()
    sink = StoreSink(Ingestor(settings_, city, store), partitions=4)
    simulator.run(_simulator_args(seed=7, backfill_days=days, live_minutes=0, events_per_day=EVENTS_PER_DAY,
                                  scenarios="none"), settings_, sink, city=city)
    sink.close()
    backfill_s = time.perf_counter() - started
    at = spike_time()
    spike = [incident(f"spike-{i}", at - i * 0.01, "theft", 2) for i in range(SPIKE)]
    spike += [incident(f"s4-{i}", at, "fire", 4) for i in range(2)]
    ingest(settings_, city, store, "incidents", spike)
    warnings = WarningStore(client, keys=store.keys)
    # the engine's clock stays in the spike's hour whenever the test runs (a millisecond per cycle)
    ticks = itertools.count()
    engine = WarningsEngine(store, warnings, city, load_config(), clock=lambda: at + 30 + next(ticks) / 1000)
    return Filled(settings_, store, warnings, engine, city, at, backfill_s)


def drop(client: redis.Redis, prefix: str) -> None:
    keys = list(client.scan_iter(match=f"{prefix}*", count=2000))
    for start in range(0, len(keys), 1000):
        client.delete(*keys[start:start + 1000])


@pytest.fixture(scope="module")
def filled(redis_url: str, city: CityModel) -> Iterator[Filled]:
    prefix = "tw" + uuid.uuid4().hex[:10]
    built = fill(redis_url, city, prefix)
    yield built
    drop(built.store.client, prefix)
    built.store.client.close()


def find(records: list[Any], **want: str) -> list[Any]:
    return [w for w in records if all(getattr(w.fingerprint, k) == v for k, v in want.items())]


# ------------------------------------------------------------------------------------------ engine on data
def test_a_cycle_raises_the_spike_and_the_rule_and_is_fast(filled: Filled) -> None:
    report = filled.engine.run_once()
    assert report.baseline == "profile"  # three days: too short for EARS (10) or the NB model (28)
    assert report.series > 300 and report.candidates >= 2
    # the first cycle reads the whole history and builds the H3 weights; later ones reuse them
    assert report.seconds < 45, report
    again = filled.engine.run_once()
    assert again.seconds < 10, again
    board = filled.warnings.open_board().warnings
    spike = find(list(board), detector="spike", scope="district", target=TIANHE, stream="incidents",
                 category="theft")
    assert len(spike) == 1
    w = spike[0]
    e = w.explanation
    assert e.observed >= SPIKE and e.expected < SPIKE / 3
    assert 0 < e.p_value < 1e-6 and e.recurrence_days > 365
    assert e.counters == ("incidents.theft.n",) and e.baseline == "profile"
    assert e.area == f"district:{TIANHE}" and filled.spike_at < e.window_end < filled.spike_at + 31
    assert w.level >= 3 and "observed" in e.text()
    fire = find(list(board), detector="severity4_incident", target=TIANHE, category="fire")
    assert fire and fire[0].level == 4 and fire[0].explanation.observed >= 2
    cell = filled.city.assign(np.array([TIANHE_POINT[0]]), np.array([TIANHE_POINT[1]]))[0][0]
    assert cell in fire[0].explanation.cells
    assert fire[0].explanation.p_value != fire[0].explanation.p_value  # a rule has no p-value (NaN)
    assert filled.store.client.hexists(filled.warnings.keys.warning_models(), "district")


def test_rerunning_updates_and_never_duplicates(filled: Filled) -> None:
    filled.engine.run_once()
    before = {w.fingerprint: w for w in filled.warnings.open_board().warnings}
    filled.engine.run_once()
    after = filled.warnings.open_board().warnings
    assert len({w.fingerprint for w in after}) == len(after)  # one open warning per fingerprint
    for w in after:
        if w.fingerprint in before and w.fingerprint.detector == "spike":
            assert w.id == before[w.fingerprint].id
            assert w.updated_at >= before[w.fingerprint].updated_at
    stored = filled.warnings.all()
    spikes = find(stored, detector="spike", scope="district", target=TIANHE, category="theft")
    assert len(spikes) == 1


def test_a_resolved_episode_is_not_raised_again(filled: Filled) -> None:
    filled.engine.run_once()
    w = find(list(filled.warnings.open_board().warnings), detector="spike", target=TIANHE, category="theft")[0]
    filled.warnings.act(w.id, "ack", "officer-a")
    filled.warnings.act(w.id, "resolve", "officer-a", outcome="true_event")
    fire = find(list(filled.warnings.open_board().warnings), detector="severity4_incident", target=TIANHE,
                category="fire")[0]
    filled.warnings.act(fire.id, "ack", "officer-a")
    filled.warnings.act(fire.id, "resolve", "officer-a", outcome="known_cause")
    filled.engine.run_once()
    again = find(filled.warnings.all(), detector="spike", target=TIANHE, category="theft", scope="district")
    assert [x.id for x in again] == [w.id] and again[0].status is Status.RESOLVED
    fires = find(filled.warnings.all(), detector="severity4_incident", target=TIANHE, category="fire")
    assert [x.id for x in fires] == [fire.id]
    # one more severity-4 fire in the same hour: the rule's value grew, so it is raised again
    ingest(filled.settings, filled.city, filled.store, "incidents",
           [incident("s4-late", filled.spike_at, "fire", 4)])
    filled.engine.run_once()
    fires = find(filled.warnings.all(), detector="severity4_incident", target=TIANHE, category="fire")
    reopened = [f for f in fires if f.is_open]
    assert len(fires) == 2 and len(reopened) == 1 and reopened[0].explanation.observed == 3


def test_hazard_descriptor_creates_then_updates(filled: Filled) -> None:
    now = time.time()
    descriptor = WarningDescriptor(
        fingerprint=("hazard_overdue", "gas", "hz-1"), level="orange", scope="district", target=TIANHE,
        stream="hazards", category="gas", detector="hazard_overdue",
        explanation="hazard hz-1 (grade B, gas) is 48 h past its deadline", hazard_id="hz-1", grade="B",
        district=TIANHE, due=now - 48 * 3600, overdue_s=48 * 3600.0, raised_at=now)
    first = filled.engine.raise_warning(descriptor)
    assert first is not None and first.level_name == "orange" and first.status is Status.RAISED
    assert first.explanation.text() == descriptor.explanation
    second = filled.engine.raise_warning(descriptor.to_dict() | {"level": "red"})  # a plain dict too
    assert second is not None and second.id == first.id and second.level_name == "red"
    assert [t.action for t in second.history] == ["raised", "level_raised"]
    other = filled.engine.raise_warning(descriptor.to_dict() | {"fingerprint": ["hazard_overdue", "gas", "hz-2"]})
    assert other is not None and other.id != first.id
    # a full cycle leaves hazard warnings alone (they wait for a person)
    filled.engine.run_once()
    assert filled.warnings.get(first.id).status is Status.RAISED
    log = filled.warnings.transitions(first.id)
    assert [e["action"] for e in log] == ["raised", "level_raised"] and log[0]["by"] == "system"


def test_bad_descriptor_is_refused(filled: Filled) -> None:
    with pytest.raises(Exception, match="lacks"):
        filled.engine.raise_warning({"level": "red"})
    with pytest.raises(Exception, match="level"):
        filled.engine.raise_warning({"fingerprint": ("x",), "level": "purple", "scope": "city", "target": "city",
                                     "stream": "hazards", "category": "gas", "detector": "hazard_overdue"})


# ------------------------------------------------------------------------------------------ the store
def candidate(target: str = "c1", level: int = 2, at: float = 1000.0, detector: str = "spike") -> Candidate:
    expl = Explanation(detector=detector, observed=12.0, expected=3.0, p_value=1e-4, recurrence_days=200.0,
                       window_start=at - 3600, window_end=at, area=f"grid:{target}", series_ids=("s",))
    return Candidate(detector=detector, stream="incidents", category="theft", scope="grid", target=target,
                     level=level, at=at, explanation=expl)


@pytest.fixture
def warnings(redis_client: redis.Redis, key_prefix: str) -> WarningStore:
    return WarningStore(redis_client, key_prefix)


def test_store_lifecycle_and_log(warnings: WarningStore) -> None:
    board = warnings.cycle([candidate()], 1000.0)
    (w,) = board.warnings
    assert warnings.get(w.id) == w
    acked = warnings.act(w.id, "ack", "alice", 1100.0, note="on it")
    assert acked.status is Status.ACKNOWLEDGED and acked.history[-1].by == "alice"
    with pytest.raises(TransitionError, match="acknowledged"):
        warnings.act(w.id, "ack", "bob", 1150.0)
    with pytest.raises(InvalidAction, match="outcome"):
        warnings.act(w.id, "resolve", "bob", 1200.0)
    with pytest.raises(InvalidAction, match="outcome"):
        warnings.act(w.id, "resolve", "bob", 1200.0, outcome="maybe")
    with pytest.raises(InvalidAction, match="who"):
        warnings.act(w.id, "dispatch", " ", 1200.0)
    with pytest.raises(WarningNotFound):
        warnings.act("w-nope", "ack", "bob", 1200.0)
    warnings.act(w.id, "dispatch", "bob", 1200.0)
    done = warnings.act(w.id, "resolve", "carol", 1300.0, outcome="false_alarm")
    assert done.status is Status.RESOLVED and done.outcome is Outcome.FALSE_ALARM
    assert warnings.open_board().warnings == ()  # resolved: no longer open, its fingerprint is free
    log = warnings.transitions(w.id)
    assert [(e["action"], e["by"], e["at"]) for e in log] == [
        ("raised", "system", 1000.0), ("acknowledged", "alice", 1100.0), ("dispatched", "bob", 1200.0),
        ("resolved", "carol", 1300.0)]
    # the same fingerprint later: a new warning
    (again,) = warnings.cycle([candidate(at=5000.0)], 5000.0).warnings
    assert again.id != w.id
    assert warnings.latest([again.fingerprint.key])[again.fingerprint.key].id == again.id


def test_an_action_during_a_cycle_is_not_overwritten(warnings: WarningStore, monkeypatch: Any) -> None:
    (w,) = warnings.cycle([candidate()], 1000.0).warnings
    other = WarningStore(warnings.client, keys=warnings.keys)
    real = lifecycle.cycle
    calls = []

    def racing(board: lifecycle.Board, *args: Any, **kwargs: Any) -> lifecycle.Board:
        calls.append(1)
        if len(calls) == 1:  # an officer acknowledges between the engine's read and its write
            other.act(w.id, "ack", "alice", 1050.0)
        return real(board, *args, **kwargs)

    monkeypatch.setattr(lifecycle, "cycle", racing)
    warnings.cycle([candidate(level=3, at=1060.0)], 1060.0)
    assert len(calls) == 2  # the first write was refused and the cycle recomputed
    stored = warnings.get(w.id)
    assert stored.status is Status.ACKNOWLEDGED and stored.level == 3
    assert [t.action for t in stored.history] == ["raised", "acknowledged", "level_raised"]


def test_silence_mutes_and_sweep_forgets(warnings: WarningStore) -> None:
    warnings.add_silence(by="alice", reason="road works", ends_at=2000.0, starts_at=0.0, target="c1")
    assert warnings.cycle([candidate("c1"), candidate("c2")], 1000.0).warnings[0].fingerprint.target == "c2"
    with pytest.raises(Exception, match="reason"):
        warnings.add_silence(by="alice", reason=" ", ends_at=2000.0)
    (w,) = warnings.open_board().warnings
    warnings.act(w.id, "ack", "a", 1100.0)
    warnings.act(w.id, "resolve", "a", 1200.0, outcome="duplicate")
    assert warnings.sweep(1200.0 + 89 * 86400) == 0
    assert warnings.sweep(1200.0 + 91 * 86400) == 1
    with pytest.raises(WarningNotFound):
        warnings.get(w.id)
    assert warnings.silences(0.0) == []  # ended silences went with the sweep


def test_query_filters_and_orders(warnings: WarningStore) -> None:
    warnings.cycle([candidate("c1", level=1, at=1000.0), candidate("c2", level=4, at=1000.0)], 1000.0)
    warnings.cycle([candidate("c1", level=1, at=1000.0), candidate("c2", level=4, at=1000.0),
                    candidate("c3", level=1, at=2000.0)], 2000.0)
    district_of = {"c1": "440106", "c2": "440104", "c3": "440106"}
    found = warnings.query(district_of)
    assert [w["target"] for w in found] == ["c2", "c3", "c1"]  # most severe, then newest
    assert [w["target"] for w in warnings.query(district_of, district="440106")] == ["c3", "c1"]
    assert [w["target"] for w in warnings.query(district_of, level="red")] == ["c2"]
    assert warnings.query(district_of, stream="hotline") == []
    with pytest.raises(InvalidAction):
        warnings.query(district_of, status="sleeping")
    with pytest.raises(InvalidAction):
        warnings.query(district_of, level="purple")


# ------------------------------------------------------------------------------------------ pure helpers
def test_build_series_known_answer() -> None:
    columns = ["hotline.noise.n", "incidents.fire.n", "incidents.theft.n"]
    cube = np.array([[[1, 2, 3], [4, 5, 6]], [[0, 1, 0], [2, 0, 1]]], dtype=float)  # (T=2, D=2, C=3)
    s = build_series(columns, cube, ["d1", "d2"], np.array([0.0, 3600.0]))
    rows = dict(zip(s.ids, s.counts.tolist(), strict=True))
    assert rows["city:city:incidents.*"] == [16.0, 2.0]
    assert rows["district:d1:incidents.theft"] == [3.0, 0.0]
    assert rows["district:d2:incidents.*"] == [11.0, 1.0]
    assert rows["city:city:hotline.noise"] == [5.0, 2.0]
    assert len(rows) == 3 * (1 + 1 + 1 + 2)  # areas x (hotline total, noise, incidents total, 2 categories)


@settings(max_examples=40, deadline=None)
@given(rate=st.floats(0.5, 50.0), days=st.integers(2, 6), seed=st.integers(0, 10_000))
def test_profile_expected_recovers_a_flat_rate(rate: float, days: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    starts = np.arange(days * 24, dtype=float) * 3600.0
    counts = rng.poisson(rate, size=(2, starts.size)).astype(float)
    mask = np.ones(starts.size, dtype=bool)
    mu, alpha = profile_expected(counts, starts, mask, np.array([0, 0]))
    assert np.all(mu > 0) and np.all(alpha >= 0)
    # the expected total over the fitted buckets matches the observed total (plus the half-event prior)
    assert np.allclose(mu.sum(axis=1), counts.sum(axis=1) + 0.5, rtol=1e-6)


def test_profile_expected_follows_the_stream_profile() -> None:
    starts = np.arange(48, dtype=float) * 3600.0
    hours = ((starts + 8 * 3600) % 86400) // 3600
    total = np.where(hours < 12, 30.0, 10.0)  # the stream's city total: busy mornings
    part = total / 10
    mu, _ = profile_expected(np.vstack([total, part]), starts, np.ones(48, dtype=bool), np.array([0, 0]))
    assert mu[1, hours < 12].mean() / mu[1, hours >= 12].mean() == pytest.approx(3.0, rel=1e-6)


@settings(max_examples=40, deadline=None)
@given(level=st.integers(1, 4), observed=st.floats(0, 1e6), nan_p=st.booleans(),
       actions=st.lists(st.sampled_from(["ack", "dispatch", "resolve"]), max_size=3))
def test_stored_form_round_trips(level: int, observed: float, nan_p: bool, actions: list[str]) -> None:
    c = candidate(level=level)
    c = replace(c, explanation=replace(c.explanation, observed=observed, p_value=math.nan if nan_p else 0.01,
                                       counters=("incidents.theft.n",), baseline="nb"), subject="2025-01-01")
    board = lifecycle.apply_candidates(lifecycle.Board(), [c], 10.0)
    for i, action in enumerate(actions):
        try:
            board = lifecycle.act(board, board.warnings[0].id, action, "u", 20.0 + i,
                                  **({"outcome": "true_event"} if action == "resolve" else {}))
        except TransitionError:
            pass
    w = board.warnings[0]
    back = loads(dumps(w))
    assert dumps(back) == dumps(w)
    assert back.fingerprint == Fingerprint.of(c) and back.status == w.status and back.history == w.history
    api = to_api(back, {"c1": TIANHE})
    assert api["district"] == TIANHE and api["level"] == w.level_name
    assert (api["p_value"] is None) == nan_p


@pytest.mark.parametrize(("outcomes", "precision"), [
    (["true_event", "known_cause", "false_alarm", "duplicate"], 0.5),
    (["data_artefact"], 0.0),
    (["true_event"], 1.0),
    ([], None),
])
def test_precision_table(outcomes: list[str], precision: float | None) -> None:
    board = lifecycle.Board()
    for i, outcome in enumerate(outcomes):
        board = lifecycle.apply_candidates(board, [candidate(f"c{i}")], 10.0)
        wid = board.warnings[-1].id
        board = lifecycle.act(board, wid, "ack", "u", 11.0)
        board = lifecycle.act(board, wid, "resolve", "u", 12.0, outcome=outcome)
    board = lifecycle.apply_candidates(board, [candidate("open-one")], 10.0)
    table = precision_table(list(board.warnings))
    assert table["spike"]["precision"] == precision
    assert table["spike"]["raised"] == len(outcomes) + 1 and table["spike"]["open"] == 1
    assert table["spike"]["judged"] == len(outcomes)
