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
from .kernels import rollout_kernel

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

    @staticmethod
    def from_states(x: np.ndarray, y: np.ndarray, heading: np.ndarray, speed: np.ndarray) -> "Plans":
        """Plans whose controls are not known (a log, a table's rows): ``accel`` and ``steer`` are
        zero, as the ``logged`` family records them. Labels and physics rules read only the states."""
        return Plans(x, y, heading, speed, np.zeros_like(x, dtype=float), np.zeros_like(x, dtype=float))

    def take(self, idx) -> "Plans":
        return Plans(*(getattr(self, f.name)[idx] for f in dataclasses.fields(self)))

    def frames(self, sl: slice) -> "Plans":
        """The states ``sl`` (a slice over time) of every plan."""
        return Plans(*(getattr(self, f.name)[:, sl] for f in dataclasses.fields(self)))

    @staticmethod
    def concat_time(a: "Plans", b: "Plans") -> "Plans":
        """``b`` appended to ``a`` in time (``b``'s first state repeats ``a``'s last and is dropped)."""
        return Plans(*(np.concatenate([getattr(a, f.name), getattr(b, f.name)[:, 1:]], 1) for f in dataclasses.fields(Plans)))

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
    x, y, h, v, a, steer = rollout_kernel(
        float(x0), float(y0), float(h0), float(v0), float(a0), float(steer0), np.ascontiguousarray(paths, dtype=np.float64),
        np.ascontiguousarray(speed_targets, dtype=np.float64), float(dt), int(steps), limits.wheelbase, limits.max_accel,
        limits.max_decel, limits.max_jerk, limits.max_lat_accel, limits.friction_mu * G, limits.max_yaw_rate,
        limits.max_curvature, limits.max_steer, limits.max_steer_rate, PATH_DS)
    return Plans(x, y, h, v, a, steer)
