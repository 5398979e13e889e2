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


def preset(name: str) -> SynthConfig:
    """Named presets: ``default``, ``debug`` (tiny), ``demo`` (small)."""
    if name == "default":
        return SynthConfig()
    if name == "demo":
        return SynthConfig(curriculum=CurriculumConfig(samples_per_anchor=30))
    if name == "debug":
        return SynthConfig(curriculum=CurriculumConfig(samples_per_anchor=12, candidates_factor=2))
    raise ValueError(f"preset: unknown {name!r} (default, demo, debug)")
