"""The named feature columns (critic.columns) say what the feature builders put there."""
import numpy as np
import pytest

from critic.columns import AgentCol, MapCol, MapKind, PlanCol, keep
from critic.config import FeatureConfig
from critic.features import AGENT_FEATURES, MAP_FEATURES, PLAN_FEATURES, agent_features, map_features, plan_features
from critic.model import AGENT_SCALE, MAP_SCALE, PLAN_SCALE
from schemas import ObjectType
from tests.fixtures.builders import tiny_scenario

CFG = FeatureConfig(history_steps=4, max_agents=3)


def _scene():
    """tiny_scenario with a pedestrian facing +y and walking at 1 m/s, 0.6 x 0.5 m (visible from frame 3)."""
    heading = np.zeros((2, 6))
    heading[1] = np.pi / 2
    vy = np.zeros((2, 6))
    vy[1] = 1.0
    width = np.stack([np.full(6, 1.9), np.full(6, 0.5)])
    return tiny_scenario(heading=heading, vy=vy, width=width)


def test_named_agent_columns_match_the_feature_builder():
    feats, mask = agent_features(_scene(), 5, CFG)       # anchor frame 5: the ego is at (15, -1.75), heading 0
    assert feats.shape[-1] == AgentCol.COUNT == AGENT_FEATURES
    ego, ped = feats[0, -1], feats[1, -1]
    assert ego[AgentCol.XY].tolist() == [0.0, 0.0] and ego[AgentCol.HEADING].tolist() == [1.0, 0.0]
    assert ego[AgentCol.VEL].tolist() == [10.0, 0.0]
    assert ego[AgentCol.SIZE] == pytest.approx([4.5, 1.9]) and ego[AgentCol.IS_EGO] == 1.0
    assert ego[AgentCol.TYPE_START + ObjectType.VEHICLE] == 1.0 and ego[AgentCol.TYPE].sum() == 1.0
    assert (ped[AgentCol.X], ped[AgentCol.Y]) == pytest.approx((37.0, 5.75))        # (52, 4) seen from the ego
    assert (ped[AgentCol.COS], ped[AgentCol.SIN]) == pytest.approx((0.0, 1.0), abs=1e-7)
    assert (ped[AgentCol.VX], ped[AgentCol.VY]) == pytest.approx((0.0, 1.0))
    assert (ped[AgentCol.LENGTH], ped[AgentCol.WIDTH]) == pytest.approx((0.6, 0.5))
    assert ped[AgentCol.TYPE].tolist() == [0.0, 1.0, 0.0, 0.0] and ped[AgentCol.IS_EGO] == 0.0
    # frame 2 (first history frame): the pedestrian is not there yet, so every column is 0 and masked
    assert not mask[1, 0] and not feats[1, 0].any() and mask[0].all()


def test_agent_blocks_tile_the_agent_table_and_the_one_hot_has_every_object_type():
    cols = np.arange(AgentCol.COUNT)
    blocks = [cols[AgentCol.XY], cols[AgentCol.HEADING], cols[AgentCol.VEL], cols[AgentCol.SIZE], cols[AgentCol.TYPE],
              cols[keep(AgentCol.IS_EGO)]]
    assert np.concatenate(blocks).tolist() == cols.tolist()
    assert cols[AgentCol.BOX].tolist() == list(range(8)) and AgentCol.TYPE_COUNT == len(ObjectType)


def test_named_map_columns_match_the_feature_builder():
    feats, mask = map_features(_scene(), 5, CFG)         # ego at (15, -1.75): map y maps to y + 1.75
    assert feats.shape[-1] == MapCol.COUNT == MAP_FEATURES
    used = mask.any(-1)
    kinds = feats[used][:, 0, MapCol.KIND]
    assert (kinds.sum(-1) == 1).all()                    # one kind per polyline
    kind = kinds.argmax(-1)
    ys = feats[used][..., MapCol.Y]
    expect = {MapKind.CENTERLINE: {0.0, 3.5}, MapKind.DOUBLE_SOLID: {1.75}, MapKind.ROAD_EDGE: {-1.75, 5.25}}
    for k, allowed in expect.items():
        assert (kind == k).any(), MapKind.NAMES[k]
        assert set(np.round(ys[kind == k], 4).ravel().tolist()) <= allowed, MapKind.NAMES[k]
    xs = feats[used][kind == MapKind.CROSSWALK][..., MapCol.X]
    assert len(xs) and xs.min() >= 35.0 - 1e-4 and xs.max() <= 39.0 + 1e-4      # the crosswalk spans x 50 .. 54
    assert (kind == MapKind.DRIVABLE_BOUNDARY).any() and len(MapKind.NAMES) == MapKind.COUNT


def test_named_plan_columns_match_plan_features():
    # facing +y from (10, 0): 2 m/s along the heading, so 0.2 m forward per 0.1 s, straight on
    t = np.arange(6)[None] * 0.1
    plan = plan_features(np.full((1, 6), 10.0), 2.0 * t, np.full((1, 6), np.pi / 2), np.full((1, 6), 2.0),
                         np.array([10.0, 0.0, np.pi / 2]))
    assert plan.shape == (1, 5, PlanCol.COUNT) and PlanCol.COUNT == PLAN_FEATURES
    assert plan[0, :, PlanCol.X] == pytest.approx([0.2, 0.4, 0.6, 0.8, 1.0], abs=1e-6)
    assert plan[0, :, PlanCol.Y] == pytest.approx(np.zeros(5), abs=1e-6)
    assert plan[0, :, PlanCol.HEADING] == pytest.approx(np.tile([1.0, 0.0], (5, 1)))
    assert plan[0, :, PlanCol.SPEED].tolist() == [2.0] * 5
    assert plan[..., PlanCol.HEADING_SPEED].tolist() == plan[..., 2:5].tolist()


def test_model_input_scales_follow_the_named_columns():
    assert len(AGENT_SCALE) == AgentCol.COUNT and len(MAP_SCALE) == MapCol.COUNT and len(PLAN_SCALE) == PlanCol.COUNT
    assert [AGENT_SCALE[c] for c in (AgentCol.X, AgentCol.VX, AgentCol.LENGTH, AgentCol.COS)] == [20.0, 10.0, 5.0, 1.0]
    assert [PLAN_SCALE[c] for c in (PlanCol.Y, PlanCol.SPEED, PlanCol.SIN)] == [20.0, 10.0, 1.0]
    assert MAP_SCALE[MapCol.X] == 20.0 and set(MAP_SCALE[MapCol.KIND]) == {1.0}
