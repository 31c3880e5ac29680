"""The commands of ``app.py`` (contracts §3). Each builds the settings once and wires the parts."""

from __future__ import annotations

import argparse
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from kapok.errors import RedKapokError
from kapok.logs import setup_logging
from kapok.settings import PROJECT_ROOT, Settings, load_settings

log = logging.getLogger("red_kapok")


# ---------------------------------------------------------------------------- plumbing
def _stop_on_signals() -> threading.Event:
    """A stop event set by SIGINT (Ctrl-C) and SIGTERM: parts finish their batch and exit cleanly."""
    stop = threading.Event()

    def handler(signum: int, _frame: Any) -> None:
        if stop.is_set():  # a second Ctrl-C: stop now
            raise KeyboardInterrupt
        log.info("received %s: shutting down (finishing the current batch)", signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGINT, handler)
    signal.signal(signal.SIGTERM, handler)
    return stop


@contextmanager
def _services(settings: Settings, *, embedded_ok: bool) -> Iterator[Settings]:
    """Yield settings naming a Redis and a Kafka: the configured ones, or embedded ones for ``demo``."""
    if settings.kafka_bootstrap and settings.redis_url:
        yield settings
        return
    if not embedded_ok:
        missing = [n for n, v in (("RK_KAFKA_BOOTSTRAP", settings.kafka_bootstrap),
                                  ("RK_REDIS_URL", settings.redis_url)) if not v]
        raise RedKapokError(f"{' and '.join(missing)} not set: name your Kafka and Redis, or use `demo`")
    from kapok.embedded import embedded_services

    with embedded_services(redis=not settings.redis_url, kafka=not settings.kafka_bootstrap,
                           persistent_redis=False) as svc:
        update = {}
        if not settings.redis_url:
            update["redis_url"] = svc.redis_url
        if not settings.kafka_bootstrap:
            update["kafka_bootstrap"] = svc.kafka_bootstrap
        log.info("embedded services: redis %s, kafka %s", svc.redis_url, svc.kafka_bootstrap)
        yield settings.model_copy(update=update)


def _store(settings: Settings):  # type: ignore[no-untyped-def]
    from metrics.connect import make_redis
    from metrics.store import MetricsStore

    return MetricsStore(make_redis(settings), prefix=settings.key_prefix,
                        retention_days=settings.retention_days,
                        text_retention_days=settings.text_retention_days)


def _city(settings: Settings):  # type: ignore[no-untyped-def]
    from geo.city import load_city

    started = time.perf_counter()
    city = load_city(settings)
    log.info("city model: %d districts, %d grid cells (%.2fs)", len(city.districts), len(city.grids),
             time.perf_counter() - started)
    return city


def _thread(name: str, target: Callable[[], Any], failures: list[BaseException],
            stop: threading.Event) -> threading.Thread:
    def body() -> None:
        try:
            target()
        except BaseException as exc:
            failures.append(exc)
            log.exception("%s failed; stopping", name)
            stop.set()

    t = threading.Thread(target=body, name=name, daemon=True)
    t.start()
    return t


# ---------------------------------------------------------------------------- parts
def _consume(settings: Settings, stop: threading.Event, city=None) -> None:  # type: ignore[no-untyped-def]
    from streams.consumer import StreamConsumer
    from streams.kafka_io import ensure_topics

    ensure_topics(settings)
    consumer = StreamConsumer(settings, city or _city(settings), _store(settings))
    stats = consumer.run(stop)
    log.info("consumer stopped after %d records in %d batches", stats.records, stats.batches)


def _engine(settings: Settings, stop: threading.Event, city=None) -> None:  # type: ignore[no-untyped-def]
    from kapok.engines import run_engines

    run_engines(settings, _store(settings), city or _city(settings), stop)


def _serve(settings: Settings, stop: threading.Event, city=None) -> None:  # type: ignore[no-untyped-def]
    from werkzeug.serving import make_server

    from dashboard.app import create_app

    if settings.auth == "none":
        log.warning("login is OFF (RK_AUTH=none): anyone who reaches %s:%d sees everything",
                    settings.host, settings.port)
    app = create_app(settings, _store(settings), city or _city(settings))
    from dashboard.security import QuietRequestHandler

    server = make_server(settings.host, settings.port, app.server, threaded=True,
                         request_handler=QuietRequestHandler)
    log.info("dashboard on http://%s:%d", settings.host, settings.port)
    threading.Thread(target=lambda: (stop.wait(), server.shutdown()), daemon=True).start()
    server.serve_forever()


