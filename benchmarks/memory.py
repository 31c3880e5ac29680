"""Redis memory per event, and the estimate for 30 days at 500,000 events a day.

Writes simulated hours at 500,000 events/day through the consumers' pipeline (the direct backfill path,
which writes exactly what a consumer writes, lifecycle states included), and measures Redis
``used_memory`` before and after. Counters aggregate (many events share a cell-hour), so bytes per event
fall with volume; the extrapolation multiplies the measured per-event figure and is an upper bound.
Baseline in the same run: the bytes of the records themselves (their JSON). Last line: JSON figures.
"""

from __future__ import annotations

import os
import sys

sys.path[0] = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

import json  # noqa: E402
import time  # noqa: E402

from geo.city import load_city  # noqa: E402
from kapok.commands import _simulator_args  # noqa: E402
from kapok.embedded import embedded_services  # noqa: E402
from kapok.settings import load_settings  # noqa: E402
from metrics.connect import make_redis  # noqa: E402
from metrics.store import MetricsStore  # noqa: E402
from streams import simulator  # noqa: E402
from streams.backfill import StoreSink  # noqa: E402
from streams.pipeline import Ingestor  # noqa: E402

EVENTS_PER_DAY = 500_000
HOURS = float(sys.argv[1]) if len(sys.argv) > 1 else 4.0


class Counting(StoreSink):
    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.record_bytes = 0

    def send(self, stream: str, key: str, value: bytes) -> None:
        self.record_bytes += len(value)
        super().send(stream, key, value)


def main() -> None:
    with embedded_services(kafka=False) as svc:
        settings = load_settings(redis_url=svc.redis_url)
        city = load_city(settings)
        store = MetricsStore(make_redis(settings))
        before = store.client.info("memory")["used_memory"]
        # Every state is kept (state_days large): what a consumer keeps for 35 days.
        sink = Counting(Ingestor(settings, city, store), partitions=4, state_days=3650)
        args = _simulator_args(seed=9, backfill_days=HOURS / 24, live_minutes=0.0,
                               events_per_day=EVENTS_PER_DAY)
        print(f"writing {HOURS:g} simulated hours at {EVENTS_PER_DAY:,} events/day", file=sys.stderr)
        started = time.perf_counter()
        summary = simulator.run(args, settings, sink, city=city)
        sink.close()
        used = store.client.info("memory")["used_memory"] - before
        # Memory by kind of key: the recent-events lists are capped (a fixed cost); states and counters
        # grow with the events.
        kinds = {"states": 0, "counters": 0, "recent": 0, "other": 0}
        for key in store.client.scan_iter(count=5000):
            name = key.decode()
            kind = ("states" if ":ev:" in name else "counters" if ":c:" in name
                    else "recent" if name.endswith(":recent") else "other")
            kinds[kind] += store.client.memory_usage(key, samples=0) or 0
        events = sum(summary.events.values()) if hasattr(summary, "events") else sink.accepted
        growing = kinds["states"] + kinds["counters"]
        per_event = growing / max(1, events)
        per_record = growing / max(1, sink.accepted)
        # States live 35 days and counters' hourly buckets 35 days: both cover the 30 days in full.
        estimate_30d = per_event * EVENTS_PER_DAY * 30 + kinds["recent"] + kinds["other"]
        print(f"  {events:,} events, {sink.accepted:,} records, {used / 1e6:.1f} MB in "
              f"{time.perf_counter() - started:.0f}s", file=sys.stderr)
        print(json.dumps({
            "events": events,
            "records": sink.accepted,
            "used_bytes": used,
            "by_kind_bytes": kinds,
            "bytes_per_event": round(per_event),
            "bytes_per_record": round(per_record),
            "baseline_record_bytes_per_event": round(sink.record_bytes / max(1, events)),
            "ratio": round(per_event / max(1, sink.record_bytes / max(1, events)), 2),
            "estimate_30d_500k_per_day_gb": round(estimate_30d / 1e9, 2),
        }))


if __name__ == "__main__":
    main()
