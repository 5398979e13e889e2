"""Compiled (numba) inner loops of synthesis: plan rollout and plan-agent labels.

Both are loops with early exits that numpy cannot express without computing every
plan x agent x frame x sub-step; here each plan is one pass. Semantics are documented
in :mod:`synth.kinematics` and :mod:`synth.labels`; the tests check the labels against
the slow shapely reference (``tests/fixtures/reference_labels.py``, not shipped) and
against hand-computed cases.
Compiled code is cached next to this file (``cache=True``).
"""
from __future__ import annotations

import math

import numpy as np
from numba import njit


# ------------------------------------------------------------------------------ geometry
@njit(cache=True, inline="always")
def obb_overlap1(x1, y1, h1, l1, w1, x2, y2, h2, l2, w2):
    """Separating-axis test of two oriented rectangles (touching counts as overlap)."""
    c1, s1, c2, s2 = math.cos(h1), math.sin(h1), math.cos(h2), math.sin(h2)
    dx, dy = x2 - x1, y2 - y1
    a1, b1, a2, b2 = 0.5 * l1, 0.5 * w1, 0.5 * l2, 0.5 * w2
    cc = abs(c1 * c2 + s1 * s2)
    ss = abs(s1 * c2 - c1 * s2)
    if abs(dx * c1 + dy * s1) > a1 + a2 * cc + b2 * ss:
        return False
    if abs(-dx * s1 + dy * c1) > b1 + a2 * ss + b2 * cc:
        return False
    if abs(dx * c2 + dy * s2) > a2 + a1 * cc + b1 * ss:
        return False
    return abs(-dx * s2 + dy * c2) <= b2 + a1 * ss + b1 * cc


@njit(cache=True)
def _corners(x, y, h, l, w, out):
    c, s = math.cos(h), math.sin(h)
    sl = (1.0, 1.0, -1.0, -1.0)
    sw = (1.0, -1.0, -1.0, 1.0)
    for i in range(4):
        out[i, 0] = x + sl[i] * 0.5 * l * c - sw[i] * 0.5 * w * s
        out[i, 1] = y + sl[i] * 0.5 * l * s + sw[i] * 0.5 * w * c


@njit(cache=True)
def _pt_seg(px, py, ax, ay, bx, by):
    abx, aby = bx - ax, by - ay
    den = abx * abx + aby * aby
    u = 0.0 if den <= 1e-12 else ((px - ax) * abx + (py - ay) * aby) / den
    u = min(max(u, 0.0), 1.0)
    qx, qy = ax + u * abx - px, ay + u * aby - py
    return math.sqrt(qx * qx + qy * qy)


@njit(cache=True)
def box_distance1(x1, y1, h1, l1, w1, x2, y2, h2, l2, w2, ca, cb):
    """Exact distance between two oriented rectangles (0 when they overlap)."""
    if obb_overlap1(x1, y1, h1, l1, w1, x2, y2, h2, l2, w2):
        return 0.0
    _corners(x1, y1, h1, l1, w1, ca)
    _corners(x2, y2, h2, l2, w2, cb)
    best = np.inf
    for i in range(4):
        j = (i + 1) % 4
        for p in range(4):
            d = _pt_seg(ca[p, 0], ca[p, 1], cb[i, 0], cb[i, 1], cb[j, 0], cb[j, 1])
            if d < best:
                best = d
            d = _pt_seg(cb[p, 0], cb[p, 1], ca[i, 0], ca[i, 1], ca[j, 0], ca[j, 1])
            if d < best:
                best = d
    return best


@njit(cache=True, inline="always")
def _circle_ttc(px, py, vx, vy, rad, min_closing):
    c = px * px + py * py - rad * rad
    if c <= 0.0:
        return 0.0
    a = vx * vx + vy * vy
    b = px * vx + py * vy
    if a <= min_closing * min_closing or b >= 0.0:
        return np.inf
    disc = b * b - a * c
    if disc < 0.0:
        return np.inf
    return (-b - math.sqrt(disc)) / a


