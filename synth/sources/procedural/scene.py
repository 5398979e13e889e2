"""Assemble one procedural scene: layout, pedestrians, parked cars, traffic, map."""
from __future__ import annotations

import copy
import dataclasses

import numpy as np
import shapely

from schemas import CANONICAL_DT, MapLayer, ObjectType, Scenario, SignalState, wrap_angle

from ...geometry import box_corners, boxes_overlap
from ..common import as_multipolygon
from .config import ProceduralConfig
from .road import Crosswalk, StopLine, integrate_path, random_curvature, random_road
from .signals import junction_signals
from .traffic import Fork, simulate_carriageway

AMBER_S, ALL_RED_S = 3.0, 2.0
SWITCH_S, TIMED_SIGNAL_PROB = (2.0, 9.0), 0.6   # a signal switches once, in this window, with this probability
RESERVE_FRAMES = 15                              # a crosswalk is reserved this long before a pedestrian steps on
CROSSWALK_WIDTH = 4.0


def _band_hits(cw, zone, step=1.0):
    """(s_in, s_out) where the lane band of ``cw`` meets polygon ``zone`` (None if never)."""
    s = np.arange(0.0, cw.ref.length, step)
    lo, hi = cw.lane_offsets.min() - cw.lane_width / 2, cw.lane_offsets.max() + cw.lane_width / 2
    x0, y0, _, _ = cw.ref.pose(s, np.full_like(s, lo))
    x1, y1, _, _ = cw.ref.pose(s, np.full_like(s, hi))
    segs = shapely.linestrings(np.stack([np.column_stack([x0, y0]), np.column_stack([x1, y1])], axis=1))
    hit = np.flatnonzero(shapely.intersects(segs, zone))
    return None if not len(hit) else (float(s[hit[0]]), float(s[hit[-1]]))


class _Signal:
    """Two-phase light: road ``green`` first, switching at ``t_switch`` (s) via amber and all-red."""

    def __init__(self, green: int, t_switch: float):
        self.green, self.t_switch = green, t_switch

    def is_green(self, road: int, t: float) -> bool:
        if road == self.green:
            return t < self.t_switch
        return t >= self.t_switch + AMBER_S + ALL_RED_S

    def states(self, road: int, t: np.ndarray) -> np.ndarray:
        """``(len(t),)`` int8 :class:`SignalState` of ``road`` at times ``t`` (s): GO exactly when
        :meth:`is_green` (vehicles may pass), CAUTION in the green road's amber, else STOP (red, all-red)."""
        t = np.asarray(t, dtype=float)
        go = t < self.t_switch if road == self.green else t >= self.t_switch + AMBER_S + ALL_RED_S
        amber = (road == self.green) & (t >= self.t_switch) & (t < self.t_switch + AMBER_S)
        return np.where(go, SignalState.GO, np.where(amber, SignalState.CAUTION, SignalState.STOP)).astype(np.int8)

    def red_window(self, road: int, horizon: float) -> tuple[float, float]:
        if road == self.green:
            return self.t_switch, horizon
        return 0.0, min(horizon, self.t_switch + AMBER_S + ALL_RED_S)


def _earliest_start(lo: float, dur: float, junction_window: bool) -> float:
    """Earliest start (s) of a pedestrian crossing in ``dur`` s inside a window opening at ``lo``: at
    junctions only once its road is red; on roads it may already be on the crosswalk at frame 0."""
    return lo + 0.5 if junction_window else lo - 0.6 * dur


@dataclasses.dataclass(frozen=True)
class _Retime:
    """In a fork at time ``t`` (s), pedestrians not yet due (their crosswalk not yet reserved) get
    a start time redrawn from ``rng`` inside the fork's ``windows`` (one per crosswalk)."""

    t: float
    windows: list
    rng: np.random.Generator
    reserve_s: float
    """How long before stepping on a pedestrian reserves its crosswalk (s)."""

    def due(self, t0: float) -> bool:
        """True when a pedestrian starting at ``t0`` has its crosswalk reserved by the fork."""
        return t0 <= self.t + self.reserve_s

    def start(self, ci: int, dur: float, junction_window: bool) -> float:
        lo, hi = self.windows[ci]
        first = max(_earliest_start(lo, dur, junction_window), self.t + self.reserve_s)
        return self.rng.uniform(first, hi - 1.0) if hi - 1.0 > first else np.inf   # inf: never crosses


