"""Configuration of the procedural scene generator (frozen; every field documented)."""
from __future__ import annotations

import dataclasses


@dataclasses.dataclass(frozen=True)
class ProceduralConfig:
    """Parameter ranges of the built-in procedural source.

    Every scenario is drawn from these ranges with its own seed, so two runs with the
    same ``seed`` give identical scenarios.
    """

    seed: int = 0
    """Base seed; scenario ``i`` uses ``(seed, i)``."""
    num_frames: int = 111
    """Frames per scenario at 10 Hz (111 = 11 s, like Argoverse 2)."""
    junction_prob: float = 0.35
    """Probability that a scene is a signalised four-arm junction instead of a road."""
    curved_prob: float = 0.6
    """Probability that a (non-junction) road has one or two bends."""
    min_radius_m: float = 45.0
    """Smallest bend radius (m)."""
    max_radius_m: float = 400.0
    """Largest bend radius (m)."""
    lanes_per_direction: tuple[int, int] = (1, 3)
    """Inclusive range of lanes in the ego's direction."""
    oncoming_lanes: tuple[int, int] = (0, 3)
    """Inclusive range of oncoming lanes (0 = one-way road)."""
    lane_width_m: tuple[float, float] = (3.0, 3.8)
    """Range of lane widths (m)."""
    speed_limit_mps: tuple[float, float] = (8.0, 27.0)
    """Range of speed limits (m/s)."""
    density_veh_per_km: tuple[float, float] = (8.0, 45.0)
    """Range of initial traffic density per lane (vehicles per km)."""
    parking_prob: float = 0.45
    """Probability of a parking strip (with parked cars) on each side of a road."""
    crosswalk_prob: float = 0.5
    """Probability of a mid-block crosswalk with pedestrians (roads), per arm (junctions)."""
    lane_change_rate_hz: float = 0.15
    """Rate (1/s) at which a vehicle considers a lane change."""
    road_length_m: float = 420.0
    """Length of a road (m); junction arms are half of it each."""

    def __post_init__(self) -> None:
        if self.num_frames < 20:
            raise ValueError(f"num_frames: must be >= 20, got {self.num_frames}")
        for name in ("junction_prob", "curved_prob", "parking_prob", "crosswalk_prob"):
            v = getattr(self, name)
            if not 0.0 <= v <= 1.0:
                raise ValueError(f"{name}: must be a probability in [0, 1], got {v}")
        for name in ("lanes_per_direction", "oncoming_lanes", "lane_width_m", "speed_limit_mps", "density_veh_per_km"):
            lo, hi = getattr(self, name)
            if lo > hi:
                raise ValueError(f"{name}: lower bound {lo} exceeds upper bound {hi}")
        if self.lanes_per_direction[0] < 1:
            raise ValueError("lanes_per_direction: the ego's direction needs at least one lane")
        if not 0 < self.min_radius_m <= self.max_radius_m:
            raise ValueError("min_radius_m: must be positive and <= max_radius_m")
