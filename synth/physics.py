"""Physics rules, independent of how a plan was made: finite differences on its states.

Each rule is one function in :data:`RULES` taking the plans (:class:`synth.kinematics.Plans`,
arrays ``[N, H + 1]``; only x, y m, heading rad and speed m/s are read), the step ``dt`` s,
the limits, and the logged anchor state; it returns ``(value [N], ok [N])``: the worst value
over the plan and whether it is within the limit. Rules never look at controls or family
parameters. :func:`check_physics` runs them all into one :class:`PhysicsReport`.
"""
from __future__ import annotations

import dataclasses
from typing import Callable

import numpy as np

from .config import G, VehicleLimits
from .kinematics import Plans

RuleFn = Callable[[Plans, float, VehicleLimits, np.ndarray], tuple[np.ndarray, np.ndarray]]
RULES: dict[str, RuleFn] = {}
TOL = 1e-6  # absolute slack for floating-point round-off in the finite differences


def rule(name: str):
    def deco(fn: RuleFn) -> RuleFn:
        if name in RULES:
            raise ValueError(f"physics rule {name!r} registered twice")
        RULES[name] = fn
        return fn
    return deco


def _accel(p: Plans, dt: float) -> np.ndarray:
    return np.diff(p.speed, axis=1) / dt


def _yaw_rate(p: Plans, dt: float) -> np.ndarray:
    return np.diff(np.unwrap(p.heading, axis=1), axis=1) / dt


def _step(p: Plans) -> np.ndarray:
    return np.hypot(np.diff(p.x, axis=1), np.diff(p.y, axis=1))


def _worst(values: np.ndarray) -> np.ndarray:
    return np.abs(values).max(axis=1) if values.shape[1] else np.zeros(values.shape[0])


def lateral_accel(p: Plans, dt: float) -> np.ndarray:
    """``[N, H]`` m/s^2: mean speed over each step times its yaw rate."""
    return 0.5 * (p.speed[:, 1:] + p.speed[:, :-1]) * _yaw_rate(p, dt)


@rule("longitudinal_accel")
def longitudinal_accel_rule(p, dt, lim, anchor):
    a = _accel(p, dt)
    worst = np.maximum((a / lim.max_accel).max(axis=1), (-a / lim.max_decel).max(axis=1))
    return _worst(a), worst <= 1.0 + TOL


@rule("lateral_accel")
def lateral_accel_rule(p, dt, lim, anchor):
    lat = lateral_accel(p, dt)
    return _worst(lat), _worst(lat) <= lim.max_lat_accel + TOL


@rule("friction_circle")
def friction_circle_rule(p, dt, lim, anchor):
    total = np.hypot(_accel(p, dt), lateral_accel(p, dt))
    return _worst(total), _worst(total) <= lim.friction_mu * G + TOL


@rule("jerk")
def jerk_rule(p, dt, lim, anchor):
    j = np.diff(_accel(p, dt), axis=1) / dt
    return _worst(j), _worst(j) <= lim.max_jerk + TOL


@rule("yaw_rate")
def yaw_rate_rule(p, dt, lim, anchor):
    w = _yaw_rate(p, dt)
    return _worst(w), _worst(w) <= lim.max_yaw_rate + TOL


@rule("curvature")
def curvature_rule(p, dt, lim, anchor):
    step = _step(p)
    moving = step > lim.walking_speed * dt
    kappa = np.where(moving, np.diff(np.unwrap(p.heading, axis=1), axis=1) / np.maximum(step, 1e-9), 0.0)
    return _worst(kappa), _worst(kappa) <= lim.max_curvature + TOL


@rule("non_holonomic")
def non_holonomic_rule(p, dt, lim, anchor):
    """Above walking speed the displacement follows the heading, and its length the speed."""
    step = _step(p)
    moving = step > lim.walking_speed * dt
    course = np.arctan2(np.diff(p.y, axis=1), np.diff(p.x, axis=1))
    h = np.unwrap(p.heading, axis=1)
    mid = 0.5 * (h[:, 1:] + h[:, :-1])
    slip = np.where(moving, np.abs(np.angle(np.exp(1j * (course - mid)))), 0.0)
    speed_err = np.abs(step / dt - 0.5 * (p.speed[:, 1:] + p.speed[:, :-1]))
    ok = (_worst(slip) <= lim.max_slip + TOL) & (_worst(speed_err) <= lim.speed_consistency + TOL)
    return _worst(slip), ok


@rule("anchor_continuity")
def anchor_continuity_rule(p, dt, lim, anchor):
    """Element 0 equals the logged anchor state (x, y, heading, speed) exactly."""
    first = np.stack([p.x[:, 0], p.y[:, 0], p.heading[:, 0], p.speed[:, 0]], axis=1)
    err = np.abs(first - np.asarray(anchor)[None]).max(axis=1)
    return err, err == 0.0


#: counterfactual-table column -> the rule whose worst value it holds
SUMMARY_COLUMNS = {
    "max_abs_accel": "longitudinal_accel",
    "max_abs_jerk": "jerk",
    "max_lat_accel": "lateral_accel",
    "max_yaw_rate": "yaw_rate",
    "max_curvature": "curvature",
}


@dataclasses.dataclass(frozen=True, eq=False)
class RuleResult:
    """One rule over N plans."""

    value: np.ndarray
    """``[N]`` float: the worst value over each plan in the rule's unit (m/s^2, m/s^3, rad/s, 1/m, rad)."""
    ok: np.ndarray
    """``[N]`` bool: the plan is within the rule's limit."""


@dataclasses.dataclass(frozen=True, eq=False)
class PhysicsReport:
    """Every physics rule over N plans: ``rules`` maps each name of :data:`RULES` to its
    :class:`RuleResult`, in :data:`RULES` (registration) order."""

    rules: dict[str, RuleResult]

    def __getitem__(self, name: str) -> RuleResult:
        return self.rules[name]

    @property
    def passed(self) -> np.ndarray:
        """``[N]`` bool: the plan passes every rule (the table's ``physics_ok``)."""
        return np.logical_and.reduce([r.ok for r in self.rules.values()])

    @property
    def rule_ok(self) -> dict[str, np.ndarray]:
        """``{rule: ok [N]}`` in rule order."""
        return {name: r.ok for name, r in self.rules.items()}

    def take(self, idx) -> "PhysicsReport":
        """The plans ``idx`` (index or slice over N)."""
        return PhysicsReport({name: RuleResult(r.value[idx], r.ok[idx]) for name, r in self.rules.items()})

    def columns(self) -> dict[str, np.ndarray]:
        """The counterfactual table's physics columns ``[N]``: :data:`SUMMARY_COLUMNS` (float) then ``physics_ok``."""
        return {**{col: self.rules[name].value for col, name in SUMMARY_COLUMNS.items()}, "physics_ok": self.passed}


def check_physics(p: Plans, dt: float, limits: VehicleLimits, anchor: np.ndarray) -> PhysicsReport:
    """Run every rule of :data:`RULES` on ``p`` (``anchor``: the logged (x, y, heading, speed) at element 0)."""
    return PhysicsReport({name: RuleResult(*fn(p, dt, limits, anchor)) for name, fn in RULES.items()})