def _redrawn_switch(t_switch: float, t: float, rng: np.random.Generator) -> float:
    """The signal's switch time drawn again from its prior given that it had not switched by ``t`` (s)."""
    if t_switch <= t:
        return t_switch
    lo = max(SWITCH_S[0], t)
    timed = TIMED_SIGNAL_PROB * max(SWITCH_S[1] - lo, 0.0) / (SWITCH_S[1] - SWITCH_S[0])
    return rng.uniform(lo, SWITCH_S[1]) if rng.random() < timed / (timed + 1.0 - TIMED_SIGNAL_PROB) else np.inf


def _replay(state: dict) -> np.random.Generator:
    """A generator continuing from a saved bit-generator ``state``."""
    g = np.random.Generator(getattr(np.random, state["bit_generator"])())
    g.bit_generator.state = state
    return g


def _pedestrians(rng, roads, crosswalks, windows, n_frames, dt, junction_window, retime: _Retime | None = None):
    """Pedestrian tracks crossing each crosswalk inside its allowed time window."""
    t = np.arange(n_frames) * dt
    tracks = []  # (x, y, heading, vx, vy, crosswalk index, d)
    for ci, cx in enumerate(crosswalks):
        road = roads[cx.road]
        lo, hi = windows[ci]
        for _ in range(int(rng.integers(1, 5))):
            speed = rng.uniform(1.0, 1.6)
            span = (cx.d_max - cx.d_min) + 3.0
            dur = span / speed
            # a pedestrian may already be on the crosswalk at frame 0 (roads) and may not
            # finish within the scene; at junctions it starts only while its road is red
            first = _earliest_start(lo, dur, junction_window)
            if hi - 1.0 <= first:
                continue
            t0 = rng.uniform(first, hi - 1.0)
            if retime is not None and not retime.due(t0):
                t0 = retime.start(ci, dur, junction_window)
            sign = rng.choice([-1.0, 1.0])
            start = cx.d_min - 1.5 if sign > 0 else cx.d_max + 1.5
            prog = np.clip((t - t0) * speed, 0.0, span)
            dd = start + sign * prog
            ss = np.full(n_frames, cx.s + rng.uniform(-1.2, 1.2))
            x, y, th, _ = road.ref.pose(ss, dd)
            walking = (t >= t0) & (t <= t0 + dur)
            head = th + sign * np.pi / 2
            vx = np.where(walking, -np.sin(th) * sign * speed, 0.0)
            vy = np.where(walking, np.cos(th) * sign * speed, 0.0)
            tracks.append((x, y, head, vx, vy, ci, dd))
    occupied = np.zeros((len(crosswalks), n_frames), bool)
    for x, y, head, vx, vy, ci, dd in tracks:
        cx = crosswalks[ci]
        on = (dd > cx.d_min - 1.6) & (dd < cx.d_max + 1.6)
        # also reserve the crosswalk 1.5 s before a pedestrian steps onto it
        occupied[ci] |= on | np.r_[on[RESERVE_FRAMES:], np.zeros(min(RESERVE_FRAMES, n_frames), bool)]
    return tracks, occupied


def _parked(rng, road, crosswalks):
    """Parked cars and cones in the parking strips of a road: list of (x, y, heading, length, width, type)."""
    out = []
    for side, present in ((-1, road.park_right), (1, road.park_left)):
        if not present:
            continue
        d = road.d_right + road.park_width / 2 if side < 0 else road.d_left - road.park_width / 2
        s = rng.uniform(3.0, 15.0)
        while s < road.ref.length - 8.0:
            length = rng.uniform(3.9, 5.0)
            if rng.random() < 0.65 and all(abs(s - c.s) > 10.0 for c in crosswalks):
                x, y, th, _ = road.ref.pose(np.array([s]), np.array([d]))
                head = th[0] if side < 0 else th[0] + np.pi
                out.append((x[0], y[0], head, length, rng.uniform(1.75, 2.0), ObjectType.VEHICLE))
            s += length + rng.uniform(1.0, 14.0)
        if rng.random() < 0.3:
            s0 = rng.uniform(20.0, road.ref.length - 20.0)
            for k in range(int(rng.integers(3, 6))):
                x, y, th, _ = road.ref.pose(np.array([s0 + 2.0 * k]), np.array([d + side * 0.5]))
                out.append((x[0], y[0], th[0], 0.45, 0.45, ObjectType.STATIC))
    return out


