"""The red-light label: vectorised over plans x controlled lanes x time (numpy).

A plan runs a red light when the ego's **front-centre point** ``(x + L/2 cos h, y + L/2 sin h)``
crosses the stop line of the controlled lane it is in, in that lane's direction, while that lane
shows STOP.

* Stop line of lane l (:mod:`schemas.signals`): the segment through its stop point P perpendicular
  to its direction u (first segment of its ``lane_path``), :data:`HALF_WIDTH_M` to either side.
* Crossing: the front point moves linearly between frames; with ``s = (F - P) . u`` a crossing of
  lane l in (k, k + 1] is ``s_k < 0 <= s_{k+1}``, at ``t = (k + tau) dt``, ``tau = -s_k / (s_{k+1} - s_k)``
  (exact: no crossing is missed between frames; a plan that starts on or past a line has not crossed
  it). Only the first crossing of each lane counts; a crossing against the lane direction never does.
* The lane the ego is in: a crossing of lane l counts for l only when, at the crossing, the front
  point is within :data:`HALF_WIDTH_M` of P along the line and the ego heading (interpolated) is within
  :data:`MAX_ANGLE_RAD` (45 deg) of u. Lanes whose stop points lie within :data:`GROUP_M` of each other
  with directions within 45 deg form one stop line (one approach: adjacent lanes, and the
  straight / turn connectors that share a stop point and may show different arrows); of the lanes of
  one group that a plan crosses, the ego is in the one with the least *fit* = lateral offset at the
  crossing + mean distance of the front point from the lane's path over the :data:`FIT_S` s after
  it (which branch it follows). Ties go to the lower lane index.
* State: that lane's state at the frame at or before the crossing time (frame ``k`` if ``tau < 1``
  else ``k + 1``); only STOP is red (CAUTION, GO and UNKNOWN are not).

``red_light_time_s`` is the earliest red crossing (s after the anchor), NaN without one. The label
does not change the outcome. The slow reference is ``tests/fixtures/reference_labels.py``.
"""
from __future__ import annotations

import dataclasses

import numpy as np

from schemas import SignalLayer, SignalState
from schemas.signals import STOP_LINE_HALF_WIDTH_M

from .kinematics import Plans

HALF_WIDTH_M = STOP_LINE_HALF_WIDTH_M   # m, half length of a stop line (across the lane)
MAX_ANGLE_RAD = np.pi / 4               # ego heading within this of the lane direction at the crossing
GROUP_M = 2.0 * HALF_WIDTH_M            # stop points this close (and directions within 45 deg) are one stop line
FIT_S = 2.0                             # s after a crossing over which the lane fit is measured


@dataclasses.dataclass(frozen=True, eq=False)
class SignalWindow:
    """The controlled lanes of one anchor that could give a red light, with their states over the plan
    horizon: ``stop_point`` ``(L, 2)`` m, ``direction`` ``(L, 2)`` unit, ``lane_path`` ``(L, K, 2)`` m,
    ``state`` ``(L, H + 1)`` int8 (column 0 = the anchor frame), ``group`` ``(L,)`` int (one stop line)."""

    stop_point: np.ndarray
    direction: np.ndarray
    lane_path: np.ndarray
    state: np.ndarray
    group: np.ndarray

    @property
    def num_lanes(self) -> int:
        return len(self.stop_point)


def stop_groups(stop_point: np.ndarray, direction: np.ndarray) -> np.ndarray:
    """``(L,)`` group label per lane: connected components of 'stop points within :data:`GROUP_M` and
    directions within 45 deg' (label = smallest lane index of the component)."""
    L = len(stop_point)
    near = (np.hypot(*(stop_point[:, None] - stop_point[None]).transpose(2, 0, 1)) <= GROUP_M) \
        & ((direction @ direction.T) >= np.cos(MAX_ANGLE_RAD))
    g = np.arange(L)
    while True:
        new = np.where(near, g[None], L).min(axis=1)
        if np.array_equal(new, g):
            return g
        g = new


def signal_window(layer: SignalLayer | None, anchor: int, steps: int) -> SignalWindow | None:
    """The lanes of ``layer`` relevant from frame ``anchor`` over ``steps`` steps: the groups with a STOP state
    somewhere in the window (frames past the scenario's end count as UNKNOWN). None when no lane can give a red."""
    if layer is None or layer.num_lanes == 0:
        return None
    state = np.full((layer.num_lanes, steps + 1), SignalState.UNKNOWN, np.int8)
    part = layer.state[:, anchor: anchor + steps + 1]
    state[:, : part.shape[1]] = part
    direction = layer.direction
    group = stop_groups(layer.stop_point, direction)
    red_groups = np.unique(group[(state == SignalState.STOP).any(axis=1)])
    keep = np.isin(group, red_groups)
    if not keep.any():
        return None
    return SignalWindow(layer.stop_point[keep], direction[keep], layer.lane_path[keep], state[keep], group[keep])


