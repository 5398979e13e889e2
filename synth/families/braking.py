"""``braking``: the logged path, slowing down or stopping.

Parameter space: from ``onset_s`` ~ U(0, 1.5) s brake at ``decel`` ~ U(1.5, 8) m/s^2 to ``floor`` x
the anchor speed and hold it (``floor`` = 0, a stop, half the time; else ~ U(0, 0.8)). The other
families follow the logged speed profile or push it up; this one gives a scene whose lead is
already braking (:mod:`synth.variants`) its safe plans, and the rear-end risk of braking hard.
"""
from __future__ import annotations

import numpy as np

from .base import Candidates, Family, logged_speed, roll, times


class Braking(Family):
    name = "braking"

    def sample(self, ctx, rng, n):
        t, v0 = times(ctx), logged_speed(ctx)[0]
        onset, dec = rng.uniform(0.0, 1.5, n), rng.uniform(1.5, 8.0, n)
        floor = np.where(rng.random(n) < 0.5, 0.0, rng.uniform(0.0, 0.8, n))
        v = np.maximum(v0 - dec[:, None] * np.maximum(t[None] - onset[:, None], 0.0), floor[:, None] * v0)
        params = [{"onset_s": round(float(o), 3), "decel": round(float(d), 3), "floor": round(float(f), 3)}
                  for o, d, f in zip(onset, dec, floor)]
        paths = np.broadcast_to(ctx.path, (n,) + ctx.path.shape)
        return Candidates(self.name, None, params, targets=roll(ctx, paths, v))
