"""Typed torch training batches from cached split arrays: ``idx`` ``[B, P]`` row indices, grouped by scene.

A :class:`TrainBatch` is ``(scene, plans, targets)``: B scenes (:class:`~critic.scene.SceneBatch`), P
plans in each and what each plan truly led to (:class:`Targets`), plus the rows they came from.
"""
from __future__ import annotations

import dataclasses

import numpy as np
import torch

from .columns import PlanCol
from .data import SplitArrays
from .device import to_device
from .scene import SceneBatch


@dataclasses.dataclass(frozen=True, eq=False)
class Targets:
    """What the plans of a :class:`TrainBatch` truly led to (torch tensors; frame: the ego frame at the anchor)."""

    coll_t: torch.Tensor
    """``[B, P]`` float32: time (s after the anchor) of the plan's first at-fault collision, ``inf`` for none."""
    off_t: torch.Tensor
    """``[B, P]`` float32: time (s) of the plan's first off-road event, ``inf`` for none."""
    occ: torch.Tensor
    """``[B, P, K, 2, s, s]`` float32 0 / 1: true occupancy (channel 0 agents, 1 non-drivable) every
    ``dyn_stride * occ_every`` steps (1 s by default), on an ``s x s`` grid of ``occ_cell_m`` cells
    centred on, and aligned with, the plan's pose at that time."""
    agent_future: torch.Tensor
    """``[B, 1 + max_agents, S, 2]`` float32: each agent token's logged position (m) at the end of every
    dynamics step (token 0 = the ego; the same for every plan of a scene)."""
    agent_future_mask: torch.Tensor
    """``[B, 1 + max_agents, S]`` bool: ``agent_future`` is observed."""


@dataclasses.dataclass(frozen=True, eq=False)
class TrainBatch:
    """B scenes, P plans in each, their targets (what :func:`make_batch` returns; all torch tensors)."""

    scene: SceneBatch
    """The B scenes, with the drivable raster (:class:`~critic.scene.SceneBatch`)."""
    plans: torch.Tensor
    """``[B, P, plan_steps, 5]`` float32: the :class:`~critic.columns.PlanCol` states of each plan
    (0.1 s apart after the anchor; x, y in m, heading as cos / sin, speed in m/s)."""
    targets: Targets
    row_ids: torch.Tensor
    """``[B, P]`` int64: the split rows the plans came from (equal ids are the same plan drawn twice)."""

    def __post_init__(self) -> None:
        if self.plans.ndim != 4 or self.plans.shape[-1] != PlanCol.COUNT:
            raise ValueError(f"TrainBatch.plans: expected [B, P, T, {PlanCol.COUNT}], got {tuple(self.plans.shape)}")
        bp = (len(self.scene), self.plans.shape[1])
        for name, x in (("plans", self.plans), ("targets.coll_t", self.targets.coll_t),
                        ("targets.off_t", self.targets.off_t), ("targets.occ", self.targets.occ),
                        ("row_ids", self.row_ids)):
            if tuple(x.shape[:2]) != bp:
                raise ValueError(f"TrainBatch.{name}: leading axes {tuple(x.shape[:2])}, expected [B, P] = {bp}")


def make_batch(arr: SplitArrays, idx: np.ndarray, occ_size: int, device: str | torch.device = "cpu") -> TrainBatch:
    """The batch of rows ``idx`` ``[B, P]`` (all rows of a group share one scene) on ``device``."""
    idx = np.asarray(idx)
    scenes = arr.row_scene[idx[:, 0]]
    device = torch.device(device)
    t = lambda a, dt=torch.float32: to_device(a, dt, device)  # noqa: E731
    occ = np.unpackbits(arr.occ[idx], axis=-1, count=occ_size)
    targets = Targets(coll_t=t(arr.coll_t[idx]), off_t=t(arr.off_t[idx]), occ=t(occ),
                      agent_future=t(arr.agent_future[scenes]),
                      agent_future_mask=t(arr.agent_future_mask[scenes], torch.bool))
    return TrainBatch(scene=arr.scenes(scenes).to_torch(device), plans=t(arr.plan[idx]), targets=targets,
                      row_ids=t(idx, torch.long))


def eval_groups(arr: SplitArrays, scenes_per_batch: int = 16):
    """All rows of a split, grouped by scene, in batches of equal-sized groups (for evaluation)."""
    rows_of: dict[int, list[int]] = {}
    for r, s in enumerate(arr.row_scene):
        rows_of.setdefault(int(s), []).append(r)
    by_size: dict[int, list[list[int]]] = {}
    for rows in rows_of.values():
        by_size.setdefault(len(rows), []).append(rows)
    for groups in by_size.values():
        for i in range(0, len(groups), scenes_per_batch):
            yield np.array(groups[i:i + scenes_per_batch])
