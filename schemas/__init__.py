"""Canonical data model of Impartial: enums, containers, Arrow schemas, expectation suites."""
from .enums import DrivableAreaSource, LineType, MapFeatureType, ObjectType, Outcome, SignalState
from .errors import InputError
from .map_layer import MapLayer
from .signals import SignalLayer
from .scenario import CANONICAL_DT, Scenario, wrap_angle
from .tracks import Tracks
from .tables import (
    MAP_FEATURES_SCHEMA,
    SCENARIOS_SCHEMA,
    SCHEMA_VERSION,
    SIGNALS_SCHEMA,
    check_schema,
    counterfactuals_schema,
)
from .convert import scenario_to_tables, tables_to_scenarios
from .dataset import Dataset, Partition  # noqa: F401  (the dataset reader: schemas/dataset.py)

__all__ = [
    "CANONICAL_DT", "DrivableAreaSource", "InputError", "LineType", "MAP_FEATURES_SCHEMA", "MapFeatureType",
    "MapLayer", "ObjectType", "Outcome", "SCENARIOS_SCHEMA", "SCHEMA_VERSION", "Scenario", "check_schema",
    "counterfactuals_schema", "scenario_to_tables", "tables_to_scenarios", "Tracks", "wrap_angle",
    "SIGNALS_SCHEMA", "SignalLayer", "SignalState",
]
