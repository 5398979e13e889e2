"""Public API: ``from critic import ImpartialCritic``.

Inputs are ego-frame features (x forward, y left, m; see :mod:`critic.features`):

* a :class:`~critic.scene.SceneBatch` (numpy or torch; field shapes in its docstring): ``agents``
  ``[B, 1 + max_agents, history, 13]`` + mask, ``map`` ``[B, max_polylines, points, 10]`` + mask.
  Build one from a canonical Scenario with ``SceneBatch.from_scenarios([(scenario, anchor_frame), ...])``.
* ``plans`` ``[B, G, plan_steps, 5]``: x, y, cos and sin of heading, speed (m/s) of each
  state after the anchor at 10 Hz (``plans_from_states`` converts x, y, heading, speed).

Outputs are tensors on the input device; no numpy round trip, ``torch.inference_mode``.
"""
from __future__ import annotations

from pathlib import Path

import torch

from schemas import CANONICAL_DT

from .calibration import Calibration
from .checkpoint import load_checkpoint
from .config import TrainConfig
from .device import module_device, resolve_device
from .model import build_model
from .risk import cumulative_risk, median_event_time
from .scene import SceneBatch

__all__ = ["ImpartialCritic", "SceneBatch", "plans_from_states"]


def plans_from_states(x: torch.Tensor, y: torch.Tensor, heading: torch.Tensor, speed: torch.Tensor) -> torch.Tensor:
    """Stack ego-frame states ``[..., T]`` into critic plans ``[..., T, 5]``."""
    return torch.stack([x, y, torch.cos(heading), torch.sin(heading), speed], -1)


