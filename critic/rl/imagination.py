"""Raw2Drive-style use of the critic: imagination rollouts in its latent dynamics, with reward
and continue from the critic's heads ("head guidance"), and a small Dreamer-style
actor-critic (lambda-returns, REINFORCE for the discrete target speed) that learns there.

Imagined plans: at every latent step (``dyn_stride`` x 0.1 s) the actor picks a target speed;
the ego's speed moves towards it within the acceleration limits and the ego advances along a
reference path (ego frame at the scene's anchor; default: straight ahead). The world model is
frozen; only the actor and value networks learn.
"""
from __future__ import annotations

import dataclasses

import torch
from torch import nn

from critic.api import ImpartialCritic, SceneBatch
from critic.columns import AgentCol
from schemas import CANONICAL_DT
from synth.config import SimConfig

PATH_DS = 0.5  # m between reference-path samples


@dataclasses.dataclass(frozen=True, eq=False)
class Imagined:
    """An imagined rollout of B scenes over H latent steps.

    ``latents`` ``[B, H + 1, D]`` (index 0 = the scene's latent before acting); ``rewards``,
    ``continues`` (probabilities), ``logp``, ``entropy``, ``actions`` ``[B, H]``; ``hazards``
    ``[B, H, 2]`` (collision, off-road); ``plan`` ``[B, H * stride, 5]`` ego-frame states.
    """

    latents: torch.Tensor
    rewards: torch.Tensor
    continues: torch.Tensor
    hazards: torch.Tensor
    actions: torch.Tensor
    logp: torch.Tensor
    entropy: torch.Tensor
    plan: torch.Tensor


class Actor(nn.Module):
    """Latent ``[..., D]`` -> logits over the target speeds."""

    def __init__(self, d: int, n_speeds: int, hidden: int = 64):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(d, hidden), nn.ELU(), nn.Linear(hidden, n_speeds))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z)


