"""Wall time of writing the demo's history into the store, against the record-by-record path.

Starts an embedded Redis, loads the Guangzhou city model, then:

1. baseline: ``BASELINE_HOURS`` of simulated history through :class:`streams.backfill.StoreSink` (JSON
   records, the consumers' validation, placement and ledger record by record), timed and scaled by
   record count to the main run's volume;
2. ``DAYS`` days (default 30) at the default volume (60,000 events a day) with the default scenarios
   through :func:`streams.history.write_history` (column-wise, two processes), timed from the first
   generated hour to the last write acknowledged by Redis, into another key prefix of the same server.

The last line printed is the JSON summary::

    {"seconds_for_30_days": ..., "cpu_seconds_for_30_days": ..., "records": ..., "records_per_s": ...,
     "baseline_records_per_s": ..., "baseline_seconds_for_30_days": ..., "ratio": ...}

``ratio`` is the speed-up over the baseline (its seconds for the same volume divided by ours);
``cpu_seconds`` is this process's CPU time (the second writer process and Redis run beside it). The
machine may be shared. Run: ``python benchmarks/backfill.py [DAYS] [--processes=N] [--profile]``.
"""

from __future__ import annotations

import os
import sys

# run as a script, sys.path[0] is benchmarks/, whose module names may shadow the standard library's:
# look in the repository root instead, before anything else is imported
sys.path[0] = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

import cProfile  # noqa: E402
import json  # noqa: E402
import pstats  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import redis  # noqa: E402

from geo.city import load_city  # noqa: E402
from kapok.embedded import embedded_services  # noqa: E402
from kapok.settings import PROJECT_ROOT, load_settings  # noqa: E402
from metrics.store import MetricsStore  # noqa: E402
from streams.backfill import StoreSink  # noqa: E402
from streams.history import write_history  # noqa: E402
from streams.pipeline import Ingestor  # noqa: E402
from streams.simulator.model import HOUR, SimParams  # noqa: E402
from streams.simulator.runner import make_world  # noqa: E402
from streams.simulator.scenarios import DEFAULT_SCENARIOS_FILE, load_scenarios, plan_scenarios  # noqa: E402
from streams.simulator.schedule import Scheduler  # noqa: E402

ARGS = [a for a in sys.argv[1:] if not a.startswith("--")]
DAYS = float(ARGS[0]) if ARGS else 30.0
PROFILE = "--profile" in sys.argv
BASELINE_HOURS = 6
PARTITIONS = 4
PROCESSES = int(next((a.split("=", 1)[1] for a in sys.argv if a.startswith("--processes=")), "2"))


def main() -> None:
    cache = PROJECT_ROOT / ".cache"
    settings = load_settings(cache_dir=cache if cache.is_dir() else Path(tempfile.mkdtemp()))
    print("loading the city model ...", flush=True)
    city = load_city(settings)
    world = make_world(settings, seed=7, city=city)
    until = int(time.time())
    plans = plan_scenarios(load_scenarios(DEFAULT_SCENARIOS_FILE), world, until)
    params = SimParams()
    with embedded_services(kafka=False, persistent_redis=False) as services:
        client = redis.Redis.from_url(services.redis_url or "")

        print(f"baseline: {BASELINE_HOURS} h record by record (StoreSink) ...", flush=True)
        start = until - BASELINE_HOURS * HOUR
        sink = StoreSink(Ingestor(settings, city, MetricsStore(client, prefix="base")), partitions=PARTITIONS)
        began = time.perf_counter()
        baseline_records = 0
        for chunk in Scheduler(world, params, plans, start // HOUR).release_chunks(until, skip_before=start):
            baseline_records += len(chunk)
            for stream, key, value in zip(chunk.stream, chunk.key, chunk.value, strict=True):
                sink.send(stream, key, value)
        sink.flush()
        baseline_s = time.perf_counter() - began
        baseline_rate = baseline_records / baseline_s
        print(f"  {baseline_records:,} records in {baseline_s:.1f} s: {baseline_rate:,.0f} records/s", flush=True)

        print(f"history: {DAYS:g} days column-wise (write_history, {PROCESSES} processes) ...", flush=True)
        profile = cProfile.Profile() if PROFILE else None
        if profile is not None:
            profile.enable()
        began = time.perf_counter()
        cpu_began = time.process_time()
        summary = write_history(settings, city, MetricsStore(client, prefix="fast"), world, params, plans,
                                start=until - int(DAYS * 86400), until=until, partitions=PARTITIONS,
                                processes=PROCESSES)
        seconds = time.perf_counter() - began
        cpu_seconds = time.process_time() - cpu_began
        if profile is not None:
            profile.disable()
            pstats.Stats(profile).sort_stats("tottime").print_stats(30)
        records = summary.records
        print(f"  {records:,} records ({summary.accepted:,} counted, "
              f"{summary.duplicates:,} duplicates, {sum(summary.rejected.values()):,} rejected) "
              f"in {seconds:.1f} s ({cpu_seconds:.1f} s of CPU in this process)", flush=True)
        used = client.info("memory")["used_memory_human"]
        print("  seconds per process: " + ", ".join(f"{x:.1f}" for x in summary.process_seconds), flush=True)
        print(f"  {summary.fields:,} counter fields written; writer threads waited {summary.redis_seconds:.1f} s "
              f"on Redis; redis memory: {used}", flush=True)
    scale = 30 / DAYS
    baseline_30 = records * scale / baseline_rate
    print(json.dumps({
        "seconds_for_30_days": round(seconds * scale, 1),
        "cpu_seconds_for_30_days": round(cpu_seconds * scale, 1),
        "records": records,
        "records_per_s": round(records / seconds),
        "baseline_records_per_s": round(baseline_rate),
        "baseline_seconds_for_30_days": round(baseline_30, 1),
        "ratio": round(baseline_30 / (seconds * scale), 2),
    }))


if __name__ == "__main__":
    main()
