import numpy as np
import pytest
import torch

from critic.config import FeatureConfig
from critic.features import agent_features, map_features, plan_features
from critic.losses import info_nce, step_targets
from critic.occupancy import agent_occupancy
from critic.risk import cumulative_risk, event_step, expected_event_time, hazard_targets
from tests.fixtures.builders import tiny_scenario


def test_cumulative_risk_and_expected_time_follow_the_survival_formulas():
    h = torch.tensor([[0.5, 0.5, 0.0, 0.0]])
    assert torch.allclose(cumulative_risk(h), torch.tensor([[0.5, 0.75, 0.75, 0.75]]))
    # first event in step 0 with p 0.5 and in step 1 with p 0.25: mean of mid-points 0.25 s and 0.75 s
    assert expected_event_time(h, 0.5).item() == pytest.approx((0.5 * 0.25 + 0.25 * 0.75) / 0.75)
    assert expected_event_time(torch.zeros(1, 4), 0.5).item() == pytest.approx(2.0)


def test_event_times_map_to_steps_and_at_risk_masks():
    t = torch.tensor([0.0, 0.5, 0.51, 7.99, float("inf")])
    assert event_step(t, 0.5, 16).tolist() == [0, 0, 1, 15, 16]
    ev, risk = hazard_targets(torch.tensor([1.2]), 0.5, 4)
    assert ev.tolist() == [[0, 0, 1, 0]] and risk.tolist() == [[1, 1, 1, 0]]


def test_reward_is_progress_minus_event_penalties_and_stops_after_the_event():
    plan = torch.zeros(1, 1, 80, 5)
    plan[..., 0] = torch.arange(1, 81).float()  # 1 m per 0.1 s
    tg = step_targets(torch.tensor([[1.2]]), torch.tensor([[float("inf")]]), plan, 5, 0.5, 16)
    r = tg["reward"][0, 0]
    assert r[0].item() == pytest.approx(0.5) and r[2].item() == pytest.approx(0.5 - 1.0) and r[3:].abs().sum() == 0
    assert tg["continue"][0, 0].tolist()[:4] == [1, 1, 0, 0]


def test_info_nce_rewards_matching_futures_and_ignores_duplicates():
    z = torch.eye(3).unsqueeze(0)
    good = info_nce(z, z, torch.tensor([[0, 1, 2]]), 0.1)
    bad = info_nce(z, z.roll(1, dims=1), torch.tensor([[0, 1, 2]]), 0.1)
    assert good < 0.01 < bad
    dup = info_nce(torch.ones(1, 2, 3), torch.ones(1, 2, 3), torch.tensor([[5, 5]]), 0.1)
    assert dup.item() == pytest.approx(0.0, abs=1e-6)


def test_agent_and_map_features_are_ego_centric():
    scn = tiny_scenario()
    cfg = FeatureConfig(history_steps=3)
    a, am = agent_features(scn, 4, cfg)
    assert am[0].all() and a[0, -1, 0] == pytest.approx(0.0) and a[0, -1, 2] == pytest.approx(1.0)  # ego at origin
    ped = a[1, -1]
    assert ped[0] == pytest.approx(52.0 - 14.0) and ped[1] == pytest.approx(4.0 + 1.75) and ped[9] == 1.0
    assert am[1].tolist() == [False, True, True]  # the pedestrian appears at frame 3
    m, mm = map_features(scn, 4, cfg)
    assert mm.any(axis=1).sum() >= 5 and np.abs(m[mm][:, 0]).max() <= cfg.map_radius_m + 1


def test_plan_features_turn_map_plans_into_the_anchor_frame():
    pose = np.array([10.0, 5.0, np.pi / 2])
    px = np.array([[10.0, 10.0, 10.0]])
    py = np.array([[5.0, 6.0, 7.0]])
    f = plan_features(px, py, np.full((1, 3), np.pi / 2), np.array([[1.0, 1.0, 1.0]]), pose)
    assert np.allclose(f[0, :, 0], [1.0, 2.0]) and np.allclose(f[0, :, 1], 0.0, atol=1e-6)
    assert np.allclose(f[0, :, 2], 1.0)


def test_occupancy_marks_the_cells_under_an_agent_box():
    ego = np.zeros((1, 1))
    ax = np.array([[[5.0]]])   # 5 m ahead
    ay = np.array([[[0.0]]])
    occ = agent_occupancy(ego, ego, ego, ax, ay, np.zeros((1, 1, 1)), np.full((1, 1, 1), 4.0),
                          np.full((1, 1, 1), 2.0), np.ones((1, 1, 1), bool), np.zeros(1, np.int64), 32, 1.0)
    cells = np.argwhere(occ[0, 0])
    # x in [3, 7] -> rows 19..22, y in [-1, 1] -> columns 15..16
    assert set(cells[:, 0]) == {19, 20, 21, 22} and set(cells[:, 1]) == {15, 16}
