"""Named disturbances injected on top of the baseline, configured in TOML and labelled as ground truth.

A scenario file holds ``[[scenario]]`` tables (see ``scenarios.toml`` beside this module for the
defaults). Each names a ``kind`` that supplies defaults for where, when and what:

- ``crowd_surge``: around the site of a place (default the busiest transit hub of ``district``) or
  ``lon``/``lat``, within ``radius_km``; a peak; crowd alerts, disorder, fights, theft, hotline calls.
- ``waterlogging``: every cell of ``district`` after a rainstorm; decaying; waterlogging alerts, hotline
  environment/traffic tickets, traffic accidents, flood-prone hazards.
- ``labour_dispute``: one place (default the busiest industrial park of ``district``) and a small pool of
  repeat callers; flat over office hours; labour-dispute tickets and disputes.
- ``noise_rise``: one grid cell (``grid_id``, or the ``grid_rank``-th busiest cell of ``district``); a
  linear rise over night hours; noise tickets.
- ``custom``: any of the above places given explicitly, any shape; ``mix`` required.

Times are ISO 8601 with an offset, or relative to the run's ``--until`` (``"-2d"``, ``"+30m"``, ``"0"``);
``duration`` is ``"90m"``, ``"3h"``, ``"7d"``. ``events`` is the expected number of injected events.

Validation errors name the file, the line and the field. The injected events are ordinary records;
only the ground-truth file says which scenario made them.
"""

from __future__ import annotations

import datetime as dt
import re
import tomllib
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import numpy as np

from kapok.errors import ConfigError
from streams.schemas import CATEGORIES, STREAMS
from streams.simulator.lifecycle import EventFrame
from streams.simulator.model import HOUR, LOCAL_OFFSET_S, P_SCENARIO, hour_rng, scatter_in_cells
from streams.simulator.profiles import CATEGORY_ORDER, HOURLY, PLACE_KINDS
from streams.simulator.world import World, km_offsets

__all__ = [
    "DEFAULT_SCENARIOS_FILE",
    "KINDS",
    "ScenarioError",
    "ScenarioPlan",
    "ScenarioSpec",
    "load_scenarios",
    "parse_scenarios",
    "plan_scenarios",
]

DEFAULT_SCENARIOS_FILE: Final[Path] = Path(__file__).with_name("scenarios.toml")

KINDS: Final[dict[str, dict[str, Any]]] = {
    "crowd_surge": {
        "area": "site",
        "place_kind": "transit_hub",
        "radius_km": 0.6,
        "shape": "peak",
        "daily_profile": False,
        "callers": 0,
        "mix": {
            "surveillance.crowd_gathering": 0.45,
            "surveillance.fight": 0.05,
            "incidents.public_disorder": 0.15,
            "incidents.fight": 0.05,
            "incidents.theft": 0.05,
            "hotline.public_security": 0.15,
            "hotline.traffic": 0.10,
        },
    },
    "waterlogging": {
        "area": "district",
        "radius_km": 0.0,
        "shape": "decay",
        "daily_profile": False,
        "callers": 0,
        "mix": {
            "surveillance.waterlogging": 0.40,
            "surveillance.road_obstruction": 0.05,
            "hotline.environment": 0.15,
            "hotline.traffic": 0.15,
            "incidents.traffic_accident": 0.15,
            "hazards.flood_prone": 0.10,
        },
    },
    "labour_dispute": {
        "area": "place",
        "place_kind": "industrial_park",
        "radius_km": 0.05,
        "shape": "flat",
        "daily_profile": True,
        "callers": 30,
        "mix": {"hotline.labor_dispute": 0.9, "incidents.dispute": 0.1},
    },
    "noise_rise": {
        "area": "grid",
        "radius_km": 0.0,
        "shape": "ramp",
        "daily_profile": True,
        "callers": 8,
        "mix": {"hotline.noise": 1.0},
    },
    "custom": {
        "area": None,
        "radius_km": 0.5,
        "shape": "flat",
        "daily_profile": False,
        "callers": 0,
        "mix": None,
    },
}
"""Scenario kinds and their defaults."""

SHAPES: Final[tuple[str, ...]] = ("peak", "flat", "decay", "ramp")

