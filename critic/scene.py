"""One scene type: :class:`SceneBatch`, the ego-frame features of B scenes.

It is what the world model reads (``WorldModel.forward(scene, plans)``), what
``ImpartialCritic.score`` takes, what a training batch carries (:class:`critic.batching.TrainBatch`),
what the cached split arrays hand out (:meth:`critic.data.SplitArrays.scenes`) and what the
closed-loop observer and the RL decision states hold (:mod:`critic.rl.observe`,
:mod:`critic.rl.rollout`). The same class holds numpy arrays (features as built, cached or
collected) or torch tensors (model inputs); :meth:`SceneBatch.to_torch` turns the one into the
other with the model's dtypes.
"""
from __future__ import annotations

import dataclasses
from typing import Sequence, Union

import numpy as np
import torch

from .columns import AgentCol, MapCol
from .config import TrainConfig
from .device import to_device

Array = Union[np.ndarray, torch.Tensor]
_BOOL_FIELDS = ("agents_mask", "map_mask", "drivable")


@dataclasses.dataclass(frozen=True, eq=False)
class SceneBatch:
    """Ego-centric features of B scenes, all numpy arrays or all torch tensors (shapes checked on creation).

    Frame of every field: the ego frame at the scene's current step (the anchor in training;
    origin at the ego box centre, x along its heading, y to its left), metres, m/s, headings as
    (cos, sin) relative to the ego's. Built from a canonical Scenario with :meth:`from_scenarios`
    (:mod:`critic.features`).
    """

    agents: Array
    """``[B, 1 + max_agents, history_steps, AgentCol.COUNT]`` float32: the :class:`~critic.columns.AgentCol`
    columns of each agent token (token 0 = the ego, then the nearest other agents) on each history
    frame (0.1 s apart, oldest first, the last one the current step); 0 where the token is not valid."""
    agents_mask: Array
    """``[B, 1 + max_agents, history_steps]`` bool: the token is observed on that frame."""
    map: Array
    """``[B, max_polylines, polyline_points, MapCol.COUNT]`` float32: the :class:`~critic.columns.MapCol`
    columns of each point of the nearest map polylines (x, y in m, and the polyline's one-hot kind);
    padding points are all 0."""
    map_mask: Array
    """``[B, max_polylines, polyline_points]`` bool: the point exists."""
    drivable: Array | None = None
    """``[B, NX, NY]`` bool drivable-area raster: cell ``(i, j)`` has its centre at ego-frame
    ``x = raster_x[0] + (i + 0.5) * raster_cell_m``, ``y = raster_y[0] + (j + 0.5) * raster_cell_m``
    (:class:`~critic.config.FeatureConfig`); needed only for the occupancy forecast
    (``ImpartialCritic.occupancy`` / ``dream``, training), else None."""

    def __post_init__(self) -> None:
        for name, x in self._arrays().items():
            if not isinstance(x, (np.ndarray, torch.Tensor)):
                raise ValueError(f"SceneBatch.{name}: expected a numpy array or a torch tensor, got {type(x).__name__}")
        tensors = [k for k, x in self._arrays().items() if isinstance(x, torch.Tensor)]
        if tensors and len(tensors) < len(self._arrays()):
            raise ValueError(f"SceneBatch: fields mix numpy arrays and torch tensors (tensors: {', '.join(tensors)})")
        _check(self.agents, "agents", 4, last=AgentCol.COUNT, floating=True)
        _check(self.agents_mask, "agents_mask", 3, like=("agents", self.agents.shape[:3]), boolean=True)
        _check(self.map, "map", 4, last=MapCol.COUNT, floating=True, batch=self.agents.shape[0])
        _check(self.map_mask, "map_mask", 3, like=("map", self.map.shape[:3]), boolean=True)
        if self.drivable is not None:
            _check(self.drivable, "drivable", 3, boolean=True, batch=self.agents.shape[0])

    def _arrays(self) -> dict[str, Array]:
        """The fields that are set, by name."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if getattr(self, f.name) is not None}

    def _map(self, fn) -> "SceneBatch":
        return SceneBatch(**{k: fn(v) for k, v in self._arrays().items()})

    def __len__(self) -> int:
        """B, the number of scenes."""
        return int(self.agents.shape[0])

    @property
    def is_torch(self) -> bool:
        """The fields are torch tensors (else numpy arrays)."""
        return isinstance(self.agents, torch.Tensor)

    def to_torch(self, device: str | torch.device = "cpu") -> "SceneBatch":
        """Torch tensors on ``device`` in the model's dtypes (features float32, masks and raster bool), by
        ``torch.as_tensor`` (no copy where the field already is one; through pinned memory to a GPU,
        :func:`critic.device.to_device`)."""
        dtype = lambda k: torch.bool if k in _BOOL_FIELDS else torch.float32  # noqa: E731
        dev = torch.device(device)
        return SceneBatch(**{k: to_device(x, dtype(k), dev) for k, x in self._arrays().items()})

    def to(self, device: str | torch.device) -> "SceneBatch":
        """Tensors moved to ``device``, dtypes kept (a numpy batch becomes :meth:`to_torch`)."""
        return self._map(lambda x: x.to(device)) if self.is_torch else self.to_torch(device)

    def numpy(self) -> "SceneBatch":
        """Numpy arrays (tensors detached and copied to the CPU; a numpy batch is returned as it is)."""
        return self._map(lambda x: x.detach().cpu().numpy()) if self.is_torch else self

    def take(self, idx) -> "SceneBatch":
        """Scenes ``idx`` (an index array, a slice or an int list) along the batch axis."""
        return self._map(lambda x: x[idx])

    @staticmethod
    def concat(scenes: Sequence["SceneBatch"]) -> "SceneBatch":
        """Several batches as one, in order (all numpy or all torch, all with or all without ``drivable``)."""
        if not scenes:
            raise ValueError("SceneBatch.concat: no scenes")
        if len({s.drivable is None for s in scenes}) > 1:
            raise ValueError("SceneBatch.concat: some batches have a drivable raster and others do not")
        cat = torch.cat if scenes[0].is_torch else np.concatenate
        return SceneBatch(**{k: cat([s._arrays()[k] for s in scenes]) for k in scenes[0]._arrays()})

    @staticmethod
    def from_scenarios(items, cfg: TrainConfig, device="cpu") -> "SceneBatch":
        """Torch features of ``(Scenario, anchor_frame)`` pairs on ``device``, exactly as used in training."""
        from .features import agent_features, drivable_raster, map_features

        fc = cfg.features
        a, am, m, mm, d = zip(*[(*agent_features(s, k, fc), *map_features(s, k, fc), drivable_raster(s, k, fc))
                                for s, k in items])
        return SceneBatch(*(np.stack(x) for x in (a, am, m, mm, d))).to_torch(device)


def _is_bool(x: Array) -> bool:
    return x.dtype == torch.bool if isinstance(x, torch.Tensor) else x.dtype == np.bool_


def _check(x: Array, name: str, ndim: int, last: int | None = None, like: tuple[str, tuple] | None = None,
           batch: int | None = None, floating: bool = False, boolean: bool = False) -> None:
    """A ``ValueError`` naming the field when ``x`` does not have the shape / dtype it must have."""
    shape = tuple(x.shape)
    if len(shape) != ndim:
        raise ValueError(f"SceneBatch.{name}: expected {ndim} dimensions, got shape {shape}")
    if last is not None and shape[-1] != last:
        raise ValueError(f"SceneBatch.{name}: expected {last} feature columns in the last axis, got shape {shape}")
    if like is not None and shape != tuple(like[1]):
        raise ValueError(f"SceneBatch.{name}: shape {shape} does not match {like[0]}'s leading axes {tuple(like[1])}")
    if batch is not None and shape[0] != batch:
        raise ValueError(f"SceneBatch.{name}: {shape[0]} scenes, agents has {batch}")
    if boolean and not _is_bool(x):
        raise ValueError(f"SceneBatch.{name}: expected a bool mask, got dtype {x.dtype}")
    is_float = x.is_floating_point() if isinstance(x, torch.Tensor) else np.issubdtype(x.dtype, np.floating)
    if floating and not is_float:
        raise ValueError(f"SceneBatch.{name}: expected floating-point features, got dtype {x.dtype}")
