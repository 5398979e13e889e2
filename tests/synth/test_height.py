"""Heights: ``z`` and box height are kept where a source has them, and boxes collide only when they
also overlap vertically (roads that cross at different levels)."""
import dataclasses
import sqlite3

import numpy as np
import pyarrow as pa
import pytest
import shapely

from schemas import InputError, MapLayer, ObjectType, Scenario, scenario_to_tables, tables_to_scenarios
from synth.config import SynthConfig
from synth.context import build_context
from synth.labels import label_plans
from synth.sources import NuPlanSource, ScenarioNetSource
from synth.sources.nuplan import EGO_HEIGHT, REAR_AXLE_TO_CENTER_Z
from tests.conftest import real_path
from tests.fixtures.builders import nuplan_db, tiny_scenario

T = 101          # 10 s at 10 Hz
ANCHOR = 10      # the ego passes x = 50 at frame 50 (4 s after the anchor)
CFG = SynthConfig()


def _crossing(agent_z: float | None, ego_z: float = 0.8, height: float = 1.6, agent_z_known: bool = True) -> Scenario:
    """Ego east along y = 0 at 10 m/s (x = 10 * t); a car north along x = 50 at 10 m/s, over the ego's
    road at frame 50. ``agent_z`` None: the scene has no heights at all."""
    t = np.arange(T) * 0.1
    road = shapely.union(shapely.box(-10, -5, 200, 5), shapely.box(45, -100, 55, 100))
    m = MapLayer(centerlines=[np.array([[-10.0, 0.0], [200.0, 0.0]]), np.array([[50.0, -100.0], [50.0, 100.0]])],
                 lane_lines=[], lane_line_types=[], road_edges=[], crosswalks=[], drivable_area=road,
                 drivable_area_source="EXPLICIT")
    extra = {}
    if agent_z is not None:
        z = np.stack([np.full(T, ego_z), np.full(T, agent_z if agent_z_known else np.nan)])
        extra = dict(z=z, height=np.full((2, T), height))
    return Scenario(scenario_id="crossing", source="test", map_name="unit", dt=0.1, track_id=["ego", "car"],
                    object_type=[ObjectType.VEHICLE, ObjectType.VEHICLE], size_imputed=[False, False],
                    x=np.stack([10 * t, np.full(T, 50.0)]), y=np.stack([np.zeros(T), 10 * (t - 5.0)]),
                    heading=np.stack([np.zeros(T), np.full(T, np.pi / 2)]),
                    vx=np.stack([np.full(T, 10.0), np.zeros(T)]), vy=np.stack([np.zeros(T), np.full(T, 10.0)]),
                    length=np.full((2, T), 4.5), width=np.full((2, T), 1.9), valid=np.ones((2, T), bool),
                    ego_index=0, map=m, **extra)


def _logged_labels(scn: Scenario):
    ctx = build_context(scn, ANCHOR, CFG)
    return label_plans(ctx.logged, ctx.agents, ctx.drivable, ctx.solid_lines, ctx.dt, CFG.labels, ctx.drivable_inner,
                       length=ctx.ego_length, width=ctx.ego_width)


def test_a_car_on_an_overpass_7_m_above_does_not_collide_with_the_ego_crossing_below():
    lab = _logged_labels(_crossing(agent_z=7.8))
    assert not lab.collision[0] and lab.outcome[0] == "SAFE"
    assert np.isnan(lab.min_distance_m[0])   # the car on the other level is not an agent of the ego's


def test_the_same_crossing_at_one_level_collides():
    lab = _logged_labels(_crossing(agent_z=0.8))
    assert lab.collision[0] and lab.collision_time_s[0] == pytest.approx(3.7, abs=0.35)


def test_a_crossing_without_heights_or_with_the_agent_z_unknown_collides_as_before():
    for scn in (_crossing(agent_z=None), _crossing(agent_z=7.8, agent_z_known=False)):
        assert _logged_labels(scn).collision[0]


def test_a_parked_car_up_a_grade_on_the_ego_road_still_collides():
    """The ego's level is read on its own logged track where the car is: a 4 % grade puts the car 2 m above
    the ego's anchor height (more than the 1.6 m half-height sum) but level with the road under it."""
    scn = _crossing(agent_z=0.8)
    z = 0.8 + 0.04 * scn.x[0]                                 # the ego climbs as it drives east
    x = np.stack([scn.x[0], np.full(T, 60.0)])
    y = np.stack([scn.y[0], np.zeros(T)])
    parked = Scenario(**{**_fields(scn), "x": x, "y": y, "heading": np.zeros((2, T)), "vx": np.stack([scn.vx[0],
                      np.zeros(T)]), "vy": np.zeros((2, T)), "z": np.stack([z, np.full(T, 0.8 + 0.04 * 60)])})
    assert parked.z[1, 0] - parked.z[0, ANCHOR] > 0.5 * (1.6 + 1.6)
    assert _logged_labels(parked).collision[0]


