"""Exact event labels for candidate plans, vectorised over candidates x agents x time.

* Collision: oriented-box overlap of the ego with every agent. For each 0.1 s interval
  the closest approach of the two linearly interpolated centres is computed exactly;
  only intervals where it falls below the sum of both half-diagonals are refined at
  ``fine_steps`` sub-steps (100 Hz by default) with a separating-axis test, so no
  collision tunnels between frames. Collision time is the first overlapping sub-step.
* Off-road: any ego footprint corner outside the drivable area (shapely 2 vectorised
  ``contains_xy``), sampled at ``offroad_steps`` per frame and refined to 100 Hz
  around the first exit.
* Solid-line crossings: intersections of the ego centre path with SOLID and
  DOUBLE_SOLID lines.
* Minimum distance: exact box-to-box distance when below 5 m; above, the centre distance
  minus both half-diagonals (a lower bound), which is all the near-miss rule needs.
* TTC: both boxes covered by three discs along their length and projected at constant
  velocity from every second frame (5 Hz) before the first contact; the earliest contact within 5 s (discs already touching
  give 0). Pairs whose centres never come within 40 m are skipped entirely.

Shapes: N plans, A agents, T = H + 1 frames. Agent arrays are ``[Na, A, T]`` with
Na = 1 (shared) or N (per plan, for perturbed agents).
"""
from __future__ import annotations

import dataclasses

import numpy as np
import shapely

from schemas import ObjectType, Outcome

from .config import LabelThresholds
from .geometry import box_corners, boxes_overlap, obb_overlap

PAIR_RANGE_M = 40.0    # plan-agent pairs never closer than this (centres) are not examined further
COLLISION_RANGE_M = 25.0  # pairs never closer than this cannot touch (half-diagonals <= 8.5 m, <= 4 m/frame each)
TTC_REACH_M = 25.0     # TTC is evaluated where the centre gap is below this
TTC_HORIZON_S = 5.0    # a projected contact later than this does not count
TTC_STRIDE = 2         # TTC is evaluated every TTC_STRIDE frames (5 Hz)
SAFE_SPEED_MPS = 45.0  # off-road shortcut valid up to this speed (faster samples are always checked)
EXACT_DISTANCE_M = 5.0  # min distance is exact below this; above it, centre distance minus half-diagonals (a lower bound)


@dataclasses.dataclass(frozen=True, eq=False)
class AgentFutures:
    """Agents over the plan horizon: ``[Na, A, T]`` arrays (m, rad, m/s) and ``type`` ``[A]``."""

    x: np.ndarray
    y: np.ndarray
    heading: np.ndarray
    vx: np.ndarray
    vy: np.ndarray
    length: np.ndarray
    width: np.ndarray
    valid: np.ndarray
    type: np.ndarray


@dataclasses.dataclass(frozen=True, eq=False)
class EgoPlans:
    """Ego plans ``[N, T]``: x, y m, heading rad, speed m/s; box ``length``, ``width`` m."""

    x: np.ndarray
    y: np.ndarray
    heading: np.ndarray
    speed: np.ndarray
    length: float
    width: float


def _interp_angle(h0, h1, u):
    return h0 + u * np.angle(np.exp(1j * (h1 - h0)))


def _seg_dist_to_origin(p0x, p0y, p1x, p1y):
    dx, dy = p1x - p0x, p1y - p0y
    denom = dx * dx + dy * dy
    u = np.clip(-(p0x * dx + p0y * dy) / np.where(denom > 0, denom, 1.0), 0.0, 1.0)
    return np.hypot(p0x + u * dx, p0y + u * dy)


def _point_seg_dist(p, a, b):
    ab = b - a
    u = np.clip(((p - a) * ab).sum(-1) / np.maximum((ab * ab).sum(-1), 1e-12), 0.0, 1.0)
    return np.linalg.norm(p - (a + u[..., None] * ab), axis=-1)


