"""Helpers shared by the adapters: drivable-area derivation, resampling, size fixes."""
from __future__ import annotations

import numpy as np
import shapely
from shapely.geometry.base import BaseGeometry

from schemas import ObjectType

#: box sizes (length, width) in m used when a source has none (Argoverse 2)
IMPUTED_SIZE = {
    ObjectType.VEHICLE: (4.5, 1.9),
    ObjectType.PEDESTRIAN: (0.6, 0.6),
    ObjectType.CYCLIST: (1.9, 0.7),
    ObjectType.STATIC: (0.6, 0.6),
}


def as_multipolygon(geom: BaseGeometry) -> shapely.MultiPolygon:
    """Valid MultiPolygon made of the polygonal parts of ``geom``."""
    geom = shapely.make_valid(geom)
    parts = [g for g in shapely.get_parts(geom) if g.geom_type == "Polygon" and not g.is_empty]
    parts = [p for g in parts for p in shapely.get_parts(g)]
    return shapely.MultiPolygon(parts)


def derive_drivable_area(
    lane_polygons: list[np.ndarray], centerlines: list[np.ndarray], half_width: float | np.ndarray
) -> shapely.MultiPolygon:
    """Drivable area for sources without road edges (design section 4).

    Union of the lane polygons (rings ``(N, 2)`` m) and every centerline buffered by
    half a lane width (``half_width`` m, scalar or one per centerline).
    """
    polys = [shapely.polygons(p) for p in lane_polygons if len(p) >= 3]
    polys = [shapely.make_valid(p) for p in polys]
    hw = np.broadcast_to(np.asarray(half_width, dtype=float), (len(centerlines),))
    lines = np.array([shapely.linestrings(c) for c in centerlines], dtype=object)
    buffered = list(shapely.buffer(lines, hw, quad_segs=4)) if len(lines) else []
    return as_multipolygon(shapely.union_all(polys + buffered))


