import numpy as np
import shapely

from synth.geometry import box_corners, box_polygons, boxes_overlap


def test_box_corners_of_an_axis_aligned_box():
    c = box_corners(1.0, 2.0, 0.0, 4.0, 2.0)
    assert np.allclose(c, [[3, 3], [3, 1], [-1, 1], [-1, 3]])


def test_separating_axis_overlap_agrees_with_shapely_on_random_boxes():
    rng = np.random.default_rng(0)
    n = 4000
    a = [rng.uniform(-5, 5, n), rng.uniform(-5, 5, n), rng.uniform(-np.pi, np.pi, n), rng.uniform(0.5, 6, n), rng.uniform(0.5, 3, n)]
    b = [rng.uniform(-5, 5, n), rng.uniform(-5, 5, n), rng.uniform(-np.pi, np.pi, n), rng.uniform(0.5, 6, n), rng.uniform(0.5, 3, n)]
    fast = boxes_overlap(box_corners(*a), box_corners(*b))
    slow = shapely.intersects(box_polygons(*a), box_polygons(*b))
    assert fast.mean() > 0.1 and (fast == slow).mean() == 1.0


def test_compiled_closed_form_obb_overlap_matches_the_corner_test():
    from synth.kernels import obb_overlap1

    rng = np.random.default_rng(1)
    n = 20000
    a = [rng.uniform(-5, 5, n), rng.uniform(-5, 5, n), rng.uniform(-np.pi, np.pi, n), rng.uniform(0.4, 12, n), rng.uniform(0.4, 3, n)]
    b = [rng.uniform(-5, 5, n), rng.uniform(-5, 5, n), rng.uniform(-np.pi, np.pi, n), rng.uniform(0.4, 12, n), rng.uniform(0.4, 3, n)]
    fast = np.array([obb_overlap1(*(v[i] for v in a), *(v[i] for v in b)) for i in range(n)])
    assert (fast == boxes_overlap(box_corners(*a), box_corners(*b))).all() and 0.1 < fast.mean() < 0.9
