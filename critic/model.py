"""The impartial latent world model: scene encoder, action-conditioned latent dynamics, heads.

Shapes: B scenes, P plans per scene, A agent tokens, M map tokens, D = d_model,
S = plan_steps / dyn_stride latent steps (0.5 s each by default), K occupancy frames.
All inputs are ego-frame tensors from :mod:`critic.features` (float32); :meth:`WorldModel.forward`
reads a torch :class:`~critic.scene.SceneBatch` and plans.
"""
from __future__ import annotations

import math
from typing import NamedTuple

import torch
from torch import nn

from schemas import CANONICAL_DT

from .columns import AgentCol, MapCol, MapKind, PlanCol, keep
from .config import FeatureConfig, ModelConfig, TrainConfig
from .diffusion import DreamDecoder
from .features import AGENT_FEATURES, MAP_FEATURES, PLAN_FEATURES
from .forecast import Forecaster, most_likely
from .interactions import (AgentPaths, Interactions, RasterSpec, agent_paths, constant_velocity_ends, drivable_at,
                           masked_max, mlp)
from .scene import SceneBatch


# fixed input scales: positions / 20 m, speeds / 10 m/s, box sizes / 5 m (unit-free features kept)
AGENT_SCALE = (20.0, 20.0, 1.0, 1.0, 10.0, 10.0, 5.0, 5.0, 1.0, 1.0, 1.0, 1.0, 1.0)
MAP_SCALE = (20.0, 20.0) + (1.0,) * MapKind.COUNT
PLAN_SCALE = (20.0, 20.0, 1.0, 1.0, 10.0)