def _assemble(sims, peds, parked, n_frames: int) -> list[dict]:
    """Agent dicts (map-frame arrays ``[n_frames]``) of the simulated vehicles, pedestrians and parked cars."""
    agents = []
    for sim in sims:
        for i in range(len(sim.s)):
            val = sim.valid[i]
            s, d, v, lv = (np.where(val, a[i], 0.0) for a in (sim.s, sim.d, sim.v, sim.lat_v))
            x, y, th, _ = sim.cw.ref.pose(s, d)
            head = th + np.arctan2(lv, np.maximum(v, 1e-3))
            agents.append(dict(x=x, y=y, heading=head, vx=v * np.cos(th) - lv * np.sin(th),
                               vy=v * np.sin(th) + lv * np.cos(th), length=np.full(n_frames, sim.length[i]),
                               width=np.full(n_frames, sim.width[i]), valid=val,
                               type=ObjectType.CYCLIST if sim.is_cyclist[i] else ObjectType.VEHICLE,
                               ego=bool(sim.is_ego[i])))
    for x, y, head, vx, vy, _, _ in peds:
        agents.append(dict(x=x, y=y, heading=head, vx=vx, vy=vy, length=np.full(n_frames, 0.6),
                           width=np.full(n_frames, 0.6), valid=np.ones(n_frames, bool), type=ObjectType.PEDESTRIAN,
                           ego=False))
    for x, y, head, length, width, typ in parked:
        agents.append(dict(x=np.full(n_frames, x), y=np.full(n_frames, y), heading=np.full(n_frames, head),
                           vx=np.zeros(n_frames), vy=np.zeros(n_frames), length=np.full(n_frames, length),
                           width=np.full(n_frames, width), valid=np.ones(n_frames, bool), type=typ, ego=False))
    return agents


def _seen(a: dict, frame: int) -> bytes | None:
    """Signature of an agent's track up to ``frame`` (None if not yet seen)."""
    v = a["valid"][: frame + 1]
    return np.round(np.r_[a["x"][: frame + 1][v], a["y"][: frame + 1][v]], 6).tobytes() if v.any() else None


def _remove_overlaps(agents: list[dict], fork_frame: int | None = None, history: list[dict] | None = None) -> list[dict]:
    """Drop agents whose box overlaps another valid box at any frame (never the ego).

    In a fork (``fork_frame``), agents seen by then are kept exactly when they are in
    ``history`` (the unforked scenario's agents), so the history does not change; only agents
    that appear later can be dropped.
    """
    n = len(agents)
    ego_idx = next(i for i, a in enumerate(agents) if a["ego"])
    protected, keep = np.zeros(n, bool), np.ones(n, bool)
    if fork_frame is not None:
        known = {_seen(a, fork_frame) for a in history}
        seen = [_seen(a, fork_frame) for a in agents]
        protected = np.array([s is not None for s in seen])
        keep = np.array([s is None or s in known for s in seen])
    protected[ego_idx] = True
    x, y, h, L, W, valid = (np.array([a[k] for a in agents]) for k in ("x", "y", "heading", "length", "width", "valid"))
    corners = box_corners(x, y, h, L, W)
    radius = np.hypot(L, W).max(axis=1) / 2
    for i in range(n):
        if not keep[i]:
            continue
        dist = np.hypot(x[i][None] - x, y[i][None] - y)
        near = (dist < radius[i] + radius[:, None] + 0.1) & valid[i][None] & valid
        near[: i + 1] = False
        near[~keep] = False
        for j in np.flatnonzero(near.any(axis=1)):
            frames = np.flatnonzero(near[j])
            if boxes_overlap(corners[i, frames], corners[j, frames]).any():
                drop = j if j != ego_idx else i
                if agents[i]["type"] == ObjectType.PEDESTRIAN and i != ego_idx and j == ego_idx:
                    drop = i
                if protected[drop]:
                    drop = i if drop == j else j
                    if protected[drop]:
                        continue
                keep[drop] = False
                if drop == i:
                    break
    return [a for a, k in zip(agents, keep) if k]


