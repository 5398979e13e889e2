"""Off-road of logged tracks: which frames of a recorded box leave the drivable area.

The labeller decides off-road for candidate plans (:mod:`synth.labels`); this module asks the same
question of the log itself, frame by frame, for every track at once. Synthesis uses it to refuse
anchors whose logged plan already leaves the road (a parked car on a verge, a track in a car park
the map does not cover): every counterfactual of such an anchor would be labelled OFFROAD by the
map's gaps, not by the plan. ``benchmarks/real_samples.py`` reports the shares per source.
"""
from __future__ import annotations

import numpy as np
import shapely

from schemas import Scenario

from .geometry import box_corners


def logged_offroad(scn: Scenario, rows: np.ndarray | None = None) -> np.ndarray:
    """``[len(rows), T]`` bool: a valid frame of track ``rows[i]`` has a box corner outside the
    scenario's drivable area (the labeller's corner rule, at the recorded frames); False where not
    valid. ``rows``: track rows (default every track)."""
    rows = np.arange(scn.num_agents) if rows is None else np.asarray(rows, dtype=int).reshape(-1)
    valid = scn.valid[rows]
    off = np.zeros(valid.shape, bool)
    a, t = np.nonzero(valid)
    if len(a):
        r = rows[a]
        xy = box_corners(scn.x[r, t], scn.y[r, t], scn.heading[r, t], scn.length[r, t], scn.width[r, t])
        shapely.prepare(scn.map.drivable_area)
        off[a, t] = ~shapely.contains_xy(scn.map.drivable_area, xy[..., 0], xy[..., 1]).all(axis=1)
    return off
