"""From per-step hazards to risks and event times (discrete-time survival).

Step k covers (k * step_s, (k + 1) * step_s]. With hazard h_k = P(first event in step k
| none before), survival S_k = prod_{j <= k} (1 - h_j), cumulative risk 1 - S_k, and the
probability that the first event falls in step k is p_k = h_k S_{k-1}.
"""
from __future__ import annotations

import torch


def cumulative_risk(hazard: torch.Tensor) -> torch.Tensor:
    """``[..., S]`` hazards in [0, 1] -> ``[..., S]`` probability of an event by the end of each step."""
    return 1.0 - torch.cumprod(1.0 - hazard, dim=-1)


def first_event_probability(hazard: torch.Tensor) -> torch.Tensor:
    """``[..., S]`` probability that the first event happens in each step."""
    surv = torch.cumprod(1.0 - hazard, dim=-1)
    before = torch.cat([torch.ones_like(surv[..., :1]), surv[..., :-1]], -1)
    return hazard * before


def median_event_time(hazard: torch.Tensor, step_s: float) -> torch.Tensor:
    """Median time (s) of the first event given one happens within the horizon, ``[...]`` from
    hazards ``[..., S]``; events are spread uniformly within their step. The median is the point
    estimate with the least expected absolute error (the benchmark's time-to-event error).

    Where the event probability vanishes the horizon end is returned.
    """
    p = first_event_probability(hazard)
    mass = p.sum(-1, keepdim=True)
    share = p / mass.clamp_min(1e-9)                       # first-event distribution given an event
    cdf = torch.cumsum(share, -1)
    k = (cdf < 0.5).sum(-1, keepdim=True).clamp(max=hazard.shape[-1] - 1)   # step holding the median
    before = torch.gather(cdf, -1, (k - 1).clamp(min=0)) * (k > 0)
    frac = ((0.5 - before) / torch.gather(share, -1, k).clamp_min(1e-9)).clamp(0.0, 1.0)
    t = ((k + frac) * step_s)[..., 0]
    return torch.where(mass[..., 0] > 1e-6, t, torch.full_like(t, hazard.shape[-1] * step_s))


def event_step(event_time_s: torch.Tensor, step_s: float, steps: int) -> torch.Tensor:
    """Index of the step holding an event time (inf -> ``steps``, meaning no event)."""
    k = torch.ceil(event_time_s / step_s) - 1
    k = torch.clamp(k, min=0)
    return torch.where(torch.isfinite(event_time_s), k, torch.full_like(k, steps)).long().clamp_max(steps)


def hazard_targets(event_time_s: torch.Tensor, step_s: float, steps: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``(events, at_risk)`` ``[..., S]``: 1 at the event step; steps up to and including it are at risk."""
    k = event_step(event_time_s, step_s, steps)
    idx = torch.arange(steps, device=event_time_s.device)
    events = (idx == k.unsqueeze(-1)).float()
    at_risk = (idx <= k.unsqueeze(-1)).float()
    return events, at_risk
