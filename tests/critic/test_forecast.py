import math

import torch

from critic.columns import MapCol
from critic.forecast import Forecaster, agent_centric_edges
from critic.interactions import constant_velocity_ends
from critic.model import key_bias


def _agent(x, y, heading, vx, vy, length=4.5, width=1.9):
    return [x, y, math.cos(heading), math.sin(heading), vx, vy, length, width, 1, 0, 0, 0, 0]


def _line(points, kind=0):
    return [[px, py] + [1.0 if k == kind else 0.0 for k in range(8)] for px, py in points]


def test_edges_place_a_leader_ahead_and_each_lane_along_or_against_the_agent():
    # the agent (token 1) drives north at 5 m/s; a slower car 8 m ahead of it; lanes 1.5 m to its
    # right (pointing north) and left (pointing south); the ego (token 0) is 10 m behind it
    agents = torch.tensor([[_agent(10, -10, math.pi / 2, 0, 5), _agent(10, 0, math.pi / 2, 0, 5),
                            _agent(10, 8, math.pi / 2, 0, 3)]], dtype=torch.float32)[:, :, None]   # H = 1
    north = [(11.5, y) for y in (-6.0, -3.0, 0.0, 3.0)]
    south = [(8.5, y) for y in (12.0, 6.0, 0.0, -6.0)]
    map_ = torch.tensor([[_line(north), _line(south)]], dtype=torch.float32)
    e = agent_centric_edges(agents, map_, torch.ones(1, 2, 4, dtype=torch.bool))
    assert e.shape == (1, 2, 5, 8)
    leader = e[0, 0, 2]
    torch.testing.assert_close(leader, torch.tensor([8 / 20, 0, 1, 0, -2 / 10, 0, 0, math.exp(-8 / 5)]), atol=1e-6, rtol=0)
    ego = e[0, 0, 0]
    torch.testing.assert_close(ego[:2], torch.tensor([-10 / 20, 0.0]), atol=1e-6, rtol=0)
    right, left = e[0, 0, 3], e[0, 0, 4]
    torch.testing.assert_close(right, torch.tensor([0, -1.5 / 20, 1, 0, 0, 0, 1, math.exp(-1.5 / 5)]), atol=1e-6, rtol=0)
    torch.testing.assert_close(left, torch.tensor([0, 1.5 / 20, -1, 0, 0, 0, 1, math.exp(-1.5 / 5)]), atol=1e-6, rtol=0)
    # seen from the leader, the north lane's nearest point is its last one: its direction still points north
    torch.testing.assert_close(e[0, 1, 3, :4], torch.tensor([-5 / 20, -1.5 / 20, 1, 0]), atol=1e-6, rtol=0)


def test_edges_do_not_change_when_the_whole_scene_is_moved_and_turned():
    torch.manual_seed(0)
    B, A, H, M, L = 2, 6, 3, 5, 7
    agents = torch.randn(B, 1 + A, H, 13) * 10
    h = torch.rand(B, 1 + A, H) * 2 * math.pi
    agents[..., 2], agents[..., 3] = h.cos(), h.sin()
    map_ = torch.randn(B, M, L, MapCol.COUNT) * 15
    mask = torch.rand(B, M, L) > 0.2
    mask[..., 0] = True

    def move(xy, th, t):
        c, s = math.cos(th), math.sin(th)
        return torch.stack([c * xy[..., 0] - s * xy[..., 1] + t[0], s * xy[..., 0] + c * xy[..., 1] + t[1]], -1)

    th, t = 0.7, (13.0, -4.0)
    a2, m2 = agents.clone(), map_.clone()
    a2[..., 0:2] = move(agents[..., 0:2], th, t)
    a2[..., 2:4] = move(agents[..., 2:4], th, (0.0, 0.0))
    a2[..., 4:6] = move(agents[..., 4:6], th, (0.0, 0.0))
    m2[..., 0:2] = move(map_[..., 0:2], th, t)
    torch.testing.assert_close(agent_centric_edges(a2, m2, mask), agent_centric_edges(agents, map_, mask),
                               atol=1e-4, rtol=1e-4)


def _forecaster_inputs(B=2, A=4, H=3, M=3, L=5, D=16):
    torch.manual_seed(0)
    agents = torch.randn(B, 1 + A, H, 13) * 5
    h = torch.rand(B, 1 + A, H) * 6.28
    agents[..., 2], agents[..., 3] = h.cos(), h.sin()
    tokens = torch.randn(B, 1 + A + M, D)
    bias = key_bias(torch.ones(B, 1 + A + M, dtype=torch.bool), tokens.dtype)
    return tokens, bias, agents, torch.randn(B, M, L, MapCol.COUNT) * 10, torch.ones(B, M, L, dtype=torch.bool)