def box_distance(ca: np.ndarray, cb: np.ndarray) -> np.ndarray:
    """Exact distance between convex quads ``[..., 4, 2]`` (0 where they overlap)."""
    ea, eb = np.roll(ca, -1, axis=-2), np.roll(cb, -1, axis=-2)
    d1 = _point_seg_dist(ca[..., :, None, :], cb[..., None, :, :], eb[..., None, :, :]).min(axis=(-1, -2))
    d2 = _point_seg_dist(cb[..., :, None, :], ca[..., None, :, :], ea[..., None, :, :]).min(axis=(-1, -2))
    return np.where(boxes_overlap(ca, cb), 0.0, np.minimum(d1, d2))


def _three_discs(x, y, h, L, W):
    """Centres ``[..., 3, 2]`` and radius ``[...]`` of three discs covering each box."""
    off = np.asarray(L / 3.0)[..., None] * np.array([-1.0, 0.0, 1.0])
    cx = x[..., None] + off * np.cos(h)[..., None]
    cy = y[..., None] + off * np.sin(h)[..., None]
    return cx, cy, np.hypot(L / 6.0, W / 2.0)


def inner_drivable(drivable: shapely.Geometry, length: float, width: float, dt: float) -> shapely.Geometry:
    """Drivable area eroded so that an ego centre inside it keeps every corner inside for half a frame.

    Margin: half-diagonal plus half a frame of motion at :data:`SAFE_SPEED_MPS`.
    """
    inner = shapely.buffer(drivable, -(0.5 * np.hypot(length, width) + 0.5 * SAFE_SPEED_MPS * dt), quad_segs=2)
    shapely.prepare(inner)
    return inner


