"""The cell-grid point test (synth.point_in_polygon) answers exactly as shapely.contains_xy."""
import numpy as np
import shapely

from synth.config import SynthConfig
from synth.context import build_context
from synth.engine import SynthStats, choose_anchors
from synth.kinematics import Plans
from synth.labels import label_plans
from synth.point_in_polygon import PolygonIndex
from synth.sources import ProceduralSource

# a road with a hole (a traffic island), a rotated second road, and a dangling line from clipping
ROAD = shapely.Polygon([(0, 0), (100, 0), (100, 8), (0, 8)], holes=[[(40, 3), (60, 3), (60, 5), (40, 5)]])
ROTATED = shapely.affinity.rotate(shapely.box(120, -20, 126, 60), 23.0, origin=(123, 20))
AREA = shapely.union(ROAD, ROTATED)


def _points(geom, n, seed=0):
    lo, hi = np.array(shapely.bounds(geom)).reshape(2, 2)
    return np.random.default_rng(seed).uniform(lo - 5, hi + 5, (n, 2)).T


def test_random_points_agree_with_shapely_for_a_polygon_with_a_hole_and_a_multipolygon():
    for geom in (ROAD, AREA, shapely.buffer(AREA, -1.3, quad_segs=2)):
        x, y = _points(geom, 50_000)
        for cell in (1.0, 2.0, 7.0):   # 1.0 is MIN_CELL_M
            got = PolygonIndex.build(geom, cell).contains_xy(x, y)
            assert np.array_equal(got, shapely.contains_xy(geom, x, y)), (geom.geom_type, cell)


def test_points_on_the_boundary_are_not_contained_as_in_geos():
    idx = PolygonIndex.build(ROAD, 2.0)
    x = np.array([0.0, 50.0, 100.0, 40.0, 50.0, 50.0, 50.0])
    y = np.array([4.0, 0.0, 2.0, 4.0, 3.0, 2.999, 1.0])
    assert idx.contains_xy(x, y).tolist() == shapely.contains_xy(ROAD, x, y).tolist() == [
        False, False, False, False, False, True, True]


def test_empty_area_contains_nothing_and_shapes_are_kept():
    idx = PolygonIndex.build(shapely.Polygon())
    assert not idx.contains_xy(np.zeros((3, 4)), np.zeros((3, 4))).any()
    assert PolygonIndex.build(ROAD).contains_xy(np.full((2, 3), 10.0), np.full((2, 3), 1.0)).shape == (2, 3)


def test_collection_from_clipping_keeps_only_its_polygons_and_agrees():
    coll = shapely.GeometryCollection([ROAD, shapely.LineString([(100, 8), (110, 30)])])
    x, y = _points(coll, 20_000, seed=1)
    assert np.array_equal(PolygonIndex.build(coll).contains_xy(x, y), shapely.contains_xy(coll, x, y))


def test_labels_through_the_index_equal_labels_through_shapely_on_procedural_scenes():
    cfg = SynthConfig()
    rng = np.random.default_rng(0)
    for scn in ProceduralSource(count=3).read():
        ctx = build_context(scn, choose_anchors(scn, cfg, SynthStats())[0], cfg)
        lg = ctx.logged
        n, T = 64, lg.x.shape[1]
        drift = np.cumsum(rng.normal(0.0, 0.06, (n, T)), axis=1)  # plans wandering sideways off the road
        c, s = np.cos(lg.heading), np.sin(lg.heading)
        plans = Plans.from_states(lg.x - s * drift, lg.y + c * drift, np.repeat(lg.heading, n, 0),
                                  np.repeat(lg.speed, n, 0))
        slow = label_plans(plans, ctx.agents, ctx.drivable, None, ctx.dt, cfg.labels, ctx.drivable_inner,
                           length=ctx.ego_length, width=ctx.ego_width)
        fast = label_plans(plans, ctx.agents, ctx.drivable_index, None, ctx.dt, cfg.labels, ctx.drivable_inner_index,
                           length=ctx.ego_length, width=ctx.ego_width)
        assert slow.offroad.any() and not slow.offroad.all()
        assert np.array_equal(slow.offroad, fast.offroad)
        assert np.array_equal(np.nan_to_num(slow.offroad_time_s, nan=-1), np.nan_to_num(fast.offroad_time_s, nan=-1))
