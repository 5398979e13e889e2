"""Vector-space pseudo-simulation in the spirit of PerlAD (Background: PerlAD, RA-L 2026).

The ego is a kinematic bicycle whose steering follows a lateral path (PID on the signed
cross-track error plus heading feed-forward) and whose acceleration follows a target speed
(PID), integrated at ``dt / substeps`` and recorded every ``dt``. Agents are replayed from
the log or from a perturbed future (lead brakes / cut-in, from the ``agent_perturbation``
synthesis family). Events come from :func:`synth.labels.label_plans`: exact oriented-box
contacts refined at 100 Hz, so a contact between two recorded steps is never missed.

Shapes: N candidates (vectorised), T recorded frames. Scenario frame, m / s / rad.
"""
from __future__ import annotations

import dataclasses

import numpy as np
import shapely

from schemas import LineType, ObjectType

from .config import LabelThresholds, SimConfig
from .context import AnchorContext
from .kinematics import PATH_DS, Plans, path_normals
from .labels import AgentFutures, label_plans
from .signals import red_light_labels, signal_window
from .tracking import track


@dataclasses.dataclass(frozen=True, eq=False)
class Episode:
    """One anchor of one scenario with one version of the other agents' behaviour.

    ``agents``: futures ``[1, A, H + 1]`` from the anchor (log replay or perturbed);
    ``variant``: ``log`` or the perturbation mode; ``solid`` / ``double_solid``: the
    map's SOLID and DOUBLE_SOLID lines near the anchor (None when absent).
    """

    ctx: AnchorContext
    agents: AgentFutures
    variant: str
    solid: shapely.Geometry | None
    double_solid: shapely.Geometry | None

    @staticmethod
    def build(ctx: AnchorContext, agents: AgentFutures | None = None, variant: str = "log") -> "Episode":
        m = ctx.scenario.map
        region = shapely.envelope(ctx.drivable) if not ctx.drivable.is_empty else None
        lines = {}
        for t in (LineType.SOLID, LineType.DOUBLE_SOLID):
            ls = [shapely.linestrings(p) for p, k in zip(m.lane_lines, m.lane_line_types) if k == t]
            g = shapely.multilinestrings(ls) if ls else None
            if g is not None and region is not None:
                g = shapely.intersection(g, region)
            if g is not None and not g.is_empty:
                shapely.prepare(g)
                lines[t] = g
        return Episode(ctx, ctx.agents if agents is None else agents, variant,
                       lines.get(LineType.SOLID), lines.get(LineType.DOUBLE_SOLID))

    def predicted_at(self, k: int) -> "Episode":
        """What is known at episode step ``k``: the other agents' frames after ``k`` replaced by a
        constant-velocity extrapolation of their state at ``k`` (heading and velocity held; an agent
        not valid at ``k`` stays invalid). Frames up to ``k`` are unchanged."""
        ag = self.agents
        T = ag.x.shape[-1]
        k = int(np.clip(k, 0, T - 1))
        dt = np.clip(np.arange(T) - k, 0, None) * self.ctx.dt               # [T] s after step k
        after = np.arange(T) > k
        at = lambda a: a[..., k:k + 1]  # noqa: E731
        fut = {f: np.where(after, at(getattr(ag, f)), getattr(ag, f)) for f in ("heading", "vx", "vy", "valid")}
        fut["x"] = np.where(after, at(ag.x) + at(ag.vx) * dt, ag.x)
        fut["y"] = np.where(after, at(ag.y) + at(ag.vy) * dt, ag.y)
        return dataclasses.replace(self, agents=dataclasses.replace(ag, **fut), variant=f"{self.variant}@cv{k}")


