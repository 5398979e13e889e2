"""Helpers shared by the adapters: drivable-area derivation, resampling, size fixes."""
from __future__ import annotations

import numpy as np
import shapely
from scipy.signal import savgol_filter
from shapely.geometry.base import BaseGeometry

from schemas import InputError, ObjectType

#: the longest log a reader takes: one hour at 10 Hz (a nuPlan log is about 15 min); bounds every per-frame array
MAX_FRAMES = 36_000
#: agents x frames of one scenario's state arrays (about 8 float arrays of this many cells: 1.3 GB at the bound)
MAX_STATE_CELLS = 20_000_000


def check_grid(agents: int, frames: int, field: str, path=None) -> None:
    """Refuse (``InputError`` naming ``field``) a scenario grid of ``agents`` x ``frames`` beyond the bounds above,
    before anything of that size is allocated."""
    if frames > MAX_FRAMES:
        raise InputError(f"spans {frames} frames at 10 Hz ({frames / 10:.0f} s), more than the {MAX_FRAMES} "
                         f"({MAX_FRAMES // 600} min) a log may hold", path=path, field=field)
    if agents * frames > MAX_STATE_CELLS:
        raise InputError(f"{agents} agents x {frames} frames is more than {MAX_STATE_CELLS} state cells",
                         path=path, field=field)


def as_float(values, field: str, path=None) -> np.ndarray:
    """``values`` as a float array; a value that is not a number is an ``InputError`` naming ``field``."""
    try:
        return np.asarray(values, dtype=float)
    except (TypeError, ValueError) as err:
        raise InputError(f"not a number ({err})", path=path, field=field) from None


def as_steps(values, field: str, path=None) -> np.ndarray:
    """Integer frame indices or timestamps from ``values``; refuses non-numbers, NaN, fractions and negatives."""
    v = as_float(values, field, path)
    if not np.isfinite(v).all():
        raise InputError("missing (NULL) or non-finite value", path=path, field=field)
    if (v < 0).any():
        raise InputError("negative value", path=path, field=field)
    if (v != np.round(v)).any() or (v >= 2.0 ** 62).any():
        raise InputError("not an integer in range", path=path, field=field)
    return v.astype(np.int64)

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
    """Drivable area for sources without road edges (their ``drivable_area_source`` is ``DERIVED``).

    Union of the lane polygons (rings ``(N, 2)`` m) and every centerline buffered by
    half a lane width (``half_width`` m, scalar or one per centerline).
    """
    polys = [shapely.polygons(p) for p in lane_polygons if len(p) >= 3]
    polys = [shapely.make_valid(p) for p in polys]
    hw = np.broadcast_to(np.asarray(half_width, dtype=float), (len(centerlines),))
    lines = np.array([shapely.linestrings(c) for c in centerlines], dtype=object)
    buffered = list(shapely.buffer(lines, hw, quad_segs=4)) if len(lines) else []
    return as_multipolygon(shapely.union_all(polys + buffered))


#: sample spacing (m) along centerlines and the farthest reach (m) of a road cross-section
EDGE_SAMPLE_M, EDGE_REACH_M = 1.0, 12.0


def drivable_from_road_edges(centerlines: list[np.ndarray], road_edges: list[np.ndarray], half_width: float,
                             reach_m: float = EDGE_REACH_M) -> shapely.MultiPolygon:
    """Drivable area bounded by road edges, for sources that have edges but no drivable polygon
    (Waymo through ScenarioNet; its ``drivable_area_source`` is ``ROAD_EDGES``).

    Every centerline (``(N, 2)`` m) is sampled every :data:`EDGE_SAMPLE_M` m; at each sample a
    cross-section reaches out along the normal on both sides to the first road edge it meets
    (``(K, 2)`` polylines), at most ``reach_m`` m, or ``half_width`` m where it meets none; the
    quads between consecutive cross-sections, united with every centerline buffered by
    ``half_width``, make the area. A cross-section stops at a median edge, so the opposite
    carriageway comes from its own centerlines. The edges' direction is not used (sources differ
    in how they orient them).
    """
    lanes = [c for c in centerlines if len(c) >= 2 and shapely.length(shapely.linestrings(c)) > 0]
    base = derive_drivable_area([], lanes, half_width)
    segs = [np.stack([e[:-1], e[1:]], axis=1) for e in road_edges if len(e) >= 2]
    if not lanes or not segs:
        return base
    seg = np.concatenate(segs)
    seg = seg[np.hypot(*(seg[:, 1] - seg[:, 0]).T) > 1e-9]
    tree = shapely.STRtree(shapely.linestrings(seg))
    quads = []
    for c in lanes:
        line = shapely.linestrings(c)
        n = max(2, int(np.ceil(shapely.length(line) / EDGE_SAMPLE_M)) + 1)
        d = np.linspace(0.0, shapely.length(line), n)
        p = shapely.get_coordinates(shapely.line_interpolate_point(line, d))
        tangent = np.gradient(p, axis=0)
        tangent /= np.maximum(np.linalg.norm(tangent, axis=1, keepdims=True), 1e-9)
        normal = np.stack([-tangent[:, 1], tangent[:, 0]], axis=1)
        reach = [_reach(tree, seg, p, side * normal, reach_m, half_width) for side in (1.0, -1.0)]
        left, right = p + reach[0][:, None] * normal, p - reach[1][:, None] * normal
        ring = np.stack([left[:-1], left[1:], right[1:], right[:-1]], axis=1)
        quads.extend(shapely.make_valid(shapely.polygons(ring)))
    return as_multipolygon(shapely.union_all([base, *quads]))


