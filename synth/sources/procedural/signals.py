"""The signal layer of a procedural junction: exactly the schedule its simulated traffic obeyed.

Every lane of every carriageway that has a ``signal`` :class:`~.road.StopLine` is one controlled
lane, id ``<road>:<carriageway>:<lane>`` (carriageway 0 runs along the road's path, 1 against it;
lane 0 is next to the centre line). Its stop point is the stop line's arc length on the lane centre
(where the simulated vehicles stop their front), its path the lane centre on from there (junction
arms are straight). The state per frame ``k`` is the signal's at ``k * dt``
(``_Signal.states`` in :mod:`.scene`): GO exactly when the simulation lets vehicles pass, CAUTION
during the amber of the road that had green, STOP otherwise (red and all-red).
"""
from __future__ import annotations

from collections.abc import Callable

import numpy as np

from schemas.signals import LANE_PATH_M, LANE_PATH_POINTS, SignalLayer


def junction_signals(cws: list, signal, n_frames: int, dt: float,
                     transform: Callable[[np.ndarray], np.ndarray]) -> SignalLayer:
    """The :class:`SignalLayer` ``(L, n_frames)`` of carriageways ``cws`` under ``signal``; ``transform`` maps
    local points ``(..., 2)`` to the scenario frame (the scene's rigid transform)."""
    ids, stops, paths, states = [], [], [], []
    t = np.arange(n_frames) * dt
    per_road: dict[int, int] = {}
    for cw in cws:
        k = per_road.get(cw.road, 0)
        per_road[cw.road] = k + 1
        for stop in (s for s in cw.stops if s.kind == "signal"):
            state = signal.states(stop.index, t)
            s = stop.s + np.linspace(0.0, LANE_PATH_M, LANE_PATH_POINTS)
            for j, d in enumerate(cw.lane_offsets):
                x, y, _, _ = cw.ref.pose(s, np.full_like(s, d))
                path = transform(np.column_stack([x, y]))
                ids.append(f"{cw.road}:{k}:{j}")
                stops.append(path[0])
                paths.append(path)
                states.append(state)
    if not ids:
        return SignalLayer.empty(n_frames)
    return SignalLayer(lane_ids=ids, stop_point=np.array(stops), lane_path=np.array(paths), state=np.array(states))
