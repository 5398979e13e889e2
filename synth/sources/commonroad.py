"""CommonRoad XML scenarios (2018b and 2020a) -> canonical Scenario.

Lanelets give centerlines (midline of left/right bounds), lane lines (bounds, typed
from ``lineMarking`` in 2020a files, UNKNOWN otherwise) and the drivable area
(EXPLICIT: union of lanelet polygons plus a 0.5 m shoulder, :data:`SHOULDER_M`). Dynamic obstacles (``<obstacle><role>dynamic``
in 2018b, ``<dynamicObstacle>`` in 2020a) become tracks; static obstacles become
STATIC tracks valid at every frame. There is no logged ego: the vehicle with the
longest valid track plays it unless ``ego_id`` names another.
"""
from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Iterator

import numpy as np
import shapely

from schemas import CANONICAL_DT, InputError, LineType, MapLayer, ObjectType, Scenario

from .base import Source
from .common import MAX_FRAMES, as_multipolygon, check_grid, choose_ego, resample_polyline

_TYPES = {
    "car": ObjectType.VEHICLE, "truck": ObjectType.VEHICLE, "bus": ObjectType.VEHICLE,
    "priorityVehicle": ObjectType.VEHICLE, "taxi": ObjectType.VEHICLE, "motorcycle": ObjectType.CYCLIST,
    "bicycle": ObjectType.CYCLIST, "pedestrian": ObjectType.PEDESTRIAN,
}
#: paved shoulder beyond the outer lane markings (lanelet bounds are markings; NGSIM vehicle
#: corners reach up to 0.39 m past them in USA_US101-4_1_T-1)
SHOULDER_M = 0.5
_VARIANT = re.compile(r"^(?P<log>.+)_\d+_T-\d+$")


def commonroad_log_id(benchmark_id: str) -> str:
    """The log of a CommonRoad benchmark id: the prefix before its last ``_<n>_T-<k>``
    (``USA_US101-9_3_T-1`` -> ``USA_US101-9``). Scenarios of one map configuration can share
    recorded traffic (the NGSIM sets), so they must share a split; an id without that suffix is
    its own log."""
    m = _VARIANT.match(benchmark_id)
    return m.group("log") if m else benchmark_id
_MARKS = {"dashed": LineType.BROKEN, "broad_dashed": LineType.BROKEN, "solid": LineType.SOLID,
          "broad_solid": LineType.SOLID}


def _num(el: ET.Element | None, where: str) -> float:
    """Value of an ``<exact>`` child, or the middle of an interval."""
    if el is None:
        raise InputError("element is missing", field=where)
    exact = el.find("exact")
    if exact is not None:
        return float(exact.text)
    lo, hi = el.find("intervalStart"), el.find("intervalEnd")
    if lo is None or hi is None:
        raise InputError("no <exact> or interval value", field=where)
    return 0.5 * (float(lo.text) + float(hi.text))


def _points(bound: ET.Element) -> np.ndarray:
    return np.array([[float(p.find("x").text), float(p.find("y").text)] for p in bound.findall("point")])


