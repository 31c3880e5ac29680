"""The dashboard's views and routes on a real store filled through the ingestion pipeline, plus engine-shaped
index and warnings data (as the engines will store them)."""

from __future__ import annotations

import csv
import io
import json
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import openpyxl
import pandas as pd
import pytest
import redis
from hypothesis import given
from hypothesis import strategies as st

from dashboard import context, gridmap, theme
from dashboard.app import create_app
from dashboard.data import Dashboard
from dashboard.views import grids as grids_view
from dashboard.views import hazards as hazards_view
from dashboard.views import rankings as rankings_view
from dashboard.views import wall as wall_view
from dashboard.views import warnings as warnings_view
from kapok.settings import load_settings
from metrics.store import MetricsStore
from tests.browser.seed import PLACES, hazard_records, ingest, seed

NOW = time.time()


@dataclass
class EngineData(Dashboard):
    """The read side with engine outputs supplied by the test (the shapes of contracts and data.py)."""

    index: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    warning_list: list[dict[str, Any]] = field(default_factory=list)
    snapshot: pd.DataFrame = field(default_factory=pd.DataFrame)

    def index_latest(self, level: str) -> dict[str, dict[str, Any]]:
        return self.index.get(level, {})

    def warnings(
        self,
        status: str | None = None,
        district: str | None = None,
        level: str | None = None,
        stream: str | None = None,
    ) -> list[dict[str, Any]]:
        return [w for w in self.warning_list if status in (None, "open") or w["status"] == status]

    def index_frame(self, level: str) -> tuple[pd.DataFrame, dict[str, Any]] | None:
        return (self.snapshot, {}) if not self.snapshot.empty else None


@pytest.fixture
def store(redis_client: redis.Redis, key_prefix: str, redis_url: str, city) -> MetricsStore:  # type: ignore[no-untyped-def]
    settings = load_settings(redis_url=redis_url, key_prefix=key_prefix, auth="none")
    st = MetricsStore(redis_client, prefix=key_prefix)
    assert seed(settings, city, st, NOW) == 45
    return st


def _text(component: Any) -> str:
    """Every string in a component tree (what a reader sees)."""
    if component is None:
        return ""
    if isinstance(component, str | int | float):
        return str(component)
    if isinstance(component, list | tuple):
        return " ".join(_text(c) for c in component)
    return _text(getattr(component, "children", None))


def _cells(city) -> list[str]:  # type: ignore[no-untyped-def]
    grid_ids, _ = city.assign(np.array([p[1] for p in PLACES]), np.array([p[2] for p in PLACES]))
    return list(grid_ids)


def test_wall_counters_compare_with_the_same_hour_last_week(store: MetricsStore, city) -> None:  # type: ignore[no-untyped-def]
    data = Dashboard(store, city)
    counters = {c.stream: c for c in wall_view.counters(data, NOW, "en")}
    assert counters["incidents"].value == 5 and counters["incidents"].week_before == 5
    assert counters["incidents"].change == "vs same hour last week ±0%"
    assert counters["hotline"].value == 5 and counters["hotline"].trend == "none"
    assert counters["hazards"].text == "0"
    zh = {c.stream: c for c in wall_view.counters(data, NOW, "zh")}
    assert zh["hotline"].change == "上周同时段无数据"


def test_wall_says_when_data_is_stale(store: MetricsStore, city) -> None:  # type: ignore[no-untyped-def]
    data = Dashboard(store, city)
    newest = data.newest_event_ts()
    assert newest is not None and NOW - newest < 900
    assert wall_view.staleness(newest, NOW, "en")[1] is False
    text, stale = wall_view.staleness(newest, newest + 3600, "en")
    assert stale and text == "Data is stale: newest event 1 h ago"
    assert wall_view.staleness(None, NOW, "zh") == ("尚无事件数据", True)


