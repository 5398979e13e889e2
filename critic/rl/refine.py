"""What the refinement study learns: the imitation policy, the adapted critics, each reward
source's table of decision-state rewards and the GRPO-refined policies.

The study itself (episodes, closed-loop evaluation, tables and files) is
:func:`benchmark.refine.refine`, behind ``impartial refine``.
"""
from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import torch

from critic.api import ImpartialCritic
from critic.checkpoint import save_checkpoint
from critic.config import Variant
from schemas import InputError

from .adapt import adapt_critic
from .config import RefineConfig
from .episodes import build_episodes
from .grpo import grpo_refine, imitation_init
from .rewards import critic_reward
from .rollout import DecisionStates, collect_decisions, dagger_states, imitation_states


def critic_table(critic: ImpartialCritic, ds: DecisionStates, rc: RefineConfig, batch: int = 48) -> np.ndarray:
    """Critic reward ``[S, A]`` of every decision state and target speed (one batched call per chunk)."""
    out = []
    dev = critic.device
    for i in range(0, len(ds.obs), batch):
        sl = slice(i, i + batch)
        t = lambda x: torch.as_tensor(x[sl], dtype=torch.float32, device=dev)  # noqa: E731
        hz = critic.score(ds.scene.take(sl).to_torch(dev), t(ds.plans))["hazards"]
        out.append(critic_reward(hz, t(ds.critic_geometric_reward), rc.reward, critic.cfg.features.dyn_stride,
                                 rc.sim.safety_horizon).cpu().numpy())
    return np.concatenate(out)


def imitation_policy(train_eps: list, cfg: RefineConfig, fc, log=print):
    """Behaviour cloning of the logged speeds, then ``cfg.grpo.dagger_rounds`` DAgger rounds."""
    obs, tgt = imitation_states(train_eps, cfg, fc)
    pol = imitation_init(obs, tgt, len(cfg.sim.target_speeds), cfg.grpo, log)
    for r in range(cfg.grpo.dagger_rounds):
        o, t = dagger_states(train_eps, pol.greedy, cfg, fc)
        obs, tgt = np.concatenate([obs, o]), np.concatenate([tgt, t])
        log(f"dagger round {r + 1}: {len(o)} visited states relabelled ({len(obs)} in total)")
        pol = imitation_init(obs, tgt, len(cfg.sim.target_speeds), cfg.grpo, log)
    return pol


def adapt_critics(data: Path, loaded: dict[str, ImpartialCritic], base, cfg: RefineConfig, fc, out: Path,
                  log=print) -> dict:
    """Adds ``<name>-adapted`` to ``loaded`` for every non-optimistic critic (:mod:`critic.rl.adapt`),
    from the imitation policy ``base`` in closed loop on ``cfg.adapt_anchors`` validation anchors,
    and saves each as a checkpoint ``out/critic-<name>-adapted``. Returns what was done for
    ``refine.json`` (skipped, with the reason, when the dataset has no validation split)."""
    names = [n for n, c in loaded.items() if c.cfg.variant is not Variant.OPTIMISTIC]
    if not cfg.adapt_anchors or not names:
        return {"critics": []}
    try:
        val_eps = build_episodes(data, "val", cfg.adapt_anchors, cfg.perturbed_per_anchor, cfg.seed + 2)
    except InputError as err:
        log(f"adaptation skipped: {err}")
        return {"critics": [], "skipped": str(err)}
    vds = collect_decisions(val_eps, base.greedy, cfg, fc, log, label_critic_plans=True)
    info = {"critics": names, "val_episodes": len(val_eps), "val_decision_states": int(len(vds.obs)),
            "failing_plan_share": float(vds.critic_plan_outcomes.any(-1).mean()), "steps": cfg.adapt_steps}
    for name in names:
        c = loaded[f"{name}-adapted"] = adapt_critic(loaded[name], vds, cfg, log)
        save_checkpoint(out / f"critic-{name}-adapted", c.model, c.cfg, extra={"adaptation": info},
                        calibration=c.model.calibration)
    return info


def refine_policies(base, obs: np.ndarray, tables: dict[str, np.ndarray], cfg: RefineConfig, log=print) -> dict:
    """``{"unrefined": [base], name: [policy per seed], ...}``: ``cfg.grpo_seeds`` GRPO refinements of
    the imitation policy ``base`` on the decision states ``obs`` ``[S, OBS_DIM]`` under each reward
    table ``[S, A]`` of ``tables`` (seed ``cfg.grpo.seed + i`` for the i-th)."""
    policies = {"unrefined": [base]}
    for name, table in tables.items():
        policies[name] = [grpo_refine(base, obs, table, dataclasses.replace(cfg.grpo, seed=cfg.grpo.seed + i), log)
                          for i in range(cfg.grpo_seeds)]
    return policies
