"""SignalLayer: the traffic signals of one scenario, per controlled lane and frame.

One entry per *controlled lane* L (a lane / lane connector that a signal governs: Waymo's
``dynamic_map_states`` lanes, nuPlan's ``traffic_light_status`` lane connectors, each lane of a
procedural junction arm). Coordinates are float64 metres in the scenario frame.

* ``stop_point`` ``(L, 2)``: where vehicles in that lane must stop when it shows STOP.
* ``lane_path`` ``(L, K, 2)``: the controlled lane's centerline from the stop point onward
  (point 0 is the stop point; K >= 2 points over the first :data:`LANE_PATH_M` m of the lane,
  :func:`lane_path_from`). Its first segment gives the lane's direction at the stop line; the
  rest tells apart lanes that share one stop line (a left-turn and a straight connector from the
  same approach), which Waymo and nuPlan give separate states (turn arrows).
* The stop line of a lane is the segment through ``stop_point`` perpendicular to that direction,
  :data:`STOP_LINE_HALF_WIDTH_M` to either side (half a wide lane); the red-light label
  (:mod:`synth.signals`) is defined on it.
* ``state`` ``(L, T)`` int8 :class:`~schemas.enums.SignalState` per frame of the scenario.
* ``stop_z`` ``(L,)`` float64 m: height of the stop point, NaN where the source has none.

Source state names map onto the four states with :func:`waymo_state` (Waymo / ScenarioNet) and
:func:`nuplan_state`. Validation raises :class:`~schemas.errors.InputError` naming the field.
"""
from __future__ import annotations

import dataclasses

import numpy as np

from .enums import SignalState
from .errors import InputError

LANE_PATH_POINTS = 5
"""Points of each ``lane_path`` built by :func:`lane_path_from` (every 5 m over 20 m)."""
LANE_PATH_M = 20.0
"""Length (m) of the lane kept after the stop point."""
STOP_LINE_HALF_WIDTH_M = 2.0
"""Half length (m) of a lane's stop line, across the lane (a 4 m lane at most)."""

_WAYMO = {
    "LANE_STATE_UNKNOWN": SignalState.UNKNOWN,
    "LANE_STATE_ARROW_STOP": SignalState.STOP, "LANE_STATE_STOP": SignalState.STOP,
    "LANE_STATE_ARROW_CAUTION": SignalState.CAUTION, "LANE_STATE_CAUTION": SignalState.CAUTION,
    "LANE_STATE_FLASHING_CAUTION": SignalState.CAUTION,
    "LANE_STATE_FLASHING_STOP": SignalState.CAUTION,   # flashing red: an all-way stop, crossing after a stop is legal
    "LANE_STATE_ARROW_GO": SignalState.GO, "LANE_STATE_GO": SignalState.GO,
    # the four states newer ScenarioNet converters reduce Waymo / nuPlan states to (MetaDriveType.LIGHT_*)
    "TRAFFIC_LIGHT_GREEN": SignalState.GO, "TRAFFIC_LIGHT_YELLOW": SignalState.CAUTION,
    "TRAFFIC_LIGHT_RED": SignalState.STOP, "TRAFFIC_LIGHT_UNKNOWN": SignalState.UNKNOWN,
}
#: Waymo Open Motion's TrafficSignalLaneState enum values 0..8, in proto order
_WAYMO_CODES = ("LANE_STATE_UNKNOWN", "LANE_STATE_ARROW_STOP", "LANE_STATE_ARROW_CAUTION", "LANE_STATE_ARROW_GO",
                "LANE_STATE_STOP", "LANE_STATE_CAUTION", "LANE_STATE_GO", "LANE_STATE_FLASHING_STOP",
                "LANE_STATE_FLASHING_CAUTION")
_NUPLAN = {"green": SignalState.GO, "yellow": SignalState.CAUTION, "red": SignalState.STOP}


