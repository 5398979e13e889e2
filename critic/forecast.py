"""The agents' learned forecast: agent-centric attention over the scene tokens, then a multi-modal motion head.

Each agent (a query) attends to every scene token (the ego, the other agents, the map
polylines) with keys and values that carry where that token lies *seen from the agent*:
its position, heading and velocity in the agent's frame for an agent key, the nearest point
of the polyline and the polyline's direction there for a map key. This is the
query-centric encoding of QCNet (Zhou et al., CVPR 2023) and HiVT (Zhou et al., CVPR
2022), reduced to one set of relative features per (agent, token) pair. It matters because
scene tokens are encoded in the ego frame: without it the forecaster must work out from
absolute coordinates which lane lies ahead of an agent and which car leads it.

Frames and units: inputs are ego-frame tensors at the anchor (x forward, y left, m, m/s)
from :mod:`critic.features`; shapes B scenes, A agents (ego token excluded), N = 1 + A + M
scene tokens (ego, agents, M map polylines), L points per polyline, S dynamics steps.
"""
from __future__ import annotations

import math

import torch
from torch import nn

from schemas import CANONICAL_DT

from .columns import AgentCol, MapCol
from .interactions import constant_velocity_ends, mlp

MOTION_SCALE_M = 5.0   # the motion head's output unit: metres of offset from constant velocity
EDGE_FEATURES = 8
MODE_ACCEL = (-2.0, 1.0)   # m/s^2: the modes start as constant accelerations spread over this range


def most_likely(ends: torch.Tensor, mode_logits: torch.Tensor) -> torch.Tensor:
    """Each agent's most likely mode ``[B, A, S, 2]`` of forecast positions ``ends`` ``[B, A, K, S, 2]``
    with logits ``mode_logits`` ``[B, A, K]``."""
    top = mode_logits.argmax(-1)[:, :, None, None, None].expand(-1, -1, 1, *ends.shape[3:])
    return torch.gather(ends, 2, top)[:, :, 0]


def _frame(q: torch.Tensor):
    """Origin and axes of the agents' frames from their last features ``q`` ``[B, A, F]``."""
    return (q[..., AgentCol.X, None], q[..., AgentCol.Y, None], q[..., AgentCol.COS, None],
            q[..., AgentCol.SIN, None])                                  # x, y, cos, sin: [B, A, 1]


def agent_centric_edges(agents: torch.Tensor, map_: torch.Tensor, map_mask: torch.Tensor) -> torch.Tensor:
    """Every scene token seen from every agent: ``[B, A, 1 + A + M, EDGE_FEATURES]``.

    ``agents`` ``[B, 1 + A, H, F]`` (token 0 = the ego; last history frame used), ``map_``
    ``[B, M, L, F]`` and ``map_mask`` ``[B, M, L]``. Features, all in the query agent's frame
    (x along its heading): position / 20 m, cos and sin of the key's heading (of the polyline's
    direction at its nearest point for a map key), the key's velocity minus the query's / 10 m/s
    (0 for the map), 1 for a map key, exp(-distance / 5 m). They do not change when the whole
    scene is moved or turned.
    """
    last = agents[:, :, -1]                                       # [B, 1 + A, F]
    qx, qy, qc, qs = _frame(last[:, 1:])
    qvx, qvy = last[:, 1:, AgentCol.VX, None], last[:, 1:, AgentCol.VY, None]

    def rel(x, y):                                                # points [B, A, K] -> query frame
        dx, dy = x - qx, y - qy
        return qc * dx + qs * dy, -qs * dx + qc * dy

    k = last[:, None]                                             # [B, 1, 1 + A, F]
    kx, ky, kc, ks = k[..., AgentCol.X], k[..., AgentCol.Y], k[..., AgentCol.COS], k[..., AgentCol.SIN]
    rx, ry = rel(kx, ky)
    hc, hs = qc * kc + qs * ks, qc * ks - qs * kc
    dvx, dvy = k[..., AgentCol.VX] - qvx, k[..., AgentCol.VY] - qvy
    zero = torch.zeros_like(rx)
    agent_keys = torch.stack([rx / 20, ry / 20, hc, hs, (qc * dvx + qs * dvy) / 10, (-qs * dvx + qc * dvy) / 10,
                              zero, torch.exp(-torch.hypot(rx, ry) / 5)], -1)

    pts = map_[..., MapCol.XY]                                    # [B, M, L, 2]
    A, L = qx.shape[1], pts.shape[2]
    d2 = ((pts[:, None] - torch.stack([qx, qy], -1)[:, :, :, None]) ** 2).sum(-1)   # [B, A, M, L]
    j = d2.masked_fill(~map_mask[:, None], float("inf")).argmin(-1)                   # nearest point [B, A, M]
    ok = map_mask[:, None].expand(-1, A, -1, -1)
    # the polyline's direction at the nearest point: towards the next valid point, else from the previous one
    nxt_ok = torch.gather(ok, 3, (j + 1).clamp(max=L - 1)[..., None])[..., 0] & (j + 1 < L)
    other = torch.where(nxt_ok, j + 1, (j - 1).clamp_min(0))
    sign = torch.where(nxt_ok, 1.0, -1.0)[..., None]
    at = lambda i: torch.gather(pts[:, None].expand(-1, A, -1, -1, -1), 3,  # noqa: E731
                                i[..., None, None].expand(-1, -1, -1, 1, 2))[..., 0, :]
    p = at(j)
    tan = (at(other) - p) * sign
    tan = tan / tan.norm(dim=-1, keepdim=True).clamp_min(1e-6)
    mx, my = rel(p[..., 0], p[..., 1])
    tc, ts = qc * tan[..., 0] + qs * tan[..., 1], qc * tan[..., 1] - qs * tan[..., 0]
    zero = torch.zeros_like(mx)
    map_keys = torch.stack([mx / 20, my / 20, tc, ts, zero, zero, torch.ones_like(mx),
                            torch.exp(-torch.hypot(mx, my) / 5)], -1)
    return torch.cat([agent_keys, map_keys], 2)


