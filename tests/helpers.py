"""Helpers shared by the integration tests (fixtures here are imported by the modules that use them)."""

from __future__ import annotations

import time

from kafka import KafkaConsumer

from kapok.settings import Settings, load_settings


def pipeline_settings(kafka_bootstrap: str, redis_url: str, key_prefix: str,
                      topic_names: dict[str, str], **extra: object) -> Settings:
    """Settings pointing at the session's services, with this test's prefix and topics."""
    return load_settings(
        kafka_bootstrap=kafka_bootstrap, redis_url=redis_url, key_prefix=key_prefix,
        topic_incidents=topic_names["incidents"], topic_surveillance=topic_names["surveillance"],
        topic_hotline=topic_names["hotline"], topic_hazards=topic_names["hazards"],
        topic_deadletter=topic_names["deadletter"], consumer_group=f"{key_prefix}-group",
        auth="none", **extra,
    )


def consume_all(bootstrap: str, topic: str, *, idle_s: float = 3.0, timeout_s: float = 60.0) -> list:
    """Every record of a topic, read without a group, until nothing new arrives for ``idle_s``."""
    consumer = KafkaConsumer(topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest",
                             enable_auto_commit=False, group_id=None, consumer_timeout_ms=int(idle_s * 1000))
    records = []
    deadline = time.monotonic() + timeout_s
    try:
        for record in consumer:
            records.append(record)
            if time.monotonic() > deadline:
                break
    finally:
        consumer.close()
    return records
