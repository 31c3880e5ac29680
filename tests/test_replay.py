"""Replay of recorded events: the simulator's own JSON lines, CSV and Parquet tables through a column
mapping, bad rows reported by line number, and pacing."""

from __future__ import annotations

import argparse
import io
import math
import time

import msgspec
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from kapok.errors import ConfigError
from kapok.settings import load_settings
from streams.simulator import FileSink, MemorySink, add_arguments, run
from streams.simulator.replay import ReplayMapping, load_mapping, read_rows, replay
from streams.simulator.runner import BadRow
from streams.validate import validate_batch
from tests.workload import DISTRICT_CODES

TOPICS = {
    "incidents": "incidents",
    "surveillance": "surveillance",
    "hotline": "hotline",
    "hazards": "hazards",
}


@pytest.fixture(scope="module")
def app_settings():
    return load_settings()


@pytest.fixture(scope="module")
def recorded(tmp_path_factory, app_settings) -> bytes:
    """Six simulated hours of ``simulate --out``, at a tenth of the default volume."""
    from geo.city import load_city

    path = tmp_path_factory.mktemp("rec") / "out.jsonl"
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    args = parser.parse_args(
        [
            "--seed",
            "4",
            "--until",
            "2026-11-25T18:00:00+08:00",
            "--backfill-days",
            "0.25",
            "--live-minutes",
            "0",
            "--events-per-day",
            "6000",
        ]
    )
    sink = FileSink(path, app_settings.topics())
    run(args, app_settings, sink, city=load_city(app_settings))
    sink.close()
    return path.read_bytes()


def test_own_output_replays_byte_for_byte(tmp_path, recorded, app_settings) -> None:
    src = tmp_path / "in.jsonl"
    src.write_bytes(recorded)
    out = tmp_path / "again.jsonl"
    sink = FileSink(out, app_settings.topics())
    summary = replay(src, sink, app_settings.topics(), speed=math.inf)
    sink.close()
    assert out.read_bytes() == recorded
    assert summary.total_records == len(recorded.splitlines())
    assert summary.malformed == sum(
        1 for line in recorded.splitlines() if isinstance(msgspec.json.decode(line)["value"], str)
    )
    assert summary.bad_rows == [] and summary.malformed > 0


def test_bad_lines_are_skipped_and_reported(tmp_path, recorded, app_settings) -> None:
    lines = recorded.splitlines()[:50]
    lines.insert(9, b'{"topic": "hotline", "key": "x", "value": {"id": "x"')  # line 10: cut short
    lines.insert(19, b'{"topic": "weather", "key": "x", "value": {}}')  # line 20: unknown topic
    lines.insert(29, b"[1, 2]")  # line 30: not an object
    src = tmp_path / "bad.jsonl"
    src.write_bytes(b"\n".join(lines) + b"\n")
    sink = MemorySink()
    err = io.StringIO()
    summary = replay(src, sink, app_settings.topics(), stderr=err)
    assert [b.line for b in summary.bad_rows] == [10, 20, 30]
    assert summary.bad_row_count == 3 and len(sink.records) == 50
    assert "not JSON" in summary.bad_rows[0].reason and "weather" in summary.bad_rows[1].reason
    assert f"{src}:10: skipped" in err.getvalue() and f"{src}:30: skipped" in err.getvalue()


CSV = (
    "ticket_no,created_at,type,x,y,area,note\n"
    'T1,2026-11-25 09:00:00,噪音,113.3245,23.1201,,"two\n'
    'lines of text"\n'
    "T2,2026-11-25 09:00:01,sanitation,113.2701,23.1302,,\n"
    "T3,not a time,sanitation,113.2701,23.1302,,\n"
    "T4,2026-11-25 09:00:02,consultation,,,440106,\n"
    "T5,2026-11-25 09:00:03,consultation,,,,\n"
    "T6,2026-11-25 09:00:04,traffic,east,23.1,,\n"
    "T7,2026-11-25 09:00:05,traffic,113.31,23.11\n"
)
MAPPING = """
stream = "hotline"
timezone = "+08:00"
[columns]
id = "ticket_no"
ts = "created_at"
category = "type"
lon = "x"
lat = "y"
district = "area"
text = "note"
[values.category]
"噪音" = "noise"
"""


def test_csv_with_mapping_reports_bad_rows_by_line(tmp_path) -> None:
    src = tmp_path / "tickets.csv"
    src.write_text(CSV, encoding="utf-8")
    mapping_file = tmp_path / "map.toml"
    mapping_file.write_text(MAPPING, encoding="utf-8")
    sink = MemorySink()
    err = io.StringIO()
    summary = replay(src, sink, TOPICS, mapping=load_mapping(mapping_file), stderr=err)
    assert [(b.line, b.reason.split(" ")[0]) for b in summary.bad_rows] == [
        (5, "ts"),
        (7, "no"),
        (8, "lon"),
        (9, "5"),
    ]
    records = [msgspec.json.decode(v) for _, _, v, _ in sink.records]
    assert [r["id"] for r in records] == ["T1", "T2", "T4"]
    assert records[0]["category"] == "noise" and records[0]["ts"] == "2026-11-25T09:00:00+08:00"
    assert records[0]["text"] == "two\nlines of text" and records[0]["lon"] == 113.3245
    assert records[2] == {
        "id": "T4",
        "ts": "2026-11-25T09:00:02+08:00",
        "district": "440106",
        "category": "consultation",
    }
    accepted, rejected = validate_batch(
        "hotline",
        [v for _, _, v, _ in sink.records],
        now=1795600800,
        retention_s=35 * 86400,
        future_tolerance_s=600,
        district_codes=DISTRICT_CODES,
        pii_key=b"k",
    )
    assert len(accepted) == 3 and rejected == []
    assert f"{src}:5: skipped" in err.getvalue()