def waymo_state(value) -> SignalState:
    """Waymo lane state (``LANE_STATE_*`` name or proto code 0..8, or ScenarioNet's ``TRAFFIC_LIGHT_*``) as a
    :class:`SignalState`: *_GO and ARROW_GO -> GO; *_CAUTION, ARROW_CAUTION, FLASHING_CAUTION and FLASHING_STOP
    -> CAUTION; STOP and ARROW_STOP -> STOP; UNKNOWN and ``None`` (not observed) -> UNKNOWN. Anything else
    raises ``ValueError``."""
    if value is None:
        return SignalState.UNKNOWN
    if isinstance(value, (bytes, np.bytes_)):
        value = value.decode()
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool) and 0 <= int(value) < len(_WAYMO_CODES):
        value = _WAYMO_CODES[int(value)]
    if isinstance(value, str) and value.strip().upper() in _WAYMO:
        return _WAYMO[value.strip().upper()]
    raise ValueError(f"{value!r} is not a Waymo lane state (LANE_STATE_* or TRAFFIC_LIGHT_*)")


def nuplan_state(status) -> SignalState:
    """nuPlan ``traffic_light_status.status``: green -> GO, yellow -> CAUTION, red -> STOP, anything else
    (``unknown``, NULL) -> UNKNOWN (formats.md)."""
    return _NUPLAN.get(str(status).strip().lower(), SignalState.UNKNOWN) if status is not None else SignalState.UNKNOWN


def lane_path_from(polyline, stop_point, length_m: float = LANE_PATH_M, points: int = LANE_PATH_POINTS,
                   heading: float | None = None) -> np.ndarray:
    """``(points, 2)`` float64 m: the lane ``polyline`` ``(N, 2)`` (in driving direction) from the stop point's
    projection onto it, resampled evenly over ``length_m`` m and shifted to start at the stop point (so its
    first segment is the lane's tangent there even when the stop point lies beside the lane). Where the lane
    ends sooner it is extended straight along its last segment; a lane without length needs ``heading`` (rad)."""
    stop = np.asarray(stop_point, dtype=np.float64).reshape(-1)[:2]
    pl = np.asarray(polyline, dtype=np.float64)
    pl = pl.reshape(len(pl), -1)[:, :2]
    seg = np.diff(pl, axis=0)
    seg_len = np.hypot(seg[:, 0], seg[:, 1]) if len(pl) > 1 else np.zeros(0)
    keep = np.r_[True, seg_len > 1e-6] if len(pl) > 1 else np.ones(len(pl), bool)
    pl = pl[keep]
    if len(pl) < 2:
        if heading is None:
            raise InputError("a lane polyline with no length needs a heading", field="signals.lane_path")
        direction = np.array([np.cos(heading), np.sin(heading)])
        pl = np.vstack([stop, stop + direction])
    seg = np.diff(pl, axis=0)
    seg_len = np.hypot(seg[:, 0], seg[:, 1])
    u = np.clip(((stop - pl[:-1]) * seg).sum(1) / seg_len**2, 0.0, 1.0)
    foot = pl[:-1] + u[:, None] * seg
    i = int(np.argmin(np.hypot(*(foot - stop).T)))
    s_cum = np.r_[0.0, np.cumsum(seg_len)]
    s0 = s_cum[i] + u[i] * seg_len[i]
    last = seg[-1] / seg_len[-1]
    ext = np.vstack([pl, pl[-1] + last * (length_m + 1.0)])           # extended straight beyond the lane's end
    s_ext = np.r_[s_cum, s_cum[-1] + length_m + 1.0]
    s = s0 + np.linspace(0.0, length_m, points)
    out = np.column_stack([np.interp(s, s_ext, ext[:, 0]), np.interp(s, s_ext, ext[:, 1])])
    out += stop - out[0]                                             # the lane, shifted to pass through the stop point
    out[0] = stop
    if np.hypot(*(out[1] - out[0])) < 1e-3:                           # stop point beyond the lane's end: keep going
        out[1:] = stop + last * np.linspace(0.0, length_m, points)[1:, None]
    return out