class AgentCentricBlock(nn.Module):
    """Pre-norm cross-attention of the agent tokens to all scene tokens, with the relative
    features of :func:`agent_centric_edges` added to keys and values, then a feed-forward."""

    def __init__(self, d: int, heads: int):
        super().__init__()
        self.heads = heads
        self.norm_q, self.norm_kv, self.norm_ff = nn.LayerNorm(d), nn.LayerNorm(d), nn.LayerNorm(d)
        self.q, self.k, self.v, self.out = nn.Linear(d, d), nn.Linear(d, d), nn.Linear(d, d), nn.Linear(d, d)
        self.edge = mlp(EDGE_FEATURES, d, 2 * d)
        self.ff = nn.Sequential(nn.Linear(d, 2 * d), nn.GELU(), nn.Linear(2 * d, d))

    def forward(self, x: torch.Tensor, tokens: torch.Tensor, bias: torch.Tensor, edges: torch.Tensor) -> torch.Tensor:
        """Agent tokens ``x`` ``[B, A, D]``, scene ``tokens`` ``[B, N, D]``, key mask ``bias``
        ``[B, 1, 1, N]`` (0 or -inf), ``edges`` ``[B, A, N, EDGE_FEATURES]`` -> ``[B, A, D]``."""
        B, A, D = x.shape
        N, h = tokens.shape[1], self.heads
        ek, ev = self.edge(edges).chunk(2, -1)                    # [B, A, N, D]
        kv = self.norm_kv(tokens)[:, None]
        keys = (self.k(kv) + ek).view(B, A, N, h, D // h)
        values = (self.v(kv) + ev).view(B, A, N, h, D // h)
        q = self.q(self.norm_q(x)).view(B, A, 1, h, D // h)
        w = torch.softmax((q * keys).sum(-1) / math.sqrt(D // h) + bias.view(B, 1, N, 1), dim=2)   # [B, A, N, h]
        x = x + self.out((w[..., None] * values).sum(2).reshape(B, A, D))
        return x + self.ff(self.norm_ff(x))


class Forecaster(nn.Module):
    """``modes`` forecasts per agent and their probabilities: constant velocity plus an offset in the
    agent's frame (along and across its heading), read with the mode logits from each agent's
    token after ``layers`` :class:`AgentCentricBlock` rounds.

    With one mode the head's last layer starts at zero (an untrained forecaster is constant
    velocity). With several, mode k starts as a constant acceleration from :data:`MODE_ACCEL`
    along the heading, so that the winner-takes-all loss (:func:`critic.losses.forecast_losses`)
    trains the modes apart from the first step.
    """

    def __init__(self, d: int, heads: int, layers: int, steps: int, stride: int, modes: int = 1):
        super().__init__()
        self.steps, self.stride, self.modes = steps, stride, modes
        self.blocks = nn.ModuleList(AgentCentricBlock(d, heads) for _ in range(layers))
        self.head = mlp(d, d, modes * (steps * 2 + 1))
        nn.init.zeros_(self.head[-1].weight)
        nn.init.zeros_(self.head[-1].bias)
        if modes > 1:
            t = (torch.arange(steps) + 1) * stride * CANONICAL_DT
            accel = torch.linspace(*MODE_ACCEL, modes)
            start = torch.zeros(modes, steps, 2)
            start[..., 0] = 0.5 * accel[:, None] * t**2 / MOTION_SCALE_M
            with torch.no_grad():
                self.head[-1].bias[: modes * steps * 2] = start.flatten()

    def forward(self, tokens, bias, agents, map_, map_mask) -> tuple[torch.Tensor, torch.Tensor]:
        """Scene ``tokens`` ``[B, N, D]`` with key mask ``bias`` -> positions ``[B, A, K, S, 2]`` (ego frame
        at the anchor, m) and mode logits ``[B, A, K]`` (K = ``modes``)."""
        last = agents[:, 1:, -1]
        B, A = last.shape[:2]
        K, S = self.modes, self.steps
        x = tokens[:, 1:1 + A]
        if len(self.blocks):
            edges = agent_centric_edges(agents, map_, map_mask)
            for block in self.blocks:
                x = block(x, tokens, bias, edges)
        out = self.head(x)
        off = out[..., : K * S * 2].view(B, A, K, S, 2) * MOTION_SCALE_M
        c, s = last[:, :, None, None, AgentCol.COS], last[:, :, None, None, AgentCol.SIN]
        off = torch.stack([c * off[..., 0] - s * off[..., 1], s * off[..., 0] + c * off[..., 1]], -1)
        ends = constant_velocity_ends(last, S, self.stride)[:, :, None]
        return ends + off, out[..., K * S * 2:]
