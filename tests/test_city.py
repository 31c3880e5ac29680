"""The city model: Guangzhou's districts and H3 grid, point placement, cache, broken files, another city."""

from __future__ import annotations

import json
import math
import time
from pathlib import Path

import geopandas as gpd
import h3
import numpy as np
import pandas as pd
import pyproj
import pytest
import shapely
from hypothesis import given, settings
from hypothesis import strategies as st

from geo.city import CityModel, CitySources, build_city, load_city, open_city
from geo.grid import EqualArea, cell_polygons
from kapok.errors import ConfigError
from kapok.settings import DEFAULT_DATA_DIR, Settings

DISTRICTS = DEFAULT_DATA_DIR / "districts.geojson"
CITY = DEFAULT_DATA_DIR / "city.geojson"
GZ = {"district_name_en_column": "name_en", "population_column": "population_approx", "city_file": CITY}
M_PER_DEG = 111_320.0


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("city-cache")


@pytest.fixture(scope="module")
def gz(cache_dir: Path) -> CityModel:
    return build_city(DISTRICTS, cache_dir=cache_dir, **GZ)


def cell_of(city: CityModel, lon: float, lat: float) -> str:
    return h3.latlng_to_cell(lat, lon, city.h3_resolution)


def cell_within(city: CityModel, cell: str, district_code: str) -> bool:
    polygon = cell_polygons(np.array([h3.str_to_int(cell)], dtype=np.uint64))[0]
    return bool(shapely.within(polygon, city.district_shapes.loc[district_code]))


def containing_district(city: CityModel, lon: float, lat: float) -> str | None:
    hits = city.district_shapes.index[shapely.intersects_xy(city.district_shapes.to_numpy(), lon, lat)]
    return hits[0] if len(hits) else None


# --- Guangzhou -----------------------------------------------------------------------------------------


def test_guangzhou_districts(gz: CityModel) -> None:
    assert list(gz.districts.index) == [
        "440103", "440104", "440105", "440106", "440111", "440112",
        "440113", "440114", "440115", "440117", "440118",
    ]
    assert gz.districts.loc["440106", "name_en"] == "Tianhe"
    assert gz.districts.loc["440105", "name_zh"] == "海珠区"
    assert (gz.districts["population"] > 500_000).all()
    # official land area of Guangzhou: 7,434 km²; Yuexiu is the smallest district (~34 km²)
    assert 7_300 < gz.districts["area_km2"].sum() < 7_500
    assert 30 < gz.districts.loc["440104", "area_km2"] < 37
    assert list(gz.district_shapes.index) == list(gz.districts.index)
    assert gz.h3_resolution == 8


def test_guangzhou_cells(gz: CityModel) -> None:
    grids = gz.grids
    print(f"Guangzhou H3 res-8 cells: {len(grids)}, boundary cells: {int(grids['boundary'].sum())}")
    # 7,434 km² / 0.737 km² per res-8 cell ≈ 10,100, plus the ragged edge
    assert 10_000 < len(grids) < 11_500
    assert grids.index.is_unique
    assert all(h3.is_valid_cell(g) and h3.get_resolution(g) == 8 for g in grids.index[:500])
    assert set(grids["district_code"]) == set(gz.districts.index)
    assert grids["district_share"].between(0, 1, inclusive="right").all()
    # cell areas (inside the city) add up to the districts' area
    assert grids["area_km2"].sum() == pytest.approx(gz.districts["area_km2"].sum(), rel=1e-4)
    assert (grids.loc[~grids["boundary"], "area_km2"].between(0.70, 0.78)).all()
    assert grids["street_code"].isna().all() and gz.streets is None


def test_each_cell_has_its_majority_district(gz: CityModel) -> None:
    sample = gz.grids.iloc[::37]
    polygons = cell_polygons(np.array([h3.str_to_int(g) for g in sample.index], dtype=np.uint64))
    shapes = gz.district_shapes
    for polygon, code in zip(polygons, sample["district_code"], strict=True):
        overlap = shapely.area(shapely.intersection(polygon, shapes.to_numpy()))
        assert shapes.index[int(np.argmax(overlap))] == code


def test_cells_cover_city_outline_and_boundary_flag(gz: CityModel) -> None:
    polygons = cell_polygons(np.array([h3.str_to_int(g) for g in gz.grids.index], dtype=np.uint64))
    union = shapely.union_all(polygons)
    assert shapely.difference(gz.city_outline, union).area < 1e-9
    assert np.array_equal(gz.grids["boundary"].to_numpy(), ~shapely.within(polygons, gz.region))
    # no superfluous cells: each touches the city with positive area
    assert (gz.grids["area_km2"] > 0).all()