_FIELDS: Final[dict[str, tuple[type | tuple[type, ...], str]]] = {
    "name": (str, "a unique name"),
    "kind": (str, f"one of {', '.join(KINDS)}"),
    "start": (str, 'ISO 8601 with offset, or relative to --until like "-2d" or "+30m"'),
    "duration": (str, 'a duration like "90m", "3h", "7d"'),
    "events": ((int, float), "the expected number of injected events (> 0)"),
    "district": (str, "a district code, or its English or Chinese name"),
    "place_kind": (str, f"one of {', '.join(PLACE_KINDS)}"),
    "place_rank": (int, "1 for the busiest place of that kind, 2 for the next …"),
    "lon": ((int, float), "GCJ-02 longitude of the site"),
    "lat": ((int, float), "GCJ-02 latitude of the site"),
    "grid_id": (str, "a grid cell id of the city model"),
    "grid_rank": (int, "1 for the busiest cell of the district, 2 for the next …"),
    "radius_km": ((int, float), "spread around the site in km (> 0)"),
    "shape": (str, f"one of {', '.join(SHAPES)}"),
    "daily_profile": (bool, "true to follow the categories' hours of the day"),
    "callers": (int, "size of the pool of repeat callers (0: the city's general pool)"),
    "mix": (dict, 'a table of "stream.category" = weight'),
}

_REL = re.compile(r"^\s*([+-]?)\s*(\d+(?:\.\d+)?)\s*([smhd])\s*$")
_UNIT_S: Final = {"s": 1, "m": 60, "h": 3600, "d": 86400}


class ScenarioError(ConfigError):
    """A scenario file is wrong; the message names the file, line and field."""


@dataclass(frozen=True)
class ScenarioSpec:
    """One validated ``[[scenario]]`` table, before it is placed in a city and a time."""

    name: str
    kind: str
    start: str
    duration_s: int
    events: float
    area: str
    district: str | None
    place_kind: str | None
    place_rank: int
    lon: float | None
    lat: float | None
    grid_id: str | None
    grid_rank: int
    radius_km: float
    shape: str
    daily_profile: bool
    callers: int
    mix: tuple[tuple[str, str, float], ...]
    line: int


def _duration(text: str) -> int | None:
    m = _REL.match(text)
    if not m or m.group(1):
        return None
    return round(float(m.group(2)) * _UNIT_S[m.group(3)])


def resolve_time(text: str, until: float) -> float | None:
    """Epoch seconds of a scenario time: ISO 8601 with offset, or relative to ``until``; None if neither."""
    if text.strip() in ("0", "now"):
        return until
    m = _REL.match(text)
    if m:
        sign = -1 if m.group(1) == "-" else 1
        return until + sign * float(m.group(2)) * _UNIT_S[m.group(3)]
    try:
        parsed = dt.datetime.fromisoformat(text)
    except ValueError:
        return None
    return parsed.timestamp() if parsed.tzinfo is not None else None


class _Lines:
    """Finds the line of a scenario table or of one of its keys, for error messages."""

    def __init__(self, text: str) -> None:
        self.lines = text.splitlines()
        self.headers = [
            i + 1 for i, line in enumerate(self.lines) if re.match(r"^\s*\[\[\s*scenario\s*\]\]", line)
        ]

    def of(self, index: int, key: str | None = None) -> int:
        if index >= len(self.headers):
            return 1
        start = self.headers[index]
        end = self.headers[index + 1] if index + 1 < len(self.headers) else len(self.lines) + 1
        if key is not None:
            pattern = re.compile(rf'^\s*(\[\s*scenario\.)?"?{re.escape(key)}"?\s*(=|\])')
            for n in range(start, end):
                if pattern.match(self.lines[n - 1]):
                    return n
        return start


