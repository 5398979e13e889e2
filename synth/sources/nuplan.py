"""nuPlan log databases (SQLite ``.db``) -> canonical Scenarios, without nuplan-devkit.

* One Scenario per ``scene`` of the log (the whole log when no scene rows exist).
* ``lidar_pc`` (20 Hz) is resampled to 10 Hz: each 0.1 s grid time takes the nearest
  lidar_pc within 25 ms; grid times without one are invalid frames.
* Ego from ``ego_pose`` via ``lidar_pc.ego_pose_token``: the rear-axle pose is moved to
  the box centre (1.461 m forward) and its ego-frame velocity rotated to the map frame
  (plus the yaw-rate term for the offset). Ego box 5.176 x 2.297 m.
* Heights: agents keep ``lidar_box`` z (box centre) and height; the ego's z is the ``ego_pose`` z
  (rear axle) raised by :data:`REAR_AXLE_TO_CENTER_Z` to its box centre, height :data:`EGO_HEIGHT`.
* Agents from ``lidar_box`` + ``track`` + ``category`` (vehicle, bicycle, pedestrian;
  traffic_cone, barrier, czone_sign, generic_object as STATIC).
* Signals from ``traffic_light_status`` with stop points from the map's lane-connector baseline paths
  (:func:`synth.sources.signal_readers.nuplan_signals`; none without a map).
* Map from ``{map_root}/{log.map_version}/*/map.gpkg`` when ``map_root`` is given,
  cropped to 150 m around the scene: ``baseline_paths`` centerlines, ``boundaries``
  lane lines (UNKNOWN type), ``crosswalks``, and the drivable area (EXPLICIT) = union of
  road_segments, intersections, generic_drivable_areas and carpark_areas. Without a map
  the drivable area is DERIVED from the swept boxes of all vehicles buffered by 0.5 m.
"""
from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Iterator

import numpy as np
import shapely

from schemas import CANONICAL_DT, InputError, LineType, MapLayer, ObjectType, Scenario, wrap_angle

from ..geometry import box_polygons
from .base import Source
from .common import as_float, as_multipolygon, as_steps, check_grid, placeholder_z_unknown
from .gpkg import GeoPackage
from .signal_readers import fid_text as _fid
from .signal_readers import nuplan_signals

EGO_LENGTH, EGO_WIDTH = 4.049 + 1.127, 2.297
REAR_AXLE_TO_CENTER = (4.049 - 1.127) / 2.0
#: m, the nuPlan ego (Chrysler Pacifica) height: nuplan-devkit ``get_pacifica_parameters`` (1.777 m)
EGO_HEIGHT = 1.777
#: m, rear axle (the ego_pose) below the box centre; nuPlan gives none: 0.45 m is py123d's estimate for
#: the Pacifica (``rear_axle_to_center_vertical``), about half the height minus the wheel radius
REAR_AXLE_TO_CENTER_Z = 0.45
_CATEGORIES = {
    "vehicle": ObjectType.VEHICLE, "bicycle": ObjectType.CYCLIST, "pedestrian": ObjectType.PEDESTRIAN,
    "traffic_cone": ObjectType.STATIC, "barrier": ObjectType.STATIC, "czone_sign": ObjectType.STATIC,
    "generic_object": ObjectType.STATIC,
}
_TABLES = {
    "log": ("token", "map_version", "logfile"),
    "ego_pose": ("token", "timestamp", "x", "y", "z", "qw", "qx", "qy", "qz", "vx", "vy", "angular_rate_z"),
    "lidar_pc": ("token", "ego_pose_token", "lidar_token", "scene_token", "timestamp"),
    "lidar": ("token", "log_token"),
    "lidar_box": ("lidar_pc_token", "track_token", "x", "y", "z", "yaw", "vx", "vy", "length", "width", "height"),
    "track": ("token", "category_token"),
    "category": ("token", "name"),
    "scene": ("token", "name"),
}
_DRIVABLE_LAYERS = ("road_segments", "intersections", "generic_drivable_areas", "carpark_areas")
MAP_CROP_M = 150.0
GRID_TOLERANCE_US = 25_000


