"""``python app.py simulate``: backfill history, then a live feed at a chosen speed, or replay a file.

The lead's entry point builds the settings and the sink, then calls :func:`run`. Backfill records go out
as fast as the sink takes them; live records go out when the simulated clock (``until`` + elapsed real
time × ``--speed``) passes their emit time. Which records exist, and in which order, depends on the seed,
``--until``, ``--backfill-days``, ``--events-per-day`` and the scenarios only — never on the wall clock —
so the same arguments give the same output byte for byte (the live phase emits the same sequence; only
its pacing follows the real clock).
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import math
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import IO, Any

import msgspec
import numpy as np

from kapok.errors import ConfigError
from streams.schemas import STREAMS
from streams.simulator.model import HOUR, SimParams
from streams.simulator.scenarios import (
    DEFAULT_SCENARIOS_FILE,
    ScenarioPlan,
    ScenarioSpec,
    load_scenarios,
    plan_scenarios,
)
from streams.simulator.schedule import Chunk, Scheduler
from streams.simulator.sinks import FileSink, RecordSink
from streams.simulator.world import World, build_world

__all__ = ["BadRow", "RunSummary", "add_arguments", "file_sink", "make_world", "parse_until", "run"]

log = logging.getLogger(__name__)

_FLUSH_EVERY_S = 0.5
_TICK_S = 0.25


@dataclass(frozen=True)
class BadRow:
    """A replayed row that could not be turned into a record: where (1-based line or row) and why."""

    line: int
    reason: str


@dataclass
class RunSummary:
    """What a simulate or replay run sent.

    Attributes:
        mode: ``simulate`` or ``replay``.
        seed: the seed (simulate).
        start, until, end: simulated times (ISO 8601): first record considered, end of the backfill,
            and where the run stopped.
        records: stream -> records sent (duplicates and broken records included).
        events: stream -> first-stage records sent (intact, not resends).
        malformed, duplicates, late: records sent broken on purpose, as exact resends, and late.
        scenario_events: scenario name -> injected events sent.
        bad_rows: replay: rows that could not be read (line numbers), at most ``max_bad_rows`` kept.
        bad_row_count: replay: all bad rows.
        elapsed_s: real seconds the run took.
        stopped: True when ``stop`` ended the run early.
    """

    mode: str
    seed: int | None = None
    start: str | None = None
    until: str | None = None
    end: str | None = None
    records: dict[str, int] = field(default_factory=lambda: dict.fromkeys(STREAMS, 0))
    events: dict[str, int] = field(default_factory=lambda: dict.fromkeys(STREAMS, 0))
    malformed: int = 0
    duplicates: int = 0
    late: int = 0
    scenario_events: dict[str, int] = field(default_factory=dict)
    bad_rows: list[BadRow] = field(default_factory=list)
    bad_row_count: int = 0
    elapsed_s: float = 0.0
    stopped: bool = False

    @property
    def total_records(self) -> int:
        return sum(self.records.values())

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["total_records"] = self.total_records
        return out

    def count(self, chunk: Chunk) -> None:
        """Add a chunk of sent records to the totals."""
        records = np.bincount(chunk.code, minlength=len(STREAMS))
        events = np.bincount(chunk.code, weights=chunk.first, minlength=len(STREAMS))
        for i, stream in enumerate(STREAMS):
            self.records[stream] += int(records[i])
            self.events[stream] += int(events[i])
        self.malformed += int(chunk.malformed.sum())
        self.duplicates += int(chunk.duplicate.sum())
        self.late += int(chunk.late.sum())


def _speed(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"--speed must be a number (or inf), got {text!r}") from None
    if value < 0 or math.isnan(value):
        raise argparse.ArgumentTypeError(f"--speed must be ≥ 0, got {text!r}")
    return value


def parse_until(text: str | None, now: float | None = None) -> int:
    """Epoch seconds of ``--until``: ISO 8601 with an offset, epoch seconds, or ``now`` (the default)."""
    if text is None or text.strip().lower() == "now":
        return int(time.time() if now is None else now)
    try:
        return int(float(text))
    except ValueError:
        pass
    try:
        parsed = dt.datetime.fromisoformat(text)
    except ValueError:
        raise ConfigError(
            f"--until {text!r} is not a time; expected ISO 8601 with an offset "
            f"(2026-11-25T18:00:00+08:00), epoch seconds or 'now'"
        ) from None
    if parsed.tzinfo is None:
        raise ConfigError(f"--until {text!r} has no UTC offset; add one, e.g. {text}+08:00")
    return int(parsed.timestamp())


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the ``simulate`` options (contracts §3) to a parser."""
    g = parser.add_argument_group("simulation")
    g.add_argument("--seed", type=int, default=1, help="seed of every random draw (default 1)")
    g.add_argument(
        "--speed",
        type=_speed,
        default=1.0,
        help="simulated seconds per real second in the live phase and replay; 60: a day in 24 "
        "minutes; 0 or inf: as fast as possible (default 1)",
    )
    g.add_argument(
        "--backfill-days",
        type=float,
        default=0.0,
        help="days of history written first, as fast as possible (default 0)",
    )
    g.add_argument(
        "--until",
        default=None,
        help="simulated time the backfill ends at and the live feed starts from: ISO 8601 with "
        "an offset, or epoch seconds (default now)",
    )
    g.add_argument(
        "--live-minutes",
        type=float,
        default=None,
        help="real minutes the live feed runs after the backfill (0: none; default until stopped)",
    )
    g.add_argument(
        "--events-per-day",
        type=float,
        default=SimParams.events_per_day,
        help="city-wide events (first-stage records) per day (default 60000)",
    )
    g.add_argument(
        "--scenarios",
        default=str(DEFAULT_SCENARIOS_FILE),
        help="TOML file of injected scenarios ('none' for the baseline only; default the "
        "packaged scenarios.toml)",
    )
    g.add_argument(
        "--truth",
        default=None,
        help="write the ground truth of injected events here (JSON lines: stream, id, scenario, "
        "grid_id, district_code, ts)",
    )
    g.add_argument("--out", default=None, help="write JSON lines {topic, key, value} here instead of Kafka")
    r = parser.add_argument_group("replay")
    r.add_argument(
        "--replay",
        default=None,
        help="replay recorded events from a JSON-lines, CSV or Parquet file instead of simulating",
    )
    r.add_argument(
        "--replay-map",
        default=None,
        help="TOML or JSON file mapping the file's columns to v1 fields (docs/simulator.md)",
    )
    r.add_argument(
        "--map",
        action="append",
        default=[],
        metavar="FIELD=COLUMN",
        help="map one v1 field to a column of the replayed file (repeatable; overrides --replay-map)",
    )
    r.add_argument(
        "--replay-stream",
        default=None,
        choices=STREAMS,
        help="stream of every replayed row, when the file has no stream column",
    )
    r.add_argument(
        "--replay-format",
        default="auto",
        choices=("auto", "jsonl", "csv", "parquet"),
        help="format of the replayed file (default: from its extension)",
    )


