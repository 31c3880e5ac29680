"""The event simulator: statistics of generated days against the configuration, reproducibility,
scenario ground truth, feed defects, record validity and the CLI runner."""

from __future__ import annotations

import argparse
import datetime as dt
import threading
from collections import Counter, defaultdict

import msgspec
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from kapok.settings import load_settings
from streams.schemas import CATEGORIES, STAGES, STREAMS
from streams.simulator import FileSink, MemorySink, add_arguments, run
from streams.simulator.holidays import day_factors, day_kind
from streams.simulator.model import HOUR, SimParams, generate_hour, hour_intensity, local_date
from streams.simulator.profiles import (
    CATEGORY_ORDER,
    CATEGORY_SHARES,
    DAILY_SHAPES,
    GRADE_DEADLINE_DAYS,
    STREAM_SHARES,
    WEEKLY_SHAPES,
)
from streams.simulator.runner import make_world, parse_until
from streams.simulator.scenarios import (
    DEFAULT_SCENARIOS_FILE,
    ScenarioError,
    load_scenarios,
    parse_scenarios,
    plan_scenarios,
)
from streams.simulator.schedule import Scheduler
from streams.validate import validate_batch

# Wednesday 2026-11-18 00:00 Asia/Shanghai: an ordinary workday
DAY_START = int(dt.datetime(2026, 11, 18, tzinfo=dt.timezone(dt.timedelta(hours=8))).timestamp())
UNTIL = DAY_START + 86400


@pytest.fixture(scope="module")
def app_settings():
    return load_settings()


@pytest.fixture(scope="module")
def city(app_settings):
    from geo.city import load_city

    return load_city(app_settings)


@pytest.fixture(scope="module")
def world(app_settings, city):
    return make_world(app_settings, seed=11, city=city)


