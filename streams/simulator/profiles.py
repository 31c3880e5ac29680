"""The simulator's baseline parameters as plain tables: what happens, when, and how it unfolds.

Everything here is data, not code that draws random numbers: category mixes per stream, the daily and
weekly shape of each category, severities, hazard grades and deadlines, which kinds of place attract
which categories, hotline SLAs and text templates. :mod:`streams.simulator.model` turns them into
intensities; tests compare generated days against them.

Shares are fractions that sum to 1 within their table (checked at import). Daily shapes are normalised
to a mean of 1 over the 24 local hours, weekly shapes to a mean of 1 over Monday..Sunday, so
``events_per_day × stream share × category share`` is the long-run daily mean of a category outside
holidays.
"""

from __future__ import annotations

import math
from typing import Final

from streams.schemas import CATEGORIES, STAGES, STREAMS

__all__ = [
    "CATEGORY_ORDER",
    "CATEGORY_SHARES",
    "DAILY_SHAPES",
    "GRADE_DEADLINE_DAYS",
    "GRADE_PROBS",
    "HOLIDAY_FACTOR",
    "HOURLY",
    "PLACE_AFFINITY",
    "PLACE_KINDS",
    "SEVERITY_PROBS",
    "SLA_HOURS",
    "SPATIAL_GAMMA",
    "SPRING_FESTIVAL_FACTOR",
    "STREAM_SHARES",
    "TEXT_TEMPLATES",
    "WEEKLY",
    "WEEKLY_SHAPES",
    "category_index",
]

STREAM_SHARES: Final[dict[str, float]] = {
    "incidents": 0.20,
    "surveillance": 0.32,
    "hotline": 0.46,
    "hazards": 0.02,
}
"""Share of each stream in the city's events (first-stage records)."""

CATEGORY_SHARES: Final[dict[str, dict[str, float]]] = {
    "incidents": {
        "theft": 0.22,
        "robbery": 0.02,
        "assault": 0.05,
        "fight": 0.09,
        "traffic_accident": 0.20,
        "fire": 0.03,
        "public_disorder": 0.08,
        "dispute": 0.15,
        "fraud": 0.10,
        "other": 0.06,
    },
    "surveillance": {
        "crowd_gathering": 0.06,
        "fight": 0.03,
        "fire_smoke": 0.015,
        "intrusion": 0.07,
        "illegal_parking": 0.28,
        "street_vending": 0.16,
        "garbage_overflow": 0.14,
        "road_obstruction": 0.10,
        "waterlogging": 0.02,
        "other": 0.125,
    },
    "hotline": {
        "noise": 0.14,
        "sanitation": 0.10,
        "property_management": 0.13,
        "labor_dispute": 0.06,
        "neighbour_dispute": 0.06,
        "traffic": 0.10,
        "public_security": 0.05,
        "illegal_construction": 0.06,
        "environment": 0.08,
        "consultation": 0.16,
        "other": 0.06,
    },
    "hazards": {
        "gas": 0.08,
        "fire_safety": 0.25,
        "structural": 0.08,
        "construction_site": 0.17,
        "hazardous_chemicals": 0.05,
        "flood_prone": 0.06,
        "electrical": 0.13,
        "road_traffic": 0.09,
        "crowd_venue": 0.05,
        "other": 0.04,
    },
}
"""Stream -> category -> share of the stream's baseline events. Key order is the category order."""

CATEGORY_ORDER: Final[dict[str, tuple[str, ...]]] = {s: tuple(CATEGORY_SHARES[s]) for s in STREAMS}
"""Stream -> categories in a fixed order (array index of a category in the generator)."""


def category_index(stream: str, category: str) -> int:
    """Position of ``category`` in ``CATEGORY_ORDER[stream]``; ValueError names the vocabulary."""
    order = CATEGORY_ORDER[stream]
    try:
        return order.index(category)
    except ValueError:
        raise ValueError(
            f"unknown {stream} category {category!r}; expected one of {', '.join(order)}"
        ) from None