@njit(cache=True)
def _disc_ttc(ex, ey, eh, evx, evy, el, ew, gx, gy, gh, gvx, gvy, gl, gw, min_closing, horizon):
    """Earliest contact (s) of three constant-velocity discs per box, inf beyond ``horizon``."""
    er = math.sqrt((el / 6.0) ** 2 + (ew / 2.0) ** 2)
    gr = math.sqrt((gl / 6.0) ** 2 + (gw / 2.0) ** 2)
    ce, se, cg, sg = math.cos(eh), math.sin(eh), math.cos(gh), math.sin(gh)
    rvx, rvy = gvx - evx, gvy - evy
    best = np.inf
    for i in range(-1, 2):
        ox, oy = ex + i * el / 3.0 * ce, ey + i * el / 3.0 * se
        for j in range(-1, 2):
            px, py = gx + j * gl / 3.0 * cg - ox, gy + j * gl / 3.0 * sg - oy
            t = _circle_ttc(px, py, rvx, rvy, er + gr, min_closing)
            if t < best:
                best = t
    return best if best <= horizon else np.inf


@njit(cache=True, inline="always")
def _wrap(a):
    return (a + math.pi) % (2.0 * math.pi) - math.pi


# ------------------------------------------------------------------------------ labels
@njit(cache=True)
def pair_labels(ex, ey, eh, es, el, ew, ax, ay, ah, avx, avy, al, aw, aval, rows, dt, fine, pair_range,
                ttc_reach, ttc_horizon, ttc_stride, min_closing, exact_dist):
    """Collision (time, agent, relative speed), minimum box distance and TTC for N plans.

    ``ex..es`` ``[N, T]`` ego plans; ``ax..aval`` ``[Na, A, T]`` agents; ``rows[n]`` is
    the agent row of plan n. See :func:`synth.labels.label_plans` for the definitions.
    """
    N, T = ex.shape
    A = ax.shape[1]
    coll_t = np.full(N, np.inf)
    coll_a = np.full(N, -1)
    coll_rel = np.full(N, np.nan)
    min_exact = np.full(N, np.inf)
    min_lb = np.full(N, np.inf)
    min_ttc = np.full(N, np.inf)
    ca = np.empty((4, 2))
    cb = np.empty((4, 2))
    dist = np.empty((A, T))
    rad = np.empty((A, T))
    near = np.zeros(A, np.bool_)
    range2 = pair_range * pair_range
    # per agent row: half-diagonals [Na, A, T] and the bounding box of the valid centres [Na, A, 4]
    Na = ax.shape[0]
    half = np.empty((Na, A, T))
    box = np.empty((Na, A, 4))
    for g in range(Na):
        for a in range(A):
            xl, xh, yl, yh = np.inf, -np.inf, np.inf, -np.inf
            for k in range(T):
                half[g, a, k] = 0.5 * math.sqrt(al[g, a, k] ** 2 + aw[g, a, k] ** 2)
                if aval[g, a, k]:
                    xl, xh = min(xl, ax[g, a, k]), max(xh, ax[g, a, k])
                    yl, yh = min(yl, ay[g, a, k]), max(yh, ay[g, a, k])
            box[g, a, 0], box[g, a, 1], box[g, a, 2], box[g, a, 3] = xl, xh, yl, yh
    # largest relative displacement of two centres over one frame (m): 2 x 45 m/s x dt
    max_step = 2.0 * 45.0 * dt
    er = 0.5 * math.sqrt(el * el + ew * ew)
    for n in range(N):
        g = rows[n]
        # ---- centre distances (inf where invalid or beyond pair_range) and distance bounds
        best_ub = np.inf
        any_close = False
        # the plan's bounding box: an agent whose whole track's box stays pair_range away is never in range
        pxl, pxh, pyl, pyh = np.inf, -np.inf, np.inf, -np.inf
        for k in range(T):
            pxl, pxh = min(pxl, ex[n, k]), max(pxh, ex[n, k])
            pyl, pyh = min(pyl, ey[n, k]), max(pyh, ey[n, k])
        for a in range(A):
            near[a] = False           # the later loops read dist[a] only where near[a]
            gx = max(box[g, a, 0] - pxh, pxl - box[g, a, 1], 0.0)
            gy = max(box[g, a, 2] - pyh, pyl - box[g, a, 3], 0.0)
            if gx * gx + gy * gy >= range2:
                continue
            for k in range(T):
                dist[a, k] = np.inf
            for k in range(T):
                if not aval[g, a, k]:
                    continue
                dx, dy = ax[g, a, k] - ex[n, k], ay[g, a, k] - ey[n, k]
                d2 = dx * dx + dy * dy
                if d2 >= range2:
                    continue
                d = math.sqrt(d2)
                any_close = True
                near[a] = True
                dist[a, k] = d
                rad[a, k] = er + half[g, a, k]
                lb = max(d - rad[a, k], 0.0)
                if lb < min_lb[n]:
                    min_lb[n] = lb
                ub = d - 0.5 * ew - 0.5 * aw[g, a, k]
                if ub < best_ub:
                    best_ub = ub
        if not any_close:
            continue
        # ---- collisions: earliest contact over agents, in time order per agent
        for a in range(A):
            if not near[a]:
                continue
            for k in range(T):
                if (k - 1) * dt > coll_t[n]:  # interval (k - 1, k) starts after the earliest contact so far
                    break
                d = dist[a, k]
                if d == np.inf:
                    continue
                R = rad[a, k]
                hit_t = np.inf
                # sub-steps of the interval (k - 1, k), when the agent is valid at both ends and the
                # centres' closest approach (exact for linear interpolation) is within the half-diagonals
                if k > 0 and aval[g, a, k - 1] and min(d, dist[a, k - 1]) <= R + 2.0 * max_step:
                    rx0, ry0 = ax[g, a, k - 1] - ex[n, k - 1], ay[g, a, k - 1] - ey[n, k - 1]
                    rx1, ry1 = ax[g, a, k] - ex[n, k], ay[g, a, k] - ey[n, k]
                    dx, dy = rx1 - rx0, ry1 - ry0
                    den = dx * dx + dy * dy
                    u = 0.0 if den <= 0.0 else min(max(-(rx0 * dx + ry0 * dy) / den, 0.0), 1.0)
                    R0 = er + half[g, a, k - 1]
                    if math.hypot(rx0 + u * dx, ry0 + u * dy) <= max(R, R0):
                        dhe = _wrap(eh[n, k] - eh[n, k - 1])
                        dha = _wrap(ah[g, a, k] - ah[g, a, k - 1])
                        for j in range(1, fine):
                            w = j / fine
                            if obb_overlap1(ex[n, k - 1] + w * (ex[n, k] - ex[n, k - 1]),
                                            ey[n, k - 1] + w * (ey[n, k] - ey[n, k - 1]), eh[n, k - 1] + w * dhe, el, ew,
                                            ax[g, a, k - 1] + w * (ax[g, a, k] - ax[g, a, k - 1]),
                                            ay[g, a, k - 1] + w * (ay[g, a, k] - ay[g, a, k - 1]), ah[g, a, k - 1] + w * dha,
                                            al[g, a, k - 1] + w * (al[g, a, k] - al[g, a, k - 1]),
                                            aw[g, a, k - 1] + w * (aw[g, a, k] - aw[g, a, k - 1])):
                                hit_t = (k - 1 + w) * dt
                                break
                if hit_t == np.inf and d <= R and obb_overlap1(ex[n, k], ey[n, k], eh[n, k], el, ew, ax[g, a, k],
                                                               ay[g, a, k], ah[g, a, k], al[g, a, k], aw[g, a, k]):
                    hit_t = k * dt
                if hit_t < coll_t[n]:
                    coll_t[n] = hit_t
                    coll_a[n] = a
                    kk = int(math.floor(hit_t / dt + 1e-9))
                    w = hit_t / dt - kk
                    k1 = min(kk + 1, T - 1)
                    sp = es[n, kk] + w * (es[n, k1] - es[n, kk])
                    hh = eh[n, kk] + w * _wrap(eh[n, k1] - eh[n, kk])
                    gvx = avx[g, a, kk] + w * (avx[g, a, k1] - avx[g, a, kk])
                    gvy = avy[g, a, kk] + w * (avy[g, a, k1] - avy[g, a, kk])
                    coll_rel[n] = math.hypot(sp * math.cos(hh) - gvx, sp * math.sin(hh) - gvy)
                if hit_t < np.inf:
                    break
        # ---- time to collision (before the first contact) and exact minimum distance
        limit = min(best_ub, exact_dist)
        for a in range(A):
            if not near[a]:
                continue
            for k in range(T):
                d = dist[a, k]
                if d == np.inf:
                    continue
                R = rad[a, k]
                if k % ttc_stride == 0 and k * dt <= coll_t[n] and d < R + ttc_reach:
                    evx, evy = es[n, k] * math.cos(eh[n, k]), es[n, k] * math.sin(eh[n, k])
                    rvx, rvy = avx[g, a, k] - evx, avy[g, a, k] - evy
                    if _circle_ttc(ax[g, a, k] - ex[n, k], ay[g, a, k] - ey[n, k], rvx, rvy, R, min_closing) <= ttc_horizon:
                        t = _disc_ttc(ex[n, k], ey[n, k], eh[n, k], evx, evy, el, ew, ax[g, a, k], ay[g, a, k],
                                      ah[g, a, k], avx[g, a, k], avy[g, a, k], al[g, a, k], aw[g, a, k], min_closing,
                                      ttc_horizon)
                        if t < min_ttc[n]:
                            min_ttc[n] = t
                if d - R < min(limit, min_exact[n]):
                    bd = box_distance1(ex[n, k], ey[n, k], eh[n, k], el, ew, ax[g, a, k], ay[g, a, k], ah[g, a, k],
                                       al[g, a, k], aw[g, a, k], ca, cb)
                    if bd < min_exact[n]:
                        min_exact[n] = bd
    min_dist = np.where(np.isfinite(min_exact), min_exact, min_lb)
    for n in range(N):
        if coll_t[n] < np.inf:
            min_dist[n] = 0.0
    return coll_t, coll_a, coll_rel, min_dist, min_ttc