class CommonRoadSource(Source):
    """Reads one CommonRoad ``.xml`` file."""

    name = "commonroad"

    def __init__(self, ego_id: str | None = None):
        self.ego_id = ego_id

    @classmethod
    def matches(cls, path: Path) -> bool:
        if not (path.is_file() and path.suffix == ".xml"):
            return False
        with open(path, "rb") as fh:
            return b"<commonRoad" in fh.read(4096)

    def read(self, path: Path) -> Iterator[Scenario]:
        path = Path(path)
        try:
            root = ET.parse(path).getroot()
        except ET.ParseError as err:
            raise InputError(f"malformed XML: {err}", path=str(path)) from None
        try:
            yield self._convert(root, path)
        except InputError as err:
            raise err.with_path(str(path)) from None
        except (AttributeError, TypeError, ValueError) as err:
            raise InputError(f"malformed scenario ({type(err).__name__}: {err})", path=str(path)) from None

    def _convert(self, root: ET.Element, path: Path) -> Scenario:
        dt = float(root.get("timeStepSize", str(CANONICAL_DT)))
        if abs(dt - CANONICAL_DT) > 1e-9:
            raise InputError(f"timeStepSize {dt} is not supported (only {CANONICAL_DT} s)", field="timeStepSize")
        obstacles = [o for o in root if o.tag == "dynamicObstacle"
                     or (o.tag == "obstacle" and (o.findtext("role") or "").strip() == "dynamic")]
        statics = [o for o in root if o.tag == "staticObstacle"
                   or (o.tag == "obstacle" and (o.findtext("role") or "").strip() == "static")]
        tracks = []
        for o in obstacles:
            states = [o.find("initialState")] + list(o.iterfind("trajectory/state"))
            rows = [(int(round(_num(s.find("time"), "time"))), float(s.find("position/point/x").text),
                     float(s.find("position/point/y").text), _num(s.find("orientation"), "orientation"),
                     _num(s.find("velocity"), "velocity") if s.find("velocity") is not None else np.nan)
                    for s in states if s is not None and s.find("position/point") is not None]
            if not rows:
                raise InputError(f"obstacle {o.get('id')} has no state with a position point",
                                 field=f"{o.tag}.initialState.position")
            rows = np.array(rows, dtype=float)
            if not np.isfinite(rows[:, :4]).all():
                raise InputError(f"obstacle {o.get('id')} has a NaN or infinite time, position or orientation",
                                 field=f"{o.tag}.trajectory.state")
            if (rows[:, 0] < 0).any() or rows[:, 0].max() >= MAX_FRAMES:
                raise InputError(f"obstacle {o.get('id')} has a time step outside [0, {MAX_FRAMES})", field="time")
            tracks.append((o, rows))
        if not tracks:
            raise InputError("no dynamic obstacles", field="dynamicObstacle")
        T = int(max(r[:, 0].max() for _, r in tracks)) + 1
        T += int(T < 2)
        check_grid(len(tracks) + len(statics), T, "time")
        all_ = tracks + [(o, None) for o in statics]
        A = len(all_)
        grid = {k: np.full((A, T), np.nan) for k in ("x", "y", "heading", "vx", "vy", "length", "width")}
        valid = np.zeros((A, T), dtype=bool)
        ids, otype = [], np.zeros(A, dtype=np.int8)
        for a, (o, rows) in enumerate(all_):
            ids.append(o.get("id"))
            otype[a] = _TYPES.get((o.findtext("type") or "").strip(), ObjectType.STATIC) if rows is not None \
                else ObjectType.STATIC
            rect = o.find("shape/rectangle")
            if rect is None:
                raise InputError(f"obstacle {o.get('id')} has no rectangle shape", field="shape")
            if rows is None:
                st = o.find("initialState")
                rows = np.array([[t, float(st.find("position/point/x").text), float(st.find("position/point/y").text),
                                  _num(st.find("orientation"), "orientation"), 0.0] for t in range(T)])
            t = rows[:, 0].astype(int)
            if (t < 0).any() or (t >= T).any():
                raise InputError(f"obstacle {o.get('id')} has a time step outside [0, {T})", field="time")
            grid["x"][a, t], grid["y"][a, t], grid["heading"][a, t] = rows[:, 1], rows[:, 2], rows[:, 3]
            speed = rows[:, 4]
            if np.isnan(speed).any():  # no velocity given: finite differences along the track
                speed = np.hypot(np.gradient(rows[:, 1]), np.gradient(rows[:, 2])) / dt if len(t) > 1 else np.zeros(len(t))
            grid["vx"][a, t], grid["vy"][a, t] = speed * np.cos(rows[:, 3]), speed * np.sin(rows[:, 3])
            grid["length"][a, t] = float(rect.findtext("length"))
            grid["width"][a, t] = float(rect.findtext("width"))
            valid[a, t] = True
        ego = choose_ego(otype, valid, grid["x"], grid["y"])
        if self.ego_id is not None:
            if self.ego_id not in ids:
                raise InputError(f"no obstacle {self.ego_id!r} to use as ego", field="ego_id")
            ego = ids.index(self.ego_id)
        sid = root.get("benchmarkID") or path.stem
        return Scenario(scenario_id=sid, log_id=commonroad_log_id(sid), source="commonroad",
                        map_name=root.get("benchmarkID", path.stem).split("_")[1] if "_" in root.get("benchmarkID", "") else "",
                        dt=dt, track_id=ids, object_type=otype, size_imputed=np.zeros(A, dtype=bool),
                        valid=valid, ego_index=ego, map=self._map(root), **grid)

    @staticmethod
    def _map(root: ET.Element) -> MapLayer:
        centerlines, lines, types, polys, seen = [], [], [], [], set()
        for ll in root.findall("lanelet"):
            left, right = ll.find("leftBound"), ll.find("rightBound")
            lp, rp = _points(left), _points(right)
            if len(lp) < 2 or len(rp) < 2:
                raise InputError(f"lanelet {ll.get('id')} has a bound with fewer than 2 points", field="lanelet")
            n = max(len(lp), len(rp))
            centerlines.append((resample_polyline(lp, n) + resample_polyline(rp, n)) / 2)
            polys.append(shapely.make_valid(shapely.polygons(np.vstack([lp, rp[::-1]]))))
            for pts, bound in ((lp, left), (rp, right)):
                key = tuple(np.round(pts, 2).ravel())
                if key in seen or tuple(np.round(pts[::-1], 2).ravel()) in seen:
                    continue
                seen.add(key)
                lines.append(pts)
                types.append(_MARKS.get((bound.findtext("lineMarking") or "").strip(), LineType.UNKNOWN))
        if not polys:
            raise InputError("no lanelets", field="lanelet")
        da = as_multipolygon(shapely.union_all(polys).buffer(SHOULDER_M, quad_segs=2))
        return MapLayer(centerlines=centerlines, lane_lines=lines, lane_line_types=types, road_edges=[],
                        crosswalks=[], drivable_area=da, drivable_area_source="EXPLICIT")

