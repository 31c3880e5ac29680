"""Index snapshots in Redis: the latest frame round-trips exactly (Arrow), JSON snapshots of older versions
still read, and history keeps its columns per tier."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import redis

from metrics.snapshots import SnapshotStore, _decode_json_frame, decode_frame, encode_frame


def snapshot(n: int = 5) -> pd.DataFrame:
    frame = pd.DataFrame(
        {
            "district_code": [f"4401{i:02d}" for i in range(n)],
            "score": np.linspace(40.0, 80.0, n),
            "level": ["A", None, "C", "D", None][:n],
            "rank": [1.0, np.nan, 2.0, 3.0, 4.0][:n],
            "data_ok": [True, False, True, True, False][:n],
            "dim.safety": [0.123456789, np.nan, 1e6, -0.5, 99.0][:n],
        },
        index=pd.Index([f"88{i}" for i in range(n)], name="entity"),
    )
    return frame


def test_latest_frame_round_trips_with_its_metadata() -> None:
    frame = snapshot()
    back, meta = decode_frame(encode_frame(frame, as_of=1_764_000_000, version="abc", level="grid"))
    assert meta == {"as_of": 1_764_000_000, "version": "abc", "level": "grid"}
    assert list(back.index) == list(frame.index)
    assert back.index.dtype == object
    assert list(back.columns) == list(frame.columns)
    np.testing.assert_array_equal(back["score"].to_numpy(), frame["score"].to_numpy())
    np.testing.assert_array_equal(back["dim.safety"].to_numpy(), frame["dim.safety"].to_numpy())
    assert back["level"].tolist() == ["A", None, "C", "D", None]  # missing text is None, not NaN
    assert back["data_ok"].tolist() == [True, False, True, True, False]
    assert math.isnan(back.loc["881", "rank"])


def test_a_json_snapshot_of_an_older_version_still_reads() -> None:
    raw = b'{"index": ["a", "b"], "columns": {"score": [1.5, null], "level": ["A", null]}, "as_of": 7}'
    frame, meta = decode_frame(raw)
    expected, expected_meta = _decode_json_frame(raw)
    pd.testing.assert_frame_equal(frame, expected)
    assert meta == expected_meta == {"as_of": 7}
    assert frame["level"].tolist() == ["A", None]


def test_store_keeps_latest_and_history(redis_url: str, key_prefix: str) -> None:
    store = SnapshotStore(redis.Redis.from_url(redis_url), prefix=key_prefix)
    frame = snapshot()
    store.write_snapshot("district", frame, as_of=1_764_000_300, version="v1")
    latest, meta = store.latest("district")  # type: ignore[misc]
    assert meta["as_of"] == 1_764_000_300 and meta["version"] == "v1"
    np.testing.assert_array_equal(latest["score"].to_numpy(), frame["score"].to_numpy())
    history = store.history("district", "880", "5m", 1_764_000_000, 1_764_000_600)
    assert history["score"].tolist() == [40.0]
    assert "dim.safety" in history.columns
