"""Configuration of counterfactual synthesis and the pseudo-simulator: limits, thresholds, curriculum,
:class:`SimConfig` (frozen dataclasses)."""
from __future__ import annotations

import dataclasses

from schemas import CANONICAL_DT

import numpy as np
from schemas.errors import InputError

G = 9.81
#: values of :attr:`SynthConfig.egos`
EGO_MODES = ("auto", "sdc", "all")


@dataclasses.dataclass(frozen=True)
class VehicleLimits:
    """Physical limits every synthesised plan satisfies and every physics rule checks.

    Units: m, s, rad. Defaults describe a passenger car on dry asphalt.
    """

    max_accel: float = 4.0
    """Largest longitudinal acceleration (m/s^2)."""
    max_decel: float = 9.0
    """Largest braking deceleration, positive (m/s^2)."""
    max_jerk: float = 15.0
    """Largest |longitudinal jerk| (m/s^3)."""
    max_lat_accel: float = 0.9 * G
    """Largest |lateral acceleration| (m/s^2): 0.9 g."""
    friction_mu: float = 1.0
    """Friction-circle coefficient: sqrt(a_lon^2 + a_lat^2) <= mu * g."""
    max_yaw_rate: float = 1.5
    """Largest |yaw rate| (rad/s)."""
    wheelbase: float = 2.9
    """Wheelbase (m) of the kinematic bicycle."""
    max_steer: float = 0.6
    """Largest |front-wheel steering angle| (rad); curvature limit tan(max_steer) / wheelbase."""
    max_steer_rate: float = 0.8
    """Largest |steering rate| (rad/s), used by the generator."""
    walking_speed: float = 2.0
    """Speed (m/s) above which motion must be non-holonomic and curvature is checked."""
    max_slip: float = 0.12
    """Largest angle (rad) between the displacement direction and the heading above walking speed."""
    speed_consistency: float = 0.6
    """Largest |displacement / dt - speed| (m/s) between consecutive states."""

    @property
    def max_curvature(self) -> float:
        import math

        return math.tan(self.max_steer) / self.wheelbase


@dataclasses.dataclass(frozen=True)
class LabelThresholds:
    """Outcome thresholds. Precedence: COLLISION > OFFROAD > NEAR_MISS > SAFE."""

    near_miss_distance_m: float = 0.6
    """NEAR_MISS when the minimum ego-to-agent box distance falls below this (m)."""
    near_miss_ttc_s: float = 1.0
    """NEAR_MISS when the minimum range / range-rate time to collision falls below this (s)."""
    fine_steps: int = 10
    """Sub-steps per 0.1 s frame for collision checks of nearby pairs (10 -> 100 Hz)."""
    offroad_steps: int = 2
    """Sub-steps per frame for off-road checks (2 -> 20 Hz)."""
    ttc_min_closing_mps: float = 0.5
    """Closing speeds below this (m/s) do not define a time to collision."""