LANDMARKS = [
    # (lon, lat) GCJ-02, expected district; each checked against the polygons below
    ("Canton Tower", 113.3245, 23.1064, "440105"),
    # the airport straddles Baiyun and Huadu; this point lies 0.7 km inside Huadu in the boundary data
    ("Baiyun airport", 113.2988, 23.3924, "440114"),
    ("Guangzhou South station", 113.2690, 22.9886, "440113"),
    ("Chen Clan Academy", 113.2450, 23.1266, "440103"),
    ("Sun Yat-sen Memorial Hall", 113.2645, 23.1326, "440104"),
    ("Baiyun Mountain", 113.3010, 23.1780, "440111"),
    ("Zhujiang New Town", 113.3270, 23.1190, "440106"),
    ("Huangpu", 113.4590, 23.1060, "440112"),
    ("Nansha port", 113.6100, 22.7500, "440115"),
    ("Conghua", 113.5870, 23.5480, "440117"),
    ("Zengcheng", 113.8100, 23.2900, "440118"),
]


@pytest.mark.parametrize(("name", "lon", "lat", "district_code"), LANDMARKS)
def test_landmarks(gz: CityModel, name: str, lon: float, lat: float, district_code: str) -> None:
    assert containing_district(gz, lon, lat) == district_code
    grid_id, code = gz.assign(np.array([lon]), np.array([lat]))
    assert code[0] == district_code
    assert grid_id[0] == cell_of(gz, lon, lat)


@pytest.mark.parametrize(
    ("lon", "lat"),
    [
        (113.75, 22.45),  # South China Sea off Nansha
        (114.17, 22.32),  # Hong Kong
        (116.40, 39.90),  # Beijing
        (0.0, 0.0),
        (float("nan"), 23.1),
        (113.3, float("inf")),
        (200.0, 95.0),
    ],
)
def test_outside_points_get_none(gz: CityModel, lon: float, lat: float) -> None:
    grid_id, code = gz.assign(np.array([lon]), np.array([lat]))
    assert grid_id[0] is None and code[0] is None


def test_boundary_cell_points_outside_the_city_get_none(gz: CityModel) -> None:
    boundary = gz.grids[gz.grids["boundary"]]
    polygons = cell_polygons(np.array([h3.str_to_int(g) for g in boundary.index[:200]], dtype=np.uint64))
    outside = shapely.difference(polygons, gz.region)
    inside = shapely.intersection(polygons, gz.region)
    out_pts = shapely.point_on_surface(outside[~shapely.is_empty(outside)])
    in_pts = shapely.point_on_surface(inside)
    grid_id, code = gz.assign(shapely.get_x(out_pts), shapely.get_y(out_pts))
    assert all(g is None for g in grid_id) and all(c is None for c in code)
    grid_id, code = gz.assign(shapely.get_x(in_pts), shapely.get_y(in_pts))
    assert list(code) == list(gz.grids.loc[list(grid_id), "district_code"])


def border_points(city: CityModel, a: str, b: str, offset_m: float) -> list[tuple[float, float]]:
    """Points ``offset_m`` either side of the boundary shared by districts a and b, along its normal."""
    shared = shapely.line_merge(
        shapely.intersection(city.district_shapes.loc[a].boundary, city.district_shapes.loc[b].boundary)
    )
    points = []
    for line in shapely.get_parts(shared):
        for frac in np.linspace(0.05, 0.95, 25):
            here = line.interpolate(frac, normalized=True)
            ahead = line.interpolate(min(frac + 0.002, 1), normalized=True)
            behind = line.interpolate(max(frac - 0.002, 0), normalized=True)
            coslat = math.cos(math.radians(here.y))
            tx, ty = (ahead.x - behind.x) * coslat, ahead.y - behind.y
            norm = math.hypot(tx, ty)
            if norm == 0:
                continue
            nx, ny = -ty / norm, tx / norm
            for side in (1, -1):
                d = side * offset_m / M_PER_DEG
                points.append((here.x + d * nx / coslat, here.y + d * ny))
    return points


