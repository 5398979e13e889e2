"""Round trip between :class:`Scenario` and the ``scenarios`` / ``map_features`` / ``signals`` tables.

The round trip is exact: floats are stored as float64 and geometries as WKB. A scenario without
signals has zero ``signals`` rows and comes back with an empty :class:`SignalLayer`.
"""
from __future__ import annotations

from collections import defaultdict

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import shapely

from .enums import DrivableAreaSource, LineType, MapFeatureType, ObjectType, SignalState
from .errors import InputError
from .map_layer import MapLayer
from .scenario import Scenario
from .signals import SignalLayer
from .tables import MAP_FEATURES_SCHEMA, SCENARIOS_SCHEMA, SIGNALS_SCHEMA, check_schema
from .tracks import TRACK_FIELDS

_OBJ_NAMES = np.array([t.name for t in ObjectType])
_SIGNAL_NAMES = np.array([s.name for s in SignalState])


def scenario_to_tables(scn: Scenario) -> tuple[pa.Table, pa.Table, pa.Table]:
    """Return ``(scenarios_table, map_features_table, signals_table)`` for one scenario."""
    A, T = scn.valid.shape
    n = A * T
    valid = scn.valid.reshape(-1)
    frame = np.tile(np.arange(T, dtype=np.int32), A)
    track_index = np.repeat(np.arange(A, dtype=np.int32), T)
    cols = {
        "scenario_id": pa.array([scn.scenario_id] * n, pa.string()),
        "log_id": pa.array([scn.log_id] * n, pa.string()),
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
    for name in ("z", "height"):  # null where unknown or not valid; all null when the source has none
        arr = getattr(scn, name)
        cols[name] = (pa.nulls(n, pa.float64()) if arr is None
                      else pa.array(arr.reshape(-1), mask=np.isnan(arr).reshape(-1)))
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
    return scen, feats, signals_table(scn)


def signals_table(scn: Scenario) -> pa.Table:
    """The ``signals`` rows of one scenario: one per (controlled lane, frame), lane-major (none without signals)."""
    sig = scn.signals
    L, T = sig.state.shape
    lane = np.repeat(np.arange(L, dtype=np.int32), T)

    def path(k: int) -> pa.Array:   # coordinate k of every lane's path, repeated on each of its frames
        return pa.array(np.repeat(sig.lane_path[:, :, k], T, axis=0).tolist(), pa.list_(pa.float64()))

    z = np.repeat(sig.stop_z, T)
    return pa.table({
        "scenario_id": pa.array([scn.scenario_id] * (L * T), pa.string()),
        "lane_index": pa.array(lane),
        "lane_id": pa.array(np.repeat(np.array(sig.lane_ids, dtype=object), T), pa.string()),
        "frame": pa.array(np.tile(np.arange(T, dtype=np.int32), L)),
        "state": pa.array(_SIGNAL_NAMES[sig.state.reshape(-1)], pa.string()),
        "stop_x": pa.array(np.repeat(sig.stop_point[:, 0], T)),
        "stop_y": pa.array(np.repeat(sig.stop_point[:, 1], T)),
        "stop_z": pa.array(z, mask=np.isnan(z)),
        "path_x": path(0),
        "path_y": path(1),
    }, schema=SIGNALS_SCHEMA)


def _signals_from_rows(sid: str, rows: pa.Table, T: int, where: str) -> SignalLayer:
    """The SignalLayer of scenario ``sid`` (``T`` frames) from its ``signals`` rows (a full lane x frame grid)."""
    if not len(rows):
        return SignalLayer.empty(T)
    rows = rows.take(pc.sort_indices(rows, [("lane_index", "ascending"), ("frame", "ascending")]))
    li, fr = np.asarray(rows.column("lane_index")), np.asarray(rows.column("frame"))
    L = int(li.max()) + 1
    if len(rows) != L * T or not (np.array_equal(li, np.repeat(np.arange(L), T))
                                  and np.array_equal(fr, np.tile(np.arange(T), L))):
        raise InputError(f"scenario {sid!r}: signals are not a full [lane, frame] grid of its {T} frames", path=where,
                         field="signals.frame")
    first = np.arange(L) * T
    get = lambda c: rows.column(c).take(pa.array(first)).to_pylist()  # noqa: E731
    names = np.asarray(rows.column("state").to_numpy(zero_copy_only=False), dtype=object)
    try:
        state = np.array([SignalState[n] for n in names], dtype=np.int8).reshape(L, T)
        path = np.stack([np.array(get("path_x"), dtype=np.float64), np.array(get("path_y"), dtype=np.float64)], -1)
    except KeyError as err:
        raise InputError(f"scenario {sid!r}: {err} is not a SignalState", path=where, field="signals.state") from None
    except ValueError:
        raise InputError(f"scenario {sid!r}: lane paths differ in length", path=where, field="signals.path_x") from None
    z = np.array([np.nan if v is None else v for v in get("stop_z")], dtype=np.float64)
    try:
        return SignalLayer(lane_ids=get("lane_id"), stop_point=np.column_stack([get("stop_x"), get("stop_y")]),
                           lane_path=path, state=state, stop_z=z)
    except InputError as err:
        raise err.with_path(where) from None


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


def tables_to_scenarios(scenarios: pa.Table, map_features: pa.Table, signals: pa.Table,
                        where: str = "<tables>") -> list[Scenario]:
    """Rebuild every scenario held in the three tables (order of first appearance); a scenario without
    ``signals`` rows has no signals. Signal rows of a scenario the ``scenarios`` table lacks are refused."""
    check_schema(scenarios, SCENARIOS_SCHEMA, where)
    check_schema(map_features, MAP_FEATURES_SCHEMA, where)
    check_schema(signals, SIGNALS_SCHEMA, where)
    out = []
    sids = scenarios.column("scenario_id")
    stray = set(pc.unique(signals.column("scenario_id")).to_pylist()) - set(pc.unique(sids).to_pylist())
    if stray:
        raise InputError(f"signals of scenario {sorted(stray)[0]!r}, which the scenarios table lacks", path=where,
                         field="signals.scenario_id")
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
        sig = _signals_from_rows(sid, signals.filter(pc.equal(signals.column("scenario_id"), sid)), T, where)
        try:
            out.append(Scenario(
                scenario_id=sid,
                log_id=s.column("log_id")[0].as_py(),
                source=s.column("source")[0].as_py(),
                map_name=s.column("map_name")[0].as_py(),
                dt=s.column("dt")[0].as_py(),
                track_id=get("track_id")[first].tolist(),
                object_type=[ObjectType[n] for n in get("object_type")[first]],
                size_imputed=get("size_imputed")[first],
                valid=get("valid").reshape(A, T),
                ego_index=int(ego_rows[0]),
                map=_map_from_rows(sid, f, where),
                signals=sig,
                **{k: get(k).astype(np.float64).reshape(A, T) for k in TRACK_FIELDS},
                # an all-null z / height column comes back as None (Scenario drops arrays with no known value)
                **{k: get(k).astype(np.float64).reshape(A, T) for k in ("z", "height")},
            ))
        except InputError as err:
            raise err.with_path(where) from None
    return out
