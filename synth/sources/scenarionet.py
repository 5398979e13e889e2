"""ScenarioNet scenario-description pickles (``.pkl``) -> canonical Scenario.

Loaded through :mod:`synth.sources.safe_pickle` (numpy arrays only). Map types
follow ScenarioNet's names: ``LANE_*`` centerlines (with an optional lane polygon),
``ROAD_LINE_*`` lane lines, ``ROAD_EDGE_*`` road edges, ``CROSSWALK`` polygons. The
drivable area is always DERIVED (ScenarioNet ships no drivable-area polygon): lane
polygons plus centerlines buffered by half the lane width measured on lanes that do
have polygons. Vehicles whose width exceeds their length (nuScenes' ego) are swapped.
The ego's positions carry timing jitter (nuScenes: up to ~0.2 m along track between
10 Hz frames), so by default (``smooth_ego``) they are Savitzky-Golay filtered (2.1 s
window, cubic) and the ego velocity is the derivative of that fit.
Signals: ``dynamic_map_states`` (Waymo's lane states and stop points) become the SignalLayer
(:func:`synth.sources.signal_readers.scenarionet_signals`).
Heights: ``z`` is ``position[:, 2]`` (box centre, m) and ``height`` the state's ``(T, 1)`` box
height; a track whose z is 0 at every valid frame (the nuScenes ego) has z unknown.
"""
from __future__ import annotations

from pathlib import Path
from typing import Iterator

import numpy as np
import shapely

from schemas import CANONICAL_DT, InputError, LineType, MapLayer, ObjectType, Scenario

from .base import Source
from .common import (derive_drivable_area, drivable_from_road_edges, fix_swapped_sizes, placeholder_z_unknown,
                     resample_linear, smooth_track)
from .safe_pickle import load_restricted
from .signal_readers import scenarionet_signals

_TYPES = {
    "VEHICLE": ObjectType.VEHICLE,
    "PEDESTRIAN": ObjectType.PEDESTRIAN,
    "CYCLIST": ObjectType.CYCLIST,
    "TRAFFIC_CONE": ObjectType.STATIC,
    "TRAFFIC_BARRIER": ObjectType.STATIC,
    "TRAFFIC_OBJECT": ObjectType.STATIC,
}
#: half lane width (m) used when a scene has no lane polygon to measure
DEFAULT_HALF_WIDTH = 1.9
#: metadata keys that name the recording a ScenarioNet scenario was cut from, in order of preference
LOG_KEYS = ("log_id", "log_name", "segment_id", "segment_name")


def scenarionet_log_id(meta: dict) -> str:
    """The log a ScenarioNet scenario belongs to: the first of :data:`LOG_KEYS` its metadata holds,
    else empty (the scenario is its own log). nuScenes conversions name no log, and the nuScenes
    scene (the scenario) is the unit; Waymo Open Motion scenarios name no segment in their
    metadata, so each is its own log unless the converter added one."""
    for key in LOG_KEYS:
        v = meta.get(key)
        if isinstance(v, (str, int)) and str(v):
            return str(v)
    return ""


def _line_type(name: str) -> LineType:
    if "BROKEN" in name:
        return LineType.BROKEN
    if "DOUBLE" in name:
        return LineType.DOUBLE_SOLID
    if "SOLID" in name:
        return LineType.SOLID
    return LineType.UNKNOWN


