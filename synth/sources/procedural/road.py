"""Road geometry of procedural scenes: reference paths, carriageways, map features.

Frames: every path lives in the scene's local metric frame (m); ``d`` is the signed
lateral offset from a reference path, positive to the left of its direction.
"""
from __future__ import annotations

import dataclasses

import numpy as np

DS = 0.5  # m between reference-path samples


@dataclasses.dataclass(frozen=True, eq=False)
class RefPath:
    """Densely sampled planar curve: ``pts`` (N, 2) m, ``s`` (N,) m, ``theta`` (N,) rad, ``kappa`` (N,) 1/m."""

    pts: np.ndarray
    s: np.ndarray
    theta: np.ndarray
    kappa: np.ndarray

    @property
    def length(self) -> float:
        return float(self.s[-1])

    def pose(self, s: np.ndarray, d: np.ndarray):
        """Position (x, y) m, tangent angle (rad) and curvature (1/m) at arc length ``s``, offset ``d``."""
        s = np.clip(s, 0.0, self.length)
        th = np.interp(s, self.s, np.unwrap(self.theta))
        k = np.interp(s, self.s, self.kappa)
        x = np.interp(s, self.s, self.pts[:, 0]) - d * np.sin(th)
        y = np.interp(s, self.s, self.pts[:, 1]) + d * np.cos(th)
        return x, y, th, k

    def offset(self, d: float, s0: float = 0.0, s1: float | None = None) -> np.ndarray:
        """Polyline (M, 2) m of the curve offset by ``d`` between arc lengths ``s0`` and ``s1``."""
        s1 = self.length if s1 is None else s1
        s = np.linspace(s0, s1, max(2, int(np.ceil((s1 - s0) / 2.0)) + 1))
        x, y, _, _ = self.pose(s, np.full_like(s, d))
        return np.column_stack([x, y])

    def reversed(self) -> "RefPath":
        return RefPath(self.pts[::-1].copy(), self.length - self.s[::-1], self.theta[::-1] + np.pi, -self.kappa[::-1])


def integrate_path(kappa: np.ndarray, start=(0.0, 0.0), theta0: float = 0.0) -> RefPath:
    """Curve from a curvature profile sampled every :data:`DS` metres."""
    theta = theta0 + np.r_[0.0, np.cumsum((kappa[:-1] + kappa[1:]) / 2 * DS)]
    mid = (theta[:-1] + theta[1:]) / 2
    x = start[0] + np.r_[0.0, np.cumsum(np.cos(mid) * DS)]
    y = start[1] + np.r_[0.0, np.cumsum(np.sin(mid) * DS)]
    return RefPath(np.column_stack([x, y]), np.arange(len(kappa)) * DS, theta, kappa)


def random_curvature(rng: np.random.Generator, length: float, curved: bool, rmin: float, rmax: float) -> np.ndarray:
    """Straight, or one / two bends with clothoid transitions (curvature ramps)."""
    n = int(length / DS) + 1
    kappa = np.zeros(n)
    if not curved:
        return kappa
    s = np.arange(n) * DS
    for _ in range(rng.integers(1, 3)):
        radius = float(np.exp(rng.uniform(np.log(rmin), np.log(rmax))))
        k = rng.choice([-1.0, 1.0]) / radius
        center = rng.uniform(0.25, 0.75) * length
        arc = rng.uniform(20.0, min(0.5 * np.pi * radius, 120.0))
        ramp = rng.uniform(15.0, 40.0)
        w = np.clip((arc / 2 + ramp - np.abs(s - center)) / ramp, 0.0, 1.0)
        kappa += k * w
    return kappa


@dataclasses.dataclass
class StopLine:
    """A place where a carriageway's vehicles may have to stop: ``s`` m along its path.

    ``kind`` is ``signal`` (active while the arm's light is not green) or
    ``crosswalk`` (active while the crosswalk ``index`` is occupied).
    """

    s: float
    kind: str
    index: int