def key_bias(valid: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """Additive attention key mask ``[B, 1, 1, N]`` (0 for valid tokens, -inf for padding) from ``valid`` ``[B, N]``."""
    return torch.zeros(valid.shape, dtype=dtype, device=valid.device).masked_fill(~valid, float("-inf"))[:, None, None]


class AttentionBlock(nn.Module):
    """Pre-norm self-attention + feed-forward block (``scaled_dot_product_attention``)."""

    def __init__(self, d: int, heads: int):
        super().__init__()
        self.heads = heads
        self.norm1, self.norm2 = nn.LayerNorm(d), nn.LayerNorm(d)
        self.qkv, self.out = nn.Linear(d, 3 * d), nn.Linear(d, d)
        self.ff = nn.Sequential(nn.Linear(d, 2 * d), nn.GELU(), nn.Linear(2 * d, d))

    def forward(self, x: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
        """``x`` ``[B, N, D]``, additive key mask ``bias`` ``[B, 1, 1, N]`` (0 or -inf)."""
        B, N, D = x.shape
        q, k, v = self.qkv(self.norm1(x)).view(B, N, 3, self.heads, D // self.heads).permute(2, 0, 3, 1, 4)
        o = nn.functional.scaled_dot_product_attention(q, k, v, attn_mask=bias)
        x = x + self.out(o.transpose(1, 2).reshape(B, N, D))
        return x + self.ff(self.norm2(x))


class SceneEncoder(nn.Module):
    """Vector encoders (per agent history, per polyline) and self-attention over the scene tokens."""

    def __init__(self, mc: ModelConfig):
        super().__init__()
        d = mc.d_model
        self.agent = mlp(AGENT_FEATURES + 1, d, d)
        self.poly = mlp(MAP_FEATURES + 1, d, d)
        self.kind = nn.Embedding(2, d)
        self.register_buffer("agent_scale", torch.tensor(AGENT_SCALE), persistent=False)
        self.register_buffer("map_scale", torch.tensor(MAP_SCALE), persistent=False)
        self.attn = nn.ModuleList(AttentionBlock(d, mc.heads) for _ in range(mc.scene_layers))
        self.poly_stride = mc.poly_stride

    def forward(self, agents, agents_mask, map_, map_mask):
        """Returns tokens ``[B, A + M, D]``, their padding mask ``[B, A + M]`` and the ego latent ``[B, D]``."""
        H = agents.shape[2]
        t = torch.linspace(-1.0, 0.0, H, device=agents.device).expand(*agents.shape[:3]).unsqueeze(-1)
        a = masked_max(self.agent(torch.cat([agents / self.agent_scale, t], -1)), agents_mask, 2)
        map_, map_mask = map_[:, :, :: self.poly_stride], map_mask[:, :, :: self.poly_stride]
        L = map_.shape[2]
        u = torch.linspace(0.0, 1.0, L, device=map_.device).expand(*map_.shape[:3]).unsqueeze(-1)
        m = masked_max(self.poly(torch.cat([map_ / self.map_scale, u], -1)), map_mask, 2)
        tokens = torch.cat([a + self.kind.weight[0], m + self.kind.weight[1]], 1)
        valid = torch.cat([agents_mask.any(-1), map_mask.any(-1)], 1)
        valid[:, 0] = True  # the ego token is always there
        bias = key_bias(valid, tokens.dtype)
        for block in self.attn:
            tokens = block(tokens, bias)
        return tokens, valid, tokens[:, 0]


class StepMemory(NamedTuple):
    """What every dynamics step shares (:meth:`LatentDynamics.memory`)."""

    keys: torch.Tensor
    """``[B, heads, N, D / heads]`` of the scene tokens."""
    values: torch.Tensor
    bias: torch.Tensor
    """``[B, 1, 1, N]`` additive key mask (0 or -inf)."""
    paths: AgentPaths
    """Every forecast mode of every agent over the whole plan (what the dynamics' geometry sees)."""
    likely: AgentPaths
    """The most likely mode of every agent (what the occupancy prior draws)."""
    forecast: torch.Tensor
    """``[B, A, K, S, 2]`` forecast positions at the step ends (ego frame at the anchor, m)."""
    mode_logits: torch.Tensor
    """``[B, A, K]`` logits of the forecast modes."""
    drivable: torch.Tensor | None = None
    """``[B, NX, NY]`` bool drivable raster of the scenes (:class:`~critic.scene.SceneBatch`), which the event
    indicators of ``model.event_prior`` read; None without them."""


class LatentDynamics(nn.Module):
    """GRU rolled along the plan; each step sees its action, the scene tokens (attention) and
    the plan-relative geometry of agents and map (:class:`Interactions`)."""

    def __init__(self, fc: FeatureConfig, mc: ModelConfig):
        super().__init__()
        d = mc.d_model
        self.stride = fc.dyn_stride
        self.total_steps = fc.plan_steps // fc.dyn_stride
        self.heads = mc.heads
        self.action = mlp(PLAN_FEATURES * fc.dyn_stride + 1, d, d)
        self.q, self.q_h = nn.Linear(d, d), nn.Linear(d, d, bias=False)   # query from state + action
        self.k, self.v = nn.Linear(d, d), nn.Linear(d, d)
        self.cv_paths = mc.cv_paths
        raster = RasterSpec(fc.raster_x[0], fc.raster_y[0], fc.raster_cell_m) if mc.event_prior else None
        self.inter = Interactions(d, mc.agent_width, mc.nearest_agents, mc.map_every, prior_flag=mc.cv_paths,
                                  raster=raster)
        self.forecaster = (Forecaster(d, mc.heads, mc.motion_layers, self.total_steps, self.stride, mc.forecast_modes)
                           if mc.learned_forecast else None)
        self.gate_x = nn.Linear(3 * d, 3 * d)                  # GRU input gates: action + geometry
        self.gate_ctx = nn.Linear(d, 3 * d, bias=False)        # ... + attention context
        self.gate_h = nn.Linear(d, 3 * d)                      # GRU hidden gates (r, z, n)
        self.register_buffer("plan_scale", torch.tensor(PLAN_SCALE), persistent=False)

    def actions(self, plan: torch.Tensor, first_step: int = 0) -> torch.Tensor:
        """``[B, P, S, D]`` action embeddings from plan states ``[B, P, S * stride, 5]`` that start at
        latent step ``first_step`` (0 for a whole plan; the time feature runs over the full horizon)."""
        B, P, T, F = plan.shape
        S = T // self.stride
        chunks = (plan / self.plan_scale)[:, :, : S * self.stride].reshape(B, P, S, self.stride * F)
        t = (torch.arange(first_step, first_step + S, device=plan.device, dtype=plan.dtype)
             / max(self.total_steps - 1, 1)).expand(B, P, S).unsqueeze(-1)
        return self.action(torch.cat([chunks, t], -1))

    def forecast(self, tokens, bias, agents, map_, map_mask) -> tuple[torch.Tensor, torch.Tensor]:
        """Agents' positions ``[B, A, K, S, 2]`` (ego frame at the anchor, m) at the step ends and mode
        logits ``[B, A, K]``: the learned :class:`~critic.forecast.Forecaster`, or constant velocity
        (one mode) without one."""
        if self.forecaster is None:
            last = agents[:, 1:, -1]
            ends = constant_velocity_ends(last, self.total_steps, self.stride)[:, :, None]
            return ends, torch.zeros(*last.shape[:2], 1, dtype=last.dtype, device=last.device)
        return self.forecaster(tokens, bias, agents, map_, map_mask)

    def memory(self, tokens: torch.Tensor, valid: torch.Tensor, agents, agents_mask, map_, map_mask,
               drivable: torch.Tensor | None = None) -> StepMemory:
        """What every step shares: keys, values and key mask of the scene tokens, the agents'
        forecast paths, and the scenes' drivable raster ``[B, NX, NY]`` (needed by the event indicators)."""
        if self.inter.raster is not None and drivable is None:
            raise ValueError("the critic's event indicators (model.event_prior) need the scene's drivable raster: "
                             "SceneBatch.drivable is None (SceneBatch.from_scenarios builds it)")
        B, N, D = tokens.shape
        nh, dh = self.heads, D // self.heads
        K = self.k(tokens).view(B, N, nh, dh).transpose(1, 2)             # [B, nh, N, dh]
        V = self.v(tokens).view(B, N, nh, dh).transpose(1, 2)
        bias = key_bias(valid, tokens.dtype)
        ends, logits = self.forecast(tokens, bias, agents, map_, map_mask)     # [B, A, k, S, 2], [B, A, k]
        last, seen = agents[:, 1:, -1], agents_mask[:, 1:, -1]
        k = logits.shape[-1]
        prob = torch.softmax(logits, -1)
        paths = agent_paths(ends.flatten(1, 2), last.repeat_interleave(k, 1), seen.repeat_interleave(k, 1), self.stride,
                            prob.flatten(1, 2))
        if self.cv_paths:        # every agent's constant-velocity path as one more, flagged entry
            cv = agent_paths(constant_velocity_ends(last, self.total_steps, self.stride), last, seen, self.stride)
            paths = paths._replace(prior=torch.zeros_like(paths.prob)).cat(cv._replace(prior=torch.ones_like(cv.prob)))
            if k == 1:
                likely = agent_paths(ends[:, :, 0], last, seen, self.stride)
                return StepMemory(K, V, bias, paths, likely, ends, logits, drivable)
        if k == 1:
            return StepMemory(K, V, bias, paths, paths, ends, logits, drivable)
        likely = agent_paths(most_likely(ends, logits), last, seen, self.stride)
        return StepMemory(K, V, bias, paths, likely, ends, logits, drivable)

    def cell(self, h: torch.Tensor, gx: torch.Tensor, qa: torch.Tensor, mem: StepMemory) -> torch.Tensor:
        """One GRU step: state ``h`` ``[B * P, D]``, input gates ``gx`` ``[B * P, 3D]`` (action and
        geometry part), action query ``qa`` ``[B, P, D]``; attention context from ``mem``."""
        K, V, bias = mem.keys, mem.values, mem.bias
        B, P, D = qa.shape
        nh, dh = self.heads, D // self.heads
        q = (self.q_h(h).view(B, P, D) + qa).view(B, P, nh, dh).transpose(1, 2)  # [B, nh, P, dh]
        w = torch.softmax(q @ K.transpose(-1, -2) / math.sqrt(dh) + bias, dim=-1)
        ctx = (w @ V).transpose(1, 2).reshape(B * P, D)
        xr, xz, xn = (gx + self.gate_ctx(ctx)).chunk(3, -1)
        hr, hz, hn = self.gate_h(h).chunk(3, -1)
        r, z = torch.sigmoid(xr + hr), torch.sigmoid(xz + hz)
        return (1 - z) * torch.tanh(xn + r * hn) + z * h

    def step(self, h, chunk, step: int, mem: StepMemory, agents, map_,
             map_mask) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Advance latents ``h`` ``[B, P, D]`` by one step along plan states ``chunk`` ``[B, P, stride, 5]``
        (latent step ``step``); used by imagination rollouts (:mod:`critic.rl.imagination`). Returns the new
        latents and the step's event indicators ``[B, P, EVENTS]`` (None without ``model.event_prior``)."""
        B, P, D = h.shape
        act = self.actions(chunk, step)                                     # [B, P, 1, D]
        t = (step * self.stride + torch.arange(1, self.stride + 1, device=h.device, dtype=h.dtype))[None] * CANONICAL_DT
        paths = mem.paths.steps(slice(step, step + 1))
        geo, ev = self.inter(agents, map_, map_mask, chunk[:, :, None], t, paths, mem.drivable)
        gx = self.gate_x(torch.cat([act, geo], -1)).reshape(B * P, 3 * D)
        h = self.cell(h.reshape(B * P, D), gx, self.q(act[:, :, 0]), mem).view(B, P, D)
        return h, None if ev is None else ev[:, :, 0]

    def forward(self, h0, mem: StepMemory, plan, agents, map_, map_mask) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Latents ``[B, P, S, D]`` (state after each step) from ``h0`` ``[B, D]`` and :meth:`memory`, and the
        event indicators ``[B, P, S, EVENTS]`` of every step (None without ``model.event_prior``)."""
        acts = self.actions(plan)
        B, P, S, D = acts.shape
        states = plan[:, :, : S * self.stride].reshape(B, P, S, self.stride, plan.shape[-1])
        t = (torch.arange(S * self.stride, device=plan.device, dtype=plan.dtype) + 1).view(S, self.stride) * CANONICAL_DT
        geo, ev = self.inter(agents, map_, map_mask, states, t, mem.paths, mem.drivable)  # [B, P, S, 2D]
        # the input-to-gate products of the action and geometry parts do not depend on the
        # state, so they are computed for all steps in one matmul (step-major layout)
        gx = self.gate_x(torch.cat([acts, geo], -1)).permute(2, 0, 1, 3).reshape(S, B * P, 3 * D)
        qa = self.q(acts).permute(2, 0, 1, 3).reshape(S, B, P, D)
        h = h0[:, None].expand(B, P, D).reshape(B * P, D)
        out = []
        for s in range(S):
            h = self.cell(h, gx[s], qa[s], mem)
            out.append(h)
        return torch.stack(out, 1).view(B, P, S, D), ev


class OccupancyPrior(nn.Module):
    """Occupancy drawn from the observation and the forecast around the planned poses (no parameters).

    Channel 0: agent boxes along the agents' forecast paths (:class:`AgentPaths`); channel 1:
    cells outside the drivable area (the static map, from the scene's ego-frame raster). The
    occupancy decoder learns a correction on top of it.
    """

    def __init__(self, fc: FeatureConfig):
        super().__init__()
        self.fc = fc
        self.raster = RasterSpec(fc.raster_x[0], fc.raster_y[0], fc.raster_cell_m)
        c = (torch.arange(fc.occ_size) + 0.5) * fc.occ_cell_m - 0.5 * fc.occ_size * fc.occ_cell_m
        gx, gy = torch.meshgrid(c, c, indexing="ij")
        self.register_buffer("gx", gx.reshape(-1), persistent=False)
        self.register_buffer("gy", gy.reshape(-1), persistent=False)

    def forward(self, drivable, plan, paths: AgentPaths) -> torch.Tensor:
        """``[B, P, K, 2, s, s]`` (float 0 / 1) around the planned poses of ``plan`` ``[B, P, T, 5]``, with
        one box per path entry of ``paths`` (its agent's size, drawn where the agent is observed)."""
        fc = self.fc
        every = fc.dyn_stride * fc.occ_every
        poses = plan[:, :, every - 1:: every]                       # [B, P, K, 5] planned poses at 1 s, 2 s, ...
        K = poses.shape[2]
        c, s = poses[..., keep(PlanCol.COS)], poses[..., keep(PlanCol.SIN)]
        X = poses[..., keep(PlanCol.X)] + c * self.gx - s * self.gy   # [B, P, K, C] cell centres, anchor frame
        Y = poses[..., keep(PlanCol.Y)] + s * self.gx + c * self.gy
        last, valid = paths.last, paths.valid                       # [B, A, F], [B, A]
        occ = torch.zeros_like(X, dtype=torch.bool)
        k = torch.arange(K, device=plan.device) * fc.occ_every + fc.occ_every - 1   # steps ending at 1 s, 2 s, ...
        centre, head = paths.pos[:, :, k, -1], paths.head[:, :, k]                 # [B, A, K, 2]
        for a in range(last.shape[1]):
            f = last[:, a]
            ax, ay = centre[:, None, a, :, 0:1], centre[:, None, a, :, 1:2]          # [B, 1, K, 1]
            ca, sa = head[:, None, a, :, 0:1], head[:, None, a, :, 1:2]
            dx, dy = X - ax, Y - ay
            inside = ((ca * dx + sa * dy).abs() <= f[:, None, None, keep(AgentCol.LENGTH)] / 2) & \
                     ((-sa * dx + ca * dy).abs() <= f[:, None, None, keep(AgentCol.WIDTH)] / 2)
            occ |= inside & valid[:, a, None, None, None]
        drv, inside = drivable_at(drivable, X, Y, self.raster)
        drv = drv & inside                                          # beyond the raster: not drivable
        size = fc.occ_size
        return torch.stack([occ, ~drv], 3).view(*X.shape[:3], 2, size, size).to(plan.dtype)


class OccupancyDecoder(nn.Module):
    """Latent ``[..., D]`` plus prior ``[..., 2, s, s]`` -> occupancy logits ``[..., 2, s, s]``."""

    def __init__(self, fc: FeatureConfig, mc: ModelConfig):
        super().__init__()
        self.size = fc.occ_size
        self.fc = nn.Linear(mc.d_model, 16 * 4 * 4)
        w = mc.occ_width
        self.net = nn.Sequential(nn.Conv2d(2 + 16, w, 3, padding=1), nn.GELU(), nn.Conv2d(w, w, 3, padding=1),
                                 nn.GELU(), nn.Conv2d(w, 2, 3, padding=1))
        self.skip = nn.Parameter(torch.tensor(3.0))

    def forward(self, z: torch.Tensor, prior: torch.Tensor) -> torch.Tensor:
        lead = z.shape[:-1]
        lat = self.fc(z.reshape(-1, z.shape[-1])).view(-1, 16, 4, 4)
        lat = nn.functional.interpolate(lat, size=(self.size, self.size), mode="bilinear", align_corners=False)
        p = prior.reshape(-1, 2, self.size, self.size) * 2.0 - 1.0
        out = self.net(torch.cat([p, lat], 1)) + self.skip * p
        return out.view(*lead, 2, self.size, self.size)


class FutureEncoder(nn.Module):
    """Encodes the true future a plan led to (occupancy frames + event indicators) for InfoNCE."""

    def __init__(self, fc: FeatureConfig, mc: ModelConfig, steps: int):
        super().__init__()
        self.conv = nn.Sequential(nn.Conv2d(2, 16, 4, 2, 1), nn.GELU(), nn.Conv2d(16, 32, 4, 2, 1), nn.GELU(),
                                  nn.AdaptiveAvgPool2d(2))
        k = fc.plan_steps // (fc.dyn_stride * fc.occ_every)
        self.out = mlp(k * 128 + 2 * steps, mc.d_model, mc.d_model)

    def forward(self, occ: torch.Tensor, events: torch.Tensor) -> torch.Tensor:
        """``occ`` ``[B, P, K, 2, s, s]`` float, ``events`` ``[B, P, 2 * S]`` -> ``[B, P, D]``."""
        B, P, K = occ.shape[:3]
        f = self.conv(occ.reshape(B * P * K, *occ.shape[3:])).reshape(B, P, K * 128)
        return self.out(torch.cat([f, events], -1))


class WorldModel(nn.Module):
    """Scene encoder + latent dynamics + heads (+ future encoder for the contrastive loss)."""

    def __init__(self, fc: FeatureConfig, mc: ModelConfig):
        super().__init__()
        d = mc.d_model
        self.fc, self.mc = fc, mc
        self.steps = fc.plan_steps // fc.dyn_stride
        self.scene = SceneEncoder(mc)
        self.dynamics = LatentDynamics(fc, mc)
        e = Interactions.EVENTS if mc.event_prior else 0
        self.hazard = mlp(d + e, d, 2)    # per-step logits: collision, off-road
        self.hazard_events = nn.Linear(e, 2) if e else None   # ... plus a linear read of the event indicators
        self.reward = mlp(d, d, 1)
        self.cont = mlp(d, d, 1)
        self.occupancy = OccupancyDecoder(fc, mc)
        self.prior = OccupancyPrior(fc)
        self.future = FutureEncoder(fc, mc, self.steps)
        self.project = mlp(2 * d, d, d)   # predicted future latent for InfoNCE

    def hazards(self, lat: torch.Tensor, events: torch.Tensor | None) -> torch.Tensor:
        """Per-step hazard logits ``[..., 2]`` (collision, off-road) from latents ``[..., D]`` and, with
        ``model.event_prior``, the steps' event indicators ``[..., EVENTS]``."""
        if self.hazard_events is None:
            return self.hazard(lat)
        if events is None:
            raise ValueError("WorldModel.hazards: this model reads event indicators (model.event_prior)")
        return self.hazard(torch.cat([lat, events], -1)) + self.hazard_events(events)

    def map_input(self, scenes: SceneBatch) -> tuple[torch.Tensor, torch.Tensor]:
        """``scenes.map`` and ``scenes.map_mask`` as this model reads them: a model configured without
        signals (``FeatureConfig.signals`` False) drops any signal polyline it is given (zeroed, masked),
        so the ablation sees no signal state whoever built its input."""
        map_, map_mask = scenes.map, scenes.map_mask
        if self.fc.signals:
            return map_, map_mask
        sig = map_[:, :, 0, MapCol.KIND_START + MapKind.SIGNAL_START: MapCol.COUNT].sum(-1) > 0   # [B, M]
        keep = ~sig[..., None]
        return map_ * keep[..., None].to(map_.dtype), map_mask & keep

    def forecast(self, scenes: SceneBatch) -> tuple[torch.Tensor, torch.Tensor]:
        """The agents' forecast alone (no plan): positions ``[B, A, K, S, 2]`` (ego frame at the anchor,
        m) and mode logits ``[B, A, K]``, as :meth:`forward` computes them (``scenes``: torch)."""
        agents = scenes.agents
        map_, map_mask = self.map_input(scenes)
        tokens, valid, _ = self.scene(agents, scenes.agents_mask, map_, map_mask)
        return self.dynamics.forecast(tokens, key_bias(valid, tokens.dtype), agents, map_, map_mask)

    def forward(self, scenes: SceneBatch, plan: torch.Tensor, occupancy: bool = True,
                occ_plans: int | None = None) -> dict:
        """Outputs for ``plan`` ``[B, P, T, 5]`` in ``scenes`` (a torch :class:`~critic.scene.SceneBatch`);
        ``scenes.drivable`` is needed only when ``occupancy`` is True; ``occ_plans`` limits the occupancy
        forecast to the first plans of each scene (training speed)."""
        agents, agents_mask = scenes.agents, scenes.agents_mask
        map_, map_mask = self.map_input(scenes)
        tokens, valid, ego = self.scene(agents, agents_mask, map_, map_mask)
        drivable = scenes.drivable if self.mc.event_prior else None
        mem = self.dynamics.memory(tokens, valid, agents, agents_mask, map_, map_mask, drivable)
        lat, events = self.dynamics(ego, mem, plan, agents, map_, map_mask)  # [B, P, S, D]
        out = {"latent": lat, "agent_forecast": mem.forecast, "agent_mode_logits": mem.mode_logits,
               "hazard_logits": self.hazards(lat, events), "reward": self.reward(lat).squeeze(-1),
               "continue_logits": self.cont(lat).squeeze(-1),
               "z_pred": self.project(torch.cat([lat.mean(2), lat[:, :, -1]], -1))}
        if occupancy:
            if scenes.drivable is None:
                raise ValueError("WorldModel: the occupancy forecast needs scenes.drivable (or occupancy=False)")
            n = plan.shape[1] if occ_plans is None else min(occ_plans, plan.shape[1])
            prior = self.prior(scenes.drivable, plan[:, :n], mem.likely)
            out["occ_prior"] = prior
            out["occ_logits"] = self.occupancy(lat[:, :n, self.fc.occ_every - 1:: self.fc.occ_every], prior)
        return out


def build_model(cfg: TrainConfig) -> WorldModel:
    """The untrained world model of ``cfg`` (plus the diffusion dream decoder when ``cfg.model.diffusion``),
    as training builds it and checkpoints load into it."""
    model = WorldModel(cfg.features, cfg.model)
    if cfg.model.diffusion:
        model.dream = DreamDecoder(cfg.features, cfg.model)
    return model
