"""Exact event labels for candidate plans, vectorised over candidates x agents x time.

* Collision: oriented-box overlap of the ego with every agent. For each 0.1 s interval
  the closest approach of the two linearly interpolated centres is computed exactly;
  only intervals where it falls below the sum of both half-diagonals are refined at
  ``fine_steps`` sub-steps (100 Hz by default) with a separating-axis test, so no
  collision tunnels between frames. Collision time is the first overlapping sub-step.
* Off-road: any ego footprint corner outside the drivable area (shapely 2 vectorised
  ``contains_xy``), sampled at ``offroad_steps`` per frame and refined to 100 Hz
  around the first exit.
* Solid-line crossings: intersections of the ego centre path with SOLID and
  DOUBLE_SOLID lines.
* Minimum distance: exact box-to-box distance when below 5 m; above, the centre distance
  minus both half-diagonals (a lower bound), which is all the near-miss rule needs.
* TTC: both boxes covered by three discs along their length and projected at constant
  velocity from every second frame (5 Hz) before the first contact; the earliest contact within 5 s (discs already touching
  give 0). Pairs whose centres never come within 40 m are skipped entirely.

Shapes: N plans, A agents, T = H + 1 frames. Agent arrays are ``[Na, A, T]`` with
Na = 1 (shared) or N (per plan, for perturbed agents).
"""
from __future__ import annotations

import dataclasses

import numpy as np
import shapely

from schemas import ObjectType, Outcome

from .config import LabelThresholds
from .kernels import footprint_samples, pair_labels

PAIR_RANGE_M = 40.0    # plan-agent pairs never closer than this (centres) are not examined further
TTC_REACH_M = 25.0     # TTC is evaluated where the centre gap is below this
TTC_HORIZON_S = 5.0    # a projected contact later than this does not count
TTC_STRIDE = 2         # TTC is evaluated every TTC_STRIDE frames (5 Hz)
SAFE_SPEED_MPS = 45.0  # off-road shortcut valid up to this speed (faster samples are always checked)
STOPPED_MPS = 0.5      # an ego slower than this at contact is not at fault
EXACT_DISTANCE_M = 5.0  # min distance is exact below this; above it, centre distance minus half-diagonals (a lower bound)


@dataclasses.dataclass(frozen=True, eq=False)
class AgentFutures:
    """Agents over the plan horizon: ``[Na, A, T]`` arrays (m, rad, m/s) and ``type`` ``[A]``."""

    x: np.ndarray
    y: np.ndarray
    heading: np.ndarray
    vx: np.ndarray
    vy: np.ndarray
    length: np.ndarray
    width: np.ndarray
    valid: np.ndarray
    type: np.ndarray

    def _map(self, index) -> "AgentFutures":
        return AgentFutures(*(getattr(self, f.name)[index] for f in dataclasses.fields(self)[:-1]), type=self.type)

    def frames(self, sl: slice) -> "AgentFutures":
        """The frames ``sl`` of every agent."""
        return self._map((slice(None), slice(None), sl))

    def rows(self, sl: slice) -> "AgentFutures":
        """Future versions ``sl`` (first axis)."""
        return self._map(sl)


@dataclasses.dataclass(frozen=True, eq=False)
class EgoPlans:
    """Ego plans ``[N, T]``: x, y m, heading rad, speed m/s; box ``length``, ``width`` m."""

    x: np.ndarray
    y: np.ndarray
    heading: np.ndarray
    speed: np.ndarray
    length: float
    width: float


def inner_drivable(drivable: shapely.Geometry, length: float, width: float, dt: float) -> shapely.Geometry:
    """Drivable area eroded so that an ego centre inside it keeps every corner inside for half a frame.

    Margin: half-diagonal plus half a frame of motion at :data:`SAFE_SPEED_MPS`.
    """
    inner = shapely.buffer(drivable, -(0.5 * np.hypot(length, width) + 0.5 * SAFE_SPEED_MPS * dt), quad_segs=2)
    shapely.prepare(inner)
    return inner


