import numpy as np
import pytest
import shapely
import torch

from critic.columns import MapCol, MapKind
from critic.interactions import Interactions, agent_paths, box_gap, constant_velocity_ends


def _box(cx, cy, h, half_l, half_w):
    c, s = np.cos(h), np.sin(h)
    return shapely.Polygon([(cx + c * x - s * y, cy + s * x + c * y)
                            for x, y in ((-half_l, -half_w), (half_l, -half_w), (half_l, half_w), (-half_l, half_w))])


def test_box_gap_is_positive_exactly_for_apart_boxes_and_never_exceeds_their_distance():
    rng = np.random.default_rng(0)
    n = 2000
    el, ew, al, aw = rng.uniform(0.3, 3.0, (4, n))
    rx, ry = rng.uniform(-8, 8, (2, n))
    h = rng.uniform(-np.pi, np.pi, n)
    t = lambda a: torch.tensor(a, dtype=torch.float64)  # noqa: E731
    gap = box_gap(t(rx), t(ry), t(np.cos(h)), t(np.sin(h)), (t(el), t(ew)), (t(al), t(aw))).numpy()
    ego = [_box(0, 0, 0, a, b) for a, b in zip(el, ew)]
    other = [_box(x, y, a, b, c) for x, y, a, b, c in zip(rx, ry, h, al, aw)]
    overlap = np.array([e.intersects(o) for e, o in zip(ego, other)])
    dist = np.array([e.distance(o) for e, o in zip(ego, other)])
    assert overlap.sum() > 100 and (~overlap).sum() > 100
    np.testing.assert_array_equal(gap <= 0, overlap)
    assert np.all(gap <= dist + 1e-9)
    # axis-aligned boxes side by side: the gap is their distance
    g = box_gap(torch.tensor(5.0), torch.tensor(0.0), torch.tensor(1.0), torch.tensor(0.0), (2.0, 1.0), (1.5, 1.0))
    assert abs(float(g) - 1.5) < 1e-6


def test_agent_geometry_finds_a_contact_between_step_ends():
    """An agent crossing the ego's path overlaps it only in the middle of a 0.5 s step: the
    step's gap is negative although both step ends are clear."""
    inter = Interactions(d=8, width=4, nearest=1, map_every=1)
    agents = torch.zeros(1, 2, 1, 13)
    mask = torch.ones(1, 2, 1, dtype=torch.bool)
    agents[0, 0, 0, [2, 6, 7]] = torch.tensor([1.0, 4.0, 2.0])          # ego 4 m x 2 m, heading 0
    # crossing agent 10 m ahead: at y = -6 m moving +y at 20 m/s; it passes y = 0 at t = 0.3 s
    agents[0, 1, 0, :8] = torch.tensor([10.0, -6.0, 0.0, 1.0, 0.0, 20.0, 4.0, 2.0])
    x = 10.0 * torch.ones(10)                                            # ego parked at x = 10 m
    states = torch.stack([x, torch.zeros(10), torch.ones(10), torch.zeros(10), torch.zeros(10)], -1).view(1, 1, 2, 5, 5)
    last = agents[:, 1:, -1]
    paths = agent_paths(constant_velocity_ends(last, 2, 5), last, mask[:, 1:, -1], 5)
    geo, gap, _ = inter.agent_geometry(agents, states, paths)
    assert gap.shape == (1, 1, 2, 1) and geo.shape == (1, 1, 2, 1, Interactions.AGENT_GEO)
    assert float(gap[0, 0, 0, 0]) < 0                                    # contact inside the first step
    at_end = box_gap(torch.tensor(0.0), torch.tensor(4.0), torch.tensor(0.0), torch.tensor(1.0), (2.0, 1.0), (2.0, 1.0))
    assert abs(float(at_end) - 1.0) < 1e-6                               # the step's end alone looks clear
    assert float(gap[0, 0, 1, 0]) > 0                                    # clear again in the second step
    assert abs(float(geo[0, 0, 0, 0, 1])) < 1e-6                         # closest sub-step: straight ahead (ry = 0)
    # padding agents never count
    geo, gap, _ = inter.agent_geometry(agents, states, paths._replace(valid=torch.tensor([[False]])))
    assert torch.all(gap >= 1e3)


