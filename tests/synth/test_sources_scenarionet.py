import numpy as np
import pytest
import shapely

from pipelines.inspect_scenes import ego_inside_fraction
from schemas import DrivableAreaSource, InputError, LineType, ObjectType, SignalState
from synth.sources import ScenarioNetSource, read_any
from tests.conftest import real_path
from tests.fixtures.builders import scenarionet_dict, write_pickle


def _read(path):
    return list(ScenarioNetSource().read(path))


def test_hand_built_scenario_converts_with_types_lines_and_ego(tmp_path):
    (scn,) = _read(write_pickle(tmp_path / "s.pkl", scenarionet_dict()))
    assert scn.ego_track_id == "ego" and scn.num_frames == 20 and scn.source == "nuscenes"
    assert list(scn.object_type) == [ObjectType.VEHICLE, ObjectType.VEHICLE, ObjectType.STATIC]
    assert set(scn.map.lane_line_types) == {LineType.SOLID, LineType.BROKEN}
    assert scn.map.drivable_area_source == DrivableAreaSource.DERIVED


def test_swapped_ego_size_is_fixed(tmp_path):
    (scn,) = _read(write_pickle(tmp_path / "s.pkl", scenarionet_dict()))
    assert scn.length[0, 0] == pytest.approx(4.08) and scn.width[0, 0] == pytest.approx(1.73)


def test_derived_drivable_area_covers_lane_polygon_and_buffered_centerline(tmp_path):
    (scn,) = _read(write_pickle(tmp_path / "s.pkl", scenarionet_dict()))
    da = scn.map.drivable_area
    assert shapely.contains_xy(da, 50.0, -3.0)          # inside the lane polygon
    assert not shapely.contains_xy(da, 50.0, -6.0)      # beyond polygon and buffer


def test_nan_position_at_a_valid_frame_is_refused(tmp_path):
    d = scenarionet_dict()
    d["tracks"]["car"]["state"]["position"][4, 0] = np.nan
    with pytest.raises(InputError, match="NaN position") as err:
        _read(write_pickle(tmp_path / "nan.pkl", d))
    assert "nan.pkl" in str(err.value) and "car" in str(err.value)


def test_track_with_zero_valid_frames_is_refused_naming_file_and_track(tmp_path):
    d = scenarionet_dict()
    d["tracks"]["car"]["state"]["valid"][:] = 0
    with pytest.raises(InputError, match="track 'car' has zero valid frames") as err:
        _read(write_pickle(tmp_path / "empty.pkl", d))
    assert "empty.pkl" in str(err.value)


def test_resampling_from_20_hz_keeps_positions_on_the_line(tmp_path):
    d = scenarionet_dict(T=40)
    d["metadata"]["sample_rate"] = 0.05
    (scn,) = _read(write_pickle(tmp_path / "s.pkl", d))
    assert scn.num_frames == 20
    # the fixture advances 0.8 m per sample; at 20 Hz that is 1.6 m per 10 Hz frame
    assert np.allclose(np.diff(scn.x[0]), 1.6, atol=1e-9)


def test_all_ten_real_nuscenes_scenes_load_with_ego_inside_drivable_area():
    scns = list(read_any(real_path("nuscenes_mini_scenarionet")))
    assert len(scns) == 10
    for scn in scns:
        assert ego_inside_fraction(scn) >= 0.95, scn.scenario_id
        assert scn.length[scn.ego_index, 0] > scn.width[scn.ego_index, 0]


def test_smoothing_removes_pose_jitter_but_keeps_the_track():
    from synth.sources.common import smooth_track

    rng = np.random.default_rng(0)
    t = np.arange(60) * 0.1
    x_true = 8.0 * t + 0.5 * t**2
    x = x_true + rng.normal(0, 0.05, 60)
    sx, sy, svx, _ = smooth_track(x, np.zeros(60), np.zeros(60), np.zeros(60), np.ones(60, bool), 0.1)
    assert np.abs(sx - x_true).max() < 0.06
    jerk_raw = np.abs(np.diff(x, 3)).max() / 0.1**3
    jerk_smooth = np.abs(np.diff(svx, 2)).max() / 0.1**2
    assert jerk_smooth < jerk_raw / 20
    assert np.abs(svx[10:-10] - (8.0 + t[10:-10])).max() < 0.2


