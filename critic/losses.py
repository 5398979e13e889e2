"""Training losses as a named dict with explicit weights (logged as ``loss/<name>``).

* ``hazard``: focal binary cross-entropy of the per-step collision and off-road hazards
  on the steps at risk (discrete-time survival likelihood).
* ``motion``: Huber loss (m, delta 1 m) of the agents' forecast positions at the step ends
  against their true positions, where observed, for each agent's best mode only
  (winner-takes-all, as in multi-modal forecasters such as MultiPath and MTR).
* ``mode``: cross-entropy of the forecast's mode logits against that best mode.
* ``occupancy``: binary cross-entropy of the dreamed occupancy against the true one.
* ``reward``: mean squared error of the per-step reward head; ``continue`` BCE is folded
  into it (the episode ends at the first event).
* ``contrastive``: InfoNCE between each plan's predicted future latent and the encoding
  of the true future it led to, the other plans of the same scene as hard negatives.
* ``diffusion``: noise-prediction MSE of the diffusers dream decoder (when enabled).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from .columns import PlanCol
from .batching import Targets, TrainBatch
from .config import LossWeights
from .risk import hazard_targets

COLLISION_PENALTY, OFFROAD_PENALTY, PROGRESS_SCALE = 1.0, 0.5, 0.1


def step_targets(coll_t, off_t, plan, stride: int, step_s: float, steps: int) -> dict:
    """Per-step targets ``[B, P, S]`` from event times ``[B, P]`` (s, inf = none) and plans."""
    ce, cr = hazard_targets(coll_t, step_s, steps)
    oe, orisk = hazard_targets(off_t, step_s, steps)
    xy = plan[..., PlanCol.XY]
    start = torch.cat([torch.zeros_like(xy[:, :, :1]), xy[:, :, :-1]], 2)
    seg = (xy - start).norm(dim=-1)
    progress = seg[:, :, : steps * stride].reshape(*seg.shape[:2], steps, stride).sum(-1)
    alive = cr * orisk  # steps up to and including the first event of either kind
    reward = (PROGRESS_SCALE * progress - COLLISION_PENALTY * ce - OFFROAD_PENALTY * oe) * alive
    cont = 1.0 - torch.clamp(torch.cumsum(ce + oe, -1), max=1.0)
    return {"coll_events": ce, "coll_at_risk": cr, "off_events": oe, "off_at_risk": orisk, "reward": reward,
            "continue": cont, "alive": alive}


def focal_bce(logits, target, mask, gamma: float, pos_weight: float = 4.0) -> torch.Tensor:
    """Focal BCE with positives up-weighted by ``pos_weight`` (events are rare per step)."""
    p = torch.sigmoid(logits)
    ce = F.binary_cross_entropy_with_logits(logits, target, reduction="none") * (1 + (pos_weight - 1) * target)
    pt = p * target + (1 - p) * (1 - target)
    loss = ce * (1 - pt) ** gamma
    return (loss * mask).sum() / mask.sum().clamp_min(1.0)


def info_nce(z_pred: torch.Tensor, z_true: torch.Tensor, row_ids: torch.Tensor, temperature: float) -> torch.Tensor:
    """``z_*`` ``[B, P, D]``; plans with the same row id are positives of each other (duplicates)."""
    zp = F.normalize(z_pred, dim=-1)
    zt = F.normalize(z_true, dim=-1)
    logits = zp @ zt.transpose(1, 2) / temperature                      # [B, P, P]
    same = row_ids.unsqueeze(-1) == row_ids.unsqueeze(-2)
    eye = torch.eye(logits.shape[-1], dtype=torch.bool, device=logits.device)
    logits = logits.masked_fill(same & ~eye, float("-inf"))             # a duplicate is not a negative
    target = torch.arange(logits.shape[-1], device=logits.device).expand(logits.shape[:2])
    if logits.shape[-1] == 1:
        return logits.sum() * 0.0
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), target.reshape(-1))


def forecast_losses(forecast: torch.Tensor, mode_logits: torch.Tensor, targets: Targets) -> dict:
    """``motion`` (winner-takes-all Huber, m, per observed agent step) and, with several modes, ``mode``
    (cross-entropy towards each agent's best mode) from ``forecast`` ``[B, A, K, S, 2]`` and
    ``mode_logits`` ``[B, A, K]`` against ``targets.agent_future`` (token 0, the ego, is skipped)."""
    m = targets.agent_future_mask[:, 1:]                                   # [B, A, S]
    truth = targets.agent_future[:, 1:, None]                              # [B, A, 1, S, 2]
    err = (F.huber_loss(forecast, truth.expand_as(forecast), reduction="none", delta=1.0).sum(-1) * m[:, :, None]).sum(-1)
    best = err.argmin(-1)                                                   # [B, A]: the winning mode
    terms = {"motion": err.gather(-1, best[..., None]).sum() / m.sum().clamp_min(1.0)}
    if forecast.shape[2] > 1:
        seen = m.any(-1)
        terms["mode"] = F.cross_entropy(mode_logits[seen], best[seen]) if seen.any() else err.sum() * 0
    return terms


def compute_losses(model, out: dict, batch: TrainBatch, tg: dict, weights: LossWeights, gamma: float,
                   temperature: float, diffusion=None) -> tuple[torch.Tensor, dict]:
    """Weighted total and the named, unweighted terms of the model outputs ``out`` on ``batch``
    (``tg``: :func:`step_targets` of its plans)."""
    hl, occ = out["hazard_logits"], batch.targets.occ
    terms = {
        "hazard": 0.5 * (focal_bce(hl[..., 0], tg["coll_events"], tg["coll_at_risk"], gamma)
                         + focal_bce(hl[..., 1], tg["off_events"], tg["off_at_risk"], gamma)),
        "occupancy": F.binary_cross_entropy_with_logits(out["occ_logits"], occ[:, : out["occ_logits"].shape[1]],
                                                        pos_weight=torch.tensor(3.0, device=hl.device)),
        "reward": F.mse_loss(out["reward"], tg["reward"])
        + F.binary_cross_entropy_with_logits(out["continue_logits"], tg["continue"]),
    }
    if weights.motion > 0 and model.dynamics.forecaster is not None:
        terms.update(forecast_losses(out["agent_forecast"], out["agent_mode_logits"], batch.targets))
    if weights.contrastive > 0:
        events = torch.cat([tg["coll_events"], tg["off_events"]], -1)
        z_true = model.future(occ, events)
        terms["contrastive"] = info_nce(out["z_pred"], z_true, batch.row_ids, temperature)
    if diffusion is not None and weights.diffusion > 0:
        n = out["occ_logits"].shape[1]
        terms["diffusion"] = diffusion.loss(out["latent"][:, :n], occ[:, :n])
    total = sum(getattr(weights, k) * v for k, v in terms.items())
    return total, terms