def test_agent_paths_interpolate_between_step_ends_and_turn_the_box_with_the_motion():
    last = torch.zeros(1, 2, 13)
    last[0, :, 2] = 1.0                                   # both face +x
    last[0, 1, :2] = torch.tensor([5.0, 5.0])             # agent 1 stands still
    ends = torch.tensor([[[[0.0, 1.0], [0.0, 2.0]], [[5.0, 5.0], [5.0, 5.0]]]])   # agent 0 moves +y at 2 m/s
    p = agent_paths(ends, last, torch.ones(1, 2, dtype=torch.bool), stride=5)
    assert p.pos.shape == (1, 2, 2, 5, 2)
    torch.testing.assert_close(p.pos[0, 0, 0, :, 1], torch.tensor([0.2, 0.4, 0.6, 0.8, 1.0]))
    torch.testing.assert_close(p.pos[0, 0, 1, -1], torch.tensor([0.0, 2.0]))
    torch.testing.assert_close(p.vel[0, 0], torch.tensor([[0.0, 2.0], [0.0, 2.0]]))
    torch.testing.assert_close(p.head[0, 0, 0], torch.tensor([0.0, 1.0]))            # turned to its motion
    torch.testing.assert_close(p.head[0, 1, 0], torch.tensor([1.0, 0.0]))            # standing: observed heading
    # constant velocity ends: position + t * velocity at 0.5 s, 1.0 s
    last[0, 0, 4:6] = torch.tensor([2.0, -1.0])
    torch.testing.assert_close(constant_velocity_ends(last, 2, 5)[0, 0], torch.tensor([[1.0, -0.5], [2.0, -1.0]]))


def test_occupancy_prior_along_constant_velocity_paths_equals_the_rasterised_boxes():
    """Agents that move along their heading (or stand): the prior drawn along constant-velocity
    :class:`AgentPaths` equals the boxes rasterised by the dream targets' reference
    (:func:`critic.occupancy.agent_occupancy`), cell for cell; a forecast that stops an agent
    moves its box."""
    from critic.config import FeatureConfig
    from critic.model import OccupancyPrior
    from critic.occupancy import agent_occupancy

    fc = FeatureConfig()
    prior = OccupancyPrior(fc)
    gen = torch.Generator().manual_seed(0)
    B, A = 2, 5
    agents = torch.zeros(B, A + 1, 1, 13, dtype=torch.float64)
    h = torch.rand(B, A, generator=gen, dtype=torch.float64) * 6.28
    speed = torch.rand(B, A, generator=gen, dtype=torch.float64) * 10 + 2
    speed[:, 0] = 0.0                                                     # one standing agent per scene
    agents[:, 1:, 0, 0:2] = torch.rand(B, A, 2, generator=gen, dtype=torch.float64) * 40 - 10
    agents[:, 1:, 0, 2], agents[:, 1:, 0, 3] = torch.cos(h), torch.sin(h)
    agents[:, 1:, 0, 4], agents[:, 1:, 0, 5] = speed * torch.cos(h), speed * torch.sin(h)
    agents[:, 1:, 0, 6], agents[:, 1:, 0, 7] = 4.5, 2.0
    mask = torch.ones(B, A + 1, 1, dtype=torch.bool)
    drivable = torch.ones(B, 480, 320, dtype=torch.bool)
    t = torch.arange(1, 81, dtype=torch.float64) * 0.1
    plan = torch.stack([6 * t, 0 * t, 1 + 0 * t, 0 * t, 6 + 0 * t], -1).expand(B, 1, 80, 5)
    last = agents[:, 1:, -1]
    paths = agent_paths(constant_velocity_ends(last, 16, 5), last, mask[:, 1:, -1], 5)
    cv = prior(drivable, plan, paths)
    assert cv[:, :, :, 0].sum() > 0
    tk = np.arange(1, 9.0)                                                # occupancy frames at 1 s .. 8 s
    for b in range(B):
        f = last[b].numpy()
        ax, ay = f[:, 0:1] + tk * f[:, 4:5], f[:, 1:2] + tk * f[:, 5:6]    # [A, K]
        full = lambda v: np.broadcast_to(v, (A, 8))[None].copy()           # noqa: E731
        ref = agent_occupancy(6 * tk[None], 0 * tk[None], 0 * tk[None], ax[None], ay[None],
                              full(np.arctan2(f[:, 3:4], f[:, 2:3])), full(f[:, 6:7]), full(f[:, 7:8]),
                              np.ones((1, A, 8), bool), np.zeros(1, np.int64), fc.occ_size, fc.occ_cell_m)
        np.testing.assert_array_equal(cv[b, 0, :, 0].numpy().astype(np.uint8), ref[0])
    stopped = agent_paths(last[:, :, None, :2].expand(B, A, 16, 2).clone(), last, mask[:, 1:, -1], 5)
    assert not torch.equal(prior(drivable, plan, stopped), cv)


