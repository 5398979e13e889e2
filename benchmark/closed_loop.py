"""Closed-loop driving metrics: safety rates per 100 m, progress, and the NAVSIM v1 PDM score.

PDMS over the first 4 s (NAVSIM v1, Dauner et al. 2024): ``NC * DAC * (5 TTC + 5 EP + 2 C) / 12``.
* NC: 0 after an at-fault collision with an agent, 0.5 with a static object, else 1. A
  contact is not at fault when the ego is (nearly) stopped or the other box's centre is
  behind the ego's rear bumper (it was hit from behind), as in NAVSIM
  (:func:`synth.sim.events`).
* DAC: 0 if any ego footprint corner leaves the drivable area.
* TTC: 0 if, at any frame, the ego and an agent ahead projected at constant velocity for
  0.3, 0.6 or 0.9 s overlap (oriented-box test), while they do not overlap at the frame.
* EP: progress along the logged path over the logged progress, clipped to [0, 1]
  (NAVSIM normalises by its best safe proposal; we use the expert log as the reference).
* C: comfort thresholds on the 10 Hz trajectory (longitudinal acceleration, lateral
  acceleration, jerk, longitudinal jerk, yaw rate and yaw acceleration).
"""
from __future__ import annotations

import numpy as np

from schemas import ObjectType
from synth.sim import events

COMFORT = {"lon_accel": (-4.05, 2.40), "lat_accel": 4.89, "jerk": 8.37, "lon_jerk": 4.13, "yaw_accel": 1.93,
           "yaw_rate": 0.95}
TTC_HORIZONS_S = (0.3, 0.6, 0.9)


def obb_overlap(x1, y1, h1, l1, w1, x2, y2, h2, l2, w2) -> np.ndarray:
    """Separating-axis test of oriented rectangles, broadcast over arrays (touching overlaps)."""
    dx, dy = x2 - x1, y2 - y1
    ok = np.ones(np.broadcast(dx, h2).shape, bool)
    for h in (h1, h2):
        c, s = np.cos(h), np.sin(h)
        for ax, ay in ((c, s), (-s, c)):
            r1 = 0.5 * l1 * np.abs(ax * np.cos(h1) + ay * np.sin(h1)) + 0.5 * w1 * np.abs(-ax * np.sin(h1) + ay * np.cos(h1))
            r2 = 0.5 * l2 * np.abs(ax * np.cos(h2) + ay * np.sin(h2)) + 0.5 * w2 * np.abs(-ax * np.sin(h2) + ay * np.cos(h2))
            ok &= np.abs(dx * ax + dy * ay) <= r1 + r2
    return ok


def comfort_ok(speed: np.ndarray, accel: np.ndarray, heading: np.ndarray, dt: float) -> bool:
    """All NAVSIM comfort thresholds hold on a 10 Hz trajectory ``[T]``."""
    yaw_rate = np.diff(np.unwrap(heading)) / dt
    yaw_acc = np.diff(yaw_rate) / dt
    lat = speed[1:] * yaw_rate
    lon = accel[:-1]
    ax = lon * np.cos(heading[1:]) - lat * np.sin(heading[1:])
    ay = lon * np.sin(heading[1:]) + lat * np.cos(heading[1:])
    jerk = np.hypot(np.diff(ax), np.diff(ay)) / dt
    lo, hi = COMFORT["lon_accel"]
    return bool((lon > lo).all() and (lon < hi).all() and (np.abs(lat) < COMFORT["lat_accel"]).all()
                and (jerk < COMFORT["jerk"]).all() and (np.abs(np.diff(lon) / dt) < COMFORT["lon_jerk"]).all()
                and (np.abs(yaw_acc) < COMFORT["yaw_accel"]).all() and (np.abs(yaw_rate) < COMFORT["yaw_rate"]).all())


