import numpy as np
import pytest
import torch

from critic.config import FeatureConfig
from critic.features import agent_features, map_features, plan_features
from critic.losses import info_nce, step_targets
from critic.occupancy import agent_occupancy
from critic.risk import cumulative_risk, event_step, hazard_targets, median_event_time
from schemas import ObjectType
from tests.fixtures.builders import tiny_scenario


def test_cumulative_risk_and_median_time_follow_the_survival_formulas():
    h = torch.tensor([[0.5, 0.5, 0.0, 0.0], [0.0, 0.2, 0.2, 0.0]])
    assert torch.allclose(cumulative_risk(h)[0], torch.tensor([0.5, 0.75, 0.75, 0.75]))
    # row 0: first event in step 0 with p 0.5, step 1 with p 0.25 -> given an event, 2/3 in step 0,
    # spread uniformly over (0, 0.5] s: the median lies 0.5 / (2/3) = 3/4 of the way in, 0.375 s
    # row 1: p = 0.2 in step 1, 0.16 in step 2 -> 5/9 in step 1, the median at 0.9 of it: 0.95 s
    assert median_event_time(h, 0.5).tolist() == pytest.approx([0.375, 0.95])
    assert median_event_time(torch.zeros(1, 4), 0.5).item() == pytest.approx(2.0)


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


def _agent_features_reference(scn, step, cfg):
    """Slow reference: the ego, then the nearest agents (by distance at their last valid history
    frame), one agent and one frame at a time."""
    H, e = cfg.history_steps, scn.ego_index
    frames = [f for f in range(step - H + 1, step + 1)]
    x0, y0, h0 = scn.x[e, step], scn.y[e, step], scn.heading[e, step]
    c, s = np.cos(h0), np.sin(h0)
    ranked = []
    for i in range(scn.num_agents):
        seen = [f for f in frames if f >= 0 and scn.valid[i, f]]
        if i != e and seen:
            ranked.append((float(np.hypot(scn.x[i, seen[-1]] - x0, scn.y[i, seen[-1]] - y0)), i))
    rows = [e] + [i for _, i in sorted(ranked)[: cfg.max_agents]]
    feats = np.zeros((1 + cfg.max_agents, H, 13), np.float32)
    mask = np.zeros((1 + cfg.max_agents, H), bool)
    for r, i in enumerate(rows):
        for j, f in enumerate(frames):
            if f < 0 or not scn.valid[i, f]:
                continue
            dx, dy, dh = scn.x[i, f] - x0, scn.y[i, f] - y0, scn.heading[i, f] - h0
            vx, vy = scn.vx[i, f], scn.vy[i, f]
            feats[r, j, :8] = [c * dx + s * dy, -s * dx + c * dy, np.cos(dh), np.sin(dh), c * vx + s * vy,
                               -s * vx + c * vy, scn.length[i, f], scn.width[i, f]]
            feats[r, j, 8 + int(scn.object_type[i])] = 1.0
            feats[r, j, 12] = float(r == 0)
            mask[r, j] = True
    return feats, mask


def test_agent_features_for_many_egos_equal_the_one_ego_reference():
    """A crowd of 14 agents (more than max_agents = 6, some missing frames, mixed types) seen from
    three alternative ego histories at once equals the slow reference, and agent_features, with each
    history written in."""
    import dataclasses

    from critic.features import agent_features_for_egos
    rng = np.random.default_rng(3)
    base = tiny_scenario()
    n, T = 15, 6
    valid = rng.random((n, T)) > 0.2
    valid[0] = True
    scn = dataclasses.replace(
        base, track_id=[f"a{i}" for i in range(n)], object_type=[0] + list(rng.integers(0, 4, n - 1)), size_imputed=[False] * n,
        x=rng.uniform(-40, 40, (n, T)), y=rng.uniform(-20, 20, (n, T)), heading=rng.uniform(-3, 3, (n, T)),
        vx=rng.normal(0, 5, (n, T)), vy=rng.normal(0, 5, (n, T)), length=np.full((n, T), 4.0), width=np.full((n, T), 2.0),
        valid=valid)
    cfg = FeatureConfig(max_agents=6, history_steps=4)
    step, H = 5, 4
    ego = {k: rng.normal(0, 10 if k in ("x", "y") else 1, (3, H)) for k in ("x", "y", "heading", "vx", "vy")}
    ego["valid"] = np.array([[True] * H, [False, True, True, True], [True] * H])
    feats, mask = agent_features_for_egos(scn, step, cfg, ego)
    for e in range(3):
        ref = {k: np.array(getattr(scn, k), dtype=float) for k in ("x", "y", "heading", "vx", "vy")}
        for k in ref:
            ref[k][0, step - H + 1: step + 1] = ego[k][e]
        vv = scn.valid.copy()
        vv[0, step - H + 1: step + 1] = ego["valid"][e]
        f, m = _agent_features_reference(dataclasses.replace(scn, **ref, valid=vv), step, cfg)
        assert np.array_equal(m, mask[e]) and np.allclose(f, feats[e], atol=1e-5)
        one, one_mask = agent_features(dataclasses.replace(scn, **ref, valid=vv), step, cfg)
        assert np.array_equal(one, feats[e]) and np.array_equal(one_mask, mask[e])
    assert mask[:, 1:].any(axis=(1, 2)).all() and not np.allclose(feats[0], feats[2])


def test_agent_futures_are_the_tokens_true_positions_at_the_step_ends():
    """Three agents, max_agents = 2: the two nearest become tokens 1 and 2 (nearest first); their
    positions at anchor + 5, + 10, ... frames in the anchor's ego frame; frames missing or past the log
    are invalid; the ego token and the third agent have no target."""
    import dataclasses

    from critic.features import agent_features_and_futures
    T, anchor = 30, 10
    t = np.arange(T) * 0.1
    n = 4
    x = np.stack([5 * t, 50 + 0 * t, 20 + 10 * t, 200 + 0 * t])        # ego, far car, near car, very far car
    y = np.stack([0 * t, 3.5 + 0 * t, -3.5 + t, 0 * t])
    valid = np.ones((n, T), bool)
    valid[1, 20] = False
    scn = dataclasses.replace(tiny_scenario(), track_id=list("eabc"), object_type=[ObjectType.VEHICLE] * n,
                              size_imputed=[False] * n, x=x, y=y, heading=np.zeros((n, T)), vx=np.gradient(x, 0.1, axis=1),
                              vy=np.gradient(y, 0.1, axis=1), length=np.full((n, T), 4.0), width=np.full((n, T), 2.0),
                              valid=valid)
    cfg = FeatureConfig(max_agents=2, history_steps=3, plan_steps=20, dyn_stride=5)
    feats, feats_mask, pos, ok = agent_features_and_futures(scn, anchor, cfg)
    one, one_mask = agent_features(scn, anchor, cfg)
    assert np.array_equal(feats, one) and np.array_equal(feats_mask, one_mask)
    assert pos.shape == (3, 4, 2) and ok.shape == (3, 4)
    frames = [15, 20, 25, 30]
    assert not ok[0].any()
    assert ok[1].tolist() == [True, True, True, False]                  # token 1 = the near car; frame 30 is past the log
    assert ok[2].tolist() == [True, False, True, False]                 # token 2 = the far car, missing at frame 20
    for j, f in enumerate(frames[:3]):
        assert pos[1, j] == pytest.approx([x[2, f] - x[0, anchor], y[2, f]], abs=1e-5)
    assert pos[2, 0] == pytest.approx([50 - x[0, anchor], 3.5], abs=1e-5) and (pos[~ok] == 0).all()
