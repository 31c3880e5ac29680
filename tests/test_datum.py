"""geo.datum: known answers from the reference implementations, round trips, and the China box."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from geo.datum import bd09_to_gcj02, gcj02_to_bd09, gcj02_to_wgs84, in_china_box, wgs84_to_gcj02

# (lon, lat) in, (lon, lat) out. The Tian'anmen values are the ones printed by wandergis/coordtransform's
# test/app.js (a = 6378245.0); the Shanghai/Shenzhen/Beijing pairs are googollee/eviltransform's test table.
WGS_TO_GCJ = [
    ((116.404, 39.915), (116.41024449916938, 39.91640428150164), 1e-9),
    ((121.5272106, 31.1774276), (121.531541859215, 31.17530398364597), 1e-7),
    ((113.912316, 22.543847), (113.9171764808363, 22.540796131694766), 1e-7),
    ((116.377817, 39.911954), (116.38404722455657, 39.91334545536069), 1e-7),
]
BD_TO_GCJ = [((116.404, 39.915), (116.39762729119315, 39.90865673957631), 1e-9)]
GCJ_TO_BD = [((116.404, 39.915), (116.41036949371029, 39.92133699351021), 1e-9)]

GUANGZHOU_TOWER_WGS = (113.3245, 23.1064)
OUTSIDE_CHINA = [(2.3522, 48.8566), (151.2093, -33.8688), (139.6917, 35.6895), (0.0, 0.0), (-74.006, 40.7128)]


def _metres(lon1: float, lat1: float, lon2: float, lat2: float) -> float:
    """Equirectangular distance, enough for offsets of a few hundred metres."""
    dx = math.radians(lon2 - lon1) * math.cos(math.radians((lat1 + lat2) / 2))
    dy = math.radians(lat2 - lat1)
    return 6371000.0 * math.hypot(dx, dy)


@pytest.mark.parametrize(("src", "expected", "tol"), WGS_TO_GCJ)
def test_wgs84_to_gcj02_known_answers(
    src: tuple[float, float], expected: tuple[float, float], tol: float
) -> None:
    lon, lat = wgs84_to_gcj02(*src)
    assert float(lon) == pytest.approx(expected[0], abs=tol)
    assert float(lat) == pytest.approx(expected[1], abs=tol)


@pytest.mark.parametrize(("src", "expected", "tol"), BD_TO_GCJ)
def test_bd09_to_gcj02_known_answers(
    src: tuple[float, float], expected: tuple[float, float], tol: float
) -> None:
    lon, lat = bd09_to_gcj02(*src)
    assert float(lon) == pytest.approx(expected[0], abs=tol)
    assert float(lat) == pytest.approx(expected[1], abs=tol)


@pytest.mark.parametrize(("src", "expected", "tol"), GCJ_TO_BD)
def test_gcj02_to_bd09_known_answers(
    src: tuple[float, float], expected: tuple[float, float], tol: float
) -> None:
    lon, lat = gcj02_to_bd09(*src)
    assert float(lon) == pytest.approx(expected[0], abs=tol)
    assert float(lat) == pytest.approx(expected[1], abs=tol)


def test_guangzhou_offset_is_a_few_hundred_metres() -> None:
    lon, lat = wgs84_to_gcj02(*GUANGZHOU_TOWER_WGS)
    shift = _metres(*GUANGZHOU_TOWER_WGS, float(lon), float(lat))
    assert 300.0 < shift < 900.0
    # in Guangzhou GCJ-02 lies east and south of WGS-84
    assert float(lon) > GUANGZHOU_TOWER_WGS[0]
    assert float(lat) < GUANGZHOU_TOWER_WGS[1]


def test_bd09_is_gcj02_plus_about_0_0065_0_006() -> None:
    gcj_lon, gcj_lat = wgs84_to_gcj02(*GUANGZHOU_TOWER_WGS)
    bd_lon, bd_lat = gcj02_to_bd09(gcj_lon, gcj_lat)
    assert float(bd_lon - gcj_lon) == pytest.approx(0.0065, abs=0.0015)
    assert float(bd_lat - gcj_lat) == pytest.approx(0.006, abs=0.0015)


@pytest.mark.parametrize("point", OUTSIDE_CHINA)
def test_outside_china_wgs84_is_unchanged(point: tuple[float, float]) -> None:
    assert not in_china_box(*point)
    lon, lat = wgs84_to_gcj02(*point)
    assert (float(lon), float(lat)) == point
    back_lon, back_lat = gcj02_to_wgs84(*point)
    assert (float(back_lon), float(back_lat)) == point


@pytest.mark.parametrize(
    ("point", "inside"),
    [
        ((72.004, 0.8293), True),
        ((137.8347, 55.8271), True),
        ((72.0039, 30.0), False),
        ((137.8348, 30.0), False),
        ((100.0, 0.8292), False),
        ((100.0, 55.8272), False),
        ((113.3, 23.1), True),
    ],
)
def test_china_box_edges(point: tuple[float, float], inside: bool) -> None:
    assert bool(in_china_box(*point)) is inside


china_lon = st.floats(min_value=73.0, max_value=135.0)
china_lat = st.floats(min_value=1.0, max_value=55.0)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(china_lon, china_lat), min_size=1, max_size=20))
def test_gcj02_to_wgs84_inverts_wgs84_to_gcj02(points: list[tuple[float, float]]) -> None:
    lon = np.array([p[0] for p in points])
    lat = np.array([p[1] for p in points])
    back_lon, back_lat = gcj02_to_wgs84(*wgs84_to_gcj02(lon, lat))
    assert np.max(np.abs(back_lon - lon)) < 1e-6
    assert np.max(np.abs(back_lat - lat)) < 1e-6


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(china_lon, china_lat), min_size=1, max_size=20))
def test_bd09_round_trip(points: list[tuple[float, float]]) -> None:
    lon = np.array([p[0] for p in points])
    lat = np.array([p[1] for p in points])
    back_lon, back_lat = bd09_to_gcj02(*gcj02_to_bd09(lon, lat))
    # the two BD-09 formulas are approximate inverses of each other (to about 1e-5°, a metre)
    assert np.max(np.abs(back_lon - lon)) < 2e-5
    assert np.max(np.abs(back_lat - lat)) < 2e-5


def test_vectorised_matches_scalar_and_keeps_shape() -> None:
    lon = np.array([[113.3, 2.35], [121.5, 116.4]])
    lat = np.array([[23.1, 48.85], [31.2, 39.9]])
    out_lon, out_lat = wgs84_to_gcj02(lon, lat)
    assert out_lon.shape == lon.shape and out_lat.shape == lat.shape
    for idx in np.ndindex(lon.shape):
        one_lon, one_lat = wgs84_to_gcj02(float(lon[idx]), float(lat[idx]))
        assert float(one_lon) == out_lon[idx] and float(one_lat) == out_lat[idx]


def test_nan_passes_through_without_warning() -> None:
    lon, lat = wgs84_to_gcj02([np.nan, 113.3], [np.nan, 23.1])
    assert np.isnan(lon[0]) and np.isnan(lat[0])
    assert not np.isnan(lon[1])
    back_lon, _ = gcj02_to_wgs84([np.nan], [np.nan])
    assert np.isnan(back_lon[0])


def test_shape_mismatch_is_an_error() -> None:
    with pytest.raises(ValueError, match="shape"):
        wgs84_to_gcj02([113.0, 114.0], [23.0])
