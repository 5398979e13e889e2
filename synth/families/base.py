"""Narrow base of the perturbation families and the registry that names them.

A family draws ``n`` candidates for one :class:`synth.context.AnchorContext` with its own
``numpy.random.Generator``; each candidate records the parameters it was drawn with.
Families that perturb other agents return per-candidate agent futures; the ego then
follows its log.
"""
from __future__ import annotations

import abc
import dataclasses
from typing import ClassVar

import numpy as np

from ..context import AnchorContext
from ..kinematics import PATH_DS, Plans, quintic_ramp, rollout
from ..labels import AgentFutures

_FAMILIES: dict[str, "Family"] = {}


@dataclasses.dataclass(frozen=True, eq=False)
class Candidates:
    """``n`` candidate plans with their parameters (JSON-able dicts) and optional perturbed agents.

    ``agents`` is None when the scene's logged agents apply, else ``[n, A, T]`` futures;
    ``perturbed`` lists, per candidate, the indices of agents whose future was changed.
    """

    family: str
    plans: Plans | None
    params: list[dict]
    agents: AgentFutures | None = None
    perturbed: list[list[int]] | None = None
    targets: "Targets | None" = None
    """Set instead of ``plans`` by families that roll out the bicycle model: the
    curriculum rolls every family's targets in one batched call."""

    def __len__(self) -> int:
        return len(self.params)


@dataclasses.dataclass(frozen=True, eq=False)
class Targets:
    """Tracking targets: ``paths`` ``[n, M, 2]`` m (uniform 0.5 m samples), ``speeds`` ``[n, H + 1]`` m/s."""

    paths: np.ndarray
    speeds: np.ndarray


class Family(abc.ABC):
    """One perturbation family. Subclasses set ``name`` and implement ``sample``."""

    name: ClassVar[str]
    hidden_cause: ClassVar[bool] = False
    """True when the family's outcome hinges on another agent's change that starts at or after the
    anchor while the ego follows its log: its rows carry exactly the critic inputs of their scene's
    logged row, so no critic can rank them within the scene (the benchmark reports them apart)."""

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if cls.name in _FAMILIES:
            raise ValueError(f"family {cls.name!r} registered twice")
        _FAMILIES[cls.name] = cls()

    @abc.abstractmethod
    def sample(self, ctx: AnchorContext, rng: np.random.Generator, n: int) -> Candidates | None:
        """Draw ``n`` candidates (fewer or None when the scene offers no opportunity)."""


def families() -> dict[str, Family]:
    return dict(_FAMILIES)


# ------------------------------------------------------------------------ shared helpers
def logged_speed(ctx: AnchorContext) -> np.ndarray:
    """Logged ego speed over the horizon ``(H + 1,)`` m/s."""
    return ctx.logged.speed[0]


def offset_paths(ctx: AnchorContext, d_final: np.ndarray, s_start: np.ndarray, ramp: np.ndarray) -> np.ndarray:
    """Logged path shifted left by a smooth ramp to ``d_final`` m, ``[n, M, 2]``.

    The shift starts at arc length ``s_start`` m and completes ``ramp`` m later.
    """
    s = np.arange(len(ctx.path)) * PATH_DS
    u = quintic_ramp((s[None] - s_start[:, None]) / np.maximum(ramp[:, None], 1.0))
    d = d_final[:, None] * u
    return ctx.path[None] + d[..., None] * ctx.path_normals[None]


def roll(ctx: AnchorContext, paths: np.ndarray, speed_targets: np.ndarray) -> "Targets":
    """Targets to roll the kinematic bicycle along (done in one batch by :func:`roll_batch`)."""
    return Targets(np.asarray(paths), np.asarray(speed_targets, dtype=float))


def roll_batch(ctx: AnchorContext, targets: list["Targets"]) -> list[Plans]:
    """Roll out several target sets from the logged anchor state in one vectorised call."""
    if not targets:
        return []
    M = max(t.paths.shape[1] for t in targets)
    paths = np.concatenate([np.pad(t.paths, ((0, 0), (0, M - t.paths.shape[1]), (0, 0)), mode="edge") for t in targets])
    speeds = np.concatenate([t.speeds for t in targets])
    x0, y0, h0, v0 = ctx.anchor_state
    plans = rollout(x0, y0, h0, v0, ctx.anchor_accel, paths, speeds, ctx.cfg.limits, ctx.dt, ctx.steps,
                    steer0=ctx.anchor_steer)
    bounds = np.cumsum([0] + [len(t.speeds) for t in targets])
    return [plans.take(slice(a, b)) for a, b in zip(bounds[:-1], bounds[1:])]


def times(ctx: AnchorContext) -> np.ndarray:
    return np.arange(ctx.steps + 1) * ctx.dt