def _fields(scn: Scenario) -> dict:
    return {f.name: getattr(scn, f.name) for f in dataclasses.fields(scn) if f.name != "signals"}


def test_scenario_refuses_a_wrong_shaped_z_and_a_non_positive_height_naming_the_field():
    scn = tiny_scenario()
    with pytest.raises(InputError, match="^z: must have shape") as err:
        tiny_scenario(z=np.zeros((scn.num_agents, scn.num_frames + 1)))
    assert err.value.field == "z"
    with pytest.raises(InputError, match="^height: must be > 0"):
        tiny_scenario(z=np.zeros(scn.valid.shape), height=np.zeros(scn.valid.shape))
    with pytest.raises(InputError, match="^z: infinite"):
        tiny_scenario(z=np.full(scn.valid.shape, np.inf))


def test_z_and_height_are_read_only_float64_nan_where_not_valid_and_none_when_nothing_is_known():
    scn = tiny_scenario()
    s = tiny_scenario(z=np.ones(scn.valid.shape), height=np.full(scn.valid.shape, 1.5))
    assert s.has_height and s.z.dtype == np.float64 and not s.z.flags.writeable
    assert np.isnan(s.z[~s.valid]).all() and (s.z[s.valid] == 1.0).all()
    assert tiny_scenario(z=np.full(scn.valid.shape, np.nan)).z is None and not scn.has_height


def _round_trip(scn: Scenario) -> Scenario:
    tables = scenario_to_tables(scn)
    ipc = [pa.Table.from_batches(t.to_batches(), t.schema) for t in tables]
    (back,) = tables_to_scenarios(*ipc)
    return back


def test_z_and_height_round_trip_exactly_through_the_scenarios_table_and_none_stays_none():
    scn = tiny_scenario()
    z = np.where(scn.valid, 0.25 + np.arange(scn.num_frames) * 1e-3, np.nan)
    z[1, -1] = np.nan                                          # unknown at a valid frame
    with_h = tiny_scenario(z=z, height=np.full(scn.valid.shape, 1.55))
    back = _round_trip(with_h)
    assert back.equals(with_h) and np.isnan(back.z[1, -1]) and back.height[0, 0] == 1.55
    assert not back.equals(scn)                                # heights are compared
    plain = _round_trip(scn)
    assert plain.z is None and plain.height is None and plain.equals(scn)


def test_a_copy_made_with_dataclasses_replace_keeps_the_heights():
    s = tiny_scenario(z=np.ones((2, 6)), height=np.ones((2, 6)))
    v = dataclasses.replace(s, scenario_id="tiny~v", x=s.x + 1.0)   # as synth.variants builds a variant
    assert v.has_height and np.array_equal(v.z, s.z, equal_nan=True) and np.array_equal(v.height, s.height,
                                                                                          equal_nan=True)


def test_nuplan_keeps_lidar_box_z_and_height_and_the_ego_pose_z(tmp_path):
    path = nuplan_db(tmp_path / "log.db")
    con = sqlite3.connect(path)
    con.execute("UPDATE ego_pose SET z = 612.0")
    con.execute("UPDATE lidar_box SET z = 612.9")
    con.commit()
    con.close()
    (scn,) = NuPlanSource().read(path)
    e = scn.ego_index
    assert scn.has_height
    assert scn.z[e, scn.valid[e]] == pytest.approx(612.0 + REAR_AXLE_TO_CENTER_Z)
    assert (scn.height[e, scn.valid[e]] == EGO_HEIGHT).all()
    ped = int(np.flatnonzero(scn.object_type == ObjectType.PEDESTRIAN)[0])
    assert scn.z[ped, scn.valid[ped]] == pytest.approx(612.9) and scn.height[ped, scn.valid[ped]] == pytest.approx(1.7)


def test_nuplan_z_left_at_zero_everywhere_is_unknown(tmp_path):
    (scn,) = NuPlanSource().read(nuplan_db(tmp_path / "log.db"))   # the fixture writes z = 0 throughout
    assert scn.z is None and scn.height is not None


def test_the_scenarionet_sample_keeps_agent_z_and_height():
    path = real_path("nuscenes_mini_scenarionet", "sd_nuscenes_v1.0-mini_scene-0061.pkl")
    (scn,) = ScenarioNetSource().read(path)
    assert scn.has_height
    others = np.arange(scn.num_agents) != scn.ego_index
    assert np.isfinite(scn.z[others][scn.valid[others]]).mean() > 0.9
    assert np.nanmin(scn.height) > 0.1 and np.nanmax(scn.height) < 10.0
    # nuScenes ego poses are planar: the converted ego z is 0 throughout, so it is unknown
    assert np.isnan(scn.z[scn.ego_index]).all()
