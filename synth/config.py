"""Configuration of counterfactual synthesis: limits, thresholds, curriculum (frozen dataclasses)."""
from __future__ import annotations

import dataclasses

G = 9.81


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
            raise ValueError(f"curriculum: outcome shares must sum to 1, got {total}")


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
            raise ValueError(f"variants.escape_decel: must be > 0, got {self.escape_decel}")
        if self.per_scenario < 0:
            raise ValueError(f"variants.per_scenario: must be >= 0, got {self.per_scenario}")
        for name in ("brake_lag_s", "brake_decel", "cut_in_lag_s", "cut_in_duration_s"):
            lo, hi = getattr(self, name)
            if not 0 <= lo <= hi:
                raise ValueError(f"variants.{name}: need 0 <= low <= high, got {(lo, hi)}")


@dataclasses.dataclass(frozen=True)
class SynthConfig:
    """Everything synthesis needs; ``preset(name)`` gives the named variants."""

    horizon_steps: int = 80
    """Plan length after the anchor, at 10 Hz (80 = 8 s); plans hold horizon_steps + 1 states."""
    dt: float = 0.1
    """Plan step (s)."""
    history_steps: int = 10
    """Frames of history required before an anchor (1 s)."""
    anchors_per_scenario: int = 1
    """Anchor frames used per scenario (spread over the valid range)."""
    limits: VehicleLimits = VehicleLimits()
    labels: LabelThresholds = LabelThresholds()
    curriculum: CurriculumConfig = CurriculumConfig()
    variants: VariantConfig = VariantConfig()


def preset(name: str) -> SynthConfig:
    """Named presets: ``default``, ``debug`` (tiny), ``demo`` (small)."""
    if name == "default":
        return SynthConfig()
    if name == "demo":
        return SynthConfig(curriculum=CurriculumConfig(samples_per_anchor=30))
    if name == "debug":
        return SynthConfig(curriculum=CurriculumConfig(samples_per_anchor=12, candidates_factor=2))
    raise ValueError(f"preset: unknown {name!r} (default, demo, debug)")