# ------------------------------------------------------------------------------ rollout
@njit(cache=True)
def rollout_kernel(x0, y0, h0, v0, a0, steer0, paths, speed_targets, dt, steps, L, max_accel, max_decel, max_jerk,
                   max_lat, mu_g, max_yaw, max_curv, max_steer, max_steer_rate, path_ds):
    """Per-plan bicycle rollout; see :func:`synth.kinematics.rollout`."""
    N, M = paths.shape[0], paths.shape[1]
    X = np.empty((N, steps + 1))
    Y = np.empty((N, steps + 1))
    H = np.empty((N, steps + 1))
    V = np.empty((N, steps + 1))
    AC = np.empty((N, steps + 1))
    ST = np.empty((N, steps + 1))
    for n in range(N):
        x, y, h, v = x0, y0, h0, max(v0, 0.0)
        a = min(max(a0, -max_decel), max_accel)
        steer = min(max(steer0, -max_steer), max_steer)
        X[n, 0], Y[n, 0], H[n, 0], V[n, 0], ST[n, 0] = x0, y0, h0, v0, steer
        idx = 0
        for k in range(steps):
            a_des = (speed_targets[n, k + 1] - v) / (2.0 * dt)
            a_des = min(max(a_des, -max_decel), max_accel)
            ease = max_jerk * (math.sqrt(dt * dt / 4.0 + 2.0 * max(v, 0.0) / max_jerk) - dt / 2.0)
            a_des = max(a_des, -0.9 * ease)
            a = a + min(max(a_des - a, -max_jerk * dt), max_jerk * dt)
            a = min(max(a, -max_decel), max_accel)
            a = max(a, -v / dt)
            v_next = v + a * dt
            v_avg = 0.5 * (v + v_next)
            best, bi = np.inf, idx
            for w in range(-4, 25):
                i = min(max(idx + w, 0), M - 1)
                d2 = (paths[n, i, 0] - x) ** 2 + (paths[n, i, 1] - y) ** 2
                if d2 < best:
                    best, bi = d2, i
            idx = bi
            look = min(max(4.0 + 0.8 * v_avg, 4.0), 30.0)
            tgt = min(max(idx + int(round(look / path_ds)), 0), M - 1)
            dx, dy = paths[n, tgt, 0] - x, paths[n, tgt, 1] - y
            alpha = math.atan2(dy, dx) - h
            kappa_des = 2.0 * math.sin(alpha) / max(math.hypot(dx, dy), 1.0)
            steer_des = math.atan(kappa_des * L)
            lat_budget = math.sqrt(max(mu_g * mu_g - a * a, 0.0))
            lat_budget = min(lat_budget, max_lat) * 0.98
            vv = max(v_avg, 1e-3)
            kappa_max = min(max_curv * 0.98, lat_budget / (vv * vv), 0.98 * max_yaw / vv)
            steer_max = math.atan(kappa_max * L)
            steer = steer + min(max(steer_des - steer, -max_steer_rate * dt), max_steer_rate * dt)
            steer = min(max(steer, -steer_max), steer_max)
            yaw_rate = v_avg * math.tan(steer) / L
            h_mid = h + 0.5 * yaw_rate * dt
            x = x + v_avg * math.cos(h_mid) * dt
            y = y + v_avg * math.sin(h_mid) * dt
            h = h + yaw_rate * dt
            v = v_next
            AC[n, k] = a
            X[n, k + 1], Y[n, k + 1], H[n, k + 1], V[n, k + 1], ST[n, k + 1] = x, y, h, v, steer
        AC[n, steps] = AC[n, steps - 1]
        for k in range(1, steps + 1):
            H[n, k] = (H[n, k] + math.pi) % (2.0 * math.pi) - math.pi
    return X, Y, H, V, AC, ST


