"""Argoverse 2 sensor-dataset logs (3D cuboid tracks + ego poses + log map) -> canonical Scenario.

One item is a log folder ``<log_id>/`` (one Scenario per log; ``scenario_id`` and ``log_id`` are
the folder name) holding:

* ``annotations.feather``, or ``annotations_with_ego.feather`` whose ego is its own rows of
  category ``EGO_VEHICLE``: one row per (sweep ``timestamp_ns``, ``track_uuid``) with the cuboid
  centre pose ``qw, qx, qy, qz`` / ``tx_m, ty_m, tz_m`` in the ego-vehicle frame at that sweep
  and its size ``length_m, width_m, height_m`` (m, known: ``size_imputed`` is False);
* ``city_SE3_egovehicle.feather``: ego poses (same pose columns, about 200 Hz), ego -> city;
* ``map/log_map_archive_*.json``: the log map, city frame, read by
  :func:`synth.sources.av2.av2_map_layer` (these maps have no ``centerline``: centerlines are
  the midlines of the lane boundaries). Scenario frame = AV2 city frame, unrotated.

Frames: the ego-vehicle frame is x forward, y left, z up, origin at the centre of the rear
axle. A cuboid is composed with the pose row of the same ``timestamp_ns`` (an annotation
timestamp without an exact pose row is an error): ``city_T_obj = city_T_ego @ ego_T_obj``; x, y,
z are the city-frame box centre, yaw = atan2 of the rotated box x axis.

Timing: sweeps are about 10 Hz but irregular (96-103 ms apart in the shared logs). Each track
is resampled onto the canonical grid ``t0 + k * CANONICAL_DT`` (t0 = first sweep) by
:func:`synth.sources.common.resample_linear`, bridging gaps up to :data:`MAX_GAP_S`; a grid
time up to :data:`END_TOL_S` past a track's first / last sweep is filled by extending its end
segment linearly, so timing jitter does not cost tracks their end frames. Velocities are
central finite differences along each contiguous valid run of the grid (0 on one-frame runs).

Ego (track ``"AV"``, row 0): from ``city_SE3_egovehicle`` at the grid times. Its box is
:data:`EGO_SIZE` (or the median ``EGO_VEHICLE`` cuboid size where the file has one), centred
:data:`EGO_CENTER_OFFSET_M` ahead of the rear axle. ``EGO_VEHICLE`` rows give the size only:
those files put the ego cuboid at the ego-frame origin, which is the rear axle, not the box centre.

Types: vehicles (incl. trailers, truck cabs, buses, railed vehicles) VEHICLE; pedestrians,
official signalers, strollers, wheelchairs, dogs / animals PEDESTRIAN; BICYCLIST, MOTORCYCLIST,
WHEELED_RIDER CYCLIST; everything else STATIC, kept as obstacles: bollards, cones, barrels, signs,
sign / light trailers and the rider-less BICYCLE / MOTORCYCLE / WHEELED_DEVICE cuboids (a
ridden one has its rider as a separate CYCLIST track; all of them move < 0.6 m in the shared logs).
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Iterator

import numpy as np
import pyarrow as pa
import pyarrow.feather as feather

from schemas import CANONICAL_DT, InputError, ObjectType, Scenario

from .av2 import Av2Source
from .base import Source
from .common import resample_linear

ANNOTATION_FILES = ("annotations.feather", "annotations_with_ego.feather")
POSE_FILE = "city_SE3_egovehicle.feather"
POSE_COLUMNS = ("timestamp_ns", "qw", "qx", "qy", "qz", "tx_m", "ty_m", "tz_m")
ANNOTATION_COLUMNS = POSE_COLUMNS + ("track_uuid", "category", "length_m", "width_m", "height_m")
EGO_ID = "AV"
EGO_CATEGORY = "EGO_VEHICLE"
#: ego box (length, width, height) m: the EGO_VEHICLE cuboid of the av2-api scenario-mining test
#: logs (4.877 x 2.0 x 1.473 m); the AV2 fleet's Ford Fusion Hybrid is 191.8 in (4.87 m) long,
#: 72.9 in (1.85 m) wide without mirrors (2.0 m with them) and 58 in (1.47 m) high.
EGO_SIZE = (4.877, 2.0, 1.473)
#: rear axle -> box centre, m, along the ego x axis: half the Fusion's 112.2 in (2.85 m) wheelbase,
#: i.e. equal front and rear overhangs assumed (uncertain by about 0.1 m)
EGO_CENTER_OFFSET_M = 1.425
#: ego-frame origin above the ground, m (only for the ego's z): nearby REGULAR_VEHICLE cuboid
#: bottoms sit 0.37-0.43 m below the ego origin in three of the four shared logs
EGO_AXLE_HEIGHT_M = 0.35
MAX_GAP_S = 0.25       #: longest gap between two sweeps of a track that is interpolated (one missed sweep)
END_TOL_S = 0.02       #: grid times this close past a track's first / last sweep extend its end segment
MAX_POSE_GAP_S = 0.2   #: longest gap of the ~200 Hz ego poses that is interpolated
MAX_SPAN_S = 3600.0    #: refuse logs whose sweeps span more (AV2 logs are ~15 s)
MAX_CELLS = 5_000_000  #: refuse logs whose tracks x frames grid would be larger

_VEHICLE = {"REGULAR_VEHICLE", "LARGE_VEHICLE", "BUS", "SCHOOL_BUS", "ARTICULATED_BUS", "BOX_TRUCK", "TRUCK",
            "TRUCK_CAB", "VEHICULAR_TRAILER", "RAILED_VEHICLE", EGO_CATEGORY}
_PEDESTRIAN = {"PEDESTRIAN", "OFFICIAL_SIGNALER", "STROLLER", "WHEELCHAIR", "DOG", "ANIMAL"}
_CYCLIST = {"BICYCLIST", "MOTORCYCLIST", "WHEELED_RIDER"}
_CITY = re.compile(r"_{2,}([A-Z]{3})_city_")


def object_type(category: str) -> ObjectType:
    """ObjectType of an AV2 sensor category (unknown categories are STATIC)."""
    if category in _VEHICLE:
        return ObjectType.VEHICLE
    if category in _PEDESTRIAN:
        return ObjectType.PEDESTRIAN
    return ObjectType.CYCLIST if category in _CYCLIST else ObjectType.STATIC


def quat_to_matrix(q: np.ndarray) -> np.ndarray:
    """Rotation matrices ``(N, 3, 3)`` of quaternions ``(N, 4)`` ordered w, x, y, z (normalised here)."""
    w, x, y, z = (q / np.linalg.norm(q, axis=1, keepdims=True)).T
    return np.stack([
        np.stack([1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)], axis=-1),
        np.stack([2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)], axis=-1),
        np.stack([2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)], axis=-1),
    ], axis=-2)


def read_table(path: Path, columns: tuple[str, ...]) -> dict[str, np.ndarray]:
    """The ``columns`` of one feather file as ``(N,)`` arrays; ``timestamp_ns`` int64, strings as str,
    the rest float64 and finite. Raises ``InputError`` (file, column, reason) otherwise."""
    try:
        table = feather.read_table(path)
    except (pa.ArrowInvalid, OSError) as err:
        raise InputError(f"unreadable feather file: {err}", path=str(path)) from None
    out = {}
    for col in columns:
        if col not in table.column_names:
            raise InputError("column is missing", path=str(path), field=col)
        arr, kind = table.column(col), table.schema.field(col).type
        if col in ("track_uuid", "category"):
            if arr.null_count:
                raise InputError("null value", path=str(path), field=col)
            out[col] = np.asarray(arr.to_pylist(), dtype=str)
        elif col == "timestamp_ns":
            if not pa.types.is_integer(kind) or arr.null_count:
                raise InputError(f"must be integer nanoseconds without nulls, got {kind}", path=str(path), field=col)
            out[col] = arr.to_numpy().astype(np.int64)
        else:
            if not (pa.types.is_floating(kind) or pa.types.is_integer(kind)):
                raise InputError(f"must be numeric, got {kind}", path=str(path), field=col)
            vals = arr.to_numpy(zero_copy_only=False).astype(float)
            if not np.isfinite(vals).all():
                raise InputError(f"NaN or infinite value in row {int(np.argmin(np.isfinite(vals)))}",
                                 path=str(path), field=col)
            out[col] = vals
    if len(out["timestamp_ns"]) == 0:
        raise InputError("no rows", path=str(path), field="timestamp_ns")
    norm = np.linalg.norm(np.column_stack([out[c] for c in ("qw", "qx", "qy", "qz")]), axis=1)
    if (norm < 1e-6).any():
        raise InputError(f"zero quaternion in row {int(np.argmax(norm < 1e-6))}", path=str(path), field="qw")
    return out


def _rotation(tab: dict) -> np.ndarray:
    return quat_to_matrix(np.column_stack([tab[c] for c in ("qw", "qx", "qy", "qz")]))


def _translation(tab: dict) -> np.ndarray:
    return np.column_stack([tab[c] for c in ("tx_m", "ty_m", "tz_m")])


def city_cuboids(ann: dict, poses: dict, pose_path: Path) -> dict[str, np.ndarray]:
    """City-frame pose of every annotation row: ``x, y, z`` (box centre, m) and ``yaw`` (rad), each ``(N,)``.

    ``ann`` / ``poses``: tables from :func:`read_table`. Each row is composed with the pose row of
    the same ``timestamp_ns``; a missing one raises ``InputError`` naming ``pose_path``.
    """
    pts = poses["timestamp_ns"]
    order = np.argsort(pts, kind="stable")
    idx = np.clip(np.searchsorted(pts[order], ann["timestamp_ns"]), 0, len(pts) - 1)
    missing = pts[order][idx] != ann["timestamp_ns"]
    if missing.any():
        n = len(np.unique(ann["timestamp_ns"][missing]))
        raise InputError(f"no pose at annotation timestamp {int(ann['timestamp_ns'][missing][0])} "
                         f"({n} annotation timestamps without one)", path=str(pose_path), field="timestamp_ns")
    row = order[idx]
    r_city, t_city = _rotation(poses)[row], _translation(poses)[row]
    r_obj = r_city @ _rotation(ann)
    xyz = np.einsum("nij,nj->ni", r_city, _translation(ann)) + t_city
    return {"x": xyz[:, 0], "y": xyz[:, 1], "z": xyz[:, 2], "yaw": np.arctan2(r_obj[:, 1, 0], r_obj[:, 0, 0])}


def ego_centres(poses: dict, height: float) -> dict[str, np.ndarray]:
    """City-frame ego box centre ``x, y, z`` (m) and ``yaw`` (rad) at every pose row, each ``(P,)``."""
    r = _rotation(poses)
    offset = np.array([EGO_CENTER_OFFSET_M, 0.0, height / 2 - EGO_AXLE_HEIGHT_M])
    xyz = _translation(poses) + r @ offset
    return {"x": xyz[:, 0], "y": xyz[:, 1], "z": xyz[:, 2], "yaw": np.arctan2(r[:, 1, 0], r[:, 0, 0])}


def _extend_ends(t: np.ndarray, vals: np.ndarray, yaw: np.ndarray):
    """Add virtual samples :data:`END_TOL_S` before the first and after the last one (end segments
    extended linearly, held for a single sample). ``t`` (N,) s ascending, ``vals`` (N, K), ``yaw`` (N,)."""
    yaw = np.unwrap(yaw)
    if len(t) == 1:
        return np.r_[t[0] - END_TOL_S, t, t[0] + END_TOL_S], np.vstack([vals] * 3), np.r_[yaw, yaw, yaw]
    ends = []
    for a, b in ((0, 1), (-1, -2)):
        step = END_TOL_S / max(abs(t[a] - t[b]), 1e-9)
        ends.append((t[a] + np.sign(t[a] - t[b]) * END_TOL_S, vals[a] + (vals[a] - vals[b]) * step,
                     yaw[a] + (yaw[a] - yaw[b]) * step))
    (t0, v0, y0), (t1, v1, y1) = ends
    return np.r_[t0, t, t1], np.vstack([v0, vals, v1]), np.r_[y0, yaw, y1]


def _fd_velocity(x: np.ndarray, valid: np.ndarray, dt: float) -> np.ndarray:
    """Finite-difference velocity ``(T,)`` m/s of ``x (T,)`` m along each contiguous valid run (NaN elsewhere)."""
    v = np.full_like(x, np.nan)
    idx = np.flatnonzero(valid)
    for run in np.split(idx, np.flatnonzero(np.diff(idx) > 1) + 1) if len(idx) else []:
        v[run] = np.gradient(x[run], dt) if len(run) > 1 else 0.0
    return v


class Av2SensorSource(Source):
    """Reads one Argoverse 2 sensor-dataset log folder (cuboid annotations + ego poses + map)."""

    name = "av2_sensor"

    @classmethod
    def matches(cls, path: Path) -> bool:
        return path.is_dir() and (path / POSE_FILE).is_file() and any((path / n).is_file() for n in ANNOTATION_FILES)

    def read(self, path: Path) -> Iterator[Scenario]:
        yield self.read_log(path)[0]

    def read_log(self, path: Path) -> tuple[Scenario, dict[str, np.ndarray]]:
        """The log's Scenario ``[A, T]`` and the arrays it has no field for: ``z`` (city-frame box-centre
        height, m) and ``height`` (box height, m), each ``[A, T]`` float64, NaN where not valid."""
        path = Path(path)
        ann_path = next(path / n for n in ANNOTATION_FILES if (path / n).is_file())
        pose_path = path / POSE_FILE
        maps = sorted((path / "map").glob("log_map_archive_*.json"))
        if not maps:
            raise InputError("no map/log_map_archive_*.json in the log folder", path=str(path))
        ann = read_table(ann_path, ANNOTATION_COLUMNS)
        poses = read_table(pose_path, POSE_COLUMNS)
        pts, first = np.unique(poses["timestamp_ns"], return_index=True)
        if len(pts) < len(poses["timestamp_ns"]):
            raise InputError("duplicate pose timestamps", path=str(pose_path), field="timestamp_ns")
        poses = {k: v[first] for k, v in poses.items()}  # sorted by time
        pairs = np.char.add(np.char.add(ann["track_uuid"], "|"), ann["timestamp_ns"].astype(str))
        if len(np.unique(pairs)) < len(pairs):
            raise InputError("a track has two rows at one timestamp", path=str(ann_path), field="track_uuid")
        for col in ("length_m", "width_m", "height_m"):
            if (ann[col] <= 0).any():
                raise InputError(f"must be > 0, row {int(np.argmax(ann[col] <= 0))} has "
                                 f"{ann[col][np.argmax(ann[col] <= 0)]}", path=str(ann_path), field=col)
        t_first = int(ann["timestamp_ns"].min())
        span_s = (int(ann["timestamp_ns"].max()) - t_first) / 1e9
        if span_s > MAX_SPAN_S:
            raise InputError(f"sweeps span {span_s:.0f} s, more than {MAX_SPAN_S:.0f} s", path=str(ann_path),
                             field="timestamp_ns")
        T = int(np.floor((span_s + END_TOL_S) / CANONICAL_DT + 1e-9)) + 1
        is_ego = ann["category"] == EGO_CATEGORY
        uids = list(dict.fromkeys(ann["track_uuid"][~is_ego]))
        if EGO_ID in uids:
            raise InputError(f"track_uuid {EGO_ID!r} is reserved for the ego", path=str(ann_path), field="track_uuid")
        if (len(uids) + 1) * T > MAX_CELLS:
            raise InputError(f"{len(uids) + 1} tracks x {T} frames exceeds {MAX_CELLS} cells", path=str(ann_path),
                             field="track_uuid")
        size = tuple(float(np.median(ann[c][is_ego])) for c in ("length_m", "width_m", "height_m")) \
            if is_ego.any() else EGO_SIZE
        objs = {k: v[~is_ego] for k, v in ann.items()}
        city = city_cuboids(objs, poses, pose_path)
        t_grid = np.arange(T) * CANONICAL_DT
        fields = ("x", "y", "z", "length", "width", "height")
        grid = {k: np.full((len(uids) + 1, T), np.nan) for k in fields + ("heading",)}
        valid = np.zeros((len(uids) + 1, T), dtype=bool)
        ego = ego_centres(poses, size[2])
        t_pose = (poses["timestamp_ns"] - t_first) / 1e9
        every = np.ones(len(t_pose), dtype=bool)
        out, valid[0] = resample_linear(t_pose, np.column_stack([ego["x"], ego["y"], ego["z"]]), every, t_grid,
                                        MAX_POSE_GAP_S)
        grid["x"][0], grid["y"][0], grid["z"][0] = out.T
        grid["heading"][0] = resample_linear(t_pose, ego["yaw"], every, t_grid, MAX_POSE_GAP_S, angle=True)[0]
        for k, v in zip(("length", "width", "height"), size):
            grid[k][0, valid[0]] = v
        types = [ObjectType.VEHICLE]
        row_of = {u: i for i, u in enumerate(uids)}
        rows = np.array([row_of[u] for u in objs["track_uuid"]], dtype=int)
        order = np.lexsort((objs["timestamp_ns"], rows))
        bounds = np.flatnonzero(np.diff(rows[order])) + 1
        for a, sel in enumerate(np.split(order, bounds) if len(order) else [], start=1):
            t = (objs["timestamp_ns"][sel] - t_first) / 1e9
            vals = np.column_stack([city["x"][sel], city["y"][sel], city["z"][sel],
                                    objs["length_m"][sel], objs["width_m"][sel], objs["height_m"][sel]])
            te, ve, ye = _extend_ends(t, vals, city["yaw"][sel])
            out, ok = resample_linear(te, ve, np.ones(len(te), bool), t_grid, MAX_GAP_S)
            for j, k in enumerate(fields):
                grid[k][a] = out[:, j]
            grid["heading"][a] = resample_linear(te, ye, np.ones(len(te), bool), t_grid, MAX_GAP_S)[0]
            valid[a] = ok
            types.append(object_type(objs["category"][sel[0]]))
        keep = valid.any(axis=1)  # a one-sweep track farther than END_TOL_S from every grid time has no frame
        keep[0] = True
        for k in grid:
            grid[k][~valid] = np.nan
            grid[k] = grid[k][keep]
        valid = valid[keep]
        ids = [EGO_ID] + [u for u, kept in zip(uids, keep[1:]) if kept]
        vx = np.stack([_fd_velocity(row, v, CANONICAL_DT) for row, v in zip(grid["x"], valid)])
        vy = np.stack([_fd_velocity(row, v, CANONICAL_DT) for row, v in zip(grid["y"], valid)])
        extras = {"z": grid.pop("z"), "height": grid.pop("height")}
        m = _CITY.search(maps[0].name)
        try:
            scn = Scenario(scenario_id=path.name, log_id=path.name, source=self.name, map_name=m.group(1) if m else "",
                           dt=CANONICAL_DT, track_id=ids, object_type=np.array(types, dtype=np.int8)[keep],
                           size_imputed=np.zeros(len(ids), dtype=bool), valid=valid, ego_index=0,
                           map=Av2Source._map(maps[0]), vx=vx, vy=vy,
                           z=extras["z"], height=extras["height"], **grid)
        except InputError as err:
            raise err.with_path(str(ann_path)) from None
        return scn, extras
