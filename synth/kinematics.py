"""Kinematic bicycle model rolled out under bounded controls, vectorised over plans.

Every plan starts from the logged state at the anchor (element 0 is that state
exactly) and tracks a target path (pure pursuit on the front-axle steering angle) and
a target speed profile. Controls are clipped so that, by construction, the produced
states satisfy :class:`synth.config.VehicleLimits`: acceleration range, jerk, steering
angle and rate, curvature, yaw rate, lateral acceleration and the friction circle.

Shapes: N plans, H steps (H + 1 states), M path samples. Units m, s, rad.
"""
from __future__ import annotations

import dataclasses

import numpy as np

from .config import G, VehicleLimits

PATH_DS = 0.5  # m between target-path samples


@dataclasses.dataclass(frozen=True, eq=False)
class Plans:
    """States of N plans at H + 1 times (element 0 = anchor): arrays ``[N, H + 1]``.

    ``x, y`` m (box centre, scenario frame), ``heading`` rad, ``speed`` m/s along
    heading, ``accel`` m/s^2 (acceleration applied over the following step; last
    element repeats), ``steer`` rad.
    """

    x: np.ndarray
    y: np.ndarray
    heading: np.ndarray
    speed: np.ndarray
    accel: np.ndarray
    steer: np.ndarray

    def take(self, idx) -> "Plans":
        return Plans(*(getattr(self, f.name)[idx] for f in dataclasses.fields(self)))

    @staticmethod
    def concat(parts: list["Plans"]) -> "Plans":
        return Plans(*(np.concatenate([getattr(p, f.name) for p in parts]) for f in dataclasses.fields(Plans)))


def resample_path(points: np.ndarray, heading0: float, extend_m: float = 250.0) -> np.ndarray:
    """Uniform arc-length samples (every :data:`PATH_DS` m) of a polyline ``(K, 2)``.

    Repeated points are dropped; the path is extended straight by ``extend_m`` beyond
    its end (along its last direction, or ``heading0`` when it has no length).
    """
    pts = np.asarray(points, dtype=float)
    step = np.hypot(*np.diff(pts, axis=0).T) if len(pts) > 1 else np.zeros(0)
    keep = np.r_[True, step > 1e-3]
    pts = pts[keep]
    if len(pts) >= 2:
        d = pts[-1] - pts[-2]
        direction = d / np.hypot(*d)
    else:
        direction = np.array([np.cos(heading0), np.sin(heading0)])
    pts = np.vstack([pts, pts[-1] + direction * extend_m])
    s = np.r_[0.0, np.cumsum(np.hypot(*np.diff(pts, axis=0).T))]
    u = np.arange(0.0, s[-1], PATH_DS)
    return np.column_stack([np.interp(u, s, pts[:, 0]), np.interp(u, s, pts[:, 1])])


def path_normals(path: np.ndarray) -> np.ndarray:
    """Unit left normals ``(..., M, 2)`` of uniformly sampled paths ``(..., M, 2)``."""
    t = np.gradient(path, axis=-2)
    t /= np.maximum(np.linalg.norm(t, axis=-1, keepdims=True), 1e-9)
    return np.stack([-t[..., 1], t[..., 0]], axis=-1)


def quintic_ramp(u: np.ndarray) -> np.ndarray:
    """Smooth 0 -> 1 ramp with zero first and second derivative at both ends."""
    u = np.clip(u, 0.0, 1.0)
    return 10 * u**3 - 15 * u**4 + 6 * u**5