def _simulate_into(settings: Settings, args: argparse.Namespace, stop: threading.Event) -> None:
    from streams import simulator

    if args.out:
        sink = simulator.FileSink(args.out, settings.topics())
    else:
        from streams.kafka_io import KafkaSink, ensure_topics

        ensure_topics(settings)
        sink = KafkaSink(settings)
    try:
        simulator.run(args, settings, sink, stop=stop)
    finally:
        sink.close()


def _simulator_args(**values: Any) -> argparse.Namespace:
    """The simulator's own defaults, with ``values`` on top (for demo's backfill and live feed)."""
    from streams import simulator

    parser = argparse.ArgumentParser()
    simulator.add_arguments(parser)
    args = parser.parse_args([])
    for name, value in values.items():
        setattr(args, name, value)
    return args


#: The demo writes this much recent history first, so the wall has its last day within seconds.
RECENT_HISTORY_DAYS = 1.5


def _demo_feed(settings: Settings, city, args: argparse.Namespace, stop: threading.Event) -> None:  # type: ignore[no-untyped-def]
    """History straight into the store, column-wise (``streams.history``: the consumers' validation and
    placement, the ledger's rules), then the live feed through Kafka.

    The last ``RECENT_HISTORY_DAYS`` first, so the wall is full within seconds; then the live feed starts
    (a simulator run of the same world from that boundary, whose history part is dropped: it was just
    written), and beside it the older days, in two processes."""
    from streams import simulator
    from streams.backfill import DiscardSink, PhaseSink
    from streams.history import write_history
    from streams.kafka_io import KafkaSink
    from streams.simulator.model import HOUR, SimParams
    from streams.simulator.runner import make_world
    from streams.simulator.scenarios import DEFAULT_SCENARIOS_FILE, load_scenarios, plan_scenarios

    store = _store(settings)
    days = args.backfill_days
    if store.partitions():
        log.info("store already holds data: no backfill, live feed only")
        days = 0.0
    until = int(time.time())
    recent_days = min(days, RECENT_HISTORY_DAYS)
    boundary_hour = (until - int(recent_days * 86400)) // HOUR
    start = until - int(days * 86400)
    world = make_world(settings, args.seed, city)
    params = SimParams()
    plans = plan_scenarios(load_scenarios(DEFAULT_SCENARIOS_FILE), world, until)

    def history(hours: tuple[int, int], processes: int) -> Any:
        return write_history(settings, city, store, world, params, plans, start=start, until=until,
                             hours=hours, partitions=settings.topic_partitions, processes=processes, stop=stop)

    started = time.perf_counter()
    if days > 0:
        recent = history((boundary_hour, (until - 1) // HOUR), 1)
        log.info("history: last %.1f days written (%d records) in %.1fs", recent_days, recent.records,
                 time.perf_counter() - started)
    older_thread: threading.Thread | None = None

    def went_live() -> None:
        nonlocal older_thread
        log.info("live feed at %gx now", args.speed)
        if days > recent_days:
            older_thread = threading.Thread(target=write_older, name="older-history", daemon=True)
            older_thread.start()

    def write_older() -> None:
        began = time.perf_counter()
        older = history((start // HOUR, boundary_hour - 1), 2)
        log.info("history: %s %.0f days written (%d more records) in %.1fs",
                 "stopped before all" if older.stopped else "all", days, older.records,
                 time.perf_counter() - began)

    sink = PhaseSink(DiscardSink(), KafkaSink(settings), on_live=went_live)
    try:
        simulator.run(_simulator_args(seed=args.seed, until=str(until), backfill_days=recent_days,
                                      speed=args.speed, live_minutes=None),
                      settings, sink, stop=stop, city=city)
    finally:
        sink.close()
        if older_thread is not None:
            older_thread.join(timeout=30)


# ---------------------------------------------------------------------------- commands
def _spawn_part(command: str, settings: Settings) -> subprocess.Popen[bytes]:
    """Run ``app.py COMMAND`` as a child on the same services: the parts of the demo use both cores, as
    they would run on many machines in production. The kernel kills the child if this process dies."""
    from kapok.embedded import _pdeathsig_preexec

    env = {k: v for k, v in os.environ.items() if not k.startswith("RK_")}
    env.update({
        "RK_KAFKA_BOOTSTRAP": settings.kafka_bootstrap or "",
        "RK_REDIS_URL": settings.redis_url or "",
        "RK_AUTH": settings.auth,
        "RK_HOST": settings.host,
        "RK_PORT": str(settings.port),
        "RK_LOG_LEVEL": settings.log_level,
        "RK_LOG_JSON": "1" if settings.log_json else "0",
    })
    if os.environ.get("RK_SETTINGS_FILE"):
        env["RK_SETTINGS_FILE"] = os.environ["RK_SETTINGS_FILE"]
    return subprocess.Popen([sys.executable, str(PROJECT_ROOT / "app.py"), command], env=env,
                            preexec_fn=_pdeathsig_preexec(os.getpid()))


def _stop_parts(parts: list[subprocess.Popen[bytes]]) -> None:
    """SIGTERM each part (it finishes its batch and exits), then SIGKILL what is still there."""
    for proc in parts:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + 20
    for proc in parts:
        try:
            proc.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def cmd_demo(args: argparse.Namespace, settings: Settings) -> int:
    if "auth" not in settings.model_fields_set:
        settings = settings.model_copy(update={"auth": "none"})
    stop = _stop_on_signals()
    started = time.perf_counter()
    with _services(settings, embedded_ok=True) as live:
        from streams.kafka_io import ensure_topics

        ensure_topics(live)
        city = _city(live)
        parts = [_spawn_part(command, live) for command in ("serve", "consume", "engine")]
        log.info("demo: services up in %.1fs; dashboard starting on http://%s:%d (history is written "
                 "while it runs)", time.perf_counter() - started, live.host, live.port)
        failures: list[BaseException] = []
        feed = _thread("simulator", lambda: _demo_feed(live, city, args, stop), failures, stop)
        try:
            while not stop.is_set():
                for proc, command in zip(parts, ("serve", "consume", "engine"), strict=True):
                    if proc.poll() is not None:
                        log.error("demo: the %s part exited with code %s; stopping", command, proc.returncode)
                        stop.set()
                stop.wait(1.0)
        finally:
            stop.set()
            feed.join(timeout=30)
            _stop_parts(parts)
        return 1 if failures or any(p.returncode not in (0, -signal.SIGTERM) for p in parts) else 0


def cmd_run(args: argparse.Namespace, settings: Settings) -> int:
    stop = _stop_on_signals()
    with _services(settings, embedded_ok=False) as live:
        city = _city(live)
        failures: list[BaseException] = []
        threads = [
            _thread("consumer", lambda: _consume(live, stop, city), failures, stop),
            _thread("engine", lambda: _engine(live, stop, city), failures, stop),
        ]
        try:
            _serve(live, stop, city)
        finally:
            stop.set()
            for t in threads:
                t.join(timeout=30)
        return 1 if failures else 0


def _single(part: Callable[[Settings, threading.Event], None]) -> Callable[[argparse.Namespace, Settings], int]:
    def command(args: argparse.Namespace, settings: Settings) -> int:
        stop = _stop_on_signals()
        with _services(settings, embedded_ok=False) as live:
            part(live, stop)
        return 0

    return command


def cmd_simulate(args: argparse.Namespace, settings: Settings) -> int:
    stop = _stop_on_signals()
    if args.out:
        _simulate_into(settings, args, stop)
        return 0
    with _services(settings, embedded_ok=False) as live:
        _simulate_into(live, args, stop)
    return 0


def cmd_users(args: argparse.Namespace, settings: Settings) -> int:
    from kapok.users_cli import cmd_users as run_users

    return run_users(args, settings)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="red-kapok", description="Red Kapok city governance command center")
    parser.add_argument("--host", help="dashboard address (RK_HOST)")
    parser.add_argument("--port", type=int, help="dashboard port (RK_PORT)")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    demo = sub.add_parser("demo", help="everything on one machine, with embedded Redis and Kafka")
    demo.add_argument("--seed", type=int, default=7, help="simulator seed")
    demo.add_argument("--backfill-days", type=float, default=30.0, help="days of history written first")
    demo.add_argument("--speed", type=float, default=1.0, help="simulated seconds per real second")
    demo.set_defaults(func=cmd_demo)
    sub.add_parser("run", help="consumers, engines and dashboard on the configured Kafka and Redis"
                   ).set_defaults(func=cmd_run)
    sub.add_parser("consume", help="the consumers alone").set_defaults(func=_single(_consume))
    sub.add_parser("engine", help="the index and warning engines alone").set_defaults(func=_single(_engine))
    sub.add_parser("serve", help="the dashboard and API alone").set_defaults(func=_single(_serve))
    sim = sub.add_parser("simulate", help="produce simulated (or replayed) events")
    from streams import simulator

    simulator.add_arguments(sim)
    sim.set_defaults(func=cmd_simulate)
    from kapok import users_cli

    users_cli.add_parser(sub).set_defaults(func=cmd_users)
    return parser


def run_cli(argv: list[str]) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        settings = load_settings(host=args.host, port=args.port)
        setup_logging(settings.log_level, json_lines=settings.log_json)
        return int(args.func(args, settings) or 0)
    except RedKapokError as exc:
        print(f"red-kapok: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
