"""Positions on the Earth as SQL expressions: moving a point by metres, measuring distances.

Offsets use the local flat-Earth approximation, exact to well under a metre at city scale.
"""

from __future__ import annotations

import math

from journeylake.generator.expressions import Sql

METRES_PER_DEGREE = 111_320.0
EARTH_RADIUS_M = 6_371_008.8


def offset(lat: Sql, lon: Sql, metres: Sql, angle: Sql) -> tuple[Sql, Sql]:
    """The point `metres` away from (`lat`, `lon`) in direction `angle` (radians, 0 = north)."""
    new_lat = f"({lat} + ({metres}) * cos({angle}) / {METRES_PER_DEGREE}D)"
    new_lon = f"({lon} + ({metres}) * sin({angle}) / ({METRES_PER_DEGREE}D * cos(radians({lat}))))"
    return new_lat, new_lon


def distance_m(lat1: Sql, lon1: Sql, lat2: Sql, lon2: Sql) -> Sql:
    """Great-circle (haversine) distance in metres."""
    a = (
        f"pow(sin(radians({lat2} - {lat1}) / 2), 2) + cos(radians({lat1})) * cos(radians({lat2}))"
        f" * pow(sin(radians({lon2} - {lon1}) / 2), 2)"
    )
    return f"({2 * EARTH_RADIUS_M}D * asin(least(1.0D, sqrt({a}))))"


def full_turn(u: Sql) -> Sql:
    """An angle in radians from `u` in [0, 1)."""
    return f"({u} * {2 * math.pi!r}D)"
