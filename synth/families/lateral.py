"""``lateral``: lateral offsets and lane changes off the logged path.

Parameter space: ``offset_m`` = +-1 lane width (lane change; the side with an agent
alongside is chosen with probability 0.5, "into an occupied lane"), +-2 lane widths, or
U(-1.5, 1.5) m; ``start_m`` ~ U(0, 25) m along the path; ``ramp_m`` ~ U(12, 60) m;
``speed_factor`` ~ U(0.85, 1.25) on the logged speed.
"""
from __future__ import annotations

import numpy as np

from ..context import vehicle_like
from .base import Candidates, Family, logged_speed, offset_paths, roll


def occupied_side(ctx) -> float | None:
    """+1 / -1 when a vehicle is alongside on the left / right at the anchor, else None."""
    ax, ay, val = ctx.agents.x[0, :, 0], ctx.agents.y[0, :, 0], ctx.agents.valid[0, :, 0]
    ok = val & vehicle_like(ctx.agents.object_type)
    if not ok.any():
        return None
    s, d = ctx.project(ax[ok], ay[ok])
    alongside = (np.abs(s) < 25.0) & (np.abs(d) > 0.6 * ctx.lane_width) & (np.abs(d) < 1.6 * ctx.lane_width)
    if not alongside.any():
        return None
    return float(np.sign(d[alongside][np.argmin(np.abs(s[alongside]))]))


class Lateral(Family):
    name = "lateral"

    def sample(self, ctx, rng, n):
        side = occupied_side(ctx)
        w = ctx.lane_width
        d, params = np.zeros(n), []
        for i in range(n):
            kind = rng.choice(["lane_change", "double", "offset"], p=[0.55, 0.15, 0.30])
            sign = side if (side is not None and rng.random() < 0.5) else rng.choice([-1.0, 1.0])
            d[i] = sign * w if kind == "lane_change" else (2 * sign * w if kind == "double" else rng.uniform(-1.5, 1.5))
            params.append({"kind": str(kind), "occupied_side": side is not None and sign == side})
        start, ramp, factor = rng.uniform(0.0, 25.0, n), rng.uniform(12.0, 60.0, n), rng.uniform(0.85, 1.25, n)
        for i, p in enumerate(params):
            p.update(offset_m=round(float(d[i]), 3), start_m=round(float(start[i]), 2), ramp_m=round(float(ramp[i]), 2),
                     speed_factor=round(float(factor[i]), 3))
        speeds = factor[:, None] * logged_speed(ctx)[None]
        return Candidates(self.name, None, params, targets=roll(ctx, offset_paths(ctx, d, start, ramp), speeds))
