"""Shared fixtures: one embedded Redis and one Tansu broker per test session, isolated per test by a
unique key prefix and unique topic names (as quix-streams' tests do)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
import redis

from geo.city import CityModel, load_city
from kapok.embedded import EmbeddedServices, create_topics, embedded_services
from kapok.settings import load_settings

#: Every topic a test may need: the four event streams and the dead-letter topic.
STREAMS = ("incidents", "surveillance", "hotline", "hazards", "deadletter")
TEST_PARTITIONS = 4


@pytest.fixture(scope="session")
def services() -> Iterator[EmbeddedServices]:
    """Embedded Redis (persistent, so fault tests can restart it without losing data) and Tansu."""
    with embedded_services(persistent_redis=True) as running:
        yield running


@pytest.fixture(scope="session")
def redis_url(services: EmbeddedServices) -> str:
    assert services.redis_url is not None
    return services.redis_url


@pytest.fixture(scope="session")
def kafka_bootstrap(services: EmbeddedServices) -> str:
    assert services.kafka_bootstrap is not None
    return services.kafka_bootstrap


@pytest.fixture
def key_prefix() -> str:
    """A Redis key prefix (and name stem for topics and consumer groups) unique to this test."""
    return "t" + uuid.uuid4().hex[:10]


@pytest.fixture
def topic_names(kafka_bootstrap: str, key_prefix: str) -> dict[str, str]:
    """Stream name -> a topic unique to this test, created with 4 partitions."""
    names = {stream: f"{key_prefix}-{stream}" for stream in STREAMS}
    create_topics(kafka_bootstrap, list(names.values()), TEST_PARTITIONS)
    return names


@pytest.fixture
def redis_client(redis_url: str, key_prefix: str) -> Iterator[redis.Redis]:
    """A client of the session's Redis; deletes every key starting with the test's prefix afterwards."""
    client = redis.Redis.from_url(redis_url, decode_responses=False)
    try:
        yield client
    finally:
        # The server may have been stopped by a fault test; clean up only what can be reached.
        try:
            keys = list(client.scan_iter(match=f"{key_prefix}*", count=1000))
            for start in range(0, len(keys), 500):
                client.delete(*keys[start : start + 500])
        except redis.ConnectionError:
            pass
        client.close()


@pytest.fixture(scope="session")
def city() -> CityModel:
    """The Guangzhou city model (built once, then cached)."""
    return load_city(load_settings())
