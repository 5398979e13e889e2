"""``impartial refine`` end to end on the debug presets, and the critic adaptation."""
import json

import numpy as np
import pytest

from pipelines.cli import main


def test_refine_cli_writes_the_closed_loop_table_plot_and_policies(synth_dataset, debug_critic, tmp_path):
    out = tmp_path / "refine"
    code = main(["refine", "--data", str(synth_dataset), "--critic", f"impartial={debug_critic[0]}", "--out", str(out),
                 "--preset", "debug", "--quiet"])
    assert code == 0
    res = json.loads((out / "refine.json").read_text())
    table = res["table"]["all"]
    assert set(table) == {"unrefined (IL)", "GRPO + simulator", "GRPO + impartial", "GRPO + impartial-adapted"}
    assert res["adaptation"]["critics"] == ["impartial"] and res["adaptation"]["val_decision_states"] > 0
    from critic.api import ImpartialCritic
    adapted = ImpartialCritic.load(out / "critic-impartial-adapted")        # a checkpoint an RL loop can import
    assert adapted.model.calibration == ImpartialCritic.load(debug_critic[0]).model.calibration
    for row in table.values():
        assert row["episodes"] == res["test_episodes"] > 0 and row["violations_sd_seeds"] >= 0.0
        assert 0.0 <= row["PDMS"] <= 1.0 and row["progress_m"] > 0.0
    assert table["GRPO + impartial"]["seeds"] == 2 and table["unrefined (IL)"]["seeds"] == 1
    assert -1.0 <= res["ranking"]["impartial"]["kendall_tau"] <= 1.0
    md = (out / "closed_loop.md").read_text()
    assert "GRPO + impartial" in md and "PDMS" in md
    assert (out / "closed_loop.png").read_bytes()[:4] == b"\x89PNG"
    assert (out / "policy-unrefined.safetensors").exists() and (out / "policy-simulator.safetensors").exists()
    assert (out / "policy-impartial-seed1.safetensors").exists()
    assert len((out / "closed_loop.csv").read_text().splitlines()) >= 4


def test_refine_rejects_a_missing_critic_with_a_clear_error(synth_dataset, tmp_path, capsys):
    code = main(["refine", "--data", str(synth_dataset), "--out", str(tmp_path / "r"), "--preset", "debug"])
    assert code == 2 and "critic" in capsys.readouterr().err


def test_adaptation_learns_the_labelled_outcomes_of_its_states_keeps_the_forecast_and_leaves_the_critic_untouched(
        debug_critic):
    """Plans of states whose first agent is close fail, others do not: a few adaptation steps lower
    the cross-entropy of the critic's horizon risk on exactly that rule, without moving the agents'
    forecaster; the original is unchanged."""
    import dataclasses

    import torch

    from critic.api import ImpartialCritic
    from critic.features import AGENT_FEATURES, MAP_FEATURES, PLAN_FEATURES
    from critic.rl.adapt import adapt_critic, horizon_risk
    from pipelines.presets import preset
    from critic.rl.rollout import DecisionStates
    from critic.scene import SceneBatch
    critic = ImpartialCritic.load(debug_critic[0])
    fc, S, A = critic.cfg.features, 24, 3
    g = np.random.default_rng(0)
    agents = g.normal(0, 1, (S, 1 + fc.max_agents, fc.history_steps, AGENT_FEATURES)).astype(np.float32)
    near = np.arange(S) % 2 == 0
    agents[:, 1, :, 0] = np.where(near, 5.0, 60.0)[:, None]
    z = np.zeros((S, A))
    ds = DecisionStates(obs=np.zeros((S, 4), np.float32), true_reward=z, geometric_reward=z, critic_geometric_reward=z,
                        scene=SceneBatch(agents=agents, agents_mask=np.ones(agents.shape[:3], bool),
                                         map=g.normal(0, 1, (S, fc.max_polylines, fc.polyline_points,
                                                             MAP_FEATURES)).astype(np.float32),
                                         map_mask=np.ones((S, fc.max_polylines, fc.polyline_points), bool)),
                        plans=g.normal(0, 1, (S, A, fc.plan_steps, PLAN_FEATURES)).astype(np.float32),
                        episode=np.arange(S), step=np.zeros(S, int),
                        critic_plan_outcomes=np.stack([np.repeat(near[:, None], A, 1), np.zeros((S, A), bool)], -1))
    cfg = dataclasses.replace(preset("debug").refine, adapt_steps=80, adapt_batch=8, adapt_lr=3e-3)
    y = torch.as_tensor(ds.critic_plan_outcomes, dtype=torch.float32)
    bce = lambda c: float(torch.nn.functional.binary_cross_entropy(  # noqa: E731
        horizon_risk(critic, c.model, ds, np.arange(S), cfg.sim.safety_horizon).detach().clamp(1e-6, 1 - 1e-6), y))
    before = {k: v.clone() for k, v in critic.model.state_dict().items()}
    adapted = adapt_critic(critic, ds, cfg, log=None)
    assert bce(adapted) < 0.5 * bce(critic)
    assert all(torch.equal(v, critic.model.state_dict()[k]) for k, v in before.items())
    # the agents' forecast is left as trained on their true futures; the rest moves
    after = adapted.model.state_dict()
    moved = {k for k, v in before.items() if not torch.equal(v, after[k])}
    assert moved and not any(k.startswith("dynamics.forecaster.") for k in moved)
    assert any(k.startswith("dynamics.forecaster.") for k in before)
    with pytest.raises(ValueError, match="plan outcomes"):
        adapt_critic(critic, dataclasses.replace(ds, critic_plan_outcomes=None), cfg, log=None)


def test_a_batched_greedy_policy_chooses_what_it_chooses_one_observation_at_a_time():
    import numpy as np
    import torch
    from critic.rl.grpo import SpeedPolicy
    from critic.rl.rollout import choose_each
    torch.manual_seed(0)
    pol = SpeedPolicy(12, 7, 16)
    obs = np.random.default_rng(0).normal(size=(50, 12)).astype(np.float32)
    one_by_one = [pol.greedy(o) for o in obs]
    assert isinstance(one_by_one[0], int)
    assert choose_each(pol.greedy, obs).tolist() == one_by_one
    assert choose_each(lambda o: pol.greedy(o), obs).tolist() == one_by_one   # a plain callable: row by row
