"""Builds the Redis client from settings (standalone or Cluster, TLS and ACL user)."""

from __future__ import annotations

from typing import Any

import redis
from redis.cluster import RedisCluster

from kapok.errors import ConfigError
from kapok.settings import Settings


def make_redis(settings: Settings, *, decode_responses: bool = False) -> redis.Redis:
    """A client for ``settings.redis_url``; a ``redis.cluster.RedisCluster`` when ``redis_cluster`` is on.

    Both expose the commands the store uses; scripts stay Cluster-safe because every key one script
    touches shares a hash tag (see :mod:`metrics.keys`).
    """
    if not settings.redis_url:
        raise ConfigError("no Redis configured: set RK_REDIS_URL (e.g. redis://127.0.0.1:6379/0) or run `demo`")
    options: dict[str, Any] = {
        "decode_responses": decode_responses,
        "socket_timeout": 10,
        "socket_connect_timeout": 5,
        "health_check_interval": 30,
    }
    if settings.redis_username:
        options["username"] = settings.redis_username
    if settings.redis_password:
        options["password"] = settings.redis_password.get_secret_value()
    if settings.redis_tls_cafile:
        options["ssl_ca_certs"] = str(settings.redis_tls_cafile)
    if settings.redis_cluster:
        return RedisCluster.from_url(settings.redis_url, **options)  # type: ignore[return-value]
    return redis.Redis.from_url(settings.redis_url, **options)


#: The most entries a compact hash holds under either Redis default (6.x ziplist 512, 7.x listpack 128).
_COMPACT_ENTRIES_UNKNOWN = 512
_COMPACT_VALUE_UNKNOWN = 64


def compact_hash_limits(client: object) -> tuple[int, bytes]:
    """Up to how many entries Redis may keep a hash compact (a ziplist or listpack, scanned on every
    access), and a value just too long for a compact hash: writing it turns the hash into a hashtable.

    Read from the server's config; when CONFIG is refused (managed servers) or the client is a Cluster
    client, the larger of the Redis 6 and 7 defaults, so no hash that may be compact is taken for a
    hashtable."""
    entries, value = _COMPACT_ENTRIES_UNKNOWN, _COMPACT_VALUE_UNKNOWN
    if not isinstance(client, redis.Redis):
        return entries, b"x" * (value + 1)
    try:
        config = client.config_get("hash-max-*")
    except redis.ResponseError:
        return entries, b"x" * (value + 1)
    config = {(k.decode() if isinstance(k, bytes) else k): int(v) for k, v in config.items()}
    entries = config.get("hash-max-listpack-entries", config.get("hash-max-ziplist-entries", entries))
    value = config.get("hash-max-listpack-value", config.get("hash-max-ziplist-value", value))
    return entries, b"x" * (value + 1)