@pytest.fixture(scope="module")
def day_frames(world):
    """The baseline events of one workday, per stream: (local hour, category, district) arrays."""
    out = {}
    params = SimParams()
    hours = range(DAY_START // HOUR, DAY_START // HOUR + 24)
    parts = defaultdict(list)
    for hour in hours:
        for hs in generate_hour(world, params, hour):
            ev = hs.events
            hod = ((ev.ts + 8 * HOUR) // HOUR) % 24
            parts[hs.stream].append((hod, ev.category, ev.district, ev.cell))
    for stream, items in parts.items():
        out[stream] = tuple(np.concatenate([p[i] for p in items]) for i in range(4))
    return out


@pytest.fixture(scope="module")
def day_records(world):
    """Every record emitted in one day (the day before is generated too, so stage updates are there)."""
    scheduler = Scheduler(world, SimParams(), (), (DAY_START - 86400) // HOUR)
    return [r for r in scheduler.release(UNTIL, skip_before=DAY_START)]


def _chi2_pvalue(observed: np.ndarray, expected: np.ndarray) -> float:
    keep = expected > 0
    exp = expected[keep] * observed[keep].sum() / expected[keep].sum()
    return float(stats.chisquare(observed[keep], exp).pvalue)


# --- configuration tables ----------------------------------------------------------------------


def test_shapes_are_normalised() -> None:
    for name, shape in DAILY_SHAPES.items():
        assert len(shape) == 24 and abs(sum(shape) / 24 - 1) < 1e-9, name
    for name, shape in WEEKLY_SHAPES.items():
        assert len(shape) == 7 and abs(sum(shape) / 7 - 1) < 1e-9, name


@pytest.mark.parametrize(
    ("day", "kind", "holiday"),
    [
        (dt.date(2026, 11, 25), "workday", None),
        (dt.date(2026, 11, 21), "weekend", None),
        (dt.date(2026, 10, 3), "holiday", "国庆 National Day"),
        (dt.date(2026, 10, 10), "workday", None),  # make-up Saturday
        (dt.date(2026, 2, 17), "holiday", "春节 Spring Festival"),
        (dt.date(2025, 1, 29), "holiday", "春节 Spring Festival"),
        (dt.date(2025, 10, 8), "holiday", "国庆中秋 National Day & Mid-Autumn"),
        (dt.date(2025, 9, 28), "workday", None),  # make-up Sunday
        (dt.date(2027, 2, 6), "holiday", "春节 Spring Festival"),
    ],
)
def test_day_kind(day: dt.date, kind: str, holiday: str | None) -> None:
    got = day_kind(day)
    assert (got.kind, got.holiday) == (kind, holiday)


def test_day_factors_follow_the_calendar() -> None:
    hotline = CATEGORY_ORDER["hotline"]
    wed, sat = dt.date(2026, 11, 18), dt.date(2026, 11, 21)
    spring = dt.date(2026, 2, 18)
    consult = hotline.index("consultation")
    assert day_factors("hotline", sat)[consult] < 0.8 * day_factors("hotline", wed)[consult]
    crowd = CATEGORY_ORDER["surveillance"].index("crowd_gathering")
    national_day = dt.date(2026, 10, 3)
    assert day_factors("surveillance", national_day)[crowd] > 1.2
    # Spring Festival: the city empties, everything drops
    assert (day_factors("incidents", spring) < day_factors("incidents", wed)).all()


def test_intensity_integrates_to_configured_volume() -> None:
    params = SimParams(events_per_day=60000)
    day = dt.date(2026, 11, 18)
    for stream in STREAMS:
        total = sum(hour_intensity(params, stream, DAY_START // HOUR + h) for h in range(24))
        want = np.array(
            [60000 * STREAM_SHARES[stream] * CATEGORY_SHARES[stream][c] for c in CATEGORY_ORDER[stream]]
        )
        np.testing.assert_allclose(total, want * day_factors(stream, day), rtol=1e-9)


@given(hour=st.integers(min_value=480_000, max_value=530_000))
@settings(max_examples=40, deadline=None)
def test_intensity_is_positive_and_local_dates_align(hour: int) -> None:
    for stream in STREAMS:
        assert (hour_intensity(SimParams(), stream, hour) > 0).all()
    day, hod = local_date(hour)
    local = dt.datetime.fromtimestamp(hour * HOUR, dt.timezone(dt.timedelta(hours=8)))
    assert (day, hod) == (local.date(), local.hour)


# --- statistics of a generated day --------------------------------------------------------------


def test_daily_volume_near_default(day_frames) -> None:
    total = sum(len(f[0]) for f in day_frames.values())
    expected = sum(
        sum(hour_intensity(SimParams(), s, DAY_START // HOUR + h).sum() for h in range(24)) for s in STREAMS
    )
    assert 55000 < expected < 66000
    assert abs(total - expected) < 5 * np.sqrt(expected)


@pytest.mark.parametrize("stream", STREAMS)
def test_category_shares_match_configuration(day_frames, stream: str) -> None:
    _, category, _, _ = day_frames[stream]
    expected = sum(hour_intensity(SimParams(), stream, DAY_START // HOUR + h) for h in range(24))
    observed = np.bincount(category, minlength=len(expected))
    assert _chi2_pvalue(observed, expected) > 1e-4
    shares = observed / observed.sum()
    p = expected / expected.sum()
    assert (np.abs(shares - p) < 4.5 * np.sqrt(p * (1 - p) / observed.sum())).all()


@pytest.mark.parametrize("stream", STREAMS)
def test_hourly_profile_matches_configuration(day_frames, stream: str) -> None:
    hod, _, _, _ = day_frames[stream]
    expected = np.array([hour_intensity(SimParams(), stream, DAY_START // HOUR + h).sum() for h in range(24)])
    observed = np.bincount(hod, minlength=24)
    assert _chi2_pvalue(observed, expected) > 1e-4


@pytest.mark.parametrize(
    ("stream", "category", "busy_hour", "quiet_hour"),
    [
        ("hotline", "noise", 22, 10),
        ("incidents", "traffic_accident", 18, 3),
        ("surveillance", "street_vending", 19, 8),
        ("hazards", "fire_safety", 10, 2),
        ("hotline", "consultation", 10, 3),
    ],
)
def test_categories_peak_at_their_hours(day_frames, stream, category, busy_hour, quiet_hour) -> None:
    hod, cats, _, _ = day_frames[stream]
    c = CATEGORY_ORDER[stream].index(category)
    counts = np.bincount(hod[cats == c], minlength=24)
    assert counts[busy_hour] > 2 * counts[quiet_hour]


@pytest.mark.parametrize("stream", STREAMS)
def test_district_shares_match_model(world, day_frames, stream: str) -> None:
    _, _, district, _ = day_frames[stream]
    expected = np.zeros(len(world.districts))
    intensity = sum(hour_intensity(SimParams(), stream, DAY_START // HOUR + h) for h in range(24))
    for c, lam in enumerate(intensity):
        expected += lam * world.district_shares(stream, c).to_numpy()
    observed = np.bincount(district, minlength=len(expected))
    assert _chi2_pvalue(observed, expected) > 1e-4


def test_district_share_follows_population(world) -> None:
    # robbery has no place affinity or spatial exponent: its district shares are population × rate factor
    shares = world.district_shares("incidents", CATEGORY_ORDER["incidents"].index("robbery"))
    d = world.districts
    want = d["population"] * d["rate_factor"]
    np.testing.assert_allclose(shares.to_numpy(), (want / want.sum()).to_numpy(), rtol=0.02)


def test_centres_are_denser_than_rural_north(world) -> None:
    codes = world.districts.index
    density = world.districts.assign(
        weight=np.bincount(world.cell_district, weights=world.cell_weight, minlength=len(codes))
    )
    per_km2 = density["weight"] / density["area_km2"]
    assert per_km2["440104"] > 20 * per_km2["440117"]  # Yuexiu vs Conghua
    # inside Baiyun, the southern core outweighs the northern half
    baiyun = np.flatnonzero(world.cell_district == list(codes).index("440111"))
    south = world.cell_lat[baiyun] < 23.25
    assert world.cell_weight[baiyun][south].mean() > 5 * world.cell_weight[baiyun][~south].mean()


def test_positions_land_in_their_cells(city, world) -> None:
    """The consumer places every generated position in the cell the simulator meant (and its district)."""
    for hour in range(DAY_START // HOUR, DAY_START // HOUR + 3):
        for hs in generate_hour(world, SimParams(), hour):
            ev = hs.events
            grid_id, district = city.assign(ev.lon, ev.lat)
            np.testing.assert_array_equal(grid_id, world.cell_ids[ev.cell])
            np.testing.assert_array_equal(district, world.districts.index.to_numpy()[ev.district])


# --- records: validity, lifecycles, defects ------------------------------------------------------


def test_records_validate_and_malformed_ones_are_rejected(world, day_records) -> None:
    by_stream = defaultdict(list)
    for r in day_records:
        by_stream[r.stream].append(r)
    codes = frozenset(str(c) for c in world.districts.index)
    for stream, recs in by_stream.items():
        accepted, rejected = validate_batch(
            stream,
            [r.value for r in recs],
            now=UNTIL,
            retention_s=35 * 86400,
            future_tolerance_s=600,
            district_codes=codes,
            pii_key=b"k",
        )
        bad = {i for i, r in enumerate(recs) if r.malformed}
        assert {rej.index for rej in rejected} == bad, [rej for rej in rejected if rej.index not in bad][:3]
        assert len(accepted) == len(recs) - len(bad)
        reasons = Counter(rej.reason for rej in rejected)
        assert set(reasons) <= {
            "not_json",
            "missing_field",
            "bad_value",
            "unknown_category",
            "bad_type",
            "bad_timestamp",
        }


def test_defect_shares(day_records) -> None:
    n = len(day_records)
    assert n > 150_000
    for share, count in (
        (0.002, sum(r.malformed and not r.duplicate for r in day_records)),
        (0.005, sum(r.duplicate for r in day_records)),
        (0.01, sum(r.late and not r.duplicate for r in day_records)),
    ):
        assert abs(count - share * n) < 5 * np.sqrt(share * n), (share, count)


def test_duplicates_are_exact_resends_and_late_records_trail(day_records) -> None:
    originals = {}
    for r in day_records:
        if not r.duplicate:
            originals[(r.stream, r.key, r.value)] = r
    for r in day_records:
        if r.duplicate:
            orig = originals.get((r.stream, r.key, r.value))
            if orig is not None:  # the original may have gone out the day before
                assert orig.emit < r.emit
    lags = []
    for r in day_records:
        if r.late and not r.malformed:
            ts = dt.datetime.fromisoformat(msgspec.json.decode(r.value)["ts"]).timestamp()
            lags.append(r.emit - ts)
    assert min(lags) >= 120 and max(lags) <= 12 * 3600
    assert np.median(lags) > 600


def test_emit_order_and_crs_and_personal_fields(day_records) -> None:
    emits = [r.emit for r in day_records]
    assert emits == sorted(emits)
    crs = Counter()
    phones = texts = created = 0
    for r in day_records:
        if r.malformed:
            continue
        rec = msgspec.json.decode(r.value)
        crs[rec.get("crs", "gcj02")] += 1
        if r.stream == "hotline" and rec.get("stage", "created") == "created":
            created += 1
            phones += "caller_phone" in rec
            texts += "text" in rec
            if "caller_phone" in rec:
                assert len(rec["caller_phone"]) == 11 and rec["caller_phone"].isdigit()
    total = sum(crs.values())
    assert 0.008 < crs["wgs84"] / total < 0.025 and 0.004 < crs["bd09"] / total < 0.018
    assert 0.6 < phones / created < 0.8 and 0.3 < texts / created < 0.5


def test_lifecycles_are_ordered_and_complete(day_records) -> None:
    stages = defaultdict(dict)
    for r in day_records:
        if r.malformed or r.duplicate:
            continue
        rec = msgspec.json.decode(r.value)
        stage = rec.get("stage", STAGES[r.stream][0])
        ts = dt.datetime.fromisoformat(rec["ts"]).timestamp()
        stages[(r.stream, r.key)][stage] = (ts, rec)
    seen = Counter()
    for (stream, _), got in stages.items():
        order = STAGES[stream]
        first = order[0]
        if first not in got:
            continue
        t0 = got[first][0]
        assert all(ts >= t0 for ts, _ in got.values())
        seen[stream] += 1
        if stream == "hazards":
            rec = got[first][1]
            due = dt.datetime.fromisoformat(rec["due"]).timestamp()
            assert due - t0 == GRADE_DEADLINE_DAYS[rec["grade"]] * 86400
        # a stage may be missing here: broken on purpose, or not due yet
        times = [got[s][0] for s in order if s in got and s != "reopened"]
        assert times == sorted(times), (stream, got)
        if stream == "hotline" and "rated" in got:
            assert 1 <= got["rated"][1]["satisfaction"] <= 5
    assert min(seen.values()) > 500


def test_districts_differ_in_response(world, day_records) -> None:
    created, responded = {}, defaultdict(list)
    for r in day_records:
        if r.stream != "hotline" or r.malformed:
            continue
        rec = msgspec.json.decode(r.value)
        ts = dt.datetime.fromisoformat(rec["ts"]).timestamp()
        stage = rec.get("stage", "created")
        if stage == "created":
            created[r.key] = ts
        elif stage == "responded":
            responded[r.key].append(ts)
    delays = defaultdict(list)
    ticket_district = {}
    for r in day_records:
        if r.stream == "hotline" and r.first and not r.malformed:
            rec = msgspec.json.decode(r.value)
            ticket_district[r.key] = rec.get("district")
    # district of a positioned ticket: from the world's cells is overkill; use the tickets with a district
    for key, t0 in created.items():
        if key in responded and ticket_district.get(key):
            delays[ticket_district[key]].append(responded[key][0] - t0)
    medians = {d: np.median(v) for d, v in delays.items() if len(v) >= 15}
    assert len(medians) >= 6
    configured = world.districts["resp_median_h"]
    rho = stats.spearmanr([configured[d] for d in medians], list(medians.values())).statistic
    assert rho > 0.6


def test_camera_false_alarm_share_differs_by_camera(world, day_records) -> None:
    verdicts = defaultdict(list)
    for r in day_records:
        if r.stream == "surveillance" and not r.malformed and b'"reviewed"' in r.value:
            rec = msgspec.json.decode(r.value)
            verdicts[rec["camera_id"]].append(rec["verified"])
    cams = world.cameras.set_index("camera_id")
    busy = {c: 1 - np.mean(v) for c, v in verdicts.items() if len(v) >= 8}
    assert len(busy) > 30
    rho = stats.spearmanr([cams.loc[c, "false_share"] for c in busy], list(busy.values())).statistic
    assert rho > 0.4
    overall_false = 1 - np.mean([v for vs in verdicts.values() for v in vs])
    assert 0.15 < overall_false < 0.5


# --- scenarios ----------------------------------------------------------------------------------


def test_default_scenarios_are_valid(world) -> None:
    specs = load_scenarios(DEFAULT_SCENARIOS_FILE)
    assert {s.kind for s in specs} >= {"crowd_surge", "waterlogging", "labour_dispute", "noise_rise"}
    plans = plan_scenarios(specs, world, UNTIL)
    assert all(abs(sum(p.hour_events.values()) - s.events) < 1e-6 for p, s in zip(plans, specs, strict=True))


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ('[[scenario]]\nname = "a"\nkind = "meteor"\nstart = "0"\nduration = "1h"\nevents = 5\n', ":3: "),
        (
            '[[scenario]]\nname = "a"\nkind = "crowd_surge"\nstart = "yesterday"\nduration = "1h"\n'
            "events = 5\n",
            "field 'start'",
        ),
        (
            '[[scenario]]\nname = "a"\nkind = "crowd_surge"\nstart = "0"\nduration = "1h"\nevents = "many"\n',
            ":6: scenario #1 ('a') field 'events'",
        ),
        (
            '[[scenario]]\nname = "a"\nkind = "custom"\nstart = "0"\nduration = "1h"\nevents = 5\n'
            'district = "440106"\nmix = { "hotline.ufo" = 1 }\n',
            ":8: scenario #1 ('a') field 'mix'",
        ),
        (
            '[[scenario]]\nname = "a"\nkind = "waterlogging"\nstart = "0"\nduration = "1h"\nevents = 5\n',
            "needs a 'district'",
        ),
        (
            '[[scenario]]\nname = "a"\nkind = "noise_rise"\nstart = "0"\nduration = "1h"\nevents = 5\n'
            'district = "440105"\ncolour = "red"\n',
            ":8: scenario #1 ('a') field 'colour'",
        ),
        (
            '[[scenario]]\nname = "a"\nkind = "noise_rise"\nstart = "0"\nduration = "1h"\nevents = 5\n'
            'district = "440105"\n[[scenario]]\nname = "a"\nkind = "noise_rise"\nstart = "0"\n'
            'duration = "-1h"\nevents = 5\ndistrict = "440105"\n',
            ":9: scenario #2 ('a') field 'name'",
        ),
        (
            '[[scenario]]\nname = "a"\nkind = "crowd_surge"\nstart = "0"\nduration = "2 weeks"\nevents = 5\n',
            ":5: scenario #1 ('a') field 'duration'",
        ),
        ("[[scenario]\n", "not valid TOML"),
        ("[settings]\nx = 1\n", "unknown top-level key 'settings'"),
    ],
)
def test_scenario_errors_name_line_and_field(text: str, needle: str) -> None:
    with pytest.raises(ScenarioError) as info:
        parse_scenarios(text, "s.toml")
    assert needle in str(info.value)
    assert str(info.value).startswith("s.toml")


def test_unknown_district_is_named(world) -> None:
    specs = parse_scenarios(
        '[[scenario]]\nname = "a"\nkind = "waterlogging"\nstart = "0"\nduration = "1h"\n'
        'events = 5\ndistrict = "Atlantis"\n'
    )
    with pytest.raises(ScenarioError, match="Atlantis"):
        plan_scenarios(specs, world, UNTIL)


def _args(**overrides) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    args = parser.parse_args([])
    for k, v in overrides.items():
        setattr(args, k, v)
    return args


def test_scenario_ground_truth_matches_injected_events(tmp_path, app_settings, city, world) -> None:
    out, truth = tmp_path / "out.jsonl", tmp_path / "truth.jsonl"
    until = "2026-11-25T18:00:00+08:00"
    sink = FileSink(out, app_settings.topics())
    summary = run(
        _args(seed=11, until=until, backfill_days=7, live_minutes=0, truth=str(truth), events_per_day=6000),
        app_settings,
        sink,
        city=city,
    )
    sink.close()
    topics = {t: s for s, t in app_settings.topics().items()}
    records = {}
    for line in out.read_bytes().splitlines():
        row = msgspec.json.decode(line)
        value = row["value"]
        stream = topics[row["topic"]]
        if isinstance(value, dict) and value.get("stage", STAGES[stream][0]) == STAGES[stream][0]:
            records[(stream, row["key"])] = value
    plans = {
        p.name: p for p in plan_scenarios(load_scenarios(DEFAULT_SCENARIOS_FILE), world, parse_until(until))
    }
    rows = [msgspec.json.decode(line) for line in truth.read_bytes().splitlines()]
    per_scenario = Counter(r["scenario"] for r in rows)
    assert per_scenario == Counter({k: v for k, v in summary.scenario_events.items() if v})
    for row in rows:
        rec = records[(row["stream"], row["id"])]  # the labelled event is in the output, intact
        plan = plans[row["scenario"]]
        ts = dt.datetime.fromisoformat(row["ts"]).timestamp()
        assert plan.start <= ts < plan.end and rec["ts"] == row["ts"]
        assert row["grid_id"] in plan.grid_ids
        if plan.kind in ("waterlogging", "noise_rise", "labour_dispute"):
            assert row["district_code"] == plan.district_code
        assert "scenario" not in rec
    # scenarios lying wholly in the backfill inject about as many events as configured
    for name, spec in {s.name: s for s in load_scenarios(DEFAULT_SCENARIOS_FILE)}.items():
        plan = plans[name]
        if plan.end <= parse_until(until):
            assert abs(per_scenario[name] - spec.events) < 5 * np.sqrt(spec.events), name
    # the noise scenario really is one cell, rising over the week
    noise = [r for r in rows if r["scenario"] == "haizhu-night-works"]
    assert len({r["grid_id"] for r in noise}) == 1
    half = (plans["haizhu-night-works"].start + plans["haizhu-night-works"].end) / 2
    early = sum(dt.datetime.fromisoformat(r["ts"]).timestamp() < half for r in noise)
    assert early < len(noise) - early


# --- runner: reproducibility, live phase ---------------------------------------------------------


def _simulate(tmp_path, app_settings, city, name: str, **overrides) -> bytes:
    out = tmp_path / name
    sink = FileSink(out, app_settings.topics())
    base = dict(seed=5, until="2026-11-25T18:00:00+08:00", backfill_days=0.25, live_minutes=0)
    base.update(overrides)
    run(_args(**base), app_settings, sink, city=city)
    sink.close()
    return out.read_bytes()


def test_same_seed_same_bytes_other_seed_differs(tmp_path, app_settings, city) -> None:
    a = _simulate(tmp_path, app_settings, city, "a.jsonl")
    b = _simulate(tmp_path, app_settings, city, "b.jsonl")
    c = _simulate(tmp_path, app_settings, city, "c.jsonl", seed=6)
    assert a == b and len(a) > 100_000
    assert a != c
    first = msgspec.json.decode(a.splitlines()[0])
    assert set(first) == {"topic", "key", "value"} and first["topic"] in app_settings.topics().values()
    # malformed records are strings holding their raw text; everything else is an object
    kinds = Counter(type(msgspec.json.decode(line)["value"]).__name__ for line in a.splitlines())
    assert set(kinds) == {"dict", "str"} and kinds["str"] < 0.01 * kinds["dict"]


def test_live_phase_continues_the_backfill_exactly(tmp_path, app_settings, city) -> None:
    # 0.01 real minutes at 36,000× = 6 simulated hours after --until
    live = _simulate(
        tmp_path, app_settings, city, "live.jsonl", speed=36000.0, live_minutes=0.01, scenarios="none"
    )
    backfill = _simulate(
        tmp_path,
        app_settings,
        city,
        "backfill.jsonl",
        until="2026-11-26T00:00:00+08:00",
        backfill_days=0.5,
        scenarios="none",
    )
    assert live == backfill


def test_stop_ends_a_live_run(app_settings, city) -> None:
    stop = threading.Event()
    sink = MemorySink()
    timer = threading.Timer(0.3, stop.set)
    timer.start()
    summary = run(
        _args(
            seed=1,
            until="2026-11-25T18:00:00+08:00",
            backfill_days=0,
            live_minutes=None,
            speed=60.0,
            scenarios="none",
        ),
        app_settings,
        sink,
        stop=stop,
        city=city,
    )
    timer.cancel()
    assert summary.stopped
    assert summary.total_records == len(sink.records)


@pytest.mark.parametrize(
    ("text", "epoch"),
    [
        ("2026-11-25T18:00:00+08:00", 1795600800),
        ("2026-11-25T10:00:00Z", 1795600800),
        ("1795600800", 1795600800),
    ],
)
def test_parse_until(text: str, epoch: int) -> None:
    assert parse_until(text) == epoch


def test_parse_until_without_offset_fails() -> None:
    from kapok.errors import ConfigError

    with pytest.raises(ConfigError, match="no UTC offset"):
        parse_until("2026-11-25T18:00:00")


def test_vocabularies_match_the_contract() -> None:
    for stream in STREAMS:
        assert set(CATEGORY_ORDER[stream]) == set(CATEGORIES[stream])