def test_parquet_with_map_options_and_a_bad_row(tmp_path, app_settings) -> None:
    table = pa.table(
        {
            "event_id": ["A1", None, "A3"],
            "when": [1795600800, 1795600801, 1795600802000 / 1000],
            "kind": ["theft", "fight", "fraud"],
            "lng": [113.32, 113.33, 113.34],
            "lat": [23.12, 23.13, 23.14],
            "level": [2, 3, 1],
            "source": ["incidents", "incidents", "incidents"],
        }
    )
    src = tmp_path / "incidents.parquet"
    pq.write_table(table, src)
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    args = parser.parse_args(
        [
            "--replay",
            str(src),
            "--map",
            "id=event_id",
            "--map",
            "ts=when",
            "--map",
            "category=kind",
            "--map",
            "lon=lng",
            "--map",
            "severity=level",
            "--replay-stream",
            "incidents",
            "--speed",
            "0",
        ]
    )
    sink = MemorySink()
    summary = run(args, app_settings, sink)
    assert summary.mode == "replay"
    assert summary.bad_rows == [BadRow(2, "missing id (column 'event_id')")]
    recs = [msgspec.json.decode(v) for _, _, v, _ in sink.records]
    assert [r["id"] for r in recs] == ["A1", "A3"]
    assert recs[0] == {
        "id": "A1",
        "ts": "2026-11-25T18:00:00+08:00",
        "lon": 113.32,
        "lat": 23.12,
        "category": "theft",
        "severity": 2,
    }
    assert summary.events["incidents"] == 2


def test_rows_carry_their_stream_column(tmp_path) -> None:
    src = tmp_path / "mixed.jsonl"
    src.write_text(
        '{"stream": "hotline", "id": "h1", "ts": "2026-11-25T09:00:00+08:00", "category": "noise", '
        '"district": "440106"}\n'
        '{"stream": "surveillance", "id": "s1", "ts": "2026-11-25T09:00:00+08:00", "category": "fight", '
        '"lon": 113.3, "lat": 23.1, "camera_id": "c", "confidence": "0.8", "verified": "false", '
        '"stage": "reviewed"}\n',
        encoding="utf-8",
    )
    sink = MemorySink()
    summary = replay(src, sink, TOPICS)
    assert [(s, k) for s, k, _, _ in sink.records] == [("hotline", "h1"), ("surveillance", "s1")]
    alert = msgspec.json.decode(sink.records[1][2])
    assert alert["confidence"] == 0.8 and alert["verified"] is False
    assert summary.events == {"incidents": 0, "surveillance": 0, "hotline": 1, "hazards": 0}


def test_replay_keeps_the_original_pace(tmp_path) -> None:
    rows = [
        {
            "id": f"i{n}",
            "ts": f"2026-11-25T09:00:0{n}+08:00",
            "category": "theft",
            "district": "440106",
            "severity": 1,
        }
        for n in range(3)
    ]
    src = tmp_path / "paced.jsonl"
    src.write_bytes(b"\n".join(msgspec.json.encode(r) for r in rows))
    mapping = ReplayMapping(stream="incidents")
    began = time.monotonic()
    replay(src, MemorySink(), TOPICS, mapping=mapping, speed=4.0)  # 2 event seconds at 4x: 0.5 s
    paced = time.monotonic() - began
    began = time.monotonic()
    replay(src, MemorySink(), TOPICS, mapping=mapping, speed=math.inf)
    fast = time.monotonic() - began
    assert 0.45 <= paced < 2.0 and fast < 0.3


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ('stream = "weather"\n', "stream 'weather'"),
        ('[columns]\ncolour = "c"\n', "'colour' is not a v1 field"),
        ('timezone = "Asia/Shanghai"\n', "not an offset"),
        ("speed = 2\n", "unknown key 'speed'"),
    ],
)
def test_mapping_errors_are_clear(tmp_path, text: str, needle: str) -> None:
    path = tmp_path / "m.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError, match=needle):
        load_mapping(path)


def test_unknown_format_and_missing_file(tmp_path) -> None:
    with pytest.raises(ConfigError, match="--replay-format"):
        list(read_rows(tmp_path / "events.xlsx"))
    with pytest.raises(ConfigError, match="does not exist"):
        list(read_rows(tmp_path / "nope.csv"))
