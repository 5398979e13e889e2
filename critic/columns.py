"""Named columns of the critic's feature tables (what :mod:`critic.features` builds).

Each feature tensor's last axis is one of three tables; read it through these names, never by a
literal position: ``agents[..., AgentCol.VEL]`` is (vx, vy), ``plan[..., PlanCol.XY]`` is (x, y).
A name is either one column (an ``int``: the axis is dropped) or a block of adjacent columns (a
``slice``: the axis is kept); :func:`keep` turns one column into a one-wide block. Indexing with
a stored slice is the same operation as the literal slice, bit for bit.

Frame and units of every table: the ego frame at the anchor (origin at the ego box centre, x
along its heading, y to its left; m, rad as cos / sin, m/s), float32.
"""
from __future__ import annotations

from typing import Final


def keep(col: int) -> slice:
    """The one-column block ``col:col + 1`` (keeps the column axis, for broadcasting)."""
    return slice(col, col + 1)


class AgentCol:
    """Columns of the agent features ``[..., 1 + max_agents, history_steps, AgentCol.COUNT]`` (token 0 =
    the ego). Every column is 0 on frames where the token is not valid (padding, unobserved)."""

    X: Final = 0
    """Box centre, m (ego frame)."""
    Y: Final = 1
    COS: Final = 2
    """cos of the heading relative to the ego's."""
    SIN: Final = 3
    VX: Final = 4
    """Velocity, m/s (ego frame)."""
    VY: Final = 5
    LENGTH: Final = 6
    """Box length, m (0 where the log has no size)."""
    WIDTH: Final = 7
    TYPE_START: Final = 8
    """First column of the object-type one-hot: column ``TYPE_START + int(ObjectType)``."""
    TYPE_COUNT: Final = 4
    """Object types in the one-hot (the members of :class:`schemas.ObjectType`)."""
    IS_EGO: Final = TYPE_START + TYPE_COUNT
    """1 on the ego token's valid frames, else 0."""
    COUNT: Final = IS_EGO + 1

    XY: Final = slice(X, Y + 1)
    HEADING: Final = slice(COS, SIN + 1)
    """(cos, sin) of the relative heading."""
    VEL: Final = slice(VX, VY + 1)
    SIZE: Final = slice(LENGTH, WIDTH + 1)
    """(length, width), m."""
    BOX: Final = slice(X, WIDTH + 1)
    """The geometric block: x, y, cos, sin, vx, vy, length, width."""
    TYPE: Final = slice(TYPE_START, TYPE_START + TYPE_COUNT)
    """One-hot :class:`schemas.ObjectType` (VEHICLE, PEDESTRIAN, CYCLIST, STATIC)."""


class MapKind:
    """Polyline kinds: index ``k`` of the one-hot block :data:`MapCol.KIND` (column ``MapCol.KIND_START + k``)."""

    NAMES: Final = ("centerline", "solid", "double_solid", "broken", "unknown", "road_edge", "crosswalk",
                    "drivable_boundary", "signal_unknown", "signal_go", "signal_caution", "signal_stop")
    CENTERLINE: Final = 0
    SOLID: Final = 1
    DOUBLE_SOLID: Final = 2
    BROKEN: Final = 3
    UNKNOWN: Final = 4
    """A painted lane line of unknown type."""
    ROAD_EDGE: Final = 5
    CROSSWALK: Final = 6
    """A crosswalk polygon's outline (closed)."""
    DRIVABLE_BOUNDARY: Final = 7
    """A ring (exterior or hole) of the drivable area."""
    SIGNAL_START: Final = 8
    """A signal-controlled lane from its stop point onward (``lane_path``, :mod:`schemas.signals`), kind
    ``SIGNAL_START + state`` for its :class:`~schemas.enums.SignalState` at the observed frame (UNKNOWN,
    GO, CAUTION, STOP in that order)."""
    SIGNAL_STOP: Final = 11
    COUNT: Final = 12


class MapCol:
    """Columns of the map features ``[..., max_polylines, polyline_points, MapCol.COUNT]``; every
    point of a polyline carries the polyline's kind. Padding polylines are all 0."""

    X: Final = 0
    """Point position, m (ego frame)."""
    Y: Final = 1
    KIND_START: Final = 2
    COUNT: Final = KIND_START + MapKind.COUNT

    XY: Final = slice(X, Y + 1)
    KIND: Final = slice(KIND_START, COUNT)
    """One-hot polyline kind (:class:`MapKind`)."""


class PlanCol:
    """Columns of the plan features ``[..., plan_steps, PlanCol.COUNT]``: the ego's planned states
    0.1 s apart after the anchor (also every subsampled pose of a plan)."""

    X: Final = 0
    """Planned position, m (ego frame at the anchor)."""
    Y: Final = 1
    COS: Final = 2
    """cos of the planned heading relative to the anchor heading."""
    SIN: Final = 3
    SPEED: Final = 4
    """Planned speed, m/s."""
    COUNT: Final = 5

    XY: Final = slice(X, Y + 1)
    HEADING: Final = slice(COS, SIN + 1)
    HEADING_SPEED: Final = slice(COS, SPEED + 1)
    """(cos, sin, speed)."""
