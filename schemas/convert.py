"""Round trip between :class:`Scenario` and the ``scenarios`` / ``map_features`` tables.

The round trip is exact: floats are stored as float64 and geometries as WKB.
"""
from __future__ import annotations

from collections import defaultdict

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import shapely

from .enums import DrivableAreaSource, LineType, MapFeatureType, ObjectType
from .errors import InputError
from .map_layer import MapLayer
from .scenario import Scenario
from .tables import MAP_FEATURES_SCHEMA, SCENARIOS_SCHEMA, check_schema
from .tracks import TRACK_FIELDS

_OBJ_NAMES = np.array([t.name for t in ObjectType])


def scenario_to_tables(scn: Scenario) -> tuple[pa.Table, pa.Table]:
    """Return ``(scenarios_table, map_features_table)`` for one scenario."""
    A, T = scn.valid.shape
    n = A * T
    valid = scn.valid.reshape(-1)
    frame = np.tile(np.arange(T, dtype=np.int32), A)
    track_index = np.repeat(np.arange(A, dtype=np.int32), T)
    cols = {
        "scenario_id": pa.array([scn.scenario_id] * n, pa.string()),
        "source": pa.array([scn.source] * n, pa.string()),
        "map_name": pa.array([scn.map_name] * n, pa.string()),
        "dt": pa.array(np.full(n, scn.dt)),
        "track_id": pa.array(np.repeat(np.array(scn.track_id, dtype=object), T), pa.string()),
        "track_index": pa.array(track_index),
        "object_type": pa.array(_OBJ_NAMES[np.repeat(scn.object_type, T)], pa.string()),
        "size_imputed": pa.array(np.repeat(scn.size_imputed, T)),
        "is_ego": pa.array(track_index == scn.ego_index),
        "frame": pa.array(frame),
        "t": pa.array(frame * scn.dt),
        "valid": pa.array(valid),
    }
    for name in TRACK_FIELDS:
        cols[name] = pa.array(getattr(scn, name).reshape(-1), mask=~valid)
    scen = pa.table(cols, schema=SCENARIOS_SCHEMA)

    rows: dict[str, list] = defaultdict(list)

    def add(ftype: MapFeatureType, idx: int, geom, line_type=None, da_source=None):
        rows["scenario_id"].append(scn.scenario_id)
        rows["feature_type"].append(ftype.name)
        rows["feature_index"].append(idx)
        rows["line_type"].append(line_type)
        rows["drivable_area_source"].append(da_source)
        rows["geometry"].append(shapely.to_wkb(geom))

    m = scn.map
    for i, pts in enumerate(m.centerlines):
        add(MapFeatureType.LANE_CENTERLINE, i, shapely.linestrings(pts))
    for i, (pts, lt) in enumerate(zip(m.lane_lines, m.lane_line_types)):
        add(MapFeatureType.LANE_LINE, i, shapely.linestrings(pts), line_type=lt.name)
    for i, pts in enumerate(m.road_edges):
        add(MapFeatureType.ROAD_EDGE, i, shapely.linestrings(pts))
    for i, pts in enumerate(m.crosswalks):
        add(MapFeatureType.CROSSWALK, i, shapely.polygons(pts))
    add(MapFeatureType.DRIVABLE_AREA, 0, m.drivable_area, da_source=m.drivable_area_source.name)
    feats = pa.table(dict(rows), schema=MAP_FEATURES_SCHEMA)
    return scen, feats


def _map_from_rows(sid: str, feats: pa.Table, where: str) -> MapLayer:
    ftype = np.array(feats.column("feature_type").to_pylist(), dtype=object)
    order = np.lexsort((np.asarray(feats.column("feature_index")), ftype))
    geoms = shapely.from_wkb(np.asarray(feats.column("geometry").to_pylist(), dtype=object)[order])
    ftype = ftype[order]
    line_type = np.array(feats.column("line_type").to_pylist(), dtype=object)[order]
    da_src = np.array(feats.column("drivable_area_source").to_pylist(), dtype=object)[order]
    coords = lambda g: shapely.get_coordinates(g)  # noqa: E731
    by = lambda t: np.flatnonzero(ftype == t.name)  # noqa: E731
    da_rows = by(MapFeatureType.DRIVABLE_AREA)
    if len(da_rows) != 1:
        raise InputError(f"scenario {sid!r} has {len(da_rows)} DRIVABLE_AREA rows, expected 1", path=where,
                         field="feature_type")
    lanes = by(MapFeatureType.LANE_LINE)
    return MapLayer(
        centerlines=[coords(geoms[i]) for i in by(MapFeatureType.LANE_CENTERLINE)],
        lane_lines=[coords(geoms[i]) for i in lanes],
        lane_line_types=[LineType.parse(line_type[i]) for i in lanes],
        road_edges=[coords(geoms[i]) for i in by(MapFeatureType.ROAD_EDGE)],
        crosswalks=[coords(geoms[i].exterior)[:-1] for i in by(MapFeatureType.CROSSWALK)],
        drivable_area=geoms[da_rows[0]],
        drivable_area_source=DrivableAreaSource.parse(da_src[da_rows[0]]),
    )


def tables_to_scenarios(scenarios: pa.Table, map_features: pa.Table, where: str = "<tables>") -> list[Scenario]:
    """Rebuild every scenario held in the two tables (order of first appearance)."""
    check_schema(scenarios, SCENARIOS_SCHEMA, where)
    check_schema(map_features, MAP_FEATURES_SCHEMA, where)
    out = []
    sids = scenarios.column("scenario_id")
    for sid in pc.unique(sids).to_pylist():
        s = scenarios.filter(pc.equal(sids, sid))
        s = s.take(pc.sort_indices(s, [("track_index", "ascending"), ("frame", "ascending")]))
        ti = np.asarray(s.column("track_index"))
        fr = np.asarray(s.column("frame"))
        A, T = int(ti.max()) + 1, int(fr.max()) + 1
        if len(s) != A * T or not (np.array_equal(ti, np.repeat(np.arange(A), T))
                                   and np.array_equal(fr, np.tile(np.arange(T), A))):
            raise InputError(f"scenario {sid!r} is not a full [track, frame] grid", path=where, field="frame")
        first = np.arange(A) * T
        get = lambda c: np.asarray(s.column(c).to_numpy(zero_copy_only=False))  # noqa: E731
        ego_rows = np.flatnonzero(get("is_ego")[first])
        if len(ego_rows) != 1:
            raise InputError(f"scenario {sid!r} has {len(ego_rows)} ego tracks", path=where, field="is_ego")
        f = map_features.filter(pc.equal(map_features.column("scenario_id"), sid))
        try:
            out.append(Scenario(
                scenario_id=sid,
                source=s.column("source")[0].as_py(),
                map_name=s.column("map_name")[0].as_py(),
                dt=s.column("dt")[0].as_py(),
                track_id=get("track_id")[first].tolist(),
                object_type=[ObjectType[n] for n in get("object_type")[first]],
                size_imputed=get("size_imputed")[first],
                valid=get("valid").reshape(A, T),
                ego_index=int(ego_rows[0]),
                map=_map_from_rows(sid, f, where),
                **{k: get(k).astype(np.float64).reshape(A, T) for k in TRACK_FIELDS},
            ))
        except InputError as err:
            raise err.with_path(where) from None
    return out
