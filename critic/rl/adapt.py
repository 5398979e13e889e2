"""Adapting a counterfactual-trained critic to the states a driving policy visits.

The synthesized data show expert ego histories only, and every scene carries about the same
share of failing plans (the curriculum's quotas), so a critic learns *which plan* is worse far
better than *when* danger is near. In closed loop the policy reaches states no expert log shows
(creeping up to a stopped lead, say). Here a copy of the critic is fine-tuned on decision
states of the imitation policy in closed loop on **validation-split** scenes: the plans the
critic scores there (:func:`critic.rl.rollout.predicted_inputs`) are labelled by driving them
open loop among the true agents (:func:`critic.rl.rollout.plan_outcomes`, the synthesis
labeller), and the loss is the binary cross-entropy of the critic's event probability within
the safety horizon, the quantity the critic reward charges. The agents' forecaster is not
adapted: the other agents do not depend on the policy, and it keeps what it learned from their
true futures. The scenes whose states GRPO learns from (train split) and those it is evaluated
on (test split) are never used.
"""
from __future__ import annotations

import copy

import numpy as np
import torch

from critic.api import ImpartialCritic
from critic.device import module_device
from critic.risk import cumulative_risk

from .config import RefineConfig
from .rollout import DecisionStates


def horizon_risk(critic: ImpartialCritic, model: torch.nn.Module, ds: DecisionStates, idx: np.ndarray,
                 steps: int) -> torch.Tensor:
    """``[B, A, 2]`` probability of an at-fault collision / off-road event within ``steps`` recorded
    steps for the plans of states ``idx`` under ``model`` (with ``critic``'s calibration)."""
    dev = module_device(model)
    out = model(ds.scene.take(idx).to_torch(dev), torch.as_tensor(ds.plans[idx], dtype=torch.float32, device=dev),
                occupancy=False)
    S = max(1, steps // critic.cfg.features.dyn_stride)
    hz = critic.calibrated_hazards(out["hazard_logits"][..., :S, :])
    return cumulative_risk(hz.transpose(-1, -2))[..., -1]


def adapt_critic(critic: ImpartialCritic, ds: DecisionStates, cfg: RefineConfig, log=print) -> ImpartialCritic:
    """A copy of ``critic`` fine-tuned for ``cfg.adapt_steps`` on labelled decision states ``ds``."""
    if ds.critic_plan_outcomes is None:
        raise ValueError("adapt_critic: the decision states carry no plan outcomes (collect them with labels)")
    torch.manual_seed(cfg.seed)
    model = copy.deepcopy(critic.model)
    model.train()
    # the other agents' forecast does not depend on the policy, and the hazard loss alone would
    # bend it to fit a few thousand labels: it stays as trained on the agents' true futures
    if model.dynamics.forecaster is not None:
        model.dynamics.forecaster.requires_grad_(False)
    opt = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=cfg.adapt_lr)
    rng = np.random.default_rng(cfg.seed)
    y_all = ds.critic_plan_outcomes.astype(np.float32)
    B = min(cfg.adapt_batch, len(ds.obs))
    for step in range(cfg.adapt_steps):
        idx = rng.choice(len(ds.obs), B, replace=False)
        r = horizon_risk(critic, model, ds, idx, cfg.sim.safety_horizon).clamp(1e-6, 1 - 1e-6)
        loss = torch.nn.functional.binary_cross_entropy(r, torch.as_tensor(y_all[idx], device=r.device))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if log and (step + 1) % 100 == 0:
            log(f"adapt {step + 1}/{cfg.adapt_steps}: loss {loss.item():.4f}")
    return ImpartialCritic(model, critic.cfg)   # the deep copy keeps the calibration; eval mode