def parse_scenarios(text: str, source: str = "<scenarios>") -> tuple[ScenarioSpec, ...]:
    """Validate scenario TOML text; raises ScenarioError naming ``source``, the line and the field."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ScenarioError(f"{source}: not valid TOML: {exc}") from exc
    lines = _Lines(text)
    extra = sorted(set(data) - {"scenario"})
    if extra:
        raise ScenarioError(
            f"{source}: unknown top-level key {extra[0]!r}; expected only [[scenario]] tables"
        )
    tables = data.get("scenario", [])
    if not isinstance(tables, list):
        raise ScenarioError(f"{source}: 'scenario' must be an array of tables, written [[scenario]]")
    specs: list[ScenarioSpec] = []
    names: set[str] = set()
    for i, table in enumerate(tables):
        specs.append(_spec(table, i, lines, source, names))
    return tuple(specs)


def _spec(table: dict[str, Any], i: int, lines: _Lines, source: str, names: set[str]) -> ScenarioSpec:
    label = f"scenario #{i + 1}" + (f" ({table['name']!r})" if isinstance(table.get("name"), str) else "")

    def fail(key: str | None, message: str) -> ScenarioError:
        where = f"{source}:{lines.of(i, key)}"
        field = f" field {key!r}" if key else ""
        return ScenarioError(f"{where}: {label}{field}: {message}")

    for key, value in table.items():
        if key not in _FIELDS:
            raise fail(key, f"unknown field; expected one of {', '.join(_FIELDS)}")
        want, help_text = _FIELDS[key]
        if (isinstance(value, bool) and want is not bool) or not isinstance(value, want):
            raise fail(key, f"got {value!r} ({type(value).__name__}); expected {help_text}")
    for key in ("name", "kind", "start", "duration", "events"):
        if key not in table:
            raise fail(None, f"missing required field {key!r} ({_FIELDS[key][1]})")
    name = table["name"]
    if not name.strip() or name in names:
        raise fail("name", f"{name!r} is empty or used twice; each scenario needs a unique name")
    names.add(name)
    kind = table["kind"]
    if kind not in KINDS:
        raise fail("kind", f"unknown kind {kind!r}; expected one of {', '.join(KINDS)}")
    defaults = KINDS[kind]
    if resolve_time(table["start"], 0.0) is None:
        raise fail("start", f"cannot read {table['start']!r}; expected {_FIELDS['start'][1]}")
    duration = _duration(table["duration"])
    if not duration:
        raise fail("duration", f"cannot read {table['duration']!r}; expected {_FIELDS['duration'][1]} (> 0)")
    if not table["events"] > 0:
        raise fail("events", f"got {table['events']!r}; expected a number > 0")
    shape = table.get("shape", defaults["shape"])
    if shape not in SHAPES:
        raise fail("shape", f"unknown shape {shape!r}; expected one of {', '.join(SHAPES)}")
    place_kind = table.get("place_kind", defaults.get("place_kind"))
    if place_kind is not None and place_kind not in PLACE_KINDS:
        raise fail(
            "place_kind", f"unknown place kind {place_kind!r}; expected one of {', '.join(PLACE_KINDS)}"
        )
    for key in ("place_rank", "grid_rank"):
        if table.get(key, 1) < 1:
            raise fail(key, f"got {table[key]}; expected 1 or more")
    radius = float(table.get("radius_km", defaults["radius_km"]))
    if "radius_km" in table and not radius > 0:
        raise fail("radius_km", f"got {radius}; expected a distance > 0 km")
    if ("lon" in table) != ("lat" in table):
        raise fail("lon" if "lon" in table else "lat", "give both lon and lat, or neither")
    callers = table.get("callers", defaults["callers"])
    if callers < 0:
        raise fail("callers", f"got {callers}; expected 0 or more")
    raw_mix = table.get("mix", defaults["mix"])
    if raw_mix is None:
        raise fail(None, f"kind {kind!r} needs a 'mix' table of \"stream.category\" = weight")
    mix = []
    for key in sorted(raw_mix):
        weight = raw_mix[key]
        stream, _, category = key.partition(".")
        if stream not in STREAMS or category not in CATEGORIES[stream]:
            raise fail("mix", f'{key!r} is not a stream.category pair (e.g. "hotline.noise")')
        if isinstance(weight, bool) or not isinstance(weight, (int, float)) or not weight > 0:
            raise fail("mix", f"weight of {key!r} is {weight!r}; expected a number > 0")
        mix.append((stream, category, float(weight)))
    area = defaults["area"]
    if area is None:  # custom: the most specific place given wins
        if "grid_id" in table:
            area = "grid"
        elif "lon" in table or "place_kind" in table:
            area = "site"
        elif "district" in table:
            area = "district"
        else:
            raise fail(None, "kind 'custom' needs grid_id, lon/lat, place_kind or district to say where")
    if area == "district" and "district" not in table:
        raise fail(None, f"kind {kind!r} needs a 'district'")
    if area == "grid" and "grid_id" not in table and "district" not in table:
        raise fail(None, f"kind {kind!r} needs a 'grid_id', or a 'district' to pick a cell in")
    return ScenarioSpec(
        name=name,
        kind=kind,
        start=table["start"],
        duration_s=duration,
        events=float(table["events"]),
        area=area,
        district=table.get("district"),
        place_kind=place_kind,
        place_rank=table.get("place_rank", 1),
        lon=table.get("lon"),
        lat=table.get("lat"),
        grid_id=table.get("grid_id"),
        grid_rank=table.get("grid_rank", 1),
        radius_km=radius,
        shape=shape,
        daily_profile=table.get("daily_profile", defaults["daily_profile"]),
        callers=callers,
        mix=tuple(mix),
        line=lines.of(i),
    )


def load_scenarios(path: str | Path) -> tuple[ScenarioSpec, ...]:
    """Read and validate a scenario file."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise ScenarioError(f"cannot read scenario file {p}: {exc.strerror}") from exc
    return parse_scenarios(text, str(p))


