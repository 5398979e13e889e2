"""Plan-relative geometry of agents and map along every dynamics step (no scene attention).

Frames: inputs are in the ego frame at the anchor (x forward, y left, m); the features are
expressed in the frame of the ego's *planned* pose at each sub-step (0.1 s). Shapes: B scenes,
P plans, S dynamics steps, R plan states per step (``dyn_stride``), A agents (ego excluded).
"""
from __future__ import annotations

from typing import NamedTuple

import torch
from torch import nn

from schemas import CANONICAL_DT

from .columns import AgentCol, MapCol, MapKind, PlanCol, keep

DT = CANONICAL_DT  # s between plan states


def mlp(i: int, h: int, o: int) -> nn.Sequential:
    return nn.Sequential(nn.Linear(i, h), nn.LayerNorm(h), nn.GELU(), nn.Linear(h, o))


def masked_max(x: torch.Tensor, mask: torch.Tensor, dim: int) -> torch.Tensor:
    """Max over ``dim`` of valid entries (0 where nothing is valid)."""
    x = x.masked_fill(~mask.unsqueeze(-1), float("-inf"))
    out = x.max(dim=dim).values
    return torch.where(torch.isfinite(out), out, torch.zeros_like(out))


def box_gap(rx, ry, rc, rs, ego_half, agent_half) -> torch.Tensor:
    """Separating-axis gap (m) between the ego box and an agent box, any broadcastable shape.

    ``rx, ry``: the agent's centre in the ego box's frame; ``rc, rs``: cos, sin of the agent's
    heading relative to the ego's; ``ego_half``, ``agent_half``: (half length, half width) pairs.
    The result is the largest gap of the two boxes' projections over the four box axes: positive
    exactly when the boxes are apart (then a lower bound of their distance), at most 0 when they
    overlap (minus the smallest penetration depth over the four axes).
    """
    el, ew = ego_half
    al, aw = agent_half
    ac, as_ = rc.abs(), rs.abs()
    gx = rx.abs() - (el + ac * al + as_ * aw)
    gy = ry.abs() - (ew + as_ * al + ac * aw)
    gu = (rc * rx + rs * ry).abs() - (al + ac * el + as_ * ew)
    gv = (-rs * rx + rc * ry).abs() - (aw + as_ * el + ac * ew)
    return torch.maximum(torch.maximum(gx, gy), torch.maximum(gu, gv))


class AgentPaths(NamedTuple):
    """Forecast motion of E path entries over the plan, ego frame at the anchor (the ego excluded).

    An entry is one forecast mode of one agent (E = agents x modes). ``pos`` ``[B, E, S, R, 2]`` (m)
    at every plan state's time (0.1 s, 0.2 s, ...); ``vel`` ``[B, E, S, 2]`` (m/s) and ``head`` (unit
    heading vector) ``[B, E, S, 2]`` per step; the entry's agent's last observed features ``last``
    ``[B, E, F]`` (box size, type), whether that agent is observed at the anchor ``valid`` ``[B, E]``,
    and the mode's probability ``prob`` ``[B, E]`` (1 for a single-mode forecast); ``prior`` ``[B, E]`` (1 for
    an entry that is the agent's constant-velocity path, not a learned mode) when the model has such entries.
    """

    pos: torch.Tensor
    vel: torch.Tensor
    head: torch.Tensor
    last: torch.Tensor
    valid: torch.Tensor
    prob: torch.Tensor
    prior: torch.Tensor | None = None

    def cat(self, other: "AgentPaths") -> "AgentPaths":
        """These entries followed by ``other``'s (along E); both must carry ``prior`` or neither."""
        return AgentPaths(*(torch.cat([a, b], 1) if a is not None else None for a, b in zip(self, other)))

    def steps(self, sl: slice) -> "AgentPaths":
        return self._replace(pos=self.pos[:, :, sl], vel=self.vel[:, :, sl], head=self.head[:, :, sl])


