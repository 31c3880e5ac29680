"""The columnar record decoder against kafka-python's own, on built batches and on the real broker."""

from __future__ import annotations

import pickle
import struct
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.consumer.fetcher import Fetcher
from kafka.errors import CorruptRecordError
from kafka.record import MemoryRecords, MemoryRecordsBuilder

from kapok.settings import Settings
from streams.kafka_io import _ColumnarPartitionRecords, make_consumer
from streams.record_batches import RecordColumns, decode_batches
from tests.helpers import pipeline_settings

TP = TopicPartition("t", 0)
blobs = st.one_of(st.none(), st.binary(max_size=40), st.binary(min_size=60, max_size=300),
                  st.sampled_from([b"", b"x" * 20_000]))
headers = st.lists(st.tuples(st.text(max_size=8), st.one_of(st.none(), st.binary(max_size=10))), max_size=2)
record = st.tuples(blobs, blobs, headers, st.integers(0, 2**41))
batches = st.lists(st.lists(record, min_size=1, max_size=30), min_size=1, max_size=4)


def build(batch_records: list[list[tuple]], base_offset: int, compression: int) -> bytes:
    """Consecutive v2 batches, as a fetch response carries them."""
    data = b""
    offset = base_offset
    for records in batch_records:
        builder = MemoryRecordsBuilder(magic=2, compression_type=compression, batch_size=1 << 24)
        for key, value, record_headers, timestamp in records:
            builder.append(timestamp, key, value, record_headers)
        builder.close()
        batch = bytearray(builder.buffer())
        struct.pack_into(">q", batch, 0, offset)  # the base offset, which the broker sets (not in the CRC)
        data += bytes(batch)
        offset += len(records)
    return data


def take(cls: type, data: bytes, fetch_offset: int) -> tuple[list, object]:
    part = cls(fetch_offset, TP, MemoryRecords(data))
    return part.take(), part


@settings(max_examples=150, deadline=None)
@given(batches, st.integers(0, 2**40), st.sampled_from([0, 1]), st.integers(0, 60))
def test_columns_hold_what_kafka_python_decodes(batch_records, base_offset, compression, skip) -> None:
    """Offsets, keys, values and the fetch position equal kafka-python's own, for batches with and without
    keys, values, headers and compression, fetched from the start or from inside a batch."""
    data = build(batch_records, base_offset, compression)
    fetch_offset = base_offset + skip
    stock, stock_part = take(Fetcher.PartitionRecords, data, fetch_offset)
    columnar, part = take(_ColumnarPartitionRecords, data, fetch_offset)
    columns = RecordColumns.concat(columnar) if columnar else None
    assert [r.offset for r in stock] == ([] if columns is None else columns.offsets.tolist())
    if columns is not None:
        assert [r.value for r in stock] == columns.values()
        assert [r.key for r in stock] == list(columns.keys())
        assert all(len(c) for c in columnar)
    assert part.next_fetch_offset == stock_part.next_fetch_offset
    assert part.records_read == stock_part.records_read


@pytest.mark.parametrize("compression", [0, 1])
def test_batches_of_message_format_v1_are_read_too(compression: int) -> None:
    builder = MemoryRecordsBuilder(magic=1, compression_type=compression, batch_size=1 << 20)
    for i in range(25):
        builder.append(1_700_000_000_000 + i, None if i % 3 == 0 else b"k%d" % i, b"v" * i)
    builder.close()
    data = builder.buffer()
    stock, stock_part = take(Fetcher.PartitionRecords, data, 4)
    columnar, part = take(_ColumnarPartitionRecords, data, 4)
    columns = RecordColumns.concat(columnar)
    assert columns.offsets.tolist() == [r.offset for r in stock] == list(range(4, 25))
    assert columns.values() == [r.value for r in stock]
    assert list(columns.keys()) == [r.key for r in stock]
    assert part.next_fetch_offset == stock_part.next_fetch_offset == 25