@dataclasses.dataclass(frozen=True, eq=False)
class SignalLayer:
    """Signals of one scenario (module docstring). Construct with keywords; arrays become read-only copies.

    Attributes:
      lane_ids: ``(L,)`` unique str ids of the controlled lanes (source lane / connector ids; procedural:
        ``<road>:<carriageway>:<lane>``).
      stop_point: ``(L, 2)`` float64 m, scenario frame.
      lane_path: ``(L, K, 2)`` float64 m, K >= 2, point 0 = stop point, first segment non-degenerate.
      state: ``(L, T)`` int8 :class:`SignalState` values, T = the scenario's frames.
      stop_z: ``(L,)`` float64 m, NaN where unknown (``None`` -> all NaN).
    """

    lane_ids: tuple[str, ...]
    stop_point: np.ndarray
    lane_path: np.ndarray
    state: np.ndarray
    stop_z: np.ndarray | None = None

    def __post_init__(self) -> None:
        set_ = lambda k, v: object.__setattr__(self, k, v)  # noqa: E731 (frozen dataclass)
        ids = tuple(str(i) for i in self.lane_ids)
        if len(set(ids)) != len(ids):
            raise InputError("lane ids are not unique", field="signals.lane_ids")
        L = len(ids)
        set_("lane_ids", ids)
        stop = np.array(self.stop_point, dtype=np.float64).reshape(-1, 2) if L == 0 else \
            np.array(self.stop_point, dtype=np.float64)
        if stop.shape != (L, 2) or not np.isfinite(stop).all():
            raise InputError(f"must be finite with shape ({L}, 2), got {stop.shape}", field="signals.stop_point")
        path = np.array(self.lane_path, dtype=np.float64)
        if L == 0 and path.size == 0:
            path = np.zeros((0, LANE_PATH_POINTS, 2))
        if path.ndim != 3 or path.shape[0] != L or path.shape[1] < 2 or path.shape[2] != 2 \
                or not np.isfinite(path).all():
            raise InputError(f"must be finite with shape ({L}, K>=2, 2), got {path.shape}", field="signals.lane_path")
        if L and (np.hypot(*(path[:, 1] - path[:, 0]).T) < 1e-3).any():
            raise InputError("first segment has no length (no lane direction)", field="signals.lane_path")
        raw = np.asarray(self.state)
        if raw.dtype.kind in "USO":
            try:
                raw = np.vectorize(lambda v: int(SignalState.parse(v)), otypes=[np.int64])(raw)
            except ValueError as err:
                raise InputError(str(err), field="signals.state") from None
        if raw.ndim != 2 or raw.shape[0] != L or raw.shape[1] < 1:
            raise InputError(f"must have shape ({L}, T>=1), got {raw.shape}", field="signals.state")
        if raw.dtype.kind not in "iub" or not np.isin(raw, [int(s) for s in SignalState]).all():
            bad = raw[~np.isin(raw, [int(s) for s in SignalState])] if raw.dtype.kind in "iub" else raw.ravel()
            raise InputError(f"holds {bad.ravel()[:1].tolist()}: not a SignalState "
                             f"({', '.join(f'{s.value}={s.name}' for s in SignalState)})", field="signals.state")
        state = raw.astype(np.int8)
        z = np.full(L, np.nan) if self.stop_z is None else np.array(self.stop_z, dtype=np.float64).reshape(-1)
        if z.shape != (L,) or np.isinf(z).any():
            raise InputError(f"must have shape ({L},), finite or NaN", field="signals.stop_z")
        for name, arr in (("stop_point", stop), ("lane_path", path), ("state", state), ("stop_z", z)):
            arr.setflags(write=False)
            set_(name, arr)

    @staticmethod
    def empty(num_frames: int) -> "SignalLayer":
        """A layer without signals (L = 0) for a scenario of ``num_frames`` frames."""
        return SignalLayer(lane_ids=(), stop_point=np.zeros((0, 2)), lane_path=np.zeros((0, LANE_PATH_POINTS, 2)),
                           state=np.zeros((0, int(num_frames)), np.int8))

    @property
    def num_lanes(self) -> int:
        return len(self.lane_ids)

    @property
    def num_frames(self) -> int:
        return self.state.shape[1]

    @property
    def direction(self) -> np.ndarray:
        """``(L, 2)`` unit vectors: each lane's direction of travel at its stop line (first path segment)."""
        d = self.lane_path[:, 1] - self.lane_path[:, 0]
        return d / np.hypot(d[:, 0], d[:, 1])[:, None]

    def equals(self, other: "SignalLayer") -> bool:
        """Exact equality (NaN == NaN) of every field (round-trip tests)."""
        return (self.lane_ids == other.lane_ids
                and all(np.array_equal(getattr(self, k), getattr(other, k), equal_nan=True)
                        for k in ("stop_point", "lane_path", "state", "stop_z")))
