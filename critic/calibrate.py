"""Post-hoc calibration of the hazard heads on the validation split (never the test split).

Per event type, every per-step hazard logit ``l`` becomes ``scale * l + offset``: temperature
and bias scaling (Platt scaling of the per-step hazards). The two numbers are chosen on the
validation split to minimise the negative log-likelihood of "event within the horizon" under
the cumulative risk. A scale is needed besides the offset because the hazard heads are
trained with a focal loss, which leaves them under-confident (a temperature above 1: the
logits are spread too little); an offset alone can move the risks but not sharpen them.

They are stored in ``config.json`` (``_extra.calibration``: ``collision`` and ``offroad`` are
the offsets, ``collision_scale`` and ``offroad_scale`` the scales; a checkpoint written before
the scales existed reads with scale 1) and applied by ``ImpartialCritic.calibrated_hazards``.
A variant whose validation data has no events (``optimistic``) keeps scale 1 and offset 0: it
has nothing to calibrate on.

The scale is kept within :data:`SCALE_BOUNDS`. ``python -m critic.calibrate CHECKPOINT DATA``
re-fits an existing checkpoint on ``DATA``'s validation split.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import torch

from .batching import eval_groups, make_batch

EVENTS = ("collision", "offroad")


def horizon_nll(logits: torch.Tensor, events: torch.Tensor, scale: torch.Tensor, offset: torch.Tensor) -> torch.Tensor:
    """Mean negative log-likelihood of ``events`` ``[N]`` (0/1) under the cumulative risk at the horizon of
    the hazards ``sigmoid(scale * logits + offset)`` (``logits`` ``[N, S]``); float64 for the fit."""
    log_survival = torch.nn.functional.logsigmoid(-(logits * scale + offset)).sum(-1)      # log P(no event)
    log_risk = torch.log(-torch.expm1(log_survival).clamp(max=-1e-12))                      # log(1 - survival)
    return -(events * log_risk + (1 - events) * log_survival).mean()


#: the scale stays within these bounds: a fit that wants a scale near 0 says the heads carry no signal
#: (every plan would get the same risk), one far above the bound comes from too few or too easy events
SCALE_BOUNDS = (0.25, 4.0)


def fit_scale_offset(logits: torch.Tensor, events: np.ndarray) -> tuple[float, float]:
    """``(scale, offset)`` (logits ``[N, S]``, events ``[N]`` bool) minimising :func:`horizon_nll`, by
    L-BFGS from ``(1, 0)`` with the scale kept within :data:`SCALE_BOUNDS` (a smooth squashing, so the
    bound is approached, never crossed); ``(1, 0)`` when the events hold one class."""
    if events.all() or not events.any():
        return 1.0, 0.0
    x = logits.detach().to(torch.float64)
    y = torch.as_tensor(events, dtype=torch.float64)
    lo, hi = SCALE_BOUNDS
    u = torch.logit(torch.tensor((1.0 - lo) / (hi - lo), dtype=torch.float64)).requires_grad_(True)
    offset = torch.zeros((), dtype=torch.float64, requires_grad=True)
    opt = torch.optim.LBFGS([u, offset], max_iter=200, tolerance_grad=1e-10, line_search_fn="strong_wolfe")
    scale = lambda: lo + (hi - lo) * torch.sigmoid(u)  # noqa: E731

    def closure():
        opt.zero_grad()
        loss = horizon_nll(x, y, scale(), offset)
        loss.backward()
        return loss

    opt.step(closure)
    return float(scale().detach()), float(offset.detach())


@torch.no_grad()
def calibrate(folder: str | Path, data: str, max_groups: int = 255) -> dict:
    """Fit and store the scales and offsets of the checkpoint in ``folder`` on ``data``'s validation split."""
    from .api import ImpartialCritic
    from .data import load_splits

    critic = ImpartialCritic.load(folder)
    arr = load_splits(data, ("val",), critic.cfg.features, log=lambda *a: None)
    if critic.cfg.variant == "optimistic":
        arr = arr.select_rows(arr.expert_logged)
    logits, coll, off, seen = [], [], [], 0
    for idx in eval_groups(arr, 16):
        b = make_batch(arr, idx, critic.cfg.features.occ_size)
        out = critic.model(b["agents"], b["agents_mask"], b["map"], b["map_mask"], b["plan"], occupancy=False)
        logits.append(out["hazard_logits"].flatten(0, 1))
        coll.append(np.isfinite(b["coll_t"].flatten().numpy()))
        off.append(np.isfinite(b["off_t"].flatten().numpy()))
        seen += len(idx)
        if seen >= max_groups:
            break
    L = torch.cat(logits)
    cal = {}
    for j, (name, events) in enumerate(zip(EVENTS, (np.concatenate(coll), np.concatenate(off)))):
        with torch.enable_grad():
            cal[f"{name}_scale"], cal[name] = fit_scale_offset(L[..., j], events)
    cfg_path = Path(folder) / "config.json"
    payload = json.loads(cfg_path.read_text())
    payload.setdefault("_extra", {})["calibration"] = cal
    tmp = cfg_path.with_name(".config.json.tmp")
    tmp.write_text(json.dumps(payload, indent=1, sort_keys=True))
    tmp.replace(cfg_path)
    return cal


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit("usage: python -m critic.calibrate CHECKPOINT DATA")
    print(json.dumps(calibrate(sys.argv[1], sys.argv[2])))
