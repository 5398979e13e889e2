"""Oriented-box geometry shared by adapters, labelling and plotting (numpy, vectorised)."""
from __future__ import annotations

import numpy as np
import shapely

#: corner order: front-left, front-right, rear-right, rear-left (counter-clockwise ring when reversed)
_CORNER_SIGNS = np.array([[1.0, 1.0], [1.0, -1.0], [-1.0, -1.0], [-1.0, 1.0]])


def box_corners(x, y, heading, length, width) -> np.ndarray:
    """Corners of oriented boxes.

    Inputs broadcast to a common shape ``S`` (m, m, rad, m, m). Returns ``S + (4, 2)``
    float64 m, ordered front-left, front-right, rear-right, rear-left.
    """
    x, y, heading, length, width = np.broadcast_arrays(*(np.asarray(v, dtype=float) for v in (x, y, heading, length, width)))
    c, s = np.cos(heading)[..., None], np.sin(heading)[..., None]
    dl = _CORNER_SIGNS[:, 0] * length[..., None] / 2
    dw = _CORNER_SIGNS[:, 1] * width[..., None] / 2
    return np.stack([x[..., None] + dl * c - dw * s, y[..., None] + dl * s + dw * c], axis=-1)


def box_polygons(x, y, heading, length, width) -> np.ndarray:
    """Shapely polygons of oriented boxes, one per broadcast element (object array)."""
    return shapely.polygons(box_corners(x, y, heading, length, width))


def boxes_overlap(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Separating-axis test for convex quads.

    ``a``, ``b``: corners ``S + (4, 2)`` broadcastable. Returns ``S`` bool, True where
    the boxes overlap (touching counts as overlap).
    """
    a, b = np.broadcast_arrays(a, b)
    overlap = np.ones(a.shape[:-2], dtype=bool)
    for poly in (a, b):
        for k in range(2):  # two edge normals per rectangle
            edge = poly[..., k + 1, :] - poly[..., k, :]
            axis = np.stack([-edge[..., 1], edge[..., 0]], axis=-1)[..., None, :]
            pa_, pb_ = (a * axis).sum(-1), (b * axis).sum(-1)
            overlap &= (pa_.max(-1) >= pb_.min(-1)) & (pb_.max(-1) >= pa_.min(-1))
    return overlap