def _shape(base: float, bumps: tuple[tuple[float, float, float], ...]) -> tuple[float, ...]:
    """A daily shape: ``base`` plus circular Gaussian bumps (peak hour, width h, amplitude), mean 1.

    Evaluated at each hour's midpoint, so hour 22 is the rate of 22:00-23:00 local time.
    """
    values = []
    for hour in range(24):
        t = hour + 0.5
        v = base
        for peak, width, amp in bumps:
            d = min(abs(t - peak), 24 - abs(t - peak))
            v += amp * math.exp(-0.5 * (d / width) ** 2)
        values.append(v)
    mean = sum(values) / 24
    return tuple(v / mean for v in values)


DAILY_SHAPES: Final[dict[str, tuple[float, ...]]] = {
    # office hours with a lunch dip: most hotline work
    "office": _shape(0.15, ((10.0, 1.8, 1.0), (15.0, 2.0, 0.9), (20.0, 1.8, 0.35))),
    # complaints about noise peak late in the evening, with a tail past midnight
    "night_noise": _shape(0.15, ((22.5, 1.8, 1.5), (1.0, 1.5, 0.6), (13.0, 2.5, 0.3))),
    # commuting peaks
    "rush": _shape(0.3, ((8.0, 1.1, 1.0), (18.0, 1.3, 1.1), (13.0, 2.5, 0.35))),
    # evening street vending, a smaller lunchtime market
    "evening_vending": _shape(0.05, ((19.5, 2.0, 1.2), (12.0, 1.3, 0.35))),
    # nightlife: fights and disorder
    "nightlife": _shape(0.3, ((23.0, 2.3, 1.0), (2.0, 1.5, 0.6), (15.0, 3.0, 0.3))),
    "daytime": _shape(0.25, ((11.0, 2.8, 0.8), (16.5, 2.8, 0.8))),
    # inspections and site work: almost nothing at night
    "worktime": _shape(0.03, ((10.0, 1.8, 1.0), (15.0, 2.0, 1.0))),
    # bins overflow before the morning collection
    "morning": _shape(0.2, ((7.5, 1.5, 1.0), (19.0, 2.0, 0.5))),
    "evening_crowd": _shape(0.2, ((12.0, 2.0, 0.5), (20.0, 2.3, 1.0))),
    "night_intrusion": _shape(0.3, ((2.0, 2.8, 1.0),)),
    "flat": _shape(1.0, ()),
}
"""Named daily shapes: 24 factors for local hours 0..23, mean 1."""


def _week(values: tuple[float, ...]) -> tuple[float, ...]:
    mean = sum(values) / 7
    return tuple(v / mean for v in values)


WEEKLY_SHAPES: Final[dict[str, tuple[float, ...]]] = {
    # Monday first; office-bound channels drop at weekends
    "office": _week((1.10, 1.08, 1.06, 1.05, 1.02, 0.72, 0.62)),
    "leisure": _week((0.90, 0.90, 0.92, 0.95, 1.10, 1.25, 1.15)),
    "traffic": _week((1.02, 1.00, 1.00, 1.02, 1.10, 0.95, 0.85)),
    "work": _week((1.20, 1.20, 1.20, 1.15, 1.10, 0.45, 0.30)),
    "flat": _week((1.0,) * 7),
}
"""Named weekly shapes: 7 factors Monday..Sunday, mean 1."""

HOLIDAY_FACTOR: Final[dict[str, float]] = {
    "office": 0.50,
    "leisure": 1.35,
    "traffic": 0.90,
    "work": 0.20,
    "flat": 1.00,
}
"""Weekly shape -> factor on a public holiday (make-up workdays count as ordinary workdays)."""

SPRING_FESTIVAL_FACTOR: Final[float] = 0.60
"""Extra factor on every category during the Spring Festival holiday: many residents leave the city."""

