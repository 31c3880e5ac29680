"""Operations: /metrics in Prometheus text format with the store's figures, /api/v1/ready, the ``users``
command, graceful shutdown of ``consume`` on SIGTERM, and the WSGI entry point."""

from __future__ import annotations

import io
import json
import os
import re
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
import redis
from hypothesis import given
from hypothesis import strategies as st

from dashboard import prom
from kapok.commands import run_cli
from kapok.settings import PROJECT_ROOT, load_settings
from metrics.keys import Keys
from metrics.opstats import LATENCY_BOUNDS_S, latency_fields, record_batch_latency
from metrics.store import MetricsStore
from metrics.users import UserStore
from streams.backfill import StoreSink
from streams.pipeline import Ingestor
from tests.test_auth_access import METRICS_TOKEN, Site, drop_keys, make_site

SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{([a-zA-Z_]\w*="([^"\\]|\\.)*",?)*\})? (\S+)$')


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, tz=UTC).isoformat()


def parse_exposition(text: str) -> dict[str, list[tuple[dict[str, str], float]]]:
    """A strict reading of the text format: HELP and TYPE before each family's samples."""
    families: dict[str, list[tuple[dict[str, str], float]]] = {}
    typed: dict[str, str] = {}
    for line in text.splitlines():
        if line.startswith("# HELP "):
            continue
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(" ", 3)
            typed[name] = kind
            continue
        match = SAMPLE.match(line)
        assert match, f"not a sample line: {line!r}"
        name = match.group(1)
        base = re.sub(r"_(bucket|sum|count)$", "", name) if name not in typed else name
        assert base in typed, f"{name} has no TYPE line"
        labels = dict(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', match.group(2) or ""))
        families.setdefault(name, []).append((labels, float(match.group(5))))
    return families


@pytest.fixture(scope="module")
def site(redis_url: str, city: Any) -> Iterator[Site]:
    prefix = "to" + uuid.uuid4().hex[:10]
    built = make_site(redis_url, city, prefix)
    now = time.time()
    sink = StoreSink(Ingestor(built.settings, city, built.store), partitions=1)
    incident = {"id": "i-1", "ts": _iso(now - 120), "lon": 113.3245, "lat": 23.1385, "category": "theft",
                "severity": 2}
    sink.send("incidents", "i-1", json.dumps(incident).encode())
    sink.send("incidents", "i-1", json.dumps(incident).encode())  # duplicate
    sink.send("incidents", "i-2", b"{broken")
    sink.send("hotline", "h-1", json.dumps({"id": "h-1", "ts": _iso(now - 60), "district": "440104",
                                            "category": "noise"}).encode())
    sink.close()
    client, keys = built.store.client, built.store.keys
    record_batch_latency(client, keys, [0.004, 0.03, 0.03, 0.7, 12.0])
    client.hset(keys.engine_timings(), mapping={"index": "1.250", "warnings": "0.500"})
    client.hset(keys.warnings(), mapping={
        "w1": json.dumps({"id": "w1", "level": "red", "status": "raised"}),
        "w2": json.dumps({"id": "w2", "level": "red", "status": "acknowledged"}),
        "w3": json.dumps({"id": "w3", "level": "yellow", "status": "dispatched"}),
        "w4": json.dumps({"id": "w4", "level": "orange", "status": "closed"}),
    })
    client.hset(keys.consumer_lag(), mapping={"incidents.0": 7, "hotline.0": 3})
    yield built
    drop_keys(client, prefix)


def metrics_text(site: Site) -> str:
    bearer = {"Authorization": f"Bearer {METRICS_TOKEN}"}
    answer = site.app.server.test_client().get("/metrics", headers=bearer)
    assert answer.status_code == 200
    assert answer.headers["Content-Type"] == prom.CONTENT_TYPE
    return answer.get_data(as_text=True)


def test_metrics_figures_match_the_store(site: Site) -> None:
    fams = parse_exposition(metrics_text(site))
    stats = site.store.stats()

    def value(name: str, **labels: str) -> float:
        return next(v for lab, v in fams[name] if lab == labels)

    assert value("rk_records_accepted_total", stream="incidents") == stats["accepted"]["incidents"] == 1
    assert value("rk_records_accepted_total", stream="hotline") == 1
    assert value("rk_records_rejected_total", reason="not_json") == 1
    assert value("rk_records_duplicate_total") == 1
    assert value("rk_records_consumed_total") == 4
    assert value("rk_consumer_lag_records", stream="incidents", partition="0") == 7
    assert value("rk_warnings_open", level="red") == 2
    assert value("rk_warnings_open", level="yellow") == 1
    assert value("rk_warnings_open", level="orange") == 0
    assert value("rk_engine_last_run_seconds", engine="index") == 1.25
    assert value("rk_engine_last_run_seconds", engine="warnings") == 0.5


def test_latency_histogram_is_cumulative(site: Site) -> None:
    fams = parse_exposition(metrics_text(site))
    buckets = [(lab["le"], v) for lab, v in fams["rk_batch_latency_seconds_bucket"]]
    assert [le for le, _ in buckets] == [prom.bound_label(b) for b in LATENCY_BOUNDS_S] + ["+Inf"]
    counts = [v for _, v in buckets]
    assert counts == sorted(counts)
    assert dict(buckets)["0.005"] == 1 and dict(buckets)["0.05"] == 3 and dict(buckets)["1.0"] == 4
    assert counts[-1] == fams["rk_batch_latency_seconds_count"][0][1] == 5
    assert fams["rk_batch_latency_seconds_sum"][0][1] == pytest.approx(12.764)


@pytest.mark.parametrize(("seconds", "expected"), [
    ([], {}),
    ([0.001], {**{f"le:{prom.bound_label(b)}": 1 for b in LATENCY_BOUNDS_S}, "le:+Inf": 1, "sum": 0.001,
               "count": 1}),
    ([20.0], {"le:+Inf": 1, "sum": 20.0, "count": 1}),
    ([0.01, 0.011], {"le:0.01": 1, "le:0.025": 2, "le:0.05": 2, "le:0.1": 2, "le:0.25": 2, "le:0.5": 2,
                     "le:1.0": 2, "le:2.5": 2, "le:5.0": 2, "le:10.0": 2, "le:+Inf": 2, "sum": 0.021,
                     "count": 2}),
])
def test_latency_fields(seconds: list[float], expected: dict[str, float]) -> None:
    got = latency_fields(seconds)
    assert got.keys() == expected.keys()
    assert all(got[k] == pytest.approx(v) for k, v in expected.items())


@given(st.lists(st.floats(min_value=0, max_value=100, allow_nan=False), max_size=50))
def test_latency_fields_cumulative(seconds: list[float]) -> None:
    got = latency_fields(seconds)
    counts = [got.get(f"le:{prom.bound_label(b)}", 0) for b in (*LATENCY_BOUNDS_S, float("inf"))]
    assert counts == sorted(counts)
    assert counts[-1] == len(seconds) == got.get("count", 0)


@pytest.mark.parametrize(("value", "text"), [
    ('a"b', 'a\\"b'), ("a\\b", "a\\\\b"), ("line\nbreak", "line\\nbreak"), ("平", "平")])
def test_label_values_escaped(value: str, text: str) -> None:
    out = prom.render([prom.Family("x_total", "counter", "h").add(1, reason=value)])
    assert f'x_total{{reason="{text}"}} 1' in out


def test_readiness(site: Site) -> None:
    client = site.app.server.test_client()
    key = site.store.keys.engine_heartbeat("engine")
    site.store.client.delete(key)
    answer = client.get("/api/v1/ready")
    assert answer.status_code == 503 and answer.json["redis"] == "ok" and answer.json["city"] == "ok"
    assert "no heartbeat" in answer.json["engine"]
    site.store.client.set(key, int(time.time()) - 3600)
    assert client.get("/api/v1/ready").status_code == 503
    site.store.client.set(key, int(time.time()))
    ready = {"status": "ready", "redis": "ok", "city": "ok", "engine": "ok"}
    assert client.get("/api/v1/ready").json == ready


def test_readiness_without_redis(city: Any) -> None:
    store = MetricsStore(redis.Redis(port=1, socket_connect_timeout=0.2), prefix="none")
    ready, checks = prom.readiness(store, city, 60)
    assert not ready and checks["redis"].startswith("unreachable")


# ------------------------------------------------------------------------------------------ users CLI
@pytest.fixture
def cli_env(redis_url: str, key_prefix: str, monkeypatch: pytest.MonkeyPatch,
            redis_client: redis.Redis) -> Iterator[str]:
    monkeypatch.setenv("RK_REDIS_URL", redis_url)
    monkeypatch.setenv("RK_KEY_PREFIX", key_prefix)
    monkeypatch.setenv("RK_PASSWORD_HASH_TIME_COST", "1")
    monkeypatch.setenv("RK_PASSWORD_HASH_MEMORY_KIB", "8192")
    yield key_prefix


def cli(monkeypatch: pytest.MonkeyPatch, argv: list[str], stdin: str = "") -> int:
    monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
    return run_cli(argv)


def test_users_command(cli_env: str, redis_url: str, monkeypatch: pytest.MonkeyPatch,
                       capsys: pytest.CaptureFixture[str]) -> None:
    client = redis.Redis.from_url(redis_url)
    users = UserStore(client, Keys(cli_env), time_cost=1, memory_kib=8192)
    assert cli(monkeypatch, ["users", "add", "li.na", "--role", "officer", "--district", "440106",
                             "--district", "440104", "--password-stdin"], "first password 1\n") == 0
    assert users.verify("li.na", "first password 1") is not None
    assert cli(monkeypatch, ["users", "list"]) == 0
    assert "li.na\tofficer\t440104,440106" in capsys.readouterr().out
    assert cli(monkeypatch, ["users", "passwd", "li.na", "--password-stdin"], "second password 2\n") == 0
    assert users.verify("li.na", "first password 1") is None
    assert users.verify("li.na", "second password 2") is not None
    assert cli(monkeypatch, ["users", "remove", "li.na"]) == 0
    assert users.get("li.na") is None
    events = [e[1][b"event"].decode() for e in client.xrange(Keys(cli_env).audit_log())]
    assert events == ["user.add", "user.passwd", "user.remove"]
    assert all(e[1][b"user"].startswith(b"cli:") for e in client.xrange(Keys(cli_env).audit_log()))


@pytest.mark.parametrize(("argv", "stdin", "message"), [
    (["users", "add", "x1", "--role", "officer"], "", "--password-stdin"),
    (["users", "add", "x1", "--role", "officer", "--password-stdin"], "short\n", "at least 10"),
    (["users", "add", "X 1", "--role", "officer", "--password-stdin"], "long enough pw\n", "not allowed"),
    (["users", "add", "x1", "--role", "officer", "--district", "44010", "--password-stdin"],
     "long enough pw\n", "6-digit"),
    (["users", "remove", "nobody"], "", "no user"),
    (["users", "passwd", "nobody", "--password-stdin"], "long enough pw\n", "no user"),
])
def test_users_command_errors(cli_env: str, monkeypatch: pytest.MonkeyPatch,
                              capsys: pytest.CaptureFixture[str],
                              argv: list[str], stdin: str, message: str) -> None:
    assert cli(monkeypatch, argv, stdin) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1


def test_users_add_twice_refused(cli_env: str, monkeypatch: pytest.MonkeyPatch,
                                 capsys: pytest.CaptureFixture[str]) -> None:
    add = ["users", "add", "dup", "--password-stdin", "--role"]
    assert cli(monkeypatch, [*add, "wall"], "long enough pw\n") == 0
    assert cli(monkeypatch, [*add, "admin"], "long enough pw\n") == 2
    assert "exists already" in capsys.readouterr().err


def test_users_unknown_role_is_a_usage_error(cli_env: str, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(SystemExit) as exit_info:
        cli(monkeypatch, ["users", "add", "x1", "--role", "root", "--password-stdin"], "long enough pw\n")
    assert exit_info.value.code == 2


# ------------------------------------------------------------------------------------------ processes
def test_consume_exits_cleanly_on_sigterm(kafka_bootstrap: str, redis_url: str, key_prefix: str,
                                          topic_names: dict[str, str], redis_client: redis.Redis) -> None:
    from streams.kafka_io import make_producer
    from tests.helpers import pipeline_settings

    settings = pipeline_settings(kafka_bootstrap, redis_url, key_prefix, topic_names)
    env = {**os.environ, "RK_KAFKA_BOOTSTRAP": kafka_bootstrap, "RK_REDIS_URL": redis_url,
           "RK_KEY_PREFIX": key_prefix, "RK_CONSUMER_GROUP": f"{key_prefix}-group", "RK_LOG_JSON": "true",
           **{f"RK_TOPIC_{s.upper()}": t for s, t in topic_names.items()}}
    proc = subprocess.Popen([sys.executable, "app.py", "consume"], cwd=PROJECT_ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        producer = make_producer(settings)
        now = time.time()
        for i in range(50):
            record = {"id": f"s-{i}", "ts": _iso(now - 60), "district": "440106", "category": "noise"}
            producer.send(topic_names["hotline"], key=record["id"].encode(),
                          value=json.dumps(record).encode())
        producer.flush()
        producer.close()
        store = MetricsStore(redis_client, prefix=key_prefix)
        deadline = time.monotonic() + 90
        while store.stats()["accepted"]["hotline"] < 50:
            assert proc.poll() is None, proc.communicate()[1][-2000:]
            assert time.monotonic() < deadline, "the consumer applied nothing within 90 s"
            time.sleep(0.3)
        proc.send_signal(signal.SIGTERM)
        started = time.monotonic()
        _, err = proc.communicate(timeout=20)
        took = time.monotonic() - started
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, err[-2000:]
    assert took < 10
    lines = [json.loads(line) for line in err.splitlines() if line.startswith("{")]
    assert any("SIGTERM" in line["msg"] for line in lines)
    assert any("consumer stopped" in line["msg"] for line in lines)
    assert store.stats()["accepted"]["hotline"] == 50  # nothing lost or doubled


def test_wsgi_entry_point(redis_url: str, key_prefix: str, redis_client: redis.Redis) -> None:
    env = {**os.environ, "RK_REDIS_URL": redis_url, "RK_KEY_PREFIX": key_prefix, "RK_AUTH": "login",
           "RK_LOG_JSON": "true"}
    code = ("from dashboard.wsgi import server; c = server.test_client(); "
            "print(c.get('/api/v1/health').status_code, c.get('/api/v1/stats').status_code, "
            "c.get('/').status_code)")
    done = subprocess.run([sys.executable, "-c", code], cwd=PROJECT_ROOT, env=env, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split() == ["200", "401", "303"]


def test_settings_documented() -> None:
    from kapok.settings import Settings

    mine = ["session_hours", "cookie_secure", "login_max_failures", "login_ip_max_failures",
            "login_lockout_s",
            "password_hash_time_cost", "password_hash_memory_kib", "metrics_token", "frame_ancestors",
            "proxy_hops", "audit_retention_days", "ready_heartbeat_max_s", "redis_password_file",
            "kafka_sasl_password_file", "pii_hash_key_file", "metrics_token_file"]
    doc = (PROJECT_ROOT / "docs" / "security.md").read_text(encoding="utf-8")
    for name in mine:
        assert Settings.model_fields[name].description
        assert f"RK_{name.upper()}" in doc, f"docs/security.md does not list RK_{name.upper()}"
    assert load_settings().auth == "login"