def ttc_ok(ego, agents, ego_len: float, ego_wid: float, frames: int, dt: float) -> bool:
    """No constant-velocity projection (0.3 / 0.6 / 0.9 s) of the ego into an agent ahead.

    ``ego``: trajectory with ``x, y, heading, speed`` ``[1, T]``; ``agents``: AgentFutures
    ``[1, A, T]`` aligned with it.
    """
    ex, ey, eh, ev = ego.x[0, :frames], ego.y[0, :frames], ego.heading[0, :frames], ego.speed[0, :frames]
    ax, ay, ah = agents.x[0, :, :frames], agents.y[0, :, :frames], agents.heading[0, :, :frames]
    avx, avy, val = agents.vx[0, :, :frames], agents.vy[0, :, :frames], agents.valid[0, :, :frames]
    al, aw = agents.length[0, :, :frames], agents.width[0, :, :frames]
    c, s = np.cos(eh), np.sin(eh)
    ahead = (c * (ax - ex) + s * (ay - ey)) > 0.5 * ego_len
    now = obb_overlap(ex, ey, eh, ego_len, ego_wid, ax, ay, ah, al, aw)
    for t in TTC_HORIZONS_S:
        hit = obb_overlap(ex + ev * c * t, ey + ev * s * t, eh, ego_len, ego_wid, ax + avx * t, ay + avy * t, ah, al, aw)
        if (hit & ~now & val & ahead).any():
            return False
    return True


def pdm_score(ev, ego, agents, ego_len: float, ego_wid: float, dt: float) -> dict[str, float]:
    """NAVSIM v1 PDMS and sub-scores of one trajectory ``[1, T]`` (T = 41 for 4 s) with its events
    over the same frames; ``agents`` aligned with ``ego``'s frames."""
    frames = ego.x.shape[1]
    coll = bool(ev.at_fault[0])
    nc = (0.5 if int(ev.collision_type[0]) == ObjectType.STATIC else 0.0) if coll else 1.0
    dac = 0.0 if ev.offroad_step[0] >= 0 else 1.0
    ttc = 1.0 if ttc_ok(ego, agents, ego_len, ego_wid, frames, dt) else 0.0
    ep = float(np.clip(ev.along[0, -1] / ev.logged_progress_m[0], 0.0, 1.0)) if ev.logged_progress_m[0] > 1.0 else 1.0
    c = 1.0 if comfort_ok(ego.speed[0], ego.accel[0], ego.heading[0], dt) else 0.0
    return {"PDMS": nc * dac * (5 * ttc + 5 * ep + 2 * c) / 12, "NC": nc, "DAC": dac, "TTC": ttc, "EP": ep, "C": c}


def episode_metrics(ep, traj, dt: float) -> dict[str, float]:
    """Safety events over the whole episode and PDMS over its first 4 s, for one closed-loop
    trajectory ``[1, T]`` of episode ``ep`` (:class:`synth.sim.Episode`)."""
    ev = events(ep, traj, 0)
    first4 = traj.frames(slice(0, 41))
    ev4 = events(ep, first4, 0)
    pd = pdm_score(ev4, first4, ep.agents.frames(slice(0, 41)), ep.ctx.ego_length, ep.ctx.ego_width, dt)
    return {"variant": ep.variant, "distance_m": float(max(ev.along[0, -1], 0.0)),
            "logged_distance_m": float(ev.logged_progress_m[0]), "collision": float(ev.at_fault[0]),
            "contact": float(ev.collision_step[0] >= 0),
            "offroad": float(ev.offroad_step[0] >= 0),
            "solid_crossings": float(ev.solid[0].sum() + ev.double_solid[0].sum()),
            "red_light": float(ev.red_light_step[0] >= 0), **pd}


def summarise(rows: list[dict]) -> dict[str, float]:
    """Rates per 100 m driven, progress relative to the log, and mean PDMS sub-scores."""
    d = np.array([r["distance_m"] for r in rows])
    lg = np.array([r["logged_distance_m"] for r in rows])
    per100 = lambda k: 100.0 * sum(r[k] for r in rows) / max(d.sum(), 1e-9)  # noqa: E731
    out = {"episodes": len(rows), "collisions_per_100m": per100("collision"), "contacts_per_100m": per100("contact"),
           "offroad_per_100m": per100("offroad"),
           "solid_crossings_per_100m": per100("solid_crossings"), "red_lights_per_100m": per100("red_light")}
    out["violations_per_100m"] = out["collisions_per_100m"] + out["offroad_per_100m"]
    out["collision_rate"] = float(np.mean([r["collision"] for r in rows]))
    out["progress_m"] = float(d.mean())
    out["progress_vs_log"] = float(d.sum() / max(lg.sum(), 1e-9))
    for k in ("PDMS", "NC", "DAC", "TTC", "EP", "C"):
        out[k] = float(np.mean([r[k] for r in rows]))
    return out
