"""Argoverse 2 sensor-log reader: hand-built logs with hand-computed city poses, malformed input, shared logs.

Fixture geometry: the ego drives along city +y at 10 m/s, its frame rotated by +90 degrees
(ego x = city +y, ego y = city -x) and translated to (100, 200 + 10 t, 10). A cuboid at ego
(5, 2, 0.8) with yaw 0 is then at city (100 - 2, 200 + 10 t + 5, 10.8) with heading pi/2.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.feather as feather
import pytest
import shapely

from schemas import CANONICAL_DT, InputError, ObjectType
from synth.geometry import box_polygons
from synth.sources import Av2SensorSource, Av2Source, discover
from synth.sources.av2_sensor import EGO_AXLE_HEIGHT_M, EGO_CENTER_OFFSET_M, EGO_SIZE
from tests.conftest import real_path
from tests.fixtures.builders import av2_folder

T0 = 315_968_000_000_000_000  # a plausible AV2 epoch timestamp, ns
S = 1_000_000_000


def _quat(yaw: float) -> dict:
    return {"qw": np.cos(yaw / 2), "qx": 0.0, "qy": 0.0, "qz": np.sin(yaw / 2)}


def sensor_log(root: Path, name: str = "log-0001", with_ego: bool = False, sweeps_ns=None,
               drop: str | None = None, nan_col: str | None = None, pose_ns=None, write_map: bool = True) -> Path:
    """A log folder: ego poses every 50 ms over 1.2 s (and at each sweep), 10 sweeps (0.1 s apart unless ``sweeps_ns``) with a
    vehicle "car" (ego frame (5, 2, 0.8), yaw 0), a pedestrian "ped" (ego (0, -3, 0.9), yaw pi/4) and a cone
    seen once, plus a 2-lane map (no centerline key) along city +y."""
    folder = root / name
    (folder / "map").mkdir(parents=True, exist_ok=True)
    sweeps_ns = np.arange(10) * 100_000_000 if sweeps_ns is None else np.asarray(sweeps_ns)
    if pose_ns is None:  # every 50 ms and at every sweep, as in AV2
        pose_ns = np.union1d(np.arange(0, 1_200_000_001, 50_000_000), sweeps_ns)
    poses = [{"timestamp_ns": T0 + int(t), **_quat(np.pi / 2), "tx_m": 100.0, "ty_m": 200.0 + 10.0 * t / S,
              "tz_m": 10.0} for t in pose_ns]
    rows = []
    for k, t in enumerate(sweeps_ns):
        ts = T0 + int(t)
        rows.append({"timestamp_ns": ts, "track_uuid": "car", "category": "REGULAR_VEHICLE", "length_m": 4.5,
                     "width_m": 1.9, "height_m": 1.6, **_quat(0.0), "tx_m": 5.0, "ty_m": 2.0, "tz_m": 0.8})
        rows.append({"timestamp_ns": ts, "track_uuid": "ped", "category": "PEDESTRIAN", "length_m": 0.5,
                     "width_m": 0.6, "height_m": 1.8, **_quat(np.pi / 4), "tx_m": 0.0, "ty_m": -3.0, "tz_m": 0.9})
        if with_ego:
            rows.append({"timestamp_ns": ts, "track_uuid": "ego-uuid", "category": "EGO_VEHICLE", "length_m": 4.0,
                         "width_m": 1.8, "height_m": 1.5, **_quat(0.0), "tx_m": 0.0, "ty_m": 0.0, "tz_m": 0.0})
        if k == 4:
            rows.append({"timestamp_ns": ts, "track_uuid": "cone", "category": "CONSTRUCTION_CONE", "length_m": 0.4,
                         "width_m": 0.4, "height_m": 0.7, **_quat(0.0), "tx_m": 8.0, "ty_m": -1.0, "tz_m": 0.35})
    if nan_col:
        rows[3][nan_col] = float("nan")
    for k, r in enumerate(rows):
        r["num_interior_pts"] = 100 + k
    table = pa.Table.from_pylist(rows)
    if drop:
        table = table.drop_columns([drop])
    feather.write_feather(table, folder / ("annotations_with_ego.feather" if with_ego else "annotations.feather"))
    feather.write_feather(pa.Table.from_pylist(poses), folder / "city_SE3_egovehicle.feather")
    if write_map:
        pt = lambda x, y: {"x": x, "y": y, "z": 10.0}  # noqa: E731
        lane = lambda i, x0, x1: {"id": i, "is_intersection": False, "lane_type": "VEHICLE",  # noqa: E731
                                  "left_lane_boundary": [pt(x0, 150), pt(x0, 205), pt(x0, 260)],
                                  "right_lane_boundary": [pt(x1, 150), pt(x1, 260)],
                                  "left_lane_mark_type": "DASHED_WHITE", "right_lane_mark_type": "SOLID_WHITE",
                                  "predecessors": [], "successors": [], "left_neighbor_id": None,
                                  "right_neighbor_id": None}
        m = {"lane_segments": {"1": lane(1, 96.5, 100.0), "2": lane(2, 100.0, 103.5)},
             "drivable_areas": {"9": {"id": 9, "area_boundary": [pt(96.5, 150), pt(103.5, 150), pt(103.5, 260),
                                                                 pt(96.5, 260)]}},
             "pedestrian_crossings": {"5": {"id": 5, "edge1": [pt(96.5, 230), pt(103.5, 230)],
                                            "edge2": [pt(96.5, 234), pt(103.5, 234)]}}}
        (folder / "map" / f"log_map_archive_{name}____PIT_city_00001.json").write_text(json.dumps(m))
    return folder


def test_cuboids_are_composed_with_the_ego_pose_into_the_city_frame(tmp_path):
    scn, extras = Av2SensorSource().read_log(sensor_log(tmp_path))
    t = np.arange(10) * CANONICAL_DT
    assert scn.track_id == ("AV", "car", "ped", "cone") and scn.num_frames == 10
    assert scn.log_id == scn.scenario_id == "log-0001" and scn.source == "av2_sensor" and scn.map_name == "PIT"
    assert list(scn.object_type) == [ObjectType.VEHICLE, ObjectType.VEHICLE, ObjectType.PEDESTRIAN, ObjectType.STATIC]
    assert not scn.size_imputed.any() and scn.ego_index == 0
    car, ped, cone = 1, 2, 3
    np.testing.assert_allclose(scn.x[car], 98.0, atol=1e-9)
    np.testing.assert_allclose(scn.y[car], 205.0 + 10 * t, atol=1e-9)
    np.testing.assert_allclose(scn.heading[car], np.pi / 2, atol=1e-9)
    np.testing.assert_allclose(extras["z"][car], 10.8, atol=1e-9)
    np.testing.assert_allclose(extras["height"][car], 1.6)
    np.testing.assert_allclose(scn.vy[car], 10.0, atol=1e-6)
    np.testing.assert_allclose(scn.vx[car], 0.0, atol=1e-6)
    np.testing.assert_allclose(scn.x[ped], 103.0, atol=1e-9)  # ego (0, -3) -> city (100 + 3, 200 + 10 t)
    np.testing.assert_allclose(scn.heading[ped], 3 * np.pi / 4, atol=1e-9)
    assert scn.valid[cone].sum() == 1 and scn.valid[cone, 4]
    assert (scn.x[cone, 4], scn.y[cone, 4]) == pytest.approx((101.0, 200.0 + 10 * 0.4 + 8.0))
    assert scn.vx[cone, 4] == 0.0 and scn.length[cone, 4] == 0.4
    # the ego: box centre EGO_CENTER_OFFSET_M ahead of the rear axle (along city +y here), default size
    np.testing.assert_allclose(scn.x[0], 100.0, atol=1e-9)
    np.testing.assert_allclose(scn.y[0], 200.0 + EGO_CENTER_OFFSET_M + 10 * t, atol=1e-9)
    np.testing.assert_allclose(scn.vy[0], 10.0, atol=1e-6)
    np.testing.assert_allclose(extras["z"][0], 10.0 + EGO_SIZE[2] / 2 - EGO_AXLE_HEIGHT_M, atol=1e-9)
    assert (scn.length[0, 0], scn.width[0, 0]) == EGO_SIZE[:2]
    # the map: centerlines are the midlines of the two boundaries (the JSON has none)
    assert len(scn.map.centerlines) == 2
    np.testing.assert_allclose(scn.map.centerlines[0][:, 0], 98.25)
    np.testing.assert_allclose(scn.map.centerlines[0][[0, -1], 1], [150.0, 260.0])
    assert len(scn.map.crosswalks) == 1 and scn.map.drivable_area.contains(shapely.Point(100, 230))


def test_annotations_with_ego_takes_the_ego_cuboid_size_and_drops_its_rows(tmp_path):
    (scn,) = Av2SensorSource().read(sensor_log(tmp_path, with_ego=True))
    assert scn.track_id == ("AV", "car", "ped", "cone")
    assert (scn.length[0, 0], scn.width[0, 0]) == (4.0, 1.8)
    np.testing.assert_allclose(scn.y[0], 200.0 + EGO_CENTER_OFFSET_M + 10 * np.arange(10) * 0.1, atol=1e-9)


def test_jittered_sweeps_are_resampled_onto_the_grid_without_losing_end_frames(tmp_path):
    jitter = np.array([0, 3, -2, 4, -3, 2, -4, 3, 1, -3]) * 1_000_000  # ns, like the 96-103 ms AV2 sweeps
    sweeps = np.arange(10) * 100_000_000 + 10_000_000 + jitter  # first sweep at 10 ms: the grid starts there
    scn, _ = Av2SensorSource().read_log(sensor_log(tmp_path, sweeps_ns=sweeps))
    assert scn.num_frames == 10 and scn.valid[1].all()
    t_grid = 0.01 + np.arange(10) * CANONICAL_DT  # s since the first pose, where the ego is at y = 200 + 10 t
    np.testing.assert_allclose(scn.y[1], 205.0 + 10 * t_grid, atol=1e-6)  # car: linear motion stays exact
    np.testing.assert_allclose(scn.y[0], 200.0 + EGO_CENTER_OFFSET_M + 10 * t_grid, atol=1e-6)


@pytest.mark.parametrize("kwargs, file, match", [
    ({"drop": "qz"}, "annotations.feather", "qz: column is missing"),
    ({"drop": "length_m"}, "annotations.feather", "length_m: column is missing"),
    ({"nan_col": "tx_m"}, "annotations.feather", "tx_m: NaN or infinite value in row 3"),
    ({"pose_ns": np.arange(0, 300_000_001, 50_000_000)}, "city_SE3_egovehicle.feather",
     "timestamp_ns: no pose at annotation timestamp"),
    ({"sweeps_ns": np.r_[np.arange(9) * 100_000_000, 10**13]}, "annotations.feather", "timestamp_ns: sweeps span"),
    ({"write_map": False}, "log-0001", "no map/log_map_archive"),
])
def test_malformed_logs_raise_input_errors_naming_file_and_field(tmp_path, kwargs, file, match):
    with pytest.raises(InputError, match=match) as err:
        list(Av2SensorSource().read(sensor_log(tmp_path, **kwargs)))
    assert str(err.value).split(": ")[0].endswith(file)


def test_duplicate_rows_and_bad_quaternions_are_refused(tmp_path):
    folder = sensor_log(tmp_path)
    table = feather.read_table(folder / "annotations.feather")
    feather.write_feather(pa.concat_tables([table, table.slice(0, 1)]), folder / "annotations.feather")
    with pytest.raises(InputError, match="annotations.feather: track_uuid: a track has two rows"):
        list(Av2SensorSource().read(folder))
    poses = feather.read_table(folder / "city_SE3_egovehicle.feather").to_pylist()
    poses[2].update(qw=0.0, qz=0.0)
    feather.write_feather(pa.Table.from_pylist(poses), folder / "city_SE3_egovehicle.feather")
    with pytest.raises(InputError, match="city_SE3_egovehicle.feather: qw: zero quaternion in row 2"):
        list(Av2SensorSource().read(folder))


def test_discover_tells_sensor_logs_from_motion_forecasting_folders(tmp_path):
    log, mf = sensor_log(tmp_path / "sensor"), av2_folder(tmp_path / "mf")
    assert Av2SensorSource.matches(log) and not Av2Source.matches(log)
    assert Av2Source.matches(mf) and not Av2SensorSource.matches(mf)
    assert [(a.name, p) for a, p in discover(tmp_path)] == [("av2", mf), ("av2_sensor", log)]
    with pytest.raises(InputError, match="Argoverse 2 sensor log folder"):
        discover(log / "map")


def test_shared_sensor_logs_load_with_the_ego_on_the_drivable_area():
    root = real_path("av2_sensor_annotations")
    found = discover(root)
    assert len(found) == 4 and {a.name for a, _ in found} == {"av2_sensor"}
    assert not any(a.name == "av2_sensor" for a, _ in discover(real_path("av2_motion_forecasting")))
    for _, log in found:
        scn, extras = Av2SensorSource().read_log(log)
        assert scn.log_id == log.name and scn.num_frames in (156, 157) and scn.num_agents > 100
        e = scn.ego_index
        v = scn.valid[e]
        assert v.mean() >= 0.95
        feet = box_polygons(scn.x[e, v], scn.y[e, v], scn.heading[e, v], scn.length[e, v], scn.width[e, v])
        inside = shapely.contains(scn.map.drivable_area, feet).mean()
        assert inside >= 0.9, f"{log.name}: ego footprint inside the drivable area on {inside:.1%} of frames"
        assert np.isfinite(extras["z"][scn.valid]).all() and (extras["height"][scn.valid] > 0).all()
        speed = np.hypot(scn.vx[scn.valid], scn.vy[scn.valid])
        assert speed.max() < 40.0  # m/s: no pose-composition blow-ups
