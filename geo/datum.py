"""Datum conversion between WGS-84, GCJ-02 and BD-09, vectorised over numpy arrays.

GCJ-02 ("Mars coordinates") is the datum of Chinese web maps (AMap/Gaode, Tencent) and of the city's
boundary layer; BD-09 is Baidu's further offset of GCJ-02. The formulas are the public reverse-engineered
ones used by eviltransform and coordtransform (Krasovsky ellipsoid a = 6378245.0 m,
e² = 0.00669342162296594323; BD-09 with x_pi = π·3000/180). They are accurate to roughly a metre, which is
far below the size of a grid cell.

All functions take and return longitude first, in degrees, as float64 arrays of the same shape (scalars
and lists are accepted). NaN inputs give NaN outputs. Like the reference algorithm, points outside a rough
box around China (lon 72.004–137.8347, lat 0.8293–55.8271) are not shifted between WGS-84 and GCJ-02:
GCJ-02 is only defined inside China.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

__all__ = [
    "bd09_to_gcj02",
    "gcj02_to_bd09",
    "gcj02_to_wgs84",
    "in_china_box",
    "wgs84_to_gcj02",
]

_A = 6378245.0  # Krasovsky 1940 semi-major axis (m), as GCJ-02 uses it
_EE = 0.00669342162296594323  # Krasovsky first eccentricity squared
_X_PI = np.pi * 3000.0 / 180.0

_CHINA_LON = (72.004, 137.8347)
_CHINA_LAT = (0.8293, 55.8271)

ArrayLike = npt.ArrayLike
FloatArray = npt.NDArray[np.float64]


def _as_arrays(lon: ArrayLike, lat: ArrayLike) -> tuple[FloatArray, FloatArray]:
    lon_a = np.asarray(lon, dtype=np.float64)
    lat_a = np.asarray(lat, dtype=np.float64)
    if lon_a.shape != lat_a.shape:
        raise ValueError(f"lon has shape {lon_a.shape} but lat has shape {lat_a.shape}; they must match")
    return lon_a, lat_a


def in_china_box(lon: ArrayLike, lat: ArrayLike) -> npt.NDArray[np.bool_]:
    """True where (lon, lat) in degrees lies in the rough box where GCJ-02 differs from WGS-84."""
    lon_a, lat_a = _as_arrays(lon, lat)
    return (
        (lon_a >= _CHINA_LON[0])
        & (lon_a <= _CHINA_LON[1])
        & (lat_a >= _CHINA_LAT[0])
        & (lat_a <= _CHINA_LAT[1])
    )


def _gcj_offset(lon: FloatArray, lat: FloatArray) -> tuple[FloatArray, FloatArray]:
    """GCJ-02 minus WGS-84 (degrees) at WGS-84 (lon, lat), without the China box."""
    x = lon - 105.0
    y = lat - 35.0
    sqrt_abs_x = np.sqrt(np.abs(x))
    x_pi = x * np.pi
    y_pi = y * np.pi
    common = 20.0 * np.sin(6.0 * x_pi) + 20.0 * np.sin(2.0 * x_pi)
    d_lat = common + 20.0 * np.sin(y_pi) + 40.0 * np.sin(y_pi / 3.0)
    d_lat += 160.0 * np.sin(y_pi / 12.0) + 320.0 * np.sin(y_pi / 30.0)
    d_lat *= 2.0 / 3.0
    d_lat += -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * sqrt_abs_x
    d_lon = common + 20.0 * np.sin(x_pi) + 40.0 * np.sin(x_pi / 3.0)
    d_lon += 150.0 * np.sin(x_pi / 12.0) + 300.0 * np.sin(x_pi / 30.0)
    d_lon *= 2.0 / 3.0
    d_lon += 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * sqrt_abs_x

    rad_lat = lat / 180.0 * np.pi
    magic = 1.0 - _EE * np.sin(rad_lat) ** 2
    sqrt_magic = np.sqrt(magic)
    d_lat = (d_lat * 180.0) / ((_A * (1.0 - _EE)) / (magic * sqrt_magic) * np.pi)
    d_lon = (d_lon * 180.0) / (_A / sqrt_magic * np.cos(rad_lat) * np.pi)
    return d_lon, d_lat


def wgs84_to_gcj02(lon: ArrayLike, lat: ArrayLike) -> tuple[FloatArray, FloatArray]:
    """Convert WGS-84 (GPS) lon/lat in degrees to GCJ-02; points outside China are returned unchanged.

    >>> lon, lat = wgs84_to_gcj02([113.2644], [23.1291])  # Guangzhou: shifted ~0.005° east, ~0.003° south
    """
    lon_a, lat_a = _as_arrays(lon, lat)
    inside = in_china_box(lon_a, lat_a)
    d_lon, d_lat = _gcj_offset(lon_a, lat_a)
    return np.where(inside, lon_a + d_lon, lon_a), np.where(inside, lat_a + d_lat, lat_a)


def gcj02_to_wgs84(
    lon: ArrayLike, lat: ArrayLike, *, tolerance_deg: float = 1e-10, max_iter: int = 30
) -> tuple[FloatArray, FloatArray]:
    """Invert :func:`wgs84_to_gcj02` by fixed-point iteration (degrees in, degrees out).

    The offset changes slowly with position, so ``wgs = gcj - offset(wgs)`` converges in a handful of
    steps to ``tolerance_deg`` (default 1e-10°, about 0.01 mm). Points outside China are unchanged.
    """
    gcj_lon, gcj_lat = _as_arrays(lon, lat)
    inside = in_china_box(gcj_lon, gcj_lat)
    wgs_lon, wgs_lat = gcj_lon.copy(), gcj_lat.copy()
    for _ in range(max_iter):
        fwd_lon, fwd_lat = wgs84_to_gcj02(wgs_lon, wgs_lat)
        err_lon = fwd_lon - gcj_lon
        err_lat = fwd_lat - gcj_lat
        wgs_lon = wgs_lon - err_lon
        wgs_lat = wgs_lat - err_lat
        # NaN errors (NaN inputs) compare False, so they never keep the loop alive
        if not (np.any(np.abs(err_lon) > tolerance_deg) or np.any(np.abs(err_lat) > tolerance_deg)):
            break
    return np.where(inside, wgs_lon, gcj_lon), np.where(inside, wgs_lat, gcj_lat)


def bd09_to_gcj02(lon: ArrayLike, lat: ArrayLike) -> tuple[FloatArray, FloatArray]:
    """Convert Baidu BD-09 lon/lat in degrees to GCJ-02 (applied everywhere, as Baidu's formula is)."""
    lon_a, lat_a = _as_arrays(lon, lat)
    x = lon_a - 0.0065
    y = lat_a - 0.006
    z = np.hypot(x, y) - 0.00002 * np.sin(y * _X_PI)
    theta = np.arctan2(y, x) - 0.000003 * np.cos(x * _X_PI)
    return z * np.cos(theta), z * np.sin(theta)


def gcj02_to_bd09(lon: ArrayLike, lat: ArrayLike) -> tuple[FloatArray, FloatArray]:
    """Convert GCJ-02 lon/lat in degrees to Baidu BD-09 (the simulator uses it to produce bd09 records)."""
    lon_a, lat_a = _as_arrays(lon, lat)
    z = np.hypot(lon_a, lat_a) + 0.00002 * np.sin(lat_a * _X_PI)
    theta = np.arctan2(lat_a, lon_a) + 0.000003 * np.cos(lon_a * _X_PI)
    return z * np.cos(theta) + 0.0065, z * np.sin(theta) + 0.006
