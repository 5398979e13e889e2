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
    ROAD_EDGES: bounded by the source's road edges, reached from the centerlines, where it has
    edges but no drivable or lane polygon (``synth.sources.common.drivable_from_road_edges``).
    """

    EXPLICIT = 0
    DERIVED = 1
    ROAD_EDGES = 2


class Outcome(_NamedEnum):
    """Label of one counterfactual plan (precedence COLLISION > OFFROAD > NEAR_MISS > SAFE)."""

    SAFE = 0
    NEAR_MISS = 1
    COLLISION = 2
    OFFROAD = 3


class SignalState(_NamedEnum):
    """State of a traffic signal for one controlled lane at one frame (the ``signals`` table).

    UNKNOWN: not observed (or a state the source does not name). GO: may cross the stop line.
    CAUTION: amber / flashing amber, and a flashing red (an all-way stop: crossing after stopping
    is legal). STOP: may not cross the stop line (red, red arrow); crossing it is a red-light event.
    Source mappings: :mod:`schemas.signals` (``waymo_state``, ``nuplan_state``).
    """

    UNKNOWN = 0
    GO = 1
    CAUTION = 2
    STOP = 3
