"""Scenario: the canonical in-memory container for one logged driving scene.

A scenario is a :class:`~schemas.tracks.Tracks` block ``[A, T]`` (agents x frames) at a
fixed rate ``dt`` (canonical 0.1 s) plus ids, metadata and the map. Positions are float64
metres in the scenario frame; headings are radians in [-pi, pi), counter-clockwise from +x;
velocities m/s in the same frame; box ``length``/``width`` in metres. Entries where
``valid`` is False are NaN: a missing agent is never 0 or -1.
"""
from __future__ import annotations

import dataclasses

import numpy as np

from .enums import ObjectType
from .errors import InputError
from .map_layer import MapLayer
from .signals import SignalLayer
from .tracks import BOX_FIELDS, TRACK_FIELDS, Tracks, check_object_types, check_track_field

CANONICAL_DT = 0.1


def wrap_angle(a: np.ndarray) -> np.ndarray:
    """Wrap radians to [-pi, pi)."""
    return (np.asarray(a) + np.pi) % (2.0 * np.pi) - np.pi


@dataclasses.dataclass(frozen=True, eq=False)
class Scenario(Tracks):
    """One scene: its :class:`Tracks` ``[A, T]`` and what they belong to (construct with keywords).

    Attributes (besides the tracks, which here are read-only float64 ``[A, T]`` arrays, NaN where
    not ``valid``, finite where valid, with box sizes > 0 where valid, headings wrapped to [-pi, pi)):
      scenario_id: unique id (stable across runs; splits hash it).
      source: dataset name (``procedural``, ``nuscenes``, ``av2``, ``nuplan``, ...).
      map_name: city / map name, free text.
      dt: seconds between frames (> 0).
      track_id: ``(A,)`` unique string ids.
      object_type: ``(A,)`` int8 :class:`ObjectType` values.
      size_imputed: ``(A,)`` bool, True where box sizes were imputed per type.
      ego_index: row of the ego (a VEHICLE with at least 2 valid frames).
      map: the :class:`MapLayer`.
      log_id: the recording this scene was cut from (nuPlan log file, nuScenes scene, Argoverse 2 log,
        Waymo segment where the source names it, CommonRoad map configuration, procedural scene);
        empty means the scene is its own log (``scenario_id``). Splits hash it
        (:func:`schemas.splits.split_of`), so every scene, ego and window of one log lands in one split.
      z: ``[A, T]`` float64 m, box-centre height in the scenario frame (the source's vertical axis, e.g.
        ScenarioNet position[:, 2], nuPlan lidar_box z), NaN where unknown or not valid; None when the
        source has no heights (Argoverse 2 motion forecasting, CommonRoad, procedural). An all-NaN array
        becomes None.
      height: ``[A, T]`` float64 m, box height (> 0), NaN where unknown or not valid; None as for ``z``.
        With both, two boxes touch only when they also overlap vertically (:attr:`has_height`,
        :func:`synth.context.build_context`).
      signals: the :class:`~schemas.signals.SignalLayer` (controlled lanes x frames; its T equals the
        scenario's frames); ``None`` means a scene without signals (an empty layer, L = 0).
    """

    scenario_id: str
    source: str
    map_name: str
    dt: float
    track_id: tuple[str, ...]
    size_imputed: np.ndarray
    ego_index: int
    map: MapLayer
    log_id: str = ""
    z: np.ndarray | None = None
    height: np.ndarray | None = None
    signals: SignalLayer | None = None

    def __post_init__(self) -> None:
        set_ = lambda k, v: object.__setattr__(self, k, v)  # noqa: E731 (frozen dataclass)
        if not isinstance(self.scenario_id, str) or not self.scenario_id:
            raise InputError("must be a non-empty string", field="scenario_id")
        if not isinstance(self.log_id, str):
            raise InputError(f"must be a string, got {type(self.log_id).__name__}", field="log_id")
        set_("log_id", self.log_id or self.scenario_id)
        if not (np.isfinite(self.dt) and self.dt > 0):
            raise InputError(f"must be a positive number of seconds, got {self.dt!r}", field="dt")
        set_("dt", float(self.dt))
        valid = np.array(self.valid, dtype=bool)
        if valid.ndim != 2 or valid.shape[0] < 1 or valid.shape[1] < 2:
            raise InputError(f"must have shape [A>=1, T>=2], got {valid.shape}", field="valid")
        shape = valid.shape
        tid = tuple(str(t) for t in self.track_id)
        if len(tid) != shape[0]:
            raise InputError(f"{len(tid)} ids for {shape[0]} tracks", field="track_id")
        if len(set(tid)) != len(tid):
            raise InputError("track ids are not unique", field="track_id")
        set_("track_id", tid)
        otype = np.array(self.object_type, dtype=np.int8).reshape(-1)
        check_object_types(otype, shape[0])
        imputed = np.array(self.size_imputed, dtype=bool).reshape(-1)
        if imputed.shape != (shape[0],):
            raise InputError(f"must have shape ({shape[0]},)", field="size_imputed")
        for name, arr in (("object_type", otype), ("size_imputed", imputed), ("valid", valid)):
            arr.setflags(write=False)
            set_(name, arr)
        for name in TRACK_FIELDS:
            arr = np.array(getattr(self, name), dtype=np.float64)
            check_track_field(name, arr, valid, label=lambda a: repr(tid[a]), positive=name in BOX_FIELDS)
            arr[~valid] = np.nan
            if name == "heading":
                arr = wrap_angle(arr)
            arr.setflags(write=False)
            set_(name, arr)
        empty = ~valid.any(axis=1)
        if empty.any():
            raise InputError(f"track {tid[int(np.argmax(empty))]!r} has zero valid frames", field="valid")
        ego = int(self.ego_index)
        if not 0 <= ego < shape[0]:
            raise InputError(f"{ego} is out of range for {shape[0]} tracks", field="ego_index")
        if otype[ego] != ObjectType.VEHICLE or valid[ego].sum() < 2:
            raise InputError("ego must be a VEHICLE with at least 2 valid frames", field="ego_index")
        set_("ego_index", ego)
        if not isinstance(self.map, MapLayer):
            raise InputError("must be a MapLayer", field="map")
        for name in ("z", "height"):
            set_(name, _vertical(name, getattr(self, name), valid, tid))
        if self.signals is None or (isinstance(self.signals, SignalLayer) and self.signals.num_lanes == 0):
            # An empty layer carries nothing, so it follows the frame count (a replace() with longer tracks).
            set_("signals", SignalLayer.empty(shape[1]))
        elif not isinstance(self.signals, SignalLayer):
            raise InputError(f"must be a SignalLayer or None, got {type(self.signals).__name__}", field="signals")
        elif self.signals.num_frames != shape[1]:
            raise InputError(f"state has {self.signals.num_frames} frames, the scenario {shape[1]}",
                             field="signals.state")

    # ----------------------------------------------------------------- accessors
    @property
    def tracks(self) -> Tracks:
        """The scenario's track block alone (the same read-only arrays)."""
        return Tracks(**self.arrays(), object_type=self.object_type)

    @property
    def duration_s(self) -> float:
        return (self.num_frames - 1) * self.dt

    @property
    def has_height(self) -> bool:
        """The scene carries both ``z`` and ``height`` (vertical overlap can be tested somewhere)."""
        return self.z is not None and self.height is not None

    @property
    def ego_track_id(self) -> str:
        return self.track_id[self.ego_index]

    def with_ego(self, track_id: str) -> "Scenario":
        """Same scene with another vehicle as ego (any long-enough vehicle track); ``self`` when it already is."""
        if track_id == self.ego_track_id:
            return self
        if track_id not in self.track_id:
            raise InputError(f"no track {track_id!r}", field="ego_track_id")
        return dataclasses.replace(self, ego_index=self.track_id.index(track_id))

    def equals(self, other: "Scenario") -> bool:
        """Exact equality (NaN == NaN) of every field; used by round-trip tests."""
        scalars = ("scenario_id", "log_id", "source", "map_name", "dt", "track_id", "ego_index")
        if any(getattr(self, k) != getattr(other, k) for k in scalars):
            return False
        arrays = ("object_type", "size_imputed", "valid") + TRACK_FIELDS
        if any(not np.array_equal(getattr(self, k), getattr(other, k), equal_nan=True) for k in arrays):
            return False
        for k in ("z", "height"):
            a, b = getattr(self, k), getattr(other, k)
            if (a is None) != (b is None) or (a is not None and not np.array_equal(a, b, equal_nan=True)):
                return False
        return self.map.equals(other.map) and self.signals.equals(other.signals)


def _vertical(name: str, value, valid: np.ndarray, tid: tuple[str, ...]) -> np.ndarray | None:
    """``z`` / ``height`` checked: None, or a read-only float64 ``valid``-shaped array, NaN where not valid;
    values are finite or NaN (unknown), heights > 0. An array with no known value becomes None."""
    if value is None:
        return None
    arr = np.array(value, dtype=np.float64)
    if arr.shape != valid.shape:
        raise InputError(f"must have shape {valid.shape} like valid, got {arr.shape}", field=name)
    arr[~valid] = np.nan  # what invalid frames hold (0 in ScenarioNet) does not matter
    if np.isinf(arr).any():
        a, t = np.argwhere(np.isinf(arr))[0]
        raise InputError(f"infinite value at frame {t} of track {tid[a]!r} (NaN marks unknown)", field=name)
    if name == "height" and (arr <= 0).any():
        a, t = np.argwhere(arr <= 0)[0]
        raise InputError(f"must be > 0, track {tid[a]!r} frame {t} has {arr[a, t]}", field=name)
    if np.isnan(arr).all():
        return None
    arr.setflags(write=False)
    return arr
