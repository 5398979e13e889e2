"""``agent_perturbation``: another agent misbehaves; the ego follows its log.

* ``lead_brake``: the nearest vehicle ahead on the ego path brakes from ``t_brake_s`` ~
  U(0, 3) s at ``decel`` ~ U(4, 8) m/s^2 to a stop, along its own logged path.
* ``cut_in``: a vehicle alongside or just ahead in a neighbouring lane moves onto the ego
  path, starting at ``t_start_s`` ~ U(0, 2.5) s over ``duration_s`` ~ U(1.5, 3.5) s.
Perturbed agents keep their box; their headings follow their new displacement.
"""
from __future__ import annotations

import dataclasses

import numpy as np

from ..context import vehicle_like
from ..kinematics import Plans, quintic_ramp
from ..labels import AgentFutures
from .base import Candidates, Family, times


def lead_index(ctx):
    ag = ctx.agents
    val = ag.valid[0, :, 0] & vehicle_like(ag.object_type)
    if not val.any():
        return None
    idx = np.flatnonzero(val)
    s, d = ctx.project(ag.x[0, idx, 0], ag.y[0, idx, 0])
    dh = np.abs(np.angle(np.exp(1j * (ag.heading[0, idx, 0] - ctx.anchor_state[2]))))
    ok = (s > 2.0) & (s < 80.0) & (np.abs(d) < 0.5 * ctx.lane_width) & (dh < 0.6) & ag.valid[0, idx].all(axis=1)
    return None if not ok.any() else int(idx[ok][np.argmin(s[ok])])


def neighbours(ctx):
    ag = ctx.agents
    val = ag.valid[0, :, 0] & vehicle_like(ag.object_type) & ag.valid[0].all(axis=1)
    idx = np.flatnonzero(val)
    if not len(idx):
        return []
    s, d = ctx.project(ag.x[0, idx, 0], ag.y[0, idx, 0])
    dh = np.abs(np.angle(np.exp(1j * (ag.heading[0, idx, 0] - ctx.anchor_state[2]))))
    ok = (s > -8.0) & (s < 45.0) & (np.abs(d) > 0.6 * ctx.lane_width) & (np.abs(d) < 1.6 * ctx.lane_width) & (dh < 0.6)
    return [(int(a), float(dd)) for a, dd in zip(idx[ok], d[ok])]


def braked_track(x: np.ndarray, y: np.ndarray, t: np.ndarray, tb: float, dec: float, dt: float):
    """A track ``(x, y)`` ``(T,)`` m re-timed along its own path: logged speed until ``tb`` (s, on
    the clock ``t`` ``(T,)``, which may start before 0), then braking at ``dec`` m/s^2 to a stop."""
    s_log = np.r_[0.0, np.cumsum(np.hypot(np.diff(x), np.diff(y)))]
    v_log = np.gradient(s_log, dt)
    v = np.where(t < tb, v_log, np.maximum(np.interp(tb, t, v_log) - dec * (t - tb), 0.0))
    v = np.minimum(v, v_log.max() + 1.0)
    s_new = np.minimum(np.r_[0.0, np.cumsum(0.5 * (v[1:] + v[:-1]) * dt)], s_log[-1])
    return np.interp(s_new, s_log, x), np.interp(s_new, s_log, y)


def cut_in_track(ctx, x: np.ndarray, y: np.ndarray, t: np.ndarray, ts: float, dur: float):
    """A neighbour's track ``(x, y)`` ``(T,)`` m moved onto the ego path (lateral offset to 0 on a
    quintic ramp from ``ts`` over ``dur`` s, on the clock ``t``)."""
    s_i, d_now = ctx.project(x, y)
    u = quintic_ramp((t - ts) / dur)
    k = np.clip((s_i / 0.5).astype(int), 0, len(ctx.path) - 1)
    shift = -d_now * u
    return x + shift * ctx.path_normals[k, 0], y + shift * ctx.path_normals[k, 1]


def headings_of(x, y, fallback):
    """Heading (rad) ``(T,)`` of a track's displacement, held while it stands (steps under 2 cm per frame);
    ``fallback`` until it first moves."""
    dx, dy = np.gradient(x), np.gradient(y)
    moving = np.hypot(dx, dy) > 0.02
    h = np.arctan2(dy, dx)
    if not moving[0]:
        h[0] = fallback
    last = np.maximum.accumulate(np.where(moving, np.arange(len(h)), 0))  # the last moving frame so far
    return h[last]


class AgentPerturbation(Family):
    name = "agent_perturbation"
    hidden_cause = True

    def sample(self, ctx, rng, n):
        lead, neigh = lead_index(ctx), neighbours(ctx)
        options = (["lead_brake"] if lead is not None else []) + (["cut_in"] if neigh else [])
        if not options:
            return None
        t, dt = times(ctx), ctx.dt
        ag = ctx.agents
        fields = {f.name: np.repeat(getattr(ag, f.name), n, axis=0).copy() for f in dataclasses.fields(AgentFutures)[:-1]}
        params, perturbed = [], []
        for i in range(n):
            mode = str(rng.choice(options))
            if mode == "lead_brake":
                a = lead
                tb, dec = rng.uniform(0.0, 3.0), rng.uniform(4.0, 8.0)
                nx, ny = braked_track(ag.x[0, a], ag.y[0, a], t, tb, dec, dt)
                p = {"mode": mode, "track": ctx.agent_ids[a], "t_brake_s": round(float(tb), 2), "decel": round(float(dec), 2)}
            else:
                a, d_a = neigh[rng.integers(len(neigh))]
                ts, dur = rng.uniform(0.0, 2.5), rng.uniform(1.5, 3.5)
                nx, ny = cut_in_track(ctx, ag.x[0, a], ag.y[0, a], t, ts, dur)
                p = {"mode": mode, "track": ctx.agent_ids[a], "t_start_s": round(float(ts), 2),
                     "duration_s": round(float(dur), 2)}
            h = headings_of(nx, ny, float(ag.heading[0, a, 0]))
            vx, vy = np.gradient(nx, dt), np.gradient(ny, dt)
            for k_, arr in (("x", nx), ("y", ny), ("heading", h), ("vx", vx), ("vy", vy)):
                fields[k_][i, a] = arr
            params.append(p)
            perturbed.append([a])
        lg = ctx.logged
        zeros = np.zeros((n, lg.x.shape[1]))
        plans = Plans(np.repeat(lg.x, n, 0), np.repeat(lg.y, n, 0), np.repeat(lg.heading, n, 0),
                      np.repeat(lg.speed, n, 0), zeros, zeros)
        return Candidates(self.name, plans, params, AgentFutures(**fields, object_type=ag.object_type), perturbed)