def test_an_untrained_single_mode_forecaster_is_constant_velocity_and_a_trained_one_moves_off_it():
    inputs = _forecaster_inputs()
    f = Forecaster(16, heads=2, layers=2, steps=6, stride=5)
    cv = constant_velocity_ends(inputs[2][:, 1:, -1], 6, 5)
    ends, logits = f(*inputs)
    assert ends.shape == (2, 4, 1, 6, 2) and logits.shape == (2, 4, 1)
    torch.testing.assert_close(ends[:, :, 0], cv)
    torch.nn.init.normal_(f.head[-1].weight, std=0.3)
    assert (f(*inputs)[0][:, :, 0] - cv).abs().max() > 0.5


def test_untrained_modes_start_as_constant_accelerations_along_each_agents_heading():
    inputs = _forecaster_inputs()
    f = Forecaster(16, heads=2, layers=1, steps=6, stride=5, modes=3)
    ends, logits = f(*inputs)
    last = inputs[2][:, 1:, -1]
    off = ends - constant_velocity_ends(last, 6, 5)[:, :, None]            # [B, A, 3, 6, 2]
    t = torch.arange(1, 7) * 0.5
    heading = last[:, :, None, None, 2:4]
    for k, accel in enumerate((-2.0, -0.5, 1.0)):
        torch.testing.assert_close(off[:, :, k], 0.5 * accel * t[:, None] ** 2 * heading[:, :, 0], atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(logits, torch.zeros(2, 4, 3))


def test_motion_loss_trains_only_each_agents_best_mode_and_the_mode_logits_towards_it():
    from critic.batching import Targets, TrainBatch
    from critic.config import LossWeights
    from critic.losses import compute_losses
    from critic.scene import SceneBatch

    class _Model:   # what compute_losses reads of a model: a forecaster is there
        class dynamics:
            forecaster = object()

    truth = torch.zeros(1, 3, 4, 2)                                   # token 0 (ego) + 2 agents, 4 steps
    truth[0, 1, :, 0] = torch.arange(1.0, 5.0)                        # agent 1 moves along x
    mask = torch.ones(1, 3, 4, dtype=torch.bool)
    mask[0, 0] = False
    mask[0, 2, 2:] = False                                            # agent 2 seen for two steps only
    forecast = torch.zeros(1, 2, 2, 4, 2)                             # [B, A, K, S, 2]
    forecast[0, 0, 1, :, 0] = torch.arange(1.0, 5.0)                  # agent 1: mode 1 is exact
    forecast[0, 1, 0] = 0.5                                           # agent 2: mode 0 is off by 0.5 m in x and y
    forecast[0, 1, 1] = 3.0                                           # ... mode 1 by 3 m
    logits = torch.tensor([[[0.0, 0.0], [1.0, -1.0]]], requires_grad=True)
    out = {"hazard_logits": torch.zeros(1, 1, 4, 2), "occ_logits": torch.zeros(1, 1, 1, 2, 2, 2),
           "reward": torch.zeros(1, 1, 4), "continue_logits": torch.zeros(1, 1, 4),
           "agent_forecast": forecast, "agent_mode_logits": logits}
    tg = {k: torch.zeros(1, 1, 4) for k in ("coll_events", "off_events", "reward", "continue")}
    tg.update({k: torch.ones(1, 1, 4) for k in ("coll_at_risk", "off_at_risk")})
    scene = SceneBatch(torch.zeros(1, 3, 1, 13), torch.zeros(1, 3, 1, dtype=torch.bool), torch.zeros(1, 1, 1, MapCol.COUNT),
                       torch.zeros(1, 1, 1, dtype=torch.bool))
    targets = Targets(coll_t=torch.full((1, 1), torch.inf), off_t=torch.full((1, 1), torch.inf),
                      occ=torch.zeros(1, 1, 1, 2, 2, 2), agent_future=truth, agent_future_mask=mask)
    batch = TrainBatch(scene, torch.zeros(1, 1, 20, 5), targets, row_ids=torch.zeros(1, 1, dtype=torch.long))
    w = LossWeights(contrastive=0.0)
    _, terms = compute_losses(_Model(), out, batch, tg, w, gamma=1.0, temperature=0.1)
    huber = 2 * 0.5 * 0.5 ** 2                                        # agent 2, mode 0: two coordinates off by 0.5 m
    torch.testing.assert_close(terms["motion"], torch.tensor(2 * huber / 6))   # summed over 2 steps, over 6 seen steps
    ce = torch.nn.functional.cross_entropy(logits[0].detach(), torch.tensor([1, 0]))
    torch.testing.assert_close(terms["mode"], ce)