@pytest.mark.parametrize(
    ("a", "b"),
    [("440104", "440106"), ("440103", "440105"), ("440105", "440106"), ("440111", "440114")],
    ids=["Yuexiu|Tianhe", "Liwan|Haizhu (Pearl River)", "Haizhu|Tianhe (Pearl River)", "Baiyun|Huadu"],
)
def test_placement_across_district_borders(gz: CityModel, a: str, b: str) -> None:
    checked_interior = 0
    sides = set()
    for offset in (300.0, 600.0, 900.0):
        points = border_points(gz, a, b, offset)
        lon = np.array([p[0] for p in points])
        lat = np.array([p[1] for p in points])
        grid_id, code = gz.assign(lon, lat)
        for x, y, g, c in zip(lon, lat, grid_id, code, strict=True):
            truth = containing_district(gz, x, y)
            if truth is None:
                assert c is None
                continue
            assert g == cell_of(gz, x, y)
            # a point always takes its cell's district
            assert c == gz.grids.loc[g, "district_code"]
            if cell_within(gz, g, truth):
                assert c == truth
                checked_interior += 1
                sides.add(truth)
    assert checked_interior >= 20
    assert sides == {a, b}


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(st.floats(112.95, 114.06), st.floats(22.51, 23.94)), min_size=1, max_size=40
    )
)
def test_property_assign_matches_polygon_in_interior_cells(
    gz: CityModel, points: list[tuple[float, float]]
) -> None:
    lon = np.array([p[0] for p in points])
    lat = np.array([p[1] for p in points])
    grid_id, code = gz.assign(lon, lat)
    for x, y, g, c in zip(lon, lat, grid_id, code, strict=True):
        truth = containing_district(gz, x, y)
        if truth is None:
            assert c is None and g is None
            continue
        assert g == cell_of(gz, x, y)
        assert c == gz.grids.loc[g, "district_code"]
        if cell_within(gz, g, truth):
            assert c == truth


def test_assign_shapes_and_errors(gz: CityModel) -> None:
    grid_id, code = gz.assign(np.array([], dtype=float), np.array([], dtype=float))
    assert grid_id.shape == code.shape == (0,)
    grid_id, code = gz.assign(np.array([113.3245, 0.0]), np.array([23.1064, 0.0]))
    assert grid_id.dtype == object and code.dtype == object
    assert list(code) == ["440105", None]
    with pytest.raises(ValueError, match="differ in length"):
        gz.assign(np.array([1.0, 2.0]), np.array([1.0]))


def test_geojson(gz: CityModel) -> None:
    grid = gz.grid_geojson()
    assert grid["type"] == "FeatureCollection"
    assert len(grid["features"]) == len(gz.grids)
    first = grid["features"][0]
    assert first["id"] == gz.grids.index[0]
    assert first["properties"] == {"district_code": gz.grids["district_code"].iloc[0]}
    ring = first["geometry"]["coordinates"][0]
    assert ring[0] == ring[-1] and len(ring) == 7
    assert all(round(v, 5) == v for xy in ring for v in xy)
    districts = gz.district_geojson()
    assert [f["id"] for f in districts["features"]] == list(gz.districts.index)
    assert districts["features"][3]["properties"]["name_en"] == "Tianhe"
    text = json.dumps(districts)
    assert len(text) < 400_000
    assert shapely.from_geojson(json.dumps(districts["features"][0]["geometry"])).is_valid


@pytest.mark.parametrize(
    "box",
    [(113.0, 22.5, 113.1, 22.6), (113.2, 23.0, 113.45, 23.2), (113.9, 23.8, 114.06, 23.94),
     (112.96, 22.51, 114.06, 23.94)],
)
def test_equal_area_matches_geodesic_area(box: tuple[float, float, float, float]) -> None:
    # reference: the area of the box on the WGS-84 ellipsoid, edges densified so geodesic ≈ lon/lat lines
    polygon = shapely.segmentize(shapely.box(*box), 0.005)
    geodesic_km2 = abs(pyproj.Geod(ellps="WGS84").geometry_area_perimeter(polygon)[0]) / 1e6
    measured = EqualArea((112.96, 22.51, 114.06, 23.94)).area_km2(np.array([polygon]))[0]
    assert measured == pytest.approx(geodesic_km2, rel=2e-4)


# --- cache ---------------------------------------------------------------------------------------------


