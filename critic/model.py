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
        bias = torch.zeros(valid.shape, dtype=tokens.dtype, device=tokens.device).masked_fill(~valid, float("-inf"))
        for block in self.attn:
            tokens = block(tokens, bias[:, None, None])
        return tokens, valid, tokens[:, 0]


class Interactions(nn.Module):
    """Plan-relative geometry at the end of every dynamics step.

    Agents: each agent's last observed state extrapolated at constant velocity, expressed
    in the frame of the ego's *planned* pose (relative position, distance, proximity) plus
    its static features (velocity, size, type); the ``nearest`` agents to each planned pose
    -> a narrow two-layer network -> masked max over them -> projection to ``d``. The first layer is split into a geometric part
    (per plan, step and agent) and a static part (per agent, computed once), so the
    expensive ``B x P x S x A`` tensor is only ``width`` wide. Map: per polyline kind, the
    distance from the planned position to the nearest point of that kind, plus the nearest
    drivable-area-boundary and road-edge points in the planned frame (nearest point per
    polyline first, then per kind: the map kind is constant along a polyline).
    """

    AGENT_GEO = 4
    AGENT_STATIC = 8
    MAP_IN = 8 + 4 + 1

    def __init__(self, d: int, width: int, nearest: int, map_every: int):
        super().__init__()
        self.nearest, self.map_every = nearest, map_every
        self.geo = nn.Linear(self.AGENT_GEO, width)
        self.static = nn.Linear(self.AGENT_STATIC, width, bias=False)
        self.agent = nn.Sequential(nn.GELU(), nn.Linear(width, width))
        self.agent_out = nn.Sequential(nn.LayerNorm(width), nn.Linear(width, d))
        self.map = mlp(self.MAP_IN, d, d)

    def agents(self, agents, agents_mask, ego_xy, ego_cs, t):
        """``[B, P, S, D]`` summary of the ``nearest`` constant-velocity agents around each planned pose."""
        last = agents[:, 1:, -1]                                   # [B, A, F] (ego token excluded)
        valid = agents_mask[:, 1:, -1]
        pos = last[:, None, :, :2] + t[None, :, None, None] * last[:, None, :, 4:6]  # [B, S, A, 2]
        rel = pos[:, None] - ego_xy[:, :, :, None]                 # [B, P, S, A, 2]
        c, s = ego_cs[..., 0:1], ego_cs[..., 1:2]                  # [B, P, S, 1]
        rx = c * rel[..., 0] + s * rel[..., 1]
        ry = -s * rel[..., 0] + c * rel[..., 1]
        dist = torch.sqrt(rx**2 + ry**2 + 1e-6).masked_fill(~valid[:, None, None], 1e4)
        k = min(self.nearest, dist.shape[-1])
        dist, idx = dist.topk(k, dim=-1, largest=False)           # [B, P, S, k] nearest agents per pose
        rx, ry = torch.gather(rx, -1, idx), torch.gather(ry, -1, idx)
        geo = torch.stack([rx / 20, ry / 20, dist / 20, torch.exp(-dist / 5)], -1)
        static = self.static(torch.cat([last[..., 4:6] / 10, last[..., 6:8] / 5, last[..., 8:12]], -1))  # [B, A, W]
        B, P, S = idx.shape[:3]
        st = torch.gather(static, 1, idx.reshape(B, -1, 1).expand(-1, -1, static.shape[-1])).view(B, P, S, k, -1)
        h = self.agent(self.geo(geo) + st)                        # [B, P, S, k, W]
        return self.agent_out(masked_max(h, dist < 1e3, 3))

    def map_geometry(self, map_, map_mask, ego_xy, ego_cs, t):
        """``[B, P, S, D]`` summary of the map around each planned position."""
        B, P, S = ego_xy.shape[:3]
        M, L = map_.shape[1:3]
        q = ego_xy.flatten(1, 2)                                   # [B, Q, 2]
        pts = map_[..., :2].flatten(1, 2)                          # [B, M * L, 2]
        far_pts = torch.where(map_mask.flatten(1, 2)[..., None], pts, torch.full_like(pts, 1e3))
        # squared distances in one fused pass: |p|^2 - 2 q.p (+ |q|^2 after the min)
        d2 = torch.baddbmm((far_pts**2).sum(-1)[:, None], q, far_pts.transpose(1, 2), alpha=-2.0)
        d2, jpoly = d2.view(B, -1, M, L).min(-1)                   # [B, Q, M] nearest point per polyline
        dpoly = torch.sqrt((d2 + (q**2).sum(-1, keepdim=True)).clamp_min(0.0))
        kinds = map_[:, :, 0, 2:].bool()                           # [B, M, 8]
        far = torch.full_like(dpoly, 1e3)
        per_kind = torch.stack([torch.where(kinds[:, None, :, k], dpoly, far).amin(-1) for k in range(8)], -1)
        per_kind = torch.exp(-per_kind / 3.0)                      # [B, Q, 8], 0 when absent / far
        cc, ss = ego_cs.flatten(1, 2)[..., 0], ego_cs.flatten(1, 2)[..., 1]
        near = []
        for k in (7, 5):                                           # drivable boundary, road edge
            m = torch.where(kinds[:, None, :, k], dpoly, far).argmin(-1, keepdim=True)  # [B, Q, 1]
            j = m[..., 0] * L + torch.gather(jpoly, 2, m)[..., 0]
            p = torch.gather(pts, 1, j[..., None].expand(-1, -1, 2)) - q
            near.append(torch.stack([cc * p[..., 0] + ss * p[..., 1], -ss * p[..., 0] + cc * p[..., 1]], -1) / 10)
        tt = t[None, None, :].expand(B, P, S).reshape(B, P * S, 1) / 8
        return self.map(torch.cat([per_kind, near[0].clamp(-5, 5), near[1].clamp(-5, 5), tt], -1)).view(B, P, S, -1)

    def forward(self, agents, agents_mask, map_, map_mask, ego_xy, ego_cs, t):
        """``ego_xy`` ``[B, P, S, 2]``, ``ego_cs`` (cos, sin) ``[B, P, S, 2]``, ``t`` ``[S]`` s -> ``[B, P, S, 2D]``."""
        S = t.shape[0]
        # the map is static: its geometry is evaluated every ``map_every`` steps (at the end of
        # each block) and shared by the steps of the block
        key = torch.clamp(torch.arange(S, device=t.device) // self.map_every * self.map_every + self.map_every - 1,
                          max=S - 1)
        at, inv = torch.unique(key, return_inverse=True)
        m = self.map_geometry(map_, map_mask, ego_xy[:, :, at], ego_cs[:, :, at], t[at])[:, :, inv]
        return torch.cat([self.agents(agents, agents_mask, ego_xy, ego_cs, t), m], -1)


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
        self.inter = Interactions(d, mc.agent_width, mc.nearest_agents, mc.map_every)
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

    def memory(self, tokens: torch.Tensor, valid: torch.Tensor) -> tuple:
        """Keys, values and key mask of the scene tokens, shared by every step."""
        B, N, D = tokens.shape
        nh, dh = self.heads, D // self.heads
        K = self.k(tokens).view(B, N, nh, dh).transpose(1, 2)             # [B, nh, N, dh]
        V = self.v(tokens).view(B, N, nh, dh).transpose(1, 2)
        bias = torch.zeros(valid.shape, device=tokens.device).masked_fill(~valid, float("-inf"))[:, None, None]
        return K, V, bias

    def cell(self, h: torch.Tensor, gx: torch.Tensor, qa: torch.Tensor, mem: tuple) -> torch.Tensor:
        """One GRU step: state ``h`` ``[B * P, D]``, input gates ``gx`` ``[B * P, 3D]`` (action and
        geometry part), action query ``qa`` ``[B, P, D]``; attention context from ``mem``."""
        K, V, bias = mem
        B, P, D = qa.shape
        nh, dh = self.heads, D // self.heads
        q = (self.q_h(h).view(B, P, D) + qa).view(B, P, nh, dh).transpose(1, 2)  # [B, nh, P, dh]
        w = torch.softmax(q @ K.transpose(-1, -2) / math.sqrt(dh) + bias, dim=-1)
        ctx = (w @ V).transpose(1, 2).reshape(B * P, D)
        xr, xz, xn = (gx + self.gate_ctx(ctx)).chunk(3, -1)
        hr, hz, hn = self.gate_h(h).chunk(3, -1)
        r, z = torch.sigmoid(xr + hr), torch.sigmoid(xz + hz)
        return (1 - z) * torch.tanh(xn + r * hn) + z * h

    def step(self, h, chunk, step: int, mem: tuple, agents, agents_mask, map_, map_mask) -> torch.Tensor:
        """Advance latents ``h`` ``[B, P, D]`` by one step along plan states ``chunk`` ``[B, P, stride, 5]``
        (latent step ``step``); used by imagination rollouts (:mod:`critic.rl.imagination`)."""
        B, P, D = h.shape
        act = self.actions(chunk, step)                                     # [B, P, 1, D]
        t = torch.full((1,), (step + 1) * self.stride * 0.1, device=h.device, dtype=h.dtype)
        end = chunk[:, :, -1:]
        geo = self.inter(agents, agents_mask, map_, map_mask, end[..., :2], end[..., 2:4], t)
        gx = self.gate_x(torch.cat([act, geo], -1)).reshape(B * P, 3 * D)
        return self.cell(h.reshape(B * P, D), gx, self.q(act[:, :, 0]), mem).view(B, P, D)

    def forward(self, h0, tokens, valid, plan, agents, agents_mask, map_, map_mask) -> torch.Tensor:
        """Latents ``[B, P, S, D]`` (state after each step) from ``h0`` ``[B, D]``."""
        acts = self.actions(plan)
        B, P, S, D = acts.shape
        ends = plan[:, :, self.stride - 1:: self.stride][:, :, :S]
        t = (torch.arange(S, device=plan.device, dtype=plan.dtype) + 1) * self.stride * 0.1
        geo = self.inter(agents, agents_mask, map_, map_mask, ends[..., :2], ends[..., 2:4], t)  # [B, P, S, 2D]
        mem = self.memory(tokens, valid)
        # the input-to-gate products of the action and geometry parts do not depend on the
        # state, so they are computed for all steps in one matmul (step-major layout)
        gx = self.gate_x(torch.cat([acts, geo], -1)).permute(2, 0, 1, 3).reshape(S, B * P, 3 * D)
        qa = self.q(acts).permute(2, 0, 1, 3).reshape(S, B, P, D)
        h = h0[:, None].expand(B, P, D).reshape(B * P, D)
        out = []
        for s in range(S):
            h = self.cell(h, gx[s], qa[s], mem)
            out.append(h)
        return torch.stack(out, 1).view(B, P, S, D)


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
