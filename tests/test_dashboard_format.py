"""Pure parts of the dashboard: labels and formats in both languages, colour classes, geometry encoding."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from dashboard import gridmap, i18n, theme
from dashboard.gridmap import Metric
from dashboard.views.common import district_warning_levels, epoch_of, warning_order

# 2025-05-03 06:05:00 UTC = 14:05 city time
TS = 1746252300.0


def test_every_label_has_both_languages() -> None:
    for key, (zh, en) in i18n.TEXT.items():
        assert zh.strip() and en.strip(), key
        assert zh != en or key.startswith(("wlevel.", "brand")) or zh.isascii(), key


@pytest.mark.parametrize(
    ("value", "lang", "text"),
    [
        (0, "zh", "0"),
        (1234, "zh", "1,234"),
        (1234, "en", "1,234"),
        (99_999, "en", "99,999"),
        (123_456, "zh", "12.3万"),
        (123_456, "en", "123.5k"),
        (2_500_000, "en", "2.50M"),
        (250_000_000, "zh", "2.50亿"),
        (None, "zh", "–"),
        (float("nan"), "en", "–"),
    ],
)
def test_fmt_int(value: float | None, lang: i18n.Lang, text: str) -> None:
    assert i18n.fmt_int(value, lang) == text


@pytest.mark.parametrize(
    ("seconds", "lang", "text"),
    [
        (5, "zh", "刚刚"),
        (5, "en", "just now"),
        (600, "zh", "10分钟前"),
        (600, "en", "10 min ago"),
        (7200, "zh", "2小时前"),
        (7200, "en", "2 h ago"),
        (3 * 86400, "zh", "3天前"),
        (-30, "en", "just now"),
    ],
)
def test_fmt_age(seconds: float, lang: i18n.Lang, text: str) -> None:
    assert i18n.fmt_age(seconds, lang) == text


@pytest.mark.parametrize(
    ("seconds", "lang", "text"),
    [
        (45 * 60, "zh", "45分"),
        (45 * 60, "en", "45 min"),
        (3 * 3600 + 720, "zh", "3小时12分"),
        (3 * 3600 + 720, "en", "3 h 12 min"),
        (2 * 86400 + 3 * 3600, "zh", "2天3小时"),
        (2 * 86400 + 3 * 3600, "en", "2 d 3 h"),
    ],
)
def test_fmt_duration(seconds: float, lang: i18n.Lang, text: str) -> None:
    assert i18n.fmt_duration(seconds, lang) == text


@pytest.mark.parametrize(
    ("rank", "lo", "hi", "text"),
    [
        (3, 2, 5, "3 (2–5)"),
        (1, 1, 1, "1"),
        (4, None, None, "4"),
        (None, 1, 2, "–"),
    ],
)
def test_fmt_rank(rank: int | None, lo: int | None, hi: int | None, text: str) -> None:
    assert i18n.fmt_rank(rank, lo, hi, "zh") == text


@pytest.mark.parametrize(("value", "text"), [(1.26, "+1.3"), (-0.34, "−0.3"), (0.01, "±0.0"), (None, "–")])
def test_fmt_signed(value: float | None, text: str) -> None:
    assert i18n.fmt_signed(value, "en") == text


def test_times_are_city_time_in_the_chosen_language() -> None:
    assert i18n.fmt_time(TS, "zh") == "5月3日 14:05"
    assert i18n.fmt_time(TS, "en") == "3 May 14:05"
    assert i18n.fmt_time(TS, "en", date=False) == "14:05"


@pytest.mark.parametrize(("now", "before", "text"), [(12, 10, "+20%"), (5, 10, "−50%"), (3, 0, None)])
def test_pct_change(now: float, before: float, text: str | None) -> None:
    assert i18n.fmt_pct_change(now, before, "zh") == text


@given(st.floats(min_value=-1e6, max_value=1e6, allow_nan=False))
def test_signed_change_carries_its_sign(value: float) -> None:
    text = i18n.fmt_signed(value, "en")
    if round(value, 1) > 0:
        assert text.startswith("+")
    elif round(value, 1) < 0:
        assert text.startswith("−")


def test_language_falls_back_to_chinese() -> None:
    assert i18n.lang_of("en") == "en"
    assert i18n.lang_of("fr") == "zh"
    assert i18n.lang_of(None) == "zh"


# ------------------------------------------------------------------------------------------ grid map


@given(st.lists(st.tuples(st.floats(112.9, 114.1), st.floats(22.5, 23.95)), min_size=3, max_size=12))
def test_ring_encoding_round_trips_to_a_metre(points: list[tuple[float, float]]) -> None:
    cx, cy = 11_330_000, 2_310_000
    ring = [*points, points[0]]  # closed, as GeoJSON rings are
    decoded = gridmap.decode_ring(gridmap._encode_ring(ring, cx, cy), cx, cy)
    assert len(decoded) == len(points)
    for (x, y), (dx, dy) in zip(points, decoded, strict=True):
        assert abs(x - dx) <= 0.5e-5 + 1e-12 and abs(y - dy) <= 0.5e-5 + 1e-12


def test_geometry_holds_every_cell_once_and_is_versioned() -> None:
    square = {
        "type": "Polygon",
        "coordinates": [[[113.0, 23.0], [113.01, 23.0], [113.01, 23.01], [113.0, 23.01], [113.0, 23.0]]],
    }
    features = [{"type": "Feature", "id": f"c{i}", "geometry": square, "properties": {}} for i in range(3)]
    import shapely

    body = gridmap.encode_geometry(
        {"features": features}, {"440106": shapely.box(113.0, 23.0, 113.02, 23.02)}
    )
    assert body["ids"] == ["c0", "c1", "c2"]
    assert len(body["rings"]) == 3 and len(body["rings"][0][0]) == 8  # 4 vertices, closing one dropped
    assert body["bounds"] == pytest.approx([113.005, 23.005, 113.005, 23.005])
    again = gridmap.encode_geometry({"features": features[:2]}, {})
    assert again["version"] != body["version"]


@pytest.mark.parametrize(
    ("values", "codes"),
    [
        ([0.0, 29.9, 30.0, 55.0, 90.0, 100.0, float("nan")], [0, 0, 1, 3, 7, 7, -1]),
    ],
)
def test_score_classes(values: list[float], codes: list[int]) -> None:
    assert gridmap.score_classes("zh").classify(np.array(values)).tolist() == codes


def test_level_classes_are_the_index_colours() -> None:
    classes = gridmap.level_classes("en")
    assert classes.colours == tuple(theme.INDEX_LEVEL_COLOURS.values())
    assert classes.classify(np.array([0.0, 3.0, np.nan])).tolist() == [0, 3, -1]
    assert classes.labels[0] == "A good"


@given(st.lists(st.integers(0, 500), min_size=1, max_size=300))
def test_count_classes_are_ordered_and_zero_is_its_own(counts: list[int]) -> None:
    values = np.array(counts, dtype=float)
    classes = gridmap.count_classes(values, "zh", integral=True)
    codes = classes.classify(values)
    assert len(classes.colours) == len(classes.labels) == len(classes.edges) - 1 <= gridmap.COUNT_CLASSES
    assert ((codes == 0) == (values == 0)).all() or not (values > 0).any()
    order = np.argsort(values, kind="stable")
    assert (np.diff(codes[order]) >= 0).all()  # a larger count never gets a lower class
    assert codes.max() < len(classes.colours)


def test_count_class_labels_read_as_ranges() -> None:
    classes = gridmap.count_classes(
        np.array([0, 1, 2, 3, 10, 50, 100], dtype=float), "en", integral=True, n=4
    )
    assert classes.labels[0] == "0"
    assert classes.labels[-1].endswith("100")


@pytest.mark.parametrize(
    ("text", "kind", "name"),
    [
        ("index", "index", ""),
        ("level", "level", ""),
        ("dim:service", "dim", "service"),
        ("stream:hotline", "stream", "hotline"),
        ("category:hotline.noise", "category", "hotline.noise"),
        ("stream:nonsense", "events", ""),
        (None, "events", ""),
        ("category:foo", "events", ""),
    ],
)
def test_metric_parse(text: str | None, kind: str, name: str) -> None:
    metric = Metric.parse(text)
    assert (metric.kind, metric.name) == (kind, name)


def test_metric_values_sum_event_counters_and_read_the_index() -> None:
    ids = pd.Index(["a", "b", "c"])
    frame = pd.DataFrame(
        {"incidents.theft.n": [2.0, 0.0], "incidents.theft.rec": [5.0, 1.0], "hotline.noise.n": [1.0, 3.0]},
        index=["a", "b"],
    )
    assert gridmap.metric_values(Metric("events"), ids, frame, {}).tolist() == [3.0, 3.0, 0.0]
    assert gridmap.metric_values(Metric("stream", "hotline"), ids, frame, {}).tolist() == [1.0, 3.0, 0.0]
    assert gridmap.metric_values(Metric("category", "incidents.theft"), ids, frame, {}).tolist() == [
        2.0,
        0.0,
        0.0,
    ]
    index = {"a": {"score": 71.5, "level": "B", "dimensions": {"service": 40.0}}, "b": {"score": None}}
    score = gridmap.metric_values(Metric("index"), ids, frame, index)
    assert score[0] == 71.5 and math.isnan(score[1]) and math.isnan(score[2])
    assert gridmap.metric_values(Metric("level"), ids, frame, index)[0] == 1.0
    assert gridmap.metric_values(Metric("dim", "service"), ids, frame, index)[0] == 40.0


def test_scaling_divides_by_area_or_population() -> None:
    values = np.array([10.0, 10.0, 10.0])
    area = np.array([2.0, 0.0, 0.5])
    population = np.array([20_000.0, np.nan, 5_000.0])
    assert gridmap.scaled(values, "raw", area, population).tolist() == [10.0, 10.0, 10.0]
    per_km2 = gridmap.scaled(values, "km2", area, population)
    assert per_km2[0] == 5.0 and math.isnan(per_km2[1]) and per_km2[2] == 20.0
    per_10k = gridmap.scaled(values, "10k", area, population)
    assert per_10k[0] == 5.0 and math.isnan(per_10k[1]) and per_10k[2] == 20.0


def test_cell_population_is_an_area_share_of_its_district() -> None:
    districts = pd.DataFrame({"population": [1000, 0], "area_km2": [10.0, 5.0]}, index=["d1", "d2"])
    grids = pd.DataFrame(
        {"district_code": ["d1", "d1", "d2"], "area_km2": [1.0, 2.5, 1.0]}, index=["a", "b", "c"]
    )
    pop = gridmap.cell_population(grids, districts)
    assert pop[:2].tolist() == [100.0, 250.0] and math.isnan(pop[2])


def test_payload_carries_classes_and_values_but_no_coordinates() -> None:
    values = np.array([0.0, 3.0, np.nan, 8.0])
    classes = gridmap.count_classes(values, "zh", integral=True)
    payload = gridmap.map_payload(
        values,
        classes,
        visible=np.array([True, True, True, False]),
        title="x",
        bounds=None,
        digits=0,
        lang="zh",
    )
    assert payload["classes"][2] == gridmap.NO_VALUE and payload["classes"][3] == gridmap.HIDDEN
    assert payload["values"] == [0, 3, None, 8]
    assert set(payload) == {
        "classes",
        "values",
        "colours",
        "labels",
        "no_data",
        "no_data_colour",
        "title",
        "bounds",
    }


def test_top_cells_are_highest_first_ties_by_id() -> None:
    ids = pd.Index(["b", "a", "c", "d"])
    assert gridmap.top_cells(ids, np.array([5.0, 5.0, np.nan, 1.0]), n=3) == [
        ("a", 5.0),
        ("b", 5.0),
        ("d", 1.0),
    ]


# ------------------------------------------------------------------------------------------ warnings


def test_warnings_order_most_severe_then_newest() -> None:
    ws = [
        {"id": "1", "level": "yellow", "raised_at": 100.0},
        {"id": "2", "level": "red", "raised_at": 50.0},
        {"id": "3", "level": "red", "raised_at": "1970-01-01T00:02:00+00:00"},
        {"id": "4", "level": None},
    ]
    assert [w["id"] for w in warning_order(ws)] == ["3", "2", "1", "4"]


def test_district_levels_take_the_worst_warning_of_the_district_or_its_cells() -> None:
    cells = {"cell-a": "440106", "cell-b": "440104"}
    ws = [
        {"scope": "grid", "target": "cell-a", "level": "yellow"},
        {"scope": "district", "target": "440106", "level": "orange"},
        {"scope": "grid", "target": "cell-b", "level": "blue"},
        {"scope": "grid", "target": "unknown", "level": "red"},
    ]
    assert district_warning_levels(ws, cells) == {"440106": "orange", "440104": "blue"}


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (12.5, 12.5),
        ("1970-01-01T08:00:10+08:00", 10.0),
        ("not a time", None),
        (None, None),
    ],
)
def test_epoch_of(value: object, expected: float | None) -> None:
    assert epoch_of(value) == expected