def test_real_nuscenes_logged_ego_plans_mostly_pass_every_physics_rule():
    from synth.config import VehicleLimits
    from synth.kinematics import Plans
    from synth.physics import check_physics

    ok = total = 0
    for s in read_any(real_path("nuscenes_mini_scenarionet")):
        e = s.ego_index
        for a0 in range(10, s.num_frames - 80, 5):
            sl = slice(a0, a0 + 81)
            p = Plans.from_states(s.x[e, sl][None], s.y[e, sl][None], s.heading[e, sl][None],
                                  np.hypot(s.vx[e, sl], s.vy[e, sl])[None])
            anchor = np.array([p.x[0, 0], p.y[0, 0], p.heading[0, 0], p.speed[0, 0]])
            total += 1
            ok += bool(check_physics(p, 0.1, VehicleLimits(), anchor).passed[0])
    assert ok / total >= 0.9, (ok, total)


def test_scenario_written_by_the_current_converter_loads_through_the_command_line(tmp_path):
    """ScenarioNet v1.2 files carry a defaultdict(int) in metadata.number_summary; they must load."""
    import collections

    from pipelines.cli import main

    d = scenarionet_dict()
    d["version"] = "v1.2"
    d["metadata"]["number_summary"] = {"num_moving_objects_each_type": collections.defaultdict(int, {"VEHICLE": 2})}
    d["metadata"]["object_summary"] = collections.OrderedDict(ego={"type": "VEHICLE"})
    path = write_pickle(tmp_path / "waymo_v12.pkl", d)
    (scn,) = list(ScenarioNetSource().read(path))
    assert scn.num_agents == 3
    assert main(["inspect", str(path)]) == 0


def _with_lights(T: int, states: list, dt: float = 0.1) -> dict:
    """The fixture with a junction lane ``jl`` (from x = 50 along +x) controlled by one Waymo light."""
    d = scenarionet_dict(T=T)
    d["metadata"]["sample_rate"] = dt
    d["map_features"]["jl"] = {"type": "LANE_SURFACE_STREET", "polyline": [[50.0, -1.75, 0.0], [80.0, -1.75, 0.0]]}
    d["dynamic_map_states"] = {
        "jl": {"type": "TRAFFIC_LIGHT", "lane": "jl", "stop_point": np.array([50.0, -1.6, 1.5]),
               "state": {"object_state": states}, "metadata": {}},
        "gone": {"type": "TRAFFIC_LIGHT", "lane": "no_such_lane", "stop_point": np.zeros(3),
                 "state": {"object_state": ["LANE_STATE_GO"] * T}, "metadata": {}},
    }
    return d


def test_dynamic_map_states_become_the_signal_layer_with_every_waymo_state_mapped(tmp_path):
    names = ["LANE_STATE_UNKNOWN", "LANE_STATE_ARROW_STOP", "LANE_STATE_ARROW_CAUTION", "LANE_STATE_ARROW_GO",
             "LANE_STATE_STOP", "LANE_STATE_CAUTION", "LANE_STATE_GO", "LANE_STATE_FLASHING_STOP",
             "LANE_STATE_FLASHING_CAUTION", None]
    states = (names * 2)[:20]
    (scn,) = _read(write_pickle(tmp_path / "s.pkl", _with_lights(20, states)))
    sig = scn.signals
    assert sig.lane_ids == ("jl",)                  # the light of a lane missing from the map is dropped
    assert np.array_equal(sig.stop_point, [[50.0, -1.6]]) and sig.stop_z[0] == 1.5
    assert np.allclose(sig.direction, [[1.0, 0.0]])
    U, S, C, G = SignalState.UNKNOWN, SignalState.STOP, SignalState.CAUTION, SignalState.GO
    assert sig.state[0, :10].tolist() == [U, S, C, G, S, C, G, C, C, U]


def test_signal_states_resampled_from_20_hz_take_the_state_at_or_before_each_frame(tmp_path):
    states = ["LANE_STATE_GO"] * 13 + ["LANE_STATE_CAUTION"] * 6 + ["LANE_STATE_STOP"] * 21   # 40 at 20 Hz
    (scn,) = _read(write_pickle(tmp_path / "s.pkl", _with_lights(40, states, dt=0.05)))
    assert scn.num_frames == scn.signals.num_frames == 20
    # 10 Hz frame k is source sample 2k: GO up to sample 12, CAUTION 13..18, STOP from 19
    expect = [SignalState.GO] * 7 + [SignalState.CAUTION] * 3 + [SignalState.STOP] * 10
    assert scn.signals.state[0].tolist() == expect


def test_an_unknown_signal_state_or_a_short_state_list_is_refused_naming_the_field(tmp_path):
    with pytest.raises(InputError, match=r"dynamic_map_states\['jl'\].state.object_state.*not a Waymo lane state"):
        _read(write_pickle(tmp_path / "a.pkl", _with_lights(20, ["LANE_STATE_PURPLE"] * 20)))
    with pytest.raises(InputError, match="object_state has 5 entries, the tracks 20"):
        _read(write_pickle(tmp_path / "b.pkl", _with_lights(20, ["LANE_STATE_GO"] * 5)))
