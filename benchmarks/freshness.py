"""End-to-end freshness: time from produce to the figure in /api/v1/stats, under a steady load.

Starts embedded Redis and Kafka, one consumer process (as a thread here) and the API (Flask test client),
then produces a steady 2,000 events/s for 40 s. Every 100 ms it notes how many records have been sent;
a sample's delay is the time until /api/v1/stats counts at least that many. Reports p50/p95 against the
bare round trip of one produce + one stats read in the same run. Last line: JSON figures.
"""

from __future__ import annotations

import os
import sys

sys.path[0] = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

import json  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402
import uuid  # noqa: E402
from datetime import UTC, datetime  # noqa: E402

import numpy as np  # noqa: E402

from dashboard.app import create_app  # noqa: E402
from geo.city import load_city  # noqa: E402
from kapok.embedded import create_topics, embedded_services  # noqa: E402
from kapok.settings import load_settings  # noqa: E402
from metrics.connect import make_redis  # noqa: E402
from metrics.store import MetricsStore  # noqa: E402
from streams.consumer import StreamConsumer  # noqa: E402
from streams.kafka_io import make_producer  # noqa: E402

RATE = int(sys.argv[1]) if len(sys.argv) > 1 else 2000
SECONDS = 40


def say(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def main() -> None:
    with embedded_services() as svc:
        prefix = "fresh" + uuid.uuid4().hex[:6]
        topics = {s: f"{prefix}-{s}" for s in ("incidents", "surveillance", "hotline", "hazards", "deadletter")}
        settings = load_settings(
            kafka_bootstrap=svc.kafka_bootstrap, redis_url=svc.redis_url, key_prefix=prefix, auth="none",
            topic_incidents=topics["incidents"], topic_surveillance=topics["surveillance"],
            topic_hotline=topics["hotline"], topic_hazards=topics["hazards"],
            topic_deadletter=topics["deadletter"], consumer_group=f"{prefix}-g",
        )
        create_topics(svc.kafka_bootstrap, list(topics.values()), 4)
        city = load_city(settings)
        store = MetricsStore(make_redis(settings), prefix=prefix)
        api = create_app(settings, store, city).server.test_client()

        def accepted() -> int:
            return sum(api.get("/api/v1/stats").json["accepted"].values())

        stop = threading.Event()
        consumer = StreamConsumer(settings, city, store)
        threading.Thread(target=consumer.run, args=(stop,), daemon=True).start()
        producer = make_producer(settings, linger_ms=5)
        cells = city.grids[~city.grids.boundary]
        rng = np.random.default_rng(3)

        def record(i: int) -> bytes:
            k = int(rng.integers(0, len(cells)))
            return json.dumps({"id": f"f{i}", "ts": datetime.now(tz=UTC).isoformat(), "category": "theft",
                               "lon": float(cells.lon.iloc[k]), "lat": float(cells.lat.iloc[k]),
                               "severity": 1}).encode()

        say("warming up: waiting for the consumer to join its group")
        producer.send(topics["incidents"], key=b"warm", value=record(-1))
        producer.flush()
        while accepted() < 1:
            time.sleep(0.1)
        say("baseline: one produce and one stats read")
        base = []
        for i in range(20):
            t = time.perf_counter()
            producer.send(topics["incidents"], key=f"b{i}".encode(), value=record(10**9 + i)).get(timeout=10)
            accepted()
            base.append(time.perf_counter() - t)
        target_base = 21
        while accepted() < target_base:
            time.sleep(0.05)

        say(f"steady load: {RATE} events/s for {SECONDS} s")
        marks: list[tuple[float, int]] = []
        sent = 0
        start = time.perf_counter()
        done = threading.Event()

        def produce() -> None:
            nonlocal sent
            while time.perf_counter() - start < SECONDS:
                due = int((time.perf_counter() - start) * RATE)
                while sent < due:
                    producer.send(topics["incidents"], key=f"k{sent}".encode(), value=record(sent))
                    sent += 1
                time.sleep(0.005)
            producer.flush()
            done.set()

        threading.Thread(target=produce, daemon=True).start()
        delays: list[float] = []
        pending: list[tuple[float, int]] = []
        next_mark = start
        while not done.is_set() or pending:
            now = time.perf_counter()
            if not done.is_set() and now >= next_mark:
                pending.append((now, target_base + sent))
                next_mark += 0.1
            seen = accepted()
            while pending and seen >= pending[0][1]:
                t0, _ = pending.pop(0)
                delays.append(time.perf_counter() - t0)
            if time.perf_counter() - start > SECONDS + 60:
                break
            time.sleep(0.02)
        marks.clear()
        stop.set()
        p50, p95 = (float(np.percentile(delays, q)) for q in (50, 95))
        say(f"  delays over {len(delays)} samples: p50 {p50:.3f}s, p95 {p95:.3f}s")
        print(json.dumps({
            "events_per_s": RATE,
            "p50_s": round(p50, 3),
            "p95_s": round(p95, 3),
            "baseline_roundtrip_s": round(float(np.median(base)), 4),
            "samples": len(delays),
        }))


if __name__ == "__main__":
    main()
