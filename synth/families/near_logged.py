"""``near_logged``: safe variants close to the log.

Parameter space: ``speed_factor`` ~ U(0.93, 1.07), ``offset_m`` ~ U(-0.3, 0.3) reached over ``ramp_m`` ~ U(25, 60) m.
"""
from __future__ import annotations

import numpy as np

from .base import Candidates, Family, logged_speed, offset_paths, roll


class NearLogged(Family):
    name = "near_logged"

    def sample(self, ctx, rng, n):
        factor, d, ramp = rng.uniform(0.93, 1.07, n), rng.uniform(-0.3, 0.3, n), rng.uniform(25.0, 60.0, n)
        params = [{"speed_factor": round(float(f), 4), "offset_m": round(float(o), 3), "ramp_m": round(float(r), 2)}
                  for f, o, r in zip(factor, d, ramp)]
        targets = roll(ctx, offset_paths(ctx, d, np.zeros(n), ramp), factor[:, None] * logged_speed(ctx)[None])
        return Candidates(self.name, None, params, targets=targets)