@dataclasses.dataclass(frozen=True)
class SimConfig:
    """Vector-space pseudo-simulation (ego: kinematic bicycle + PID; agents: log or perturbed)."""

    dt: float = CANONICAL_DT
    """Recorded step (s); the labeller refines every step at 100 Hz, so no contact is missed."""
    substeps: int = 5
    """Bicycle integration sub-steps per recorded step (0.02 s)."""
    horizon_steps: int = 80
    """Episode length in recorded steps (8 s)."""
    replan_steps: int = 5
    """The policy picks a new target speed every this many steps (0.5 s)."""
    reward_steps: int = 20
    """Steps (2 s) over which one target-speed decision's progress, distance and lane terms are
    computed, on the plan ``decision_value`` names (the held speed under ``fallback``)."""
    decision_value: str = "policy"
    """What one target-speed decision is judged on (refinement is a one-step policy improvement
    of the imitation policy). ``policy``: the speed for one replanning interval, then the
    imitation policy in closed loop (the pseudo-simulation's agents act meanwhile), so a speed is
    judged by what actually follows it. ``hold``: the speed held throughout, which penalises
    any speed that would be unsafe if a lead braked and the ego never reacted. ``fallback``:
    progress on the held speed, safety on holding it one interval and then braking to a stop
    (the responsibility-sensitive-safety idea)."""
    safety_steps: int = 40
    """Steps (4 s) over which collision / off-road terms count under ``policy`` and ``fallback``
    (enough to stop from 20 m/s after a 0.5 s hold); ``hold`` uses ``reward_steps``."""
    limits: VehicleLimits = VehicleLimits(max_accel=3.0, max_decel=8.0)
    """The ego's bicycle and controller limits: ``wheelbase``, ``max_steer`` and ``max_steer_rate`` as in
    synthesis; the controller commands at most ``max_accel`` 3 m/s^2 and ``max_decel`` 8 m/s^2 (a
    driving policy's envelope, inside the physical limits synthesis checks); ``max_jerk`` (15 m/s^3) is the
    acceleration rate limit when it brakes harder than ``comfort_decel`` (an emergency)."""
    comfort_jerk: float = 4.0
    """m/s^3, rate limit of the commanded acceleration in normal driving (NAVSIM's comfort bound is 4.13)."""
    comfort_decel: float = 4.0
    """m/s^2, braking demand above which the emergency jerk limit applies."""
    speed_pid: tuple[float, float, float] = (1.2, 0.05, 0.0)
    """Longitudinal PID gains (kp 1/s, ki 1/s^2, kd) on target minus current speed."""
    lateral_pid: tuple[float, float, float] = (0.25, 0.01, 0.05)
    """Lateral PID gains (rad/m, rad/(m s), rad s/m) on the signed cross-track error to the path."""
    heading_gain: float = 1.0
    """Steering per rad of heading error to the path tangent (the PID's feed-forward part)."""
    target_speeds: tuple[float, ...] = tuple(float(v) for v in np.arange(0.0, 21.0, 1.0))
    """Discrete target-speed action set (m/s)."""

    def __post_init__(self):
        if self.decision_value not in ("policy", "hold", "fallback"):
            raise InputError(f"SimConfig.decision_value: {self.decision_value!r} is not one of 'policy', 'hold', 'fallback'")
        if min(self.replan_steps, self.reward_steps, self.safety_steps) < 1:
            raise InputError("SimConfig: replan_steps, reward_steps and safety_steps must be >= 1")

    @property
    def safety_horizon(self) -> int:
        """Steps over which collision / off-road terms of one decision count."""
        return self.reward_steps if self.decision_value == "hold" else self.safety_steps


@dataclasses.dataclass(frozen=True)
class CurriculumConfig:
    """Target outcome mix per scene, reached by targeted families plus rejection sampling."""

    collision: float = 0.35
    offroad: float = 0.20
    near_miss: float = 0.15
    safe: float = 0.30
    samples_per_anchor: int = 40
    """Counterfactuals kept per (scenario, anchor), the logged plan included."""
    candidates_factor: int = 3
    """Candidates generated per kept sample (rejection-sampling budget)."""

    def targets(self) -> dict[str, float]:
        return {"COLLISION": self.collision, "OFFROAD": self.offroad, "NEAR_MISS": self.near_miss, "SAFE": self.safe}

    def __post_init__(self) -> None:
        total = self.collision + self.offroad + self.near_miss + self.safe
        if abs(total - 1.0) > 1e-6:
            raise InputError(f"curriculum: outcome shares must sum to 1, got {total}")