def test_wall_map_colours_by_index_level_or_warning_level(store: MetricsStore, city) -> None:  # type: ignore[no-untyped-def]
    cell = _cells(city)[0]
    warnings = [
        {
            "id": "w1",
            "level": "orange",
            "scope": "grid",
            "target": cell,
            "status": "raised",
            "stream": "incidents",
            "category": "fight",
            "raised_at": NOW - 600,
        },
        {
            "id": "w2",
            "level": "red",
            "scope": "district",
            "target": "440103",
            "status": "acknowledged",
            "stream": "hotline",
            "category": "noise",
            "raised_at": NOW - 60,
        },
    ]
    data = EngineData(
        store,
        city,
        index={"district": {"440106": {"score": 82.0, "level": "A", "rank": 1}}},
        warning_list=warnings,
    )
    fills, hover, legend, _ = wall_view.map_colours(data, "index", [], "en")
    assert fills["440106"] == theme.INDEX_LEVEL_COLOURS["A"] and fills["440104"] == theme.NO_DATA
    assert hover["440106"].startswith("Tianhe: 82.0")
    fills, _, legend, title = wall_view.map_colours(data, "warnings", warnings, "zh")
    assert fills[city.grids.loc[cell, "district_code"]] == theme.WARNING_COLOURS["orange"]
    assert fills["440103"] == theme.WARNING_COLOURS["red"] and title == "按预警等级着色"
    assert [label for _, label in legend] == ["无预警", "蓝色", "黄色", "橙色", "红色"]
    items = wall_view.warning_items(warnings, {"440103": "Liwan"}, NOW, "en")
    assert _text(items[0]).startswith("Red Liwan") and "1 min ago" in _text(items[0])


def test_wall_refresh_patches_values_only(store: MetricsStore, city) -> None:  # type: ignore[no-untyped-def]
    data = Dashboard(store, city)
    outputs = wall_view.refresh_outputs(data, "index", "zh", NOW)
    assert outputs[:4] == ("5", "5", "5", "0")
    map_patch, trend_patch = outputs[12], outputs[17]
    ops = map_patch.to_plotly_json()["operations"]
    assert {op["location"][-1] for op in ops} == {"fillcolor", "text"}
    assert len(ops) == 2 * len(city.districts)
    trend_ops = trend_patch.to_plotly_json()["operations"]
    assert len(trend_ops) == 2 * 3 and all(
        len(op["params"]["value"]) == 49 for op in trend_ops
    )  # 48 h and the current hour
    assert outputs[-6].startswith("数据更新于") and outputs[-5] == "fresh"
    assert outputs[-3:] == ("0", "超期 A 0 · B 0｜未整改 A 0 · B 0", "counter hazard-counter")


def test_grid_map_payload_sends_one_class_per_cell(store: MetricsStore, city) -> None:  # type: ignore[no-untyped-def]
    data = Dashboard(store, city)
    cells = _cells(city)
    view = grids_view.map_view(data, "stream:incidents", "raw", "24h", None, 0, "en", NOW)
    payload = view.payload
    assert len(payload["classes"]) == len(city.grids) == len(payload["values"])
    position = city.grids.index.get_indexer(cells)
    assert all(payload["values"][p] >= 5 for p in position)
    assert sum(v > 0 for v in payload["values"]) == len(set(cells))
    assert payload["labels"][0] == "0" and payload["title"] == "Incidents · 24 hours"
    assert len(json.dumps(payload)) < 300_000
    # a week back the incidents of the last two days are gone: only last week's remain
    replay = grids_view.map_view(data, "stream:incidents", "raw", "1h", None, 72, "en", NOW)
    assert sum(v > 0 for v in replay.payload["values"]) == 0


def test_grid_map_filters_by_district_and_scales(store: MetricsStore, city) -> None:  # type: ignore[no-untyped-def]
    data = Dashboard(store, city)
    view = grids_view.map_view(data, "events", "km2", "24h", "440106", 0, "zh", NOW)
    inside = (city.grids["district_code"] == "440106").to_numpy()
    classes = np.array(view.payload["classes"])
    assert (classes[~inside] == gridmap.HIDDEN).all() and (classes[inside] >= 0).all()
    assert view.payload["bounds"] is not None and "每平方公里" in view.payload["title"]