def _wrap(a):
    return (a + np.pi) % (2.0 * np.pi) - np.pi


def _path_distance(q: np.ndarray, path: np.ndarray) -> np.ndarray:
    """Distance (m) of points ``q`` ``[P, W, 2]`` from polylines ``path`` ``[P, K, 2]``: ``[P, W]``."""
    a, b = path[:, None, :-1], path[:, None, 1:]                       # [P, 1, K-1, 2]
    ab = b - a
    u = np.clip(((q[:, :, None] - a) * ab).sum(-1) / np.maximum((ab * ab).sum(-1), 1e-12), 0.0, 1.0)
    foot = a + u[..., None] * ab
    return np.hypot(*(q[:, :, None] - foot).transpose(3, 0, 1, 2)).min(axis=-1)


def red_light_labels(ego: Plans, length: float, win: SignalWindow | None, dt: float) -> tuple[np.ndarray, np.ndarray]:
    """``(red_light [N] bool, red_light_time_s [N] float64, NaN without)`` of N plans ``[N, T]`` (module docstring);
    ``length`` m is the ego box length, ``win`` from :func:`signal_window` (None: no signals)."""
    N, T = ego.x.shape
    red, when = np.zeros(N, bool), np.full(N, np.nan)
    if win is None or win.num_lanes == 0 or T < 2:
        return red, when
    c, s_ = np.cos(ego.heading), np.sin(ego.heading)
    front = np.stack([ego.x + 0.5 * length * c, ego.y + 0.5 * length * s_], axis=-1)      # [N, T, 2]
    lo, hi = front.reshape(-1, 2).min(0) - HALF_WIDTH_M, front.reshape(-1, 2).max(0) + HALF_WIDTH_M
    lanes = np.flatnonzero(((win.stop_point >= lo) & (win.stop_point <= hi)).all(axis=1))
    if not len(lanes):
        return red, when
    P, u = win.stop_point[lanes], win.direction[lanes]                                     # [L, 2]
    nrm = np.stack([-u[:, 1], u[:, 0]], axis=-1)
    rel = front[:, None] - P[None, :, None]                                                 # [N, L, T, 2]
    s = (rel * u[None, :, None]).sum(-1)
    d = (rel * nrm[None, :, None]).sum(-1)                                                  # [N, L, T]
    cross = (s[..., :-1] < 0.0) & (s[..., 1:] >= 0.0)
    tau = np.where(cross, -s[..., :-1] / np.where(cross, s[..., 1:] - s[..., :-1], 1.0), 0.0)
    d_c = d[..., :-1] + tau * (d[..., 1:] - d[..., :-1])
    h = ego.heading[:, None]
    h_c = h[..., :-1] + tau * _wrap(h[..., 1:] - h[..., :-1])
    lane_h = np.arctan2(u[:, 1], u[:, 0])[None, :, None]
    ok = cross & (np.abs(d_c) <= HALF_WIDTH_M) & (np.abs(_wrap(h_c - lane_h)) <= MAX_ANGLE_RAD)
    n_idx, l_idx = np.nonzero(ok.any(axis=-1))                                              # candidate (plan, lane)
    if not len(n_idx):
        return red, when
    k = ok[n_idx, l_idx].argmax(axis=-1)                                                    # first crossing interval
    tau_p, d_p = tau[n_idx, l_idx, k], np.abs(d_c[n_idx, l_idx, k])
    # fit: mean distance of the front point from the lane path over the FIT_S s after the crossing
    W = max(int(round(FIT_S / dt)), 1)
    j = k[:, None] + 1 + np.arange(W)[None]                                                 # [P, W]
    inside = j <= T - 1
    q = front[n_idx[:, None], np.minimum(j, T - 1)]                                         # [P, W, 2]
    dist = _path_distance(q, win.lane_path[lanes][l_idx])
    fit = d_p + np.where(inside, dist, 0.0).sum(1) / np.maximum(inside.sum(1), 1)
    # the lane the ego is in: least fit within each (plan, stop-line group), ties to the lower lane index
    grp = win.group[lanes][l_idx]
    order = np.lexsort((l_idx, fit, grp, n_idx))
    first = np.r_[True, (n_idx[order][1:] != n_idx[order][:-1]) | (grp[order][1:] != grp[order][:-1])]
    win_p = order[first]
    frame = np.minimum(k[win_p] + (tau_p[win_p] >= 1.0), win.state.shape[1] - 1)
    is_red = win.state[lanes[l_idx[win_p]], frame] == SignalState.STOP
    t = (k[win_p] + tau_p[win_p]) * dt
    rn, rt = n_idx[win_p][is_red], t[is_red]
    red[rn] = True
    when_all = np.full(N, np.inf)
    np.minimum.at(when_all, rn, rt)
    when[red] = when_all[red]
    return red, when