class ImpartialCritic:
    """A trained world model used as a critic: ``score`` plans, ``dream`` their futures."""

    def __init__(self, model: torch.nn.Module, cfg: TrainConfig):
        self.model, self.cfg = model.eval(), cfg

    @classmethod
    def load(cls, path: str | Path, device: str | torch.device = "cpu") -> "ImpartialCritic":
        """Load a checkpoint folder (``model.safetensors`` + ``config.json``) onto ``device`` (``cpu``, ``cuda``,
        ``cuda:N`` or ``auto``: :func:`critic.device.resolve_device`); never unpickles."""
        model, cfg = load_checkpoint(path, build_model)
        return cls(model.to(resolve_device(device)), cfg)

    @property
    def device(self) -> torch.device:
        return module_device(self.model)

    @property
    def step_s(self) -> float:
        return self.cfg.features.dyn_stride * CANONICAL_DT

    @torch.inference_mode()
    def score(self, scenes: SceneBatch, plans: torch.Tensor, domain=None) -> dict[str, torch.Tensor]:
        """Score ``plans`` ``[B, G, plan_steps, 5]`` in their scenes (``scenes`` and ``plans`` numpy or torch).

        Returns ``collision_risk``, ``offroad_risk`` ``[B, G]`` (probability of the event
        within the horizon), ``risk`` ``[B, G]`` (either event), ``collision_time_s`` /
        ``offroad_time_s`` ``[B, G]`` (median first-event time given one occurs),
        ``hazards`` ``[B, G, S, 2]`` (per-step collision and off-road hazards),
        ``reward`` ``[B, G, S]`` and ``continue_prob`` ``[B, G, S]``. Hazards include the
        validation-fitted calibration of :mod:`critic.calibration`: ``domain`` (the scenes' source, one name or
        one per scene) picks a domain's own calibration where the checkpoint has one (the pooled one otherwise).
        """
        out = self._forward(scenes, plans, occupancy=False)
        return self._scores(out, plans, domain)

    def _forward(self, scenes: SceneBatch, plans, occupancy: bool = True) -> dict:
        """The model's outputs for numpy or torch ``scenes`` and ``plans``, given to it as float32 / bool
        tensors on the critic's device (tensors that already are pass unchanged)."""
        plans = torch.as_tensor(plans, dtype=torch.float32, device=self.device)
        return self.model(scenes.to_torch(self.device), plans, occupancy=occupancy)

    def calibration_for(self, domain: str | None = None) -> Calibration:
        """The calibration scoring uses for ``domain`` (a scene's source): the domain's own where the checkpoint
        has one, else the pooled ``model.calibration`` (the identity for a model without one)."""
        pooled: Calibration = getattr(self.model, "calibration", Calibration.identity())
        return getattr(self.model, "calibration_by_domain", {}).get(domain, pooled) if domain is not None else pooled

    def calibrated_hazards(self, hazard_logits: torch.Tensor, domain=None) -> torch.Tensor:
        """Per-step hazards ``[..., 2]`` (collision, off-road) from the model's logits ``[..., 2]`` under the
        validation-fitted :class:`~critic.calibration.Calibration` (:meth:`calibration_for` ``domain``; ``domain``
        may also be one name per entry of the logits' first axis, the scenes of a batch), differentiable; any
        model of this critic's shape."""
        kw = {"dtype": hazard_logits.dtype, "device": hazard_logits.device}
        names = [domain] if domain is None or isinstance(domain, str) else list(domain)
        if len(names) != 1 and len(names) != hazard_logits.shape[0]:
            raise ValueError(f"domain: {len(names)} names for {hazard_logits.shape[0]} scenes")
        cals = [self.calibration_for(d) for d in names]
        scale = torch.tensor([[c.collision_scale, c.offroad_scale] for c in cals], **kw)
        offset = torch.tensor([[c.collision, c.offroad] for c in cals], **kw)
        shape = (len(cals),) + (1,) * (hazard_logits.dim() - 2) + (2,)
        if len(cals) == 1:
            scale, offset = scale[0], offset[0]
        else:
            scale, offset = scale.reshape(shape), offset.reshape(shape)
        return torch.sigmoid(hazard_logits * scale + offset)

    def _scores(self, out: dict, plans: torch.Tensor, domain=None) -> dict[str, torch.Tensor]:
        hz = self.calibrated_hazards(out["hazard_logits"], domain)
        risk = cumulative_risk(hz.transpose(-1, -2))[..., -1]    # [B, G, 2]
        either = 1.0 - torch.prod(1.0 - hz.sum(-1).clamp(max=1.0), dim=-1)
        return {
            "collision_risk": risk[..., 0], "offroad_risk": risk[..., 1], "risk": either,
            "collision_time_s": median_event_time(hz[..., 0], self.step_s),
            "offroad_time_s": median_event_time(hz[..., 1], self.step_s),
            "hazards": hz, "reward": out["reward"], "continue_prob": torch.sigmoid(out["continue_logits"]),
        }

    @torch.inference_mode()
    def occupancy(self, scenes: SceneBatch, plans: torch.Tensor) -> torch.Tensor:
        """Deterministic occupancy forecast ``[B, G, K, 2, s, s]`` (probabilities; agents, non-drivable)."""
        return self.score_with_occupancy(scenes, plans)[1]

    @torch.inference_mode()
    def score_with_occupancy(self, scenes: SceneBatch, plans: torch.Tensor, domain=None) -> tuple[dict, torch.Tensor]:
        """``score`` and ``occupancy`` from one forward pass."""
        out = self._forward(scenes, plans)
        return self._scores(out, plans, domain), torch.sigmoid(out["occ_logits"])

    @torch.inference_mode()
    def dream(self, scenes: SceneBatch, plans: torch.Tensor, n: int = 4, steps: int = 10,
              generator: torch.Generator | None = None) -> torch.Tensor:
        """``n`` sampled occupancy futures per plan ``[B, G, n, K, 2, s, s]``.

        Uses the diffusion dream decoder when the checkpoint has one, otherwise ``n``
        Bernoulli samples of the deterministic occupancy forecast.
        """
        out = self._forward(scenes, plans)
        if hasattr(self.model, "dream"):
            return self.model.dream.sample(out["latent"], n, steps, generator)
        p = torch.sigmoid(out["occ_logits"])[:, :, None].expand(-1, -1, n, -1, -1, -1, -1)
        return torch.bernoulli(p, generator=generator)