def test_grid_map_without_index_says_so(store: MetricsStore, city) -> None:  # type: ignore[no-untyped-def]
    view = grids_view.map_view(Dashboard(store, city), "index", "raw", "24h", None, 0, "en", NOW)
    assert set(view.payload["classes"]) == {gridmap.NO_VALUE}
    assert "has not stored a snapshot yet" in _text(view.summary)


def test_cell_drill_down_masks_personal_data_and_shows_text_as_text(store: MetricsStore, city) -> None:  # type: ignore[no-untyped-def]
    cell = _cells(city)[0]
    detail = grids_view.cell_detail(Dashboard(store, city), cell, "en", NOW)
    text = _text(detail)
    assert cell in text and "13812340000" not in text and "138****0000" in text
    assert "<script>alert('x')</script>" in text  # a plain string child: React escapes it, never markup
    assert len(grids_view.neighbours(city, cell)) == 6
    assert "No cell nonsense" in _text(grids_view.cell_detail(Dashboard(store, city), "nonsense", "en", NOW))


def _district_snapshot(city) -> pd.DataFrame:  # type: ignore[no-untyped-def]
    config = rankings_view.index_config()
    inds = config.scoring_indicators("district")
    rng = np.random.default_rng(7)
    frame = pd.DataFrame(
        rng.uniform(10, 90, (len(city.districts), len(inds))),
        index=city.districts.index,
        columns=[f"ind.{i.name}" for i in inds],
    )
    frame["rank"] = np.arange(1, len(frame) + 1, dtype=float)
    frame["data_ok"] = True
    return frame


def test_whatif_puts_all_weight_on_one_dimension(store: MetricsStore, city) -> None:  # type: ignore[no-untyped-def]
    snapshot = _district_snapshot(city)
    data = EngineData(store, city, snapshot=snapshot)
    config = rankings_view.index_config()
    service = [i for i in config.scoring_indicators("district") if i.dimension == "service"]
    w = np.array([i.weight for i in service])
    dim_score = snapshot[[f"ind.{i.name}" for i in service]].to_numpy() @ w / w.sum()
    expected = [str(c) for c in snapshot.index[np.argsort(-dim_score)]]
    weights = {name: (1.0 if name == "service" else 0.0) for name, _ in rankings_view.dimensions("en")}
    table = rankings_view.whatif_table(data, weights, "en")[0]
    body = table.children[-1].children
    names = dict(zip(city.districts.name_en, city.districts.index, strict=True))
    # with the whole weight on one dimension, the what-if index is that dimension's score
    assert [names[row.children[1].children] for row in body] == expected
    assert float(body[0].children[2].children) == pytest.approx(dim_score.max(), abs=0.05)
    assert "has not stored" in _text(rankings_view.whatif_table(Dashboard(store, city), weights, "en"))


def test_rankings_export_csv_and_excel(store: MetricsStore, city) -> None:  # type: ignore[no-untyped-def]
    index = {
        "district": {
            "440106": {
                "score": 81.234,
                "level": "A",
                "rank": 1,
                "rank_lo": 1,
                "rank_hi": 2,
                "change_day": 1.5,
                "change_week": -0.5,
                "dimensions": {"service": 77.0},
            }
        }
    }
    data = EngineData(store, city, index=index)
    rows = rankings_view.ranking_rows(data, "zh", NOW)
    assert rows[0].code == "440106" and rows[0].counts["incidents"] == 6
    sent = rankings_view.export_download(data, excel=False, lang="zh", now=NOW)
    import base64

    body = base64.b64decode(sent["content"]).decode("utf-8-sig")
    table = list(csv.DictReader(io.StringIO(body)))
    assert len(table) == len(city.districts) and sent["filename"].endswith(".csv")
    assert (
        table[0]["区"] == "天河区"
        and table[0]["排名（区间）"] == "1 (1–2)"
        and table[0]["治理指数"] == "81.23"
    )
    sent = rankings_view.export_download(data, excel=True, lang="en", now=NOW)
    book = openpyxl.load_workbook(io.BytesIO(base64.b64decode(sent["content"])))
    sheet = book.active
    header = [c.value for c in sheet[1]]
    assert "District" in header and sheet.cell(2, header.index("Index") + 1).value == 81.23


