"""The impartial latent world model: scene encoder, action-conditioned latent dynamics, heads.

Shapes: B scenes, P plans per scene, A agent tokens, M map tokens, D = d_model,
S = plan_steps / dyn_stride latent steps (0.5 s each by default), K occupancy frames.
All inputs are ego-frame tensors from :mod:`critic.features` (float32).
"""
from __future__ import annotations

import math

import torch
from torch import nn

from .config import FeatureConfig, ModelConfig
from .features import AGENT_FEATURES, MAP_FEATURES, PLAN_FEATURES


# fixed input scales: positions / 20 m, speeds / 10 m/s, box sizes / 5 m (unit-free features kept)
AGENT_SCALE = (20.0, 20.0, 1.0, 1.0, 10.0, 10.0, 5.0, 5.0, 1.0, 1.0, 1.0, 1.0, 1.0)
MAP_SCALE = (20.0, 20.0) + (1.0,) * 8
PLAN_SCALE = (20.0, 20.0, 1.0, 1.0, 10.0)


def mlp(i: int, h: int, o: int) -> nn.Sequential:
    return nn.Sequential(nn.Linear(i, h), nn.LayerNorm(h), nn.GELU(), nn.Linear(h, o))


def masked_max(x: torch.Tensor, mask: torch.Tensor, dim: int) -> torch.Tensor:
    """Max over ``dim`` of valid entries (0 where nothing is valid)."""
    x = x.masked_fill(~mask.unsqueeze(-1), float("-inf"))
    out = x.max(dim=dim).values
    return torch.where(torch.isfinite(out), out, torch.zeros_like(out))


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
        layer = nn.TransformerEncoderLayer(d, mc.heads, 2 * d, dropout=0.0, batch_first=True, norm_first=True)
        self.attn = nn.TransformerEncoder(layer, mc.scene_layers, enable_nested_tensor=False)

    def forward(self, agents, agents_mask, map_, map_mask):
        """Returns tokens ``[B, A + M, D]``, their padding mask ``[B, A + M]`` and the ego latent ``[B, D]``."""
        H = agents.shape[2]
        t = torch.linspace(-1.0, 0.0, H, device=agents.device).expand(*agents.shape[:3]).unsqueeze(-1)
        a = masked_max(self.agent(torch.cat([agents / self.agent_scale, t], -1)), agents_mask, 2)
        L = map_.shape[2]
        u = torch.linspace(0.0, 1.0, L, device=map_.device).expand(*map_.shape[:3]).unsqueeze(-1)
        m = masked_max(self.poly(torch.cat([map_ / self.map_scale, u], -1)), map_mask, 2)
        tokens = torch.cat([a + self.kind.weight[0], m + self.kind.weight[1]], 1)
        valid = torch.cat([agents_mask.any(-1), map_mask.any(-1)], 1)
        valid[:, 0] = True  # the ego token is always there
        tokens = self.attn(tokens, src_key_padding_mask=~valid)
        return tokens, valid, tokens[:, 0]


class Interactions(nn.Module):
    """Plan-relative geometry at the end of every dynamics step.

    Agents: each agent's last observed state extrapolated at constant velocity, expressed
    in the frame of the ego's *planned* pose (relative position, distance, relative
    velocity, size, type) -> MLP -> masked max over agents. Map: per polyline kind, the
    distance from the planned position to the nearest point of that kind, plus the
    nearest drivable-area-boundary and road-edge points in the planned frame.
    """

    AGENT_IN = 12
    MAP_IN = 8 + 4 + 1

    def __init__(self, d: int):
        super().__init__()
        self.agent = mlp(self.AGENT_IN, d, d)
        self.map = mlp(self.MAP_IN, d, d)

    def forward(self, agents, agents_mask, map_, map_mask, ego_xy, ego_cs, t):
        """``ego_xy`` ``[B, P, S, 2]``, ``ego_cs`` (cos, sin) ``[B, P, S, 2]``, ``t`` ``[S]`` s -> ``[B, P, S, 2D]``."""
        last = agents[:, 1:, -1]                                   # [B, A, F] (ego token excluded)
        valid = agents_mask[:, 1:, -1]
        pos = last[:, None, :, :2] + t[None, :, None, None] * last[:, None, :, 4:6]  # [B, S, A, 2]
        rel = pos[:, None] - ego_xy[:, :, :, None]                 # [B, P, S, A, 2]
        c, s = ego_cs[..., 0:1], ego_cs[..., 1:2]
        rx = c[..., None, :] * rel[..., 0:1] + s[..., None, :] * rel[..., 1:2]
        ry = -s[..., None, :] * rel[..., 0:1] + c[..., None, :] * rel[..., 1:2]
        dist = torch.sqrt(rx**2 + ry**2 + 1e-6)
        B, P, S, A = rel.shape[:4]
        v = last[:, None, None, :, 4:6].expand(B, P, S, A, 2)
        size = last[:, None, None, :, 6:8].expand(B, P, S, A, 2)
        kind = last[:, None, None, :, 8:12].expand(B, P, S, A, 4)
        f = torch.cat([rx / 20, ry / 20, dist / 20, torch.exp(-dist / 5), v / 10, size / 5, kind], -1)
        h = masked_max(self.agent(f), valid[:, None, None].expand(B, P, S, A), 3)
        # map: nearest point per kind
        pts = map_[..., :2].flatten(1, 2)                          # [B, N, 2]
        kinds = map_[..., 2:].flatten(1, 2)                        # [B, N, 8]
        pm = map_mask.flatten(1, 2)
        d = torch.cdist(ego_xy.flatten(1, 2), pts)                 # [B, P*S, N]
        d = d.masked_fill(~pm[:, None], 1e3)
        per_kind = torch.where(kinds[:, None].bool(), d[..., None], torch.full_like(d[..., None], 1e3)).amin(2)
        per_kind = torch.exp(-per_kind / 3.0)                      # [B, P*S, 8], 0 when absent / far
        near = []
        for k in (7, 5):                                           # drivable boundary, road edge
            dk = torch.where(kinds[..., k][:, None].bool(), d, torch.full_like(d, 1e3))
            j = dk.argmin(-1)                                      # [B, P*S]
            q = torch.gather(pts, 1, j[..., None].expand(-1, -1, 2)) - ego_xy.flatten(1, 2)
            cc, ss = ego_cs.flatten(1, 2)[..., 0], ego_cs.flatten(1, 2)[..., 1]
            near.append(torch.stack([cc * q[..., 0] + ss * q[..., 1], -ss * q[..., 0] + cc * q[..., 1]], -1) / 10)
        tt = t[None, None, :].expand(B, P, S).reshape(B, P * S, 1) / 8
        m = self.map(torch.cat([per_kind, near[0].clamp(-5, 5), near[1].clamp(-5, 5), tt], -1)).view(B, P, S, -1)
        return torch.cat([h, m], -1)


