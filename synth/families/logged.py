"""``logged``: the unperturbed expert plan (no parameters)."""
from __future__ import annotations

import numpy as np

from ..kinematics import Plans
from .base import Candidates, Family


class Logged(Family):
    name = "logged"

    def sample(self, ctx, rng, n):
        lg = ctx.logged
        zeros = np.zeros_like(lg.x)
        return Candidates(self.name, Plans(lg.x.copy(), lg.y.copy(), lg.heading.copy(), lg.speed.copy(), zeros, zeros),
                          [{}])
