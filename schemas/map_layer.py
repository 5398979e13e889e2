"""MapLayer: the static map of one scenario in the scenario's metric frame.

All coordinates are float64 metres in the scenario frame (the source's global or
city frame, unrotated). Polylines are ``(N, 2)`` arrays with N >= 2; crosswalk
polygons are unclosed rings ``(N, 2)`` with N >= 3.
"""
from __future__ import annotations

import dataclasses

import numpy as np
import shapely
from shapely.geometry.base import BaseGeometry

from .enums import DrivableAreaSource, LineType
from .errors import InputError


def _polylines(name: str, value, min_points: int, ring: bool = False) -> tuple[np.ndarray, ...]:
    out = []
    for i, pts in enumerate(value):
        arr = np.array(pts, dtype=np.float64)
        if arr.ndim != 2 or arr.shape[1] < 2:
            raise InputError(f"element {i} must have shape (N, 2), got {arr.shape}", field=name)
        arr = np.ascontiguousarray(arr[:, :2])
        if ring and len(arr) > 1 and np.array_equal(arr[0], arr[-1]):
            arr = arr[:-1]
        if len(arr) < min_points:
            raise InputError(f"element {i} has {len(arr)} points, needs at least {min_points}", field=name)
        if not np.isfinite(arr).all():
            raise InputError(f"element {i} has non-finite coordinates", field=name)
        arr.setflags(write=False)
        out.append(arr)
    return tuple(out)


@dataclasses.dataclass(frozen=True, eq=False)
class MapLayer:
    """Static map.

    Attributes:
      centerlines: lane centerlines, each ``(N, 2)`` float64 m, in driving direction
        where the source knows it.
      lane_lines: painted lane lines, each ``(N, 2)`` float64 m.
      lane_line_types: one :class:`LineType` per lane line.
      road_edges: curbs / road boundaries, each ``(N, 2)`` float64 m (may be empty).
      crosswalks: crosswalk polygons, unclosed rings ``(N, 2)`` float64 m.
      drivable_area: non-empty valid shapely MultiPolygon (m).
      drivable_area_source: EXPLICIT when the source ships it, DERIVED otherwise.
    """

    centerlines: tuple[np.ndarray, ...]
    lane_lines: tuple[np.ndarray, ...]
    lane_line_types: tuple[LineType, ...]
    road_edges: tuple[np.ndarray, ...]
    crosswalks: tuple[np.ndarray, ...]
    drivable_area: BaseGeometry
    drivable_area_source: DrivableAreaSource

    def __post_init__(self) -> None:
        set_ = lambda k, v: object.__setattr__(self, k, v)  # noqa: E731 (frozen dataclass)
        set_("centerlines", _polylines("map.centerlines", self.centerlines, 2))
        set_("lane_lines", _polylines("map.lane_lines", self.lane_lines, 2))
        set_("road_edges", _polylines("map.road_edges", self.road_edges, 2))
        set_("crosswalks", _polylines("map.crosswalks", self.crosswalks, 3, ring=True))
        try:
            types = tuple(LineType.parse(t) for t in self.lane_line_types)
        except ValueError as err:
            raise InputError(str(err), field="map.lane_line_types") from None
        if len(types) != len(self.lane_lines):
            raise InputError(
                f"{len(types)} types for {len(self.lane_lines)} lane lines", field="map.lane_line_types"
            )
        set_("lane_line_types", types)
        try:
            set_("drivable_area_source", DrivableAreaSource.parse(self.drivable_area_source))
        except ValueError as err:
            raise InputError(str(err), field="map.drivable_area_source") from None
        da = self.drivable_area
        if not isinstance(da, BaseGeometry) or da.is_empty:
            raise InputError("must be a non-empty polygon or multipolygon", field="map.drivable_area")
        if da.geom_type == "Polygon":
            da = shapely.MultiPolygon([da])
        if da.geom_type != "MultiPolygon":
            raise InputError(f"must be a (multi)polygon, got {da.geom_type}", field="map.drivable_area")
        if not da.is_valid:
            raise InputError(f"invalid geometry: {shapely.is_valid_reason(da)}", field="map.drivable_area")
        set_("drivable_area", da)

    def equals(self, other: "MapLayer") -> bool:
        """Exact equality of every coordinate and type (used by round-trip tests)."""
        def same(a, b):
            return len(a) == len(b) and all(np.array_equal(x, y) for x, y in zip(a, b))

        return (
            same(self.centerlines, other.centerlines)
            and same(self.lane_lines, other.lane_lines)
            and self.lane_line_types == other.lane_line_types
            and same(self.road_edges, other.road_edges)
            and same(self.crosswalks, other.crosswalks)
            and shapely.equals_exact(self.drivable_area, other.drivable_area, tolerance=0.0)
            and self.drivable_area_source == other.drivable_area_source
        )

    def feature_counts(self) -> dict[str, int]:
        """Number of map features by kind (lane lines split by type)."""
        counts = {
            "lane_centerline": len(self.centerlines),
            "road_edge": len(self.road_edges),
            "crosswalk": len(self.crosswalks),
            "drivable_area_polygons": len(self.drivable_area.geoms),
        }
        for t in LineType:
            counts[f"lane_line_{t.name.lower()}"] = sum(1 for x in self.lane_line_types if x == t)
        return counts
