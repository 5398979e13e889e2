import numpy as np
import pytest
import shapely

from schemas import InputError, MapLayer, ObjectType
from tests.fixtures.builders import tiny_map, tiny_scenario


def test_invalid_entries_become_nan_and_valid_ones_are_kept():
    scn = tiny_scenario()
    assert np.isnan(scn.x[1, :3]).all() and np.isnan(scn.length[1, :3]).all()
    assert scn.x[1, 3] == 52.0 and scn.x[0, 0] == 10.0


def test_heading_is_wrapped_to_minus_pi_pi():
    h = np.zeros((2, 6))
    h[0, 0] = 3 * np.pi / 2
    scn = tiny_scenario(heading=h)
    assert scn.heading[0, 0] == pytest.approx(-np.pi / 2)


def test_arrays_are_read_only():
    scn = tiny_scenario()
    with pytest.raises(ValueError):
        scn.x[0, 0] = 1.0


@pytest.mark.parametrize("field, value, message", [
    ("x", "nan", "non-finite value at valid frame"),
    ("valid", "empty_track", "zero valid frames"),
    ("length", "zero", "must be > 0"),
    ("track_id", ["a", "a"], "not unique"),
    ("ego_index", 1, "ego must be a VEHICLE"),
    ("dt", 0.0, "positive number of seconds"),
    ("y", np.zeros((2, 5)), "must have shape"),
])
def test_bad_field_raises_value_error_naming_the_field(field, value, message):
    base = tiny_scenario()
    if isinstance(value, np.ndarray):
        pass
    elif value == "nan":
        value = base.x.copy()
        value[0, 2] = np.nan
    elif value == "empty_track":
        value = base.valid.copy()
        value[1] = False
    elif value == "zero":
        value = np.nan_to_num(base.length.copy())
        value[0, 1] = 0.0
    with pytest.raises(ValueError) as err:
        tiny_scenario(**{field: value})
    assert isinstance(err.value, InputError)
    assert field in str(err.value) and message in str(err.value)


def test_map_layer_rejects_bad_geometry_and_mismatched_types():
    m = tiny_map()
    with pytest.raises(InputError, match="map.lane_line_types"):
        MapLayer(m.centerlines, m.lane_lines, [], m.road_edges, m.crosswalks, m.drivable_area, "EXPLICIT")
    with pytest.raises(InputError, match="map.drivable_area"):
        MapLayer(m.centerlines, m.lane_lines, m.lane_line_types, m.road_edges, m.crosswalks,
                 shapely.Polygon(), "EXPLICIT")
    with pytest.raises(InputError, match="map.centerlines"):
        MapLayer([np.array([[0.0, 0.0]])], m.lane_lines, m.lane_line_types, m.road_edges, m.crosswalks,
                 m.drivable_area, "EXPLICIT")


def test_with_ego_switches_to_another_vehicle():
    scn = tiny_scenario(object_type=[ObjectType.VEHICLE, ObjectType.VEHICLE], length=np.full((2, 6), 4.0))
    assert scn.with_ego("p1").ego_track_id == "p1"
    with pytest.raises(InputError, match="no track"):
        scn.with_ego("nobody")
