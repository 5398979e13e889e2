"""Ego-centric features of one anchor, and targets of each counterfactual plan.

Frames and units: everything is expressed in the ego frame at the anchor (origin at the
ego box centre, x along its heading, y to its left; metres, radians, m/s), float32. The
columns of each table are named in :mod:`critic.columns`.

* Agents ``[1 + max_agents, history_steps, AGENT_FEATURES]`` (token 0 = ego): x, y,
  cos, sin of heading, vx, vy, length, width, one-hot type (4), is-ego (:class:`AgentCol`);
  mask ``[1 + max_agents, history_steps]``.
* Map ``[max_polylines, polyline_points, MAP_FEATURES]``: x, y, one-hot kind (12:
  centerline, solid, double solid, broken, unknown line, road edge, crosswalk,
  drivable-area boundary, and a signal-controlled lane from its stop point showing
  UNKNOWN / GO / CAUTION / STOP at the anchor; :class:`MapCol`, :class:`MapKind`); mask.
* Plan ``[plan_steps, PLAN_FEATURES]``: x, y, cos, sin of heading, speed of every
  state after the anchor (:class:`PlanCol`).
"""
from __future__ import annotations

import numpy as np
import shapely

from schemas import LineType, Scenario

from .columns import AgentCol, MapCol, MapKind, PlanCol
from .config import FeatureConfig

AGENT_FEATURES = AgentCol.COUNT
MAP_FEATURES = MapCol.COUNT
PLAN_FEATURES = PlanCol.COUNT
_LINE_KIND = {LineType.SOLID: "solid", LineType.DOUBLE_SOLID: "double_solid", LineType.BROKEN: "broken",
              LineType.UNKNOWN: "unknown"}
SEGMENT_M = 15.0  # polylines are cut into pieces of at most this length before resampling


def to_ego(x, y, pose) -> tuple[np.ndarray, np.ndarray]:
    """Map-frame points to the ego frame of ``pose = (x0, y0, heading0)``."""
    c, s = np.cos(pose[2]), np.sin(pose[2])
    dx, dy = np.asarray(x) - pose[0], np.asarray(y) - pose[1]
    return c * dx + s * dy, -s * dx + c * dy


def anchor_pose(scn: Scenario, anchor: int) -> np.ndarray:
    e = scn.ego_index
    return np.array([scn.x[e, anchor], scn.y[e, anchor], scn.heading[e, anchor]])


def _ego_history(scn: Scenario, anchor: int, cfg: FeatureConfig) -> dict[str, np.ndarray]:
    frames = np.clip(np.arange(anchor - cfg.history_steps + 1, anchor + 1), 0, None)
    e = scn.ego_index
    return {k: np.asarray(getattr(scn, k))[e, frames][None] for k in ("x", "y", "heading", "vx", "vy", "valid")}


def agent_features(scn: Scenario, anchor: int, cfg: FeatureConfig) -> tuple[np.ndarray, np.ndarray]:
    """Agents ``[1 + max_agents, history_steps, AGENT_FEATURES]`` and mask at ``anchor`` (module docstring):
    the ego, then the nearest other agents at their last valid history frame."""
    feats, mask = agent_features_for_egos(scn, anchor, cfg, _ego_history(scn, anchor, cfg))
    return feats[0], mask[0]


def agent_features_and_futures(scn: Scenario, anchor: int, cfg: FeatureConfig):
    """:func:`agent_features` plus the tokens' true future positions ``[1 + max_agents, S, 2]`` (ego
    frame at the anchor, m) at the ends of the S dynamics steps (``dyn_stride`` x 0.1 s apart), and
    their validity ``[1 + max_agents, S]``. Token 0 (the ego), padding and frames past the log are
    invalid."""
    feats, mask, rows = agent_features_for_egos(scn, anchor, cfg, _ego_history(scn, anchor, cfg), return_rows=True)
    S = cfg.plan_steps // cfg.dyn_stride
    frames = anchor + (np.arange(S) + 1) * cfg.dyn_stride
    inside = frames < scn.x.shape[1]
    fr = np.minimum(frames, scn.x.shape[1] - 1)
    pos = np.zeros((1 + cfg.max_agents, S, 2), np.float32)
    valid = np.zeros((1 + cfg.max_agents, S), bool)
    tokens = np.flatnonzero(mask[0, 1:].any(-1))                 # real agent tokens (1-based below)
    if len(tokens):
        a = rows[0][tokens]
        ex, ey = to_ego(scn.x[a][:, fr], scn.y[a][:, fr], anchor_pose(scn, anchor))
        ok = scn.valid[a][:, fr] & inside[None] & np.isfinite(ex) & np.isfinite(ey)
        pos[1 + tokens] = np.where(ok[..., None], np.stack([ex, ey], -1), 0.0)
        valid[1 + tokens] = ok
    return feats[0], mask[0], pos, valid


