"""API answers and index attributes over register entries, and the engine on in-memory collaborators."""

from __future__ import annotations

from typing import Any

import pytest

from metrics.hazards.config import default_config
from metrics.hazards.engine import HazardsEngine
from metrics.hazards.errors import HazardQueryError
from metrics.hazards.sweep import WarningDescriptor
from metrics.hazards.views import index_attributes, list_hazards, summary
from tests.test_hazards_sweep import CELL, T0, H, entry

NOW = T0 + 100 * H
OTHER_CELL = "88411c8d39fffff"

ENTRIES = [
    entry("a-late", "A", due_h=72),  # overdue 28 h: district
    entry("a-fine", "A", due_h=200, grid=OTHER_CELL),
    entry("b-late", "B", due_h=90, district="440104", grid=None),
    entry("c-open", "C", due_h=300),
    entry("d-closed", "D", due_h=50, closed_h=60),
    entry("b-closed-late", "B", due_h=10, closed_h=90),
]


@pytest.mark.parametrize(("status", "district", "ids"), [
    ("open", None, ["a-late", "b-late", "a-fine", "c-open"]),
    ("overdue", None, ["a-late", "b-late"]),
    ("closed", None, ["b-closed-late", "d-closed"]),
    ("all", None, ["a-late", "b-late", "b-closed-late", "d-closed", "a-fine", "c-open"]),
    ("open", "440104", ["b-late"]),
    ("overdue", "440106", ["a-late"]),
    ("all", "440113", []),
])
def test_list_hazards_filters_and_orders(status: str, district: str | None, ids: list[str]) -> None:
    answer = list_hazards(ENTRIES, NOW, status, district)
    assert [h["id"] for h in answer["hazards"]] == ids


def test_list_hazards_fields() -> None:
    hazards = {h["id"]: h for h in list_hazards(ENTRIES, NOW, "all")["hazards"]}
    late = hazards["a-late"]
    assert {k: late[k] for k in ("id", "grade", "category", "district", "grid", "stage", "due", "overdue",
                                 "escalation")} == {
        "id": "a-late", "grade": "A", "category": "gas", "district": "440106", "grid": CELL,
        "stage": "reported", "due": "2025-06-18T15:06:40+00:00", "overdue": True, "escalation": "district",
    }
    assert late["overdue_hours"] == 28.0
    assert hazards["b-late"]["grid"] is None and hazards["b-late"]["escalation"] == "street"
    assert hazards["d-closed"]["overdue"] is False and hazards["d-closed"]["escalation"] == "none"
    assert hazards["b-closed-late"]["escalation"] == "district"  # 80 h late when verified
    assert len(list_hazards(ENTRIES, NOW, "all", limit=2)["hazards"]) == 2


@pytest.mark.parametrize("bad", ["OPEN", "late", ""])
def test_unknown_status_is_a_query_error(bad: str) -> None:
    with pytest.raises(HazardQueryError, match="status must be one of"):
        list_hazards(ENTRIES, NOW, bad)


@pytest.mark.parametrize(("district", "expected"), [
    (None, {"open": {"A": 2, "B": 1, "C": 1, "D": 0}, "overdue": {"A": 1, "B": 1, "C": 0, "D": 0}}),
    ("440104", {"open": {"A": 0, "B": 1, "C": 0, "D": 0}, "overdue": {"A": 0, "B": 1, "C": 0, "D": 0}}),
    ("440113", {"open": {"A": 0, "B": 0, "C": 0, "D": 0}, "overdue": {"A": 0, "B": 0, "C": 0, "D": 0}}),
])
def test_summary(district: str | None, expected: dict[str, dict[str, int]]) -> None:
    assert summary(ENTRIES, NOW, district) == expected


def test_index_attributes() -> None:
    attrs = index_attributes(ENTRIES, NOW, district_codes=["440106", "440104", "440113"],
                             grid_ids=[CELL, OTHER_CELL, "nowhere"])
    district = attrs["district"]
    assert district.index.name == "district_code"
    # 440106: a-late (A, 8) + a-fine (A, 8) + c-open (C, 2); one of three overdue
    assert district.loc["440106", "hazards_open_weighted"] == 18.0
    assert district.loc["440106", "hazards_overdue_share"] == pytest.approx(1 / 3)
    assert district.loc["440104"].tolist() == [4.0, 1.0, 1.0, 1.0]
    assert district.loc["440113"].tolist() == [0.0, 0.0, 0.0, 0.0]
    grid = attrs["grid"]
    assert grid.index.name == "grid_id"
    assert grid.loc[CELL, "hazards_open_weighted"] == 10.0 and grid.loc[CELL, "hazards_overdue_share"] == 0.5
    assert grid.loc[OTHER_CELL, "hazards_overdue_share"] == 0.0
    assert grid.loc["nowhere", "hazards_open"] == 0.0
    assert attrs["city"].loc["city", "hazards_open_weighted"] == 22.0
    assert attrs["city"].loc["city", "hazards_overdue_share"] == 0.5


class MemoryLog:
    def __init__(self) -> None:
        self.steps: dict[str, dict[str, Any]] = {}
        self.forgotten: list[str] = []

    def recorded_steps(self) -> set[str]:
        return set(self.steps)

    def record_steps(self, steps: list[dict[str, Any]]) -> None:
        self.steps.update({s["step"]: s for s in steps})

    def forget_steps(self, hazard_ids: list[str]) -> None:
        self.forgotten += hazard_ids


class MemoryRegister:
    def __init__(self, entries: dict[str, bytes]) -> None:
        self.entries = entries

    def hazard_entries(self) -> list[bytes]:
        return list(self.entries.values())

    def drop_hazards(self, ids: list[str]) -> None:
        for hazard_id in ids:
            del self.entries[hazard_id]


def test_engine_raises_each_warning_once_and_drops_expired() -> None:
    register = MemoryRegister({"a-late": ENTRIES[0], "b-late": ENTRIES[2], "old": entry("old", closed_h=1)})
    log = MemoryLog()
    raised: list[WarningDescriptor] = []
    engine = HazardsEngine(register, log, raised.append, drop_hazards=register.drop_hazards,
                           clock=lambda: NOW, district_codes=["440106", "440104"])
    report = engine.run_once()
    assert (report.hazards, report.open, report.overdue, report.warnings) == (3, 2, 2, 2)
    assert sorted((w.hazard_id, w.level) for w in raised) == [("a-late", "red"), ("b-late", "orange")]
    assert "a-late|escalate:district|" + str(round(T0 + 72 * H)) in log.steps
    assert report.dropped == 0  # "old" closed 99 h ago, well within 400 days
    again = engine.run_once(NOW + 60)
    assert (again.steps, again.warnings) == (0, 0) and len(raised) == 2
    later = engine.run_once(NOW + 401 * 86400)
    assert later.dropped == 1 and "old" not in register.entries and log.forgotten == ["old"]
    assert [s["detail"] for s in log.steps.values() if s["hazard"] == "a-late" and s["kind"] == "escalate"] \
        == ["street", "district", "city"]
    attrs = engine.attributes(NOW)
    assert attrs["district"].loc["440106", "hazards_open_weighted"] == 8.0


def test_engine_records_steps_after_raising() -> None:
    """A warnings store that fails leaves the steps unrecorded, so the next run raises again."""
    log = MemoryLog()

    def failing(_: WarningDescriptor) -> None:
        raise RuntimeError("warnings store down")

    engine = HazardsEngine(MemoryRegister({"a": ENTRIES[0]}), log, failing, config=default_config())
    with pytest.raises(RuntimeError):
        engine.run_once(NOW)
    assert log.steps == {}