_CATEGORY_TIME: Final[dict[str, dict[str, tuple[str, str]]]] = {
    "incidents": {
        "theft": ("daytime", "leisure"),
        "robbery": ("nightlife", "flat"),
        "assault": ("nightlife", "leisure"),
        "fight": ("nightlife", "leisure"),
        "traffic_accident": ("rush", "traffic"),
        "fire": ("daytime", "flat"),
        "public_disorder": ("nightlife", "leisure"),
        "dispute": ("daytime", "flat"),
        "fraud": ("daytime", "office"),
        "other": ("daytime", "flat"),
    },
    "surveillance": {
        "crowd_gathering": ("evening_crowd", "leisure"),
        "fight": ("nightlife", "leisure"),
        "fire_smoke": ("flat", "flat"),
        "intrusion": ("night_intrusion", "flat"),
        "illegal_parking": ("daytime", "traffic"),
        "street_vending": ("evening_vending", "leisure"),
        "garbage_overflow": ("morning", "leisure"),
        "road_obstruction": ("daytime", "work"),
        "waterlogging": ("flat", "flat"),
        "other": ("daytime", "flat"),
    },
    "hotline": {
        "noise": ("night_noise", "leisure"),
        "sanitation": ("office", "office"),
        "property_management": ("office", "office"),
        "labor_dispute": ("office", "office"),
        "neighbour_dispute": ("office", "office"),
        "traffic": ("rush", "office"),
        "public_security": ("nightlife", "flat"),
        "illegal_construction": ("office", "office"),
        "environment": ("office", "office"),
        "consultation": ("office", "office"),
        "other": ("office", "office"),
    },
    "hazards": {c: ("worktime", "work") for c in CATEGORY_SHARES["hazards"]},
}

HOURLY: Final[dict[str, tuple[tuple[float, ...], ...]]] = {
    s: tuple(DAILY_SHAPES[_CATEGORY_TIME[s][c][0]] for c in CATEGORY_ORDER[s]) for s in STREAMS
}
"""Stream -> per category (in CATEGORY_ORDER) the 24 local-hour factors."""

WEEKLY: Final[dict[str, tuple[str, ...]]] = {
    s: tuple(_CATEGORY_TIME[s][c][1] for c in CATEGORY_ORDER[s]) for s in STREAMS
}
"""Stream -> per category the name of its weekly shape (also selects its holiday factor)."""

PLACE_KINDS: Final[tuple[str, ...]] = ("market", "transit_hub", "construction_site", "industrial_park")
"""Kinds of fixed place that generate recurring events."""

PLACES_PER_100K: Final[dict[str, float]] = {
    "market": 2.5,
    "transit_hub": 0.6,
    "construction_site": 1.5,
    "industrial_park": 0.4,
}
"""Places of each kind per 100,000 residents (at least one of each kind in a city)."""

PLACE_GAMMA: Final[dict[str, float]] = {
    "market": 1.0,
    "transit_hub": 1.3,
    "construction_site": 0.7,
    "industrial_park": 0.4,
}
"""Places are sited on cells with probability ∝ cell weight ** gamma: <1 pushes them outwards."""

PLACE_AFFINITY: Final[dict[str, dict[str, dict[str, float]]]] = {
    "incidents": {
        "theft": {"transit_hub": 0.25, "market": 0.20},
        "fight": {"transit_hub": 0.15},
        "public_disorder": {"transit_hub": 0.20, "market": 0.10},
        "dispute": {"market": 0.10},
        "fire": {"industrial_park": 0.10},
    },
    "hotline": {
        "noise": {"construction_site": 0.25},
        "sanitation": {"market": 0.25},
        "labor_dispute": {"industrial_park": 0.50, "construction_site": 0.15},
        "illegal_construction": {"construction_site": 0.20},
        "environment": {"industrial_park": 0.20, "construction_site": 0.10},
        "traffic": {"transit_hub": 0.10},
    },
    "hazards": {
        "construction_site": {"construction_site": 0.80},
        "hazardous_chemicals": {"industrial_park": 0.60},
        "fire_safety": {"industrial_park": 0.20, "market": 0.20},
        "electrical": {"industrial_park": 0.20},
        "crowd_venue": {"transit_hub": 0.50, "market": 0.30},
        "gas": {"market": 0.15},
        "road_traffic": {"transit_hub": 0.10},
    },
}
"""Stream -> category -> place kind -> share of the category's events at places of that kind."""