def test_warning_actions_follow_the_lifecycle(store: MetricsStore, city) -> None:  # type: ignore[no-untyped-def]
    def enabled(status: str) -> list[str]:
        buttons = warnings_view.action_buttons({"id": "w", "status": status}, "en").children
        return [b.id["action"] for b in buttons if not b.disabled]

    assert enabled("raised") == ["ack"]
    assert enabled("acknowledged") == ["dispatch", "resolve"]
    assert enabled("dispatched") == ["resolve"]
    assert enabled("closed") == []
    assert (
        warnings_view.action_message({"ok": True, "id": "w1", "status": "acknowledged"}, "zh")
        == "预警 w1 已更新为「已确认」"
    )
    assert (
        warnings_view.action_message({"ok": False, "error": "forbidden"}, "en") == "Action failed: forbidden"
    )


def test_warning_table_and_map(store: MetricsStore, city) -> None:  # type: ignore[no-untyped-def]
    cell = _cells(city)[0]
    ws = [
        {
            "id": "w1",
            "level": "red",
            "scope": "grid",
            "target": cell,
            "status": "raised",
            "stream": "incidents",
            "category": "fight",
            "detector": "ears",
            "raised_at": NOW - 3 * 3600,
            "observed": 9,
            "expected": 2.5,
            "explanation": "<b>9</b> fights against 2.5 expected",
        }
    ]
    data = EngineData(store, city, warning_list=ws)
    found = warnings_view.filtered(data, None, None, None, None)
    table = warnings_view.warning_table(found, {}, NOW, "en")
    text = _text(table)
    assert "Red" in text and "3 h 0 min" in text and "9 / 2.5" in text and "<b>9</b> fights" in text
    figure, _ = warnings_view.warning_map(data, found, "en")
    assert figure["data"][-1]["mode"] == "markers" and len(figure["data"][-1]["x"]) == 1
    assert "No warnings match" in _text(warnings_view.warning_table([], {}, NOW, "en"))


def test_geometry_route_is_cacheable_and_language_cookie_is_set(store: MetricsStore, city, redis_url) -> None:  # type: ignore[no-untyped-def]
    settings = load_settings(redis_url=redis_url, auth="none")
    app = create_app(settings, store, city)
    client = app.server.test_client()
    geometry = app.server.config["RK_GEOMETRY"]
    first = client.get(geometry.url, headers={"Accept-Encoding": "gzip"})
    assert first.status_code == 200 and "immutable" in first.headers["Cache-Control"]
    assert first.headers.get("Content-Encoding") == "gzip" and len(first.data) < 1_000_000
    again = client.get(geometry.url, headers={"If-None-Match": first.headers["ETag"]})
    assert again.status_code == 304
    assert client.get("/geo/grid-stale.json").status_code == 404
    page = client.get("/rankings?lang=en")
    assert "rk_lang=en" in page.headers.get("Set-Cookie", "")
    context.set_data(Dashboard(store, city))


# ------------------------------------------------------------------------------------------ hazards


@pytest.fixture
def hazard_store(store: MetricsStore, redis_url: str, key_prefix: str, city) -> MetricsStore:  # type: ignore[no-untyped-def]
    """The seeded store with a hazard register written by the pipeline's ledger hook."""
    settings = load_settings(redis_url=redis_url, key_prefix=key_prefix, auth="none")
    assert ingest(settings, city, store, hazard_records(NOW)) == 7
    return store


def _district_of(city, place: int) -> str:  # type: ignore[no-untyped-def]
    return str(city.grids.loc[_cells(city)[place], "district_code"])


