"""Exact point-in-area tests on a cell grid: the labeller's off-road test without a GEOS call per point.

:class:`PolygonIndex` stores, for an area (a shapely Polygon or MultiPolygon, scenario frame, m), a
uniform grid over its bounding box. Each cell keeps the boundary edges that can pass through it and
whether one reference point inside the cell lies in the area (decided once, row by row, counting the
edge crossings from a point left of the grid to each reference point in turn). A query point
starts from its cell's answer and flips it for each listed edge that the segment from the reference
point to the query point crosses: both points are in the same (convex) cell, so every boundary
crossing between them is an edge of that cell's list. Cells no edge passes through need no edge test
at all. The answer is the even-odd rule, which is what GEOS's ``contains_xy`` gives for valid
polygons away from the boundary itself. Exact float coincidences can differ from GEOS: a point exactly
on an edge (not contained, as in GEOS, when the edge is in its cell's list), and a polygon vertex lying
exactly on a row's scan line or on a query segment (crossings are counted only when proper); rolled-out
plans and map vertices make these measure-zero events. ``tests/synth/test_point_in_polygon.py`` checks it against ``shapely.contains_xy``.
"""
from __future__ import annotations

import dataclasses
import math

import numpy as np
import shapely
from numba import njit

#: grid cells along the longer side of the area's bounding box (at most), and the smallest cell (m)
MAX_CELLS = 512
MIN_CELL_M = 1.0
#: the reference point of a cell sits at this fraction of the cell from its lower-left corner, away
#: from the round coordinates map edges tend to lie on; moved on if it falls within 1e-7 m of an edge
_REF = np.array([0.5 + 0.0912753, 0.5 - 0.0637291])


