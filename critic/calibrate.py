"""Post-hoc calibration of the hazard heads on the validation split (never the test split).

One logit offset per event type is added to every per-step hazard logit; it is chosen on
the validation split to minimise the negative log-likelihood of "event within the
horizon" under the cumulative risk. It is stored in ``config.json`` (``_extra.calibration``)
and applied by ``ImpartialCritic.score``. A variant whose validation data has no events
(``optimistic``) keeps offset 0: it has nothing to calibrate on.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch

from .batching import eval_groups, make_batch
from .risk import cumulative_risk

OFFSETS = np.linspace(-6.0, 4.0, 101)


def fit_offset(logits: torch.Tensor, events: np.ndarray) -> float:
    """Offset (logits ``[N, S]``, events ``[N]`` bool) minimising the horizon-risk NLL; 0 without events."""
    if events.all() or not events.any():
        return 0.0
    best, arg = np.inf, 0.0
    for b in OFFSETS:
        r = cumulative_risk(torch.sigmoid(logits + float(b)))[:, -1].clamp(1e-6, 1 - 1e-6).numpy()
        nll = -np.mean(events * np.log(r) + (~events) * np.log(1 - r))
        if nll < best:
            best, arg = nll, float(b)
    return arg


@torch.no_grad()
def calibrate(folder: str | Path, data: str, max_groups: int = 255) -> dict:
    """Fit and store the offsets of the checkpoint in ``folder`` on ``data``'s validation split."""
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
    cal = {"collision": fit_offset(L[..., 0], np.concatenate(coll)), "offroad": fit_offset(L[..., 1], np.concatenate(off))}
    cfg_path = Path(folder) / "config.json"
    payload = json.loads(cfg_path.read_text())
    payload.setdefault("_extra", {})["calibration"] = cal
    tmp = cfg_path.with_name(".config.json.tmp")
    tmp.write_text(json.dumps(payload, indent=1, sort_keys=True))
    tmp.replace(cfg_path)
    return cal
