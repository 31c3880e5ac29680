"""Ingestion throughput: one consumer process, broker to committed Redis state, against a bare consumer.

Runs with no argument on a bare machine (starts embedded Redis and Kafka). Pre-produces 200,000 mixed
events (three streams, stage updates, resends, bad records), then in the same run measures
1. the baseline: a bare kafka-python consumer reading the same topics and doing nothing, and
2. Red Kapok's consumer: validate, place, plan, apply (Lua) and dead-letter, until Redis holds every record.
Both rates exclude the group join (timed from the first record to the last). Besides the phase times it
prints the CPU each process used per record (the consumer's poller, its batch workers, Redis, the broker)
and the whole machine's, so a run on a shared machine shows whether the rate was bounded by CPU taken by
others. Last line: JSON figures.
"""

from __future__ import annotations

import os
import sys

# Run as a script, this folder would come first on the path and benchmarks/warnings.py would shadow the
# standard library's ``warnings``: put the repository root there instead, before any other import.
sys.path[0] = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

import json  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402
import uuid  # noqa: E402

from kafka import KafkaConsumer  # noqa: E402

from geo.city import load_city  # noqa: E402
from kapok.embedded import create_topics, embedded_services  # noqa: E402
from kapok.settings import load_settings  # noqa: E402
from metrics.connect import make_redis  # noqa: E402
from metrics.store import MetricsStore  # noqa: E402
from streams.consumer import StreamConsumer  # noqa: E402
from streams.kafka_io import fetch_as_columns, make_producer  # noqa: E402
from tests.workload import mixed_workload  # noqa: E402

N = int(sys.argv[1]) if len(sys.argv) > 1 else 200_000


