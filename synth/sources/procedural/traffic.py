"""Traffic of procedural scenes: IDM car following with MOBIL-style lane changes.

Each carriageway is simulated on its own reference path in (s, d) coordinates
(s: m along the path, d: m to the left). Vehicles stop at active stop lines (red
signals, occupied crosswalks) when they still can, change lanes only across broken
lines, enter at the start of each lane and leave at its end. Accelerations are
jerk-limited so logged plans satisfy the physics rules of the synthesis engine.
"""
from __future__ import annotations

import dataclasses
from typing import Callable

import numpy as np

from .road import Carriageway

JERK_LIMIT = 12.0        # m/s^3, applied to every driver's acceleration command
ACCEL_RANGE = (-8.0, 3.5)  # m/s^2
LATERAL_ACCEL = 2.5      # m/s^2 drivers accept in bends (sets the curve speed)
LANE_CHANGE_S = 4.0      # s to complete a lane change
STOP_DECEL = 5.0         # m/s^2: a vehicle ignores a stop line it could only stop for harder than this


@dataclasses.dataclass
class CarriagewayTracks:
    """Simulated vehicles of one carriageway: arrays ``[N, T]`` (s m, d m, v m/s, lat_v m/s)."""

    cw: Carriageway
    s: np.ndarray
    d: np.ndarray
    v: np.ndarray
    lat_v: np.ndarray
    valid: np.ndarray
    length: np.ndarray
    width: np.ndarray
    is_ego: np.ndarray
    is_truck: np.ndarray
    is_cyclist: np.ndarray
    ego_state: np.ndarray | None = None
    """``[n_frames, 8]`` internal state of the ego per frame (s, d, v, acceleration, lane, target
    lane, lane-change progress, lateral start offset) when there is an ego; a :class:`Fork` replays it."""


@dataclasses.dataclass(frozen=True)
class Fork:
    """Redraw the random decisions of a simulation from frame ``frame`` on.

    Frames up to ``frame`` are unchanged; from it on lane-change decisions and entries use
    ``rng``, and the ego (when ``ego_state`` is given, from the unforked run) replays its
    recorded state, so the other vehicles see the same ego as in the unforked run.
    """

    frame: int
    rng: np.random.Generator
    ego_state: np.ndarray | None = None
    drivers: bool = False
    """Also redraw every other driver's IDM parameters at ``frame`` (as if the history said nothing about them)."""


_EGO_FIELDS = 8


def _drivers(rng: np.random.Generator, speed_limit: float, truck: np.ndarray, cyclist: np.ndarray):
    """IDM parameters of every driver ``[N]``: desired speed (m/s), time headway (s), acceleration and
    comfortable deceleration (m/s^2), standstill gap (m)."""
    n = len(truck)
    v0 = speed_limit * np.where(truck, rng.uniform(0.75, 0.95, n), rng.uniform(0.8, 1.15, n))
    v0[cyclist] = rng.uniform(4.0, 7.0, cyclist.sum())
    th = rng.uniform(1.0, 1.8, n)
    acc = np.where(truck, rng.uniform(0.6, 1.0, n), rng.uniform(1.0, 2.0, n))
    return v0, th, acc, rng.uniform(1.6, 2.6, n), rng.uniform(1.8, 2.6, n)


def _smooth(u):
    return 10 * u**3 - 15 * u**4 + 6 * u**5


def _dsmooth(u):
    return 30 * u**2 - 60 * u**3 + 30 * u**4


def _idm(v, v0, gap, v_lead, a, b, th, s0):
    dv = v - v_lead
    s_star = s0 + np.maximum(0.0, v * th + v * dv / (2 * np.sqrt(a * b)))
    inter = np.where(np.isfinite(gap), (s_star / np.maximum(gap, 0.1)) ** 2, 0.0)
    return a * (1 - (v / np.maximum(v0, 0.1)) ** 4 - inter)


