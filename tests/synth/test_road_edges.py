"""Off-road where a source has road edges but no drivable polygon (Waymo through ScenarioNet)."""
import numpy as np
import shapely

from synth.sources import ScenarioNetSource
from synth.sources.common import EDGE_REACH_M, derive_drivable_area, drivable_from_road_edges
from tests.fixtures.builders import scenarionet_dict, write_pickle

LANES = [np.array([[0.0, -1.75], [100.0, -1.75]]), np.array([[100.0, 1.75], [0.0, 1.75]])]
EDGES = [np.array([[0.0, -6.0], [100.0, -6.0]]), np.array([[100.0, 6.0], [0.0, 6.0]])]   # 2.5 m shoulders


def test_the_road_reaches_its_edges_so_a_car_on_the_shoulder_is_on_the_road():
    da = drivable_from_road_edges(LANES, EDGES, half_width=1.9)
    only_lanes = derive_drivable_area([], LANES, 1.9)
    assert shapely.contains_xy(da, 50.0, -5.5) and not shapely.contains_xy(only_lanes, 50.0, -5.5)
    assert not shapely.contains_xy(da, 50.0, -6.5) and not shapely.contains_xy(da, 50.0, 6.5)   # beyond the curb
    assert abs(shapely.intersection(da, shapely.box(0, -10, 100, 10)).area - 100.0 * 12.0) < 1.0   # ends: lane caps


def test_a_cross_section_stops_at_a_median_edge():
    median = [np.array([[0.0, 0.5], [100.0, 0.5]])]
    da = drivable_from_road_edges(LANES[:1], EDGES[:1] + median, half_width=1.9)
    assert shapely.contains_xy(da, 50.0, 0.3) and not shapely.contains_xy(da, 50.0, 1.0)


def test_where_no_edge_is_within_reach_the_lane_buffer_decides():
    far = [np.array([[0.0, -1.75 - EDGE_REACH_M - 5], [100.0, -1.75 - EDGE_REACH_M - 5]])]
    da = drivable_from_road_edges(LANES[:1], far, half_width=1.9)
    assert abs(da.area - derive_drivable_area([], LANES[:1], 1.9).area) < 1.0


def test_a_waymo_style_scene_records_that_its_drivable_area_comes_from_road_edges(tmp_path):
    d = scenarionet_dict()
    d["metadata"]["dataset"] = "waymo"
    d["map_features"]["lane_0"].pop("polygon")
    for i, e in enumerate(EDGES):
        d["map_features"][f"edge_{i}"] = {"type": "ROAD_EDGE_BOUNDARY", "polyline": np.c_[e, np.zeros(2)]}
    scn = next(ScenarioNetSource().read(write_pickle(tmp_path / "w.pkl", d)))
    assert scn.map.drivable_area_source.name == "ROAD_EDGES"
    assert shapely.contains_xy(scn.map.drivable_area, 50.0, -5.5)