def test_cache_round_trip_and_load_time(gz: CityModel, cache_dir: Path) -> None:
    sources = CitySources(districts_file=DISTRICTS, **GZ)
    timings = []
    for _ in range(3):
        start = time.perf_counter()
        loaded = open_city(sources, cache_dir, memo=False)
        timings.append(time.perf_counter() - start)
    print(f"city model load from cache: {min(timings) * 1000:.1f} ms")
    assert min(timings) < 0.3
    assert loaded is not gz and loaded.version == gz.version
    pd.testing.assert_frame_equal(loaded.districts, gz.districts)
    pd.testing.assert_frame_equal(loaded.grids, gz.grids)
    assert all(shapely.equals_exact(loaded.district_shapes.to_numpy(), gz.district_shapes.to_numpy(), 0))
    assert shapely.equals_exact(loaded.city_outline, gz.city_outline, 0)
    lon = np.array([113.3245, 113.2988, 113.75])
    lat = np.array([23.1064, 23.3924, 22.45])
    for got, want in zip(loaded.assign(lon, lat), gz.assign(lon, lat), strict=True):
        assert list(got) == list(want)


def test_cache_key_follows_inputs(tmp_path: Path) -> None:
    a = tmp_path / "a.geojson"
    a.write_bytes(DISTRICTS.read_bytes())
    first = build_city(a, h3_resolution=6)
    again = build_city(a, h3_resolution=6)
    assert again is first  # process memo
    assert build_city(a, h3_resolution=7).version != first.version
    a.write_bytes(DISTRICTS.read_bytes() + b"\n")
    assert build_city(a, h3_resolution=6).version != first.version


def test_corrupt_cache_is_rebuilt(tmp_path: Path) -> None:
    sources = CitySources(districts_file=DISTRICTS, h3_resolution=6)
    built = open_city(sources, tmp_path, memo=False)
    (cache_file,) = tmp_path.glob("city-*.pickle")
    cache_file.write_bytes(b"not a pickle")
    rebuilt = open_city(sources, tmp_path, memo=False)
    pd.testing.assert_frame_equal(rebuilt.grids, built.grids)
    assert cache_file.read_bytes()[:1] == b"\x80"  # rewritten as a pickle


def test_load_city_from_settings(tmp_path: Path, gz: CityModel) -> None:
    city = load_city(Settings(cache_dir=tmp_path))
    assert city is gz  # same inputs: the process memo answers, whatever the cache directory
    coarse = load_city(Settings(cache_dir=tmp_path, h3_resolution=7))
    assert len(coarse.districts) == 11 and coarse.h3_resolution == 7
    assert coarse.districts.loc["440106", "name_en"] == "Tianhe"
    assert 1_400 < len(coarse.grids) < 1_800
    assert load_city(Settings(cache_dir=tmp_path, h3_resolution=7)) is coarse
    assert [p.name for p in tmp_path.glob("city-*.pickle")] == [f"city-{coarse.version[:24]}.pickle"]


# --- broken boundary files -----------------------------------------------------------------------------


def square(x: float, y: float, size: float = 0.1) -> list[list[list[float]]]:
    return [[[x, y], [x + size, y], [x + size, y + size], [x, y + size], [x, y]]]


def feature(props: dict[str, object], coords: object, kind: str = "Polygon") -> dict[str, object]:
    geometry = None if coords is None else {"type": kind, "coordinates": coords}
    return {"type": "Feature", "properties": props, "geometry": geometry}


def write_collection(path: Path, features: list[dict[str, object]]) -> Path:
    path.write_text(json.dumps({"type": "FeatureCollection", "features": features}), encoding="utf-8")
    return path


GOOD_A = {"code": "990101", "name_zh": "甲区"}
GOOD_B = {"code": "990102", "name_zh": "乙区"}
BROKEN = [
    ("garbage", "cannot be read", None),
    ("no-features", "holds no features", []),
    ("missing-code", "has no column 'code' (setting district_code_column); its columns are: name_zh, kod",
     [feature({"name_zh": "甲区", "kod": "990101"}, square(100, 30))]),
    ("duplicate", "repeated: 990101 (2 times)",
     [feature(GOOD_A, square(100, 30)), feature({**GOOD_B, "code": "990101"}, square(100.1, 30))]),
    ("null-geometry", "feature(s) 1 have no geometry",
     [feature(GOOD_A, square(100, 30)), feature(GOOD_B, None)]),
    ("bowtie", "feature 0 has an invalid geometry (Self-intersection",
     [feature(GOOD_A, [[[100, 30], [100.1, 30.1], [100.1, 30], [100, 30.1], [100, 30]]])]),
    ("line", "feature 0 is a LineString; expected Polygon or MultiPolygon",
     [feature(GOOD_A, [[100, 30], [100.1, 30.1]], "LineString")]),
    ("metres", "which is not longitude/latitude",
     [feature(GOOD_A, square(500_000, 2_500_000, 10_000))]),
    ("bad-code", "6-digit administrative codes", [feature({**GOOD_A, "code": "A-1"}, square(100, 30))]),
    ("no-name", "feature 1 has no name", [feature(GOOD_A, square(100, 30)),
                                          feature({**GOOD_B, "name_zh": " "}, square(100.1, 30))]),
    ("overlap", "districts 990101 and 990102 overlap",
     [feature(GOOD_A, square(100, 30)), feature(GOOD_B, square(100.05, 30))]),
    ("population", "has population 'many'",
     [feature({**GOOD_A, "pop": "many"}, square(100, 30))]),
]


