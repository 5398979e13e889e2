"""Raw2Drive adapter: a Dreamer-style actor-critic learns, purely in the critic's imagination,
to avoid a collision that the pseudo-simulation then confirms."""
import dataclasses

import numpy as np
import torch
import torch.nn.functional as F

from critic.api import ImpartialCritic, SceneBatch
from critic.config import FeatureConfig, ModelConfig
from critic.losses import step_targets
from critic.model import build_model
from critic.rl.imagination import ActorCriticConfig, imagine, lambda_returns, train_actor_critic
from critic.rl.observe import candidate_plans
from pipelines.presets import preset
from synth.config import SimConfig
from synth.kinematics import Plans
from synth.sim import EgoState, events, simulate

from .test_sim_rewards import road_episode

SPEEDS = np.arange(0.0, 21.0, 2.0)


def _drive(ep, targets, sc):
    """Pseudo-simulate a sequence of per-0.5 s target speeds; returns the trajectory."""
    st = EgoState.at_anchor(ep)
    parts = []
    for v in targets:
        seg, st = simulate(ep, st, np.array([v]), 5, sc)
        parts.append(seg)
    traj = parts[0]
    for p in parts[1:]:
        traj = Plans.concat_time(traj, p)
    return traj


def _fit_world_model(ep, cfg, n_plans=64, steps=200):
    """A small critic fitted on pseudo-simulated plans of this one scene (random speed sequences)."""
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    sc = SimConfig()
    seqs = [np.full(16, v) for v in SPEEDS] + [rng.choice(SPEEDS, 16) for _ in range(n_plans - len(SPEEDS))]
    trajs = [_drive(ep, s, sc) for s in seqs]
    pose = np.array(ep.ctx.anchor_state[:3])
    plans = np.concatenate([candidate_plans(t, pose) for t in trajs])            # [P, 80, 5]
    coll = np.array([events(ep, t, 0).collision_step[0] for t in trajs])
    coll_t = torch.tensor(np.where(coll >= 0, coll * 0.1, np.inf), dtype=torch.float32)[None]
    scenes = SceneBatch.from_scenarios([(ep.ctx.scenario, ep.ctx.anchor)], cfg)
    model = build_model(cfg)
    plan = torch.as_tensor(plans)[None]
    S = cfg.features.plan_steps // cfg.features.dyn_stride
    tg = step_targets(coll_t, torch.full_like(coll_t, np.inf), plan, cfg.features.dyn_stride, 0.5, S)
    # a collision costs 10 (progress pays 0.1 per metre): driving on at 4 m/s gains 3 of progress before
    # it reaches the parked car at 7.5 s, so a cost of 5 (discounted to 3.2) made crashing late and
    # creeping safely a near tie that the actor could resolve either way
    tg["reward"] = tg["reward"] - 9.0 * tg["coll_events"]
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    for _ in range(steps):
        out = model(scenes, plan, occupancy=False)
        loss = F.mse_loss(out["reward"], tg["reward"]) + F.binary_cross_entropy_with_logits(out["continue_logits"],
                                                                                          tg["continue"])
        loss = loss + F.binary_cross_entropy_with_logits(out["hazard_logits"][..., 0], tg["coll_events"],
                                                         weight=tg["coll_at_risk"])
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()
    return ImpartialCritic(model, cfg), scenes, coll


def test_lambda_returns_match_a_hand_computation():
    r, c, v = torch.tensor([[1.0, 2.0]]), torch.tensor([[1.0, 0.5]]), torch.tensor([[0.0, 10.0, 20.0]])
    g1 = 2.0 + 0.9 * 0.5 * 20.0
    g0 = 1.0 + 0.9 * 1.0 * (0.2 * 10.0 + 0.8 * g1)
    assert torch.allclose(lambda_returns(r, c, v, 0.9, 0.8), torch.tensor([[g0, g1]]))


def test_actor_critic_in_imagination_learns_to_avoid_the_collision_the_simulation_confirms():
    ep = road_episode(60.0)
    cfg = dataclasses.replace(preset("debug").train, model=ModelConfig(d_model=32, heads=2, scene_layers=1),
                              features=FeatureConfig(max_agents=8, max_polylines=16, polyline_points=8))
    critic, scenes, coll = _fit_world_model(ep, cfg)
    assert coll[len(SPEEDS) - 1] >= 0 and coll[0] < 0          # driving on at 20 m/s crashes, stopping does not
    speeds = torch.tensor(SPEEDS, dtype=torch.float32)
    many = SceneBatch(*(x.expand(8, *x.shape[1:]) for x in (scenes.agents, scenes.agents_mask, scenes.map,
                                                              scenes.map_mask)))
    # the actor imagines the whole 8 s the simulation checks: a contact after a shorter horizon
    # is invisible to it
    actor, _, history = train_actor_critic(critic, many, speeds, ActorCriticConfig(horizon=16, iterations=150))
    assert np.mean(history[-20:]) > np.mean(history[:20])
    im = imagine(critic, scenes, actor, 16, speeds, greedy=True)
    traj = _drive(ep, SPEEDS[im.actions[0].numpy()], SimConfig())
    ev = events(ep, traj, 0)
    assert ev.collision_step[0] == -1, f"learned speeds {SPEEDS[im.actions[0].numpy()]} still collide"
    assert ev.along[0, -1] > 10.0                                # and it did not just stand still
