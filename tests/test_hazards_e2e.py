"""Issue 9 end to end: hazards through every stage over Kafka into the register, then the sweep at a
frozen clock — overdue flags, escalation steps and the warnings they raise."""

from __future__ import annotations

import inspect
import json
import time
from datetime import UTC, datetime
from typing import Any

import pytest

import streams.consumer
import streams.pipeline
from kapok.settings import Settings
from metrics.hazards.engine import HazardsEngine
from metrics.hazards.redis_io import RedisRegister, RedisStepLog
from metrics.hazards.register import decode_entry
from metrics.hazards.sweep import WarningDescriptor
from metrics.hazards.views import list_hazards, summary
from metrics.keys import Keys
from metrics.store import MetricsStore
from streams.consumer import StreamConsumer
from streams.kafka_io import make_producer
from tests.conftest import TEST_PARTITIONS
from tests.helpers import pipeline_settings

H = 3600.0
DAY = 86400.0
NOW = float(int(time.time()))  # the frozen clock of the sweep; every record lies before it
TIANHE = (113.3612, 23.1247)  # in district 440106

NOT_WIRED = ("the consumer does not write the hazard register yet: the Ingestor a StreamConsumer builds "
             "must plan hazards batches with register=metrics.hazards.register_entry (e.g. "
             "Ingestor.registers['hazards']) — docs/hazards.md, 'Ledger hooks'")


def pipeline_writes_register() -> bool:
    """Whether the consumer's pipeline hands ``register_entry`` to the batch planner (the StreamConsumer
    this test runs builds its Ingestor in one of these modules)."""
    modules = (streams.pipeline, streams.consumer)
    return any("register_entry" in inspect.getsource(module) for module in modules)


def iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, tz=UTC).isoformat()


def hz(hazard_id: str, stage: str, at: float, grade: str, due: float | None = None, *,
       category: str = "gas", district_only: bool = False) -> tuple[str, bytes]:
    record: dict[str, Any] = {"id": hazard_id, "ts": iso(at), "category": category, "grade": grade,
                              "stage": stage}
    if district_only:
        record["district"] = "440104"
    else:
        record["lon"], record["lat"] = TIANHE
    if due is not None:
        record["due"] = iso(due)
    return hazard_id, json.dumps(record).encode()


# Kafka order is the list order (one key -> one partition, in order).
RECORDS = [
    # a: grade A, 48 h overdue -> street and district, red
    hz("a", "reported", NOW - 5 * DAY, "A", NOW - 2 * DAY),
    hz("a", "assessed", NOW - 4.5 * DAY, "A", NOW - 2 * DAY),
    hz("a", "rectifying", NOW - 4 * DAY, "A"),
    # b: reported C, reassessed to B with a deadline 48 h ago -> street only, orange
    hz("b", "reported", NOW - 9 * DAY, "C", NOW + 6 * DAY, category="structural"),
    hz("b", "assessed", NOW - 8 * DAY, "B", NOW - 2 * DAY, category="structural"),
    # c: every stage to verified, late -> closed, nothing raised
    hz("c", "reported", NOW - 6 * DAY, "A", NOW - 3 * DAY),
    hz("c", "assessed", NOW - 5.9 * DAY, "A", NOW - 3 * DAY),
    hz("c", "rectifying", NOW - 5 * DAY, "A"),
    hz("c", "rectified", NOW - 2.5 * DAY, "A"),
    hz("c", "verified", NOW - 2 * DAY, "A"),
    # d: verified, then reopened: open again, 30 h overdue -> street, district, red
    hz("d", "reported", NOW - 4 * DAY, "A", NOW - 30 * H, category="electrical"),
    hz("d", "rectified", NOW - 3 * DAY, "A", category="electrical"),
    hz("d", "verified", NOW - 2 * DAY, "A", category="electrical"),
    hz("d", "reopened", NOW - 1.5 * DAY, "A", category="electrical"),
    # e: late report — the reassessment (D -> B, deadline 80 h ago) arrives before the report
    hz("e", "assessed", NOW - 9 * DAY, "B", NOW - 80 * H, category="flood_prone"),
    hz("e", "reported", NOW - 9.5 * DAY, "D", NOW + 20 * DAY, category="flood_prone"),
    # f: a late rectifying after verified changes nothing
    hz("f", "reported", NOW - 3 * DAY, "B", NOW + 4 * DAY),
    hz("f", "rectified", NOW - 2 * DAY, "B"),
    hz("f", "verified", NOW - 1 * DAY, "B"),
    hz("f", "rectifying", NOW - 2.5 * DAY, "B"),
    # g: no position, A overdue 2 h -> a district-scoped red warning
    hz("g", "reported", NOW - 3 * DAY, "A", NOW - 2 * H, category="crowd_venue", district_only=True),
    # h: A due in 10 h -> a reminder, nothing overdue
    hz("h", "reported", NOW - 2 * DAY, "A", NOW + 10 * H),
    # a resend of a's report: a duplicate, ignored
    hz("a", "reported", NOW - 5 * DAY, "A", NOW - 2 * DAY),
]


@pytest.fixture
def settings(kafka_bootstrap: str, redis_url: str, key_prefix: str, topic_names: dict[str, str]) -> Settings:
    return pipeline_settings(kafka_bootstrap, redis_url, key_prefix, topic_names)


