"""Torch batches from cached split arrays: ``idx`` ``[B, P]`` row indices, grouped by scene."""
from __future__ import annotations

import numpy as np
import torch

from .data import SplitArrays


def make_batch(arr: SplitArrays, idx: np.ndarray, occ_size: int, device: str | torch.device = "cpu") -> dict:
    """Tensors for rows ``idx`` ``[B, P]`` (all rows of a group share one scene)."""
    idx = np.asarray(idx)
    scenes = arr.row_scene[idx[:, 0]]
    t = lambda a, dt=torch.float32: torch.as_tensor(a, dtype=dt, device=device)  # noqa: E731
    occ = np.unpackbits(arr.occ[idx], axis=-1, count=occ_size)
    return {
        "agents": t(arr.agents[scenes]), "agents_mask": t(arr.agents_mask[scenes], torch.bool),
        "agent_future": t(arr.agent_future[scenes]), "agent_future_mask": t(arr.agent_future_mask[scenes], torch.bool),
        "map": t(arr.map[scenes]), "map_mask": t(arr.map_mask[scenes], torch.bool),
        "drivable": t(np.unpackbits(arr.drivable[scenes], axis=-1).astype(bool), torch.bool),
        "plan": t(arr.plan[idx]), "coll_t": t(arr.coll_t[idx]), "off_t": t(arr.off_t[idx]),
        "occ": t(occ), "row_ids": t(idx, torch.long),
    }


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