class LatentDynamics(nn.Module):
    """GRU rolled along the plan; each step sees its action, the scene tokens (attention) and
    the plan-relative geometry of agents and map (:class:`Interactions`)."""

    def __init__(self, fc: FeatureConfig, mc: ModelConfig):
        super().__init__()
        d = mc.d_model
        self.stride = fc.dyn_stride
        self.heads = mc.heads
        self.action = mlp(PLAN_FEATURES * fc.dyn_stride + 1, d, d)
        self.q, self.k, self.v = nn.Linear(d, d), nn.Linear(d, d), nn.Linear(d, d)
        self.inter = Interactions(d)
        self.cell = nn.GRUCell(4 * d, d)
        self.register_buffer("plan_scale", torch.tensor(PLAN_SCALE), persistent=False)

    def actions(self, plan: torch.Tensor) -> torch.Tensor:
        """``[B, P, S, D]`` action embeddings from plans ``[B, P, plan_steps, 5]``."""
        B, P, T, F = plan.shape
        S = T // self.stride
        chunks = (plan / self.plan_scale)[:, :, : S * self.stride].reshape(B, P, S, self.stride * F)
        t = torch.linspace(0.0, 1.0, S, device=plan.device).expand(B, P, S).unsqueeze(-1)
        return self.action(torch.cat([chunks, t], -1))

    def forward(self, h0, tokens, valid, plan, agents, agents_mask, map_, map_mask) -> torch.Tensor:
        """Latents ``[B, P, S, D]`` (state after each step) from ``h0`` ``[B, D]``."""
        acts = self.actions(plan)
        B, P, S, D = acts.shape
        ends = plan[:, :, self.stride - 1:: self.stride][:, :, :S]
        t = (torch.arange(S, device=plan.device, dtype=plan.dtype) + 1) * self.stride * 0.1
        geo = self.inter(agents, agents_mask, map_, map_mask, ends[..., :2], ends[..., 2:4], t)  # [B, P, S, 2D]
        nh, dh = self.heads, D // self.heads
        K = self.k(tokens).view(B, -1, nh, dh).transpose(1, 2)          # [B, nh, N, dh]
        V = self.v(tokens).view(B, -1, nh, dh).transpose(1, 2)
        bias = torch.zeros(valid.shape, device=tokens.device).masked_fill(~valid, float("-inf"))[:, None, None]
        h = h0[:, None].expand(B, P, D).reshape(B * P, D)
        out = []
        for s in range(S):
            a = acts[:, :, s]
            q = self.q(h.view(B, P, D) + a).view(B, P, nh, dh).transpose(1, 2)  # [B, nh, P, dh]
            w = torch.softmax(q @ K.transpose(-1, -2) / math.sqrt(dh) + bias, dim=-1)
            ctx = (w @ V).transpose(1, 2).reshape(B * P, D)
            h = self.cell(torch.cat([a.reshape(B * P, D), ctx, geo[:, :, s].reshape(B * P, 2 * D)], -1), h)
            out.append(h.view(B, P, D))
        return torch.stack(out, 2)


