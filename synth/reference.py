"""Slow, obviously-correct reference labels (shapely polygons at 100 Hz), for tests and benchmarks.

Ego and agent states are linearly interpolated between 0.1 s frames exactly as the
fast labeller does (angles along the shortest arc); every 0.01 s the ego box and each
agent box become shapely polygons and ``shapely.intersects`` decides contact; each
footprint corner is tested with ``shapely.contains_xy`` for off-road. Only agents whose
centre comes within ``prune_m`` of the ego centre at some frame are examined (a contact
needs the centres within the sum of half-diagonals plus one frame of motion).
"""
from __future__ import annotations

import numpy as np
import shapely

from .geometry import box_corners
from .labels import AgentFutures, EgoPlans


def _fine(arr: np.ndarray, sub: int, angle: bool = False) -> np.ndarray:
    """Interpolate ``(..., T)`` frames to ``(..., (T - 1) * sub + 1)`` fine steps."""
    a0, a1 = arr[..., :-1], arr[..., 1:]
    u = np.arange(sub) / sub
    step = np.angle(np.exp(1j * (a1 - a0))) if angle else a1 - a0
    out = a0[..., None] + u * step[..., None]
    return np.concatenate([out.reshape(*arr.shape[:-1], -1), arr[..., -1:]], axis=-1)


def reference_labels(ego: EgoPlans, agents: AgentFutures, drivable, dt: float, hz: int = 100,
                     prune_m: float = 25.0) -> dict[str, np.ndarray]:
    """``collision``, ``collision_time_s``, ``offroad``, ``offroad_time_s`` per plan ``[N]``."""
    sub = int(round(hz * dt))
    N, T = ego.x.shape
    t = np.arange((T - 1) * sub + 1) / hz
    out = {"collision": np.zeros(N, bool), "collision_time_s": np.full(N, np.nan),
           "offroad": np.zeros(N, bool), "offroad_time_s": np.full(N, np.nan)}
    for n in range(N):
        ex, ey, eh = _fine(ego.x[n], sub), _fine(ego.y[n], sub), _fine(ego.heading[n], sub, angle=True)
        corners = box_corners(ex, ey, eh, ego.length, ego.width)
        inside = shapely.contains_xy(drivable, corners[..., 0], corners[..., 1]).all(axis=1)
        if not inside.all():
            out["offroad"][n], out["offroad_time_s"][n] = True, t[np.argmin(inside)]
        ego_poly = shapely.polygons(corners)
        g = agents.x.shape[0] > 1 and n or 0
        best = np.inf
        for a in range(agents.x.shape[1]):
            val = agents.valid[g, a]
            d = np.hypot(agents.x[g, a] - ego.x[n], agents.y[g, a] - ego.y[n])
            if not (val & (d < prune_m)).any():
                continue
            both = val[:-1] & val[1:]  # an interval counts when the agent is valid at both ends
            ok = np.r_[np.repeat(both, sub), both[-1]]
            ax = _fine(np.nan_to_num(agents.x[g, a]), sub)
            ay = _fine(np.nan_to_num(agents.y[g, a]), sub)
            ah = _fine(np.nan_to_num(agents.heading[g, a]), sub, angle=True)
            aL = _fine(np.nan_to_num(agents.length[g, a]), sub)
            aW = _fine(np.nan_to_num(agents.width[g, a]), sub)
            hit = ok & shapely.intersects(ego_poly, shapely.polygons(box_corners(ax, ay, ah, aL, aW)))
            if hit.any():
                best = min(best, t[np.argmax(hit)])
        if np.isfinite(best):
            out["collision"][n], out["collision_time_s"][n] = True, best
    return out