@dataclasses.dataclass(frozen=True)
class VariantConfig:
    """Scene variants whose agent perturbation began *before* the anchor, so the history shows it.

    Perturbations of the ``agent_perturbation`` family start at or after the anchor and are
    invisible in the history; a closed-loop policy, though, decides while a lead is already
    braking or a neighbour is already cutting in. Each variant is a copy of the source scenario
    with one agent's track changed, synthesized at one anchor with every family, and split with
    its source scenario.
    """

    per_scenario: int = 2
    """Variants per source scenario (0 disables); each uses one of the source's anchors in turn."""
    brake_lag_s: tuple[float, float] = (0.2, 1.5)
    """Lead brake onset before the anchor (s), uniform."""
    brake_decel: tuple[float, float] = (3.0, 7.0)
    """Lead braking deceleration (m/s^2), uniform."""
    cut_in_lag_s: tuple[float, float] = (0.2, 1.2)
    """Cut-in start before the anchor (s), uniform."""
    cut_in_duration_s: tuple[float, float] = (1.5, 3.5)
    """Cut-in duration (s), uniform."""
    clearance_m: float = 1.0
    """Minimum gap (m) between the perturbed agent and every other box over the history and at the anchor."""
    escape_decel: float = 6.0
    """A variant is kept only if the ego, braking at this rate (m/s^2) from the anchor along its
    path, stays clear of the perturbed agent: a scene no plan survives says nothing about the choice."""

    def __post_init__(self) -> None:
        if self.escape_decel <= 0:
            raise InputError(f"variants.escape_decel: must be > 0, got {self.escape_decel}")
        if self.per_scenario < 0:
            raise InputError(f"variants.per_scenario: must be >= 0, got {self.per_scenario}")
        for name in ("brake_lag_s", "brake_decel", "cut_in_lag_s", "cut_in_duration_s"):
            lo, hi = getattr(self, name)
            if not 0 <= lo <= hi:
                raise InputError(f"variants.{name}: need 0 <= low <= high, got {(lo, hi)}")


@dataclasses.dataclass(frozen=True)
class SynthConfig:
    """Everything synthesis needs (the named presets are in :mod:`pipelines.presets`)."""

    horizon_steps: int = 80
    """Plan length after the anchor, at 10 Hz (80 = 8 s); plans hold horizon_steps + 1 states."""
    dt: float = CANONICAL_DT
    """Plan step (s)."""
    history_steps: int = 10
    """Frames of history required before an anchor (1 s)."""
    anchors_per_scenario: int = 1
    """Anchor frames used per scenario (spread over the valid range); ignored when ``anchor_stride_steps > 0``."""
    anchor_stride_steps: int = 0
    """0: ``anchors_per_scenario`` anchors spread evenly over the valid range. N > 0: anchors cover the
    whole log instead, the first passing anchor frame and then every passing frame at least N steps
    (N / 10 s) after the previous anchor, however many that gives."""
    egos: str = "auto"
    """Which vehicles play the ego, each in its own right with its own box. ``sdc``: the scene's own
    ego (the recording vehicle, or the source's default choice). ``all``: every VEHICLE track that has
    an anchor (``history_steps`` + ``horizon_steps`` of consecutive valid frames) whose logged plan
    passes every physics rule and stays on the drivable area. ``auto``: ``all`` for real sources,
    ``sdc`` for the procedural source (its other vehicles are IDM-driven, not recorded)."""
    limits: VehicleLimits = VehicleLimits()
    labels: LabelThresholds = LabelThresholds()
    curriculum: CurriculumConfig = CurriculumConfig()
    variants: VariantConfig = VariantConfig()

    def __post_init__(self):
        for name in ("horizon_steps", "history_steps", "anchors_per_scenario"):
            if getattr(self, name) < 1:
                raise InputError(f"synth.{name}: need >= 1, got {getattr(self, name)}")
        if self.egos not in EGO_MODES:
            raise InputError(f"synth.egos: {self.egos!r} is not one of {', '.join(EGO_MODES)}")
        if self.anchor_stride_steps < 0:
            raise InputError(f"synth.anchor_stride_steps: need >= 0 (0 = spread anchors_per_scenario), "
                             f"got {self.anchor_stride_steps}")
