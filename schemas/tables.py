"""Arrow schemas of the four on-disk tables (scenarios, map_features, signals, counterfactuals),
declared column by column.

Each column carries its unit and frame; the README's column reference is generated
from these declarations (``impartial schema-doc``). Every schema carries
``schema_version`` and ``table`` in its metadata. Readers check both.
"""
from __future__ import annotations

import dataclasses

import pyarrow as pa

SCHEMA_VERSION = "2"
"""2: ``log_id`` in ``scenarios`` and ``counterfactuals`` (splits are by log); ``z`` and ``height`` in
``scenarios`` (boxes collide only when they also overlap vertically); the ``signals`` table (signal state and
stop point per controlled lane and frame) and ``red_light`` / ``red_light_time_s`` in ``counterfactuals``."""

#: default counterfactual horizon: 8 s at the canonical 10 Hz, plus element 0 (the anchor)
DEFAULT_PLAN_STEPS = 81


@dataclasses.dataclass(frozen=True)
class Column:
    """One column: name, Arrow type, nullability and documentation (unit, frame)."""

    name: str
    type: pa.DataType
    nullable: bool
    doc: str

    def field(self) -> pa.Field:
        return pa.field(self.name, self.type, nullable=self.nullable, metadata={"doc": self.doc})


F64, F32, I32, I64, BOOL, STR = pa.float64(), pa.float32(), pa.int32(), pa.int64(), pa.bool_(), pa.string()

SCENARIOS_COLUMNS: tuple[Column, ...] = (
    Column("scenario_id", STR, False, "scenario id, unique in a dataset"),
    Column("log_id", STR, False, "recording the scenario was cut from (splits hash it; the scenario id when "
           "the scene is its own log)"),
    Column("source", STR, False, "dataset name: procedural, nuscenes, av2, nuplan, commonroad, ..."),
    Column("map_name", STR, False, "map or city name"),
    Column("dt", F64, False, "s between frames (canonical 0.1)"),
    Column("track_id", STR, False, "track id, unique within the scenario"),
    Column("track_index", I32, False, "row of the track in the in-memory [A, T] arrays"),
    Column("object_type", STR, False, "VEHICLE | PEDESTRIAN | CYCLIST | STATIC"),
    Column("size_imputed", BOOL, False, "box size imputed per type (source had none)"),
    Column("is_ego", BOOL, False, "this track is the scenario's ego"),
    Column("frame", I32, False, "frame index from 0"),
    Column("t", F64, False, "s since frame 0 (frame * dt)"),
    Column("valid", BOOL, False, "the object is observed at this frame"),
    Column("x", F64, True, "m, box centre, scenario frame; null when not valid"),
    Column("y", F64, True, "m, box centre, scenario frame; null when not valid"),
    Column("heading", F64, True, "rad in [-pi, pi), CCW from +x, scenario frame; null when not valid"),
    Column("vx", F64, True, "m/s, scenario frame; null when not valid"),
    Column("vy", F64, True, "m/s, scenario frame; null when not valid"),
    Column("length", F64, True, "m, box length along heading; null when not valid"),
    Column("width", F64, True, "m, box width; null when not valid"),
    Column("z", F64, True, "m, box centre height, scenario frame (the source's vertical axis); null when not valid, "
           "unknown, or the source has no heights"),
    Column("height", F64, True, "m, box height (> 0); null when not valid, unknown, or the source has none"),
)

MAP_FEATURES_COLUMNS: tuple[Column, ...] = (
    Column("scenario_id", STR, False, "scenario id"),
    Column("feature_type", STR, False, "LANE_CENTERLINE | LANE_LINE | ROAD_EDGE | CROSSWALK | DRIVABLE_AREA"),
    Column("feature_index", I32, False, "order of the feature within its type"),
    Column("line_type", STR, True, "LANE_LINE only: UNKNOWN | BROKEN | SOLID | DOUBLE_SOLID"),
    Column("drivable_area_source", STR, True, "DRIVABLE_AREA only: EXPLICIT | DERIVED | ROAD_EDGES"),
    Column("geometry", pa.binary(), False,
           "WKB, metres, scenario frame: LineString (lines), Polygon (crosswalk), MultiPolygon (drivable area)"),
)

SIGNALS_COLUMNS: tuple[Column, ...] = (
    Column("scenario_id", STR, False, "scenario id"),
    Column("lane_index", I32, False, "row of the controlled lane in the scenario's SignalLayer (0..L-1)"),
    Column("lane_id", STR, False, "controlled lane id (Waymo lane, nuPlan lane connector, procedural "
           "road:carriageway:lane), unique within the scenario"),
    Column("frame", I32, False, "frame index from 0 (every frame of the scenario, for every lane)"),
    Column("state", STR, False, "GO | CAUTION | STOP | UNKNOWN (SignalState; flashing red is CAUTION)"),
    Column("stop_x", F64, False, "m, stop point, scenario frame (the same on every frame of the lane)"),
    Column("stop_y", F64, False, "m, stop point, scenario frame"),
    Column("stop_z", F64, True, "m, stop point height; null where the source has none"),
    Column("path_x", pa.list_(F64), False, "m, the controlled lane's centerline from the stop point on (K >= 2 "
           "points, first = stop point; its first segment is the lane direction at the stop line)"),
    Column("path_y", pa.list_(F64), False, "m, as path_x"),
)


def _plan(steps: int) -> pa.DataType:
    return pa.list_(F64, steps)


