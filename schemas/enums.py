"""Enumerations of the canonical data model.

Integer values are stable: they are what the Parquet tables store next to the names
and what learned models embed. Never renumber; only append.
"""
from __future__ import annotations

import enum


class _NamedEnum(enum.IntEnum):
    @classmethod
    def parse(cls, value: "str | int | _NamedEnum"):
        """Accept a member, its integer value or its (case-insensitive) name."""
        if isinstance(value, cls):
            return value
        if isinstance(value, str):
            try:
                return cls[value.strip().upper()]
            except KeyError:
                raise ValueError(f"{value!r} is not a {cls.__name__} (one of {[m.name for m in cls]})") from None
        return cls(int(value))


class ObjectType(_NamedEnum):
    """Kind of a tracked object. STATIC covers cones, barriers and other fixed objects."""

    VEHICLE = 0
    PEDESTRIAN = 1
    CYCLIST = 2
    STATIC = 3


class LineType(_NamedEnum):
    """Painted lane line. Crossing SOLID or DOUBLE_SOLID counts as a lane-keeping violation."""

    UNKNOWN = 0
    BROKEN = 1
    SOLID = 2
    DOUBLE_SOLID = 3


class MapFeatureType(_NamedEnum):
    """Row kind of the ``map_features`` table."""

    LANE_CENTERLINE = 0
    LANE_LINE = 1
    ROAD_EDGE = 2
    CROSSWALK = 3
    DRIVABLE_AREA = 4


class DrivableAreaSource(_NamedEnum):
    """Where a scenario's drivable area came from.

    EXPLICIT: the source ships road edges / drivable-area polygons.
    DERIVED: built from lane polygons plus buffered centerlines
    (``synth.sources.common.derive_drivable_area``).
    """

    EXPLICIT = 0
    DERIVED = 1


class Outcome(_NamedEnum):
    """Label of one counterfactual plan (precedence COLLISION > OFFROAD > NEAR_MISS > SAFE)."""

    SAFE = 0
    NEAR_MISS = 1
    COLLISION = 2
    OFFROAD = 3