def file_sink(args: argparse.Namespace, settings: Any) -> FileSink | None:
    """The FileSink that ``--out`` asks for, or None (then the caller uses Kafka)."""
    if not getattr(args, "out", None):
        return None
    return FileSink(args.out, settings.topics())


def make_world(settings: Any, seed: int, city: Any | None = None) -> World:
    """The simulated city of a seed, from ``geo.city.load_city(settings)`` unless a city is given."""
    if city is None:
        from geo.city import load_city

        city = load_city(settings)
    grids = city.grids
    if hasattr(city, "assign"):
        # a cell crossing the city outline may have its centroid outside the city: events placed there
        # would be rejected outside_city, so such cells get none
        placed, _ = city.assign(grids["lon"].to_numpy(), grids["lat"].to_numpy())
        grids = grids.assign(placeable=np.asarray(placed, dtype=object) == grids.index.to_numpy(dtype=object))
    return build_world(city.districts, grids, seed)


def _scenario_specs(path: str | None) -> tuple[ScenarioSpec, ...]:
    if path is None or path.strip().lower() in ("", "none"):
        return ()
    return load_scenarios(path)


def _iso(ts: float) -> str:
    return dt.datetime.fromtimestamp(ts, dt.timezone(dt.timedelta(hours=8))).isoformat()


class _Emitter:
    """Sends chunks to the sink, counts them and writes the ground truth."""

    def __init__(self, sink: RecordSink, summary: RunSummary, truth: IO[bytes] | None) -> None:
        self.sink = sink
        self.summary = summary
        self.truth = truth
        self._malformed = getattr(sink, "send_malformed", None)
        self._encoder = msgspec.json.Encoder()

    def __call__(self, chunk: Chunk) -> None:
        send = self.sink.send
        batch = getattr(self.sink, "send_chunk", None)
        if batch is not None:
            batch(chunk)
        elif chunk.malformed.any():
            special = self._malformed or send
            for s, k, v, bad in zip(
                chunk.stream, chunk.key, chunk.value, chunk.malformed.tolist(), strict=True
            ):
                (special if bad else send)(s, k, v)
        else:
            for s, k, v in zip(chunk.stream, chunk.key, chunk.value, strict=True):
                send(s, k, v)
        self.summary.count(chunk)
        for _, row in sorted(chunk.truth.items()):
            name = row["scenario"]
            self.summary.scenario_events[name] = self.summary.scenario_events.get(name, 0) + 1
            if self.truth is not None:
                self.truth.write(self._encoder.encode(row) + b"\n")


