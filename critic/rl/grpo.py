"""Longitudinal speed policy: imitation initialisation and GRPO refinement (PerlAD-style).

The policy maps the compact observation of :mod:`critic.rl.observe` to logits over the
discrete target speeds. GRPO: per decision state, sample a group of G target speeds, take
their rewards (from a precomputed reward table: true simulation or critic), standardise
them within the group, and step on ``-A log pi + kl * KL(pi || pi_IL) - entropy * H(pi)``.
"""
from __future__ import annotations

import copy

import numpy as np
import torch
from torch import nn

from .config import GRPOConfig


class SpeedPolicy(nn.Module):
    """``[B, obs_dim]`` observations -> ``[B, n_speeds]`` logits."""

    def __init__(self, obs_dim: int, n_speeds: int, hidden: int):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(obs_dim, hidden), nn.Tanh(), nn.Linear(hidden, hidden), nn.Tanh(),
                                 nn.Linear(hidden, n_speeds))

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        return self.net(obs)

    @torch.inference_mode()
    def greedy(self, obs: np.ndarray) -> int | np.ndarray:
        """The most likely speed index of one observation ``[obs_dim]`` (an int), or of each of a batch
        ``[A, obs_dim]`` (``[A]`` int64: one forward pass for the batch)."""
        obs = torch.as_tensor(obs)
        if obs.ndim == 2:
            return self(obs).argmax(-1).numpy()
        return int(self(obs[None]).argmax(-1)[0])

    greedy.batched = True   # critic.rl.rollout: this ``choose`` takes a batch of observations too


def imitation_init(obs: np.ndarray, target: np.ndarray, n_speeds: int, cfg: GRPOConfig, log=None) -> SpeedPolicy:
    """Cross-entropy imitation of the logged target-speed index ``target`` ``[S]``."""
    torch.manual_seed(cfg.seed)
    pol = SpeedPolicy(obs.shape[1], n_speeds, cfg.hidden)
    opt = torch.optim.Adam(pol.parameters(), lr=cfg.lr)
    x, y = torch.as_tensor(obs), torch.as_tensor(target, dtype=torch.long)
    g = torch.Generator().manual_seed(cfg.seed)
    for ep in range(cfg.il_epochs):
        for idx in torch.randperm(len(x), generator=g).split(64):
            loss = nn.functional.cross_entropy(pol(x[idx]), y[idx], label_smoothing=0.05)
            opt.zero_grad()
            loss.backward()
            opt.step()
        if log and (ep + 1) % 20 == 0:
            with torch.no_grad():
                acc = (pol(x).argmax(-1) - y).abs().le(1).float().mean().item()
            log(f"il epoch {ep + 1}: loss {loss.item():.3f}, within one speed step {acc:.1%}")
    return pol


def grpo_refine(base: SpeedPolicy, obs: np.ndarray, rewards: np.ndarray, cfg: GRPOConfig, log=None) -> SpeedPolicy:
    """Refine a copy of ``base`` on decision states ``obs`` ``[S, D]`` with reward table ``[S, n_speeds]``."""
    pol = copy.deepcopy(base)
    ref = copy.deepcopy(base).requires_grad_(False)
    opt = torch.optim.Adam(pol.parameters(), lr=cfg.lr)
    x, R = torch.as_tensor(obs), torch.as_tensor(rewards, dtype=torch.float32)
    g = torch.Generator().manual_seed(cfg.seed)
    with torch.no_grad():
        ref_logp = torch.log_softmax(ref(x), -1)
    for it in range(cfg.iterations):
        idx = torch.randint(len(x), (min(cfg.states_per_batch, len(x)),), generator=g)
        logp = torch.log_softmax(pol(x[idx]), -1)                       # [B, A]
        acts = torch.multinomial(logp.exp(), cfg.group, replacement=True, generator=g)  # [B, G]
        r = torch.gather(R[idx], 1, acts)
        adv = r - r.mean(1, keepdim=True)
        if cfg.scale_by_std:
            adv = adv / (r.std(1, keepdim=True) + 1e-6)
        pg = -(adv * torch.gather(logp, 1, acts)).mean()
        p = logp.exp()
        entropy = -(p * logp).sum(-1).mean()
        kl = (p * (logp - ref_logp[idx])).sum(-1).mean()
        loss = pg + cfg.kl_to_il * kl - cfg.entropy * entropy
        opt.zero_grad()
        loss.backward()
        opt.step()
        if log and (it + 1) % 100 == 0:
            exp_r = (p.detach() * R[idx]).sum(-1).mean().item()
            log(f"grpo {it + 1}: expected reward {exp_r:.2f}, entropy {entropy.item():.2f}, kl {kl.item():.3f}")
    return pol