class ScenarioNetSource(Source):
    """Reads one ScenarioNet ``.pkl`` file (one scenario)."""

    name = "scenarionet"

    def __init__(self, smooth_ego: bool = True):
        self.smooth_ego = smooth_ego

    @classmethod
    def matches(cls, path: Path) -> bool:
        return path.is_file() and path.suffix == ".pkl" and not path.name.startswith(("dataset_", "_"))

    def read(self, path: Path) -> Iterator[Scenario]:
        path = Path(path)
        data = load_restricted(path)
        try:
            yield self._convert(data, str(path))
        except InputError as err:
            raise err.with_path(str(path)) from None
        except (KeyError, TypeError, ValueError, IndexError, AttributeError) as err:
            raise InputError(f"malformed scenario description ({type(err).__name__}: {err})", path=str(path)) from None

    # ------------------------------------------------------------------ helpers
    def _convert(self, d: dict, where: str) -> Scenario:
        if not isinstance(d, dict):
            raise InputError(f"top level is {type(d).__name__}, expected dict", field="<root>")
        for key in ("id", "tracks", "map_features", "metadata"):
            if key not in d:
                raise InputError("key is missing", field=key)
        meta = d["metadata"]
        sdc = meta.get("sdc_id")
        dt_src = float(meta.get("sample_rate", CANONICAL_DT))
        tracks = d["tracks"]
        if sdc not in tracks:
            raise InputError(f"sdc_id {sdc!r} is not a track", field="metadata.sdc_id")
        ids, types, cols = [], [], {k: [] for k in ("x", "y", "heading", "vx", "vy", "length", "width", "z", "height",
                                                     "valid")}
        T = None
        for tid, tr in tracks.items():
            ttype = str(tr.get("type", ""))
            if ttype not in _TYPES:
                continue
            st = tr["state"]
            pos = np.asarray(st["position"], dtype=float)
            T = T or len(pos)
            if pos.ndim != 2 or len(pos) != T:
                raise InputError(f"track {tid!r} has shape {pos.shape}, expected ({T}, 2|3)", field="state.position")
            valid = np.asarray(st["valid"]).reshape(-1).astype(bool)
            vel = np.asarray(st.get("velocity", np.zeros((T, 2))), dtype=float).reshape(T, -1)
            ids.append(str(tid))
            types.append(_TYPES[ttype])
            cols["x"].append(pos[:, 0]); cols["y"].append(pos[:, 1])
            cols["heading"].append(np.asarray(st["heading"], dtype=float).reshape(T))
            cols["vx"].append(vel[:, 0]); cols["vy"].append(vel[:, 1])
            cols["length"].append(np.asarray(st["length"], dtype=float).reshape(T))
            cols["width"].append(np.asarray(st["width"], dtype=float).reshape(T))
            # box-centre height and box height (m); NaN where absent (2-D positions, no height key, height 0)
            cols["z"].append(pos[:, 2] if pos.shape[1] >= 3 else np.full(T, np.nan))
            h = np.asarray(st["height"], dtype=float).reshape(T) if "height" in st else np.full(T, np.nan)
            cols["height"].append(np.where(h > 0, h, np.nan))
            cols["valid"].append(valid)
        arr = {k: np.stack(v) for k, v in cols.items()}
        arr["z"] = placeholder_z_unknown(arr["z"], arr["valid"])  # the nuScenes ego's z is 0 throughout
        for k in ("x", "y"):
            bad = arr["valid"] & ~np.isfinite(arr[k])
            if bad.any():
                a = int(np.argwhere(bad)[0][0])
                raise InputError(f"NaN position at a valid frame of track {ids[a]!r}", field=f"tracks.state.position.{k}")
        otype = np.array(types, dtype=np.int8)
        fix_swapped_sizes(otype, arr["length"], arr["width"])
        e = ids.index(str(sdc))
        if self.smooth_ego:
            arr["x"][e], arr["y"][e], arr["vx"][e], arr["vy"][e] = smooth_track(
                arr["x"][e], arr["y"][e], arr["vx"][e], arr["vy"][e], arr["valid"][e], dt_src)
        if abs(dt_src - CANONICAL_DT) > 1e-6:
            arr = self._resample(arr, dt_src)
        return Scenario(
            scenario_id=str(d["id"]),
            log_id=scenarionet_log_id(meta),
            source=str(meta.get("dataset", "scenarionet")),
            map_name=str(meta.get("map", "")),
            dt=CANONICAL_DT,
            track_id=ids,
            object_type=otype,
            size_imputed=np.zeros(len(ids), dtype=bool),
            ego_index=ids.index(str(sdc)),
            map=self._map(d["map_features"]),
            # per controlled lane, at 10 Hz (the state at or before each frame): synth.sources.signal_readers
            signals=scenarionet_signals(d.get("dynamic_map_states"), d["map_features"], T, dt_src,
                                        arr["x"].shape[1], CANONICAL_DT),
            **arr,
        )

    @staticmethod
    def _resample(arr: dict, dt_src: float) -> dict:
        T = arr["x"].shape[1]
        t_src = np.arange(T) * dt_src
        t_dst = np.arange(0.0, t_src[-1] + 1e-9, CANONICAL_DT)
        out = {k: [] for k in arr}
        for a in range(arr["x"].shape[0]):
            v = arr["valid"][a]
            ok = None
            for k in ("x", "y", "heading", "vx", "vy", "length", "width", "z", "height"):
                r, ok = resample_linear(t_src, arr[k][a], v, t_dst, max_gap=2.5 * dt_src, angle=k == "heading")
                out[k].append(r)
            out["valid"].append(ok)
        return {k: np.stack(v) for k, v in out.items()}

    @staticmethod
    def _map(features: dict) -> MapLayer:
        centerlines, lane_polys, widths, lines, line_types, edges, crosswalks = [], [], [], [], [], [], []
        for fid, f in features.items():
            ftype = str(f.get("type", ""))
            if ftype.startswith("LANE_"):
                pl = np.asarray(f["polyline"], dtype=float)[:, :2]
                if len(pl) < 2:
                    continue
                centerlines.append(pl)
                poly = f.get("polygon")
                if poly is not None and len(poly) >= 3:
                    ring = np.asarray(poly, dtype=float)[:, :2]
                    lane_polys.append(ring)
                    length = shapely.length(shapely.linestrings(pl))
                    if length > 1.0:
                        widths.append(shapely.area(shapely.make_valid(shapely.polygons(ring))) / length)
            elif ftype.startswith("ROAD_LINE"):
                pl = np.asarray(f["polyline"], dtype=float)[:, :2]
                if len(pl) >= 2:
                    lines.append(pl)
                    line_types.append(_line_type(ftype))
            elif ftype.startswith("ROAD_EDGE"):
                pl = np.asarray(f["polyline"], dtype=float)[:, :2]
                if len(pl) >= 2:
                    edges.append(pl)
            elif ftype == "CROSSWALK":
                ring = np.asarray(f.get("polygon", f.get("polyline")), dtype=float)[:, :2]
                if len(ring) >= 3:
                    crosswalks.append(ring)
        if not centerlines:
            raise InputError("no lane centerlines to derive a drivable area from", field="map_features")
        half = float(np.clip(np.median(widths) / 2, 1.5, 2.5)) if widths else DEFAULT_HALF_WIDTH
        if edges and not lane_polys:   # Waymo: road edges, no lane polygons: the road reaches to its edges
            da, how = drivable_from_road_edges(centerlines, edges, half), "ROAD_EDGES"
        else:
            da, how = derive_drivable_area(lane_polys, centerlines, half), "DERIVED"
        return MapLayer(centerlines=centerlines, lane_lines=lines, lane_line_types=line_types, road_edges=edges,
                        crosswalks=crosswalks, drivable_area=da, drivable_area_source=how)
