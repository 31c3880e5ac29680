"""The one module that talks to Kafka: client configuration, topics, producers, consumers, dead letters.

kafka-python's defaults are wrong for us and are overridden here, once:
- ``enable_auto_commit=False``: the offset of record is the one stored in Redis with the counts; the Kafka
  commit only feeds lag monitoring, so an auto-commit could never lose data, but it would lie about lag.
- ``auto_offset_reset='earliest'``: a partition Redis knows nothing about is counted from its start.
- ``max_poll_interval_ms`` from settings (5–10 s): it is the rebalance timeout, and Tansu stalls joins for
  minutes at kafka-python's default of 300 s.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from typing import Any

from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import KafkaAdminClient, NewTopic
from kafka.consumer.fetcher import Fetcher
from kafka.errors import CorruptRecordError, TopicAlreadyExistsError
from kafka.protocol.consumer import IsolationLevel

from kapok.settings import Settings
from streams.record_batches import RecordColumns, decode_batches

log = logging.getLogger(__name__)


def client_config(settings: Settings) -> dict[str, Any]:
    """Connection settings shared by every client: bootstrap, TLS and SASL."""
    cfg: dict[str, Any] = {"bootstrap_servers": (settings.kafka_bootstrap or "").split(",")}
    cfg["security_protocol"] = settings.kafka_security_protocol
    if settings.kafka_security_protocol in ("SSL", "SASL_SSL"):
        if settings.kafka_ssl_cafile:
            cfg["ssl_cafile"] = str(settings.kafka_ssl_cafile)
        if settings.kafka_ssl_certfile:
            cfg["ssl_certfile"] = str(settings.kafka_ssl_certfile)
        if settings.kafka_ssl_keyfile:
            cfg["ssl_keyfile"] = str(settings.kafka_ssl_keyfile)
    if settings.kafka_security_protocol in ("SASL_PLAINTEXT", "SASL_SSL"):
        cfg["sasl_mechanism"] = settings.kafka_sasl_mechanism
        cfg["sasl_plain_username"] = settings.kafka_sasl_username
        cfg["sasl_plain_password"] = (
            settings.kafka_sasl_password.get_secret_value() if settings.kafka_sasl_password else None
        )
    return cfg


def ensure_topics(settings: Settings, names: Iterable[str] | None = None) -> None:
    """Create the event and dead-letter topics if they do not exist (existing ones are left as they are)."""
    wanted = list(names) if names is not None else [*settings.topics().values(), settings.topic_deadletter]
    admin = KafkaAdminClient(**client_config(settings), client_id="red-kapok-admin")
    try:
        existing = set(admin.list_topics())
        new = [NewTopic(n, settings.topic_partitions, 1) for n in wanted if n not in existing]
        if new:
            try:
                admin.create_topics(new)
            except TopicAlreadyExistsError:
                pass
            log.info("created topics %s", [t.name for t in new])
    finally:
        admin.close()


def make_producer(settings: Settings, **overrides: Any) -> KafkaProducer:
    """A producer tuned for throughput with safe delivery (acks from the leader, retries, batching)."""
    cfg: dict[str, Any] = {
        **client_config(settings),
        "acks": 1,
        "linger_ms": 20,
        "batch_size": 256 * 1024,
        "max_request_size": 1024 * 1024,
        "retries": 5,
    }
    cfg.update(overrides)
    return KafkaProducer(**cfg)


def make_consumer(settings: Settings, *, group_id: str | None = None, columnar: bool = False,
                  **overrides: Any) -> KafkaConsumer:
    """A consumer in the configured group with the overrides this module's docstring explains.

    ``columnar``: ``poll`` returns, per partition, a list of :class:`RecordColumns` (normally one per fetch)
    instead of a ``ConsumerRecord`` per record; ``max_records`` then counts those lists' items. See
    :func:`fetch_as_columns`.
    """
    cfg: dict[str, Any] = {
        **client_config(settings),
        "group_id": group_id or settings.consumer_group,
        "enable_auto_commit": False,
        "auto_offset_reset": "earliest",
        "max_poll_interval_ms": settings.max_poll_interval_ms,
        "session_timeout_ms": min(10000, settings.max_poll_interval_ms),
        "heartbeat_interval_ms": 1000,
        "max_poll_records": settings.batch_max_records,
        "fetch_max_bytes": 16 * 1024 * 1024,
        "max_partition_fetch_bytes": 4 * 1024 * 1024,
        "check_crcs": True,
    }
    cfg.update(overrides)
    consumer = KafkaConsumer(**cfg)
    if columnar:
        fetch_as_columns(consumer)
    return consumer


class _ColumnarPartitionRecords(Fetcher.PartitionRecords):  # type: ignore[misc]
    """kafka-python's fetched data of one partition, unpacked into one :class:`RecordColumns` (per run of
    v2 batches: normally one per fetch) instead of one ``ConsumerRecord`` per record. Book-keeping
    (position, read counts, leader epoch, control batches, CRC checks) as the method it overrides,
    ``PartitionRecords._unpack_records``."""

    def _unpack_records(self, tp: TopicPartition, records: Any, key_deserializer: Any,
                        value_deserializer: Any) -> Any:
        try:
            v2: list[tuple[bytes, int, int]] = []  # consecutive v2 batches, decoded together
            next_offset = self.next_fetch_offset
            batch = records.next_batch()
            while batch is not None:
                if self.check_crcs and not batch.validate_crc():
                    raise CorruptRecordError(
                        f"Record batch for partition {tp} at offset {batch.base_offset} failed crc check")
                if batch.magic == 2:
                    self.leader_epoch = batch.leader_epoch
                    if not batch.is_control_batch:  # control batches hold transaction markers, not records
                        batch._maybe_uncompress()  # kafka-python's codecs, where the producer compressed
                        v2.append((bytes(memoryview(batch._buffer)[batch._pos:]), batch.base_offset,
                                   batch.records_count))
                    # v2 keeps a batch's last offset even when compaction removed its last record.
                    next_offset = batch.next_offset
                else:  # message format v0/v1 (brokers before 0.11): kafka-python's own records
                    if v2:
                        yield from self._fetched(decode_batches(v2), next_offset)
                        v2 = []
                    legacy = RecordColumns.of_records(batch)
                    next_offset = legacy.offset + 1 if len(legacy) else next_offset
                    yield from self._fetched(legacy, next_offset)
                batch = records.next_batch()
            if v2:
                yield from self._fetched(decode_batches(v2), next_offset)
            self.next_fetch_offset = next_offset
            self.drain()
        except StopIteration:  # inside a generator it would end the iteration silently
            raise RuntimeError("StopIteration raised unpacking a record batch") from None

    def _fetched(self, columns: RecordColumns, next_offset: int) -> Any:
        self.records_read += len(columns)
        self.bytes_read += len(columns.data)
        self.next_fetch_offset = next_offset
        # A fetch from the middle of a batch returns the whole batch: only what lies at or after the fetched
        # offset is ours.
        columns = columns.since(self.fetch_offset)
        if len(columns):
            yield columns


def fetch_as_columns(consumer: KafkaConsumer) -> None:
    """Have ``consumer`` hand over fetched records as columns (see :mod:`streams.record_batches`).

    kafka-python builds a partition's records with its fetcher's ``PartitionRecords`` class; this gives the
    fetcher the columnar one. That is kafka-python's internal structure (3.0), so it is checked here and
    by the tests rather than assumed.
    """
    fetcher = getattr(consumer, "_fetcher", None)
    if not (isinstance(fetcher, Fetcher) and getattr(fetcher, "PartitionRecords", None) is Fetcher.PartitionRecords
            and hasattr(Fetcher.PartitionRecords, "_unpack_records")):
        raise RuntimeError("this kafka-python version fetches records differently from 3.0: the columnar "
                           "consumer in streams/kafka_io.py needs updating")
    if fetcher._isolation_level != IsolationLevel.READ_UNCOMMITTED:  # read_committed: aborted records to drop
        raise ValueError("the columnar consumer reads with isolation_level='read_uncommitted' only")
    fetcher.PartitionRecords = _ColumnarPartitionRecords


class KafkaSink:
    """A record sink (see ``streams.simulator``) producing to the stream topics, keyed by event id."""

    def __init__(self, settings: Settings, producer: KafkaProducer | None = None) -> None:
        self._topics = settings.topics()
        self._producer = producer or make_producer(settings)

    def send(self, stream: str, key: str, value: bytes) -> None:
        self._producer.send(self._topics[stream], key=key.encode(), value=value)

    def flush(self) -> None:
        self._producer.flush()

    def close(self) -> None:
        self._producer.flush()
        self._producer.close()


class DeadLetters:
    """Copies rejected records, unchanged, to the dead-letter topic with their reason in headers.

    Delivery is at least once: a crash between this send and the Redis commit of the batch sends the
    record again when the batch is redone. ``rk-topic``/``rk-partition``/``rk-offset`` identify the source
    record, so readers of the topic can drop repeats exactly.
    """

    def __init__(self, settings: Settings, producer: KafkaProducer) -> None:
        self.topic = settings.topic_deadletter
        self._producer = producer

    def send(
        self, *, topic: str, partition: int, offset: int, key: bytes | None, value: bytes | None, reason: str
    ) -> None:
        headers = [
            ("rk-reason", reason.encode()),
            ("rk-topic", topic.encode()),
            ("rk-partition", str(partition).encode()),
            ("rk-offset", str(offset).encode()),
        ]
        self._producer.send(self.topic, key=key, value=value, headers=headers)

    def flush(self) -> None:
        self._producer.flush()

    def close(self, timeout: float = 5.0) -> None:
        """Send what is pending and close the producer."""
        self._producer.close(timeout=timeout)


def lag_of(consumer: KafkaConsumer, positions: Mapping[TopicPartition, int]) -> dict[TopicPartition, int]:
    """Records between each assigned partition's next offset and its end (the high watermark)."""
    if not positions:
        return {}
    ends = consumer.end_offsets(list(positions))
    return {tp: max(0, ends.get(tp, pos) - pos) for tp, pos in positions.items()}