def label_plans(ego: EgoPlans, agents: AgentFutures, drivable: shapely.Geometry, solid_lines: shapely.Geometry | None,
                dt: float, th: LabelThresholds, drivable_inner: shapely.Geometry | None = None) -> dict[str, np.ndarray]:
    """Label N plans; returns per-plan arrays (NaN where undefined) and ``outcome`` names.

    ``drivable_inner`` (from :func:`inner_drivable`) only speeds the off-road check up:
    intervals whose two end centres lie inside it are inside without corner tests.
    """
    N, T = ego.x.shape
    A = agents.x.shape[1]
    Na = agents.x.shape[0]
    # (plan, agent) pairs that ever come within PAIR_RANGE_M: everything else is far and safe
    if Na == N:
        D = np.hypot(agents.x - ego.x[:, None], agents.y - ego.y[:, None])
    else:
        D = np.hypot(agents.x[0][None] - ego.x[:, None], agents.y[0][None] - ego.y[:, None])
    D = np.where(np.broadcast_to(agents.valid, (N, A, T)), D, np.inf)
    Dmin = D.min(axis=2)
    pn, pa = np.nonzero(Dmin < PAIR_RANGE_M)
    close = Dmin[pn, pa] < COLLISION_RANGE_M  # pairs that can touch at all (centres within R + 2 frames of motion)
    pg = pn if Na == N else np.zeros_like(pn)  # row of the agent arrays
    g = {k: getattr(agents, k)[pg, pa] for k in ("x", "y", "heading", "vx", "vy", "length", "width", "valid")}
    ex, ey, eh, es = ego.x[pn], ego.y[pn], ego.heading[pn], ego.speed[pn]
    eL, eW = ego.length, ego.width
    val = g["valid"]
    rx, ry = g["x"] - ex, g["y"] - ey
    dist = D[pn, pa]
    R = 0.5 * np.hypot(eL, eW) + 0.5 * np.hypot(g["length"], g["width"])

    # ---------------------------------------------------------------- collisions
    coll_t = np.full(N, np.inf)
    coll_agent = np.full(N, -1)
    coll_rel = np.full(N, np.nan)
    pair_ok = val[:, :-1] & val[:, 1:] & close[:, None]
    # 1) overlap at the frames themselves: the first overlapping frame bounds the search
    qf, kf = np.nonzero(val & close[:, None] & (dist <= R))
    first_frame = np.full(N, T, dtype=int)
    if len(qf):
        hitf = obb_overlap(ex[qf, kf], ey[qf, kf], eh[qf, kf], eL, eW, g["x"][qf, kf], g["y"][qf, kf],
                           g["heading"][qf, kf], g["length"][qf, kf], g["width"][qf, kf])
        np.minimum.at(first_frame, pn[qf[hitf]], kf[hitf])
    # 2) intervals before that frame whose centres come close enough are refined
    before = np.arange(T - 1)[None] < first_frame[pn][:, None]
    q_i, k_i = np.nonzero(pair_ok & before & (np.minimum(dist[:, :-1], dist[:, 1:]) <= R[:, :-1] + R[:, 1:] + 8.0))
    closest = _seg_dist_to_origin(rx[q_i, k_i], ry[q_i, k_i], rx[q_i, k_i + 1], ry[q_i, k_i + 1])
    near = closest <= np.maximum(R[q_i, k_i], R[q_i, k_i + 1])
    q_i, k_i = q_i[near], k_i[near]
    if len(q_i):
        K = th.fine_steps
        u = np.arange(K + 1) / K
        lerp = lambda arr: arr[q_i, k_i][:, None] + u * (arr[q_i, k_i + 1] - arr[q_i, k_i])[:, None]  # noqa: E731
        fx, fy = lerp(ex), lerp(ey)
        fh = _interp_angle(eh[q_i, k_i][:, None], eh[q_i, k_i + 1][:, None], u)
        gx, gy, gL, gW = lerp(g["x"]), lerp(g["y"]), lerp(g["length"]), lerp(g["width"])
        gh = _interp_angle(g["heading"][q_i, k_i][:, None], g["heading"][q_i, k_i + 1][:, None], u)
        hit = obb_overlap(fx, fy, fh, eL, eW, gx, gy, gh, gL, gW)
        any_hit = hit.any(axis=1)
        first_u = np.argmax(hit, axis=1)
        n_i = pn[q_i]
        t_hit = np.where(any_hit, (k_i + first_u / K) * dt, np.inf)
        order = np.lexsort((t_hit, n_i))
        first = order[np.r_[True, n_i[order][1:] != n_i[order][:-1]]]  # earliest hit per plan
        j = first[np.isfinite(t_hit[first])]
        q, k, fu = q_i[j], k_i[j], first_u[j]
        n = pn[q]
        coll_t[n], coll_agent[n] = t_hit[j], pa[q]
        uu = fu / K
        sp = es[q, k] + uu * (es[q, k + 1] - es[q, k])
        hh = fh[j, fu]
        gvx = g["vx"][q, k] + uu * (g["vx"][q, k + 1] - g["vx"][q, k])
        gvy = g["vy"][q, k] + uu * (g["vy"][q, k + 1] - g["vy"][q, k])
        coll_rel[n] = np.hypot(sp * np.cos(hh) - gvx, sp * np.sin(hh) - gvy)
    # plans whose first contact is exactly at a frame (no earlier contact in between)
    for n in np.flatnonzero((first_frame < T) & ~np.isfinite(coll_t)):
        k = first_frame[n]
        cand = qf[(pn[qf] == n) & (kf == k)]
        for q in cand:
            if obb_overlap(ex[q, k], ey[q, k], eh[q, k], eL, eW, g["x"][q, k], g["y"][q, k], g["heading"][q, k],
                           g["length"][q, k], g["width"][q, k]):
                coll_t[n], coll_agent[n] = k * dt, pa[q]
                coll_rel[n] = np.hypot(es[q, k] * np.cos(eh[q, k]) - g["vx"][q, k], es[q, k] * np.sin(eh[q, k]) - g["vy"][q, k])
                break
    collision = np.isfinite(coll_t)

    # ---------------------------------------------------------------- off-road
    offroad_t = _first_exit(ego, drivable, th.offroad_steps, dt, inner=drivable_inner)
    if np.isfinite(offroad_t).any():  # refine the first exit to 100 Hz inside its coarse interval
        fine = _first_exit(ego, drivable, 10, dt, only=np.isfinite(offroad_t), until=offroad_t)
        offroad_t = np.minimum(offroad_t, fine)
    offroad = np.isfinite(offroad_t)

    # ---------------------------------------------------------------- lines
    crossings = np.zeros(N, dtype=np.int32)
    if solid_lines is not None and not solid_lines.is_empty:
        paths = shapely.linestrings(np.stack([ego.x, ego.y], axis=-1))
        hits = shapely.intersection(paths, solid_lines)
        crossings = np.where(shapely.is_empty(hits), 0, shapely.get_num_coordinates(hits)).astype(np.int32)
        # a plan that starts on a line has not crossed it there
        crossings -= shapely.intersects(solid_lines, shapely.points(ego.x[:, 0], ego.y[:, 0])).astype(np.int32)
        crossings = np.maximum(crossings, 0)

    # ---------------------------------------------------------------- distance and TTC
    min_dist = np.full(N, np.inf)
    min_ttc = np.full(N, np.inf)
    if len(pn):
        lb = np.where(val, dist - R, np.inf)
        ub = np.where(val, dist - 0.5 * eW - 0.5 * g["width"], np.inf)
        best_ub = np.full(N, np.inf)
        np.minimum.at(best_ub, pn, ub.min(axis=1))
        q, k = np.nonzero(lb <= np.minimum(best_ub[pn], EXACT_DISTANCE_M)[:, None])
        np.minimum.at(min_dist, pn, np.maximum(lb.min(axis=1), 0.0))  # lower bound where nothing is close
        d = box_distance(box_corners(ex[q, k], ey[q, k], eh[q, k], eL, eW),
                         box_corners(g["x"][q, k], g["y"][q, k], g["heading"][q, k], g["length"][q, k], g["width"][q, k]))
        exact = np.full(N, np.inf)
        np.minimum.at(exact, pn[q], d)
        min_dist = np.where(np.isfinite(exact), exact, min_dist)
        # TTC: constant-velocity projection of three discs per box, earliest contact within TTC_HORIZON_S
        every = np.zeros(T, bool)
        every[::TTC_STRIDE] = True
        q, k = np.nonzero(val & (dist < R + TTC_REACH_M) & every[None] & (np.arange(T)[None] < first_frame[pn][:, None]))
        # bounding circles first: discs inside them can only touch if the circles do
        evx, evy = es[q, k] * np.cos(eh[q, k]), es[q, k] * np.sin(eh[q, k])
        circle = _circle_ttc(rx[q, k], ry[q, k], g["vx"][q, k] - evx, g["vy"][q, k] - evy, R[q, k], th.ttc_min_closing_mps)
        q, k = q[circle <= TTC_HORIZON_S], k[circle <= TTC_HORIZON_S]
        if len(q):
            ttc = _disc_ttc(ex[q, k], ey[q, k], eh[q, k], es[q, k], eL, eW, g["x"][q, k], g["y"][q, k],
                            g["heading"][q, k], g["vx"][q, k], g["vy"][q, k], g["length"][q, k], g["width"][q, k],
                            th.ttc_min_closing_mps)
            if collision.any():  # after first contact the remaining frames do not count
                ttc = np.where(k * dt > coll_t[pn[q]], np.inf, ttc)
            np.minimum.at(min_ttc, pn[q], ttc)
    min_dist[collision] = 0.0

    outcome = np.full(N, Outcome.SAFE.name, dtype=object)
    near_miss = (min_dist < th.near_miss_distance_m) | (min_ttc < th.near_miss_ttc_s)
    outcome[near_miss] = Outcome.NEAR_MISS.name
    outcome[offroad] = Outcome.OFFROAD.name
    outcome[collision] = Outcome.COLLISION.name
    types = np.array([ObjectType(t).name for t in agents.type] + [None], dtype=object)
    return {
        "outcome": outcome,
        "collision": collision,
        "collision_time_s": np.where(collision, coll_t, np.nan),
        "collision_agent": coll_agent,
        "collision_agent_type": np.where(collision, types[coll_agent], None),
        "collision_rel_speed": coll_rel,
        "offroad": offroad,
        "offroad_time_s": np.where(offroad, offroad_t, np.nan),
        "solid_line_crossings": crossings,
        "min_ttc_s": np.where(np.isfinite(min_ttc), min_ttc, np.nan),
        "min_distance_m": np.where(np.isfinite(min_dist), min_dist, np.nan),
    }