def run(
    args: argparse.Namespace,
    settings: Any,
    sink: RecordSink,
    *,
    stop: threading.Event | None = None,
    city: Any | None = None,
    clock: Any = time.monotonic,
) -> RunSummary:
    """Run ``simulate`` (or a replay when ``args.replay`` is set) into ``sink``; flushes it, never closes it.

    Args:
        args: the namespace of :func:`add_arguments`.
        settings: ``kapok.settings.Settings`` (topics, city files, cache).
        sink: where records go (Kafka, a file, the store).
        stop: set it to end the run early (the live phase checks it several times a second).
        city: a ``geo.city.CityModel`` to use instead of loading one from the settings.
        clock: monotonic seconds, for tests of the live pacing.
    """
    stop = stop or threading.Event()
    if getattr(args, "replay", None):
        from streams.simulator.replay import replay_from_args

        return replay_from_args(args, settings, sink, stop=stop, clock=clock)
    began = clock()
    seed = int(args.seed)
    until = parse_until(getattr(args, "until", None))
    backfill_s = max(0.0, float(getattr(args, "backfill_days", 0.0) or 0.0)) * 86400
    start = until - int(backfill_s)
    params = SimParams(events_per_day=float(getattr(args, "events_per_day", SimParams.events_per_day)))
    world = make_world(settings, seed, city)
    plans: tuple[ScenarioPlan, ...] = plan_scenarios(
        _scenario_specs(getattr(args, "scenarios", None)), world, until
    )
    summary = RunSummary(mode="simulate", seed=seed, start=_iso(start), until=_iso(until))
    summary.scenario_events = {p.name: 0 for p in plans}
    truth_path = getattr(args, "truth", None)
    truth_file = open(truth_path, "wb") if truth_path else None
    try:
        emit = _Emitter(sink, summary, truth_file)
        scheduler = Scheduler(world, params, plans, start // HOUR)
        log.info(
            "simulate: seed %d, backfill %s .. %s (%.1f days), %.0f events/day, scenarios: %s",
            seed,
            _iso(start),
            _iso(until),
            backfill_s / 86400,
            params.events_per_day,
            ", ".join(p.name for p in plans) or "none",
        )
        for chunk in scheduler.release_chunks(until, skip_before=start):
            emit(chunk)
            if stop.is_set():
                summary.stopped = True
                break
        sink.flush()
        log.info("simulate: backfill sent %d records in %.1f s", summary.total_records, clock() - began)
        # A sink that routes history and live records differently (demo: store, then Kafka) switches here.
        start_live = getattr(sink, "start_live", None)
        if start_live is not None:
            start_live()
        end = float(until)
        if not summary.stopped:
            end = _live(args, scheduler, emit, sink, summary, stop, until, clock)
        summary.end = _iso(end)
    finally:
        if truth_file is not None:
            truth_file.close()
    summary.elapsed_s = round(clock() - began, 3)
    return summary


def _live(
    args: argparse.Namespace,
    scheduler: Scheduler,
    emit: _Emitter,
    sink: RecordSink,
    summary: RunSummary,
    stop: threading.Event,
    until: int,
    clock: Any,
) -> float:
    """The live phase: release records as the simulated clock passes them; returns where it stopped."""
    minutes = getattr(args, "live_minutes", None)
    if minutes is not None and minutes <= 0:
        return float(until)
    speed = float(args.speed)
    if speed == 0 or math.isinf(speed):
        raise ConfigError(
            "--speed 0 or inf means 'as fast as possible', which a live feed cannot be: give a "
            "finite speed (e.g. --speed 60) or --live-minutes 0"
        )
    sim_end = math.inf if minutes is None else until + minutes * 60 * speed
    t0 = clock()
    last_flush = t0
    log.info(
        "simulate: live from %s at %g× (%s)",
        _iso(until),
        speed,
        "until stopped" if minutes is None else f"{minutes:g} min, to {_iso(sim_end)}",
    )
    while True:
        now = clock()
        sim_now = min(until + (now - t0) * speed, sim_end)
        sent = False
        for chunk in scheduler.release_chunks(sim_now):
            emit(chunk)
            sent = True
        if sent and now - last_flush >= _FLUSH_EVERY_S:
            sink.flush()
            last_flush = now
        if sim_now >= sim_end:
            sink.flush()
            return sim_end
        nxt = scheduler.next_emit()
        wait = _TICK_S if nxt is None else min(_TICK_S, max(0.0, (nxt - sim_now) / speed))
        if stop.wait(wait):
            summary.stopped = True
            sink.flush()
            return sim_now


def write_summary(summary: RunSummary, path: str | Path) -> None:
    """Write a run summary as JSON (for scripts and CI)."""
    Path(path).write_bytes(msgspec.json.encode(summary.to_dict()))
