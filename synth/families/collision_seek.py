"""``collision_seek``: aim at a chosen agent's logged future.

For a target agent and a contact time ``t_contact_s`` ~ U(0.8, 7) s, the agent's
logged position then is projected onto the ego path (``s``, ``d``); the plan shifts
laterally to ``d`` (ramp ending ``lead_m`` ~ U(0, 8) m before ``s``) and drives at the
constant speed that reaches ``s`` at ``t_contact_s`` times ``timing`` ~ U(0.85, 1.2).
A third of the draws aim ``miss_m`` ~ +-U(1.6, 3) m beside the agent (close calls).
Agents are drawn with probability decreasing with their distance. Several draws per
agent are a search over feasible controls; the labeller decides which made contact.
"""
from __future__ import annotations

import numpy as np

from .base import Candidates, Family, offset_paths, roll, times


class CollisionSeek(Family):
    name = "collision_seek"

    def sample(self, ctx, rng, n):
        ag = ctx.agents
        t = times(ctx)
        k_lo, k_hi = int(round(0.8 / ctx.dt)), ctx.steps - int(round(1.0 / ctx.dt))
        opportunities = []
        aa, kk = np.nonzero(ag.valid[0, :, k_lo:k_hi])     # every valid (agent, frame) in the window, agent-major
        kk = kk + k_lo
        if len(aa):
            s_all, d_all = ctx.project(ag.x[0, aa, kk], ag.y[0, aa, kk])   # one projection for all agents
            ok_all = (s_all > 3.0) & (s_all < 200.0) & (np.abs(d_all) < 3.0 * ctx.lane_width) & (s_all / t[kk] < 35.0)
            bounds = np.searchsorted(aa, np.arange(ag.x.shape[1] + 1))
            for a in range(ag.x.shape[1]):
                sl = slice(bounds[a], bounds[a + 1])
                ok = ok_all[sl]
                if ok.any():
                    opportunities.append((a, kk[sl][ok], s_all[sl][ok], d_all[sl][ok]))
        if not opportunities:
            return None
        dist = np.array([np.hypot(ag.x[0, a, k[0]] - ctx.anchor_state[0], ag.y[0, a, k[0]] - ctx.anchor_state[1])
                         for a, k, _, _ in opportunities])
        weight = 1.0 / (5.0 + dist)
        weight /= weight.sum()
        d_final, start, ramp, speeds, params = np.zeros(n), np.zeros(n), np.zeros(n), [], []
        for i in range(n):
            a, ks, ss, ds = opportunities[rng.choice(len(opportunities), p=weight)]
            j = rng.integers(len(ks))
            k, s_c, d_c = ks[j], ss[j], ds[j]
            lead, timing = rng.uniform(0.0, 8.0), rng.uniform(0.85, 1.2)
            # a third of the draws aim beside the agent (a near miss unless the timing is exact)
            miss = float(rng.choice([-1.0, 1.0]) * rng.uniform(1.6, 3.0)) if rng.random() < 0.33 else 0.0
            d_final[i] = d_c + miss
            ramp[i] = max(s_c - lead, 5.0)
            v = np.full(len(t), min(s_c / t[k] * timing, 35.0))
            speeds.append(v)
            params.append({"target_track": ctx.agent_ids[a], "t_contact_s": round(float(t[k]), 2),
                           "s_m": round(float(s_c), 2), "d_m": round(float(d_c), 3), "lead_m": round(float(lead), 2),
                           "timing": round(float(timing), 3), "miss_m": round(miss, 3)})
        targets = roll(ctx, offset_paths(ctx, d_final, start, ramp), np.array(speeds))
        return Candidates(self.name, None, params, targets=targets)