def rollout(
    x0: float, y0: float, h0: float, v0: float, a0: float, paths: np.ndarray, speed_targets: np.ndarray,
    limits: VehicleLimits, dt: float, steps: int, steer0: float = 0.0,
) -> Plans:
    """Roll out N plans from one anchor state.

    ``paths`` ``[N, M, 2]`` uniformly sampled target paths starting near the anchor;
    ``speed_targets`` ``[N, steps + 1]`` m/s. ``a0`` is the logged acceleration at the
    anchor (jerk is limited relative to it), ``steer0`` the logged steering angle.
    """
    N, M = paths.shape[:2]
    L = limits.wheelbase
    x, y, h = np.full(N, x0, float), np.full(N, y0, float), np.full(N, h0, float)
    v = np.full(N, max(v0, 0.0))
    a = np.full(N, np.clip(a0, -limits.max_decel, limits.max_accel))
    steer = np.full(N, np.clip(steer0, -limits.max_steer, limits.max_steer))
    out = {k: np.zeros((N, steps + 1)) for k in ("x", "y", "heading", "speed", "accel", "steer")}
    out["x"][:, 0], out["y"][:, 0], out["heading"][:, 0], out["speed"][:, 0] = x0, y0, h0, v0
    out["steer"][:, 0] = steer
    idx = np.zeros(N, int)
    window = np.arange(-4, 25)
    rows = np.arange(N)[:, None]
    for k in range(steps):
        # longitudinal: chase the next target speed, jerk-limited, easing into a stop
        a_des = (speed_targets[:, k + 1] - v) / (2.0 * dt)
        a_des = np.clip(a_des, -limits.max_decel, limits.max_accel)
        # the deceleration from which a jerk-limited ramp to zero ends exactly at standstill
        j = limits.max_jerk
        ease = j * (np.sqrt(dt * dt / 4.0 + 2.0 * np.maximum(v, 0.0) / j) - dt / 2.0)
        a_des = np.maximum(a_des, -0.9 * ease)
        a = a + np.clip(a_des - a, -limits.max_jerk * dt, limits.max_jerk * dt)
        a = np.clip(a, -limits.max_decel, limits.max_accel)
        a = np.maximum(a, -v / dt)  # never reverse
        v_next = v + a * dt
        v_avg = 0.5 * (v + v_next)
        # lateral: pure pursuit on the nearest path sample ahead of the current one
        cand = np.clip(idx[:, None] + window[None], 0, M - 1)
        d2 = (paths[rows, cand, 0] - x[:, None]) ** 2 + (paths[rows, cand, 1] - y[:, None]) ** 2
        idx = cand[np.arange(N), np.argmin(d2, axis=1)]
        look = np.clip(4.0 + 0.8 * v_avg, 4.0, 30.0)
        tgt = np.clip(idx + np.round(look / PATH_DS).astype(int), 0, M - 1)
        dx, dy = paths[np.arange(N), tgt, 0] - x, paths[np.arange(N), tgt, 1] - y
        alpha = np.arctan2(dy, dx) - h
        kappa_des = 2.0 * np.sin(alpha) / np.maximum(np.hypot(dx, dy), 1.0)
        steer_des = np.arctan(kappa_des * L)
        lat_budget = np.sqrt(np.maximum((limits.friction_mu * G) ** 2 - a**2, 0.0))
        lat_budget = np.minimum(lat_budget, limits.max_lat_accel) * 0.98
        vv = np.maximum(v_avg, 1e-3)
        kappa_max = np.minimum.reduce([np.full(N, limits.max_curvature * 0.98), lat_budget / vv**2,
                                       0.98 * limits.max_yaw_rate / vv])
        steer_max = np.arctan(kappa_max * L)
        steer = steer + np.clip(steer_des - steer, -limits.max_steer_rate * dt, limits.max_steer_rate * dt)
        steer = np.clip(steer, -steer_max, steer_max)
        yaw_rate = v_avg * np.tan(steer) / L
        h_mid = h + 0.5 * yaw_rate * dt
        x = x + v_avg * np.cos(h_mid) * dt
        y = y + v_avg * np.sin(h_mid) * dt
        h = h + yaw_rate * dt
        v = v_next
        out["accel"][:, k] = a
        out["x"][:, k + 1], out["y"][:, k + 1], out["heading"][:, k + 1], out["speed"][:, k + 1] = x, y, h, v
        out["steer"][:, k + 1] = steer
    out["accel"][:, steps] = out["accel"][:, steps - 1]
    out["heading"] = (out["heading"] + np.pi) % (2 * np.pi) - np.pi
    out["heading"][:, 0] = h0
    return Plans(**out)