@dataclasses.dataclass(frozen=True, eq=False)
class EgoState:
    """Ego states of N candidates (a one-frame :class:`Plans`) plus controller memory (arrays ``[N]``)."""

    current: Plans
    """The state of each candidate now, ``[N, 1]``: x, y m, heading rad, speed m/s, accel m/s^2, steer rad."""
    lat_int: np.ndarray
    """Integral of the cross-track error (m s)."""
    lat_err: np.ndarray
    """Previous cross-track error (m), for the derivative term."""
    spd_int: np.ndarray
    """Integral of the speed error (m)."""
    path_idx: np.ndarray
    """Index of the nearest path sample (int)."""

    @staticmethod
    def at_anchor(ep: Episode, n: int = 1) -> "EgoState":
        x, y, h, v = ep.ctx.anchor_state
        f = lambda val, shape=(n, 1): np.full(shape, float(val))  # noqa: E731
        return EgoState(Plans(f(x), f(y), f(h), f(v), f(ep.ctx.anchor_accel), f(ep.ctx.anchor_steer)),
                        f(0, n), f(0, n), f(0, n), np.zeros(n, dtype=np.int64))

    def repeat(self, n: int) -> "EgoState":
        """The first candidate's state copied ``n`` times."""
        first = np.zeros(n, dtype=np.int64)
        return EgoState(self.current.take(first), *(getattr(self, k.name)[first] for k in dataclasses.fields(self)[1:]))


def simulate(ep: Episode, state: EgoState, target_speed: np.ndarray, steps: int, cfg: SimConfig,
             path: np.ndarray | None = None) -> tuple[Plans, EgoState]:
    """Track the lateral ``path`` (default: the logged path) at ``target_speed`` ``[N]`` (m/s) for ``steps``.

    Returns the recorded trajectory ``[N, steps + 1]`` and the final state (controller memory
    included, so successive calls continue one closed-loop run).
    """
    if path is None:
        path, normals = ep.ctx.path, ep.ctx.path_normals
    else:
        normals = path_normals(path)
    tang = np.stack([normals[:, 1], -normals[:, 0]], -1)
    path_h = np.arctan2(tang[:, 1], tang[:, 0])
    cur = state.current
    x0, y0, h0, v0, a0, st0 = (np.ascontiguousarray(getattr(cur, k)[:, 0], dtype=float)
                               for k in ("x", "y", "heading", "speed", "accel", "steer"))
    target = np.ascontiguousarray(np.broadcast_to(np.asarray(target_speed, dtype=float), x0.shape))
    lim = cfg.limits
    out, li, le, si, idx = track(
        x0, y0, h0, v0, a0, st0, state.lat_int.astype(float), state.lat_err.astype(float),
        state.spd_int.astype(float), state.path_idx.astype(np.int64), target, np.ascontiguousarray(path, dtype=float),
        np.ascontiguousarray(normals, dtype=float), np.ascontiguousarray(path_h, dtype=float), int(steps),
        int(cfg.substeps), float(cfg.dt), np.asarray(cfg.speed_pid, dtype=float), np.asarray(cfg.lateral_pid, dtype=float),
        float(cfg.heading_gain), float(lim.max_steer), float(lim.max_steer_rate), float(lim.max_decel),
        float(lim.max_accel), float(lim.max_jerk), float(cfg.comfort_decel), float(cfg.comfort_jerk),
        float(lim.wheelbase))
    x, y, h, v, a, st = out[:, :, -1]
    return Plans(*out), EgoState(Plans(*(c[:, None] for c in (x, y, h, v, a, st))), li, le, si, idx)


@dataclasses.dataclass(frozen=True, eq=False)
class Events:
    """Per-candidate events of trajectories ``[N, T]`` started at episode step ``t0``.

    Steps count recorded frames after the start (1..T-1), -1 when the event does not occur.
    """

    collision_step: np.ndarray
    collision_type: np.ndarray
    """ObjectType value of the first agent hit (-1 without collision)."""
    collision_agent: np.ndarray
    """Index (into the episode's agents) of the first agent hit (-1 without collision)."""
    collision_speed: np.ndarray
    """Ego speed (m/s) at the contact frame."""
    at_fault: np.ndarray
    """``[N]`` bool: the first contact counts against the ego (:func:`synth.labels.collision_at_fault`)."""
    offroad_step: np.ndarray
    solid: np.ndarray
    """``[N, T - 1]`` bool: the step's centre segment crosses a SOLID line."""
    double_solid: np.ndarray
    """``[N, T - 1]`` bool: ... a DOUBLE_SOLID line."""
    along: np.ndarray
    """``[N, T]`` distance (m) advanced along the logged path since the start frame."""
    logged_progress_m: np.ndarray
    """``[N]`` distance (m) the log advanced over the same frames."""
    log_distance: np.ndarray
    """``[N, T]`` L2 distance (m) to the logged position at the same time."""
    red_light_step: np.ndarray | None = None
    """``[N]`` step (1..T-1) whose interval holds the first crossing of a stop line showing STOP
    (:func:`synth.signals.red_light_labels` against the scenario's logged signal states), -1 without;
    None (built by hand without signals) means -1 for every candidate."""

    def __post_init__(self) -> None:
        if self.red_light_step is None:
            object.__setattr__(self, "red_light_step", np.full(np.shape(self.collision_step), -1, np.int64))


    def without_safety(self) -> "Events":
        """The same events with collisions and off-road removed (the critic supplies those)."""
        none = np.full_like(self.collision_step, -1)
        return dataclasses.replace(self, collision_step=none, collision_type=none, collision_agent=none, offroad_step=none,
                                   at_fault=np.zeros_like(self.at_fault))


