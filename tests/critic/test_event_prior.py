"""The critic's exact event indicators (``model.event_prior``) against slow references: shapely's
polygon test of the ego's box corners for off-road, shapely's box intersection for contact."""
from __future__ import annotations

import numpy as np
import shapely
import torch

from critic.columns import AgentCol, MapCol
from critic.interactions import Interactions, RasterSpec, agent_paths, constant_velocity_ends
from synth.geometry import box_corners

SPEC = RasterSpec(-40.0, -80.0, 0.5)
NX, NY = 480, 320
STRIDE, STEPS = 5, 8      # 0.5 s steps over 4 s


def _raster(poly) -> torch.Tensor:
    """``[1, NX, NY]``: cell centres inside ``poly`` (the rule of ``critic.features.drivable_raster``)."""
    cx = SPEC.x0 + (np.arange(NX) + 0.5) * SPEC.cell_m
    cy = SPEC.y0 + (np.arange(NY) + 0.5) * SPEC.cell_m
    X, Y = np.meshgrid(cx, cy, indexing="ij")
    return torch.from_numpy(shapely.contains_xy(poly, X, Y))[None]


def _agents(rows) -> torch.Tensor:
    """``[1, len(rows), 1, COUNT]`` agent features from (x, y, heading, vx, vy, length, width) rows."""
    a = torch.zeros(1, len(rows), 1, AgentCol.COUNT)
    for i, (x, y, h, vx, vy, ln, w) in enumerate(rows):
        a[0, i, 0, :8] = torch.tensor([x, y, np.cos(h), np.sin(h), vx, vy, ln, w])
    return a


def _plan(x, y, h, v) -> torch.Tensor:
    """``[1, 1, STEPS, STRIDE, 5]`` plan states from arrays of ``STEPS * STRIDE`` poses."""
    st = np.stack([x, y, np.cos(h), np.sin(h), v], -1).astype(np.float32)
    return torch.from_numpy(st).view(1, 1, STEPS, STRIDE, 5)


def test_offroad_indicator_matches_the_exact_corner_test_away_from_the_edge():
    """A plan that drifts off a 7 m wide road and back: the raster indicator equals shapely's test of the
    four box corners at every step whose corners all lie more than one raster cell from the road edge,
    and the share of corners off is 0 where no corner is off."""
    road = shapely.box(-40, -3.5, 200, 3.5)
    t = np.arange(1, STEPS * STRIDE + 1) * 0.1
    x, y = 10.0 * t, 7.0 * np.clip(np.sin(np.pi * (t - 1.0) / 2.5), 0, None)   # up to 7 m left of the centre line
    h = np.arctan2(np.gradient(y), np.gradient(x))
    inter = Interactions(8, 8, 2, 1, prior_flag=True, raster=SPEC)
    ego = _agents([(0, 0, 0, 10, 0, 4.6, 1.9)])
    ev = inter.offroad(ego, _plan(x, y, h, 10 + 0 * t), _raster(road))[0, 0].numpy()     # [STEPS, 2]
    corners = box_corners(x, y, h, 4.6, 1.9)                                          # [T, 4, 2]
    off = ~shapely.contains_xy(road, corners[..., 0], corners[..., 1])                # [T, 4]
    edge = shapely.distance(road.exterior, shapely.points(corners)).reshape(off.shape)
    far = edge > SPEC.cell_m * 1.5                    # a corner the raster's cells cannot misplace
    ref = off.reshape(STEPS, -1).any(-1)
    clear = np.where(ref, (off & far).reshape(STEPS, -1).any(-1), far.reshape(STEPS, -1).all(-1))
    assert ref[clear].any() and (~ref[clear]).any() and clear.sum() >= STEPS // 2
    np.testing.assert_array_equal(ev[clear, 0].astype(bool), ref[clear])
    assert np.all(ev[ev[:, 0] == 0, 1] == 0) and np.all(ev[ev[:, 0] == 1, 1] > 0)


