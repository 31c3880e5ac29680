"""Secrets by configuration: ``*_file`` variants, never in repr or logs; Redis with an ACL user and
password; Kafka and Redis TLS/SASL options reach the clients; audit and users survive a Redis restart."""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import redis

from kapok.embedded import EmbeddedRedis
from kapok.errors import ConfigError
from kapok.logs import JsonFormatter
from kapok.settings import SECRET_FILE_FIELDS, load_settings
from metrics.audit import AuditLog
from metrics.connect import make_redis
from metrics.keys import Keys
from metrics.store import MetricsStore
from metrics.users import UserStore
from streams.backfill import StoreSink
from streams.kafka_io import client_config
from streams.pipeline import Ingestor

SECRETS = {name: f"s3cret-{name}-{uuid.uuid4().hex[:8]}" for name in SECRET_FILE_FIELDS}


@pytest.fixture
def secret_files(tmp_path: Path) -> dict[str, Path]:
    files = {}
    for name, value in SECRETS.items():
        path = tmp_path / name
        path.write_text(value + "\n", encoding="utf-8")
        files[name] = path
    return files


def test_secrets_from_files_via_environment(secret_files: dict[str, Path],
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    for name, path in secret_files.items():
        monkeypatch.setenv(f"RK_{name.upper()}_FILE", str(path))
    settings = load_settings()
    assert settings.redis_password is not None and settings.kafka_sasl_password is not None
    assert settings.redis_password.get_secret_value() == SECRETS["redis_password"]
    assert settings.kafka_sasl_password.get_secret_value() == SECRETS["kafka_sasl_password"]
    assert settings.pii_hash_key == SECRETS["pii_hash_key"]
    assert settings.metrics_token is not None
    assert settings.metrics_token.get_secret_value() == SECRETS["metrics_token"]


def test_secret_and_its_file_together_is_an_error(secret_files: dict[str, Path]) -> None:
    with pytest.raises(ConfigError, match="redis_password and redis_password_file"):
        load_settings(redis_password="x", redis_password_file=str(secret_files["redis_password"]))


def test_unreadable_secret_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read it"):
        load_settings(redis_password_file=str(tmp_path / "missing"))


def test_no_secret_in_repr_str_or_logs(secret_files: dict[str, Path],
                                       caplog: pytest.LogCaptureFixture) -> None:
    settings = load_settings(**{f"{n}_file": str(p) for n, p in secret_files.items()},
                             kafka_security_protocol="SASL_SSL", kafka_sasl_username="rk")
    logger = logging.getLogger("red_kapok.test")
    with caplog.at_level("INFO"):
        logger.info("settings: %r", settings)
        logger.info("settings %s", settings, extra={"settings": settings})
    formatted = [JsonFormatter().format(r) for r in caplog.records]
    formatted += [caplog.text, repr(settings), str(settings)]
    for text in formatted:
        for value in SECRETS.values():
            assert value not in text


@pytest.mark.parametrize(("protocol", "expected"), [
    ("PLAINTEXT", {"security_protocol": "PLAINTEXT"}),
    ("SSL", {"security_protocol": "SSL", "ssl_cafile": "/etc/rk/ca.pem"}),
    ("SASL_SSL", {"security_protocol": "SASL_SSL", "ssl_cafile": "/etc/rk/ca.pem",
                  "sasl_mechanism": "SCRAM-SHA-512", "sasl_plain_username": "rk-consumer",
                  "sasl_plain_password": "pw-from-file"}),
    ("SASL_PLAINTEXT", {"security_protocol": "SASL_PLAINTEXT", "sasl_mechanism": "SCRAM-SHA-512",
                        "sasl_plain_username": "rk-consumer", "sasl_plain_password": "pw-from-file"}),
])
def test_kafka_tls_and_sasl_reach_the_client(tmp_path: Path, protocol: str, expected: dict[str, str]) -> None:
    password = tmp_path / "sasl"
    password.write_text("pw-from-file\n")
    settings = load_settings(kafka_bootstrap="k1:9093,k2:9093", kafka_security_protocol=protocol,
                             kafka_ssl_cafile="/etc/rk/ca.pem", kafka_sasl_username="rk-consumer",
                             kafka_sasl_password_file=str(password))
    config = client_config(settings)
    assert config["bootstrap_servers"] == ["k1:9093", "k2:9093"]
    assert {k: v for k, v in config.items() if k != "bootstrap_servers"} == expected


def test_redis_tls_options_reach_the_client(tmp_path: Path) -> None:
    settings = load_settings(redis_url="rediss://redis.example:6380/0", redis_username="rk-dashboard",
                             redis_password="pw", redis_tls_cafile=str(tmp_path / "ca.pem"))
    kwargs = make_redis(settings).connection_pool.connection_kwargs
    assert kwargs["username"] == "rk-dashboard" and kwargs["password"] == "pw"
    assert kwargs["ssl_ca_certs"] == str(tmp_path / "ca.pem")
    assert make_redis(settings).connection_pool.connection_class is redis.SSLConnection


@pytest.fixture(scope="module")
def own_redis() -> Iterator[EmbeddedRedis]:
    """A Redis of these tests alone (persistent), so they may set ACL users and restart it."""
    server = EmbeddedRedis(persistent=True)
    server.start()
    yield server
    server.close()


def test_redis_acl_user_and_password(own_redis: EmbeddedRedis, tmp_path: Path, city: Any) -> None:
    admin = redis.Redis.from_url(own_redis.url)  # type: ignore[arg-type]
    admin.acl_setuser("rk-app", enabled=True, passwords=["+acl-pass-123"], keys=["rk:*"], channels=["*"],
                      commands=["+@all", "-@dangerous", "-xdel", "-xsetid", "-xtrim", "-xgroup"])
    secret = tmp_path / "redis-pass"
    secret.write_text("acl-pass-123\n")
    settings = load_settings(redis_url=own_redis.url, redis_username="rk-app",
                             redis_password_file=str(secret))
    client = make_redis(settings)
    assert client.ping()
    assert any(c.get("user") == "rk-app" for c in admin.client_list())
    AuditLog(client, Keys("rk"), retention_days=400).append("test", {"n": 1})
    # the store's own work (Lua batch apply, reads) runs under this user
    store = MetricsStore(client, prefix="rk")
    sink = StoreSink(Ingestor(settings, city, store), partitions=1)
    sink.send("hotline", "acl-1", json.dumps({"id": "acl-1", "ts": datetime.now(UTC).isoformat(),
                                              "district": "440106", "category": "noise"}).encode())
    sink.close()
    assert store.stats()["accepted"]["hotline"] == 1
    users = UserStore(client, Keys("rk"), time_cost=1, memory_kib=8192)
    assert users.add("acl-user", "wall", "long password 1").role == "wall"
    with pytest.raises(redis.ResponseError):  # the app's Redis user cannot delete audit entries
        client.xdel(Keys("rk").audit_log(), "0-1")
    wrong = load_settings(redis_url=own_redis.url, redis_username="rk-app", redis_password="wrong")
    with pytest.raises(redis.AuthenticationError):
        make_redis(wrong).ping()


def test_audit_and_users_survive_a_restart(own_redis: EmbeddedRedis) -> None:
    client = redis.Redis.from_url(own_redis.url)  # type: ignore[arg-type]
    keys = Keys("rs" + uuid.uuid4().hex[:6])
    users = UserStore(client, keys, time_cost=1, memory_kib=8192)
    users.add("survivor", "officer", "long enough password", ["440106"])
    entry = AuditLog(client, keys, retention_days=400).append("login", {"user": "survivor", "ip": "10.0.0.1"})
    own_redis.restart()  # append-only file, fsync every second: the restart's graceful stop flushes it
    client = redis.Redis.from_url(own_redis.url)  # type: ignore[arg-type]
    after = list(AuditLog(client, keys, retention_days=400).entries())
    assert [(e["id"], e["user"]) for e in after] == [(entry, "survivor")]
    assert UserStore(client, keys, time_cost=1, memory_kib=8192).verify("survivor", "long enough password")


def test_json_logs_are_one_object_per_line(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level("INFO"):
        logging.getLogger("red_kapok.audit").info("audit %s", "login", extra={"audit": {"event": "login"}})
    line = JsonFormatter().format(caplog.records[-1])
    parsed = json.loads(line)
    assert parsed["msg"] == "audit login" and parsed["audit"] == {"event": "login"} and "\n" not in line
