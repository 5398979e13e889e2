import numpy as np
import pytest
import shapely

from pipelines.inspect_scenes import ego_inside_fraction
from schemas import LineType, ObjectType
from synth.geometry import box_corners, boxes_overlap
from synth.sources import ProceduralConfig, ProceduralSource


@pytest.fixture(scope="module")
def scenes():
    return list(ProceduralSource(ProceduralConfig(seed=7), count=40).read())


def test_same_seed_gives_identical_scenarios():
    a = ProceduralSource(ProceduralConfig(seed=3), count=2).read()
    b = ProceduralSource(ProceduralConfig(seed=3), count=2).read()
    assert all(x.equals(y) for x, y in zip(a, b))


def test_different_seeds_give_different_scenarios():
    a = next(ProceduralSource(ProceduralConfig(seed=1), count=1).read())
    b = next(ProceduralSource(ProceduralConfig(seed=2), count=1).read())
    assert not a.equals(b)


def test_scenes_vary_in_layout_markings_and_agent_types(scenes):
    names = {s.map_name for s in scenes}
    assert names == {"procedural-road", "procedural-junction"}
    types = set().union(*(s.map.lane_line_types for s in scenes))
    assert {LineType.SOLID, LineType.DOUBLE_SOLID, LineType.BROKEN} <= types
    agents = np.sum([np.bincount(s.object_type, minlength=4) for s in scenes], axis=0)
    assert (agents > 0).all(), agents
    assert sum(len(s.map.crosswalks) > 0 for s in scenes) >= 5
    lanes = {len(s.map.centerlines) for s in scenes}
    assert len(lanes) >= 4
    headings = [s.heading[s.ego_index, 0] for s in scenes]
    assert np.std(headings) > 1.0  # scenes are rotated, not all facing +x


def test_ego_is_valid_throughout_and_stays_on_the_drivable_area(scenes):
    for s in scenes:
        assert s.valid[s.ego_index].all()
        assert ego_inside_fraction(s) == 1.0


def test_logged_traffic_never_overlaps(scenes):
    for s in scenes:
        c = box_corners(s.x, s.y, s.heading, s.length, s.width)
        for i in range(s.num_agents):
            near = np.hypot(s.x - s.x[i], s.y - s.y[i]) < 15.0
            near[: i + 1] = False
            for j in np.flatnonzero(np.nan_to_num(near, nan=0).any(axis=1)):
                f = s.valid[i] & s.valid[j]
                assert not boxes_overlap(c[i, f], c[j, f]).any(), (s.scenario_id, i, j)


def test_ego_speed_and_heading_match_its_positions(scenes):
    for s in scenes:
        e = s.ego_index
        vx_fd = np.gradient(s.x[e], s.dt)
        vy_fd = np.gradient(s.y[e], s.dt)
        assert np.abs(vx_fd[1:-1] - s.vx[e, 1:-1]).max() < 0.6, s.scenario_id
        assert np.abs(vy_fd[1:-1] - s.vy[e, 1:-1]).max() < 0.6, s.scenario_id
        moving = np.hypot(s.vx[e], s.vy[e]) > 1.0
        course = np.arctan2(s.vy[e], s.vx[e])
        err = np.angle(np.exp(1j * (course - s.heading[e])))
        assert np.abs(err[moving]).max() < 1e-6


def test_bad_config_is_refused():
    with pytest.raises(ValueError, match="junction_prob"):
        ProceduralConfig(junction_prob=1.5)
    with pytest.raises(ValueError, match="lane_width_m"):
        ProceduralConfig(lane_width_m=(4.0, 3.0))


def test_fork_redraws_hidden_schedules_only_from_their_prior_after_the_fork():
    from synth.sources.procedural.scene import SWITCH_S, _redrawn_switch, _Retime

    rng = np.random.default_rng(0)
    assert _redrawn_switch(3.0, 4.0, rng) == 3.0            # already switched: visible, kept
    draws = np.array([_redrawn_switch(8.5, 4.0, rng) for _ in range(2000)])
    timed = draws[np.isfinite(draws)]
    assert timed.min() >= 4.0 and timed.max() <= SWITCH_S[1]
    # P(no switch | none by 4 s) = 0.4 / (0.4 + 0.6 * 5 / 7) = 0.483
    assert abs(np.isinf(draws).mean() - 0.4 / (0.4 + 0.6 * 5 / 7)) < 0.04
    rt = _Retime(2.0, [(0.0, 11.0), (0.0, 4.0)], rng, 1.5)
    assert rt.due(3.5) and not rt.due(3.6)
    starts = [rt.start(0, 6.0, False) for _ in range(200)]
    assert min(starts) >= 2.0 + 1.5 and max(starts) <= 10.0   # after the crosswalk reservation, inside the window
    assert rt.start(1, 6.0, False) == np.inf                   # no room left in the window: never crosses
