"""Everything the perturbation families and the labeller need about one (scenario, anchor)."""
from __future__ import annotations

import dataclasses
import functools

import numpy as np
import shapely

from schemas import LineType, ObjectType, Scenario

from .config import SynthConfig
from .kinematics import PATH_DS, Plans, path_normals, resample_path
from .labels import AgentFutures, inner_drivable
from .physics import PhysicsReport, check_physics
from .point_in_polygon import PolygonIndex

MAP_RADIUS_M = 250.0
LEVEL_REACH_M = 50.0  # an agent is compared with the ego's level only within this of the ego's logged track
LEVEL_GRADE = 0.12    # steepest road grade assumed between that logged point and the agent (12 %)


@dataclasses.dataclass(frozen=True, eq=False)
class AnchorContext:
    """One anchor of one scenario (scenario frame, m / s / rad).

    ``logged``: the ego's logged plan ``[1, H + 1]`` (no controls: accel, steer zero) and
    ``ego_length`` x ``ego_width`` m its box at the anchor; ``path`` ``(M, 2)`` its future path
    resampled every 0.5 m and extended straight; ``agents``: every other track over the
    horizon, marked not valid at frames where it is on another road level (:func:`other_level`:
    an overpass); ``drivable``: prepared drivable area clipped around the ego;
    ``solid_lines``: SOLID / DOUBLE_SOLID lines nearby (or None).
    """

    scenario: Scenario
    anchor: int
    cfg: SynthConfig
    logged: Plans
    ego_length: float
    ego_width: float
    anchor_state: np.ndarray  # (x, y, heading, speed)
    anchor_accel: float
    anchor_steer: float
    path: np.ndarray
    path_normals: np.ndarray
    agents: AgentFutures
    agent_ids: tuple[str, ...]
    drivable: shapely.Geometry
    drivable_inner: shapely.Geometry
    solid_lines: shapely.Geometry | None
    lane_width: float

    @functools.cached_property
    def drivable_index(self) -> PolygonIndex:
        """``drivable`` as a cell grid for fast exact point tests (built on first use)."""
        return PolygonIndex.build(self.drivable)

    @functools.cached_property
    def drivable_inner_index(self) -> PolygonIndex:
        """``drivable_inner`` as a cell grid (built on first use)."""
        return PolygonIndex.build(self.drivable_inner)

    @property
    def steps(self) -> int:
        return self.cfg.horizon_steps

    @property
    def dt(self) -> float:
        return self.cfg.dt

    def project(self, px: np.ndarray, py: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Arc length ``s`` (m) along the ego path and signed lateral offset ``d`` (m, + left)."""
        px, py = np.atleast_1d(px), np.atleast_1d(py)
        # coarse search on every 8th sample, then the exact nearest sample around it
        coarse = self.path[::8]
        d2 = (coarse[None, :, 0] - px[:, None]) ** 2 + (coarse[None, :, 1] - py[:, None]) ** 2
        c = np.argmin(d2, axis=1) * 8
        win = np.clip(c[:, None] + np.arange(-8, 9)[None], 0, len(self.path) - 1)
        d2 = (self.path[win, 0] - px[:, None]) ** 2 + (self.path[win, 1] - py[:, None]) ** 2
        i = win[np.arange(len(px)), np.argmin(d2, axis=1)]
        n = self.path_normals[i]
        d = (px - self.path[i, 0]) * n[:, 0] + (py - self.path[i, 1]) * n[:, 1]
        return i * PATH_DS, d

    def physics(self, plans: Plans) -> PhysicsReport:
        """Every physics rule on ``plans`` ``[N, H + 1]`` from this anchor."""
        return check_physics(plans, self.dt, self.cfg.limits, self.anchor_state)


def logged_states(scn: Scenario, anchor: int, steps: int) -> Plans:
    """The ego's logged plan ``[1, steps + 1]`` from ``anchor`` (speed from the logged velocity; no controls)."""
    e, sl = scn.ego_index, slice(anchor, anchor + steps + 1)
    speed = np.hypot(scn.vx[e, sl], scn.vy[e, sl])
    return Plans.from_states(scn.x[e, sl][None], scn.y[e, sl][None], scn.heading[e, sl][None], speed[None])


def candidate_anchors(scn: Scenario, cfg: SynthConfig) -> list[int]:
    """Frames with ``history_steps`` of history and a full horizon of valid ego states."""
    v = scn.valid[scn.ego_index]
    out = []
    for a in range(cfg.history_steps, scn.num_frames - cfg.horizon_steps):
        if v[a - cfg.history_steps: a + cfg.horizon_steps + 1].all():
            out.append(a)
    return out


def build_context(scn: Scenario, anchor: int, cfg: SynthConfig) -> AnchorContext:
    e, H, dt = scn.ego_index, cfg.horizon_steps, cfg.dt
    st = logged_states(scn, anchor, H)
    sl = slice(anchor, anchor + H + 1)
    anchor_state = np.array([st.x[0, 0], st.y[0, 0], st.heading[0, 0], st.speed[0, 0]])
    sp = np.hypot(scn.vx[e], scn.vy[e])
    a0 = float((sp[anchor] - sp[anchor - 1]) / dt) if scn.valid[e, anchor - 1] else 0.0
    yaw = float(np.angle(np.exp(1j * (scn.heading[e, anchor] - scn.heading[e, anchor - 1]))) / dt)
    steer0 = float(np.arctan(cfg.limits.wheelbase * yaw / max(sp[anchor], 1.0)))
    length, width = float(scn.length[e, anchor]), float(scn.width[e, anchor])
    path = resample_path(np.column_stack([st.x[0], st.y[0]]), float(st.heading[0, 0]))
    others = np.array([i for i in range(scn.num_agents) if i != e], dtype=int)
    agents = AgentFutures(*(getattr(scn, k)[others, sl][None] for k in ("x", "y", "heading", "vx", "vy", "length",
                                                                         "width", "valid")),
                          object_type=scn.object_type[others])
    # keep agents that come within reach of the ego during the horizon
    reach = np.hypot(np.nan_to_num(agents.x[0] - anchor_state[0], nan=1e9),
                     np.nan_to_num(agents.y[0] - anchor_state[1], nan=1e9)).min(axis=1)
    keep = reach < MAP_RADIUS_M
    # invalid entries become 0 (masks carry validity), so the labeller needs no NaN handling
    agents = AgentFutures(*(np.nan_to_num(getattr(agents, f.name)[:, keep]) for f in dataclasses.fields(AgentFutures)[:-1]),
                          object_type=agents.object_type[keep])
    # boxes on another level (an overpass) cannot touch the ego: not valid for any pair label there
    apart = other_level(scn, anchor, cfg, others[keep])
    if apart.any():
        on = ~apart[None]
        agents = AgentFutures(*(np.where(on, getattr(agents, f.name), np.zeros((), getattr(agents, f.name).dtype))
                                for f in dataclasses.fields(AgentFutures)[:-1]), object_type=agents.object_type)
    region = shapely.box(*(np.r_[np.minimum(path[:400].min(0), anchor_state[:2]) - MAP_RADIUS_M / 2,
                                 np.maximum(path[:400].max(0), anchor_state[:2]) + MAP_RADIUS_M / 2]))
    drivable = shapely.intersection(scn.map.drivable_area, region)
    shapely.prepare(drivable)
    solid = [ln for ln, t in zip(scn.map.lane_lines, scn.map.lane_line_types) if t in (LineType.SOLID, LineType.DOUBLE_SOLID)]
    solid_lines = None
    if solid:
        solid_lines = shapely.intersection(shapely.multilinestrings([shapely.linestrings(p) for p in solid]), region)
        shapely.prepare(solid_lines)
    return AnchorContext(
        scenario=scn, anchor=anchor, cfg=cfg, logged=st, ego_length=length, ego_width=width,
        anchor_state=anchor_state, anchor_accel=a0,
        anchor_steer=steer0, path=path, path_normals=path_normals(path), agents=agents,
        agent_ids=tuple(np.array(scn.track_id, dtype=object)[others][keep]), drivable=drivable,
        drivable_inner=inner_drivable(drivable, length, width, dt),
        solid_lines=solid_lines, lane_width=_lane_width(scn, anchor_state),
    )


def other_level(scn: Scenario, anchor: int, cfg: SynthConfig, rows: np.ndarray) -> np.ndarray:
    """``[len(rows), H + 1]`` bool: agent ``rows`` (scenario rows) at horizon frame ``anchor + k`` is on
    another level than the ego, so their boxes cannot overlap vertically.

    Two boxes overlap vertically when ``|z_ego - z_agent| < (h_ego + h_agent) / 2`` (box-centre heights
    ``z`` and box heights ``h``, m). The ego's candidate plans have no ``z``; a plan stays on the roads
    its log drove, so the ego's ``z`` is read where the agent is: at the ego's logged state (frames
    ``anchor - history_steps`` to ``anchor + H``) nearest in the plane to the agent's centre, at
    distance ``d`` m (at most :data:`LEVEL_REACH_M`), and the road may climb :data:`LEVEL_GRADE` per metre
    between the two, so the agent is apart when ``|dz| >= (h_ego + h_agent) / 2 + LEVEL_GRADE * d``; the
    ego's height is the logged one at the anchor. Holding the anchor ``z`` instead would hide a car 50 m
    up a 4 % grade. An agent farther from every logged ego state, or whose ``z`` / height (or the ego's)
    is unknown, is never marked: the planar rule alone decides, as without heights.
    """
    H = cfg.horizon_steps
    out = np.zeros((len(rows), H + 1), dtype=bool)
    e = scn.ego_index
    if not scn.has_height or not len(rows) or not np.isfinite(scn.height[e, anchor]):
        return out
    w = slice(max(anchor - cfg.history_steps, 0), anchor + H + 1)
    known = np.isfinite(scn.z[e, w])  # NaN where not valid
    if not known.any():
        return out
    ex, ey, ez = scn.x[e, w][known], scn.y[e, w][known], scn.z[e, w][known]
    sl = slice(anchor, anchor + H + 1)
    ax, ay, az, ah = (getattr(scn, k)[rows, sl] for k in ("x", "y", "z", "height"))
    d2 = np.nan_to_num((ax[..., None] - ex) ** 2 + (ay[..., None] - ey) ** 2, nan=np.inf)  # [K, H + 1, W]
    near = np.argmin(d2, axis=-1)
    d = np.sqrt(np.take_along_axis(d2, near[..., None], axis=-1)[..., 0])
    with np.errstate(invalid="ignore"):  # NaN (unknown) compares False: not marked
        out = (d < LEVEL_REACH_M) & (np.abs(az - ez[near]) >= 0.5 * (scn.height[e, anchor] + ah) + LEVEL_GRADE * d)
    return out


def _lane_width(scn: Scenario, anchor_state: np.ndarray) -> float:
    """Spacing (m) between the ego's nearest centerline and its nearest parallel neighbour (default 3.5)."""
    if len(scn.map.centerlines) < 2:
        return 3.5
    p = shapely.points(anchor_state[0], anchor_state[1])
    lines = np.array([shapely.linestrings(c) for c in scn.map.centerlines], dtype=object)
    d = shapely.distance(lines, p)
    order = np.argsort(d)
    base = lines[order[0]]
    for j in order[1:8]:
        gap = shapely.distance(base, lines[j])
        if 2.5 <= gap <= 5.0:
            return float(gap)
    return 3.5


def vehicle_like(t: np.ndarray) -> np.ndarray:
    return (t == ObjectType.VEHICLE) | (t == ObjectType.CYCLIST)