def agent_features_for_egos(scn, step: int, cfg: FeatureConfig, ego: dict[str, np.ndarray], return_rows: bool = False):
    """:func:`agent_features` at ``step`` for E alternative ego histories at once.

    ``scn``: a :class:`Scenario`, or any ``[A, T]`` :class:`~schemas.tracks.Tracks` block with an ``ego_index``
    (the closed-loop observer's timeline). ``ego``: ``x``, ``y``, ``heading``, ``vx``, ``vy`` (scenario frame)
    and ``valid`` ``[E, history_steps]``, the ego's frames ``step - history_steps + 1 .. step``; the other
    agents come from ``scn``. Row ``e`` of the result ``[E, 1 + max_agents, H, AGENT_FEATURES]`` (masks
    ``[E, 1 + max_agents, H]``) equals :func:`agent_features` of ``scn`` with the ego's frames replaced by
    ``ego[e]``. With ``return_rows`` also the scenario agent index of every non-ego token ``[E, <= max_agents]``.
    """
    H, K = cfg.history_steps, cfg.max_agents
    frames = np.arange(step - H + 1, step + 1)
    ok_f = frames >= 0
    frames = np.clip(frames, 0, None)
    E = ego["x"].shape[0]
    pose = np.stack([ego["x"][:, -1], ego["y"][:, -1], ego["heading"][:, -1]], -1)            # [E, 3]
    others = np.array([i for i in range(scn.num_agents) if i != scn.ego_index], dtype=int)
    val = scn.valid[others][:, frames] & ok_f[None]                                           # [n, H]
    last = np.where(val, np.arange(H)[None], -1).max(axis=1) if len(others) else np.zeros(0, int)
    lx = scn.x[others, frames[np.maximum(last, 0)]] if len(others) else np.zeros(0)
    ly = scn.y[others, frames[np.maximum(last, 0)]] if len(others) else np.zeros(0)
    dist = np.where(val.any(axis=1)[None], np.hypot(lx[None] - pose[:, :1], ly[None] - pose[:, 1:2]), np.inf)
    order = np.argsort(dist, axis=1)[:, :K]                                                   # [E, k]
    live = np.isfinite(np.take_along_axis(dist, order, 1))                                    # [E, k]
    rows = others[order]                                                                      # [E, k]
    c, s = np.cos(pose[:, 2])[:, None, None], np.sin(pose[:, 2])[:, None, None]

    def block(x, y, h, vx, vy, length, width):   # [E, R, H] each, scenario frame -> [E, R, H, 8] (AgentCol.BOX)
        dx, dy = x - pose[:, 0, None, None], y - pose[:, 1, None, None]
        hh = h - pose[:, 2, None, None]
        return np.stack([c * dx + s * dy, -s * dx + c * dy, np.cos(hh), np.sin(hh), c * vx + s * vy, -s * vx + c * vy,
                         length, width], axis=-1)

    g = lambda a: a[rows][:, :, frames]  # noqa: E731  [E, k, H]
    e = scn.ego_index
    ego_size = lambda a: np.broadcast_to(a[e, frames], (E, 1, H))  # noqa: E731
    b = np.concatenate([block(*(ego[k][:, None] for k in ("x", "y", "heading", "vx", "vy")), ego_size(scn.length),
                              ego_size(scn.width)),
                        block(g(scn.x), g(scn.y), g(scn.heading), g(scn.vx), g(scn.vy), g(scn.length), g(scn.width))], 1)
    v = np.concatenate([(ego["valid"] & ok_f[None])[:, None], g(scn.valid) & ok_f[None, None] & live[..., None]], 1)
    types = np.concatenate([np.full((E, 1), scn.object_type[e]), np.asarray(scn.object_type)[rows]], 1)
    n = 1 + rows.shape[1]
    feats = np.zeros((E, 1 + K, H, AGENT_FEATURES), np.float32)
    mask = np.zeros((E, 1 + K, H), bool)
    feats[:, :n, :, AgentCol.BOX] = np.where(v[..., None], np.nan_to_num(b), 0.0)
    one_hot = np.eye(AgentCol.TYPE_COUNT, dtype=np.float32)[types]
    feats[:, :n, :, AgentCol.TYPE] = np.where(v[..., None], one_hot[:, :, None, :], 0.0)
    feats[:, 0, :, AgentCol.IS_EGO] = v[:, 0]
    mask[:, :n] = v
    return (feats, mask, rows) if return_rows else (feats, mask)


def _pieces(coords: np.ndarray) -> list[np.ndarray]:
    line = shapely.linestrings(coords)
    n = max(1, int(np.ceil(line.length / SEGMENT_M)))
    cuts = np.linspace(0.0, line.length, n + 1)
    return [np.asarray(shapely.get_coordinates(shapely.ops.substring(line, a, b))) for a, b in zip(cuts[:-1], cuts[1:])]


def signal_kinds(scn: Scenario, frame: int, lanes: np.ndarray) -> np.ndarray:
    """``[len(lanes)]`` :class:`MapKind` index of signal lanes ``lanes`` (rows of ``scn.signals``; -1 = not a
    signal polyline, returned as -1) at scenario frame ``frame`` (clipped to the scenario's frames)."""
    lanes = np.asarray(lanes, dtype=np.int64)
    out = np.full(lanes.shape, -1, np.int64)
    st = scn.signals.state
    if st.shape[0] and (lanes >= 0).any():
        f = int(np.clip(frame, 0, st.shape[1] - 1))
        out[lanes >= 0] = MapKind.SIGNAL_START + st[lanes[lanes >= 0], f].astype(np.int64)
    return out