CAMERA_AFFINITY: Final[dict[str, dict[str, float]]] = {
    "market": {"street_vending": 4.0, "garbage_overflow": 2.0, "crowd_gathering": 1.5},
    "transit_hub": {"crowd_gathering": 4.0, "fight": 1.5, "illegal_parking": 1.5},
    "construction_site": {"road_obstruction": 3.0, "intrusion": 2.0, "fire_smoke": 1.5},
    "industrial_park": {"intrusion": 2.0, "fire_smoke": 2.0},
    "street": {},
}
"""Camera site kind -> surveillance category -> rate multiplier (1 when absent)."""

SURVEILLANCE_FALSE_FACTOR: Final[dict[str, float]] = {
    "crowd_gathering": 1.0,
    "fight": 1.6,
    "fire_smoke": 1.4,
    "intrusion": 1.3,
    "illegal_parking": 0.5,
    "street_vending": 0.8,
    "garbage_overflow": 0.7,
    "road_obstruction": 0.9,
    "waterlogging": 0.8,
    "other": 1.2,
}
"""Category -> multiplier on a camera's false-alarm share (fights and smoke are hard to recognise)."""

SPATIAL_GAMMA: Final[dict[str, dict[str, float]]] = {
    "hotline": {"noise": 1.2, "illegal_construction": 0.6, "environment": 0.8},
    "incidents": {"theft": 1.15, "traffic_accident": 0.85},
    "hazards": {"flood_prone": 0.6, "hazardous_chemicals": 0.6, "structural": 0.9},
}
"""Stream -> category -> exponent on the within-district cell weight: >1 concentrates in the cores."""

SEVERITY_PROBS: Final[dict[str, tuple[float, float, float, float]]] = {
    "theft": (0.57, 0.35, 0.079, 0.001),
    "robbery": (0.10, 0.35, 0.53, 0.02),
    "assault": (0.20, 0.45, 0.34, 0.01),
    "fight": (0.35, 0.45, 0.198, 0.002),
    "traffic_accident": (0.50, 0.32, 0.177, 0.003),
    "fire": (0.30, 0.40, 0.285, 0.015),
    "public_disorder": (0.53, 0.35, 0.118, 0.002),
    "dispute": (0.62, 0.30, 0.0795, 0.0005),
    "fraud": (0.45, 0.40, 0.149, 0.001),
    "other": (0.62, 0.30, 0.079, 0.001),
}
"""Incident category -> probabilities of severity 1, 2, 3, 4. Severity 4 (the most serious: homicide, a
major fire, mass casualties) is rare — a few a day city-wide, each one a red warning at once."""

GRADE_PROBS: Final[dict[str, tuple[float, float, float, float]]] = {
    "gas": (0.08, 0.22, 0.40, 0.30),
    "hazardous_chemicals": (0.10, 0.25, 0.40, 0.25),
    "structural": (0.06, 0.20, 0.40, 0.34),
    "flood_prone": (0.04, 0.15, 0.40, 0.41),
    "fire_safety": (0.03, 0.14, 0.38, 0.45),
    "construction_site": (0.03, 0.12, 0.35, 0.50),
    "electrical": (0.03, 0.12, 0.35, 0.50),
    "road_traffic": (0.02, 0.10, 0.33, 0.55),
    "crowd_venue": (0.04, 0.14, 0.37, 0.45),
    "other": (0.02, 0.08, 0.30, 0.60),
}
"""Hazard category -> probabilities of grade A, B, C, D."""

GRADE_DEADLINE_DAYS: Final[dict[str, float]] = {"A": 3.0, "B": 7.0, "C": 15.0, "D": 30.0}
"""Rectification deadline after the report, by grade (days)."""

SLA_HOURS: Final[dict[str, float]] = {
    "noise": 24.0,
    "sanitation": 24.0,
    "property_management": 48.0,
    "labor_dispute": 72.0,
    "neighbour_dispute": 48.0,
    "traffic": 24.0,
    "public_security": 12.0,
    "illegal_construction": 72.0,
    "environment": 48.0,
    "consultation": 24.0,
    "other": 24.0,
}
"""Hotline category -> response deadline after creation (hours), sent as ``sla_hours``."""