def _along(path: torch.Tensor, s: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Position and unit tangent at arc length ``s`` ``[B]`` of paths ``[B, M, 2]`` sampled every 0.5 m."""
    M = path.shape[1]
    u = (s / PATH_DS).clamp(0, M - 1.001)
    i = u.floor().long()
    f = (u - i)[:, None]
    b = torch.arange(len(s), device=s.device)
    p0, p1 = path[b, i], path[b, i + 1]
    tang = p1 - p0
    tang = tang / tang.norm(dim=-1, keepdim=True).clamp_min(1e-6)
    return p0 + f * (p1 - p0), tang[:, 0], tang[:, 1]


def straight_path(B: int, length_m: float = 250.0, device="cpu") -> torch.Tensor:
    s = torch.arange(0.0, length_m, PATH_DS, device=device)
    return torch.stack([s, torch.zeros_like(s)], -1).expand(B, -1, -1)


#: the pseudo-simulator's controller limits: imagined speed changes obey the same envelope
_LIMITS = SimConfig().limits


def imagine(critic: ImpartialCritic, scenes: SceneBatch, actor: nn.Module, horizon: int, speeds: torch.Tensor,
            path: torch.Tensor | None = None, greedy: bool = False, generator: torch.Generator | None = None,
            max_accel: float = _LIMITS.max_accel, max_decel: float = _LIMITS.max_decel) -> Imagined:
    """Roll the critic's latent dynamics for ``horizon`` steps under ``actor``.

    Gradients flow into ``actor`` through ``logp`` / ``entropy`` only; the critic is frozen.
    """
    model, fc = critic.model, critic.cfg.features
    dyn, stride, dt = model.dynamics, fc.dyn_stride, CANONICAL_DT
    if horizon > dyn.total_steps:
        raise ValueError(f"horizon: at most {dyn.total_steps} latent steps (the critic's plan length)")
    scenes = scenes.to_torch(critic.device)   # tensors already on the device pass unchanged
    with torch.no_grad():
        map_, map_mask = model.map_input(scenes)
        tokens, valid, ego = model.scene(scenes.agents, scenes.agents_mask, map_, map_mask)
        mem = dyn.memory(tokens, valid, scenes.agents, scenes.agents_mask, map_, map_mask,
                         scenes.drivable if model.mc.event_prior else None)
    B = ego.shape[0]
    path = straight_path(B, device=ego.device) if path is None else path
    v = scenes.agents[:, 0, -1, AgentCol.VEL].norm(dim=-1)
    s = torch.zeros(B, device=ego.device)
    h = ego[:, None]
    lat, rew, cont, haz, acts, logps, ents, plan = [h[:, 0]], [], [], [], [], [], [], []
    for j in range(horizon):
        logits = actor(h[:, 0].detach())
        dist = torch.distributions.Categorical(logits=logits)
        a = logits.argmax(-1) if greedy else torch.multinomial(dist.probs.detach(), 1, generator=generator)[:, 0]
        logps.append(dist.log_prob(a))
        ents.append(dist.entropy())
        acts.append(a)
        with torch.no_grad():
            target = speeds[a]
            states = []
            for _ in range(stride):
                v = (v + (target - v).clamp(-max_decel * dt, max_accel * dt)).clamp_min(0.0)
                s = s + v * dt
                p, c, sn = _along(path, s)
                states.append(torch.stack([p[:, 0], p[:, 1], c, sn, v], -1))   # critic.columns.PlanCol order
            chunk = torch.stack(states, 1)[:, None]                          # [B, 1, stride, 5]
            h, ev = dyn.step(h, chunk, j, mem, scenes.agents, map_, map_mask)
            lat.append(h[:, 0])
            rew.append(model.reward(h)[:, 0, 0])
            cont.append(torch.sigmoid(model.cont(h))[:, 0, 0])
            haz.append(critic.calibrated_hazards(model.hazards(h, ev)[:, 0]))
            plan.append(chunk[:, 0])
    st = lambda x: torch.stack(x, 1)  # noqa: E731
    return Imagined(st(lat), st(rew), st(cont), st(haz), st(acts), st(logps), st(ents), torch.cat(plan, 1))


def lambda_returns(rewards: torch.Tensor, continues: torch.Tensor, values: torch.Tensor, gamma: float,
                   lam: float) -> torch.Tensor:
    """Dreamer's lambda-returns ``[B, H]``: ``G_t = r_t + gamma c_t ((1 - lam) V_{t+1} + lam G_{t+1})``,
    bootstrapped with ``G_H = V_H``; ``values`` ``[B, H + 1]`` (index t = before action t)."""
    H = rewards.shape[1]
    out = []
    g = values[:, -1]
    for t in reversed(range(H)):
        g = rewards[:, t] + gamma * continues[:, t] * ((1 - lam) * values[:, t + 1] + lam * g)
        out.append(g)
    return torch.stack(out[::-1], 1)


@dataclasses.dataclass(frozen=True)
class ActorCriticConfig:
    """Dreamer-style learning in imagination."""

    horizon: int = 12
    """Imagined latent steps (x 0.5 s)."""
    gamma: float = 0.97
    """Discount per latent step."""
    lam: float = 0.95
    """lambda of the lambda-returns."""
    entropy: float = 3e-3
    iterations: int = 300
    lr: float = 3e-3
    seed: int = 0


def train_actor_critic(critic: ImpartialCritic, scenes: SceneBatch, speeds: torch.Tensor, cfg: ActorCriticConfig,
                       path: torch.Tensor | None = None, log=None) -> tuple[Actor, nn.Module, list[float]]:
    """Learn an actor and a value function purely in the critic's imagination from ``scenes``.
    Returns ``(actor, value, mean imagined return per iteration)``."""
    torch.manual_seed(cfg.seed)
    d = critic.cfg.model.d_model
    actor = Actor(d, len(speeds))
    value = nn.Sequential(nn.Linear(d, 64), nn.ELU(), nn.Linear(64, 1))
    opt = torch.optim.Adam([*actor.parameters(), *value.parameters()], lr=cfg.lr)
    g = torch.Generator().manual_seed(cfg.seed)
    history = []
    for it in range(cfg.iterations):
        im = imagine(critic, scenes, actor, cfg.horizon, speeds, path, generator=g)
        vals = value(im.latents).squeeze(-1)                                # [B, H + 1]
        ret = lambda_returns(im.rewards, im.continues, vals.detach(), cfg.gamma, cfg.lam)
        adv = (ret - vals[:, :-1]).detach()
        actor_loss = -(adv * im.logp).mean() - cfg.entropy * im.entropy.mean()
        value_loss = 0.5 * (vals[:, :-1] - ret.detach()).pow(2).mean()
        opt.zero_grad()
        (actor_loss + value_loss).backward()
        opt.step()
        history.append(float(ret[:, 0].mean()))
        if log and (it + 1) % 50 == 0:
            log(f"imagination {it + 1}: return {history[-1]:.3f}, value loss {value_loss.item():.4f}")
    return actor, value, history