def counterfactual_columns(plan_steps: int = DEFAULT_PLAN_STEPS) -> tuple[Column, ...]:
    """Columns of the ``counterfactuals`` table for plans of ``plan_steps`` states."""
    plan = _plan(plan_steps)
    return (
        Column("sample_id", STR, False, "unique sample id"),
        Column("scenario_id", STR, False, "source scenario id"),
        Column("log_id", STR, False, "log of the scenario (the split hashes it)"),
        Column("anchor_frame", I32, False, "frame of the scenario at which the plan starts (t0)"),
        Column("ego_track_id", STR, False, "track that plays the ego"),
        Column("family", STR, False, "perturbation family; 'logged' = the unperturbed expert plan"),
        Column("params", STR, False, "JSON object: the family's sampled parameters"),
        Column("seed", I64, False, "seed that reproduces this sample"),
        Column("split", STR, False, "train | val | test, by a stable hash of log_id"),
        Column("plan_dt", F64, False, "s between plan states (canonical 0.1)"),
        Column("plan_x", plan, False, "m, ego box centre, scenario frame; element 0 = logged state at t0"),
        Column("plan_y", plan, False, "m, ego box centre, scenario frame"),
        Column("plan_heading", plan, False, "rad, scenario frame"),
        Column("plan_speed", plan, False, "m/s along heading"),
        Column("perturbed_track_ids", pa.list_(STR), False, "agents whose future was perturbed (empty list if none)"),
        Column("perturbed_x", pa.list_(plan), False, "m, one plan-length list per perturbed agent"),
        Column("perturbed_y", pa.list_(plan), False, "m, one plan-length list per perturbed agent"),
        Column("perturbed_heading", pa.list_(plan), False, "rad, one list per perturbed agent"),
        Column("outcome", STR, False, "SAFE | NEAR_MISS | COLLISION | OFFROAD (precedence in that reverse order)"),
        Column("collision", BOOL, False, "ego box overlaps an agent box within the horizon"),
        Column("collision_time_s", F64, True, "s after t0 of first contact; null without collision"),
        Column("collision_agent_type", STR, True, "ObjectType of the first agent hit; null without collision"),
        Column("collision_rel_speed", F64, True, "m/s, norm of ego minus agent velocity at contact"),
        Column("collision_at_fault", BOOL, False, "the ego caused the first contact (false when it was stopped or hit "
               "from behind, NAVSIM's rule); false without collision"),
        Column("offroad", BOOL, False, "an ego footprint corner leaves the drivable area"),
        Column("offroad_time_s", F64, True, "s after t0 of the first corner outside; null if never"),
        Column("solid_line_crossings", I32, False, "number of SOLID or DOUBLE_SOLID line crossings by the ego centre"),
        Column("min_ttc_s", F64, True, "s, minimum constant-velocity time to collision; null if never closing"),
        Column("min_distance_m", F64, True, "m, minimum ego-to-agent box distance; null without agents"),
        Column("red_light", BOOL, False, "the ego's front-centre point crosses, in the lane's direction, the stop line "
               "of the controlled lane it is in while that lane shows STOP (synth.signals); does not change outcome"),
        Column("red_light_time_s", F64, True, "s after t0 of the first red-light crossing (linear between frames); "
               "null without one"),
        Column("max_abs_accel", F64, False, "m/s^2, max |longitudinal acceleration| (finite differences)"),
        Column("max_abs_jerk", F64, False, "m/s^3, max |longitudinal jerk|"),
        Column("max_lat_accel", F64, False, "m/s^2, max |lateral acceleration| = speed * yaw rate"),
        Column("max_yaw_rate", F64, False, "rad/s, max |yaw rate|"),
        Column("max_curvature", F64, False, "1/m, max |curvature| where speed > walking speed"),
        Column("physics_ok", BOOL, False, "every physics rule passes"),
    )


def make_schema(table: str, columns: tuple[Column, ...]) -> pa.Schema:
    meta = {"schema_version": SCHEMA_VERSION, "table": table}
    return pa.schema([c.field() for c in columns], metadata=meta)


SCENARIOS_SCHEMA = make_schema("scenarios", SCENARIOS_COLUMNS)
MAP_FEATURES_SCHEMA = make_schema("map_features", MAP_FEATURES_COLUMNS)
SIGNALS_SCHEMA = make_schema("signals", SIGNALS_COLUMNS)


def counterfactuals_schema(plan_steps: int = DEFAULT_PLAN_STEPS) -> pa.Schema:
    return make_schema("counterfactuals", counterfactual_columns(plan_steps))


def check_schema(table: pa.Table, expected: pa.Schema, where: str) -> None:
    """Raise ``InputError`` naming ``where`` and the first mismatching column."""
    from .errors import InputError

    meta = table.schema.metadata or {}
    version = meta.get(b"schema_version", b"").decode()
    if version != SCHEMA_VERSION:
        raise InputError(f"schema_version {version or 'missing'!r}, expected {SCHEMA_VERSION!r}", path=where)
    for f in expected:
        if f.name not in table.schema.names:
            raise InputError("column is missing", path=where, field=f.name)
        got = table.schema.field(f.name)
        if not got.type.equals(f.type):
            raise InputError(f"type {got.type}, expected {f.type}", path=where, field=f.name)
        if not f.nullable and table.column(f.name).null_count:
            raise InputError("null values in a non-null column", path=where, field=f.name)


def markdown_reference() -> str:
    """Column reference of every table as markdown (pasted into the README)."""
    out = []
    for name, cols in (
        ("scenarios", SCENARIOS_COLUMNS),
        ("map_features", MAP_FEATURES_COLUMNS),
        ("signals", SIGNALS_COLUMNS),
        ("counterfactuals", counterfactual_columns()),
    ):
        out += [f"#### `{name}`", "", "| column | type | null | meaning (unit, frame) |", "|---|---|---|---|"]
        out += [f"| `{c.name}` | `{c.type}` | {'yes' if c.nullable else 'no'} | {c.doc} |" for c in cols]
        out.append("")
    return "\n".join(out)
