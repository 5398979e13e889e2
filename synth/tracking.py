"""Compiled (numba) closed-loop tracking of the pseudo-simulator: PID speed and lateral control of a
kinematic bicycle, one candidate per outer iteration and every sub-step in one pass.

:func:`track` is the inner loop of :func:`synth.sim.simulate` (which documents the controller); a
plain numpy version over candidates ran the same arithmetic as a Python loop over steps x sub-steps,
which dominated ``impartial refine``. ``tests/rl/test_sim_rewards.py`` checks it against that numpy
loop, kept there as the reference.
"""
from __future__ import annotations

import math

import numpy as np
from numba import njit


@njit(cache=True, inline="always")
def _clip(v, lo, hi):
    return min(max(v, lo), hi)


@njit(cache=True)
def track(x0, y0, h0, v0, a0, st0, li0, le0, si0, idx0, target, path, normals, path_h, steps, substeps, dt,
          speed_pid, lateral_pid, heading_gain, max_steer, max_steer_rate, max_decel, max_accel, max_jerk,
          comfort_decel, comfort_jerk, wheelbase):
    """Run every candidate ``[N]`` for ``steps`` frames of ``substeps`` sub-steps each (``dt`` s a frame).

    Returns the recorded states ``[6, N, steps + 1]`` (x, y, heading, speed, accel, steer) and the
    controller memory at the end (cross-track integral, last cross-track error, speed integral,
    nearest path index), all ``[N]``.
    """
    N, M = x0.shape[0], path.shape[0]
    h_dt = dt / substeps
    kp, ki = speed_pid[0], speed_pid[1]
    lp, lii, ld = lateral_pid[0], lateral_pid[1], lateral_pid[2]
    out = np.zeros((6, N, steps + 1))
    li, le, si, idx_out = li0.copy(), le0.copy(), si0.copy(), idx0.copy()
    for n in range(N):
        x, y, h, v, a, st = x0[n], y0[n], h0[n], v0[n], a0[n], st0[n]
        i_int, e_prev, s_int, idx = li[n], le[n], si[n], idx_out[n]
        out[0, n, 0], out[1, n, 0], out[2, n, 0], out[3, n, 0], out[4, n, 0], out[5, n, 0] = x, y, h, v, a, st
        for k in range(steps):
            for _ in range(substeps):
                best, bi = np.inf, min(max(idx, 0), M - 1)   # clipped even if every distance is NaN
                for w in range(-4, 16):   # the nearest path sample in a window around the last one
                    c = min(max(idx + w, 0), M - 1)
                    d2 = (path[c, 0] - x) ** 2 + (path[c, 1] - y) ** 2
                    if d2 < best:
                        best, bi = d2, c
                idx = bi
                e = (x - path[idx, 0]) * normals[idx, 0] + (y - path[idx, 1]) * normals[idx, 1]
                i_int = _clip(i_int + e * h_dt, -5.0, 5.0)
                de = (e - e_prev) / h_dt
                e_prev = e
                dh = (path_h[idx] - h + math.pi) % (2 * math.pi) - math.pi
                want = _clip(heading_gain * dh - (lp * e + lii * i_int + ld * de), -max_steer, max_steer)
                st = st + _clip(want - st, -max_steer_rate * h_dt, max_steer_rate * h_dt)
                err = target[n] - v
                s_int = _clip(s_int + err * h_dt, -10.0, 10.0)
                a_cmd = _clip(kp * err + ki * s_int, -max_decel, max_accel)
                jerk = (max_jerk if a_cmd < -comfort_decel else comfort_jerk) * h_dt
                a = a + _clip(a_cmd - a, -jerk, jerk)
                if v <= 0.0 and a < 0.0:
                    a = 0.0
                x_next = x + v * math.cos(h) * h_dt
                y_next = y + v * math.sin(h) * h_dt
                h = h + v * math.tan(st) / wheelbase * h_dt
                x, y = x_next, y_next
                v = max(v + a * h_dt, 0.0)
            out[0, n, k + 1], out[1, n, k + 1], out[2, n, k + 1] = x, y, h
            out[3, n, k + 1], out[4, n, k + 1], out[5, n, k + 1] = v, a, st
        li[n], le[n], si[n], idx_out[n] = i_int, e_prev, s_int, idx
    return out, li, le, si, idx_out
