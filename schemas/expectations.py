"""Great Expectations suites, declared as data: one suite per table.

Each entry is ``(expectation class name in great_expectations.expectations, kwargs)``;
a ``row_condition`` is text ``col==value [and col==value]`` (value: True, False or a quoted string).
The code that runs them is ``pipelines.validation``; keeping the declarations here
(pandera style) lets the schema and its checks be read side by side.
"""
from __future__ import annotations

import math

from .enums import DrivableAreaSource, LineType, MapFeatureType, ObjectType, Outcome, SignalState

Expectation = tuple[str, dict]

_names = lambda enum: [m.name for m in enum]  # noqa: E731
_valid = {"row_condition": "valid==True"}

SCENARIOS_SUITE: tuple[Expectation, ...] = (
    *(("ExpectColumnValuesToNotBeNull", {"column": c}) for c in
      ("scenario_id", "source", "track_id", "track_index", "object_type", "frame", "t", "dt", "valid", "is_ego")),
    ("ExpectCompoundColumnsToBeUnique", {"column_list": ["scenario_id", "track_id", "frame"]}),
    ("ExpectColumnValuesToBeInSet", {"column": "object_type", "value_set": _names(ObjectType)}),
    ("ExpectColumnValuesToBeBetween", {"column": "frame", "min_value": 0}),
    ("ExpectColumnValuesToBeBetween", {"column": "dt", "min_value": 0.001, "max_value": 1.0}),
    *(("ExpectColumnValuesToNotBeNull", {"column": c, **_valid}) for c in
      ("x", "y", "heading", "vx", "vy", "length", "width")),
    ("ExpectColumnValuesToBeBetween", {"column": "heading", "min_value": -math.pi, "max_value": math.pi}),
    ("ExpectColumnValuesToBeBetween", {"column": "length", "min_value": 0.05, "max_value": 30.0}),
    ("ExpectColumnValuesToBeBetween", {"column": "width", "min_value": 0.05, "max_value": 10.0}),
    ("ExpectColumnValuesToBeBetween", {"column": "vx", "min_value": -90.0, "max_value": 90.0}),
    ("ExpectColumnValuesToBeBetween", {"column": "vy", "min_value": -90.0, "max_value": 90.0}),
    # nullable (sources without heights): nulls are not tested by a between-expectation
    ("ExpectColumnValuesToBeBetween", {"column": "height", "min_value": 0.1, "max_value": 10.0}),
    ("ExpectColumnValuesToBeBetween", {"column": "z", "min_value": -500.0, "max_value": 9000.0}),
)

MAP_FEATURES_SUITE: tuple[Expectation, ...] = (
    *(("ExpectColumnValuesToNotBeNull", {"column": c}) for c in
      ("scenario_id", "feature_type", "feature_index", "geometry")),
    ("ExpectColumnValuesToBeInSet", {"column": "feature_type", "value_set": _names(MapFeatureType)}),
    ("ExpectColumnValuesToBeInSet", {"column": "line_type", "value_set": _names(LineType)}),
    ("ExpectColumnValuesToBeInSet", {"column": "drivable_area_source", "value_set": _names(DrivableAreaSource)}),
    ("ExpectColumnValuesToNotBeNull", {"column": "line_type", "row_condition": 'feature_type=="LANE_LINE"'}),
    ("ExpectColumnValuesToNotBeNull", {"column": "drivable_area_source",
                                       "row_condition": 'feature_type=="DRIVABLE_AREA"'}),
    ("ExpectCompoundColumnsToBeUnique", {"column_list": ["scenario_id", "feature_type", "feature_index"]}),
)


SIGNALS_SUITE: tuple[Expectation, ...] = (
    *(("ExpectColumnValuesToNotBeNull", {"column": c}) for c in
      ("scenario_id", "lane_index", "lane_id", "frame", "state", "stop_x", "stop_y")),
    ("ExpectColumnValuesToBeInSet", {"column": "state", "value_set": _names(SignalState)}),
    ("ExpectCompoundColumnsToBeUnique", {"column_list": ["scenario_id", "lane_index", "frame"]}),
    ("ExpectCompoundColumnsToBeUnique", {"column_list": ["scenario_id", "lane_id", "frame"]}),
    ("ExpectColumnValuesToBeBetween", {"column": "frame", "min_value": 0}),
    ("ExpectColumnValuesToBeBetween", {"column": "lane_index", "min_value": 0}),
)


def _when(cond: str) -> dict:
    return {"row_condition": cond}


COUNTERFACTUALS_SUITE: tuple[Expectation, ...] = (
    *(("ExpectColumnValuesToNotBeNull", {"column": c}) for c in
      ("sample_id", "scenario_id", "anchor_frame", "ego_track_id", "family", "seed", "split", "outcome")),
    ("ExpectColumnValuesToBeUnique", {"column": "sample_id"}),
    ("ExpectColumnValuesToBeInSet", {"column": "split", "value_set": ["train", "val", "test"]}),
    ("ExpectColumnValuesToBeInSet", {"column": "outcome", "value_set": _names(Outcome)}),
    ("ExpectColumnValuesToBeInSet", {"column": "physics_ok", "value_set": [True]}),
    ("ExpectColumnValuesToBeBetween", {"column": "anchor_frame", "min_value": 0}),
    ("ExpectColumnValuesToBeBetween", {"column": "collision_time_s", "min_value": 0.0}),
    ("ExpectColumnValuesToBeBetween", {"column": "offroad_time_s", "min_value": 0.0}),
    ("ExpectColumnValuesToBeBetween", {"column": "min_distance_m", "min_value": 0.0}),
    ("ExpectColumnValuesToBeBetween", {"column": "solid_line_crossings", "min_value": 0}),
    # outcome consistent with the flags (precedence COLLISION > OFFROAD > NEAR_MISS > SAFE)
    ("ExpectColumnValuesToBeInSet", {"column": "outcome", "value_set": ["COLLISION"], **_when("collision==True")}),
    ("ExpectColumnValuesToBeInSet", {"column": "collision", "value_set": [True], **_when('outcome=="COLLISION"')}),
    ("ExpectColumnValuesToBeInSet", {"column": "offroad", "value_set": [True], **_when('outcome=="OFFROAD"')}),
    ("ExpectColumnValuesToBeInSet", {"column": "outcome", "value_set": ["OFFROAD"],
                                     **_when("offroad==True and collision==False")}),
    ("ExpectColumnValuesToNotBeNull", {"column": "collision_time_s", **_when("collision==True")}),
    ("ExpectColumnValuesToBeNull", {"column": "collision_time_s", **_when("collision==False")}),
    ("ExpectColumnValuesToNotBeNull", {"column": "offroad_time_s", **_when("offroad==True")}),
    # red light: an event with its time; it does not enter the outcome
    ("ExpectColumnValuesToNotBeNull", {"column": "red_light"}),
    ("ExpectColumnValuesToBeBetween", {"column": "red_light_time_s", "min_value": 0.0}),
    ("ExpectColumnValuesToNotBeNull", {"column": "red_light_time_s", **_when("red_light==True")}),
    ("ExpectColumnValuesToBeNull", {"column": "red_light_time_s", **_when("red_light==False")}),
)

SUITES: dict[str, tuple[Expectation, ...]] = {
    "scenarios": SCENARIOS_SUITE,
    "map_features": MAP_FEATURES_SUITE,
    "signals": SIGNALS_SUITE,
    "counterfactuals": COUNTERFACTUALS_SUITE,
}