def agent_paths(ends: torch.Tensor, last: torch.Tensor, valid: torch.Tensor, stride: int,
                prob: torch.Tensor | None = None) -> AgentPaths:
    """:class:`AgentPaths` from positions at the step ends ``ends`` ``[B, E, S, 2]``, the agents' last
    observed features ``last`` ``[B, E, F]`` (x, y, cos, sin, vx, vy, ...), their validity ``[B, E]`` and
    the modes' probabilities (default 1): straight lines between step ends, starting at the last
    observed position. The heading follows the motion, blended into the observed heading below
    1 m/s (a standing agent keeps its heading)."""
    start = torch.cat([last[:, :, None, AgentCol.XY], ends[:, :, :-1]], 2)  # [B, A, S, 2]
    frac = torch.arange(1, stride + 1, device=ends.device, dtype=ends.dtype) / stride
    step = ends - start
    pos = start[:, :, :, None] + frac[:, None] * step[:, :, :, None]       # [B, A, S, R, 2]
    vel = step / (stride * DT)
    speed = vel.norm(dim=-1, keepdim=True)
    w = speed.clamp(max=1.0)
    head = w * vel / speed.clamp_min(1e-3) + (1 - w) * last[:, :, None, AgentCol.HEADING]
    prob = torch.ones_like(valid, dtype=ends.dtype) if prob is None else prob
    return AgentPaths(pos, vel, head / head.norm(dim=-1, keepdim=True).clamp_min(1e-6), last, valid, prob)


class RasterSpec(NamedTuple):
    """Where the cells of a drivable raster lie: cell ``(i, j)`` spans ego-frame ``x0 + i * cell_m`` to
    ``x0 + (i + 1) * cell_m`` in x and likewise in y (m); see :class:`critic.scene.SceneBatch`."""

    x0: float
    y0: float
    cell_m: float


def drivable_at(drivable: torch.Tensor, X: torch.Tensor, Y: torch.Tensor,
                spec: RasterSpec) -> tuple[torch.Tensor, torch.Tensor]:
    """The cells of ``drivable`` ``[B, NX, NY]`` bool holding the ego-frame points ``X, Y`` ``[B, ...]`` (m):
    ``(drivable, inside)``, each shaped like ``X``; ``inside`` is False for a point beyond the raster, whose
    ``drivable`` value is that of the nearest edge cell and means nothing."""
    ix = torch.floor((X - spec.x0) / spec.cell_m).long()
    iy = torch.floor((Y - spec.y0) / spec.cell_m).long()
    nx, ny = drivable.shape[1:]
    inside = (ix >= 0) & (iy >= 0) & (ix < nx) & (iy < ny)
    idx = (ix.clamp(0, nx - 1) * ny + iy.clamp(0, ny - 1)).reshape(ix.shape[0], -1)
    return torch.gather(drivable.reshape(drivable.shape[0], -1), 1, idx).view(ix.shape), inside


def constant_velocity_ends(last: torch.Tensor, steps: int, stride: int) -> torch.Tensor:
    """``[B, A, steps, 2]`` positions at the step ends of agents ``last`` ``[B, A, F]`` kept at their velocity."""
    t = (torch.arange(steps, device=last.device, dtype=last.dtype) + 1) * stride * DT
    return last[:, :, None, AgentCol.XY] + t[None, None, :, None] * last[:, :, None, AgentCol.VEL]


