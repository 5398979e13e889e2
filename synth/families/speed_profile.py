"""``speed_profile``: the logged path at another speed.

Parameter space (one mode per candidate, uniform):
* ``hard_accel``: accelerate at ``accel`` ~ U(2, 4) m/s^2 up to the logged top speed plus ``extra`` ~ U(4, 14) m/s.
* ``delayed_braking``: the logged speed profile delayed by ``delay_s`` ~ U(1, 3) s (speed held meanwhile).
* ``failed_braking``: never slower than ``keep`` ~ U(0.85, 1.1) x the anchor speed (decelerations ignored).
* ``scaling``: the logged speed times ``factor`` ~ U(0.4, 1.7).
"""
from __future__ import annotations

import numpy as np

from .base import Candidates, Family, logged_speed, roll, times

MODES = ("hard_accel", "delayed_braking", "failed_braking", "scaling")


class SpeedProfile(Family):
    name = "speed_profile"

    def sample(self, ctx, rng, n, modes=MODES):
        t, v_log = times(ctx), logged_speed(ctx)
        v0 = v_log[0]
        targets, params = [], []
        for _ in range(n):
            mode = str(rng.choice(modes))
            if mode == "hard_accel":
                acc, extra = rng.uniform(2.0, 4.0), rng.uniform(4.0, 14.0)
                v = np.minimum(v0 + acc * t, max(v0, v_log.max()) + extra)
                p = {"accel": acc, "extra": extra}
            elif mode == "delayed_braking":
                delay = rng.uniform(1.0, 3.0)
                v = np.interp(t - delay, t, v_log, left=v0)
                p = {"delay_s": delay}
            elif mode == "failed_braking":
                keep = rng.uniform(0.85, 1.1)
                v = np.maximum(v_log, keep * v0)
                p = {"keep": keep}
            else:
                factor = rng.uniform(0.4, 1.7)
                v = v_log * factor
                p = {"factor": factor}
            targets.append(v)
            params.append({"mode": mode, **{k: round(float(x), 4) for k, x in p.items()}})
        paths = np.broadcast_to(ctx.path, (n,) + ctx.path.shape)
        return Candidates(self.name, None, params, targets=roll(ctx, paths, np.array(targets)))