def generate_scene(cfg: ProceduralConfig, index: int, fork: tuple[int, int] | None = None,
                   fork_drivers: bool = False) -> Scenario:
    """Scenario ``index`` of the procedural source with configuration ``cfg``.

    ``fork = (frame, seed)`` gives an alternative future of the same scenario, redrawing from
    ``seed`` what the history up to ``frame`` does not reveal: the vehicles' random decisions
    (lane changes, entries) from ``frame`` on, the signal's switch time if it has not switched
    yet, and the start times of pedestrians whose crosswalk is not yet reserved (each from the
    generator's own prior, conditioned on that). The ego replays its own track, so the other
    vehicles see the same ego. Road, parked cars and every driver's parameters are unchanged,
    and the fork keeps exactly the unforked scenario's agents seen up to ``frame`` (only agents
    that appear later can be dropped for overlapping), so frames up to ``frame`` are those of
    the unforked scenario. ``fork_drivers`` also redraws every other driver's IDM parameters at the
    fork, from their prior: more than the history hides, since speeds and gaps reveal some of them.
    """
    rng = np.random.default_rng([cfg.seed, index])
    n_frames, dt = cfg.num_frames, CANONICAL_DT
    horizon = (n_frames - 1) * dt
    junction = rng.random() < cfg.junction_prob
    if junction:
        half = cfg.road_length_m / 2
        angle = np.deg2rad(rng.uniform(70.0, 110.0))
        n = int(cfg.road_length_m / 0.5) + 1
        refs = [integrate_path(np.zeros(n), (-half, 0.0), 0.0),
                integrate_path(np.zeros(n), (-half * np.cos(angle), -half * np.sin(angle)), angle)]
        roads = [random_road(rng, cfg, r, allow_parking=False) for r in refs]
        polys = [shapely.polygons(r.polygon_ring()) for r in roads]
        zone = shapely.intersection(polys[0], polys[1]).buffer(1.5)
        drivable = shapely.union_all(polys).buffer(5.0, quad_segs=8).buffer(-5.0, quad_segs=8)
        signal = _Signal(int(rng.integers(0, 2)), rng.uniform(*SWITCH_S) if rng.random() < TIMED_SIGNAL_PROB else np.inf)
    else:
        kappa = random_curvature(rng, cfg.road_length_m, rng.random() < cfg.curved_prob, cfg.min_radius_m, cfg.max_radius_m)
        roads = [random_road(rng, cfg, integrate_path(kappa))]
        drivable = shapely.polygons(roads[0].polygon_ring())
        zone, signal = None, None
    # crosswalks
    crosswalks, windows = [], []
    for ri, road in enumerate(roads):
        if junction:
            road_cw = road.carriageways(ri)[0]
            hit = _band_hits(road_cw, zone)
            if hit is None:
                continue
            places = [hit[0] - CROSSWALK_WIDTH / 2 - 1.5, hit[1] + CROSSWALK_WIDTH / 2 + 1.5]
            window = signal.red_window(ri, horizon)
        else:
            places = [rng.uniform(0.35, 0.75) * road.ref.length]
            window = (0.0, horizon)
        for s_c in places:
            if rng.random() < cfg.crosswalk_prob:
                crosswalks.append(Crosswalk(ri, s_c, CROSSWALK_WIDTH, road.d_right, road.d_left))
                windows.append(window)
    state = copy.deepcopy(rng.bit_generator.state)
    peds, occupied = _pedestrians(rng, roads, crosswalks, windows, n_frames, dt, junction)
    peds_unforked, signal_f, occupied_f = peds, signal, occupied
    if fork is not None:   # hidden schedules redrawn: the signal's switch and pedestrians not yet due
        frng = np.random.default_rng([fork[1], 10_000])
        if signal is not None:
            signal_f = _Signal(signal.green, _redrawn_switch(signal.t_switch, fork[0] * dt, frng))
        windows_f = [signal_f.red_window(cx.road, horizon) for cx in crosswalks] if junction else windows
        peds, occupied_f = _pedestrians(_replay(state), roads, crosswalks, windows, n_frames, dt, junction,
                                        _Retime(fork[0] * dt, windows_f, frng, RESERVE_FRAMES * dt))
    # carriageways with their stop lines
    cws = []
    for ri, road in enumerate(roads):
        for k, cw in enumerate(road.carriageways(ri)):
            L = cw.ref.length
            for ci, cx in enumerate(crosswalks):
                if cx.road == ri:
                    s_c = cx.s if k == 0 else L - cx.s
                    cw.stops.append(StopLine(s_c - cx.width / 2 - 1.5, "crosswalk", ci))
            if junction:
                cw.zone = _band_hits(cw, zone)
                if cw.zone is not None:
                    cw.stops.append(StopLine(cw.zone[0] - CROSSWALK_WIDTH - 3.5, "signal", ri))
            cws.append(cw)

    def stop_rule(occ, sig):
        def stop_active(stop, k):
            if stop.kind == "crosswalk":
                return bool(occ[stop.index, k])
            return not sig.is_green(stop.index, k * dt)
        return stop_active

    density = rng.uniform(*cfg.density_veh_per_km) / 1000.0
    ego_lane = int(rng.integers(0, len(cws[0].lane_offsets)))
    ego_s = rng.uniform(30.0, 80.0)
    sims, unforked = [], []
    for i, cw in enumerate(cws):
        ego = (ego_lane, ego_s) if i == 0 else None
        state = copy.deepcopy(rng.bit_generator.state)
        sim = simulate_carriageway(cw, stop_rule(occupied, signal), n_frames, dt, rng, density, cfg.lane_change_rate_hz,
                                   ego=ego)
        unforked.append(sim)
        if fork is not None:   # the same draws up to the fork frame, then the fork's own
            sim = simulate_carriageway(cw, stop_rule(occupied_f, signal_f), n_frames, dt, _replay(state), density,
                                       cfg.lane_change_rate_hz, ego=ego,
                                       fork=Fork(fork[0], np.random.default_rng([fork[1], i]), sim.ego_state,
                                                 fork_drivers))
        sims.append(sim)
    parked = [p for road in roads for p in _parked(rng, road, crosswalks)]
    agents = _remove_overlaps(_assemble(unforked, peds_unforked, parked, n_frames))
    if fork is not None:   # the fork keeps exactly the agents of the unforked history
        agents = _remove_overlaps(_assemble(sims, peds, parked, n_frames), fork[0], agents)
    ego_idx = next(i for i, a in enumerate(agents) if a["ego"])
    if not agents[ego_idx]["valid"].all():
        raise RuntimeError("procedural ego left the road early")  # guarded by road length; caught by caller

    # map features in the local frame
    centerlines = [cw.ref.offset(d) for cw in cws for d in cw.lane_offsets]
    lines, types = [], []
    for road in roads:
        for d, t in road.lane_lines():
            geom = shapely.linestrings(road.ref.offset(d))
            if zone is not None:
                geom = shapely.difference(geom, zone)
            for part in shapely.get_parts(geom):
                if part.geom_type == "LineString" and part.length > 1.0:
                    lines.append(shapely.get_coordinates(part))
                    types.append(t)
    drivable = as_multipolygon(drivable)
    if junction:
        edges = [shapely.get_coordinates(p.exterior) for p in drivable.geoms]
    else:
        edges = [roads[0].ref.offset(roads[0].d_left), roads[0].ref.offset(roads[0].d_right)]
    cross = []
    for cx in crosswalks:
        ref = roads[cx.road].ref
        s = np.array([cx.s - cx.width / 2, cx.s - cx.width / 2, cx.s + cx.width / 2, cx.s + cx.width / 2])
        d = np.array([cx.d_min, cx.d_max, cx.d_max, cx.d_min])
        x, y, _, _ = ref.pose(s, d)
        cross.append(np.column_stack([x, y]))

    # random rigid transform of the whole scene
    rot = rng.uniform(-np.pi, np.pi)
    shift = rng.uniform(-2000.0, 2000.0, 2)
    c, s_ = np.cos(rot), np.sin(rot)
    R = np.array([[c, s_], [-s_, c]])
    tf = lambda p: np.asarray(p) @ R + shift  # noqa: E731
    A = len(agents)
    arr = {k: np.stack([a[k] for a in agents]) for k in ("x", "y", "heading", "vx", "vy", "length", "width", "valid")}
    xy = tf(np.stack([arr["x"], arr["y"]], -1))
    vxy = np.stack([arr["vx"], arr["vy"]], -1) @ R
    m = MapLayer(
        centerlines=[tf(p) for p in centerlines], lane_lines=[tf(p) for p in lines], lane_line_types=types,
        road_edges=[tf(p) for p in edges], crosswalks=[tf(p) for p in cross],
        drivable_area=shapely.transform(drivable, tf), drivable_area_source="EXPLICIT",
    )
    return Scenario(
        scenario_id=f"procedural-{cfg.seed}-{index:06d}", source="procedural",
        map_name="procedural-junction" if junction else "procedural-road", dt=dt,
        track_id=[f"{i}" if i != ego_idx else "ego" for i in range(A)],
        object_type=np.array([a["type"] for a in agents], dtype=np.int8), size_imputed=np.zeros(A, bool),
        x=xy[..., 0], y=xy[..., 1], heading=wrap_angle(arr["heading"] + rot), vx=vxy[..., 0], vy=vxy[..., 1],
        length=arr["length"], width=arr["width"], valid=arr["valid"], ego_index=ego_idx, map=m,
        # the schedule the returned traffic obeyed (the fork's when forked)
        signals=junction_signals(cws, signal_f, n_frames, dt, tf) if junction else None,
    )