def _circle_ttc(px, py, vx, vy, rad, min_closing):
    """Earliest time (s) two circles with relative position p and velocity v touch (inf if never)."""
    a = vx * vx + vy * vy
    b = px * vx + py * vy
    c = px * px + py * py - rad * rad
    disc = b * b - a * c
    t = np.where((disc >= 0) & (b < 0) & (a > min_closing**2), (-b - np.sqrt(np.maximum(disc, 0))) / np.maximum(a, 1e-9), np.inf)
    return np.where(c <= 0, 0.0, t)


def _disc_ttc(ex, ey, eh, es, eL, eW, gx, gy, gh, gvx, gvy, gL, gW, min_closing):
    """Earliest time (s, <= TTC_HORIZON_S) at which constant-velocity discs of the two boxes touch."""
    ecx, ecy, er = _three_discs(ex, ey, eh, np.float64(eL), np.float64(eW))
    gcx, gcy, gr = _three_discs(gx, gy, gh, gL, gW)
    rvx = (gvx - es * np.cos(eh))[:, None, None]
    rvy = (gvy - es * np.sin(eh))[:, None, None]
    px = gcx[:, None, :] - ecx[:, :, None]
    py = gcy[:, None, :] - ecy[:, :, None]
    t = _circle_ttc(px, py, rvx, rvy, (er + gr)[:, None, None], min_closing)
    t = np.where(t <= TTC_HORIZON_S, t, np.inf)
    return t.min(axis=(1, 2))


