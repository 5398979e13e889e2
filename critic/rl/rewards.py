"""PerlAD reward terms on simulated events, and the critic reward built from the critic's hazards.

Per recorded step k = 1 .. T-1 (discount ``gamma ** (k - 1)``): collision (-30 vehicle,
-50 pedestrian or cyclist, -10 static), lane keeping (-30 per DOUBLE_SOLID and -10 per
SOLID crossing), ours: a red light -30 (at the step the ego's front crosses its lane's stop line
while the log shows STOP there, :func:`synth.signals.red_light_labels`; it does not end the
episode), off-road -30, and ``-distance * L2`` to the logged position; at the
last step, ``progress`` times the distance advanced along the logged path over the logged
distance, clipped to [0, 1]. A collision or off-road event ends the episode: later terms
are dropped and progress is taken at that step.
"""
from __future__ import annotations

import numpy as np
import torch

from synth.sim import Events, collision_penalty

from .config import RewardConfig


def perlad_reward(ev: Events, rc: RewardConfig) -> dict[str, np.ndarray]:
    """Reward terms ``[N]`` (named) and ``total`` of the events of N trajectories."""
    N, T = ev.log_distance.shape
    k = np.arange(1, T)
    disc = rc.gamma ** (k - 1)                                      # [T - 1]
    big = T + 1
    cs = np.where((ev.collision_step >= 0) & ev.at_fault, np.maximum(ev.collision_step, 1), big)
    os_ = np.where(ev.offroad_step >= 0, np.maximum(ev.offroad_step, 1), big)
    end = np.minimum(np.minimum(cs, os_), T - 1)                    # last counted step
    live = k[None] <= end[:, None]                                  # [N, T - 1]
    g = lambda step: rc.gamma ** (np.clip(step, 1, None) - 1)       # noqa: E731
    collision = np.where(cs <= end, collision_penalty(ev.collision_type, rc) * g(cs), 0.0)
    offroad = np.where((os_ <= end) & (os_ < cs), rc.offroad * g(os_), 0.0)
    lane = ((ev.solid * rc.solid + ev.double_solid * rc.double_solid) * disc * live).sum(1)
    distance = (-rc.distance * ev.log_distance[:, 1:] * disc * live).sum(1)
    along = ev.along[np.arange(N), end]
    prog = np.where(ev.logged_progress_m > 1.0, along / np.maximum(ev.logged_progress_m, 1.0), (along >= -0.5) * 1.0)
    progress = rc.progress * np.clip(prog, 0.0, 1.0) * g(end)
    rs = ev.red_light_step
    red_light = np.where((rs >= 1) & (rs <= end), rc.red_light * g(rs), 0.0)
    total = collision + offroad + lane + distance + progress + red_light
    return {"collision": collision, "offroad": offroad, "lane": lane, "distance": distance, "progress": progress,
            "red_light": red_light, "total": total}


def expected_event_penalty(hazard: torch.Tensor, penalty: float, stride: int, steps: int, gamma: float) -> torch.Tensor:
    """Expected discounted penalty of a first event from per-step hazards ``[..., S]``.

    Latent step j covers recorded steps ``(j * stride, (j + 1) * stride]``; the event is
    charged at the end of its latent step. Only latent steps ending within ``steps`` count.
    """
    S = min(hazard.shape[-1], steps // stride)
    h = hazard[..., :S].clamp(0.0, 1.0)
    survive = torch.cumprod(torch.cat([torch.ones_like(h[..., :1]), 1.0 - h[..., :-1]], -1), -1)
    first = h * survive                                             # P(first event in step j)
    k = (torch.arange(S, device=h.device, dtype=h.dtype) + 1) * stride
    return penalty * (first * gamma ** (k - 1)).sum(-1)


def critic_reward(hazards: torch.Tensor, deterministic: torch.Tensor, rc: RewardConfig, stride: int,
                  steps: int) -> torch.Tensor:
    """Critic reward ``[...]``: the plan's deterministic terms (lane, distance, progress and red light, computed
    from its geometry and the logged signals) plus the expected collision and off-road penalties from the critic's
    per-step hazards ``[..., S, 2]`` (collision charged at the vehicle value: the critic does
    not predict the agent type)."""
    return (deterministic + expected_event_penalty(hazards[..., 0], rc.collision_vehicle, stride, steps, rc.gamma)
            + expected_event_penalty(hazards[..., 1], rc.offroad, stride, steps, rc.gamma))
