"""Scene variants (an agent perturbed before the anchor) and the braking family, on a hand-built straight road."""
import numpy as np
import shapely

from schemas import MapLayer, ObjectType, Scenario
from schemas.splits import is_variant, source_scenario_id, split_of
from synth.config import SynthConfig, VariantConfig
from synth.context import build_context
from synth.engine import synthesize_with_variants
from synth.families import families
from synth.variants import scene_variants

T, DT, V = 100, 0.1, 10.0


def _road(lead_gap: float, scenario_id: str = "straight-road") -> Scenario:
    """Ego at 10 m/s in the right lane of a 400 m two-lane road; a lead ``lead_gap`` m ahead at the same speed."""
    m = MapLayer(centerlines=[np.array([[0.0, -1.75], [400.0, -1.75]]), np.array([[0.0, 1.75], [400.0, 1.75]])],
                 lane_lines=[np.array([[0.0, 0.0], [400.0, 0.0]])], lane_line_types=["BROKEN"],
                 road_edges=[np.array([[0.0, -3.5], [400.0, -3.5]])], crosswalks=[],
                 drivable_area=shapely.box(0.0, -3.5, 400.0, 3.5), drivable_area_source="EXPLICIT")
    x = 10.0 + V * np.arange(T) * DT
    xs = np.stack([x, x + lead_gap])
    return Scenario(scenario_id=scenario_id, source="test", map_name="unit", dt=DT, track_id=["ego", "lead"],
                    object_type=[ObjectType.VEHICLE] * 2, size_imputed=[False] * 2, x=xs, y=np.full((2, T), -1.75),
                    heading=np.zeros((2, T)), vx=np.full((2, T), V), vy=np.zeros((2, T)), length=np.full((2, T), 4.5),
                    width=np.full((2, T), 1.9), valid=np.ones((2, T), bool), ego_index=0, map=m)


def _cfg(**kw) -> SynthConfig:
    return SynthConfig(variants=VariantConfig(per_scenario=1, **kw))


def test_the_lead_of_a_variant_is_already_braking_at_the_anchor_and_logged_before_the_onset():
    scn, anchor = _road(30.0), 15
    (v,) = scene_variants(scn, [anchor], _cfg(brake_lag_s=(1.0, 1.0), brake_decel=(4.0, 4.0)), np.random.default_rng(0))
    lead = v.scenario.track_id.index("lead")
    speed = np.hypot(v.scenario.vx[lead], v.scenario.vy[lead])
    assert v.params["mode"] == "lead_brake" and v.params["lag_s"] == 1.0
    assert np.allclose(v.scenario.x[lead, :anchor - 11], scn.x[lead, :anchor - 11])  # untouched before the onset
    assert abs(speed[anchor] - (V - 4.0 * 1.0)) < 0.5  # 1 s of braking at 4 m/s^2 before the anchor
    assert speed[anchor + 20] < 0.5  # stopped 2.5 s after the onset, still valid
    assert np.allclose(v.scenario.x[0], scn.x[0])  # the ego keeps its log


def test_a_variant_takes_its_source_split_and_its_id_names_the_source():
    scn = _road(30.0, "some-source-log")
    (v,) = scene_variants(scn, [15], _cfg(), np.random.default_rng(0))
    sid = v.scenario.scenario_id
    assert is_variant(sid) and not is_variant(scn.scenario_id) and source_scenario_id(sid) == scn.scenario_id
    assert split_of(sid) == split_of(scn.scenario_id)


def test_a_lead_braking_too_close_to_escape_gives_no_variant():
    cfg = _cfg(brake_lag_s=(1.5, 1.5), brake_decel=(7.0, 7.0))
    assert scene_variants(_road(8.0), [15], cfg, np.random.default_rng(0)) == []
    assert len(scene_variants(_road(40.0), [15], cfg, np.random.default_rng(0))) == 1


def test_variant_rows_label_the_logged_plan_a_collision_and_some_braking_plan_safe():
    scn = _road(25.0)
    cfg = SynthConfig(anchors_per_scenario=1, variants=VariantConfig(per_scenario=1, brake_lag_s=(1.0, 1.0)))
    out, stats = synthesize_with_variants(scn, cfg, seed=0)
    assert len(out) == 2 and stats.variants == {"lead_brake": 1} and stats.scenarios == 1
    rows = out[1][1].to_pydict()
    logged = rows["family"].index("logged")
    assert rows["collision"][logged] and rows["collision_at_fault"][logged]  # the expert did not see the brake
    braking_ok = [not c and not o for f, c, o in zip(rows["family"], rows["collision"], rows["offroad"]) if f == "braking"]
    assert any(braking_ok)
    assert set(rows["split"]) == {split_of(scn.scenario_id)}


def test_braking_plans_slow_down_after_their_onset_and_settle_at_their_floor():
    ctx = build_context(_road(200.0), 15, SynthConfig())
    c = families()["braking"].sample(ctx, np.random.default_rng(1), 12)
    from synth.families.base import roll_batch
    (plans,) = roll_batch(ctx, [c.targets])
    for i, p in enumerate(c.params):
        on = int(round(p["onset_s"] / DT))
        assert plans.speed[i, on:].max() <= V + 0.05  # never faster than at the anchor
        assert plans.speed[i, on + 20] < V - min(p["decel"], 2.0) + 0.5  # 2 s after the onset it is slower
        assert abs(plans.speed[i, -1] - p["floor"] * V) < 0.3