@pytest.mark.parametrize(("name", "problem", "features"), BROKEN, ids=[b[0] for b in BROKEN])
def test_broken_district_file(
    tmp_path: Path, name: str, problem: str, features: list[dict[str, object]] | None
) -> None:
    path = tmp_path / f"{name}.geojson"
    if features is None:
        path.write_text("{ this is not json", encoding="utf-8")
    else:
        write_collection(path, features)
    with pytest.raises(ConfigError) as info:
        build_city(path, population_column="pop")
    message = str(info.value)
    assert str(path) in message and "districts_file" in message
    assert problem in message


def test_missing_district_file(tmp_path: Path) -> None:
    path = tmp_path / "missing.geojson"
    with pytest.raises(ConfigError, match="does not exist") as info:
        build_city(path)
    assert str(path) in str(info.value) and "districts_file" in str(info.value)


def test_projected_crs_is_refused(tmp_path: Path) -> None:
    frame = gpd.GeoDataFrame(
        {"code": ["990101"], "name_zh": ["甲区"]},
        geometry=[shapely.box(11_000_000, 3_400_000, 11_010_000, 3_410_000)],
        crs="EPSG:3857",
    )
    path = tmp_path / "mercator.gpkg"
    frame.to_file(path)
    with pytest.raises(ConfigError, match="projected CRS") as info:
        build_city(path)
    assert str(path) in str(info.value)


def test_streets_outside_every_district(tmp_path: Path) -> None:
    districts = write_collection(tmp_path / "d.geojson", [feature(GOOD_A, square(100, 30))])
    streets = write_collection(
        tmp_path / "s.geojson", [feature({"code": "s1", "name": "x"}, square(101, 31))]
    )
    with pytest.raises(ConfigError, match=r"streets_file\): street\(s\) s1 lie outside every district"):
        build_city(districts, streets_file=streets)


def test_grid_file_outside_every_district(tmp_path: Path) -> None:
    districts = write_collection(tmp_path / "d.geojson", [feature(GOOD_A, square(100, 30))])
    grid = write_collection(tmp_path / "g.geojson", [feature({"id": "g1"}, square(101, 31))])
    with pytest.raises(ConfigError, match="no cell overlaps any district"):
        build_city(districts, grid_file=grid)


# --- another city, configured through settings alone ---------------------------------------------------


