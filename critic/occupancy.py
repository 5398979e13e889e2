"""Ego-relative future occupancy ("the dream" target), rasterised with numba.

For a plan and a future time, the grid is centred on the ego's *planned* pose and
aligned with its planned heading (x forward, y left), ``size x size`` cells of
``cell`` m. Channel 0: cells whose centre lies inside any agent box; channel 1: cells
whose centre lies outside the drivable area. A collision shows as agent occupancy
under the ego footprint, an off-road excursion as non-drivable cells under it.
"""
from __future__ import annotations

import math

import numpy as np
import shapely
from numba import njit

DA_RASTER_M = 0.5  # resolution of the map-frame drivable-area raster sampled by channel 1


@njit(cache=True)
def agent_occupancy(ex, ey, eh, ax, ay, ah, al, aw, aval, rows, size, cell):
    """``[R, K, size, size]`` uint8: agent boxes around ego poses ``ex, ey, eh`` ``[R, K]``.

    Agents ``[Na, A, K]`` (row ``rows[r]`` for plan r), valid mask ``aval``.
    """
    R, K = ex.shape
    A = ax.shape[1]
    out = np.zeros((R, K, size, size), np.uint8)
    half = 0.5 * size * cell
    reach = half * 1.5 + 8.0
    for r in range(R):
        g = rows[r]
        for k in range(K):
            c, s = math.cos(eh[r, k]), math.sin(eh[r, k])
            for a in range(A):
                if not aval[g, a, k]:
                    continue
                dx, dy = ax[g, a, k] - ex[r, k], ay[g, a, k] - ey[r, k]
                if abs(dx) > reach or abs(dy) > reach:
                    continue
                # agent centre and heading in the ego grid frame
                lx, ly = c * dx + s * dy, -s * dx + c * dy
                rel = ah[g, a, k] - eh[r, k]
                ca, sa = math.cos(rel), math.sin(rel)
                hl, hw = 0.5 * al[g, a, k], 0.5 * aw[g, a, k]
                ext = abs(ca) * hl + abs(sa) * hw, abs(sa) * hl + abs(ca) * hw
                i0 = max(int(math.floor((lx - ext[0] + half) / cell)), 0)
                i1 = min(int(math.floor((lx + ext[0] + half) / cell)), size - 1)
                j0 = max(int(math.floor((ly - ext[1] + half) / cell)), 0)
                j1 = min(int(math.floor((ly + ext[1] + half) / cell)), size - 1)
                for i in range(i0, i1 + 1):
                    px = (i + 0.5) * cell - half - lx
                    for j in range(j0, j1 + 1):
                        py = (j + 0.5) * cell - half - ly
                        if abs(ca * px + sa * py) <= hl and abs(-sa * px + ca * py) <= hw:
                            out[r, k, i, j] = 1
    return out


class DrivableRaster:
    """Map-frame raster of the drivable area (``DA_RASTER_M`` cells) for fast lookups."""

    def __init__(self, drivable: shapely.Geometry, x0: float, y0: float, x1: float, y1: float):
        self.x0, self.y0 = x0, y0
        nx = int(math.ceil((x1 - x0) / DA_RASTER_M)) + 1
        ny = int(math.ceil((y1 - y0) / DA_RASTER_M)) + 1
        gx = x0 + (np.arange(nx) + 0.5) * DA_RASTER_M
        gy = y0 + (np.arange(ny) + 0.5) * DA_RASTER_M
        X, Y = np.meshgrid(gx, gy, indexing="ij")
        shapely.prepare(drivable)
        self.inside = shapely.contains_xy(drivable, X, Y)

    def lookup(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """True where the point is drivable (points outside the raster count as not drivable)."""
        i = np.floor((x - self.x0) / DA_RASTER_M).astype(np.int64)
        j = np.floor((y - self.y0) / DA_RASTER_M).astype(np.int64)
        ok = (i >= 0) & (j >= 0) & (i < self.inside.shape[0]) & (j < self.inside.shape[1])
        out = np.zeros(x.shape, bool)
        out[ok] = self.inside[i[ok], j[ok]]
        return out


def grid_offsets(size: int, cell: float) -> tuple[np.ndarray, np.ndarray]:
    """Cell-centre coordinates ``(size, size)`` in the grid frame (x forward, y left, m)."""
    c = (np.arange(size) + 0.5) * cell - 0.5 * size * cell
    return np.meshgrid(c, c, indexing="ij")


def non_drivable(raster: DrivableRaster, ex, ey, eh, size: int, cell: float) -> np.ndarray:
    """``[R, K, size, size]`` uint8: 1 where the cell centre is outside the drivable area."""
    gx, gy = grid_offsets(size, cell)
    c, s = np.cos(eh)[..., None, None], np.sin(eh)[..., None, None]
    X = ex[..., None, None] + c * gx - s * gy
    Y = ey[..., None, None] + s * gx + c * gy
    return (~raster.lookup(X, Y)).astype(np.uint8)