@pytest.mark.parametrize(
    ("status", "grade", "ids"),
    [
        ("open", None, ["hz-b-district", "hz-a-late", "hz-b-late", "hz-a-fine", "hz-c-open"]),
        (None, None, ["hz-b-district", "hz-a-late", "hz-b-late", "hz-a-fine", "hz-c-open"]),
        ("nonsense", None, ["hz-b-district", "hz-a-late", "hz-b-late", "hz-a-fine", "hz-c-open"]),
        ("overdue", None, ["hz-b-district", "hz-a-late", "hz-b-late"]),
        ("overdue", "B", ["hz-b-district", "hz-b-late"]),
        ("closed", None, ["hz-d-closed"]),
        ("all", "A", ["hz-a-late", "hz-a-fine"]),
        ("open", "D", []),
    ],
)
def test_register_rows_filter_by_status_and_grade(
    hazard_store: MetricsStore, city, status: str | None, grade: str | None, ids: list[str]  # type: ignore[no-untyped-def]
) -> None:
    rows = hazards_view.register_rows(Dashboard(hazard_store, city), status, grade, None, None)
    assert [h["id"] for h in rows] == ids


def test_register_rows_keep_to_the_users_districts(hazard_store: MetricsStore, city) -> None:  # type: ignore[no-untyped-def]
    data = Dashboard(hazard_store, city)
    yuexiu = _district_of(city, 1)
    assert yuexiu == "440104"
    scoped = frozenset({yuexiu})
    assert [h["id"] for h in hazards_view.register_rows(data, "all", None, None, scoped)] == [
        "hz-b-district",
        "hz-b-late",
    ]
    tianhe = _district_of(city, 0)
    # a district outside the scope matches nothing, even when it has hazards
    assert hazards_view.register_rows(data, "all", None, tianhe, scoped) == []
    assert [h["id"] for h in hazards_view.register_rows(data, "all", None, tianhe, None)] == ["hz-a-late"]
    assert hazards_view.scoped_districts(["440103", "440104", "440106"], scoped) == ["440104"]
    assert hazards_view.scoped_districts(["440103", "440104"], None) == ["440103", "440104"]


def test_hazard_table_shows_register_fields_as_text(hazard_store: MetricsStore, city) -> None:  # type: ignore[no-untyped-def]
    data = Dashboard(hazard_store, city)
    rows = hazards_view.register_rows(data, "all", None, None, None)
    names = {"440104": "Yuexiu"}
    table = hazards_view.hazard_table(rows, names, "en")
    body = table.children[-1].children
    assert len(body) == 6
    first = [_text(cell) for cell in body[0].children]
    assert first[:5] == ["hz-b-district", "B serious", "flood-prone", "Yuexiu", "–"]
    assert first[5] == "reported" and first[8] == "overdue 1 d 12 h" and first[9] == "street"
    assert [_text(row.children[0]) for row in body][3] == "hz-d-closed"  # nearest deadline after the late
    closed = [_text(cell) for cell in body[3].children]
    assert closed[0] == "hz-d-closed" and closed[5] == "verified" and closed[8] == "on time"
    late_row = body[1].children
    assert late_row[4].children.href == f"/grids/{_cells(city)[0]}"  # the cell links to its drill-down
    cut = hazards_view.hazard_table(rows, names, "zh", limit=2)
    assert len(cut.children[-1].children) == 2
    assert hazards_view.count_text(6, "en", limit=2) == "6 hazards; the table shows the first 2 (exports hold all)"
    assert hazards_view.count_text(6, "zh") == "共 6 条"
    assert "No hazards match" in _text(hazards_view.hazard_table([], names, "en"))


