"""Argoverse 2 motion-forecasting scenarios -> canonical Scenario.

One item is a scenario folder holding ``scenario_<id>.parquet`` (long format, 10 Hz,
ego ``track_id == 'AV'``) and ``log_map_archive_<id>.json``. AV2 has no box sizes:
they are imputed per type (:data:`synth.sources.common.IMPUTED_SIZE`, bus 12 x 2.6 m)
and ``size_imputed`` is set. The ego track is Savitzky-Golay smoothed by default
(``smooth_ego``; its finite-difference jerk is otherwise pose noise). The drivable area is EXPLICIT: the map's
``drivable_areas`` polygons united with the lane-segment polygons.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Iterator

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import shapely

from schemas import CANONICAL_DT, InputError, LineType, MapLayer, ObjectType, Scenario

from .base import Source
from .common import IMPUTED_SIZE, as_float, as_multipolygon, as_steps, check_grid, resample_polyline, smooth_track

_TYPES = {
    "vehicle": ObjectType.VEHICLE, "bus": ObjectType.VEHICLE,
    "pedestrian": ObjectType.PEDESTRIAN,
    "cyclist": ObjectType.CYCLIST, "motorcyclist": ObjectType.CYCLIST,
    "static": ObjectType.STATIC, "background": ObjectType.STATIC, "construction": ObjectType.STATIC,
    "riderless_bicycle": ObjectType.STATIC, "unknown": ObjectType.STATIC,
}
_BUS_SIZE = (12.0, 2.6)
_REQUIRED = ("track_id", "object_type", "timestep", "position_x", "position_y", "heading", "velocity_x", "velocity_y")


def _mark(name: str) -> LineType | None:
    name = (name or "NONE").upper()
    if name == "NONE":
        return None
    if name.startswith("DOUBLE_SOLID"):
        return LineType.DOUBLE_SOLID
    if name.startswith(("DASHED", "DOUBLE_DASH")):
        return LineType.BROKEN
    if "SOLID" in name:  # SOLID_*, SOLID_DASH_*, DASH_SOLID_*: solid on at least one side
        return LineType.SOLID
    return LineType.UNKNOWN


def _xy(points) -> np.ndarray:
    return np.array([[p["x"], p["y"]] for p in points], dtype=float)


class Av2Source(Source):
    """Reads one Argoverse 2 motion-forecasting scenario folder."""

    name = "av2"

    def __init__(self, smooth_ego: bool = True):
        self.smooth_ego = smooth_ego

    @classmethod
    def matches(cls, path: Path) -> bool:
        return path.is_dir() and any(path.glob("scenario_*.parquet"))

    def read(self, path: Path) -> Iterator[Scenario]:
        path = Path(path)
        pq_file = next(iter(sorted(path.glob("scenario_*.parquet"))))
        maps = sorted(path.glob("log_map_archive_*.json"))
        if not maps:
            raise InputError("no log_map_archive_*.json beside the scenario parquet", path=str(path))
        yield self._read(pq_file, maps[0])

    def _read(self, pq_file: Path, map_file: Path) -> Scenario:
        try:
            table = pq.read_table(pq_file)
        except (pa.ArrowInvalid, OSError) as err:
            raise InputError(f"unreadable parquet: {err}", path=str(pq_file)) from None
        for col in _REQUIRED:
            if col not in table.column_names:
                raise InputError("column is missing", path=str(pq_file), field=col)
        cols = {c: table.column(c).to_numpy(zero_copy_only=False) for c in _REQUIRED}
        tids = cols["track_id"].astype(str)
        steps = as_steps(cols["timestep"], "timestep", str(pq_file))
        for c in ("position_x", "position_y", "heading", "velocity_x", "velocity_y"):
            cols[c] = as_float(cols[c], c, str(pq_file))
        for c in ("position_x", "position_y", "heading"):
            if not np.isfinite(cols[c]).all():
                raise InputError("NaN or infinite value", path=str(pq_file), field=c)
        uniq = list(dict.fromkeys(tids))
        if "AV" not in uniq:
            raise InputError("no ego track (track_id 'AV')", path=str(pq_file), field="track_id")
        if not len(steps):
            raise InputError("no rows", path=str(pq_file), field="timestep")
        T = int(steps.max()) + 1
        A = len(uniq)
        check_grid(A, T, "timestep", str(pq_file))
        row = _index(tids, uniq)
        grid = {k: np.full((A, T), np.nan) for k in ("x", "y", "heading", "vx", "vy", "length", "width")}
        valid = np.zeros((A, T), dtype=bool)
        for k, c in (("x", "position_x"), ("y", "position_y"), ("heading", "heading"),
                     ("vx", "velocity_x"), ("vy", "velocity_y")):
            grid[k][row, steps] = cols[c].astype(float)
        valid[row, steps] = True
        otype = np.zeros(A, dtype=np.int8)
        names = cols["object_type"].astype(str)
        for a, tid in enumerate(uniq):
            name = names[row == a][0]
            t = ObjectType.VEHICLE if tid == "AV" else _TYPES.get(name, ObjectType.STATIC)
            otype[a] = t
            size = _BUS_SIZE if name == "bus" else IMPUTED_SIZE[ObjectType(t)]
            grid["length"][a, valid[a]], grid["width"][a, valid[a]] = size
        e = uniq.index("AV")
        if self.smooth_ego:  # pose jitter, see synth.sources.common.smooth_track
            grid["x"][e], grid["y"][e], grid["vx"][e], grid["vy"][e] = smooth_track(
                grid["x"][e], grid["y"][e], grid["vx"][e], grid["vy"][e], valid[e], CANONICAL_DT)
        sid = str(table.column("scenario_id")[0].as_py()) if "scenario_id" in table.column_names else pq_file.stem
        city = str(table.column("city")[0].as_py()) if "city" in table.column_names else ""
        try:
            return Scenario(scenario_id=sid, source="av2", map_name=city, dt=CANONICAL_DT, track_id=uniq,
                            object_type=otype, size_imputed=np.ones(A, dtype=bool), valid=valid,
                            ego_index=uniq.index("AV"), map=self._map(map_file), **grid)
        except InputError as err:
            raise err.with_path(str(pq_file)) from None

    @staticmethod
    def _map(map_file: Path) -> MapLayer:
        try:
            m = json.loads(map_file.read_text())
        except (OSError, json.JSONDecodeError) as err:
            raise InputError(f"unreadable map JSON: {err}", path=str(map_file)) from None
        try:
            return av2_map_layer(m)
        except (KeyError, TypeError, ValueError) as err:
            if isinstance(err, InputError):
                raise err.with_path(str(map_file)) from None
            raise InputError(f"malformed map ({type(err).__name__}: {err})", path=str(map_file)) from None


def _index(tids: np.ndarray, uniq: list[str]) -> np.ndarray:
    lookup = {t: i for i, t in enumerate(uniq)}
    return np.array([lookup[t] for t in tids])


def av2_map_layer(m: dict) -> MapLayer:
    """MapLayer from an AV2 map-archive dict (motion-forecasting or sensor logs).

    Centerlines come from ``centerline`` or, when absent (sensor logs), the midline of
    the two boundaries. Shared boundaries are written once.
    """
    centerlines, lines, types, lane_polys, seen = [], [], [], [], set()
    for ls in m["lane_segments"].values():
        left, right = _xy(ls["left_lane_boundary"]), _xy(ls["right_lane_boundary"])
        if "centerline" in ls:
            centerlines.append(_xy(ls["centerline"]))
        else:
            n = max(len(left), len(right), 2)
            centerlines.append((resample_polyline(left, n) + resample_polyline(right, n)) / 2)
        if len(left) >= 2 and len(right) >= 2:
            lane_polys.append(shapely.make_valid(shapely.polygons(np.vstack([left, right[::-1]]))))
        for pts, mark in ((left, ls.get("left_lane_mark_type")), (right, ls.get("right_lane_mark_type"))):
            lt = _mark(mark)
            key = tuple(np.round(pts, 2).ravel())
            if lt is None or len(pts) < 2 or key in seen or key[::-1] in seen:
                continue
            seen.add(key)
            lines.append(pts)
            types.append(lt)
    areas = [shapely.make_valid(shapely.polygons(_xy(d["area_boundary"])))
             for d in m.get("drivable_areas", {}).values() if len(d["area_boundary"]) >= 3]
    crosswalks = [np.vstack([_xy(c["edge1"]), _xy(c["edge2"])[::-1]]) for c in m.get("pedestrian_crossings", {}).values()]
    if not areas and not lane_polys:
        raise InputError("no drivable_areas and no lane boundaries", field="drivable_areas")
    da = as_multipolygon(shapely.union_all(areas + lane_polys))
    return MapLayer(centerlines=centerlines, lane_lines=lines, lane_line_types=types, road_edges=[],
                    crosswalks=crosswalks, drivable_area=da, drivable_area_source="EXPLICIT")

