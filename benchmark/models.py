"""Models on the leaderboard behind one small scoring interface.

``RiskModel.predict(bench) -> {row name: Predictions}``: per test row, collision and
off-road risk in [0, 1], their union ``risk``, first-event times (s, the median given an event) and,
optionally, forecast occupancy ``[R, K, 2, s, s]`` (agents, non-drivable) in the frame of
the ego's planned pose. A world-model critic yields two rows: risk from its hazard head,
and risk computed from its forecast occupancy under the ego footprint (as AD-R1
computes rewards in occupancy space).
"""
from __future__ import annotations

import dataclasses
from typing import Protocol

import numpy as np
import torch

from critic.batching import eval_groups, make_batch
from critic.data import SplitArrays

HORIZON_S = 8.0
"""Default horizon (s) of :class:`BenchData`; a dataset's own is ``horizon_steps * dt``."""


@dataclasses.dataclass
class Predictions:
    collision_risk: np.ndarray
    offroad_risk: np.ndarray
    collision_time_s: np.ndarray
    offroad_time_s: np.ndarray
    occupancy: np.ndarray | None = None

    @property
    def risk(self) -> np.ndarray:
        return 1.0 - (1.0 - self.collision_risk) * (1.0 - self.offroad_risk)


@dataclasses.dataclass
class BenchData:
    """The test split: cached features (``arrays``), its rows and the dataset folder."""

    arrays: SplitArrays
    data_dir: str
    occ_size: int
    occ_cell_m: float
    ego_length: np.ndarray  # [R] m
    ego_width: np.ndarray   # [R] m
    family: np.ndarray
    """``[R]`` str: each row's perturbation family."""
    log_id: np.ndarray
    """``[R]`` str: each row's log (``schemas.Scenario.log_id``), the unit bootstrap intervals resample."""
    source: np.ndarray
    """``[R]`` str: each row's source (``procedural``, ``nuscenes``, ...): the domain a critic calibrates by."""
    splits: tuple[str, ...] = ("test",)
    horizon_s: float = HORIZON_S
    """The dataset's plan horizon (s): event times of plans without the event."""

    def select_rows(self, keep: np.ndarray) -> "BenchData":
        """The rows ``keep`` (``[R]`` bool) only (a fold of a cross-validation); scene indices stay as they are."""
        idx = np.flatnonzero(keep)
        return dataclasses.replace(self, arrays=self.arrays.select_rows(keep), ego_length=self.ego_length[idx],
                                   ego_width=self.ego_width[idx], family=self.family[idx], log_id=self.log_id[idx],
                                   source=self.source[idx])


class RiskModel(Protocol):
    name: str

    def predict(self, bench: BenchData) -> dict[str, Predictions]: ...


def footprint_mask(size: int, cell: float, length: float, width: float) -> np.ndarray:
    """Cells of the grid whose centre lies under an ego box of ``length x width`` at the centre."""
    c = (np.arange(size) + 0.5) * cell - 0.5 * size * cell
    X, Y = np.meshgrid(c, c, indexing="ij")
    return (np.abs(X) <= length / 2) & (np.abs(Y) <= width / 2)


def occupancy_risk(occ: np.ndarray, bench: BenchData, threshold: float = 0.5) -> tuple[np.ndarray, ...]:
    """Collision / off-road risk and first-event times from occupancy ``[R, K, 2, s, s]`` probabilities.

    Risk is the largest probability under the ego footprint over all frames; the event
    time is the first frame (1 s apart) where it reaches ``threshold`` (the horizon if never).
    """
    R, K = occ.shape[:2]
    risks, times = [], []
    sizes = np.round(np.stack([bench.ego_length, bench.ego_width], 1), 2)
    for ch in (0, 1):
        peak = np.zeros((R, K))
        for size in np.unique(sizes, axis=0):  # one footprint mask per distinct ego size
            rows = np.flatnonzero((sizes == size).all(axis=1))
            m = footprint_mask(bench.occ_size, bench.occ_cell_m, size[0], size[1])
            if m.any():
                peak[rows] = occ[rows][:, :, ch][:, :, m].max(axis=-1)
        risks.append(peak.max(axis=1))
        hit = peak >= threshold
        times.append(np.where(hit.any(axis=1), (np.argmax(hit, axis=1) + 1) * bench.horizon_s / K, bench.horizon_s))
    return risks[0], risks[1], times[0], times[1]


class CriticModel:
    """A trained world model (``ImpartialCritic`` checkpoint): hazard-head and occupancy rows."""

    def __init__(self, name: str, checkpoint: str, device: str = "cpu"):
        from critic import ImpartialCritic

        self.name, self.critic = name, ImpartialCritic.load(checkpoint, device)

    def predict(self, bench: BenchData) -> dict[str, Predictions]:
        arr, R = bench.arrays, bench.arrays.num_rows
        steps = self.critic.cfg.features.plan_steps
        if arr.plan.shape[1] != steps:
            from schemas import InputError

            raise InputError(f"critic {self.name!r} forecasts {steps} plan steps, the dataset's plans have "
                             f"{arr.plan.shape[1]}: train it on a dataset with this horizon", path=bench.data_dir,
                             field="horizon_steps")
        cr, orr, ct, ot = (np.zeros(R) for _ in range(4))
        occ = None
        torch.set_num_threads(2)
        for idx in eval_groups(arr, 16):
            b = make_batch(arr, idx, self.critic.cfg.features.occ_size, self.critic.device)
            domains = [bench.source[i] for i in idx[:, 0]]          # one source per scene of the batch
            s, o = self.critic.score_with_occupancy(b.scene, b.plans, domains)
            s = {k: v.float().cpu() for k, v in s.items()}
            o = o.float().cpu().numpy()
            if occ is None:
                occ = np.zeros((R,) + o.shape[2:], np.float16)
            flat = idx.reshape(-1)
            cr[flat], orr[flat] = s["collision_risk"].reshape(-1).numpy(), s["offroad_risk"].reshape(-1).numpy()
            ct[flat], ot[flat] = s["collision_time_s"].reshape(-1).numpy(), s["offroad_time_s"].reshape(-1).numpy()
            occ[flat] = o.reshape((-1,) + o.shape[2:])
        occ32 = occ.astype(np.float32)
        ocr, oor, oct_, oot = occupancy_risk(occ32, bench)
        return {self.name: Predictions(cr, orr, ct, ot, occ32),
                f"{self.name} (occupancy)": Predictions(ocr, oor, oct_, oot, occ32)}


class OracleModel:
    """True futures: risk 1 on true events at their true times, true occupancy (upper bound)."""

    name = "oracle"

    def predict(self, bench: BenchData) -> dict[str, Predictions]:
        arr = bench.arrays
        occ = np.unpackbits(arr.occ, axis=-1, count=bench.occ_size).astype(np.float32)
        c, o = np.isfinite(arr.coll_t), np.isfinite(arr.off_t)
        return {self.name: Predictions(c.astype(float), o.astype(float), np.where(c, arr.coll_t, bench.horizon_s),
                                       np.where(o, arr.off_t, bench.horizon_s), occ)}