def label_plans(ego: EgoPlans, agents: AgentFutures, drivable: shapely.Geometry, solid_lines: shapely.Geometry | None,
                dt: float, th: LabelThresholds, drivable_inner: shapely.Geometry | None = None) -> dict[str, np.ndarray]:
    """Label N plans; returns per-plan arrays (NaN where undefined) and ``outcome`` names.

    ``drivable_inner`` (from :func:`inner_drivable`) only speeds the off-road check up:
    intervals whose two end centres lie inside it are inside without corner tests.
    """
    N, T = ego.x.shape
    Na = agents.x.shape[0]
    rows = np.arange(N) if Na == N else np.zeros(N, dtype=np.int64)
    coll_t, coll_agent, coll_rel, min_dist, min_ttc = pair_labels(
        ego.x, ego.y, ego.heading, ego.speed, float(ego.length), float(ego.width),
        agents.x, agents.y, agents.heading, agents.vx, agents.vy, agents.length, agents.width, agents.valid, rows,
        dt, th.fine_steps, PAIR_RANGE_M, TTC_REACH_M, TTC_HORIZON_S, TTC_STRIDE, th.ttc_min_closing_mps,
        EXACT_DISTANCE_M)
    collision = np.isfinite(coll_t)
    at_fault = collision_at_fault(ego, agents, rows, coll_t, coll_agent, dt)

    # ---------------------------------------------------------------- off-road
    offroad_t = _first_exit(ego, drivable, th.offroad_steps, dt, inner=drivable_inner)
    if np.isfinite(offroad_t).any():  # refine the first exit to 100 Hz inside its coarse interval
        fine = _first_exit(ego, drivable, 10, dt, only=np.isfinite(offroad_t), until=offroad_t)
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

    outcome = np.full(N, Outcome.SAFE.name, dtype=object)
    near_miss = (min_dist < th.near_miss_distance_m) | (min_ttc < th.near_miss_ttc_s)
    outcome[near_miss] = Outcome.NEAR_MISS.name
    outcome[offroad] = Outcome.OFFROAD.name
    outcome[collision] = Outcome.COLLISION.name
    types = np.array([ObjectType(t).name for t in agents.type] + [None], dtype=object)
    return {
        "outcome": outcome,
        "collision": collision,
        "collision_time_s": np.where(collision, coll_t, np.nan),
        "collision_agent": coll_agent,
        "collision_agent_type": np.where(collision, types[coll_agent], None),
        "collision_rel_speed": coll_rel,
        "collision_at_fault": at_fault,
        "offroad": offroad,
        "offroad_time_s": np.where(offroad, offroad_t, np.nan),
        "solid_line_crossings": crossings,
        "min_ttc_s": np.where(np.isfinite(min_ttc), min_ttc, np.nan),
        "min_distance_m": np.where(np.isfinite(min_dist), min_dist, np.nan),
    }


def collision_at_fault(ego: EgoPlans, agents: AgentFutures, rows: np.ndarray, coll_t: np.ndarray,
                       coll_agent: np.ndarray, dt: float) -> np.ndarray:
    """``[N]`` bool: the first contact counts against the ego (NAVSIM's rule): not when the ego
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
    behind = np.cos(ego.heading[n, k]) * dx + np.sin(ego.heading[n, k]) * dy < -0.5 * ego.length
    return hit & (ego.speed[n, k] >= STOPPED_MPS) & ~behind


def _first_exit(ego: EgoPlans, drivable, sub: int, dt: float, only=None, until=None, inner=None) -> np.ndarray:
    """First time (s) any footprint corner is outside ``drivable``, sampling ``sub`` per frame.

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
            safe = shapely.contains_xy(inner, ego.x[rows], ego.y[rows]) & (ego.speed[rows] <= SAFE_SPEED_MPS)
            check[rows, :-1] = ~(safe[:, :-1] & safe[:, 1:])
            check[rows, -1] = ~safe[:, -1]
    out = np.full(N, np.inf)
    xy, plan, t = footprint_samples(ego.x, ego.y, ego.heading, check, sub, float(ego.length), float(ego.width), dt)
    if len(plan):
        outside = ~shapely.contains_xy(drivable, xy[:, 0], xy[:, 1]).reshape(-1, 4).all(axis=1)
        np.minimum.at(out, plan[outside], t[outside])
    return out