RESOLVE_FACTOR: Final[dict[str, float]] = {
    "labor_dispute": 3.0,
    "illegal_construction": 2.5,
    "property_management": 1.8,
    "neighbour_dispute": 1.5,
    "environment": 1.4,
    "consultation": 0.3,
    "public_security": 0.6,
}
"""Hotline category -> factor on the district's median resolution time (1 when absent)."""

TEXT_TEMPLATES: Final[dict[str, tuple[str, ...]]] = {
    "noise": (
        "{area}{spot}夜间施工噪音扰民，已持续{n}天，请尽快处理。",
        "{area}{spot}附近商铺音响声音过大，晚上无法休息。",
    ),
    "sanitation": ("{area}{spot}垃圾堆放{n}天无人清运，气味难闻。", "{area}{spot}周边卫生差，蚊虫多。"),
    "property_management": ("{area}{spot}物业不作为，电梯故障{n}天未修。", "{area}{spot}物业乱收费。"),
    "labor_dispute": ("{area}{spot}拖欠工资{n}个月，多名工人讨薪无果。", "{area}{spot}公司未签劳动合同。"),
    "neighbour_dispute": ("{area}{spot}楼上住户漏水，协商不成。", "{area}{spot}邻居占用公共走道。"),
    "traffic": ("{area}{spot}路口信号灯故障，交通拥堵。", "{area}{spot}违停严重，影响通行。"),
    "public_security": ("{area}{spot}深夜有人聚集喧哗，担心治安。", "{area}{spot}发现可疑人员徘徊。"),
    "illegal_construction": ("{area}{spot}有人违规加建{n}层。", "{area}{spot}天台私搭乱建。"),
    "environment": ("{area}{spot}工厂排放废气，有刺鼻气味。", "{area}{spot}河涌发黑发臭。"),
    "consultation": ("咨询{area}社保办理流程。", "咨询{area}{spot}附近学位政策。"),
    "other": ("{area}{spot}有其他问题需要反映。", "<b>紧急</b> {area}{spot}情况请回电"),
}
"""Hotline category -> ticket text templates. Slots: area (district name), spot, n. One template
carries HTML markup on purpose: ticket text is untrusted and must never be rendered as HTML."""

TEXT_SPOTS: Final[tuple[str, ...]] = (
    "某小区",
    "某路口",
    "市场旁",
    "地铁站附近",
    "工业园",
    "城中村",
    "学校门口",
)
"""Vague location phrases for ticket texts (no real addresses)."""


def _check() -> None:
    """Fail at import when a table disagrees with the contract vocabulary or does not sum to 1."""
    if abs(sum(STREAM_SHARES.values()) - 1) > 1e-9 or set(STREAM_SHARES) != set(STREAMS):
        raise AssertionError("STREAM_SHARES must name the four streams and sum to 1")
    for stream, shares in CATEGORY_SHARES.items():
        if set(shares) != set(CATEGORIES[stream]):
            raise AssertionError(f"CATEGORY_SHARES[{stream}] differs from streams.schemas.CATEGORIES")
        if abs(sum(shares.values()) - 1) > 1e-9:
            raise AssertionError(f"CATEGORY_SHARES[{stream}] sums to {sum(shares.values())}, not 1")
        for cat, kinds in PLACE_AFFINITY.get(stream, {}).items():
            if cat not in shares or sum(kinds.values()) >= 1 or not set(kinds) <= set(PLACE_KINDS):
                raise AssertionError(f"PLACE_AFFINITY[{stream}][{cat}] is inconsistent")
    for table in (SEVERITY_PROBS, GRADE_PROBS):
        for key, probs in table.items():
            if abs(sum(probs) - 1) > 1e-9:
                raise AssertionError(f"probabilities of {key} sum to {sum(probs)}, not 1")
    if set(SEVERITY_PROBS) != set(CATEGORIES["incidents"]) or set(GRADE_PROBS) != set(CATEGORIES["hazards"]):
        raise AssertionError("SEVERITY_PROBS / GRADE_PROBS must cover every category")
    if set(SLA_HOURS) != set(CATEGORIES["hotline"]):
        raise AssertionError("SLA_HOURS must cover every hotline category")
    if STAGES["hotline"][0] != "created":
        raise AssertionError("hotline lifecycle changed; update streams.simulator.lifecycle")


_check()