@dataclasses.dataclass
class Carriageway:
    """Lanes of one driving direction along ``ref`` (m, rad).

    ``lane_offsets`` (n,) m: lateral offset of each lane centre (lane 0 next to the
    centre line, then outward). ``can_change`` (n - 1,) bool: the line between lane i
    and i + 1 is broken. ``road`` names the road (junctions have two).
    """

    ref: RefPath
    lane_offsets: np.ndarray
    lane_width: float
    can_change: np.ndarray
    speed_limit: float
    road: int
    stops: list = dataclasses.field(default_factory=list)
    zone: tuple[float, float] | None = None
    """(s_in, s_out) m of the junction box along ``ref``, if any."""


@dataclasses.dataclass
class Crosswalk:
    """Crosswalk across road ``road`` at arc length ``s`` (m) of the road path, ``width`` m."""

    road: int
    s: float
    width: float
    d_min: float
    d_max: float


@dataclasses.dataclass
class RoadSpec:
    """One road: reference path, lane counts and widths, marking and edge choices."""

    ref: RefPath
    n_fwd: int
    n_back: int
    lane_width: float
    park_right: bool
    park_left: bool
    park_width: float
    center_type: str
    between_types_fwd: list
    between_types_back: list
    speed_limit: float

    @property
    def d_right(self) -> float:
        return -(self.n_fwd * self.lane_width + (self.park_width if self.park_right else 0.0))

    @property
    def d_left(self) -> float:
        return self.n_back * self.lane_width + (self.park_width if self.park_left else 0.0)

    def polygon_ring(self) -> np.ndarray:
        return np.vstack([self.ref.offset(self.d_left), self.ref.offset(self.d_right)[::-1]])

    def carriageways(self, road: int) -> list[Carriageway]:
        w = self.lane_width
        fwd = Carriageway(self.ref, -(np.arange(self.n_fwd) + 0.5) * w, w,
                          np.array([t == "BROKEN" for t in self.between_types_fwd], dtype=bool), self.speed_limit, road)
        out = [fwd]
        if self.n_back:
            out.append(Carriageway(self.ref.reversed(), -(np.arange(self.n_back) + 0.5) * w, w,
                                   np.array([t == "BROKEN" for t in self.between_types_back], dtype=bool),
                                   self.speed_limit, road))
        return out

    def lane_lines(self) -> list[tuple[float, str]]:
        """(offset m in the road frame, line type) of every painted line."""
        w = self.lane_width
        lines = []
        if self.n_back:
            lines.append((0.0, self.center_type))
        lines += [(-(i + 1) * w, t) for i, t in enumerate(self.between_types_fwd)]
        lines += [((i + 1) * w, t) for i, t in enumerate(self.between_types_back)]
        if self.park_right:
            lines.append((-self.n_fwd * w, "SOLID"))
        if self.park_left and self.n_back:
            lines.append((self.n_back * w, "SOLID"))
        return lines

    def centerlines(self) -> list[np.ndarray]:
        return [cw.ref.offset(d) for cw in self.carriageways(0) for d in cw.lane_offsets]


def random_road(rng: np.random.Generator, cfg, ref: RefPath, allow_parking: bool = True) -> RoadSpec:
    """Draw lane counts, widths, markings and parking for a road along ``ref``."""
    n_fwd = int(rng.integers(cfg.lanes_per_direction[0], cfg.lanes_per_direction[1] + 1))
    n_back = int(rng.integers(cfg.oncoming_lanes[0], cfg.oncoming_lanes[1] + 1))
    between = lambda n: ["BROKEN" if rng.random() < 0.8 else "SOLID" for _ in range(max(n - 1, 0))]  # noqa: E731
    return RoadSpec(
        ref=ref, n_fwd=n_fwd, n_back=n_back, lane_width=float(rng.uniform(*cfg.lane_width_m)),
        park_right=allow_parking and rng.random() < cfg.parking_prob,
        park_left=allow_parking and n_back > 0 and rng.random() < cfg.parking_prob,
        park_width=float(rng.uniform(2.3, 2.8)),
        center_type=str(rng.choice(["DOUBLE_SOLID", "SOLID", "BROKEN"], p=[0.6, 0.2, 0.2])),
        between_types_fwd=between(n_fwd), between_types_back=between(n_back),
        speed_limit=float(rng.uniform(*cfg.speed_limit_mps)),
    )
