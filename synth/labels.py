"""Exact event labels for candidate plans, vectorised over candidates x agents x time.

* Collision: oriented-box overlap of the ego with every agent. For each 0.1 s interval
  the closest approach of the two linearly interpolated centres is computed exactly;
  only intervals where it falls below the sum of both half-diagonals are refined at
  ``fine_steps`` sub-steps (100 Hz by default) with a separating-axis test, so no
  collision tunnels between frames. Collision time is the first overlapping sub-step.
* Off-road: any ego footprint corner outside the drivable area (shapely's ``contains_xy``, or the
  same test on a :class:`synth.point_in_polygon.PolygonIndex` cell grid when given one), sampled at ``offroad_steps`` per frame and refined to 100 Hz
  around the first exit.
* Solid-line crossings: intersections of the ego centre path with SOLID and
  DOUBLE_SOLID lines.
* Minimum distance: exact box-to-box distance when below 5 m; above, the centre distance
  minus both half-diagonals (a lower bound), which is all the near-miss rule needs.
* Red light: the ego's front point crosses the stop line of its lane while that lane shows STOP
  (:mod:`synth.signals`; only with ``signals``). It does not change the outcome.
* TTC: both boxes covered by three discs along their length and projected at constant
  velocity from every second frame (5 Hz) before the first contact; the earliest contact within 5 s (discs already touching
  give 0). Pairs whose centres never come within 40 m are skipped entirely.

Shapes: N plans, A agents, T = H + 1 frames. Agent arrays are ``[Na, A, T]`` with
Na = 1 (shared) or N (per plan, for perturbed agents). The ego plans are a
:class:`synth.kinematics.Plans` (only x, y, heading, speed are read) with the ego box size.
"""
from __future__ import annotations

import dataclasses

import numpy as np
import shapely

from schemas import ObjectType, Outcome
from schemas.tracks import Tracks

from .config import LabelThresholds
from .kernels import footprint_samples, pair_labels
from .point_in_polygon import PolygonIndex
from .kinematics import Plans
from .signals import SignalWindow, red_light_labels

PAIR_RANGE_M = 40.0    # plan-agent pairs never closer than this (centres) are not examined further
TTC_REACH_M = 25.0     # TTC is evaluated where the centre gap is below this
TTC_HORIZON_S = 5.0    # a projected contact later than this does not count
TTC_STRIDE = 2         # TTC is evaluated every TTC_STRIDE frames (5 Hz)
SAFE_SPEED_MPS = 45.0  # off-road shortcut valid up to this speed (faster samples are always checked)
STOPPED_MPS = 0.5      # an ego slower than this at contact is not at fault
EXACT_DISTANCE_M = 5.0  # min distance is exact below this; above it, centre distance minus half-diagonals (a lower bound)


AgentFutures = Tracks
"""The other agents over the plan horizon, the ego excluded: a :class:`~schemas.tracks.Tracks` block
``[Na, A, T]`` (scenario frame; Na = 1 shared, or one version per plan), 0 where not valid."""


