"""End to end on the real broker and Redis: produce → consume → Redis → API."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime

import pytest

from dashboard.app import create_app
from kapok.settings import Settings
from metrics.store import MetricsStore
from streams.consumer import StreamConsumer
from streams.kafka_io import make_producer
from tests.helpers import consume_all, pipeline_settings

NOW = time.time()
TIANHE = (113.3612, 23.1247)  # Tianhe sports centre area


def iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, tz=UTC).isoformat()


@pytest.fixture
def settings(kafka_bootstrap: str, redis_url: str, key_prefix: str, topic_names: dict[str, str]) -> Settings:
    return pipeline_settings(kafka_bootstrap, redis_url, key_prefix, topic_names)


# Batch workers in processes of their own (the default) and as a thread of the consumer process.
@pytest.mark.parametrize("workers", [2, 0])
def test_produced_events_are_counted_once_and_visible_through_the_api(settings, city, redis_client,  # type: ignore[no-untyped-def]
                                                                       workers: int) -> None:
    settings = settings.model_copy(update={"consumer_workers": workers})
    producer = make_producer(settings)
    incident = {"id": "inc-1", "ts": iso(NOW - 60), "lon": TIANHE[0], "lat": TIANHE[1],
                "category": "theft", "severity": 2}
    records = [
        ("incidents", "inc-1", json.dumps(incident).encode()),
        ("incidents", "inc-1", json.dumps(incident).encode()),  # a resend: a duplicate
        ("incidents", "inc-2", json.dumps({**incident, "id": "inc-2", "severity": 4}).encode()),
        ("incidents", "inc-3", b"{not json"),
        ("incidents", "inc-4", json.dumps({**incident, "id": "inc-4", "lon": -70.0, "lat": 40.0}).encode()),
        ("hotline", "t-1", json.dumps({"id": "t-1", "ts": iso(NOW - 3600), "district": "440104",
                                       "category": "noise", "caller_phone": "13812341234"}).encode()),
        ("hotline", "t-1", json.dumps({"id": "t-1", "ts": iso(NOW - 1800), "district": "440104",
                                       "category": "noise", "stage": "responded"}).encode()),
        ("surveillance", "a-1", json.dumps({"id": "a-1", "ts": iso(NOW - 10), "lon": TIANHE[0],
                                            "lat": TIANHE[1], "category": "fire_smoke", "camera_id": "cam-9",
                                            "confidence": 0.97}).encode()),
    ]
    for stream, key, value in records:
        producer.send(settings.topics()[stream], key=key.encode(), value=value)
    producer.flush()

    store = MetricsStore(redis_client, prefix=settings.key_prefix)
    consumer = StreamConsumer(settings, city, store, group_id=f"{settings.key_prefix}-g")
    consumer.run(idle_exit_s=3.0)

    stats = store.stats()
    assert stats["accepted"] == {"incidents": 2, "surveillance": 1, "hotline": 2, "hazards": 0}
    assert stats["duplicates"] == 1
    assert stats["deadletter"] == {"not_json": 1, "outside_city": 1}
    tianhe_grid, tianhe_district = city.assign([TIANHE[0]], [TIANHE[1]])
    assert tianhe_district[0] == "440106"

    dead = consume_all(settings.kafka_bootstrap, settings.topic_deadletter)
    reasons = sorted(dict(m.headers)["rk-reason"].decode() for m in dead)
    assert reasons == ["not_json", "outside_city"]
    assert {m.value for m in dead} == {records[3][2], records[4][2]}  # unchanged bytes
    assert all(b"13812341234" not in json.dumps([str(h) for h in m.headers]).encode() for m in dead)

    client = create_app(settings, store, city).server.test_client()
    assert client.get("/api/v1/health").json["redis"] == "ok"
    api_stats = client.get("/api/v1/stats").json
    assert api_stats["accepted"]["incidents"] == 2 and api_stats["duplicates"] == 1
    districts = {d["code"]: d for d in client.get("/api/v1/districts?window=24h").json["districts"]}
    assert districts["440106"]["counts"] == {"incidents": 2, "surveillance": 1, "hotline": 0}
    assert districts["440104"]["counts"]["hotline"] == 1
    grids = client.get("/api/v1/grids?district=440106&window=1h").json["grids"]
    by_id = {g["id"]: g for g in grids}
    assert by_id[tianhe_grid[0]]["counts"]["incidents"] == 2
    cell = client.get(f"/api/v1/grids/{tianhe_grid[0]}").json
    assert cell["district"] == "440106" and cell["counts"]["surveillance"] == 1
    assert all("13812341234" not in json.dumps(e) for e in cell["recent_events"])

    # A second consumer of the same group starts where Redis says: nothing is counted twice.
    StreamConsumer(settings, city, store, group_id=f"{settings.key_prefix}-g2").run(idle_exit_s=3.0)
    assert store.stats()["accepted"] == stats["accepted"]


@pytest.mark.parametrize(("path", "status"), [
    ("/api/v1/districts?window=banana", 400),
    ("/api/v1/districts?window=0h", 400),
    ("/api/v1/grids?district=999999", 400),
    ("/api/v1/grids/not-a-cell", 404),
    ("/api/v1/no-such-thing", 404),
])
def test_bad_requests_get_json_errors(settings, city, redis_client, path: str, status: int) -> None:  # type: ignore[no-untyped-def]
    store = MetricsStore(redis_client, prefix=settings.key_prefix)
    response = create_app(settings, store, city).server.test_client().get(path)
    assert response.status_code == status
    assert "error" in response.json