def test_hazard_export_csv_and_excel(hazard_store: MetricsStore, city) -> None:  # type: ignore[no-untyped-def]
    import base64

    data = Dashboard(hazard_store, city)
    rows = hazards_view.register_rows(data, "overdue", None, None, None, now=NOW)
    names = {"440104": "越秀区"}
    sent = hazards_view.export_download(rows, names, excel=False, lang="zh", now=NOW)
    assert sent["filename"].startswith("hazards-") and sent["filename"].endswith(".csv")
    table = list(csv.DictReader(io.StringIO(base64.b64decode(sent["content"]).decode("utf-8-sig"))))
    assert [r["编号"] for r in table] == ["hz-b-district", "hz-a-late", "hz-b-late"]
    assert table[0]["区"] == "越秀区" and table[0]["超期"] == "超期" and table[0]["超期小时数"] == "36.0"
    assert table[0]["整改期限"].endswith("+08:00")  # city time
    sent = hazards_view.export_download(rows, names, excel=True, lang="en", now=NOW)
    sheet = openpyxl.load_workbook(io.BytesIO(base64.b64decode(sent["content"]))).active
    header = [c.value for c in sheet[1]]
    assert header[:3] == ["ID", "Grade", "Category"] and sheet.max_row == 4
    assert sheet.cell(3, header.index("Hours overdue") + 1).value == 24.0
    # an id a spreadsheet would run as a formula is exported inert
    frame = hazards_view.export_frame([{"id": "=HYPERLINK(1)", "grade": "A"}], {}, "en")
    assert frame.iloc[0]["ID"] == "'=HYPERLINK(1)"


@pytest.mark.parametrize(
    ("summary", "text", "alarm"),
    [
        ({"open": {"A": 0, "B": 0}, "overdue": {"A": 0, "B": 0}}, "0", False),
        ({"open": {"A": 1, "B": 3, "C": 9}, "overdue": {"A": 0, "B": 2, "C": 9}}, "2", False),
        ({"open": {"A": 2, "B": 2}, "overdue": {"A": 1, "B": 2}}, "3", True),
        ({"open": {}, "overdue": {}}, "0", False),
    ],
)
def test_wall_hazard_counter(summary: dict[str, dict[str, int]], text: str, alarm: bool) -> None:
    counter = hazards_view.hazard_counter(summary, "en")
    assert counter.text == text and counter.alarm is alarm
    assert ("alarm" in counter.class_name.split()) is alarm
    assert counter.detail.startswith("⚠ A-grade hazard overdue") is alarm


@given(
    st.fixed_dictionaries(
        {g: st.integers(0, 10_000) for g in "ABCD"}
    ),
    st.fixed_dictionaries({g: st.integers(0, 10_000) for g in "ABCD"}),
)
def test_wall_hazard_counter_counts_overdue_a_and_b(opened: dict[str, int], overdue: dict[str, int]) -> None:
    counter = hazards_view.hazard_counter({"open": opened, "overdue": overdue}, "zh")
    assert counter.text == f"{overdue['A'] + overdue['B']:,}"
    assert counter.alarm == (overdue["A"] > 0)
    assert (counter.open_a, counter.open_b) == (opened["A"], opened["B"])


def test_wall_hazard_card_from_the_register(hazard_store: MetricsStore, city) -> None:  # type: ignore[no-untyped-def]
    outputs = wall_view.refresh_outputs(Dashboard(hazard_store, city), "index", "en", NOW)
    assert outputs[-3:] == (
        "3",
        "⚠ A-grade hazard overdue · overdue A 1 · B 2 | open A 2 · B 2",
        "counter hazard-counter alarm",
    )


def test_grid_hazard_layer_marks_open_hazards_at_their_cells(hazard_store: MetricsStore, city) -> None:  # type: ignore[no-untyped-def]
    data = Dashboard(hazard_store, city)
    plain = grids_view.map_view(data, "events", "raw", "24h", None, 0, "en", NOW)
    assert "hazards" not in plain.payload
    view = grids_view.map_view(data, "events", "raw", "24h", None, 0, "en", NOW, hazards=True)
    layer = view.payload["hazards"]
    cells = _cells(city)
    centres = city.grids.loc[cells[:4]]
    # open hazards with a cell, most overdue first: hz-a-late, hz-b-late, hz-a-fine, hz-c-open
    assert layer["x"] == centres["lon"].round(5).tolist() and layer["y"] == centres["lat"].round(5).tolist()
    assert layer["colour"] == [theme.HAZARD_GRADE_COLOURS[g] for g in "ABAC"]
    assert layer["symbol"] == ["diamond", "triangle-up", "diamond", "square"]
    assert layer["size"] == [theme.HAZARD_OVERDUE_SIZE] * 2 + [theme.HAZARD_MARKER_SIZE] * 2
    assert layer["line_width"] == [3, 3, 1, 1]
    assert layer["text"][0].startswith("hz-a-late · A major · gas · ") and layer["text"][0].endswith("overdue 1 d 0 h")
    assert layer["text"][3].endswith("on time")
    assert [e["name"] for e in layer["legend"]] == ["A major", "B serious", "C moderate", "D minor"]
    assert "The map shows 4 open hazards, 2 of them overdue. 1 have no cell" in _text(view.summary)
    tianhe = _district_of(city, 0)
    scoped = grids_view.map_view(
        data, "events", "raw", "24h", None, 0, "zh", NOW, hazards=True, allowed=frozenset({tianhe})
    )
    assert len(scoped.payload["hazards"]["x"]) == 1 and "地图显示 1 条未整改隐患" in _text(scoped.summary)
    cut = hazards_view.hazard_layer(data, None, None, "en", limit=1)
    assert len(cut["x"]) == 1 and "only the 1 most overdue are drawn" in cut["summary"]
    assert len(json.dumps(view.payload)) < 300_000