def test_hazards_over_kafka_register_sweep_and_warnings(  # type: ignore[no-untyped-def]
    settings, city, redis_client,
) -> None:
    if not pipeline_writes_register():
        pytest.skip(NOT_WIRED)
    producer = make_producer(settings)
    for key, value in RECORDS:
        producer.send(settings.topic_hazards, key=key.encode(), value=value)
    producer.flush()
    store = MetricsStore(redis_client, prefix=settings.key_prefix)
    StreamConsumer(settings, city, store, group_id=f"{settings.key_prefix}-g").run(idle_exit_s=3.0)
    stats = store.stats()
    assert stats["accepted"]["hazards"] == len(RECORDS) - 1 and stats["duplicates"] == 1

    keys = Keys(settings.key_prefix)
    register = RedisRegister(redis_client, lambda: [keys.hazard_register(p) for p in range(TEST_PARTITIONS)])
    entries = {e.id: e for e in map(decode_entry, register.hazard_entries())}
    assert set(entries) == set("abcdefgh")
    expect = {  # id: (stage, grade, due, open)
        "a": ("rectifying", "A", NOW - 2 * DAY, True),
        "b": ("assessed", "B", NOW - 2 * DAY, True),
        "c": ("verified", "A", NOW - 3 * DAY, False),
        "d": ("reopened", "A", NOW - 30 * H, True),
        "e": ("assessed", "B", NOW - 80 * H, True),
        "f": ("verified", "B", NOW + 4 * DAY, False),
        "g": ("reported", "A", NOW - 2 * H, True),
        "h": ("reported", "A", NOW + 10 * H, True),
    }
    assert (entries["e"].grade, entries["e"].due) == (expect["e"][1], expect["e"][2]), (
        "the late report of e undid its reassessment: the ledger must keep grade:<stage> / due:<stage> in "
        "the hazard's state (docs/hazards.md, 'Ledger hooks')")
    assert {i: (e.stage, e.grade, e.due, e.open) for i, e in entries.items()} == expect
    tianhe_grid, _ = city.assign([TIANHE[0]], [TIANHE[1]])
    assert (entries["a"].grid, entries["a"].district) == (tianhe_grid[0], "440106")
    assert (entries["g"].grid, entries["g"].district) == (None, "440104")
    assert [(a.stage, a.grade) for a in entries["b"].assessments] == [("reported", "C"), ("assessed", "B")]
    assert list(entries["c"].stages) == ["reported", "assessed", "rectifying", "rectified", "verified"]
    assert entries["c"].closed_at == NOW - 2 * DAY

    # the sweep at the frozen clock
    step_log = RedisStepLog(redis_client, f"{settings.key_prefix}:test:hazard-steps")
    raised: list[WarningDescriptor] = []
    engine = HazardsEngine(register, step_log, raised.append, drop_hazards=register.drop_hazards,
                           clock=lambda: NOW)
    report = engine.run_once()
    assert (report.hazards, report.open, report.overdue) == (8, 6, 5)
    listed = list_hazards(register.hazard_entries(), NOW, "overdue")["hazards"]
    overdue = {h["id"]: h["escalation"] for h in listed}
    assert overdue == {"a": "district", "b": "street", "d": "district", "e": "district", "g": "street"}
    steps = {(s["hazard"], s["kind"], s["detail"]) for s in step_log.steps()}
    assert steps == {
        ("a", "escalate", "street"), ("a", "escalate", "district"), ("a", "warn", "red"),
        ("b", "escalate", "street"), ("b", "warn", "orange"),
        ("d", "escalate", "street"), ("d", "escalate", "district"), ("d", "warn", "red"),
        ("e", "escalate", "street"), ("e", "escalate", "district"), ("e", "warn", "orange"),
        ("g", "escalate", "street"), ("g", "warn", "red"),
        ("h", "remind", "24h"),
    }
    warnings = {w.hazard_id: (w.level, w.scope, w.target, w.fingerprint) for w in raised}
    assert warnings == {
        "a": ("red", "grid", tianhe_grid[0], ("hazard_overdue", "gas", "a")),
        "b": ("orange", "grid", tianhe_grid[0], ("hazard_overdue", "structural", "b")),
        "d": ("red", "grid", tianhe_grid[0], ("hazard_overdue", "electrical", "d")),
        "e": ("orange", "grid", tianhe_grid[0], ("hazard_overdue", "flood_prone", "e")),
        "g": ("red", "district", "440104", ("hazard_overdue", "crowd_venue", "g")),
    }
    assert summary(register.hazard_entries(), NOW) == {
        "open": {"A": 4, "B": 2, "C": 0, "D": 0}, "overdue": {"A": 3, "B": 2, "C": 0, "D": 0}}

    # a minute on, nothing new; a day on, only the steps the extra day reached (h is now overdue)
    assert (engine.run_once(NOW + 60).steps, len(raised)) == (0, 5)
    engine.run_once(NOW + DAY)
    assert engine.last is not None
    assert {(s["hazard"], s["detail"]) for s in engine.last.steps} == {
        ("a", "city"), ("b", "district"), ("g", "district"), ("h", "street"), ("h", "red")}
    assert [(w.hazard_id, w.level) for w in raised[5:]] == [("h", "red")]

    # rectify and verify a: it closes, and the register follows a second consumer run
    for key, value in (hz("a", "rectified", NOW - 20 * H, "A"), hz("a", "verified", NOW - 10 * H, "A")):
        producer.send(settings.topic_hazards, key=key.encode(), value=value)
    producer.flush()
    producer.close()
    StreamConsumer(settings, city, store, group_id=f"{settings.key_prefix}-g").run(idle_exit_s=3.0)
    closed = {h["id"] for h in list_hazards(register.hazard_entries(), NOW, "closed")["hazards"]}
    assert closed == {"a", "c", "f"}
    # 400 days on the closed hazards leave the register
    engine.run_once(NOW + 401 * DAY)
    assert {decode_entry(e).id for e in register.hazard_entries()} == set("bdegh")