@pytest.fixture(scope="module")
def other_city(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """Two 0.1° districts side by side (west 990101, east 990102), with other column names, as a
    GeoPackage; a Shapefile of four streets (north/south halves); a GeoJSON grid of 0.06° columns whose
    second column straddles the district border (2/3 west), plus one cell out at sea."""
    root = tmp_path_factory.mktemp("other-city")
    districts = gpd.GeoDataFrame(
        {"adcode": [990102, 990101], "dname": ["东区", "西区"], "dname_en": ["East", "West"],
         "pop": [1000, None]},
        geometry=[shapely.box(100.1, 30.0, 100.2, 30.1), shapely.box(100.0, 30.0, 100.1, 30.1)],
        crs="EPSG:4326",
    )
    districts.to_file(root / "districts.gpkg")
    streets = gpd.GeoDataFrame(
        {"jdcode": ["990101001", "990101002", "990102001", "990102002"],
         "jdname": ["西北", "西南", "东北", "东南"]},
        geometry=[shapely.box(100.0, 30.05, 100.1, 30.1), shapely.box(100.0, 30.0, 100.1, 30.05),
                  shapely.box(100.1, 30.05, 100.2, 30.1), shapely.box(100.1, 30.0, 100.2, 30.05)],
        crs="EPSG:4326",
    )
    streets.to_file(root / "streets.shp", encoding="utf-8")
    cells = []
    for i, x in enumerate((100.0, 100.06, 100.12)):
        for j, y in enumerate((30.0, 30.04, 30.08)):
            width = 0.08 if x == 100.12 else 0.06
            cells.append(feature({"cell": f"c{i}{j}"}, shapely.geometry.mapping(
                shapely.box(x, y, x + width, min(y + 0.04, 30.1)))["coordinates"]))
    cells.append(feature({"cell": "sea"}, square(101.0, 31.0)))
    write_collection(root / "grid.geojson", cells)
    return Settings(
        districts_file=root / "districts.gpkg",
        district_code_column="adcode",
        district_name_column="dname",
        district_name_en_column="dname_en",
        population_column="pop",
        city_file=None,
        streets_file=root / "streets.shp",
        street_code_column="jdcode",
        street_name_column="jdname",
        grid_file=root / "grid.geojson",
        grid_id_column="cell",
        cache_dir=root / "cache",
    )


def test_other_city_model(other_city: Settings) -> None:
    city = load_city(other_city)
    assert list(city.districts.index) == ["990101", "990102"]
    assert list(city.districts["name_en"]) == ["West", "East"]
    assert list(city.districts["population"]) == [0, 1000]
    assert city.h3_resolution is None
    # 0.1° x 0.1° at 30°N: 11.09 km x 9.64 km
    assert city.districts["area_km2"].to_numpy() == pytest.approx([106.9, 106.9], rel=0.002)
    assert city.streets is not None
    assert dict(city.streets["district_code"]) == {
        "990101001": "990101", "990101002": "990101", "990102001": "990102", "990102002": "990102",
    }
    grids = city.grids
    assert sorted(grids.index) == [f"c{i}{j}" for i in range(3) for j in range(3)]  # "sea" left out
    assert grids.loc["c10", "district_code"] == "990101"  # 100.06-100.12: 2/3 west
    assert grids.loc["c10", "district_share"] == pytest.approx(2 / 3, rel=1e-3)
    assert grids.loc["c20", "district_code"] == "990102"
    # each cell's street lies in the cell's district, by majority area among those streets
    assert grids.loc["c00", "street_code"] == "990101002"
    assert grids.loc["c02", "street_code"] == "990101001"
    assert grids.loc["c12", "street_code"] == "990101001"
    for grid_id, row in grids.iterrows():
        assert city.streets.loc[row["street_code"], "district_code"] == row["district_code"], grid_id
    assert not grids["boundary"].any()
    assert grids["area_km2"].sum() == pytest.approx(city.districts["area_km2"].sum(), rel=1e-6)


@pytest.mark.parametrize(
    ("lon", "lat", "grid_id", "district_code"),
    [
        (100.03, 30.02, "c00", "990101"),
        (100.11, 30.02, "c10", "990101"),  # inside the east district, but its cell is mostly west
        (100.15, 30.09, "c22", "990102"),
        (100.06, 30.02, "c00", "990101"),  # on the edge of c00 and c10: the first cell in file order
        (100.25, 30.05, None, None),
        (101.05, 31.05, None, None),  # in the dropped sea cell
    ],
)
def test_other_city_assign(
    other_city: Settings, lon: float, lat: float, grid_id: str | None, district_code: str | None
) -> None:
    city = load_city(other_city)
    got_grid, got_district = city.assign(np.array([lon]), np.array([lat]))
    assert (got_grid[0], got_district[0]) == (grid_id, district_code)


def test_other_city_h3_and_geojson(other_city: Settings) -> None:
    city = load_city(other_city.model_copy(update={"grid_file": None, "h3_resolution": 7}))
    assert city.h3_resolution == 7
    # 214 km² / 5.16 km² per res-7 cell ≈ 41, plus the cells along the edge
    assert 41 <= len(city.grids) <= 70
    lon, lat = np.array([100.05, 100.15]), np.array([30.05, 30.05])
    grid_id, code = city.assign(lon, lat)
    assert list(code) == ["990101", "990102"]
    assert list(grid_id) == [h3.latlng_to_cell(30.05, x, 7) for x in lon]
    features = load_city(other_city).grid_geojson()["features"]
    assert {f["id"] for f in features} == set(load_city(other_city).grids.index)
    assert features[0]["properties"]["street_code"] == "990101002"