def _export_body(district: str | None) -> dict[str, Any]:
    """The Dash request of a click on the hazard page's CSV button."""
    return {
        "output": "..hazard-download.data...hazard-message.children..",
        "outputs": [
            {"id": "hazard-download", "property": "data"},
            {"id": "hazard-message", "property": "children"},
        ],
        "inputs": [
            {"id": "hazard-csv", "property": "n_clicks", "value": 1},
            {"id": "hazard-xlsx", "property": "n_clicks", "value": None},
        ],
        "changedPropIds": ["hazard-csv.n_clicks"],
        "state": [
            {"id": "hazard-status", "property": "value", "value": "all"},
            {"id": "hazard-grade", "property": "value", "value": None},
            {"id": "hazard-district", "property": "value", "value": district},
            {"id": "rk-lang", "property": "data", "value": "en"},
        ],
    }


def test_hazard_export_needs_the_export_right_keeps_to_scope_and_is_audited(
    redis_url: str, key_prefix: str, city  # type: ignore[no-untyped-def]
) -> None:
    import base64

    from tests.test_auth_access import PASSWORD, csrf_headers, make_site, session_client

    site = make_site(redis_url, city, key_prefix)
    assert ingest(site.settings, city, site.store, hazard_records(NOW)) == 7
    site.users.add("wall-h", "wall", PASSWORD)
    site.users.add("analyst-th-h", "analyst", PASSWORD, ["440106"])

    def answer_of(name: str, district: str | None) -> Any:
        client = session_client(site, name)
        client.get("/")
        return client.post("/_dash-update-component", json=_export_body(district), headers=csrf_headers(client))

    def post(name: str, district: str | None) -> dict[str, Any]:
        answer = answer_of(name, district)
        assert answer.status_code == 200, answer.get_data(as_text=True)
        return answer.json["response"]

    # The request gate refuses a wall display's export before the callback runs.
    denied = answer_of("wall-h", None)
    assert denied.status_code == 403 and "may not export" in denied.json["error"]
    sent = post("analyst-th-h", None)
    body = base64.b64decode(sent["hazard-download"]["data"]["content"]).decode("utf-8-sig")
    assert [r["ID"] for r in csv.DictReader(io.StringIO(body))] == ["hz-a-late"]  # Tianhe's only
    assert sent["hazard-message"]["children"] == "Exported 1 hazards (CSV)"
    outside = post("analyst-th-h", "440104")
    assert base64.b64decode(outside["hazard-download"]["data"]["content"]).decode("utf-8-sig").count("\n") == 1
    exports = [e for e in site.app.server.config["RK_AUDIT"].entries() if e["event"] == "export.hazards"]
    assert [(e["user"], e["rows"], e["district"]) for e in exports] == [
        ("analyst-th-h", "1", ""),
        ("analyst-th-h", "0", "440104"),
    ]
    context.set_data(Dashboard(MetricsStore(site.store.client, prefix=key_prefix), city))
