"""Cross-checks of our readers against the official ones on the shared samples (test-only extra).

Install with ``pip install -e .[crosscheck]`` (``av2``, ``commonroad-io``); every test skips with a
reason when its package or its sample folder is absent. Where the data pass through unchanged
(positions, headings, sizes, ids, boundaries, crosswalks) the tolerance is 1e-6 m / rad; where
both sides interpolate the same way it is 2e-5 m (:data:`GRID_TOL`); the looser checks (CommonRoad
centerlines, which we resample by arc length and commonroad-io averages vertex by vertex, and the
motion-forecasting JSON centerlines, which av2 does not keep) say so.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import shapely

from schemas import CANONICAL_DT
from synth.sources import Av2SensorSource, Av2Source, CommonRoadSource
from synth.sources.av2_sensor import (ANNOTATION_COLUMNS, EGO_AXLE_HEIGHT_M, EGO_CENTER_OFFSET_M, POSE_COLUMNS,
                                      POSE_FILE, city_cuboids, read_table)
from tests.conftest import real_path

TOL = 1e-6
#: m: resample_linear takes a sample as is within 1e-6 s of a grid time (1e-6 s x up to 20 m/s)
GRID_TOL = 2e-5
CR_FILES = [("commonroad_ngsim", n) for n in ("USA_US101-3_3_T-1", "USA_US101-4_1_T-1", "USA_Lanker-1_1_T-1",
                                              "USA_Peach-4_8_T-1")] + \
           [("commonroad_ngsim_benchmark", n) for n in ("USA_US101-1_1_T-1", "USA_Peach-4_3_T-1", "USA_Lanker-1_2_T-1")]


def _wrap(a):
    return (np.asarray(a) + np.pi) % (2 * np.pi) - np.pi


def _key(pts) -> tuple:
    return tuple(np.round(np.asarray(pts)[:, :2], 6).ravel())


def _same_polyline_set(ours, theirs) -> bool:
    """Both lists hold the same polylines up to direction and duplicates, to 1e-6 m."""
    both = lambda lines: {_key(p) for p in lines} | {_key(p[::-1]) for p in lines}  # noqa: E731
    return both(ours) == both(theirs)


# ----------------------------------------------------------------------------- CommonRoad


@pytest.mark.parametrize("folder, name", CR_FILES)
def test_commonroad_tracks_and_lanelets_match_commonroad_io(folder, name):
    reader = pytest.importorskip("commonroad.common.file_reader", reason="commonroad-io not installed "
                                 "(pip install -e .[crosscheck])")
    path = real_path(folder, f"{name}.xml")
    (ours,) = CommonRoadSource().read(path)
    scenario, _ = reader.CommonRoadFileReader(str(path)).open()
    obstacles = list(scenario.dynamic_obstacles) + list(scenario.static_obstacles)
    assert sorted(ours.track_id) == sorted(str(o.obstacle_id) for o in obstacles)
    worst = 0.0
    for o in scenario.dynamic_obstacles:
        a = ours.track_id.index(str(o.obstacle_id))
        states = [o.initial_state] + list(o.prediction.trajectory.state_list if o.prediction else [])
        t = np.array([s.time_step for s in states])
        pos = np.array([s.position for s in states])
        assert ours.valid[a].sum() == len(t) and ours.valid[a, t].all()
        worst = max(worst, np.abs(ours.x[a, t] - pos[:, 0]).max(), np.abs(ours.y[a, t] - pos[:, 1]).max(),
                    np.abs(_wrap(ours.heading[a, t] - np.array([s.orientation for s in states]))).max())
        assert np.allclose(ours.length[a, t], o.obstacle_shape.length, atol=TOL, rtol=0)
        assert np.allclose(ours.width[a, t], o.obstacle_shape.width, atol=TOL, rtol=0)
    assert worst < TOL, f"{name}: max pose difference {worst:.3g}"
    lanelets = scenario.lanelet_network.lanelets
    assert len(ours.map.centerlines) == len(lanelets)
    bounds = [ll.left_vertices for ll in lanelets] + [ll.right_vertices for ll in lanelets]
    assert _same_polyline_set(ours.map.lane_lines, bounds)
    by_start = {_key(c[[0, -1]]): c for c in ours.map.centerlines}
    off = 0.0
    for ll in lanelets:  # same end points; inner points differ (arc-length resampling vs vertex average)
        mine = by_start[_key(ll.center_vertices[[0, -1]])]
        off = max(off, shapely.distance(shapely.linestrings(mine), shapely.points(ll.center_vertices)).max())
    # two definitions of a midline: up to 0.47 m apart on the curved Lankershim lanelets, < 0.05 m on US-101
    assert off < 0.75, f"{name}: centerline vertices up to {off:.3f} m from ours"


# ----------------------------------------------------------------------------- Argoverse 2 motion forecasting


def _av2(module: str):
    return pytest.importorskip(module, reason="av2 not installed (pip install -e .[crosscheck])")


def test_av2_motion_forecasting_tracks_match_the_av2_scenario_loader():
    ser = _av2("av2.datasets.motion_forecasting.scenario_serialization")
    folder = real_path("av2_motion_forecasting")
    folder = next(p for p in folder.iterdir() if Av2Source.matches(p))
    (ours,) = Av2Source(smooth_ego=False).read(folder)
    theirs = ser.load_argoverse_scenario_parquet(next(folder.glob("scenario_*.parquet")))
    assert ours.scenario_id == theirs.scenario_id
    assert list(ours.track_id) == [t.track_id for t in theirs.tracks]
    worst = 0.0
    for a, track in enumerate(theirs.tracks):
        t = np.array([s.timestep for s in track.object_states])
        assert ours.valid[a].sum() == len(t) and ours.valid[a, t].all()
        pos = np.array([s.position for s in track.object_states])
        vel = np.array([s.velocity for s in track.object_states])
        head = np.array([s.heading for s in track.object_states])
        worst = max(worst, np.abs(ours.x[a, t] - pos[:, 0]).max(), np.abs(ours.y[a, t] - pos[:, 1]).max(),
                    np.abs(_wrap(ours.heading[a, t] - head)).max(), np.abs(ours.vx[a, t] - vel[:, 0]).max(),
                    np.abs(ours.vy[a, t] - vel[:, 1]).max())
    assert worst < TOL, f"max state difference {worst:.3g}"


def _check_map_against_av2(ours_map, map_path: Path, midline: bool) -> None:
    """Lane ids / order, boundaries, crosswalks, drivable areas; centerlines exactly when ``midline``
    (sensor maps: both sides take the arc-length midline of the boundaries)."""
    map_api = _av2("av2.map.map_api")
    interp = _av2("av2.geometry.interpolate")
    avm = map_api.ArgoverseStaticMap.from_json(map_path)
    raw = json.loads(map_path.read_text())
    assert avm.get_scenario_lane_segment_ids() == [ls["id"] for ls in raw["lane_segments"].values()]
    segs = list(avm.vector_lane_segments.values())
    assert len(ours_map.centerlines) == len(segs)
    worst = 0.0
    for mine, seg in zip(ours_map.centerlines, segs):
        left, right = seg.left_lane_boundary.xyz[:, :2], seg.right_lane_boundary.xyz[:, :2]
        if midline:
            theirs, _ = interp.compute_midpoint_line(left, right, num_interp_pts=len(mine))
            worst = max(worst, np.abs(mine - theirs).max())
        else:  # the JSON centerline passes through; av2 keeps none, so its midline is only close
            theirs, _ = interp.compute_midpoint_line(left, right)
            assert shapely.distance(shapely.linestrings(mine), shapely.points(theirs)).max() < 0.5  # 0.17 m seen
    assert worst < TOL, f"{map_path.name}: max centerline difference {worst:.3g} m"
    marked = [b.xyz for s in segs for b, m in ((s.left_lane_boundary, s.left_mark_type),
                                              (s.right_lane_boundary, s.right_mark_type)) if m.value != "NONE"]
    assert _same_polyline_set(ours_map.lane_lines, marked)
    crossings = [c.polygon[:-1, :2] for c in avm.get_scenario_ped_crossings()]
    assert len(ours_map.crosswalks) == len(crossings)
    assert all(np.abs(a - b).max() < TOL for a, b in zip(ours_map.crosswalks, crossings))
    for da in avm.get_scenario_vector_drivable_areas():
        poly = shapely.make_valid(shapely.polygons(da.xyz[:, :2]))
        assert shapely.difference(poly, ours_map.drivable_area).area < 1e-3  # m^2, union / make_valid noise


def test_av2_motion_forecasting_map_matches_argoverse_static_map():
    folder = real_path("av2_motion_forecasting")
    folder = next(p for p in folder.iterdir() if Av2Source.matches(p))
    (ours,) = Av2Source(smooth_ego=False).read(folder)
    _check_map_against_av2(ours.map, next(folder.glob("log_map_archive_*.json")), midline=False)


# ----------------------------------------------------------------------------- Argoverse 2 sensor logs


def _sensor_logs() -> list[Path]:
    root = real_path("av2_sensor_annotations")
    return sorted(p for p in root.iterdir() if Av2SensorSource.matches(p))


def test_av2_sensor_cuboids_and_ego_match_av2_pose_and_cuboid_loaders():
    io = _av2("av2.utils.io")
    cuboid = _av2("av2.structures.cuboid")
    geometry = _av2("av2.geometry.geometry")
    for log in _sensor_logs():
        ann_path = next(p for p in log.glob("annotations*.feather"))
        city_SE3_ego = io.read_city_SE3_ego(log)
        cuboids = cuboid.CuboidList.from_feather(ann_path).cuboids
        frame = io.read_feather(ann_path)
        keep = (frame["category"] != "EGO_VEHICLE").to_numpy()
        composed = [city_SE3_ego[int(c.timestamp_ns)].compose(c.dst_SE3_object) for c, k in zip(cuboids, keep) if k]
        xyz = np.array([s.translation for s in composed])
        yaw = geometry.mat_to_xyz(np.array([s.rotation for s in composed]))[:, 2]
        ann = {k: v[keep] for k, v in read_table(ann_path, ANNOTATION_COLUMNS).items()}
        mine = city_cuboids(ann, read_table(log / POSE_FILE, POSE_COLUMNS), log / POSE_FILE)
        assert np.abs(np.column_stack([mine["x"], mine["y"], mine["z"]]) - xyz).max() < TOL
        assert np.abs(_wrap(mine["yaw"] - yaw)).max() < TOL
        # the 10 Hz grid: av2's per-sweep poses interpolated at the grid times (inside each track's sweeps)
        scn, extras = Av2SensorSource().read_log(log)
        t_first = int(frame["timestamp_ns"].min())
        t_grid = np.arange(scn.num_frames) * CANONICAL_DT
        uuids = frame["track_uuid"].to_numpy()[keep]
        ts = (frame["timestamp_ns"].to_numpy()[keep] - t_first) / 1e9
        worst = 0.0
        for a, tid in enumerate(scn.track_id[1:], start=1):
            sel = np.flatnonzero(uuids == tid)
            sel = sel[np.argsort(ts[sel])]
            inner = scn.valid[a] & (t_grid >= ts[sel[0]]) & (t_grid <= ts[sel[-1]])
            for j, axis in enumerate("xy"):
                ref = np.interp(t_grid[inner], ts[sel], xyz[sel, j])
                worst = max(worst, np.abs(getattr(scn, axis)[a, inner] - ref).max(initial=0.0))
        assert worst < GRID_TOL, f"{log.name}: grid differs from interpolated av2 cuboids by {worst:.3g} m"
        # the ego: av2 city_SE3_ego applied to the box centre (EGO_CENTER_OFFSET_M ahead of the rear axle,
        # half the box height above the ground, which lies EGO_AXLE_HEIGHT_M below the ego origin)
        pose_t = np.array(sorted(city_SE3_ego))
        lever = np.array([[EGO_CENTER_OFFSET_M, 0.0, extras["height"][0, 0] / 2 - EGO_AXLE_HEIGHT_M]])
        centre = np.array([city_SE3_ego[t].transform_from(lever)[0] for t in pose_t])
        e = scn.valid[0]
        for j, axis in enumerate("xy"):
            ref = np.interp(t_grid[e], (pose_t - t_first) / 1e9, centre[:, j])
            assert np.abs(getattr(scn, axis)[0, e] - ref).max() < GRID_TOL


def test_av2_sensor_maps_match_argoverse_static_map():
    for log in _sensor_logs():
        scn, _ = Av2SensorSource().read_log(log)
        _check_map_against_av2(scn.map, next((log / "map").glob("log_map_archive_*.json")), midline=True)
