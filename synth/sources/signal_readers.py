"""Signal layers of the real sources: ScenarioNet ``dynamic_map_states`` and nuPlan ``traffic_light_status``.

Both give one entry per controlled lane (Waymo lane, nuPlan lane connector) with a state per frame;
the canonical form is a :class:`schemas.SignalLayer` at 10 Hz (:mod:`schemas.signals`).

* ScenarioNet (Waymo): ``dynamic_map_states[id] = {type: TRAFFIC_LIGHT, lane, stop_point (3,),
  state: {object_state: [T]}}``. States map with :func:`schemas.signals.waymo_state` (``None`` =
  not observed = UNKNOWN); ``stop_point[2]`` is ``stop_z``. The lane path follows the lane's
  ``map_features`` polyline from the stop point. Entries of another type, or whose lane is not in
  ``map_features``, give no controlled lane (nothing to place a stop line on). At a source rate
  other than 10 Hz each 10 Hz frame takes the state of the source frame at or before it (states
  are not interpolated).
* nuPlan: ``traffic_light_status(lidar_pc_token, lane_connector_id, status)``, per lidar_pc; each
  10 Hz frame takes the statuses of the lidar_pc the tracks took for it (frames without one, and
  connectors without a status there, are UNKNOWN). States map with :func:`schemas.signals.nuplan_state`.
  The stop point is the start of the connector's baseline path (``baseline_paths`` row whose
  ``lane_connector_fid`` is the connector), so signals need the map; without it, or for a connector
  the map lacks, there is no controlled lane.
"""
from __future__ import annotations

import numpy as np

from schemas import InputError, SignalLayer, SignalState
from schemas.signals import lane_path_from, nuplan_state, waymo_state


def scenarionet_signals(states, features: dict, t_src_frames: int, dt_src: float, frames: int,
                        dt: float) -> SignalLayer:
    """The SignalLayer ``(L, frames)`` (``dt`` s apart) of a ScenarioNet ``dynamic_map_states`` dict whose
    ``object_state`` lists have ``t_src_frames`` entries ``dt_src`` s apart."""
    if not states:
        return SignalLayer.empty(frames)
    if not isinstance(states, dict):
        raise InputError(f"is {type(states).__name__}, expected dict", field="dynamic_map_states")
    feats = {str(k): v for k, v in features.items()}
    src = np.minimum(np.floor(np.arange(frames) * dt / dt_src + 1e-6).astype(int), t_src_frames - 1)
    ids, stops, zs, paths, state = [], [], [], [], []
    for key, d in states.items():
        where = f"dynamic_map_states[{key!r}]"
        if not isinstance(d, dict) or str(d.get("type", "TRAFFIC_LIGHT")) != "TRAFFIC_LIGHT":
            continue
        lane = feats.get(str(d.get("lane")))
        if not isinstance(lane, dict) or "polyline" not in lane:
            continue
        obj = (d.get("state") or {}).get("object_state")
        if obj is None or len(obj) != t_src_frames:
            raise InputError(f"object_state has {None if obj is None else len(obj)} entries, the tracks "
                             f"{t_src_frames}", field=f"{where}.state.object_state")
        try:
            codes = np.array([int(waymo_state(v)) for v in obj], dtype=np.int8)
        except ValueError as err:
            raise InputError(str(err), field=f"{where}.state.object_state") from None
        sp = np.asarray(d.get("stop_point"), dtype=float).reshape(-1)
        if sp.size < 2 or not np.isfinite(sp[:2]).all():
            raise InputError(f"stop_point {sp.tolist()} is not an (x, y[, z]) point", field=f"{where}.stop_point")
        ids.append(str(d.get("lane")))
        stops.append(sp[:2])
        zs.append(sp[2] if sp.size >= 3 else np.nan)
        paths.append(lane_path_from(np.asarray(lane["polyline"], dtype=float), sp[:2]))
        state.append(codes[src])
    if not ids:
        return SignalLayer.empty(frames)
    return SignalLayer(lane_ids=ids, stop_point=np.array(stops), lane_path=np.array(paths), state=np.array(state),
                       stop_z=np.array(zs))


def fid_text(value) -> str:
    """A nuPlan feature id as text (``7``, ``7.0`` and ``"7"`` are all ``"7"``): map columns and
    ``traffic_light_status.lane_connector_id`` compare through it."""
    try:
        f = float(value)
        return str(int(f)) if f.is_integer() else str(value)
    except (TypeError, ValueError):
        return str(value)


def nuplan_signals(con, pc_tokens: list, ok: np.ndarray, connector_paths: dict[str, np.ndarray]) -> SignalLayer:
    """The SignalLayer of one nuPlan scene: ``pc_tokens[k]`` is the lidar_pc token frame ``k`` took (used where
    ``ok[k]``); ``connector_paths`` the baseline path ``(N, 2)`` of each lane connector (by id string) near the
    scene."""
    T = len(pc_tokens)
    have = {r[1] for r in con.execute('PRAGMA table_info("traffic_light_status")')}
    if not have or not connector_paths:
        return SignalLayer.empty(T)
    for c in ("lidar_pc_token", "lane_connector_id", "status"):
        if c not in have:
            raise InputError("column is missing", field=f"traffic_light_status.{c}")
    frame_of = {tok: k for k, tok in enumerate(pc_tokens) if ok[k]}
    by_lane: dict[str, np.ndarray] = {}
    for tok, lc, status in con.execute("SELECT lidar_pc_token, lane_connector_id, status FROM traffic_light_status"):
        k = frame_of.get(tok)
        lane = fid_text(lc)
        if k is None or lane not in connector_paths:
            continue
        by_lane.setdefault(lane, np.full(T, SignalState.UNKNOWN, np.int8))[k] = nuplan_state(status)
    if not by_lane:
        return SignalLayer.empty(T)
    ids = sorted(by_lane, key=lambda s: (len(s), s))
    paths = [lane_path_from(connector_paths[i], connector_paths[i][0]) for i in ids]
    return SignalLayer(lane_ids=ids, stop_point=np.array([p[0] for p in paths]), lane_path=np.array(paths),
                       state=np.array([by_lane[i] for i in ids]))