@pytest.mark.parametrize("cv_paths,event_prior", [(False, False), (True, False), (True, True)])
def test_imagination_steps_reproduce_the_whole_plan_rollout(cv_paths, event_prior):
    """:meth:`LatentDynamics.step` (imagination, one 0.5 s chunk at a time) gives the latents of
    :meth:`LatentDynamics.forward` on the whole plan, forecast paths and event indicators included (map
    geometry evaluated at every step: ``map_every`` 1)."""
    import dataclasses

    from pipelines.presets import preset
    from critic.model import build_model

    cfg = preset("debug").train
    cfg = dataclasses.replace(cfg, model=dataclasses.replace(cfg.model, map_every=1, diffusion=False, cv_paths=cv_paths,
                                                             event_prior=event_prior))
    torch.manual_seed(0)
    model = build_model(cfg).eval()
    for p in model.dynamics.forecaster.head[-1].parameters():          # a forecast that is not constant velocity
        torch.nn.init.normal_(p, std=0.3)
    fc = cfg.features
    B, P = 2, 3
    agents = torch.randn(B, 1 + fc.max_agents, fc.history_steps, 13) * 5
    agents[..., 6:8] = agents[..., 6:8].abs() + 1
    mask = torch.rand(B, 1 + fc.max_agents, fc.history_steps) > 0.2
    mask[:, 0] = True
    map_ = torch.randn(B, fc.max_polylines, fc.polyline_points, MapCol.COUNT) * 20
    map_[..., 2:] = torch.nn.functional.one_hot(torch.randint(0, MapKind.COUNT, map_.shape[:3]), MapKind.COUNT).float()
    map_mask = torch.ones(B, fc.max_polylines, fc.polyline_points, dtype=torch.bool)
    t = torch.arange(1, fc.plan_steps + 1) * 0.1
    plan = torch.stack([8 * t, 0.3 * t**2, torch.cos(0.05 * t), torch.sin(0.05 * t), 8 + 0 * t], -1).repeat(B, P, 1, 1)
    plan[:, 1, :, 0] *= 0.5
    dyn = model.dynamics
    with torch.no_grad():
        tokens, valid, ego = model.scene(agents, mask, map_, map_mask)
        nx = round((fc.raster_x[1] - fc.raster_x[0]) / fc.raster_cell_m)
        ny = round((fc.raster_y[1] - fc.raster_y[0]) / fc.raster_cell_m)
        drivable = torch.rand(B, nx, ny) > 0.1 if event_prior else None
        mem = dyn.memory(tokens, valid, agents, mask, map_, map_mask, drivable)
        whole, whole_ev = dyn(ego, mem, plan, agents, map_, map_mask)
        h, steps, evs = ego[:, None].expand(B, P, -1), [], []
        for j in range(dyn.total_steps):
            h, ev = dyn.step(h, plan[:, :, j * fc.dyn_stride:(j + 1) * fc.dyn_stride], j, mem, agents, map_, map_mask)
            steps.append(h)
            evs.append(ev)
    if event_prior:
        torch.testing.assert_close(torch.stack(evs, 2), whole_ev)
        assert whole_ev[..., 2].sum() > 0            # some planned corner lies in a non-drivable cell
    else:
        assert whole_ev is None and all(e is None for e in evs)
    A, K = fc.max_agents, cfg.model.forecast_modes
    assert mem.paths.pos.shape[1] == A * (K + int(cv_paths))
    cv = agent_paths(constant_velocity_ends(agents[:, 1:, -1], dyn.total_steps, fc.dyn_stride), agents[:, 1:, -1],
                     mask[:, 1:, -1], fc.dyn_stride)
    if cv_paths:    # the constant-velocity entries follow the modes, flagged, each agent's own path
        torch.testing.assert_close(mem.paths.pos[:, A * K:], cv.pos)
        assert mem.paths.prior[:, A * K:].eq(1).all() and mem.paths.prior[:, :A * K].eq(0).all()
        assert mem.paths.valid[:, A * K:].equal(cv.valid)
    assert (mem.likely.pos - cv.pos).abs().max() > 0.5
    torch.testing.assert_close(torch.stack(steps, 2), whole, atol=1e-5, rtol=1e-4)


