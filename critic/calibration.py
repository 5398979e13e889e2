"""Post-hoc calibration of the hazard heads: a pure fit on validation-split outputs (never the test split).

Per event type, every per-step hazard logit ``l`` becomes ``scale * l + offset``: temperature
and bias scaling (Platt scaling of the per-step hazards). The two numbers are chosen on the
validation split to minimise the negative log-likelihood of "event within the horizon" under
the cumulative risk. A scale is needed besides the offset because the hazard heads are
trained with a focal loss, which leaves them under-confident (a temperature above 1: the
logits are spread too little); an offset alone can move the risks but not sharpen them.

The fit returns a :class:`Calibration`; :mod:`critic.checkpoint` stores it in ``config.json``
(``_extra.calibration``) and loads it onto the model, and ``ImpartialCritic.calibrated_hazards``
applies it. :func:`fit_by_domain` also fits one per source domain on that domain's own validation rows
(``_extra.calibration_by_domain``); scoring with a ``domain`` uses its own, and the pooled one for a domain
the checkpoint has none for. A variant whose validation data has no events (``optimistic``) keeps scale 1 and
offset 0: it has nothing to calibrate on. The scale is kept within :data:`SCALE_BOUNDS`.
:func:`critic.calibrate.recalibrate` re-fits an existing checkpoint.
"""
from __future__ import annotations

import dataclasses

import numpy as np
import torch

from .batching import eval_groups, make_batch
from .data import SplitArrays
from .device import autocast, module_device

EVENTS = ("collision", "offroad")


@dataclasses.dataclass(frozen=True)
class Calibration:
    """Scale and offset per event applied to the per-step hazard logits: ``sigmoid(scale * logit + offset)``.

    Stored as the dict :meth:`to_dict` gives (``collision`` and ``offroad`` are the offsets); a
    checkpoint written before the scales existed has offsets only and reads with scale 1.
    """

    collision_scale: float = 1.0
    """Multiplies the collision hazard logits (dimensionless, within :data:`SCALE_BOUNDS` when fitted)."""
    collision: float = 0.0
    """Added to the scaled collision hazard logits (logit units)."""
    offroad_scale: float = 1.0
    """Multiplies the off-road hazard logits."""
    offroad: float = 0.0
    """Added to the scaled off-road hazard logits (logit units)."""

    @staticmethod
    def identity() -> "Calibration":
        """Scale 1 and offset 0: the model's own hazards."""
        return Calibration()

    def to_dict(self) -> dict[str, float]:
        """``{"collision_scale", "collision", "offroad_scale", "offroad"}``, as ``config.json`` stores it."""
        return dataclasses.asdict(self)

    @staticmethod
    def from_dict(d: dict | None) -> "Calibration":
        """The stored dict (missing scales read as 1, missing offsets as 0; None is the identity)."""
        d = d or {}
        return Calibration(**{f.name: float(d.get(f.name, f.default)) for f in dataclasses.fields(Calibration)})


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


def fit_calibration(logits: torch.Tensor, collision: np.ndarray, offroad: np.ndarray) -> Calibration:
    """Each event's :func:`fit_scale_offset` on per-step hazard logits ``[N, S, 2]`` (collision, off-road)
    and the events within the horizon ``[N]`` bool of each."""
    fitted = {}
    for j, (name, events) in enumerate(zip(EVENTS, (collision, offroad))):
        with torch.enable_grad():
            fitted[f"{name}_scale"], fitted[name] = fit_scale_offset(logits[..., j], events)
    return Calibration(**fitted)


@torch.no_grad()
def split_hazard_logits(model: torch.nn.Module, arr: SplitArrays, occ_size: int,
                        max_groups: int = 255) -> tuple[torch.Tensor, np.ndarray, np.ndarray]:
    """The model's hazard logits ``[N, S, 2]`` on the plans of ``arr``'s first scenes (in evaluation
    groups of 16, until at least ``max_groups`` scenes are seen), and whether each plan collides /
    leaves the road within the horizon ``[N]`` bool. ``model`` should be in eval mode."""
    logits, coll, off, seen = [], [], [], 0
    dev = module_device(model)
    for idx in eval_groups(arr, 16):
        b = make_batch(arr, idx, occ_size, dev)
        with autocast(dev):
            out = model(b.scene, b.plans, occupancy=False)
        logits.append(out["hazard_logits"].flatten(0, 1).float().cpu())
        coll.append(np.isfinite(b.targets.coll_t.flatten().cpu().numpy()))
        off.append(np.isfinite(b.targets.off_t.flatten().cpu().numpy()))
        seen += len(idx)
        if seen >= max_groups:
            break
    return torch.cat(logits), np.concatenate(coll), np.concatenate(off)


def fit_on_split(model: torch.nn.Module, arr: SplitArrays, occ_size: int, max_groups: int = 255) -> Calibration:
    """:func:`fit_calibration` of ``model`` (eval mode) on the validation arrays ``arr``
    (:func:`split_hazard_logits`)."""
    return fit_calibration(*split_hazard_logits(model, arr, occ_size, max_groups))


def fit_by_domain(model: torch.nn.Module, arr: SplitArrays, domains, occ_size: int,
                  max_groups: int = 255) -> dict[str, Calibration]:
    """``{domain: Calibration}``: :func:`fit_on_split` on the validation rows of each domain alone (``domains``
    ``[R]`` str, one per row of ``arr``: the scenario's source, ``procedural``, ``nuscenes``, ...), so that a
    domain is calibrated on its own logs; an event a domain's rows do not hold keeps scale 1 and offset 0."""
    domains = np.asarray(domains, dtype=object)
    if len(domains) != arr.num_rows:
        raise ValueError(f"domains: {len(domains)} given for {arr.num_rows} rows")
    return {str(d): fit_on_split(model, arr.select_rows(domains == d), occ_size, max_groups)
            for d in sorted(set(domains.tolist()))}
