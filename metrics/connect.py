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