@settings(max_examples=60, deadline=None)
@given(st.lists(record, min_size=1, max_size=40), st.integers(0, 39), st.integers(1, 40))
def test_slices_carry_their_own_bytes_and_survive_pickling(records, lo, width) -> None:
    data = build([records], 7, 0)
    (columns,), _ = take(_ColumnarPartitionRecords, data, 7)
    piece = pickle.loads(pickle.dumps(columns[lo:lo + width]))
    assert piece.offsets.tolist() == columns.offsets.tolist()[lo:lo + width]
    assert piece.values() == columns.values()[lo:lo + width]
    assert list(piece.keys()) == list(columns.keys())[lo:lo + width]
    assert len(piece.data) <= len(columns.data)
    assert columns.since(7 + lo).offsets.tolist() == columns.offsets.tolist()[lo:]


def test_columns_of_records_given_one_by_one() -> None:
    columns = RecordColumns.of_values([5, 6, 7], [b"a", None, b""], [None, b"xy", b"z"])
    assert columns.values() == [None, b"xy", b"z"]
    assert list(columns.keys()) == [b"a", None, b""]
    assert columns.keys()[1:] == [None, b""]
    assert columns.offset == 7
    joined = RecordColumns.concat([columns, RecordColumns.of_values([8], [b"k"], [b"v"])])
    assert joined.offsets.tolist() == [5, 6, 7, 8]
    assert joined.values() == [None, b"xy", b"z", b"v"]
    assert list(joined.keys()) == [b"a", None, b"", b"k"]


def test_a_malformed_record_is_an_error_not_a_silent_loss() -> None:
    data = build([[(b"k", b"value", [], 1), (b"k", b"value", [], 2)]], 0, 0)
    records = bytes(data[61:])
    with pytest.raises(CorruptRecordError, match="ends after 2 of 3"):
        decode_batches([(records, 0, 3)])
    # The first record claims a value longer than the record itself.
    broken = bytearray(records)
    value_length_at = 1 + 1 + 1 + 1 + 1 + 1  # length, attributes, ts delta, offset delta, key len, key
    broken[value_length_at] = 2 * 50
    with pytest.raises(CorruptRecordError, match="offset 0"):
        decode_batches([(bytes(broken), 0, 2)])
    with pytest.raises(CorruptRecordError, match="past its end"):
        decode_batches([(records[:-3], 0, 2)])


@pytest.fixture
def pipeline(kafka_bootstrap, redis_url, key_prefix, topic_names) -> Settings:  # type: ignore[no-untyped-def]
    return pipeline_settings(kafka_bootstrap, redis_url, key_prefix, topic_names)


def test_the_columnar_consumer_reads_a_compressed_topic_from_a_sought_offset(pipeline: Settings) -> None:
    """On the real broker: gzip batches, a seek into the middle of one, and polls that count batches."""
    topic = pipeline.topic_incidents
    producer = KafkaProducer(bootstrap_servers=pipeline.kafka_bootstrap, compression_type="gzip",
                             linger_ms=50, batch_size=64 * 1024)
    sent = [(f"k{i}".encode() if i % 7 else None, f'{{"n": {i}}}'.encode()) for i in range(600)]
    for key, value in sent:
        producer.send(topic, key=key, value=value, partition=0)
    producer.flush()
    producer.close()
    consumer = make_consumer(pipeline, group_id=None, columnar=True)
    tp = TopicPartition(topic, 0)
    consumer.assign([tp])
    consumer.seek(tp, 123)
    got: list[RecordColumns] = []
    deadline = time.monotonic() + 30
    while sum(len(c) for c in got) < len(sent) - 123 and time.monotonic() < deadline:
        for parts in consumer.poll(timeout_ms=500).values():
            got.extend(parts)
    consumer.close(autocommit=False)
    columns = RecordColumns.concat(got)
    assert columns.offsets.tolist() == list(range(123, 600))
    assert columns.values() == [v for _, v in sent[123:]]
    assert list(columns.keys()) == [k for k, _ in sent[123:]]


def test_a_consumer_made_columnar_is_checked(pipeline: Settings) -> None:
    with pytest.raises(ValueError, match="read_uncommitted"):
        make_consumer(pipeline, group_id=None, columnar=True, isolation_level="read_committed")
    plain = make_consumer(pipeline, group_id=None)
    assert isinstance(plain, KafkaConsumer)
    assert type(plain._fetcher).PartitionRecords is Fetcher.PartitionRecords
    plain.close()
