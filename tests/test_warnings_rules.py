"""Rules beside the statistics: event, counter and share rules of the shipped configuration."""

from __future__ import annotations

import pandas as pd
import pytest

from metrics.warnings.config import RuleSpec, load_config
from metrics.warnings.errors import WarningsConfigError
from metrics.warnings.rules import evaluate_counters, evaluate_events

RULES = load_config().rules


@pytest.mark.parametrize(
    ("event", "fired"),
    [
        (
            {"stream": "incidents", "id": "i1", "category": "fire", "severity": 4, "grid_id": "88x"},
            ["severity4_incident"],
        ),
        ({"stream": "incidents", "id": "i2", "category": "fire", "severity": 3}, []),
        ({"stream": "incidents", "id": "i3", "category": "fire"}, []),  # no severity: no guess
        (
            {
                "stream": "surveillance",
                "id": "s1",
                "category": "fire_smoke",
                "verified": True,
                "confidence": 0.93,
            },
            ["verified_fire_smoke"],
        ),
        (
            {
                "stream": "surveillance",
                "id": "s2",
                "category": "fire_smoke",
                "verified": True,
                "confidence": 0.85,
            },
            [],
        ),
        (
            {
                "stream": "surveillance",
                "id": "s3",
                "category": "fire_smoke",
                "verified": False,
                "confidence": 0.99,
            },
            [],
        ),
        (
            {"stream": "surveillance", "id": "s4", "category": "crowd", "verified": True, "confidence": 0.99},
            [],
        ),
    ],
)
def test_event_rules(event: dict[str, object], fired: list[str]) -> None:
    hits = evaluate_events([event], RULES)
    assert [h.rule for h in hits] == fired
    assert all(h.level == 4 for h in hits)


def test_event_hit_area_falls_back_to_district_then_city() -> None:
    ev = {"stream": "incidents", "id": "i1", "category": "fire", "severity": 4}
    assert evaluate_events([ev | {"district": "440106"}], RULES)[0].target == "440106"
    assert evaluate_events([ev], RULES)[0].scope == "city"


def test_share_rule_on_hotline_sla_breaches() -> None:
    frame = pd.DataFrame(
        {
            "hotline.noise.resp_n": [50.0, 10.0, 40.0],
            "hotline.noise.resp_sla": [30.0, 0.0, 36.0],
            "hotline.water.resp_n": [0.0, 0.0, 25.0],
            "hotline.water.resp_sla": [0.0, 0.0, 10.0],
        },
        index=pd.Index(["440103", "440104", "440105"], name="district_code"),
    )
    hits = evaluate_counters(frame, "district", RULES)
    got = sorted((h.target, h.category, round(h.value, 3)) for h in hits)
    # 440103 noise 40 % breached; 440104 has too few responses; 440105 water 60 % breached, noise 10 %
    assert got == [("440103", "noise", 0.4), ("440105", "water", 0.6)]
    assert {h.level for h in hits} == {2}


def test_counter_rule() -> None:
    rule = RuleSpec(name="s4", kind="counter", level="red", stream="incidents", counter="s4", threshold=1)
    frame = pd.DataFrame({"incidents.fire.s4": [0.0, 2.0], "incidents.fire.n": [5.0, 9.0]}, index=["a", "b"])
    hits = evaluate_counters(frame, "grid", [rule])
    assert [(h.target, h.value) for h in hits] == [("b", 2.0)]


def test_bad_rule_kind_is_reported() -> None:
    rule = RuleSpec(name="odd", kind="sometimes", level="red", stream="incidents")
    with pytest.raises(WarningsConfigError, match="kind must be"):
        evaluate_counters(pd.DataFrame(), "grid", [rule])