def test_a_critic_trained_without_signals_ignores_signal_polylines_it_is_given():
    """The ablation (``FeatureConfig.signals`` False) scores a scene holding signal polylines exactly as the
    same scene with them removed; the critic with signals reads them (its scores change)."""
    import dataclasses

    from critic.model import build_model
    from critic.scene import SceneBatch
    from pipelines.presets import preset

    base = preset("debug").train
    base = dataclasses.replace(base, model=dataclasses.replace(base.model, diffusion=False))
    fc = base.features
    g = torch.Generator().manual_seed(1)
    B, P = 2, 3
    agents = torch.randn(B, 1 + fc.max_agents, fc.history_steps, 13, generator=g) * 5
    agents[..., 6:8] = agents[..., 6:8].abs() + 1
    amask = torch.ones(B, 1 + fc.max_agents, fc.history_steps, dtype=torch.bool)
    map_ = torch.zeros(B, fc.max_polylines, fc.polyline_points, MapCol.COUNT)
    map_[..., :2] = torch.randn(B, fc.max_polylines, fc.polyline_points, 2, generator=g) * 20
    kinds = torch.randint(0, MapKind.COUNT, (B, fc.max_polylines), generator=g)
    kinds[:, :3] = MapKind.SIGNAL_STOP                                  # at least three signal polylines
    map_[..., 2:] = torch.nn.functional.one_hot(kinds, MapKind.COUNT).float()[:, :, None]
    mmask = torch.ones(B, fc.max_polylines, fc.polyline_points, dtype=torch.bool)
    t = torch.arange(1, fc.plan_steps + 1) * 0.1
    plan = torch.stack([8 * t, 0.3 * t**2, torch.cos(0.05 * t), torch.sin(0.05 * t), 8 + 0 * t], -1).repeat(B, P, 1, 1)
    sig = (kinds >= MapKind.SIGNAL_START)[..., None]
    with_sig = SceneBatch(agents, amask, map_, mmask)
    removed = SceneBatch(agents, amask, map_ * ~sig[..., None], mmask & ~sig)
    out = {}
    for signals in (True, False):
        torch.manual_seed(0)
        model = build_model(dataclasses.replace(base, features=dataclasses.replace(fc, signals=signals))).eval()
        with torch.no_grad():
            out[signals] = [model(s, plan, occupancy=False)["hazard_logits"] for s in (with_sig, removed)]
    assert torch.allclose(out[False][0], out[False][1])
    assert not torch.allclose(out[True][0], out[True][1])