def quaternion_yaw(qw, qx, qy, qz) -> np.ndarray:
    """Yaw (rad) of a rotation quaternion about +z."""
    return np.arctan2(2.0 * (qw * qz + qx * qy), 1.0 - 2.0 * (qy * qy + qz * qz))


class NuPlanSource(Source):
    """Reads one nuPlan log ``.db`` (and its map when ``map_root`` is given)."""

    name = "nuplan"

    def __init__(self, map_root: str | Path | None = None):
        self.map_root = None if map_root is None else Path(map_root)

    @classmethod
    def matches(cls, path: Path) -> bool:
        return path.is_file() and path.suffix == ".db"

    def read(self, path: Path) -> Iterator[Scenario]:
        path = Path(path)
        try:
            con = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)   # '#' or '?' in a name: escaped
            con.execute("SELECT name FROM sqlite_master").fetchall()
        except sqlite3.DatabaseError as err:
            raise InputError(f"not a SQLite database ({err})", path=str(path)) from None
        try:
            self._check_schema(con, path)
            yield from self._scenes(con, path)
        except sqlite3.DatabaseError as err:
            raise InputError(f"database error: {err}", path=str(path)) from None
        finally:
            con.close()

    @staticmethod
    def _check_schema(con: sqlite3.Connection, path: Path) -> None:
        for table, cols in _TABLES.items():
            have = {r[1] for r in con.execute(f'PRAGMA table_info("{table}")')}
            if not have:
                raise InputError("table is missing", path=str(path), field=table)
            for c in cols:
                if c not in have:
                    raise InputError("column is missing", path=str(path), field=f"{table}.{c}")

    def _scenes(self, con: sqlite3.Connection, path: Path) -> Iterator[Scenario]:
        log = con.execute("SELECT logfile, map_version FROM log").fetchone()
        if log is None:
            raise InputError("no log row", path=str(path), field="log")
        logfile, map_version = log
        pcs = con.execute(
            "SELECT lp.token, lp.timestamp, lp.scene_token, ep.x, ep.y, ep.qw, ep.qx, ep.qy, ep.qz, ep.vx, ep.vy,"
            " ep.angular_rate_z, ep.z FROM lidar_pc lp JOIN ego_pose ep ON lp.ego_pose_token = ep.token"
            " ORDER BY lp.timestamp"
        ).fetchall()
        if not pcs:
            raise InputError("no lidar_pc rows joined to an ego_pose", path=str(path), field="lidar_pc")
        scene_names = dict(con.execute("SELECT token, name FROM scene").fetchall())
        boxes = con.execute(
            "SELECT lb.lidar_pc_token, lb.track_token, lb.x, lb.y, lb.yaw, lb.vx, lb.vy, lb.length, lb.width, c.name,"
            " lb.z, lb.height"
            " FROM lidar_box lb JOIN track t ON lb.track_token = t.token JOIN category c ON t.category_token = c.token"
        ).fetchall()
        by_pc: dict[bytes, list] = {}
        for b in boxes:
            by_pc.setdefault(b[0], []).append(b[1:])
        scenes: dict = {}
        for row in pcs:
            scenes.setdefault(row[2], []).append(row)
        gpkg = self._open_map(map_version, path)
        try:
            for scene_token, rows in scenes.items():
                name = scene_names.get(scene_token) or (scene_token.hex() if isinstance(scene_token, bytes) else "log")
                sid = f"{logfile or path.stem}/{name}"
                try:
                    yield self._scenario(sid, map_version, rows, by_pc, gpkg, con)
                except InputError as err:
                    raise err.with_path(str(path)) from None
        finally:
            if gpkg is not None:
                gpkg.close()

    def _open_map(self, map_version: str, path: Path) -> GeoPackage | None:
        if self.map_root is None:
            return None
        found = sorted((self.map_root / str(map_version)).glob("*/map.gpkg"))
        if not found:
            raise InputError(f"no {map_version}/*/map.gpkg under map root {self.map_root}", path=str(path),
                             field="log.map_version")
        return GeoPackage(found[-1])

    def _scenario(self, sid, map_version, rows, by_pc, gpkg, con=None) -> Scenario:
        ts = as_steps([r[1] for r in rows], "lidar_pc.timestamp")          # microseconds
        check_grid(1, int((ts[-1] - ts[0]) // int(CANONICAL_DT * 1e6)) + 1, "lidar_pc.timestamp")
        grid = np.arange(ts[0], ts[-1] + 1, int(CANONICAL_DT * 1e6), dtype=np.int64)
        nearest = np.clip(np.searchsorted(ts, grid), 1, len(ts) - 1) if len(ts) > 1 else np.zeros(len(grid), int)
        nearest = np.where(np.abs(ts[nearest - 1] - grid) < np.abs(ts[nearest] - grid), nearest - 1, nearest) \
            if len(ts) > 1 else nearest
        ok = np.abs(ts[nearest] - grid) <= GRID_TOLERANCE_US
        T = len(grid)
        if T < 2:
            raise InputError(f"scene {sid!r} is shorter than 2 frames at 10 Hz", field="lidar_pc.timestamp")
        ego = as_float([rows[i][3:12] for i in nearest], "ego_pose.x, y, qw, qx, qy, qz, vx, vy, angular_rate_z")
        x, y, qw, qx, qy, qz, vxl, vyl, wz = ego.T
        yaw = quaternion_yaw(qw, qx, qy, qz)
        c, s = np.cos(yaw), np.sin(yaw)
        vyl = vyl + wz * REAR_AXLE_TO_CENTER  # velocity of the box centre, ego frame
        e = {"x": x + REAR_AXLE_TO_CENTER * c, "y": y + REAR_AXLE_TO_CENTER * s, "heading": yaw,
             "vx": vxl * c - vyl * s, "vy": vxl * s + vyl * c,
             "length": np.full(T, EGO_LENGTH), "width": np.full(T, EGO_WIDTH),
             "z": placeholder_z_unknown(np.array([[rows[i][12] for i in nearest]], dtype=float), ok[None])[0]
             + REAR_AXLE_TO_CENTER_Z,
             "height": np.full(T, EGO_HEIGHT)}
        tracks: dict[bytes, dict] = {}
        for k, i in enumerate(nearest):
            if not ok[k]:
                continue
            for tok, bx, by, byaw, bvx, bvy, bl, bw, cat, bz, bh in by_pc.get(rows[i][0], ()):
                if cat not in _CATEGORIES:
                    continue
                tr = tracks.setdefault(tok, {"cat": cat, "rows": []})
                tr["rows"].append((k, bx, by, byaw, bvx, bvy, bl, bw, bz, bh))
        A = 1 + len(tracks)
        check_grid(A, T, "lidar_box.track_token")
        fields = ("x", "y", "heading", "vx", "vy", "length", "width", "z", "height")
        arr = {f: np.full((A, T), np.nan) for f in fields}
        valid = np.zeros((A, T), dtype=bool)
        for f in fields:
            arr[f][0] = e[f]
        valid[0] = ok
        ids, otype = ["ego"], [ObjectType.VEHICLE]
        for a, (tok, tr) in enumerate(tracks.items(), start=1):
            r = as_float([[np.nan if v is None else v for v in row] for row in tr["rows"]],
                         "lidar_box.x, y, yaw, vx, vy, length, width, z, height")
            k = r[:, 0].astype(int)
            for j, f in enumerate(fields, start=1):
                arr[f][a, k] = r[:, j]
            valid[a, k] = True
            ids.append(tok.hex() if isinstance(tok, bytes) else str(tok))
            otype.append(_CATEGORIES[tr["cat"]])
        for f in ("x", "y"):
            if (valid & ~np.isfinite(arr[f])).any():
                raise InputError(f"NaN position in scene {sid!r}", field=f"lidar_box.{f}")
        arr["z"][1:] = placeholder_z_unknown(arr["z"][1:], valid[1:])
        arr["height"] = np.where(arr["height"] > 0, arr["height"], np.nan)  # NULL or 0: unknown
        arr["heading"] = wrap_angle(arr["heading"])
        otype = np.array(otype, dtype=np.int8)
        m = self._map(gpkg, arr, valid, otype)
        return Scenario(scenario_id=sid, log_id=sid.rsplit("/", 1)[0], source="nuplan", map_name=str(map_version),
                        dt=CANONICAL_DT,
                        track_id=ids, object_type=otype, size_imputed=np.zeros(A, dtype=bool), valid=valid,
                        ego_index=0, map=m, **arr,
                        signals=self._signals(con, gpkg, [rows[i][0] for i in nearest], ok, arr, valid))

    @staticmethod
    def _signals(con, gpkg: GeoPackage | None, pc_tokens: list, ok: np.ndarray, arr: dict, valid: np.ndarray):
        """The scene's SignalLayer: ``traffic_light_status`` per lidar_pc the frames took, stop points from the
        map's connector baseline paths (none without a map or a ``lane_connector_fid`` column)."""
        if con is None or gpkg is None:
            return None
        cols = {r[1] for r in gpkg.con.execute('PRAGMA table_info("baseline_paths")')}
        if "lane_connector_fid" not in cols:
            return None
        ex, ey = arr["x"][0][valid[0]], arr["y"][0][valid[0]]
        crop = shapely.box(ex.min() - MAP_CROP_M, ey.min() - MAP_CROP_M, ex.max() + MAP_CROP_M, ey.max() + MAP_CROP_M)
        props, geoms = gpkg.read_layer("baseline_paths", ("lane_connector_fid",))
        paths = {_fid(p["lane_connector_fid"]): shapely.get_coordinates(g) for p, g in zip(props, geoms)
                 if p["lane_connector_fid"] is not None and g.geom_type == "LineString" and shapely.intersects(g, crop)}
        return nuplan_signals(con, pc_tokens, ok, paths)

    @staticmethod
    def _map(gpkg: GeoPackage | None, arr: dict, valid: np.ndarray, otype: np.ndarray) -> MapLayer:
        ex, ey = arr["x"][0][valid[0]], arr["y"][0][valid[0]]
        if gpkg is None:
            veh = valid & (otype == ObjectType.VEHICLE)[:, None]
            boxes = box_polygons(*(arr[k][veh] for k in ("x", "y", "heading", "length", "width")))
            da = as_multipolygon(shapely.union_all(shapely.buffer(boxes, 0.5, quad_segs=2)))
            return MapLayer(centerlines=[], lane_lines=[], lane_line_types=[], road_edges=[], crosswalks=[],
                            drivable_area=da, drivable_area_source="DERIVED")
        crop = shapely.box(ex.min() - MAP_CROP_M, ey.min() - MAP_CROP_M, ex.max() + MAP_CROP_M, ey.max() + MAP_CROP_M)

        def layer(name):
            _, g = gpkg.read_layer(name)
            g = g[shapely.intersects(g, crop)] if len(g) else g
            return g

        lines = lambda gs: [shapely.get_coordinates(p) for g in gs for p in shapely.get_parts(shapely.intersection(g, crop))  # noqa: E731
                            if p.geom_type == "LineString" and len(shapely.get_coordinates(p)) >= 2]
        centers = lines(layer("baseline_paths"))
        bounds = lines(layer("boundaries"))
        cross = [shapely.get_coordinates(p.exterior)[:-1] for g in layer("crosswalks")
                 for p in shapely.get_parts(g) if p.geom_type == "Polygon"]
        areas = [g for name in _DRIVABLE_LAYERS for g in layer(name)]
        if not areas:
            raise InputError("no drivable-area polygons near the scene", field="road_segments")
        da = as_multipolygon(shapely.intersection(shapely.union_all(areas), crop))
        edges = [shapely.get_coordinates(r) for p in da.geoms for r in [p.exterior, *p.interiors]]
        return MapLayer(centerlines=centers, lane_lines=bounds, lane_line_types=[LineType.UNKNOWN] * len(bounds),
                        road_edges=edges, crosswalks=cross, drivable_area=da, drivable_area_source="EXPLICIT")