def _step_of(t_s: np.ndarray, dt: float) -> np.ndarray:
    return np.where(np.isfinite(t_s), np.ceil(np.nan_to_num(t_s, nan=0.0) / dt - 1e-9), -1).astype(np.int64)


def _crossings(traj: Plans, lines: shapely.Geometry | None) -> np.ndarray:
    N, T = traj.x.shape
    if lines is None:
        return np.zeros((N, T - 1), bool)
    p = np.stack([traj.x, traj.y], -1)
    segs = shapely.linestrings(np.stack([p[:, :-1], p[:, 1:]], 2).reshape(-1, 2, 2))
    hit = shapely.intersects(segs, lines).reshape(N, T - 1)
    # a trajectory that starts on a line has not crossed it there
    hit[:, 0] &= ~shapely.intersects(lines, shapely.points(p[:, 0]))
    return hit


def events(ep: Episode, traj: Plans, t0: int, th: LabelThresholds = LabelThresholds()) -> Events:
    """Exact events of ``traj`` (frames ``t0 .. t0 + T - 1`` of the episode) against the episode's agents."""
    N, T = traj.x.shape
    ctx = ep.ctx
    ag = ep.agents
    sl = slice(t0, t0 + T)
    fut = ag.frames(sl)
    lab = label_plans(traj, fut, ctx.drivable_index, None, ctx.dt, th, ctx.drivable_inner_index, length=ctx.ego_length,
                      width=ctx.ego_width)
    cstep = _step_of(lab.collision_time_s, ctx.dt)
    types = np.asarray(ag.object_type)
    hit_type = types[np.clip(lab.collision_agent, 0, max(len(types) - 1, 0))] if len(types) else -1
    ctype = np.where(lab.collision, hit_type, -1)
    cspeed = np.where(cstep >= 0, traj.speed[np.arange(N), np.clip(cstep, 0, T - 1)], np.nan)
    at_fault = lab.collision_at_fault
    s, _ = ctx.project(traj.x.ravel(), traj.y.ravel())
    s = s.reshape(N, T)
    lx, ly = ctx.logged.x[0, sl], ctx.logged.y[0, sl]
    s_log, _ = ctx.project(lx, ly)
    _, red_t = red_light_labels(traj, ctx.ego_length, signal_window(ctx.scenario.signals, ctx.anchor + t0, T - 1), ctx.dt)
    return Events(cstep, ctype.astype(np.int64), np.where(lab.collision, lab.collision_agent, -1), cspeed, at_fault, _step_of(lab.offroad_time_s, ctx.dt),
                  _crossings(traj, ep.solid), _crossings(traj, ep.double_solid), s - s[:, :1],
                  np.full(N, s_log[-1] - s_log[0]), np.hypot(traj.x - lx, traj.y - ly), _step_of(red_t, ctx.dt))


def collision_penalty(types: np.ndarray, rc) -> np.ndarray:
    """PerlAD collision penalty per ObjectType value (0 where ``types`` is -1)."""
    t = np.asarray(types)
    return np.select([t == ObjectType.VEHICLE, (t == ObjectType.PEDESTRIAN) | (t == ObjectType.CYCLIST),
                      t == ObjectType.STATIC], [rc.collision_vehicle, rc.collision_pedestrian, rc.collision_static], 0.0)


__all__ = ["Episode", "EgoState", "Events", "simulate", "events", "collision_penalty", "PATH_DS"]