@dataclasses.dataclass(frozen=True, eq=False)
class PolygonIndex:
    """Cell grid of one area for exact :meth:`contains_xy` queries (scenario frame, m).

    ``origin`` ``(2,)`` lower-left corner of the grid, ``cell`` its cell size (m), ``shape`` ``(ny, nx)``;
    ``inside`` ``[ny * nx]`` whether each cell's reference point ``ref`` ``[ny * nx, 2]`` is in the area;
    ``start`` ``[ny * nx + 1]`` and ``edge_of`` ``[E']`` the edges listed per cell (CSR); ``edges``
    ``[E, 4]`` the boundary segments ``(x0, y0, x1, y1)``. ``geometry`` is the area itself.
    """

    geometry: shapely.Geometry
    origin: np.ndarray
    cell: float
    shape: tuple[int, int]
    inside: np.ndarray
    ref: np.ndarray
    start: np.ndarray
    edge_of: np.ndarray
    edges: np.ndarray

    @staticmethod
    def build(geometry: shapely.Geometry, cell_m: float = 4.0) -> "PolygonIndex":
        """The index of ``geometry`` (Polygon, MultiPolygon or empty) with cells of ``cell_m`` m, coarser
        where the bounding box would need more than :data:`MAX_CELLS` cells along a side."""
        parts = shapely.get_parts(geometry)
        polys = parts[np.isin(shapely.get_type_id(parts), (3, 6))] if len(parts) else parts  # (Multi)Polygon
        coords = [shapely.get_coordinates(r) for r in shapely.get_rings(shapely.get_parts(polys))] if len(polys) else []
        segs = [np.c_[c[:-1], c[1:]] for c in coords if len(c) > 1]
        edges = np.concatenate(segs) if segs else np.zeros((0, 4))
        edges = edges[(edges[:, 0] != edges[:, 2]) | (edges[:, 1] != edges[:, 3])]
        if len(edges) == 0:
            z = np.zeros(0)
            return PolygonIndex(geometry, np.zeros(2), 1.0, (0, 0), z.astype(bool), np.zeros((0, 2)),
                                np.zeros(1, np.int64), z.astype(np.int64), np.zeros((0, 4)))
        lo = np.minimum(edges[:, :2], edges[:, 2:]).min(0)
        hi = np.maximum(edges[:, :2], edges[:, 2:]).max(0)
        cell = max(float(cell_m), MIN_CELL_M, float((hi - lo).max()) / MAX_CELLS * (1 + 1e-9))
        nx, ny = (np.floor((hi - lo) / cell).astype(int) + 1).tolist()
        # split edges into pieces no longer than half a cell: each piece's bounding box then touches at
        # most 2 x 2 cells, and the union of the pieces' boxes covers every cell the edge passes through
        length = np.hypot(edges[:, 2] - edges[:, 0], edges[:, 3] - edges[:, 1])
        parts = np.maximum(np.ceil(length / (0.5 * cell)).astype(int), 1)
        eid = np.repeat(np.arange(len(edges)), parts)
        k = np.arange(len(eid)) - np.repeat(np.cumsum(parts) - parts, parts)
        w0, w1 = k / parts[eid], (k + 1) / parts[eid]
        e = edges[eid]
        p0 = e[:, :2] + w0[:, None] * (e[:, 2:] - e[:, :2])
        p1 = np.where((k + 1 == parts[eid])[:, None], e[:, 2:], e[:, :2] + w1[:, None] * (e[:, 2:] - e[:, :2]))
        # widened by 1e-9 of a cell: an interpolated piece end may sit a rounding error off its edge
        # (the span stays under one cell, so 2 x 2 cells still cover it)
        c0 = np.maximum(np.floor((np.minimum(p0, p1) - lo) / cell - 1e-9), 0).astype(int)
        c1 = np.floor((np.maximum(p0, p1) - lo) / cell + 1e-9).astype(int)
        cells, owners = [], []
        for dx in (0, 1):
            for dy in (0, 1):
                cx, cy = c0[:, 0] + dx, c0[:, 1] + dy
                ok = (cx <= c1[:, 0]) & (cy <= c1[:, 1]) & (cx < nx) & (cy < ny)
                cells.append(cy[ok] * nx + cx[ok])
                owners.append(eid[ok])
        key = np.unique(np.concatenate(cells).astype(np.int64) * len(edges) + np.concatenate(owners))
        cell_of, edge_of = np.divmod(key, len(edges))
        start = np.searchsorted(cell_of, np.arange(nx * ny + 1)).astype(np.int64)
        iy, ix = np.divmod(np.arange(nx * ny), nx)
        ref = lo + (np.c_[ix, iy] + _REF) * cell
        _nudge(ref, start, edge_of, edges, cell)
        inside = _scan_parity(ref, start, edge_of, edges, nx, ny, float(lo[0]) - cell)
        return PolygonIndex(geometry, lo.astype(float), cell, (ny, nx), inside, ref, start,
                            edge_of, edges.astype(float))

    def contains_xy(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Whether each point ``(x, y)`` (any matching shapes, m) lies in the area; the shape of ``x``."""
        x, y = np.broadcast_arrays(np.asarray(x, float), np.asarray(y, float))
        if self.shape == (0, 0):
            return np.zeros(x.shape, bool)
        out = _contains(np.ascontiguousarray(x).ravel(), np.ascontiguousarray(y).ravel(), self.origin[0],
                        self.origin[1], self.cell, self.shape[1], self.shape[0], self.inside, self.ref, self.start,
                        self.edge_of, self.edges)
        return out.reshape(x.shape)


@njit(cache=True)
def _nudge(ref, start, edge_of, edges, cell):
    """Move each reference point within 1e-7 m of one of its cell's edges along the cell until it is not."""
    for c in range(ref.shape[0]):
        for _ in range(8):
            close = False
            for j in range(start[c], start[c + 1]):
                e = edge_of[j]
                ax, ay, bx, by = edges[e, 0], edges[e, 1], edges[e, 2], edges[e, 3]
                ux, uy = bx - ax, by - ay
                u = ((ref[c, 0] - ax) * ux + (ref[c, 1] - ay) * uy) / (ux * ux + uy * uy)
                u = min(max(u, 0.0), 1.0)
                if math.hypot(ax + u * ux - ref[c, 0], ay + u * uy - ref[c, 1]) < 1e-7:
                    close = True
                    break
            if not close:
                break
            ref[c, 0] += 0.0231 * cell     # 8 moves stay inside the cell
            ref[c, 1] += 0.0117 * cell


@njit(cache=True, inline="always")
def _crosses(ax, ay, bx, by, cx, cy, dx, dy):
    """Whether segment a-b properly crosses segment c-d (touching at an end point does not count)."""
    o1 = (dx - cx) * (ay - cy) - (dy - cy) * (ax - cx)
    o2 = (dx - cx) * (by - cy) - (dy - cy) * (bx - cx)
    if (o1 > 0.0) == (o2 > 0.0) or o1 == 0.0 or o2 == 0.0:
        return False
    o3 = (bx - ax) * (cy - ay) - (by - ay) * (cx - ax)
    o4 = (bx - ax) * (dy - ay) - (by - ay) * (dx - ax)
    return (o3 > 0.0) != (o4 > 0.0) and o3 != 0.0 and o4 != 0.0


@njit(cache=True)
def _scan_parity(ref, start, edge_of, edges, nx, ny, x_out):
    """Whether each reference point is in the area, by the even-odd rule along each row of cells: from a
    point left of the grid (outside) to the first cell's reference point, then from each reference point
    to the next, counting the crossings with the edges listed in the two cells each step lies in."""
    inside = np.zeros(nx * ny, np.bool_)
    stamp = np.full(edges.shape[0], -1, np.int64)
    step = 0
    for iy in range(ny):
        px, py, odd = x_out, ref[iy * nx, 1], False
        for ix in range(nx):
            c = iy * nx + ix
            qx, qy = ref[c, 0], ref[c, 1]
            step += 1
            for cc in (c - 1, c):
                if cc < iy * nx:
                    continue
                for j in range(start[cc], start[cc + 1]):
                    e = edge_of[j]
                    if stamp[e] == step:
                        continue
                    stamp[e] = step
                    if _crosses(px, py, qx, qy, edges[e, 0], edges[e, 1], edges[e, 2], edges[e, 3]):
                        odd = not odd
            inside[c] = odd
            px, py = qx, qy
    return inside


@njit(cache=True)
def _contains(px, py, x0, y0, cell, nx, ny, inside, ref, start, edge_of, edges):
    out = np.zeros(px.shape[0], np.bool_)
    for i in range(px.shape[0]):
        fx, fy = (px[i] - x0) / cell, (py[i] - y0) / cell
        if not (fx >= 0.0 and fy >= 0.0 and fx < nx and fy < ny):   # outside the grid (or NaN): outside
            continue
        c = int(fy) * nx + int(fx)
        ax, ay, bx, by = ref[c, 0], ref[c, 1], px[i], py[i]
        odd = inside[c]
        for j in range(start[c], start[c + 1]):
            e = edge_of[j]
            cx, cy, dx, dy = edges[e, 0], edges[e, 1], edges[e, 2], edges[e, 3]
            if (dx - cx) * (by - cy) == (dy - cy) * (bx - cx) and min(cx, dx) <= bx <= max(cx, dx) \
                    and min(cy, dy) <= by <= max(cy, dy):
                odd = False            # on the boundary: not contained (GEOS's rule)
                break
            if _crosses(ax, ay, bx, by, cx, cy, dx, dy):
                odd = not odd
        out[i] = odd
    return out