def map_features(scn: Scenario, anchor: int, cfg: FeatureConfig, return_signal_lanes: bool = False):
    """``(feats [max_polylines, polyline_points, MAP_FEATURES] float32, mask [max_polylines, polyline_points])``
    in the ego frame at ``anchor``: the nearest polylines (module docstring). ``return_signal_lanes`` adds
    ``[max_polylines]`` int, the ``scn.signals`` row of each signal polyline (-1 otherwise), so a closed-loop
    observer can re-read their state at later frames (:func:`signal_kinds`)."""
    import shapely.ops  # noqa: F401 (substring)

    pose = anchor_pose(scn, anchor)
    m = scn.map
    items = [(c, "centerline", -1) for c in m.centerlines]
    items += [(p, _LINE_KIND[t], -1) for p, t in zip(m.lane_lines, m.lane_line_types)]
    items += [(p, "road_edge", -1) for p in m.road_edges]
    items += [(np.vstack([c, c[:1]]), "crosswalk", -1) for c in m.crosswalks]
    for poly in m.drivable_area.geoms:
        items += [(np.asarray(r.coords), "drivable_boundary", -1) for r in (poly.exterior, *poly.interiors)]
    if cfg.signals and scn.signals.num_lanes:
        kinds = signal_kinds(scn, anchor, np.arange(scn.signals.num_lanes))
        items += [(p, MapKind.NAMES[k], lane) for lane, (p, k) in enumerate(zip(scn.signals.lane_path, kinds))]
    box, signal_box = (shapely.box(pose[0] - r, pose[1] - r, pose[0] + r, pose[1] + r)
                       for r in (cfg.map_radius_m, cfg.signal_radius_m))
    L = cfg.polyline_points
    cand = []
    for coords, kind, lane in items:
        clipped = shapely.intersection(shapely.linestrings(coords), signal_box if lane >= 0 else box)
        for part in shapely.get_parts(clipped):
            if part.geom_type != "LineString" or part.length < 0.5:
                continue
            for piece in _pieces(np.asarray(part.coords)):
                if len(piece) < 2:
                    continue
                seg = np.r_[0.0, np.cumsum(np.hypot(*np.diff(piece, axis=0).T))]
                u = np.linspace(0.0, seg[-1], L)
                px, py = np.interp(u, seg, piece[:, 0]), np.interp(u, seg, piece[:, 1])
                ex, ey = to_ego(px, py, pose)
                cand.append((float(np.hypot(ex, ey).min()), ex, ey, MapKind.NAMES.index(kind), lane))
    # signal lanes first (at most a quarter of the slots, nearest first), then every other polyline by distance
    signal = sorted((c for c in cand if c[4] >= 0), key=lambda c: c[0])[: cfg.max_polylines // 4]
    cand = signal + sorted((c for c in cand if c[4] < 0), key=lambda c: c[0])
    feats = np.zeros((cfg.max_polylines, L, MAP_FEATURES), np.float32)
    mask = np.zeros((cfg.max_polylines, L), bool)
    lanes = np.full(cfg.max_polylines, -1, np.int64)
    for i, (_, ex, ey, kind, lane) in enumerate(cand[: cfg.max_polylines]):
        feats[i, :, MapCol.X], feats[i, :, MapCol.Y], feats[i, :, MapCol.KIND_START + kind] = ex, ey, 1.0
        mask[i], lanes[i] = True, lane
    return (feats, mask, lanes) if return_signal_lanes else (feats, mask)


def plan_features(px, py, ph, ps, pose) -> np.ndarray:
    """``[R, plan_steps, PLAN_FEATURES]`` float32 (:class:`PlanCol` order) from map-frame plans
    ``[R, plan_steps + 1]`` (element 0 dropped)."""
    x, y = to_ego(px[:, 1:], py[:, 1:], pose)
    h = ph[:, 1:] - pose[2]
    return np.stack([x, y, np.cos(h), np.sin(h), ps[:, 1:]], axis=-1).astype(np.float32)


def drivable_raster(scn: Scenario, anchor: int, cfg: FeatureConfig) -> np.ndarray:
    """Ego-frame drivable-area raster ``[NX, NY]`` bool (cell centres inside the drivable area)."""
    pose = anchor_pose(scn, anchor)
    cx = np.arange(cfg.raster_x[0], cfg.raster_x[1], cfg.raster_cell_m) + cfg.raster_cell_m / 2
    cy = np.arange(cfg.raster_y[0], cfg.raster_y[1], cfg.raster_cell_m) + cfg.raster_cell_m / 2
    X, Y = np.meshgrid(cx, cy, indexing="ij")
    c, s = np.cos(pose[2]), np.sin(pose[2])
    da = scn.map.drivable_area
    shapely.prepare(da)
    return shapely.contains_xy(da, pose[0] + c * X - s * Y, pose[1] + s * X + c * Y)