class OccupancyPrior(nn.Module):
    """Observation-only occupancy around the planned poses (no parameters).

    Channel 0: agent boxes extrapolated at constant velocity from their last observed
    state; channel 1: cells outside the drivable area (the static map, from the scene's
    ego-frame raster). The occupancy decoder learns a correction on top of it.
    """

    def __init__(self, fc: FeatureConfig):
        super().__init__()
        self.fc = fc
        c = (torch.arange(fc.occ_size) + 0.5) * fc.occ_cell_m - 0.5 * fc.occ_size * fc.occ_cell_m
        gx, gy = torch.meshgrid(c, c, indexing="ij")
        self.register_buffer("gx", gx.reshape(-1), persistent=False)
        self.register_buffer("gy", gy.reshape(-1), persistent=False)

    def forward(self, agents, agents_mask, drivable, plan) -> torch.Tensor:
        fc = self.fc
        every = fc.dyn_stride * fc.occ_every
        poses = plan[:, :, every - 1:: every]                       # [B, P, K, 5] planned poses at 1 s, 2 s, ...
        K = poses.shape[2]
        t = (torch.arange(K, device=plan.device, dtype=plan.dtype) + 1) * every * 0.1
        c, s = poses[..., 2:3], poses[..., 3:4]
        X = poses[..., 0:1] + c * self.gx - s * self.gy            # [B, P, K, C] cell centres, anchor frame
        Y = poses[..., 1:2] + s * self.gx + c * self.gy
        last, valid = agents[:, 1:, -1], agents_mask[:, 1:, -1]     # [B, A, F]
        occ = torch.zeros_like(X, dtype=torch.bool)
        for a in range(last.shape[1]):
            f = last[:, a]
            ax = f[:, None, None, 0:1] + t[None, None, :, None] * f[:, None, None, 4:5]
            ay = f[:, None, None, 1:2] + t[None, None, :, None] * f[:, None, None, 5:6]
            dx, dy = X - ax, Y - ay
            ca, sa = f[:, None, None, 2:3], f[:, None, None, 3:4]
            inside = ((ca * dx + sa * dy).abs() <= f[:, None, None, 6:7] / 2) & \
                     ((-sa * dx + ca * dy).abs() <= f[:, None, None, 7:8] / 2)
            occ |= inside & valid[:, a, None, None, None]
        ix = torch.floor((X - fc.raster_x[0]) / fc.raster_cell_m).long()
        iy = torch.floor((Y - fc.raster_y[0]) / fc.raster_cell_m).long()
        nx, ny = drivable.shape[1:]
        ok = (ix >= 0) & (iy >= 0) & (ix < nx) & (iy < ny)
        b = torch.arange(X.shape[0], device=X.device)[:, None, None, None].expand_as(ix)
        drv = drivable[b, ix.clamp(0, nx - 1), iy.clamp(0, ny - 1)] & ok
        size = fc.occ_size
        return torch.stack([occ, ~drv], 3).view(*X.shape[:3], 2, size, size).to(plan.dtype)


class OccupancyDecoder(nn.Module):
    """Latent ``[..., D]`` plus prior ``[..., 2, s, s]`` -> occupancy logits ``[..., 2, s, s]``."""

    def __init__(self, fc: FeatureConfig, mc: ModelConfig):
        super().__init__()
        self.size = fc.occ_size
        self.fc = nn.Linear(mc.d_model, 16 * 4 * 4)
        self.net = nn.Sequential(nn.Conv2d(2 + 16, 32, 3, padding=1), nn.GELU(), nn.Conv2d(32, 32, 3, padding=1),
                                 nn.GELU(), nn.Conv2d(32, 2, 3, padding=1))
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
        self.hazard = mlp(d, d, 2)        # per-step logits: collision, off-road
        self.reward = mlp(d, d, 1)
        self.cont = mlp(d, d, 1)
        self.occupancy = OccupancyDecoder(fc, mc)
        self.prior = OccupancyPrior(fc)
        self.future = FutureEncoder(fc, mc, self.steps)
        self.project = mlp(2 * d, d, d)   # predicted future latent for InfoNCE

    def forward(self, agents, agents_mask, map_, map_mask, plan, drivable=None, occupancy: bool = True,
                occ_plans: int | None = None) -> dict:
        """``drivable`` ``[B, NX, NY]`` (ego-frame raster) is needed only when ``occupancy`` is True;
        ``occ_plans`` limits the occupancy forecast to the first plans of each scene (training speed)."""
        tokens, valid, ego = self.scene(agents, agents_mask, map_, map_mask)
        lat = self.dynamics(ego, tokens, valid, plan, agents, agents_mask, map_, map_mask)  # [B, P, S, D]
        out = {"latent": lat, "hazard_logits": self.hazard(lat), "reward": self.reward(lat).squeeze(-1),
               "continue_logits": self.cont(lat).squeeze(-1),
               "z_pred": self.project(torch.cat([lat.mean(2), lat[:, :, -1]], -1))}
        if occupancy:
            n = plan.shape[1] if occ_plans is None else min(occ_plans, plan.shape[1])
            prior = self.prior(agents, agents_mask, drivable, plan[:, :n])
            out["occ_prior"] = prior
            out["occ_logits"] = self.occupancy(lat[:, :n, self.fc.occ_every - 1:: self.fc.occ_every], prior)
        return out
