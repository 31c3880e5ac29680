"""Generation rate of the simulator's backfill, against bare msgspec encoding of the same records.

Loads the Guangzhou city model (building it into a temporary cache if needed), then generates
``DAYS`` days of history at the default volume (60,000 events a day) with the default scenarios through
the scheduler, counting records but sending them nowhere, so the figure is generation alone: drawing
events, unfolding their stages, encoding JSON, ordering by emit time. The baseline is
``msgspec.json.encode`` of the same records as plain dicts (decoded from one generated day), i.e. what
encoding alone costs. The last line printed is the JSON summary::

    {"events_per_s": ..., "baseline_events_per_s": ..., "ratio": ..., "records_per_s": ...,
     "seconds_for_30_days": ..., "cpu_seconds_for_30_days": ...}

The machine may be shared: the CPU figure shows the cost without other processes' load.

``events`` are first-stage records; each comes with its stage records (about 3 records an event in
the steady state), which both figures include. Run: ``python benchmarks/simulate.py [DAYS]``.
"""

from __future__ import annotations

import os
import sys

# run as a script, sys.path[0] is benchmarks/, whose module names may shadow the standard library's:
# look in the repository root instead, before anything else is imported
sys.path[0] = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

import json  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import msgspec  # noqa: E402

from kapok.settings import PROJECT_ROOT, load_settings  # noqa: E402
from streams.simulator.model import HOUR, SimParams  # noqa: E402
from streams.simulator.runner import make_world  # noqa: E402
from streams.simulator.scenarios import DEFAULT_SCENARIOS_FILE, load_scenarios, plan_scenarios  # noqa: E402
from streams.simulator.schedule import Scheduler  # noqa: E402

UNTIL = 1795600800  # 2026-11-25T18:00:00+08:00
DAYS = float(sys.argv[1]) if len(sys.argv) > 1 else 7.0


def main() -> None:
    cache = PROJECT_ROOT / ".cache"
    settings = load_settings(cache_dir=cache if cache.is_dir() else Path(tempfile.mkdtemp()))
    print("loading the city model ...", flush=True)
    world = make_world(settings, seed=1)
    plans = plan_scenarios(load_scenarios(DEFAULT_SCENARIOS_FILE), world, UNTIL)
    start = UNTIL - int(DAYS * 86400)
    print(f"generating {DAYS:g} days of history ...", flush=True)
    scheduler = Scheduler(world, SimParams(), plans, start // HOUR)
    records = events = 0
    sample: list[bytes] = []
    began = time.perf_counter()
    cpu_began = time.process_time()
    for chunk in scheduler.release_chunks(UNTIL, skip_before=start):
        records += len(chunk)
        events += int(chunk.first.sum())
        if len(sample) < 200_000:
            sample.extend(v for v, bad in zip(chunk.value, chunk.malformed.tolist(), strict=True) if not bad)
    seconds = time.perf_counter() - began
    cpu_seconds = time.process_time() - cpu_began
    print(
        f"  {records:,} records, {events:,} events in {seconds:.1f} s ({cpu_seconds:.1f} s of CPU)",
        flush=True,
    )

    print("baseline: msgspec encoding of the same records as dicts ...", flush=True)
    dicts = [msgspec.json.decode(v) for v in sample]
    encode = msgspec.json.Encoder().encode
    best = float("inf")
    for _ in range(3):
        t0 = time.perf_counter()
        for d in dicts:
            encode(d)
        best = min(best, time.perf_counter() - t0)
    baseline_records_per_s = len(dicts) / best
    records_per_event = records / max(events, 1)
    events_per_s = events / seconds
    baseline_events_per_s = baseline_records_per_s / records_per_event
    print(f"  {baseline_records_per_s:,.0f} records/s", flush=True)
    print(
        json.dumps(
            {
                "events_per_s": round(events_per_s),
                "baseline_events_per_s": round(baseline_events_per_s),
                "ratio": round(events_per_s / baseline_events_per_s, 3),
                "records_per_s": round(records / seconds),
                "seconds_for_30_days": round(seconds / DAYS * 30, 1),
                "cpu_seconds_for_30_days": round(cpu_seconds / DAYS * 30, 1),
            }
        )
    )


if __name__ == "__main__":
    main()