class Interactions(nn.Module):
    """Plan-relative geometry of every dynamics step.

    Agents: each agent's box moves along each of its forecast paths (:class:`AgentPaths`) and is
    compared with the ego's box at every planned state of the step (0.1 s apart):
    :func:`box_gap` (which is what the labeller's separating-axis test decides a collision
    by), and at the step's closest sub-step the agent's position, relative heading and
    velocity in the planned frame and whether it is behind the ego's rear bumper (a contact
    from behind is not the ego's fault). The ``nearest`` path entries by gap -> a narrow
    two-layer network -> masked max over them -> projection to ``d``. The first layer is split
    into a geometric part (per plan, step and entry) and a static part (velocity, size, type,
    the mode's probability; per entry, computed once), so the expensive ``B x P x S x nearest``
    tensor is only ``width`` wide. Map: per polyline kind, the distance from the step's last planned position to the
    nearest point of that kind, plus the nearest drivable-area-boundary and road-edge points
    in the planned frame (nearest point per polyline first, then per kind).
    """

    AGENT_GEO = 9
    AGENT_STATIC = 9
    MAP_IN = MapKind.COUNT + 4 + 1
    EVENTS = 5
    """Event indicators per step (:meth:`events`): contact ahead, contact from behind, closeness, a corner
    off-road, share of corners off."""

    def __init__(self, d: int, width: int, nearest: int, map_every: int, prior_flag: bool = False,
                 raster: RasterSpec | None = None):
        super().__init__()
        self.nearest, self.map_every, self.prior_flag, self.raster = nearest, map_every, prior_flag, raster
        if raster is not None and not prior_flag:
            raise ValueError("Interactions: event indicators (raster) need the constant-velocity entries (prior_flag)")
        self.geo = nn.Linear(self.AGENT_GEO, width)
        self.static = nn.Linear(self.AGENT_STATIC + int(prior_flag), width, bias=False)
        self.agent = nn.Sequential(nn.GELU(), nn.Linear(width, width))
        self.agent_out = nn.Sequential(nn.LayerNorm(width), nn.Linear(width, d))
        self.map = mlp(self.MAP_IN, d, d)

    def agent_geometry(self, agents, states, paths: AgentPaths,
                       contact: bool = False) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        """Per (plan, step, path entry) features ``[B, P, S, E, AGENT_GEO]`` and gaps ``[B, P, S, E]`` (m,
        1e4 for padding) from plan ``states`` ``[B, P, S, R, 5]``, the ego's box (``agents[:, 0]``) and
        the ``paths`` over the same steps; with ``contact``, also ``[B, P, S, 3]`` over the constant-velocity
        entries (``paths.prior``) and every planned state of each step: a box touches the ego's with its
        centre ahead of the ego's rear bumper (0 / 1), one touches it from behind (0 / 1), and the smallest
        gap (m) of a box ahead of the rear bumper (1e4 if none)."""
        last, valid = paths.last, paths.valid                       # [B, E, F], [B, E]
        ego = agents[:, 0, -1]
        ego_half = (ego[:, AgentCol.LENGTH, None, None, None, None] / 2,
                    ego[:, AgentCol.WIDTH, None, None, None, None] / 2)
        lead = (slice(None), None, None, None)                      # [B] -> [B, 1, 1, 1, A]
        agent_half = (last[lead + (slice(None), AgentCol.LENGTH)] / 2, last[lead + (slice(None), AgentCol.WIDTH)] / 2)
        pos = paths.pos.permute(0, 2, 3, 1, 4)                      # [B, S, R, A, 2]
        rel = pos[:, None] - states[..., None, PlanCol.XY]          # [B, P, S, R, A, 2]
        c, s = states[..., keep(PlanCol.COS)], states[..., keep(PlanCol.SIN)]   # [B, P, S, R, 1]
        rx = c * rel[..., 0] + s * rel[..., 1]
        ry = -s * rel[..., 0] + c * rel[..., 1]
        head = paths.head.transpose(1, 2)[:, None, :, None]         # [B, 1, S, 1, A, 2]
        ac, as_ = head[..., 0], head[..., 1]
        rc, rs = c * ac + s * as_, c * as_ - s * ac                 # agent heading relative to the planned one
        gap = box_gap(rx, ry, rc, rs, ego_half, agent_half)         # [B, P, S, R, A]
        touch = None
        if contact:      # the labeller's at-fault rule: an agent's centre behind the rear bumper hit the ego
            cv = (paths.prior > 0.5) & valid                        # [B, E]
            back = rx < -ego_half[0]
            ahead_gap = gap.masked_fill(back | ~cv[:, None, None, None], 1e4).amin(3).amin(-1)   # [B, P, S]
            behind_hit = ((gap <= 0) & back & cv[:, None, None, None]).flatten(3).any(-1)
            touch = torch.stack([(ahead_gap <= 0).to(gap.dtype), behind_hit.to(gap.dtype), ahead_gap], -1)
        gap, r = gap.min(3)                                         # closest sub-step of each step
        pick = lambda x: torch.gather(x.expand_as(rx), 3, r[:, :, :, None]).squeeze(3)  # noqa: E731
        rx, ry, rc, rs = pick(rx), pick(ry), pick(rc), pick(rs)
        A = r.shape[-1]
        cs = torch.gather(states[..., None, PlanCol.HEADING_SPEED].expand(-1, -1, -1, -1, A, -1), 3,
                          r[:, :, :, None, :, None].expand(-1, -1, -1, -1, -1, 3)).squeeze(3)  # [B, P, S, A, 3]
        c, s, v = cs[..., 0], cs[..., 1], cs[..., 2]                # cos, sin, speed
        vel = paths.vel.transpose(1, 2)[:, None]                    # [B, 1, S, A, 2]
        rvx, rvy = c * vel[..., 0] + s * vel[..., 1] - v, -s * vel[..., 0] + c * vel[..., 1]  # relative velocity
        behind = (rx < -ego_half[0][..., 0]).to(rx.dtype)
        gap = gap.masked_fill(~valid[:, None, None], 1e4)
        geo = torch.stack([rx / 20, ry / 20, (gap / 5).clamp(-2, 4), torch.exp(-gap.clamp_min(0)), rc, rs,
                           rvx / 10, rvy / 10, behind], -1)
        return geo, gap, touch

    def agents(self, agents, states, paths: AgentPaths) -> tuple[torch.Tensor, torch.Tensor | None]:
        """``[B, P, S, D]`` summary of the ``nearest`` path entries (by gap) over each step, and (with event
        indicators) the contact part of :meth:`agent_geometry` ``[B, P, S, 3]``."""
        geo, gap, contact = self.agent_geometry(agents, states, paths, contact=self.raster is not None)
        k = min(self.nearest, gap.shape[-1])
        gap, idx = gap.topk(k, dim=-1, largest=False)               # [B, P, S, k]
        geo = torch.gather(geo, 3, idx[..., None].expand(-1, -1, -1, -1, geo.shape[-1]))
        last = paths.last
        flag = [paths.prior[..., None].to(last.dtype)] if self.prior_flag else []
        static = self.static(torch.cat([last[..., AgentCol.VEL] / 10, last[..., AgentCol.SIZE] / 5,
                                        last[..., AgentCol.TYPE], paths.prob[..., None], *flag], -1))  # [B, E, W]
        B, P, S = idx.shape[:3]
        st = torch.gather(static, 1, idx.reshape(B, -1, 1).expand(-1, -1, static.shape[-1])).view(B, P, S, k, -1)
        h = self.agent(self.geo(geo) + st)                          # [B, P, S, k, W]
        return self.agent_out(masked_max(h, gap < 1e3, 3)), contact

    def offroad(self, agents, states, drivable: torch.Tensor) -> torch.Tensor:
        """``[B, P, S, 2]``: whether a corner of the ego's box (``agents[:, 0]``) lies in a non-drivable cell of
        ``drivable`` ``[B, NX, NY]`` at any planned state of each step, and the share of corners x states that
        do (cells of :class:`RasterSpec`; a corner beyond the raster counts as drivable: unknown)."""
        spec = self.raster
        ego = agents[:, 0, -1]
        hl = ego[:, AgentCol.LENGTH, None, None, None, None] / 2      # [B, 1, 1, 1, 1]
        hw = ego[:, AgentCol.WIDTH, None, None, None, None] / 2
        sl = torch.tensor([1.0, 1.0, -1.0, -1.0], device=states.device, dtype=states.dtype)
        sw = torch.tensor([1.0, -1.0, -1.0, 1.0], device=states.device, dtype=states.dtype)
        c, s = states[..., keep(PlanCol.COS)], states[..., keep(PlanCol.SIN)]      # [B, P, S, R, 1]
        X = states[..., keep(PlanCol.X)] + c * sl * hl - s * sw * hw                # [B, P, S, R, 4]
        Y = states[..., keep(PlanCol.Y)] + s * sl * hl + c * sw * hw
        drv, inside = drivable_at(drivable, X, Y, spec)
        off = ~drv & inside                                                         # [B, P, S, R, 4]
        return torch.stack([off.flatten(-2).any(-1), off.flatten(-2).float().mean(-1)], -1).to(states.dtype)

    def events(self, contact: torch.Tensor, agents, states, drivable: torch.Tensor) -> torch.Tensor:
        """``[B, P, S, EVENTS]`` exact geometric indicators of each step: the ego's box touches a
        constant-velocity box ahead of its rear bumper (0 / 1), one touches it from behind (0 / 1),
        ``exp(-gap)`` of the smallest gap ahead (``contact``: :meth:`agent_geometry`'s contact part), and
        :meth:`offroad`'s two indicators."""
        return torch.cat([contact[..., :2], torch.exp(-contact[..., 2:].clamp_min(0)),
                          self.offroad(agents, states, drivable)], -1)

    def map_geometry(self, map_, map_mask, ego_xy, ego_cs, t):
        """``[B, P, S, D]`` summary of the map around each planned position ``ego_xy`` ``[B, P, S, 2]``."""
        B, P, S = ego_xy.shape[:3]
        M, L = map_.shape[1:3]
        q = ego_xy.flatten(1, 2)                                   # [B, Q, 2]
        pts = map_[..., MapCol.XY].flatten(1, 2)                   # [B, M * L, 2]
        far_pts = torch.where(map_mask.flatten(1, 2)[..., None], pts, torch.full_like(pts, 1e3))
        # squared distances in one fused pass: |p|^2 - 2 q.p (+ |q|^2 after the min)
        d2 = torch.baddbmm((far_pts**2).sum(-1)[:, None], q, far_pts.transpose(1, 2), alpha=-2.0)
        d2, jpoly = d2.view(B, -1, M, L).min(-1)                   # [B, Q, M] nearest point per polyline
        dpoly = torch.sqrt((d2 + (q**2).sum(-1, keepdim=True)).clamp_min(0.0))
        kinds = map_[:, :, 0, MapCol.KIND].bool()                  # [B, M, MapKind.COUNT]
        far = torch.full_like(dpoly, 1e3)
        per_kind = torch.stack([torch.where(kinds[:, None, :, k], dpoly, far).amin(-1)
                                for k in range(MapKind.COUNT)], -1)
        per_kind = torch.exp(-per_kind / 3.0)                      # [B, Q, MapKind.COUNT], 0 when absent / far
        cc, ss = ego_cs.flatten(1, 2)[..., 0], ego_cs.flatten(1, 2)[..., 1]
        near = []
        for k in (MapKind.DRIVABLE_BOUNDARY, MapKind.ROAD_EDGE):
            m = torch.where(kinds[:, None, :, k], dpoly, far).argmin(-1, keepdim=True)  # [B, Q, 1]
            j = m[..., 0] * L + torch.gather(jpoly, 2, m)[..., 0]
            p = torch.gather(pts, 1, j[..., None].expand(-1, -1, 2)) - q
            near.append(torch.stack([cc * p[..., 0] + ss * p[..., 1], -ss * p[..., 0] + cc * p[..., 1]], -1) / 10)
        tt = t[None, None, :].expand(B, P, S).reshape(B, P * S, 1) / 8
        return self.map(torch.cat([per_kind, near[0].clamp(-5, 5), near[1].clamp(-5, 5), tt], -1)).view(B, P, S, -1)

    def forward(self, agents, map_, map_mask, states, t, paths: AgentPaths,
                drivable: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Plan ``states`` ``[B, P, S, R, 5]`` (x, y, cos, sin, speed) at times ``t`` ``[S, R]`` (s), the
        ego's box (``agents[:, 0]``) and the agents' ``paths`` over the same steps -> ``[B, P, S, 2D]``, and
        with event indicators (a :class:`RasterSpec`) :meth:`events` ``[B, P, S, EVENTS]`` (else None), for which
        the drivable raster ``drivable`` ``[B, NX, NY]`` is needed (:meth:`LatentDynamics.memory` checks it)."""
        S = t.shape[0]
        ends, t_end = states[:, :, :, -1], t[:, -1]
        # the map is static: its geometry is evaluated every ``map_every`` steps (at the end of
        # each block) and shared by the steps of the block
        key = torch.clamp(torch.arange(S, device=t.device) // self.map_every * self.map_every + self.map_every - 1,
                          max=S - 1)
        at, inv = torch.unique(key, return_inverse=True)
        m = self.map_geometry(map_, map_mask, ends[:, :, at, PlanCol.XY], ends[:, :, at, PlanCol.HEADING],
                              t_end[at])[:, :, inv]
        a, contact = self.agents(agents, states, paths)
        ev = None if self.raster is None else self.events(contact, agents, states, drivable)
        return torch.cat([a, m], -1), ev
