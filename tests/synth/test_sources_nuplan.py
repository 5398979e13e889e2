import numpy as np
import pytest

from schemas import DrivableAreaSource, InputError, ObjectType, SignalState
from synth.sources import NuPlanSource
from synth.sources.nuplan import EGO_LENGTH, REAR_AXLE_TO_CENTER
from tests.fixtures.builders import nuplan_db, nuplan_gpkg


def test_20_hz_log_is_resampled_to_10_hz_with_ego_at_box_centre(tmp_path):
    (scn,) = NuPlanSource().read(nuplan_db(tmp_path / "log.db", n_frames=41, yaw=0.3))
    assert scn.num_frames == 21 and scn.dt == 0.1
    assert scn.scenario_id == "2021.01.01.log/scene-unit"
    e = scn.ego_index
    # rear axle at (100, 200) at frame 0, moved 1.461 m forward along yaw 0.3
    assert scn.x[e, 0] == pytest.approx(100 + REAR_AXLE_TO_CENTER * np.cos(0.3))
    assert scn.y[e, 0] == pytest.approx(200 + REAR_AXLE_TO_CENTER * np.sin(0.3))
    assert scn.length[e, 0] == pytest.approx(EGO_LENGTH)
    # ego-frame velocity (5, 0) rotated to the map frame
    assert scn.vx[e, 3] == pytest.approx(5 * np.cos(0.3)) and scn.vy[e, 3] == pytest.approx(5 * np.sin(0.3))
    # 0.5 m per 10 Hz frame at 5 m/s
    assert np.allclose(np.hypot(np.diff(scn.x[e]), np.diff(scn.y[e])), 0.5)


def test_agents_come_from_lidar_box_with_categories_and_validity(tmp_path):
    (scn,) = NuPlanSource().read(nuplan_db(tmp_path / "log.db"))
    types = sorted(ObjectType(t).name for t in scn.object_type)
    assert types == ["PEDESTRIAN", "VEHICLE", "VEHICLE"]
    ped = int(np.flatnonzero(scn.object_type == ObjectType.PEDESTRIAN)[0])
    assert scn.valid[ped].sum() == 10  # 20 lidar_pc frames at 20 Hz -> 10 at 10 Hz


def test_without_a_map_the_drivable_area_is_derived_from_vehicle_boxes(tmp_path):
    (scn,) = NuPlanSource().read(nuplan_db(tmp_path / "log.db"))
    assert scn.map.drivable_area_source == DrivableAreaSource.DERIVED


def test_map_geopackage_gives_explicit_drivable_area_centerlines_and_crosswalks(tmp_path):
    nuplan_gpkg(tmp_path / "maps" / "us-unit-town" / "9.12.1817" / "map.gpkg")
    (scn,) = NuPlanSource(map_root=tmp_path / "maps").read(nuplan_db(tmp_path / "log.db"))
    m = scn.map
    assert m.drivable_area_source == DrivableAreaSource.EXPLICIT
    assert len(m.centerlines) == 2 and len(m.crosswalks) == 1 and len(m.lane_lines) == 1   # a lane and a connector
    assert m.drivable_area.area == pytest.approx(200 * 80)


@pytest.mark.parametrize("table", ["lidar_box", "ego_pose", "category"])
def test_db_missing_a_table_names_it(tmp_path, table):
    path = nuplan_db(tmp_path / "log.db", skip_tables=(table,))
    with pytest.raises(InputError, match=f"{table}: table is missing") as err:
        list(NuPlanSource().read(path))
    assert "log.db" in str(err.value)


def test_nan_box_position_is_refused(tmp_path):
    with pytest.raises(InputError, match="NaN position"):
        list(NuPlanSource().read(nuplan_db(tmp_path / "log.db", nan_box=True)))


def test_a_file_that_is_not_sqlite_is_refused(tmp_path):
    p = tmp_path / "junk.db"
    p.write_bytes(b"definitely not sqlite" * 50)
    with pytest.raises(InputError, match="not a SQLite database"):
        list(NuPlanSource().read(p))



def test_traffic_light_status_gives_the_connector_states_at_10_hz_with_its_stop_point(tmp_path):
    nuplan_gpkg(tmp_path / "maps" / "us-unit-town" / "9.12.1817" / "map.gpkg")
    (scn,) = NuPlanSource(map_root=tmp_path / "maps").read(nuplan_db(tmp_path / "log.db"))
    sig = scn.signals
    assert sig.lane_ids == ("7",)               # connector 99 is not on the map: no stop point, no lane
    assert sig.num_frames == scn.num_frames == 21
    assert np.array_equal(sig.stop_point[0], [140.0, 212.0])
    assert np.allclose(sig.direction[0], np.array([10.0, 3.0]) / np.hypot(10.0, 3.0))
    # red for the first 20 lidar_pc (1 s at 20 Hz) = frames 0..9 at 10 Hz, then green
    assert (sig.state[0, :10] == SignalState.STOP).all() and (sig.state[0, 10:] == SignalState.GO).all()


def test_without_a_map_a_nuplan_log_has_no_signals(tmp_path):
    (scn,) = NuPlanSource().read(nuplan_db(tmp_path / "log.db"))
    assert scn.signals.num_lanes == 0 and scn.signals.num_frames == scn.num_frames