# ------------------------------------------------------------------------------ off-road samples
@njit(cache=True)
def footprint_samples(ex, ey, eh, check, sub, el, ew, dt):
    """Footprint corners at ``sub`` samples per frame of every interval flagged in ``check``.

    ``check`` ``[N, T]``: entry (n, k < T - 1) asks for the samples of interval k, entry
    (n, T - 1) for the last frame. Returns corners ``(S * 4, 2)``, the plan ``(S,)`` and
    time ``(S,)`` of each sample, in plan-then-time order.
    """
    N, T = ex.shape
    count = 0
    for n in range(N):
        for k in range(T - 1):
            if check[n, k]:
                count += sub
        if check[n, T - 1]:
            count += 1
    xy = np.empty((count * 4, 2))
    plan = np.empty(count, np.int64)
    time = np.empty(count)
    c4 = np.empty((4, 2))
    s = 0
    for n in range(N):
        for k in range(T):
            if not check[n, k]:
                continue
            m = sub if k < T - 1 else 1
            for j in range(m):
                w = j / sub
                if k < T - 1:
                    x = ex[n, k] + w * (ex[n, k + 1] - ex[n, k])
                    y = ey[n, k] + w * (ey[n, k + 1] - ey[n, k])
                    h = eh[n, k] + w * _wrap(eh[n, k + 1] - eh[n, k])
                else:
                    x, y, h = ex[n, k], ey[n, k], eh[n, k]
                _corners(x, y, h, el, ew, c4)
                for i in range(4):
                    xy[4 * s + i, 0] = c4[i, 0]
                    xy[4 * s + i, 1] = c4[i, 1]
                plan[s] = n
                time[s] = (k + w) * dt
                s += 1
    return xy, plan, time