def resample_linear(t_src: np.ndarray, values: np.ndarray, valid: np.ndarray, t_dst: np.ndarray,
                    max_gap: float, angle: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Resample one track to new times by linear interpolation between valid samples.

    ``t_src`` (T,) s ascending, ``values`` (T,) or (T, K), ``valid`` (T,) bool,
    ``t_dst`` (U,) s. A destination time is valid when it lies between two valid
    samples at most ``max_gap`` s apart (or within 1e-6 s of one). Angles are
    interpolated on the unwrapped sequence when ``angle`` is True.
    Returns ``(values (U,) or (U, K), valid (U,))``.
    """
    ts, vs = t_src[valid], values[valid]
    out_shape = (len(t_dst),) + values.shape[1:]
    out = np.full(out_shape, np.nan)
    ok = np.zeros(len(t_dst), dtype=bool)
    if len(ts) == 0:
        return out, ok
    if angle:
        vs = np.unwrap(vs, axis=0)
    j = np.clip(np.searchsorted(ts, t_dst), 1, max(len(ts) - 1, 1))
    i = j - 1
    if len(ts) == 1:
        i = j = np.zeros_like(j)
    t0, t1 = ts[i], ts[j]
    exact0, exact1 = np.abs(t_dst - t0) < 1e-6, np.abs(t_dst - t1) < 1e-6
    inside = (t_dst >= t0) & (t_dst <= t1) & (t1 - t0 <= max_gap)
    ok = exact0 | exact1 | inside
    w = np.where(t1 > t0, (t_dst - t0) / np.where(t1 > t0, t1 - t0, 1.0), 0.0)
    w = np.where(exact0, 0.0, np.where(exact1, 1.0, w))
    w = w.reshape((-1,) + (1,) * (values.ndim - 1))
    interp = vs[i] * (1 - w) + vs[j] * w
    out[ok] = interp[ok]
    return out, ok


def fix_swapped_sizes(object_type: np.ndarray, length: np.ndarray, width: np.ndarray) -> np.ndarray:
    """Swap length/width in place for vehicles whose width exceeds their length.

    Returns the ``(A,)`` bool mask of tracks that were swapped (nuScenes' ego, for one).
    """
    with np.errstate(invalid="ignore"):
        swapped = (object_type == ObjectType.VEHICLE) & (np.nanmedian(width - length, axis=1) > 0)
    length[swapped], width[swapped] = width[swapped].copy(), length[swapped].copy()
    return swapped


def velocity_from_positions(x: np.ndarray, y: np.ndarray, valid: np.ndarray, dt: float) -> tuple[np.ndarray, np.ndarray]:
    """Finite-difference velocity ``[A, T]`` m/s (central inside runs, one-sided at ends)."""
    vx, vy = np.full_like(x, np.nan), np.full_like(y, np.nan)
    for a in range(x.shape[0]):
        idx = np.flatnonzero(valid[a])
        if len(idx) < 2:
            if len(idx) == 1:
                vx[a, idx], vy[a, idx] = 0.0, 0.0
            continue
        t = idx * dt
        vx[a, idx] = np.gradient(x[a, idx], t)
        vy[a, idx] = np.gradient(y[a, idx], t)
    return vx, vy


def choose_ego(object_type: np.ndarray, valid: np.ndarray, x: np.ndarray, y: np.ndarray) -> int:
    """Vehicle with the most valid frames (ties: longest path), for sources without a logged ego."""
    frames = valid.sum(axis=1).astype(float)
    path = np.nansum(np.hypot(np.diff(x, axis=1), np.diff(y, axis=1)), axis=1)
    score = np.where(object_type == ObjectType.VEHICLE, frames * 1e6 + path, -np.inf)
    return int(np.argmax(score))


def savgol_coefficients(window: int, order: int, deriv: int = 0) -> np.ndarray:
    """Savitzky-Golay convolution weights (centre point) for a ``window``-sample fit of ``order``."""
    half = window // 2
    t = np.arange(-half, half + 1, dtype=float)
    A = np.vander(t, order + 1, increasing=True)
    coef = np.linalg.pinv(A)[deriv]
    return coef * np.prod(np.arange(1, deriv + 1)) if deriv else coef


def smooth_track(x: np.ndarray, y: np.ndarray, vx: np.ndarray, vy: np.ndarray, valid: np.ndarray, dt: float,
                 window: int = 21, order: int = 3):
    """Savitzky-Golay smoothing of one track's positions, with velocity from the fitted derivative.

    Used on ego tracks whose poses carry timing jitter (nuScenes via ScenarioNet: a
    few centimetres along track, enough to make finite-difference jerk meaningless).
    Each contiguous valid run longer than ``window`` is filtered (ends use the nearest
    full window); shorter runs keep their positions and given velocities ``vx, vy``.
    Returns ``(x, y, vx, vy)`` ``(T,)``.
    """
    x, y, vx, vy = x.copy(), y.copy(), vx.copy(), vy.copy()
    idx = np.flatnonzero(valid)
    runs = np.split(idx, np.flatnonzero(np.diff(idx) > 1) + 1) if len(idx) else []
    half = window // 2
    c0, c1 = savgol_coefficients(window, order, 0), savgol_coefficients(window, order, 1) / dt
    A = np.vander(np.arange(-half, half + 1, dtype=float), order + 1, increasing=True)
    for run in runs:
        if len(run) < window:
            continue
        for arr, vel in ((x, vx), (y, vy)):
            seg = arr[run].copy()
            windows = np.lib.stride_tricks.sliding_window_view(seg, window)
            sm, dv = windows @ c0, windows @ c1
            out, der = seg.copy(), np.empty_like(seg)
            out[half:-half], der[half:-half] = sm, dv
            # ends: evaluate the first / last polynomial fit off-centre
            for side, w in ((0, seg[:window]), (1, seg[-window:])):
                poly = np.linalg.lstsq(A, w, rcond=None)[0]
                ts = np.arange(-half, 0) if side == 0 else np.arange(1, half + 1)
                vals = np.vander(ts.astype(float), order + 1, increasing=True) @ poly
                ders = np.vander(ts.astype(float), order, increasing=True) @ (poly[1:] * np.arange(1, order + 1)) / dt
                if side == 0:
                    out[:half], der[:half] = vals, ders
                else:
                    out[-half:], der[-half:] = vals, ders
            arr[run], vel[run] = out, der
    return x, y, vx, vy


def resample_polyline(pts: np.ndarray, n: int) -> np.ndarray:
    """``n`` points evenly spaced by arc length along a polyline ``(K, 2)``."""
    seg = np.r_[0.0, np.cumsum(np.hypot(*np.diff(pts, axis=0).T))]
    s = np.linspace(0.0, seg[-1], n)
    return np.column_stack([np.interp(s, seg, pts[:, 0]), np.interp(s, seg, pts[:, 1])])