def _first_exit(ego: EgoPlans, drivable, sub: int, dt: float, only=None, until=None, inner=None) -> np.ndarray:
    """First time (s) any footprint corner is outside ``drivable``, sampling ``sub`` per frame.

    With ``inner``, samples of intervals whose end centres are both inside it (and slower
    than SAFE_SPEED_MPS) are known to be inside and skipped.
    """
    N, T = ego.x.shape
    rows = np.arange(N) if only is None else np.flatnonzero(only)
    out = np.full(N, np.inf)
    if not len(rows):
        return out
    u = np.arange(sub) / sub
    k = np.arange(T - 1)
    if until is not None:  # refine: only the coarse interval that precedes each first exit
        k0 = np.clip(np.floor(until[rows] / dt - 1e-9) - 1, 0, T - 2).astype(int)
        k = k0[:, None] + np.arange(2)[None]
    else:
        k = np.broadcast_to(k, (len(rows), T - 1))
    r = rows[:, None]
    kk = np.minimum(k + 1, T - 1)
    x = ego.x[r, k][..., None] + u * (ego.x[r, kk] - ego.x[r, k])[..., None]
    y = ego.y[r, k][..., None] + u * (ego.y[r, kk] - ego.y[r, k])[..., None]
    h = _interp_angle(ego.heading[r, k][..., None], ego.heading[r, kk][..., None], u)
    t = (k[..., None] + u) * dt
    x, y, h, t = (np.concatenate([a.reshape(len(rows), -1), b], axis=1) for a, b in
                  ((x, ego.x[rows, -1:]), (y, ego.y[rows, -1:]), (h, ego.heading[rows, -1:]), (t, np.full((len(rows), 1), (T - 1) * dt))))
    check = np.ones(x.shape, bool)
    if inner is not None and until is None:
        safe = shapely.contains_xy(inner, ego.x[rows], ego.y[rows]) & (ego.speed[rows] <= SAFE_SPEED_MPS)
        interval_safe = safe[:, :-1] & safe[:, 1:]
        check = np.concatenate([np.repeat(~interval_safe, sub, axis=1), ~safe[:, -1:]], axis=1)
    inside = np.ones(x.shape, bool)
    c = box_corners(x[check], y[check], h[check], ego.length, ego.width)
    inside[check] = shapely.contains_xy(drivable, c[..., 0], c[..., 1]).all(axis=-1)
    outside = ~inside
    first = np.where(outside.any(axis=1), t[np.arange(len(rows)), np.argmax(outside, axis=1)], np.inf)
    out[rows] = first
    return out