@dataclasses.dataclass(frozen=True, eq=False)
class Labels:
    """Event labels of N plans: one entry per plan, every field ``[N]``; times in s from the anchor."""

    outcome: np.ndarray
    """object (str): the :class:`schemas.Outcome` name; COLLISION over OFFROAD over NEAR_MISS over SAFE."""
    collision: np.ndarray
    """bool: the ego box overlaps some agent's box within the horizon."""
    collision_time_s: np.ndarray
    """float64 s: the first overlapping sub-step (``fine_steps`` per frame); NaN without collision."""
    collision_agent: np.ndarray
    """int64: index (second axis of the agents) of the agent hit first; -1 without collision."""
    collision_agent_type: np.ndarray
    """object: the :class:`schemas.ObjectType` name of the agent hit first; None without collision."""
    collision_rel_speed: np.ndarray
    """float64 m/s: ego-agent relative speed at the first contact; NaN without collision."""
    collision_at_fault: np.ndarray
    """bool: the first contact counts against the ego (:func:`collision_at_fault`)."""
    offroad: np.ndarray
    """bool: some ego footprint corner leaves the drivable area."""
    offroad_time_s: np.ndarray
    """float64 s: the first exit, refined to 100 Hz; NaN when the plan stays on the road."""
    solid_line_crossings: np.ndarray
    """int32: crossings of SOLID / DOUBLE_SOLID lines by the ego centre path (a start on a line is none)."""
    min_ttc_s: np.ndarray
    """float64 s: smallest constant-velocity time to contact (0 when touching); NaN when none within 5 s."""
    min_distance_m: np.ndarray
    """float64 m: smallest box-to-box distance (exact below 5 m, a lower bound above); NaN when no
    agent centre comes within :data:`PAIR_RANGE_M`."""
    red_light: np.ndarray
    """bool: the ego front crosses the stop line of its lane while the lane shows STOP (:mod:`synth.signals`)."""
    red_light_time_s: np.ndarray
    """float64 s: the first red-light crossing (linear between frames); NaN without one."""

    def __len__(self) -> int:
        return len(self.outcome)

    def take(self, idx) -> "Labels":
        """The labels of plans ``idx`` (index or slice over N)."""
        return Labels(*(getattr(self, f.name)[idx] for f in dataclasses.fields(self)))

    def columns(self) -> dict[str, np.ndarray]:
        """``{name: [N] array}`` in field order (the counterfactual table's label columns, plus ``collision_agent``)."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}


def inner_drivable(drivable: shapely.Geometry, length: float, width: float, dt: float) -> shapely.Geometry:
    """Drivable area eroded so that an ego centre inside it keeps every corner inside for half a frame.

    Margin: half-diagonal plus half a frame of motion at :data:`SAFE_SPEED_MPS`.
    """
    inner = shapely.buffer(drivable, -(0.5 * np.hypot(length, width) + 0.5 * SAFE_SPEED_MPS * dt), quad_segs=2)
    shapely.prepare(inner)
    return inner


def label_plans(ego: Plans, agents: AgentFutures, drivable: shapely.Geometry | PolygonIndex,
                solid_lines: shapely.Geometry | None, dt: float, th: LabelThresholds,
                drivable_inner: shapely.Geometry | PolygonIndex | None = None, *,
                length: float, width: float, signals: SignalWindow | None = None) -> Labels:
    """Label N ego plans ``[N, T]`` whose box is ``length`` x ``width`` m.

    ``signals`` (from :func:`synth.signals.signal_window` at the plans' anchor) gives the red-light label;
    without it no plan runs a red.

    ``drivable_inner`` (from :func:`inner_drivable`) only speeds the off-road check up:
    intervals whose two end centres lie inside it are inside without corner tests. Either area may be
    given as its :class:`~synth.point_in_polygon.PolygonIndex` (``AnchorContext.drivable_index``), which
    answers the same point tests without a GEOS call per point.
    """
    N, T = ego.x.shape
    Na = agents.x.shape[0]
    rows = np.arange(N) if Na == N else np.zeros(N, dtype=np.int64)
    coll_t, coll_agent, coll_rel, min_dist, min_ttc = pair_labels(
        ego.x, ego.y, ego.heading, ego.speed, float(length), float(width),
        agents.x, agents.y, agents.heading, agents.vx, agents.vy, agents.length, agents.width, agents.valid, rows,
        dt, th.fine_steps, PAIR_RANGE_M, TTC_REACH_M, TTC_HORIZON_S, TTC_STRIDE, th.ttc_min_closing_mps,
        EXACT_DISTANCE_M)
    collision = np.isfinite(coll_t)
    at_fault = collision_at_fault(ego, length, agents, rows, coll_t, coll_agent, dt)

    # ---------------------------------------------------------------- off-road
    offroad_t = _first_exit(ego, length, width, drivable, th.offroad_steps, dt, inner=drivable_inner)
    if np.isfinite(offroad_t).any():  # refine the first exit to 100 Hz inside its coarse interval
        fine = _first_exit(ego, length, width, drivable, 10, dt, only=np.isfinite(offroad_t), until=offroad_t)
        offroad_t = np.minimum(offroad_t, fine)
    offroad = np.isfinite(offroad_t)

    # ---------------------------------------------------------------- lines
    crossings = np.zeros(N, dtype=np.int32)
    if solid_lines is not None and not solid_lines.is_empty:
        paths = shapely.linestrings(np.stack([ego.x, ego.y], axis=-1))
        hits = shapely.intersection(paths, solid_lines)
        crossings = np.where(shapely.is_empty(hits), 0, shapely.get_num_coordinates(hits)).astype(np.int32)
        # a plan that starts on a line has not crossed it there
        crossings -= shapely.intersects(solid_lines, shapely.points(ego.x[:, 0], ego.y[:, 0])).astype(np.int32)
        crossings = np.maximum(crossings, 0)

    red, red_t = red_light_labels(ego, float(length), signals, dt)

    outcome = np.full(N, Outcome.SAFE.name, dtype=object)
    near_miss = (min_dist < th.near_miss_distance_m) | (min_ttc < th.near_miss_ttc_s)
    outcome[near_miss] = Outcome.NEAR_MISS.name
    outcome[offroad] = Outcome.OFFROAD.name
    outcome[collision] = Outcome.COLLISION.name
    types = np.array([ObjectType(t).name for t in agents.object_type] + [None], dtype=object)
    return Labels(
        outcome=outcome,
        collision=collision,
        collision_time_s=np.where(collision, coll_t, np.nan),
        collision_agent=coll_agent,
        collision_agent_type=np.where(collision, types[coll_agent], None),
        collision_rel_speed=coll_rel,
        collision_at_fault=at_fault,
        offroad=offroad,
        offroad_time_s=np.where(offroad, offroad_t, np.nan),
        solid_line_crossings=crossings,
        min_ttc_s=np.where(np.isfinite(min_ttc), min_ttc, np.nan),
        min_distance_m=np.where(np.isfinite(min_dist), min_dist, np.nan),
        red_light=red,
        red_light_time_s=red_t,
    )


def collision_at_fault(ego: Plans, length: float, agents: AgentFutures, rows: np.ndarray, coll_t: np.ndarray,
                       coll_agent: np.ndarray, dt: float) -> np.ndarray:
    """``[N]`` bool: the first contact counts against the ego (box ``length`` m; NAVSIM's rule): not when the ego
    is (nearly) stopped, below :data:`STOPPED_MPS`, or the other box's centre is behind the
    ego's rear bumper (the ego was hit from behind). Evaluated at the first frame at or after
    contact. With non-reactive log replay, followers running into a braking ego are artefacts."""
    N, T = ego.x.shape
    hit = np.isfinite(coll_t)
    k = np.clip(np.ceil(np.nan_to_num(coll_t, nan=0.0, posinf=0.0) / dt - 1e-9).astype(np.int64), 0, T - 1)
    a = np.clip(coll_agent, 0, max(agents.x.shape[1] - 1, 0))
    n = np.arange(N)
    if agents.x.shape[1] == 0:
        return np.zeros(N, bool)
    dx, dy = agents.x[rows, a, k] - ego.x[n, k], agents.y[rows, a, k] - ego.y[n, k]
    behind = np.cos(ego.heading[n, k]) * dx + np.sin(ego.heading[n, k]) * dy < -0.5 * length
    return hit & (ego.speed[n, k] >= STOPPED_MPS) & ~behind


def contains_xy(area: shapely.Geometry | PolygonIndex, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Whether each point lies in ``area`` (shapely's ``contains_xy``, through the index when ``area`` is one)."""
    return area.contains_xy(x, y) if isinstance(area, PolygonIndex) else shapely.contains_xy(area, x, y)


def _first_exit(ego: Plans, length: float, width: float, drivable, sub: int, dt: float, only=None, until=None,
                inner=None) -> np.ndarray:
    """First time (s) any corner of the ``length`` x ``width`` m footprint is outside ``drivable``,
    sampling ``sub`` per frame.

    With ``inner``, intervals whose end centres are both inside it (and slower than
    SAFE_SPEED_MPS) are known to be inside and not sampled. With ``until`` (refinement),
    only the two intervals before each plan's coarse first exit are sampled.
    """
    N, T = ego.x.shape
    check = np.zeros((N, T), bool)
    rows = np.arange(N) if only is None else np.flatnonzero(only)
    if until is not None:
        k0 = np.clip(np.floor(until[rows] / dt - 1e-9) - 1, 0, T - 2).astype(int)
        check[rows, k0] = True
        check[rows, np.minimum(k0 + 1, T - 2)] = True
    else:
        check[rows] = True
        if inner is not None:
            safe = contains_xy(inner, ego.x[rows], ego.y[rows]) & (ego.speed[rows] <= SAFE_SPEED_MPS)
            check[rows, :-1] = ~(safe[:, :-1] & safe[:, 1:])
            check[rows, -1] = ~safe[:, -1]
    out = np.full(N, np.inf)
    xy, plan, t = footprint_samples(ego.x, ego.y, ego.heading, check, sub, float(length), float(width), dt)
    if len(plan):
        outside = ~contains_xy(drivable, xy[:, 0], xy[:, 1]).reshape(-1, 4).all(axis=1)
        np.minimum.at(out, plan[outside], t[outside])
    return out