@dataclass(frozen=True)
class _Candidates:
    lon: np.ndarray
    lat: np.ndarray
    cell: np.ndarray
    jitter_km: np.ndarray
    camera: np.ndarray
    cum: np.ndarray


@dataclass(frozen=True)
class ScenarioPlan:
    """A scenario placed in the city and in time: which hours get how many events, and where.

    Attributes:
        name, kind: from the spec.
        start, end: epoch seconds; injected events have first-stage times in ``[start, end)``.
        district_code: the scenario's district (the site's, place's or cell's district).
        center: (lon, lat) of the site, place or cell, GCJ-02.
        grid_ids: every cell an injected event may be placed in.
        hour_events: hour chunk -> expected number of events (all streams).
        stream_mix: stream -> (share of events, category indexes, category probabilities).
    """

    name: str
    kind: str
    start: int
    end: int
    district_code: str
    center: tuple[float, float]
    grid_ids: frozenset[str]
    hour_events: dict[int, float]
    stream_mix: dict[str, tuple[float, np.ndarray, np.ndarray]]
    generic: _Candidates
    cameras: _Candidates
    callers: np.ndarray
    salt: int

    def events(self, world: World, stream: str, hour: int, position: int) -> EventFrame | None:
        """This scenario's events of ``stream`` in an hour chunk (None when it injects none there)."""
        expected = self.hour_events.get(hour)
        mix = self.stream_mix.get(stream)
        if expected is None or mix is None:
            return None
        share, cats, probs = mix
        rng = hour_rng(world.seed, hour, stream, P_SCENARIO, self.salt)
        n = int(rng.poisson(expected * share))
        if n == 0:
            return None
        category = cats[
            np.minimum(np.searchsorted(np.cumsum(probs), rng.random(n), side="right"), len(cats) - 1)
        ]
        lo, hi = max(hour * HOUR, self.start), min((hour + 1) * HOUR, self.end)
        ts = rng.integers(lo, hi, n).astype(np.int64)
        cand = self.cameras if stream == "surveillance" else self.generic
        pick = np.minimum(
            np.searchsorted(cand.cum, rng.random(n) * cand.cum[-1], side="right"), len(cand.cum) - 1
        )
        lon, lat = scatter_in_cells(rng, cand.lon[pick], cand.lat[pick], cand.jitter_km[pick])
        cell = cand.cell[pick]
        caller = self.callers[rng.integers(0, len(self.callers), n)] if len(self.callers) else np.full(n, -1)
        return EventFrame(
            stream=stream,
            ts=ts,
            category=category,
            lon=lon,
            lat=lat,
            cell=cell,
            district=world.cell_district[cell],
            camera=cand.camera[pick],
            scenario=np.full(n, position),
            caller=caller,
        )


