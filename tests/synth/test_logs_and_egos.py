"""Splits by log, and every vehicle of a real log as ego."""
import dataclasses

import numpy as np
import pyarrow as pa

from schemas import ObjectType, scenario_to_tables, tables_to_scenarios
from schemas.splits import split_of
from synth.config import CurriculumConfig, SynthConfig, VariantConfig
from synth.engine import ego_tracks, synthesize_scenario, synthesize_with_variants
from synth.offroad import logged_offroad
from synth.sources import NuPlanSource
from synth.sources.commonroad import commonroad_log_id
from synth.sources.scenarionet import scenarionet_log_id
from tests.fixtures.builders import nuplan_db, tiny_map, tiny_scenario

SMALL = SynthConfig(horizon_steps=20, history_steps=5, anchors_per_scenario=1, variants=VariantConfig(per_scenario=0),
                    curriculum=CurriculumConfig(samples_per_anchor=6, candidates_factor=2))


def _road_scene(source: str = "test", **overrides):
    """Three cars on the tiny two-lane road for 4 s (40 frames): the ego and a car ahead in the right lane,
    one car in the left lane; plus a parked car on the verge (outside the drivable area) and a pedestrian."""
    T = 41
    t = np.arange(T) * 0.1
    xs = [5 + 8 * t, 25 + 8 * t, 90 - 8 * t, np.full(T, 60.0), np.full(T, 40.0)]
    ys = [np.full(T, -1.75), np.full(T, -1.75), np.full(T, 1.75), np.full(T, -5.0), np.full(T, 5.0)]
    heads = [np.zeros(T), np.zeros(T), np.full(T, np.pi - 1e-9), np.zeros(T), np.zeros(T)]
    speeds = [8.0, 8.0, 8.0, 0.0, 0.0]
    fields = dict(
        scenario_id="road", source=source, map_name="unit", dt=0.1, track_id=["ego", "lead", "oncoming", "parked", "ped"],
        object_type=[ObjectType.VEHICLE] * 4 + [ObjectType.PEDESTRIAN], size_imputed=[False] * 5,
        x=np.stack(xs), y=np.stack(ys), heading=np.stack(heads),
        vx=np.stack([s * np.cos(h) for s, h in zip(speeds, heads)]), vy=np.zeros((5, T)),
        length=np.full((5, T), 4.5), width=np.full((5, T), 1.9), valid=np.ones((5, T), bool), ego_index=0,
        map=tiny_map(),
    )
    fields.update(overrides)
    from schemas import Scenario

    return Scenario(**fields)


def test_two_scenes_of_one_nuplan_log_share_a_log_id_and_a_split(tmp_path):
    scns = list(NuPlanSource().read(nuplan_db(tmp_path / "two.db", n_frames=81, scenes=2)))
    assert [s.scenario_id for s in scns] == ["2021.01.01.log/scene-unit", "2021.01.01.log/scene-unit-1"]
    assert {s.log_id for s in scns} == {"2021.01.01.log"}
    rows = [synthesize_with_variants(s, dataclasses.replace(SMALL, horizon_steps=10))[0][0][1] for s in scns]
    splits = {sp for t in rows for sp in t.column("split").to_pylist()}
    assert splits == {split_of("2021.01.01.log")} and all(t.num_rows for t in rows)
    assert {lg for t in rows for lg in t.column("log_id").to_pylist()} == {"2021.01.01.log"}


def test_commonroad_variants_of_one_map_configuration_are_one_log():
    assert commonroad_log_id("USA_US101-9_1_T-1") == commonroad_log_id("USA_US101-9_3_T-1") == "USA_US101-9"
    assert commonroad_log_id("USA_Lanker-2_10_T-1") == "USA_Lanker-2"
    assert commonroad_log_id("ZAM_Tutorial") == "ZAM_Tutorial"   # no variant suffix: its own log


def test_scenarionet_log_comes_from_metadata_or_the_scene_itself():
    assert scenarionet_log_id({"log_id": "seg-7", "scenario_id": "a"}) == "seg-7"
    assert scenarionet_log_id({"scenario_id": "a", "dataset": "nuscenes"}) == ""


def test_a_scene_without_a_log_is_its_own_log_and_the_log_round_trips():
    assert tiny_scenario().log_id == "tiny"
    scn = tiny_scenario(log_id="drive-3")
    back = tables_to_scenarios(*scenario_to_tables(scn))[0]
    assert back.log_id == "drive-3" and back.equals(scn)


def test_a_parked_car_off_the_road_is_flagged_in_every_frame_and_the_drivers_in_none():
    off = logged_offroad(_road_scene())
    assert off[3].all() and not off[:3].any()


def test_every_vehicle_plays_the_ego_on_real_logs_but_not_parked_off_road():
    scn = _road_scene()
    assert ego_tracks(scn, SMALL) == ["ego", "lead", "oncoming", "parked"]         # auto: all, for a real source
    assert ego_tracks(scn, dataclasses.replace(SMALL, egos="sdc")) == ["ego"]
    assert ego_tracks(_road_scene(source="procedural"), SMALL) == ["ego"]          # auto: sdc, for procedural
    [(stored, table)], stats = synthesize_with_variants(scn, SMALL)
    egos = table.column("ego_track_id").to_pylist()
    assert set(egos) == {"ego", "lead", "oncoming"} and stats.egos == 3
    assert stats.egos_rejected == {"logged_plan_offroad": 1}                       # the parked car
    assert stored.ego_track_id == "ego"                                            # stored once, with its own ego
    ids = table.column("sample_id").to_pylist()
    assert len(set(ids)) == len(ids) and any(i.startswith("road/ego-lead/") for i in ids)
    assert all(i.startswith("road/a") for i, e in zip(ids, egos) if e == "ego")
    assert len(set(table.column("split").to_pylist())) == 1


def test_each_ego_is_labelled_with_its_own_box_and_future():
    """The lead, as ego, has nobody ahead: its logged plan never nears a collision, and its rows are the
    rows one gets by making it the scene's ego."""
    scn = _road_scene()
    table = synthesize_with_variants(scn, SMALL)[0][0][1]
    lead_rows = table.filter(pa.compute.equal(table.column("ego_track_id"), "lead"))
    ref, _ = synthesize_scenario(scn.with_ego("lead"), SMALL, key="road/ego-lead")
    keep = ["anchor_frame", "family", "outcome", "plan_x", "collision"]
    assert lead_rows.select(keep).equals(ref.select(keep))
    logged = lead_rows.filter(pa.compute.equal(lead_rows.column("family"), "logged"))
    assert logged.column("outcome").to_pylist() == ["SAFE"] * logged.num_rows
