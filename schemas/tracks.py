"""Tracks: the one block of agent trajectories (oriented boxes over time) that every layer passes.

A :class:`Scenario` is a ``[A, T]`` Tracks block of a whole log (plus ids, metadata and map);
the labeller's agent futures are a ``[Na, A, T]`` block over the plan horizon (one version
per perturbed plan, or one shared); the closed-loop observer reads a ``[A, T]`` timeline with
the simulated frames written in. Like a Waymax ``Trajectory``, the block validates itself:
every array has the same shape and the poses and velocities are finite wherever ``valid``.
"""
from __future__ import annotations

import dataclasses
from typing import Callable

import numpy as np

from .enums import ObjectType
from .errors import InputError

TRACK_FIELDS = ("x", "y", "heading", "vx", "vy", "length", "width")
"""The float arrays of a track block, in order (``valid`` and ``object_type`` follow)."""
KINEMATIC_FIELDS = TRACK_FIELDS[:5]
"""The fields that must be finite wherever ``valid`` (box sizes may be unknown where a track was extended)."""
BOX_FIELDS = ("length", "width")


def check_track_field(name: str, arr: np.ndarray, valid: np.ndarray,
                      label: Callable[[int], str] = lambda a: f"#{a}", finite: bool = True,
                      positive: bool = False) -> None:
    """Raise :class:`InputError` (naming ``name``) unless ``arr`` has ``valid``'s shape and, where
    ``valid``, is finite (``finite``) and > 0 (``positive``). ``label(a)`` names agent row ``a`` in
    the message (the agent axis is the second last)."""
    if arr.shape != valid.shape:
        raise InputError(f"must have shape {valid.shape}, got {arr.shape}", field=name)
    if finite:
        bad = valid & ~np.isfinite(arr)
        if bad.any():
            *_, a, t = np.argwhere(bad)[0]
            raise InputError(f"non-finite value at valid frame {t} of track {label(a)} ({int(bad.sum())} such entries)",
                             field=name)
    if positive and (arr[valid] <= 0).any():
        at = tuple(np.argwhere(valid & (arr <= 0))[0])
        raise InputError(f"must be > 0, track {label(at[-2])} frame {at[-1]} has {arr[at]}", field=name)


@dataclasses.dataclass(frozen=True, eq=False)
class Tracks:
    """Oriented boxes of A agents over T frames (``dt`` apart, set by the owner: canonical 0.1 s).

    Every array field is ``[..., A, T]`` with the same shape (optional leading axes: e.g. ``[Na, A, T]``,
    Na versions of the same agents); frame: one planar map frame (the scenario frame).

    Attributes:
      x, y: box centre, m.
      heading: box yaw, rad, counter-clockwise from +x (wrapped to [-pi, pi) in a :class:`Scenario`).
      vx, vy: velocity, m/s.
      length, width: box size, m.
      valid: bool, the agent is observed (or simulated) at that frame.
      object_type: ``[A]`` :class:`ObjectType` values.

    x, y, heading, vx and vy are finite wherever ``valid``; what invalid entries hold is the
    owner's convention (NaN in a :class:`Scenario`, 0 in the labeller's futures). Arrays are kept
    as given (no copy, no cast); a :class:`Scenario` makes its own read-only float64 copies.
    """

    x: np.ndarray
    y: np.ndarray
    heading: np.ndarray
    vx: np.ndarray
    vy: np.ndarray
    length: np.ndarray
    width: np.ndarray
    valid: np.ndarray
    object_type: np.ndarray

    def __post_init__(self) -> None:
        valid = np.asarray(self.valid)
        if valid.dtype != bool or valid.ndim < 2:
            raise InputError(f"must be a bool array [..., A, T], got {valid.dtype} {valid.shape}", field="valid")
        for name in TRACK_FIELDS:
            check_track_field(name, np.asarray(getattr(self, name)), valid, finite=name in KINEMATIC_FIELDS)
        check_object_types(np.asarray(self.object_type), valid.shape[-2])

    @property
    def num_agents(self) -> int:
        return self.valid.shape[-2]

    @property
    def num_frames(self) -> int:
        return self.valid.shape[-1]

    def arrays(self) -> dict[str, np.ndarray]:
        """``{name: array}`` of the ``[..., A, T]`` fields (:data:`TRACK_FIELDS` then ``valid``)."""
        return {name: getattr(self, name) for name in TRACK_FIELDS + ("valid",)}

    def _map(self, index) -> "Tracks":
        """The block indexed by ``index`` (views). A slice of a checked block needs no check, so it is
        built without one: ``frames`` / ``rows`` run per candidate group in the labeller and simulator."""
        out = object.__new__(Tracks)
        for k, v in self.arrays().items():
            object.__setattr__(out, k, v[index])
        object.__setattr__(out, "object_type", self.object_type)
        return out

    def frames(self, sl: slice) -> "Tracks":
        """The frames ``sl`` of every agent (views)."""
        return self._map((Ellipsis, sl))

    def rows(self, sl: slice) -> "Tracks":
        """Versions ``sl`` of the leading axis of a ``[Na, A, T]`` block (views)."""
        if self.valid.ndim < 3:
            raise ValueError("Tracks.rows: the block has no version axis (shape [A, T])")
        return self._map(sl)


def check_object_types(otype: np.ndarray, agents: int) -> None:
    """Raise :class:`InputError` unless ``otype`` is ``(agents,)`` :class:`ObjectType` values."""
    if otype.shape != (agents,) or not np.isin(otype, [int(t) for t in ObjectType]).all():
        raise InputError("must be (A,) ObjectType values", field="object_type")