def _reach(tree: shapely.STRtree, seg: np.ndarray, p: np.ndarray, u: np.ndarray, reach_m: float,
           default: float) -> np.ndarray:
    """``(M,)`` m from points ``p`` ``(M, 2)`` along unit directions ``u`` to the first of the segments
    ``seg`` ``(S, 2, 2)`` they cross within ``reach_m`` (``default`` where none)."""
    rays = shapely.linestrings(np.stack([p, p + reach_m * u], axis=1))
    ri, si = tree.query(rays, predicate="intersects")
    out = np.full(len(p), np.inf)
    if len(ri):
        a, b = seg[si, 0], seg[si, 1]
        e = b - a
        w = a - p[ri]
        den = u[ri, 0] * e[:, 1] - u[ri, 1] * e[:, 0]        # ray-segment intersection, ray parameter t
        t = np.where(np.abs(den) > 1e-12, (w[:, 0] * e[:, 1] - w[:, 1] * e[:, 0]) / np.where(den == 0, 1, den),
                     np.hypot(*w.T))                           # parallel and overlapping: the segment start
        np.minimum.at(out, ri, np.clip(t, 0.0, reach_m))
    return np.where(np.isfinite(out), out, default)


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


def choose_ego(object_type: np.ndarray, valid: np.ndarray, x: np.ndarray, y: np.ndarray) -> int:
    """Vehicle with the most valid frames (ties: longest path), for sources without a logged ego."""
    frames = valid.sum(axis=1).astype(float)
    path = np.nansum(np.hypot(np.diff(x, axis=1), np.diff(y, axis=1)), axis=1)
    score = np.where(object_type == ObjectType.VEHICLE, frames * 1e6 + path, -np.inf)
    return int(np.argmax(score))


def smooth_track(x: np.ndarray, y: np.ndarray, vx: np.ndarray, vy: np.ndarray, valid: np.ndarray, dt: float,
                 window: int = 21, order: int = 3):
    """Savitzky-Golay smoothing of one track's positions, with velocity from the fitted derivative.

    Used on ego tracks whose poses carry timing jitter (nuScenes via ScenarioNet: a
    few centimetres along track, enough to make finite-difference jerk meaningless).
    Each contiguous valid run of at least ``window`` samples (odd) is filtered by
    ``scipy.signal.savgol_filter`` (``mode="interp"``: the ends evaluate the first / last
    full-window polynomial fit off-centre); shorter runs keep their positions and given
    velocities ``vx, vy``. ``x, y`` m, ``vx, vy`` m/s, ``valid`` bool, all ``(T,)``; ``dt`` s.
    Returns ``(x, y, vx, vy)`` ``(T,)``.
    """
    x, y, vx, vy = x.copy(), y.copy(), vx.copy(), vy.copy()
    idx = np.flatnonzero(valid)
    runs = np.split(idx, np.flatnonzero(np.diff(idx) > 1) + 1) if len(idx) else []
    for run in runs:
        if len(run) < window:
            continue
        for arr, vel in ((x, vx), (y, vy)):
            seg = arr[run]
            arr[run] = savgol_filter(seg, window, order, mode="interp")
            vel[run] = savgol_filter(seg, window, order, deriv=1, delta=dt, mode="interp")
    return x, y, vx, vy


def resample_polyline(pts: np.ndarray, n: int) -> np.ndarray:
    """``n`` points evenly spaced by arc length along a polyline ``(K, 2)``."""
    seg = np.r_[0.0, np.cumsum(np.hypot(*np.diff(pts, axis=0).T))]
    s = np.linspace(0.0, seg[-1], n)
    return np.column_stack([np.interp(s, seg, pts[:, 0]), np.interp(s, seg, pts[:, 1])])


def placeholder_z_unknown(z: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """``z`` ``[A, T]`` (m) with the tracks whose z is exactly 0 at every valid frame set to NaN (unknown).

    A measured height is never exactly 0 throughout; converters write 0 where the source has no z
    (nuScenes ego poses are planar), and comparing that 0 with measured box-centre heights would put
    the ego on another level than everything around it."""
    z = np.array(z, dtype=float)
    z[((z == 0) | ~valid).all(axis=1)] = np.nan
    return z