def simulate_carriageway(
    cw: Carriageway,
    stop_active: Callable[[object, int], bool],
    n_frames: int,
    dt: float,
    rng: np.random.Generator,
    density_per_m: float,
    lane_change_rate: float,
    ego: tuple[int, float] | None = None,
    fork: Fork | None = None,
) -> CarriagewayTracks:
    """Simulate one carriageway for ``n_frames`` frames; ``ego`` = (lane, s) inserts the ego;
    ``fork`` redraws the random decisions from a frame on (:class:`Fork`)."""
    n_lanes, end = len(cw.lane_offsets), cw.ref.length
    init = []
    for lane in range(n_lanes):
        s = rng.uniform(0.0, 1.0 / density_per_m)
        while s < end - 15.0:
            if ego is None or lane != ego[0] or abs(s - ego[1]) > 18.0:
                init.append((lane, s))
            s += 9.0 + rng.exponential(1.0 / density_per_m)
    if ego is not None:
        init.append(ego)
    n0 = len(init)
    cap = n0 + n_lanes * int(n_frames * dt * 1.2) + 2
    is_ego = np.zeros(cap, bool)
    if ego is not None:
        is_ego[n0 - 1] = True
    truck = (rng.random(cap) < 0.08) & ~is_ego
    outer = np.zeros(cap, bool)
    outer[:n0] = np.array([ln for ln, _ in init]) == n_lanes - 1
    cyclist = outer & (rng.random(cap) < 0.08) & ~is_ego & ~truck
    length = np.where(truck, rng.uniform(8.0, 12.0, cap), rng.uniform(3.9, 5.1, cap))
    width = np.where(truck, rng.uniform(2.4, 2.6, cap), rng.uniform(1.75, 2.05, cap))
    length[cyclist], width[cyclist] = rng.uniform(1.6, 1.9, cyclist.sum()), rng.uniform(0.6, 0.8, cyclist.sum())
    v0, th, acc, dec, s0 = _drivers(rng, cw.speed_limit, truck, cyclist)

    lane = np.zeros(cap, int)
    s = np.zeros(cap)
    for i, (ln, si) in enumerate(init):
        lane[i], s[i] = ln, si
    target = lane.copy()
    d = cw.lane_offsets[lane].astype(float)
    d_from = d.copy()
    u = np.zeros(cap)
    active = np.zeros(cap, bool)
    active[:n0] = True
    entered = active.copy()
    v = np.zeros(cap)
    a_prev = np.zeros(cap)
    # initial speeds: desired speed, capped so that every vehicle can follow its leader
    order = np.argsort(-s[:n0])
    last = {}
    for i in order:
        gap = last.get(lane[i], (np.inf, 0.0))
        v[i] = v0[i] * rng.uniform(0.7, 1.0)
        if np.isfinite(gap[0]):
            room = gap[0] - s[i] - (length[i] + gap[1]) / 2 - s0[i]
            v[i] = float(np.clip(min(v[i], room / th[i]), 0.0, None))
        last[lane[i]] = (s[i], length[i])
    n_next = n0

    S, D, V, LV, VAL = (np.full((cap, n_frames), np.nan) for _ in range(5))
    VAL = np.zeros((cap, n_frames), bool)
    ego_state = np.full((n_frames, _EGO_FIELDS), np.nan) if ego is not None else None
    for k in range(n_frames):
        if fork is not None and k == fork.frame:
            rng = fork.rng
            if fork.drivers:
                new = _drivers(rng, cw.speed_limit, truck, cyclist)
                for old, fresh in zip((v0, th, acc, dec, s0), new):
                    old[~is_ego] = fresh[~is_ego]
        if ego_state is not None:
            i = n0 - 1
            if fork is not None and fork.ego_state is not None and k >= fork.frame:
                s[i], d[i], v[i], a_prev[i], _, _, u[i], d_from[i] = fork.ego_state[k]
                lane[i], target[i] = fork.ego_state[k, 4:6].astype(int)
            ego_state[k] = (s[i], d[i], v[i], a_prev[i], lane[i], target[i], u[i], d_from[i])
        lat_v = np.where(target != lane, (cw.lane_offsets[target] - d_from) * _dsmooth(u) / LANE_CHANGE_S, 0.0)
        S[active, k], D[active, k], V[active, k], LV[active, k] = s[active], d[active], v[active], lat_v[active]
        VAL[active, k] = True
        if k == n_frames - 1:
            break
        idx = np.flatnonzero(active)
        la, lb = lane[idx], target[idx]
        same = (la[:, None] == la[None]) | (la[:, None] == lb[None]) | (lb[:, None] == la[None]) | (lb[:, None] == lb[None])
        ahead = s[idx][None] > s[idx][:, None]
        gap = s[idx][None] - s[idx][:, None] - (length[idx][:, None] + length[idx][None]) / 2
        gap = np.where(same & ahead, gap, np.inf)
        j = np.argmin(gap, axis=1)
        g = gap[np.arange(len(idx)), j]
        vl = np.where(np.isfinite(g), v[idx][j], 0.0)
        for stop in cw.stops:
            if not stop_active(stop, k):
                continue
            gs = stop.s - (s[idx] + length[idx] / 2)
            obey = (gs > -0.5) & (gs >= v[idx] ** 2 / (2 * STOP_DECEL))
            take = obey & (gs < g)
            g, vl = np.where(take, np.maximum(gs, 0.05), g), np.where(take, 0.0, vl)
        look = s[idx][:, None] + v[idx][:, None] * np.array([0.0, 1.0, 2.0, 3.0])[None]
        kap = np.abs(np.interp(look, cw.ref.s, cw.ref.kappa)).max(axis=1)
        v_des = np.minimum(v0[idx], np.sqrt(LATERAL_ACCEL / np.maximum(kap, 1e-6)))
        cmd = _idm(v[idx], v_des, g, vl, acc[idx], dec[idx], th[idx], s0[idx])
        _lane_changes(cw, rng, idx, lane, target, d, d_from, u, s, v, length, cmd, v_des, acc, dec, th, s0,
                      lane_change_rate * dt * np.where(is_ego[idx], 0.5, 1.0) * ~cyclist[idx])
        a_new = a_prev[idx] + np.clip(cmd - a_prev[idx], -JERK_LIMIT * dt, JERK_LIMIT * dt)
        a_new = np.clip(a_new, *ACCEL_RANGE)
        v_new = np.maximum(v[idx] + a_new * dt, 0.0)
        a_new = (v_new - v[idx]) / dt
        kap_here = np.interp(s[idx], cw.ref.s, cw.ref.kappa)
        s[idx] += (v[idx] + v_new) / 2 * dt / (1 - kap_here * d[idx])
        v[idx], a_prev[idx] = v_new, a_new
        changing = idx[target[idx] != lane[idx]]
        u[changing] = np.minimum(u[changing] + dt / LANE_CHANGE_S, 1.0)
        d[changing] = d_from[changing] + (cw.lane_offsets[target[changing]] - d_from[changing]) * _smooth(u[changing])
        done = changing[u[changing] >= 1.0]
        lane[done], u[done] = target[done], 0.0
        d[done] = cw.lane_offsets[lane[done]]
        exited = idx[s[idx] > end - 3.0]
        active[exited] = False
        # entries at the start of every lane
        for ln in range(n_lanes):
            in_lane = np.flatnonzero(active & ((lane == ln) | (target == ln)))
            first = in_lane[np.argmin(s[in_lane])] if len(in_lane) else None
            room = np.inf if first is None else s[first] - length[first] / 2
            if n_next < cap and room > 14.0 and rng.random() < density_per_m * cw.speed_limit * dt:
                i = n_next
                n_next += 1
                lane[i] = target[i] = ln
                s[i] = length[i] / 2
                d[i] = d_from[i] = cw.lane_offsets[ln]
                v[i] = v0[i] * 0.8 if first is None else min(v0[i] * 0.8, v[first], max(room - s0[i], 0) / th[i])
                active[i] = entered[i] = True
    keep = entered
    return CarriagewayTracks(cw, S[keep], D[keep], V[keep], LV[keep], VAL[keep], length[keep], width[keep],
                             is_ego[keep], truck[keep], cyclist[keep], ego_state)


