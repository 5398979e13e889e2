"""``offroad_seek``: steer toward the nearest road edge / drivable-area boundary.

The lateral distance to the drivable-area boundary is measured left and right of the
ego path at ``start_m`` + ``ramp_m``; the plan shifts past it by ``beyond_m`` ~ U(1, 4) m
on the ``side`` (nearest edge with probability 0.7). ``start_m`` ~ U(0, 20) m,
``ramp_m`` ~ U(8, 45) m, ``speed_factor`` ~ U(0.7, 1.2).
"""
from __future__ import annotations

import numpy as np

from ..kinematics import PATH_DS
from .base import Candidates, Family, logged_speed, offset_paths, roll

PROBE = np.arange(0.25, 25.0, 0.25)


def edge_distance(ctx, s: np.ndarray, side: np.ndarray) -> np.ndarray:
    """Lateral distance (m) from the path at arc length ``s`` to the first point outside the drivable area."""
    i = np.clip((s / PATH_DS).astype(int), 0, len(ctx.path) - 1)
    base, nrm = ctx.path[i], ctx.path_normals[i] * side[:, None]
    px = base[:, None, 0] + PROBE[None] * nrm[:, None, 0]
    py = base[:, None, 1] + PROBE[None] * nrm[:, None, 1]
    outside = ~ctx.drivable_index.contains_xy(px, py)
    return np.where(outside.any(axis=1), PROBE[np.argmax(outside, axis=1)], np.inf)


class OffroadSeek(Family):
    name = "offroad_seek"

    def sample(self, ctx, rng, n):
        start, ramp = rng.uniform(0.0, 20.0, n), rng.uniform(8.0, 45.0, n)
        s_end = start + ramp
        left = edge_distance(ctx, s_end, np.ones(n))
        right = edge_distance(ctx, s_end, -np.ones(n))
        nearest = np.where(left <= right, 1.0, -1.0)
        side = np.where(rng.random(n) < 0.7, nearest, -nearest)
        dist = np.where(side > 0, left, right)
        ok = np.isfinite(dist)
        if not ok.any():
            return None
        beyond, factor = rng.uniform(1.0, 4.0, n), rng.uniform(0.7, 1.2, n)
        d = side * (dist + beyond)
        idx = np.flatnonzero(ok)
        params = [{"side": "left" if side[i] > 0 else "right", "edge_m": round(float(dist[i]), 2),
                   "beyond_m": round(float(beyond[i]), 2), "start_m": round(float(start[i]), 2),
                   "ramp_m": round(float(ramp[i]), 2), "speed_factor": round(float(factor[i]), 3)} for i in idx]
        targets = roll(ctx, offset_paths(ctx, d[idx], start[idx], ramp[idx]), factor[idx, None] * logged_speed(ctx)[None])
        return Candidates(self.name, None, params, targets=targets)