def say(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def cpu_seconds(pid: int) -> float:
    """User and system CPU seconds a process has used so far (Linux), 0 when it is gone."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def machine_busy_seconds() -> float:
    """CPU seconds the whole machine spent not idle so far (every process, this run's or not)."""
    with open("/proc/stat", encoding="ascii") as stat:
        values = [int(v) for v in stat.readline().split()[1:]]
    return (sum(values) - values[3] - values[4]) / os.sysconf("SC_CLK_TCK")


def bare_rate(bootstrap: str, topics: list[str], total: int, *, columnar: bool = False) -> float:
    """Records per second a consumer reads and drops: kafka-python as shipped (the baseline), or with the
    consumer's columnar record decoding (``columnar``, for the note on where the time goes)."""
    consumer = KafkaConsumer(*topics, bootstrap_servers=bootstrap, group_id=f"bare-{uuid.uuid4().hex[:6]}",
                             auto_offset_reset="earliest", enable_auto_commit=False,
                             max_poll_interval_ms=10000, max_poll_records=5000,
                             fetch_max_bytes=16 * 1024 * 1024, max_partition_fetch_bytes=4 * 1024 * 1024)
    if columnar:
        fetch_as_columns(consumer)
    seen, first = 0, None
    while seen < total:
        polled = consumer.poll(timeout_ms=500)
        for records in polled.values():
            if first is None:
                first = time.perf_counter()
                cpu_first = cpu_seconds(os.getpid())
            seen += sum(len(columns) for columns in records) if columnar else len(records)
    elapsed = time.perf_counter() - (first or time.perf_counter())
    say(f"  CPU per record (us): {1e6 * (cpu_seconds(os.getpid()) - cpu_first) / total:.1f}")
    consumer.close(autocommit=False)
    return total / elapsed


def main() -> None:
    with embedded_services() as svc:
        prefix = "bench" + uuid.uuid4().hex[:6]
        topics = {s: f"{prefix}-{s}" for s in ("incidents", "surveillance", "hotline", "hazards", "deadletter")}
        settings = load_settings(
            kafka_bootstrap=svc.kafka_bootstrap, redis_url=svc.redis_url, key_prefix=prefix,
            topic_incidents=topics["incidents"], topic_surveillance=topics["surveillance"],
            topic_hotline=topics["hotline"], topic_hazards=topics["hazards"],
            topic_deadletter=topics["deadletter"], consumer_group=f"{prefix}-g",
        )
        create_topics(svc.kafka_bootstrap, list(topics.values()), 4)
        city = load_city(settings)
        say(f"generating {N} mixed records")
        records, truth = mixed_workload(city, N, seed=1, now=time.time())
        total = len(records)
        say(f"producing {total} records")
        producer = make_producer(settings)
        for stream, key, value in records:
            producer.send(topics[stream], key=key.encode(), value=value)
        producer.flush()
        producer.close()

        say("baseline: bare kafka-python consumer")
        baseline = bare_rate(svc.kafka_bootstrap, [topics[s] for s in ("incidents", "surveillance", "hotline")],
                             total)
        say(f"  {baseline:,.0f} records/s")
        say("the same read with the consumer's columnar record decoding (streams/record_batches.py)")
        columnar = bare_rate(svc.kafka_bootstrap, [topics[s] for s in ("incidents", "surveillance", "hotline")],
                             total, columnar=True)
        say(f"  {columnar:,.0f} records/s")

        say("red kapok consumer")
        redis = make_redis(settings)
        store = MetricsStore(redis, prefix=prefix)
        consumer = StreamConsumer(settings, city, store)
        redis.config_resetstat()
        stop = threading.Event()
        runner = threading.Thread(target=consumer.run, args=(stop,), daemon=True)
        runner.start()
        first = last = None
        done = 0
        while done < total:
            stats = store.stats()
            done = sum(stats["accepted"].values()) + stats["duplicates"] + sum(stats["deadletter"].values())
            if done and first is None:
                first = time.perf_counter()
                first_done = done
                # Where the CPU goes between the first and the last record, per process.
                workers = consumer._workers.processes if consumer._workers is not None else []
                pids = {"consumer (poll)": os.getpid(), "redis": svc.redis.pid, "broker": svc.kafka.pid,
                        **{f"worker {i}": w.pid for i, w in enumerate(workers)}}
                cpu_before = {name: cpu_seconds(pid) for name, pid in pids.items() if pid}
                busy_before = machine_busy_seconds()
            time.sleep(0.05)  # the monitor shares the 2 cores: read the counts no more than needed
        last = time.perf_counter()
        cpu_used = {name: cpu_seconds(pids[name]) - before for name, before in cpu_before.items()}
        busy = machine_busy_seconds() - busy_before
        stop.set()
        runner.join(timeout=30)
        rate = (total - first_done) / (last - first) if first and last > first else float("nan")
        say(f"  {rate:,.0f} records/s; conflicts {consumer.stats.conflicts}")
        exact = (stats["accepted"]["incidents"] == truth.accepted["incidents"]
                 and stats["duplicates"] == truth.duplicates)
        say(f"  counts exact: {exact}")
        say("  where the time goes (s): " + ", ".join(
            f"{k} {v:.1f}" for k, v in sorted(consumer.stats.phase_seconds.items())))
        applied = total - first_done
        cores = os.cpu_count() or 1
        say("  CPU per record (us), first to last record: " + ", ".join(
            f"{name} {1e6 * used / applied:.1f}" for name, used in cpu_used.items())
            + f"; whole machine {1e6 * busy / applied:.1f} "
            f"(of {cores * 1e6 * (last - first) / applied:.1f} on {cores} cores)")
        say("  Redis time by command (us per record): " + ", ".join(
            f"{name.removeprefix('cmdstat_')} {stat['usec'] / applied:.2f}"
            for name, stat in sorted(redis.info("commandstats").items(), key=lambda kv: -kv[1]["usec"])
            if stat["usec"] / applied >= 0.05))
        say(f"  batches {consumer.stats.batches}, mean records per batch "
            f"{consumer.stats.records / max(1, consumer.stats.batches):.0f}")
        batch = sorted(consumer.stats.batch_seconds)
        print(json.dumps({
            "events_per_s": round(rate),
            "baseline_events_per_s": round(baseline),
            "ratio": round(rate / baseline, 3),
            "columnar_read_events_per_s": round(columnar),
            "records": total,
            "batch_p50_ms": round(1000 * batch[len(batch) // 2], 1) if batch else None,
            "counts_exact": exact,
        }))


if __name__ == "__main__":
    main()