def test_contact_indicator_matches_box_intersection_and_ignores_contacts_from_behind():
    """The ego drives at 10 m/s toward a car standing 25 m ahead, and a car 12 m behind closes at 2 m/s:
    the contact indicator is 1 at the steps where shapely's boxes intersect a car whose centre is ahead of the
    ego's rear bumper (at any 0.1 s state of the step), the one from behind where they intersect a car whose
    centre is behind it (the car from behind, and the standing car once the plan has driven through it)."""
    t = np.arange(1, STEPS * STRIDE + 1) * 0.1
    x = 10.0 * t
    plan = _plan(x, 0 * t, 0 * t, 10 + 0 * t)
    agents = _agents([(0, 0, 0, 10, 0, 4.6, 1.9), (25, 0.5, 0.1, 0, 0, 4.4, 1.8), (-12, 0, 0, 12, 0, 4.4, 1.8)])
    last = agents[:, 1:, -1]
    valid = torch.ones(1, 2, dtype=torch.bool)
    paths = agent_paths(constant_velocity_ends(last, STEPS, STRIDE), last, valid, STRIDE)
    paths = paths._replace(prior=torch.ones_like(paths.prob))
    inter = Interactions(8, 8, 2, 1, prior_flag=True, raster=SPEC)
    _, contact = inter.agents(agents, plan, paths)
    ev = inter.events(contact, agents, plan, _raster(shapely.box(-100, -50, 300, 50)))[0, 0].numpy()
    ego = shapely.polygons(box_corners(x, 0 * t, 0 * t, 4.6, 1.9))
    ahead = shapely.polygons(box_corners(25 + 0 * t, 0.5, 0.1, 4.4, 1.8))
    behind = shapely.polygons(box_corners(-12 + 12 * t, 0 * t, 0 * t, 4.4, 1.8))
    back_a, back_b = 25 - x < -2.3, -12 + 12 * t - x < -2.3          # the centre behind the ego's rear bumper
    ref = (shapely.intersects(ego, ahead) & ~back_a).reshape(STEPS, STRIDE).any(-1)
    hit = ((shapely.intersects(ego, behind) & back_b) | (shapely.intersects(ego, ahead) & back_a)
           ).reshape(STEPS, STRIDE).any(-1)
    assert ref.any() and (~ref).any() and hit[-1] and not hit[:5].any()
    np.testing.assert_array_equal(ev[:, 0].astype(bool), ref)
    np.testing.assert_array_equal(ev[:, 1].astype(bool), hit)
    assert np.all(ev[ref, 2] == 1) and np.all(ev[~ref, 2] < 1)
    assert np.all(ev[:, 3:] == 0)                       # all on the road


def test_a_model_with_event_indicators_refuses_a_scene_without_a_drivable_raster():
    """Scoring such a critic on a scene without ``drivable`` is a clear error, not zeros."""
    import dataclasses

    import pytest

    from critic.model import build_model
    from critic.scene import SceneBatch
    from pipelines.presets import preset

    cfg = preset("debug").train
    cfg = dataclasses.replace(cfg, model=dataclasses.replace(cfg.model, diffusion=False, cv_paths=True,
                                                             event_prior=True))
    model = build_model(cfg).eval()
    fc = cfg.features
    scenes = SceneBatch(torch.zeros(1, 1 + fc.max_agents, fc.history_steps, AgentCol.COUNT),
                        torch.ones(1, 1 + fc.max_agents, fc.history_steps, dtype=torch.bool),
                        torch.zeros(1, fc.max_polylines, fc.polyline_points, MapCol.COUNT),
                        torch.ones(1, fc.max_polylines, fc.polyline_points, dtype=torch.bool))
    with pytest.raises(ValueError, match="drivable raster"):
        model(scenes, torch.zeros(1, 2, fc.plan_steps, 5), occupancy=False)