def _lane_changes(cw, rng, idx, lane, target, d, d_from, u, s, v, length, cmd, v_des, acc, dec, th, s0, prob):
    """Start lane changes across broken lines where they are safe and worth it (MOBIL-like)."""
    if len(cw.lane_offsets) < 2:
        return
    near_stop = np.zeros(len(idx), bool)
    for stop in cw.stops:
        near_stop |= (stop.s - s[idx] < 60.0) & (stop.s - s[idx] > -10.0)
    if cw.zone is not None:
        near_stop |= (s[idx] > cw.zone[0] - 60.0) & (s[idx] < cw.zone[1] + 10.0)
    cand = np.flatnonzero((lane[idx] == target[idx]) & (v[idx] > 4.0) & ~near_stop & (rng.random(len(idx)) < prob))
    for c in cand:
        i = idx[c]
        for step in rng.permutation([-1, 1]):
            tgt = lane[i] + step
            if not (0 <= tgt < len(cw.lane_offsets)) or not cw.can_change[min(lane[i], tgt)]:
                continue
            occ = idx[((lane[idx] == tgt) | (target[idx] == tgt)) & (idx != i)]
            front = occ[s[occ] > s[i]]
            back = occ[s[occ] <= s[i]]
            gf, vf = np.inf, 0.0
            if len(front):
                f = front[np.argmin(s[front])]
                gf, vf = s[f] - s[i] - (length[f] + length[i]) / 2, v[f]
            if gf < 4.0 + 0.5 * v[i]:
                continue
            if len(back):
                b = back[np.argmax(s[back])]
                gb = s[i] - s[b] - (length[b] + length[i]) / 2
                if gb < 4.0 + 0.8 * v[b] or _idm(v[b], v_des[np.flatnonzero(idx == b)[0]], gb, v[i], acc[b], dec[b],
                                                  th[b], s0[b]) < -1.5:
                    continue
            gain = _idm(v[i], v_des[c], gf, vf, acc[i], dec[i], th[i], s0[i]) - cmd[c]
            keep_right = step > 0 and gain > -0.05 and rng.random() < 0.3
            if gain > 0.3 or keep_right:
                target[i], d_from[i], u[i] = tgt, d[i], 0.0
                break