def _district_index(world: World, spec: ScenarioSpec) -> int:
    d = world.districts
    wanted = str(spec.district)
    for column in (None, "name_en", "name_zh"):
        values = d.index.astype(str) if column is None else (d[column].astype(str) if column in d else None)
        if values is None:
            continue
        hits = np.flatnonzero(values.str.lower().to_numpy() == wanted.lower())
        if len(hits):
            return int(hits[0])
    raise ScenarioError(
        f"scenario {spec.name!r} (line {spec.line}) field 'district': no district {wanted!r} in the city; "
        f"expected one of {', '.join(d.index.astype(str))}"
    )


def _shape(shape: str, x: np.ndarray) -> np.ndarray:
    if shape == "peak":
        mode = 0.35
        return np.where(x < mode, x / mode, (1 - x) / (1 - mode))
    if shape == "decay":
        return np.exp(-4.0 * x)
    if shape == "ramp":
        return x
    return np.ones_like(x)


def _hour_events(spec: ScenarioSpec, start: int, end: int) -> dict[int, float]:
    minutes = np.arange(start, end, 60, dtype=np.int64) + 30
    x = (minutes - start) / (end - start)
    w = _shape(spec.shape, x)
    if spec.daily_profile:
        hod = ((minutes + LOCAL_OFFSET_S) // HOUR) % 24
        profile = np.zeros(24)
        total = sum(weight for _, _, weight in spec.mix)
        for stream, category, weight in spec.mix:
            profile += weight / total * np.array(HOURLY[stream][CATEGORY_ORDER[stream].index(category)])
        w = w * profile[hod]
    if w.sum() <= 0:
        w = np.ones_like(w)
    hours = minutes // HOUR
    per_hour = np.bincount(hours - hours[0], weights=w)
    per_hour *= spec.events / per_hour.sum()
    return {int(hours[0] + i): float(v) for i, v in enumerate(per_hour) if v > 0}


def _site(world: World, spec: ScenarioSpec, district: int | None) -> tuple[float, float, int]:
    """(lon, lat, cell) of the scenario's site: explicit lon/lat, a ranked place, or a ranked cell."""
    if spec.lon is not None and spec.lat is not None:
        cell = int(world.cells_within(spec.lon, spec.lat, 0.0)[0])
        return float(spec.lon), float(spec.lat), cell
    if spec.area == "grid" or spec.place_kind is None:
        if spec.grid_id is not None:
            hits = np.flatnonzero(world.cell_ids == spec.grid_id)
            if not len(hits):
                raise ScenarioError(
                    f"scenario {spec.name!r} (line {spec.line}) field 'grid_id': no cell "
                    f"{spec.grid_id!r} in the city model"
                )
            cell = int(hits[0])
        else:
            members = np.flatnonzero(world.cell_district == district)
            ranked = members[np.argsort(-world.cell_weight[members], kind="stable")]
            cell = int(ranked[min(spec.grid_rank, len(ranked)) - 1])
        return float(world.cell_lon[cell]), float(world.cell_lat[cell]), cell
    places = world.places[world.places["kind"] == spec.place_kind]
    if district is not None:
        places = places[places["district_code"] == world.districts.index[district]]
    if places.empty:
        raise ScenarioError(
            f"scenario {spec.name!r} (line {spec.line}): no {spec.place_kind} in "
            f"{'district ' + str(spec.district) if spec.district else 'the city'}"
        )
    ranked = places.sort_values(["weight", "place_id"], ascending=[False, True], kind="stable")
    row = ranked.iloc[min(spec.place_rank, len(ranked)) - 1]
    return float(row["lon"]), float(row["lat"]), int(row["cell"])


def _cameras_near(world: World, cells: np.ndarray, lon: float, lat: float, radius_km: float) -> _Candidates:
    cams = world.cameras
    c_lon, c_lat = cams["lon"].to_numpy(), cams["lat"].to_numpy()
    in_cells = np.isin(cams["cell"].to_numpy(), cells)
    if radius_km > 0:
        dx, dy = km_offsets(c_lon, c_lat, lon, lat)
        in_cells |= dx * dx + dy * dy <= (2 * radius_km) ** 2
    chosen = np.flatnonzero(in_cells)
    if not len(chosen):  # no camera there: the nearest three see it
        dx, dy = km_offsets(c_lon, c_lat, lon, lat)
        chosen = np.sort(np.argsort(dx * dx + dy * dy, kind="stable")[:3])
    rate = cams["rate"].to_numpy()[chosen]
    return _Candidates(
        c_lon[chosen],
        c_lat[chosen],
        cams["cell"].to_numpy()[chosen],
        np.zeros(len(chosen)),
        chosen,
        np.cumsum(rate),
    )


def plan_scenarios(specs: tuple[ScenarioSpec, ...], world: World, until: float) -> tuple[ScenarioPlan, ...]:
    """Place validated scenarios in the run's city and time (relative times count from ``until``)."""
    plans = []
    for spec in specs:
        start_f = resolve_time(spec.start, until)
        assert start_f is not None  # checked when parsed
        start = int(start_f)
        end = start + spec.duration_s
        district = _district_index(world, spec) if spec.district is not None else None
        if spec.area == "district":
            assert district is not None
            cells = np.flatnonzero(world.cell_district == district)
            weight = np.sqrt(world.cell_weight[cells])  # rain floods sparse streets too
            generic = _Candidates(
                world.cell_lon[cells],
                world.cell_lat[cells],
                cells,
                world.cell_jitter_km[cells],
                np.full(len(cells), -1),
                np.cumsum(weight),
            )
            center_cell = int(cells[np.argmax(world.cell_weight[cells])])
            lon, lat = float(world.cell_lon[center_cell]), float(world.cell_lat[center_cell])
            cameras = _cameras_near(world, cells, lon, lat, 0.0)
        else:
            lon, lat, cell = _site(world, spec, district)
            if spec.area == "site":
                cells = world.cells_within(lon, lat, spec.radius_km)
                dx, dy = km_offsets(world.cell_lon[cells], world.cell_lat[cells], lon, lat)
                weight = np.exp(-0.5 * (dx * dx + dy * dy) / (spec.radius_km / 1.5) ** 2)
                generic = _Candidates(
                    world.cell_lon[cells],
                    world.cell_lat[cells],
                    cells,
                    world.cell_jitter_km[cells],
                    np.full(len(cells), -1),
                    np.cumsum(weight),
                )
            else:  # one place or one cell: every event there
                cells = np.array([cell])
                jitter = (
                    world.cell_jitter_km[cells]
                    if spec.area == "grid"
                    else np.array([min(0.05, float(world.cell_jitter_km[cell]))])
                )
                base = (
                    (world.cell_lon[cells], world.cell_lat[cells])
                    if spec.area == "grid"
                    else (np.array([lon]), np.array([lat]))
                )
                generic = _Candidates(base[0], base[1], cells, jitter, np.array([-1]), np.array([1.0]))
            cameras = _cameras_near(world, cells, lon, lat, spec.radius_km if spec.area == "site" else 0.0)
            district = int(world.cell_district[cell])
        salt = zlib.crc32(spec.name.encode("utf-8"))
        rng = np.random.default_rng(np.random.SeedSequence([world.seed, salt, 7]))
        callers = (
            np.sort(rng.choice(len(world.callers), size=min(spec.callers, len(world.callers)), replace=False))
            if spec.callers
            else np.zeros(0, dtype=np.int64)
        )
        total = sum(w for _, _, w in spec.mix)
        stream_mix = {}
        for stream in STREAMS:
            entries = [(CATEGORY_ORDER[stream].index(c), w) for s, c, w in spec.mix if s == stream]
            if entries:
                weights = np.array([w for _, w in entries])
                stream_mix[stream] = (
                    float(weights.sum() / total),
                    np.array([c for c, _ in entries]),
                    weights / weights.sum(),
                )
        all_cells = np.union1d(generic.cell, cameras.cell)
        plans.append(
            ScenarioPlan(
                name=spec.name,
                kind=spec.kind,
                start=start,
                end=end,
                district_code=str(world.districts.index[district]),
                center=(lon, lat),
                grid_ids=frozenset(str(g) for g in world.cell_ids[all_cells]),
                hour_events=_hour_events(spec, start, end),
                stream_mix=stream_mix,
                generic=generic,
                cameras=cameras,
                callers=callers,
                salt=salt,
            )
        )
    return tuple(plans)
