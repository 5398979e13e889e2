"""Pseudo-simulation, PerlAD reward values on hand-built cases, PDMS pieces, Gymnasium env,
decision plans (hold / fallback / policy continuation) and the DAgger expert."""
import dataclasses

import numpy as np
import pytest
import shapely

from benchmark.closed_loop import comfort_ok, obb_overlap
from critic.rl.config import RefineConfig, RewardConfig
from critic.rl.rewards import critic_reward, expected_event_penalty, perlad_reward
from schemas import MapLayer, ObjectType, Scenario
from synth.config import SimConfig, SynthConfig
from synth.context import build_context
from synth.kernels import obb_overlap1
from synth.sim import EgoState, Episode, Events, simulate

RC = RewardConfig(gamma=1.0, distance=0.0, progress=0.0)


def _events(T=11, coll=-1, ctype=-1, off=-1, solid=(), double=(), fault=True):
    s, d = np.zeros((1, T - 1), bool), np.zeros((1, T - 1), bool)
    for k in solid:
        s[0, k - 1] = True
    for k in double:
        d[0, k - 1] = True
    return Events(np.array([coll]), np.array([ctype]), np.array([0 if coll >= 0 else -1]), np.array([5.0]),
                  np.array([coll >= 0 and fault]),
                  np.array([off]), s, d, np.zeros((1, T)), np.array([10.0]), np.zeros((1, T)))


@pytest.mark.parametrize("kind,value", [(ObjectType.VEHICLE, -30.0), (ObjectType.PEDESTRIAN, -50.0),
                                        (ObjectType.CYCLIST, -50.0), (ObjectType.STATIC, -10.0)])
def test_collision_penalty_reproduces_the_perlad_value_per_object_type(kind, value):
    assert perlad_reward(_events(coll=4, ctype=int(kind)), RC)["total"][0] == value


def test_line_crossings_cost_30_for_double_solid_and_10_for_solid():
    r = perlad_reward(_events(solid=(2, 7), double=(5,)), RC)
    assert r["lane"][0] == -50.0 and r["total"][0] == -50.0


def test_a_collision_ends_the_episode_so_later_crossings_are_not_charged():
    r = perlad_reward(_events(coll=3, ctype=int(ObjectType.VEHICLE), double=(5,)), RC)
    assert r["total"][0] == -30.0


def test_a_contact_the_ego_is_not_at_fault_for_costs_nothing_and_does_not_end_the_episode():
    r = perlad_reward(_events(coll=3, ctype=int(ObjectType.VEHICLE), double=(5,), fault=False), RC)
    assert r["collision"][0] == 0.0 and r["total"][0] == -30.0    # the later double-solid crossing still counts


def test_being_rear_ended_by_a_replayed_follower_is_not_at_fault():
    from synth.sim import events
    scn = _road_scenario(None)
    ep = road_episode(None)
    follower = dict(x=scn.x[0] - 12.0 + 1.5 * np.arange(scn.num_frames) * 0.1)  # faster car behind
    from synth.labels import AgentFutures
    T = ep.ctx.steps + 1
    fx = follower["x"][ep.ctx.anchor: ep.ctx.anchor + T]
    ag = AgentFutures(fx[None, None], np.full((1, 1, T), -1.75), np.zeros((1, 1, T)), np.full((1, 1, T), 11.5),
                      np.zeros((1, 1, T)), np.full((1, 1, T), 4.5), np.full((1, 1, T), 1.9), np.ones((1, 1, T), bool),
                      object_type=np.array([int(ObjectType.VEHICLE)]))
    ep2 = Episode.build(ep.ctx, ag, "follower")
    traj, _ = simulate(ep2, EgoState.at_anchor(ep2), np.array([10.0]), 80, SimConfig())
    ev = events(ep2, traj, 0)
    assert ev.collision_step[0] > 0 and not ev.at_fault[0]


def test_discount_distance_and_progress_terms():
    rc = RewardConfig(gamma=0.9, distance=0.5, progress=1.0)
    ev = _events(T=3)
    ev = Events(**{**ev.__dict__, "log_distance": np.array([[0.0, 2.0, 4.0]]), "along": np.array([[0.0, 3.0, 5.0]])})
    r = perlad_reward(ev, rc)
    assert r["distance"][0] == pytest.approx(-0.5 * 2.0 - 0.9 * 0.5 * 4.0)
    assert r["progress"][0] == pytest.approx(0.9 * 0.5)   # 5 m of the logged 10 m, at the last step


def test_expected_event_penalty_matches_the_first_event_distribution():
    hz = np.array([0.1, 0.5, 0.2, 0.9])
    first = [0.1, 0.9 * 0.5, 0.9 * 0.5 * 0.2, 0.9 * 0.5 * 0.8 * 0.9]
    want = sum(-30.0 * p * 0.99 ** ((j + 1) * 5 - 1) for j, p in enumerate(first[:3]))   # 3 steps within 15 frames
    import torch
    got = expected_event_penalty(torch.tensor(hz), -30.0, 5, 15, 0.99)
    assert float(got) == pytest.approx(want, rel=1e-5)
    h2 = torch.zeros(1, 4, 2)
    assert float(critic_reward(h2, torch.tensor([1.5]), RewardConfig(), 5, 20)[0]) == pytest.approx(1.5)


def _road_scenario(lead_x: float | None = 60.0, T: int = 100):
    m = MapLayer(centerlines=[np.array([[0.0, -1.75], [400.0, -1.75]])], lane_lines=[np.array([[0.0, 0.0], [400.0, 0.0]])],
                 lane_line_types=["DOUBLE_SOLID"], road_edges=[np.array([[0.0, -3.5], [400.0, -3.5]])],
                 crosswalks=[], drivable_area=shapely.box(0.0, -3.5, 400.0, 3.5), drivable_area_source="EXPLICIT")
    t = np.arange(T) * 0.1
    ex = 10.0 + 10.0 * t
    tracks = [("ego", ObjectType.VEHICLE, ex, 10.0, 4.5, 1.9)]
    if lead_x is not None:
        tracks.append(("lead", ObjectType.VEHICLE, np.full(T, lead_x), 0.0, 4.5, 1.9))
    n = len(tracks)
    return Scenario(scenario_id="road", source="test", map_name="unit", dt=0.1, track_id=[k[0] for k in tracks],
                    object_type=[k[1] for k in tracks], size_imputed=[False] * n, x=np.stack([k[2] for k in tracks]),
                    y=np.full((n, T), -1.75), heading=np.zeros((n, T)), vx=np.stack([np.full(T, k[3]) for k in tracks]),
                    vy=np.zeros((n, T)), length=np.stack([np.full(T, k[4]) for k in tracks]),
                    width=np.stack([np.full(T, k[5]) for k in tracks]), valid=np.ones((n, T), bool), ego_index=0, map=m)


def road_episode(lead_x: float | None = 60.0) -> Episode:
    return Episode.build(build_context(_road_scenario(lead_x), 11, SynthConfig()))


def test_pid_tracking_holds_the_lane_and_reaches_the_target_speed():
    ep = road_episode(None)
    traj, _ = simulate(ep, EgoState.at_anchor(ep, 3), np.array([5.0, 10.0, 15.0]), 80, SimConfig())
    assert np.abs(traj.speed[:, -1] - [5.0, 10.0, 15.0]).max() < 0.3
    assert np.abs(traj.y + 1.75).max() < 0.05


def test_a_fast_plan_into_a_parked_car_collides_and_a_stopping_plan_does_not():
    from synth.sim import events
    ep = road_episode(60.0)
    traj, _ = simulate(ep, EgoState.at_anchor(ep, 2), np.array([0.0, 15.0]), 60, SimConfig())
    ev = events(ep, traj, 0)
    assert ev.collision_step[0] == -1 and ev.collision_step[1] > 0
    assert int(ev.collision_type[1]) == ObjectType.VEHICLE
    r = perlad_reward(ev, RewardConfig())
    assert r["collision"][1] < -20 and r["collision"][0] == 0.0


def test_simulation_continues_exactly_across_calls():
    ep = road_episode(None)
    sc = SimConfig()
    whole, _ = simulate(ep, EgoState.at_anchor(ep), np.array([12.0]), 20, sc)
    a, st = simulate(ep, EgoState.at_anchor(ep), np.array([12.0]), 10, sc)
    b, _ = simulate(ep, st, np.array([12.0]), 10, sc)
    assert np.allclose(whole.x[0, 10:], b.x[0]) and np.allclose(whole.speed[0, :11], a.speed[0])


def _simulate_reference(path, normals, state, target, steps, cfg):
    """The tracking loop as plain numpy over candidates (the slow reference of synth.tracking.track)."""
    wrap = lambda a: (a + np.pi) % (2 * np.pi) - np.pi  # noqa: E731
    path_h = np.arctan2(-normals[:, 0], normals[:, 1])
    x, y, h, v, a, st = (getattr(state.current, k)[:, 0].astype(float).copy()
                         for k in ("x", "y", "heading", "speed", "accel", "steer"))
    li, le, si, idx = state.lat_int.copy(), state.lat_err.copy(), state.spd_int.copy(), state.path_idx.copy()
    h_dt, (kp, ki, _), (lp, lii, ld), lim = cfg.dt / cfg.substeps, cfg.speed_pid, cfg.lateral_pid, cfg.limits
    out = [np.stack([x, y, h, v, a, st])]
    win, M = np.arange(-4, 16), len(path)
    for _k in range(steps):
        for _ in range(cfg.substeps):
            cand = np.clip(idx[:, None] + win[None], 0, M - 1)
            idx = cand[np.arange(len(x)), ((path[cand, 0] - x[:, None]) ** 2 + (path[cand, 1] - y[:, None]) ** 2).argmin(1)]
            e = (x - path[idx, 0]) * normals[idx, 0] + (y - path[idx, 1]) * normals[idx, 1]
            li = np.clip(li + e * h_dt, -5.0, 5.0)
            de, le = (e - le) / h_dt, e
            want = np.clip(cfg.heading_gain * wrap(path_h[idx] - h) - (lp * e + lii * li + ld * de), -lim.max_steer,
                           lim.max_steer)
            st = st + np.clip(want - st, -lim.max_steer_rate * h_dt, lim.max_steer_rate * h_dt)
            err = target - v
            si = np.clip(si + err * h_dt, -10.0, 10.0)
            a_cmd = np.clip(kp * err + ki * si, -lim.max_decel, lim.max_accel)
            jerk = np.where(a_cmd < -cfg.comfort_decel, lim.max_jerk, cfg.comfort_jerk) * h_dt
            a = a + np.clip(a_cmd - a, -jerk, jerk)
            a = np.where((v <= 0.0) & (a < 0.0), 0.0, a)
            x, y, h = x + v * np.cos(h) * h_dt, y + v * np.sin(h) * h_dt, h + v * np.tan(st) / lim.wheelbase * h_dt
            v = np.maximum(v + a * h_dt, 0.0)
        out.append(np.stack([x, y, h, v, a, st]))
    return np.stack(out, -1), (li, le, si, idx)


def test_compiled_tracking_matches_the_numpy_reference_on_curved_procedural_paths():
    from synth.sources import ProceduralSource
    from synth.engine import SynthStats, choose_anchors
    cfg, sc = SynthConfig(), SimConfig()
    rng = np.random.default_rng(3)
    for scn in ProceduralSource(count=3).read():
        ep = Episode.build(build_context(scn, choose_anchors(scn, cfg, SynthStats())[0], cfg))
        n = 6
        st0 = EgoState.at_anchor(ep, n)
        cur = st0.current   # start the candidates off the path, turned and at different speeds and accelerations
        jitter = _jittered(cur, rng)
        st0 = dataclasses.replace(st0, current=jitter, lat_int=rng.normal(0, 0.5, n), spd_int=rng.normal(0, 1, n))
        target = rng.uniform(0.0, 20.0, n)
        got, end = simulate(ep, st0, target, 40, sc)
        ref, (li, le, si, idx) = _simulate_reference(ep.ctx.path, ep.ctx.path_normals, st0, target, 40, sc)
        for j, k in enumerate(("x", "y", "heading", "speed", "accel", "steer")):
            assert np.allclose(getattr(got, k), ref[j], rtol=0, atol=1e-9), k
        assert np.allclose(end.lat_int, li, atol=1e-9) and np.array_equal(end.path_idx, idx)
        assert np.allclose(end.spd_int, si, atol=1e-9) and np.allclose(end.lat_err, le, atol=1e-9)


def _jittered(cur, rng):
    from synth.kinematics import Plans
    n = cur.x.shape[0]
    return Plans(cur.x + rng.normal(0, 1.0, (n, 1)), cur.y + rng.normal(0, 1.0, (n, 1)),
                 cur.heading + rng.normal(0, 0.2, (n, 1)), np.abs(cur.speed + rng.normal(0, 3.0, (n, 1))),
                 rng.normal(0, 1.0, (n, 1)), rng.normal(0, 0.05, (n, 1)))


def test_vectorised_box_overlap_agrees_with_the_compiled_scalar_test():
    rng = np.random.default_rng(0)
    a = rng.uniform([-5, -5, -3, 1, 1], [5, 5, 3, 6, 3], (400, 5))
    b = rng.uniform([-5, -5, -3, 1, 1], [5, 5, 3, 6, 3], (400, 5))
    fast = obb_overlap(*a.T, *b.T)
    slow = np.array([obb_overlap1(*x, *y) for x, y in zip(a, b)])
    assert (fast == slow).all() and 0 < fast.sum() < 400


def test_comfort_fails_on_harsh_braking_and_passes_on_cruise():
    T = 41
    h = np.zeros(T)
    assert comfort_ok(np.full(T, 10.0), np.zeros(T), h, 0.1)
    acc = np.where(np.arange(T) > 10, -6.0, 0.0)
    assert not comfort_ok(np.full(T, 10.0), acc, h, 0.1)


def test_gymnasium_env_passes_the_checker_and_ends_on_collision():
    from gymnasium.utils.env_checker import check_env

    from critic.rl.env import PseudoSimEnv
    env = PseudoSimEnv([road_episode(60.0)])
    check_env(env, skip_render_check=True)
    env.reset(seed=0)
    fast = env.action_space.n - 1
    for _ in range(8):
        _, r, term, trunc, info = env.step(fast)
        if term or trunc:
            break
    assert term and -30.0 <= info["collision"] < -15.0   # the vehicle value, discounted to the contact step


def test_fallback_safety_plan_holds_the_speed_one_replanning_interval_then_stops():
    from critic.rl.rollout import candidate_trajectories
    ep = road_episode(None)
    rc = RefineConfig()
    rc = dataclasses.replace(rc, sim=dataclasses.replace(rc.sim, decision_value="fallback"))
    held, safe = candidate_trajectories(ep, EgoState.at_anchor(ep), 0, rc)
    k = rc.sim.replan_steps
    assert np.allclose(held.x[:, :k + 1], safe.x[:, :k + 1]) and np.allclose(held.speed[:, :k + 1], safe.speed[:, :k + 1])
    assert safe.speed[:, -1].max() < 0.05 and held.speed[-1, -1] > 19.0
    hold = dataclasses.replace(rc, sim=dataclasses.replace(rc.sim, decision_value="hold"))
    h2, s2 = candidate_trajectories(ep, EgoState.at_anchor(ep), 0, hold)
    assert np.array_equal(h2.x, s2.x)


def test_a_fast_speed_that_can_still_stop_is_safe_under_fallback_but_not_when_held():
    from critic.rl.rollout import evaluate_speeds
    ep = road_episode(60.0)
    rc = RefineConfig()
    rc = dataclasses.replace(rc, sim=dataclasses.replace(rc.sim, decision_value="fallback"))
    hold = dataclasses.replace(rc, sim=dataclasses.replace(rc.sim, decision_value="hold", reward_steps=60))
    pose = np.array(ep.ctx.anchor_state[:3])
    fb_true, fb_geo, _, _ = evaluate_speeds(ep, EgoState.at_anchor(ep), 0, rc, pose)
    h_true, h_geo, _, _ = evaluate_speeds(ep, EgoState.at_anchor(ep), 0, hold, pose)
    fast = 15
    assert h_true[fast] - h_geo[fast] < -20          # held at 15 m/s for 6 s it hits the parked car
    assert fb_true[fast] == fb_geo[fast]             # braking after 0.5 s stops in time
    near = road_episode(40.0)                         # 14.5 m gap at 10 m/s: only braking now is safe
    n_true, n_geo, _, _ = evaluate_speeds(near, EgoState.at_anchor(near), 0, rc, pose)
    assert np.all(n_true[:5] == n_geo[:5]) and np.all((n_true - n_geo)[12:] < -20)


def test_dagger_expert_speed_closes_the_gap_to_the_logged_position():
    from critic.rl.rollout import expert_speed
    ep = road_episode(None)                     # logged ego: 10 m/s along y = -1.75
    rc = RefineConfig()                         # gap closed in 2 s
    s0 = float(ep.ctx.project(np.array([21.0]), np.array([-1.75]))[0][0])
    assert expert_speed(ep, 0, s0, rc) == pytest.approx(10.0, abs=0.01)
    assert expert_speed(ep, 0, s0 + 4.0, rc) == pytest.approx(8.0, abs=0.01)     # 4 m ahead: slow by 2 m/s
    assert expert_speed(ep, 0, s0 - 6.0, rc) == pytest.approx(13.0, abs=0.01)
    assert expert_speed(ep, 0, s0 + 100.0, rc) == 0.0                            # never a negative speed


def test_policy_continuation_with_an_always_stop_policy_equals_the_fallback_plan():
    from critic.config import FeatureConfig
    from critic.rl.observe import Observer
    from critic.rl.rollout import candidate_trajectories, start_trajectory
    ep = road_episode(60.0)
    rc = RefineConfig()
    st = EgoState.at_anchor(ep)
    seen = []
    stop = lambda obs: seen.append(obs) or 0                                            # noqa: E731
    cont, cont2 = candidate_trajectories(ep, st, 0, rc, continuation=(Observer(ep, FeatureConfig()),
                                                                       start_trajectory(st), stop))
    fb = dataclasses.replace(rc, sim=dataclasses.replace(rc.sim, decision_value="fallback"))
    _, ref = candidate_trajectories(ep, st, 0, fb)
    assert cont is cont2 and cont.x.shape == ref.x.shape == (21, 81)
    assert np.allclose(cont.x, ref.x) and np.allclose(cont.speed, ref.speed)
    assert len(seen) == 21 * (rc.sim.safety_steps // rc.sim.replan_steps - 1)      # one decision per candidate per 0.5 s
    assert len({round(float(o[3]), 4) for o in seen}) > 1 and all(o[2] == 1.0 for o in seen)   # each sees its own lead gap


def _lead_brakes_after(ep: Episode, frame: int, decel: float = 6.0) -> Episode:
    """``ep`` with its lead (agent 0) moving at 8 m/s and braking to a stop from episode frame ``frame``."""
    ag = ep.agents
    T = ag.x.shape[-1]
    t = np.clip(np.arange(T) - frame, 0, None) * 0.1
    v = np.where(np.arange(T) < frame, 8.0, np.maximum(8.0 - decel * t, 0.0))
    x = ag.x[0, 0, 0] + np.concatenate([[0.0], np.cumsum(v[:-1] * 0.1)])
    fut = dataclasses.replace(ag, x=ag.x.copy(), vx=ag.vx.copy())
    fut.x[0, 0], fut.vx[0, 0] = x, v
    return dataclasses.replace(ep, agents=fut, variant="lead_brake")


def test_predicted_world_holds_every_agent_at_its_velocity_after_the_decision_step():
    ep = _lead_brakes_after(road_episode(40.0), 5)
    pred = ep.predicted_at(10)
    a, p = ep.agents, pred.agents
    assert np.array_equal(p.x[..., :11], a.x[..., :11]) and np.array_equal(p.vx[..., :11], a.vx[..., :11])
    t = (np.arange(11, a.x.shape[-1]) - 10) * 0.1
    assert np.allclose(p.x[0, 0, 11:], a.x[0, 0, 10] + a.vx[0, 0, 10] * t)
    assert np.allclose(p.vx[0, 0, 11:], a.vx[0, 0, 10]) and a.vx[0, 0, 30] == 0.0     # the truth stopped, the prediction did not
    gone = dataclasses.replace(ep, agents=dataclasses.replace(a, valid=np.zeros_like(a.valid)))
    assert not gone.predicted_at(10).agents.valid.any()                                  # not seen at k: never appears


def test_critic_inputs_depend_on_the_past_only_while_the_true_reward_sees_the_future():
    from critic.config import FeatureConfig
    from critic.rl.observe import Observer, ego_pose
    from critic.rl.rollout import evaluate_speeds, predicted_inputs, start_trajectory
    rc = RefineConfig()
    keep_gap = lambda obs: 0 if obs[2] == 1.0 and obs[3] * 30 < 6.0 else 12           # noqa: E731  a late-reacting policy
    out = {}
    for name, brake_at in (("brakes", 12), ("cruises", 10_000)):
        ep = _lead_brakes_after(road_episode(45.0), brake_at, decel=8.0)
        st = EgoState.at_anchor(ep)
        obsr = Observer(ep, FeatureConfig())
        obsr.observe(start_trajectory(st), 0)          # as closed_loop observes before each decision
        pose, cont = ego_pose(start_trajectory(st)), (obsr, start_trajectory(st), keep_gap)
        out[name] = (evaluate_speeds(ep, st, 0, rc, pose, cont), predicted_inputs(ep, st, 0, rc, pose, cont))
    (true_b, _, plans_b, _), (cgeo_b, cplans_b, _) = out["brakes"]
    (true_c, _, plans_c, _), (cgeo_c, cplans_c, _) = out["cruises"]
    assert np.array_equal(cplans_b, cplans_c) and np.array_equal(cgeo_b, cgeo_c)          # same past, same critic input
    assert not np.allclose(plans_b, plans_c)                      # the true continuation reacts to the braking lead
    assert (true_b < true_c - 1.0).any()                          # and some speed is judged worse for it


@pytest.mark.parametrize("k,t", [(0, 5), (12, 5), (3, 2)])
def test_batched_policy_observations_equal_one_candidate_at_a_time(k, t):
    from critic.config import FeatureConfig
    from critic.rl.observe import Observer
    from critic.rl.rollout import start_trajectory
    from synth.kinematics import Plans
    ep = _lead_brakes_after(road_episode(45.0), 4)
    obsr, sc = Observer(ep, FeatureConfig()), SimConfig()
    st = EgoState.at_anchor(ep)
    hist = start_trajectory(st)
    if k:
        seg, st = simulate(ep, st, np.array([7.0]), k, sc)
        hist = Plans.concat_time(hist, seg)
    cands, end = simulate(ep, st.repeat(4), np.array([0.0, 5.0, 10.0, 20.0]), t, sc)
    batch = obsr.policy_obs_batch(hist, cands, end.path_idx)
    one = np.stack([obsr.policy_obs(Plans.concat_time(hist, cands.take([a])), int(end.path_idx[a])) for a in range(4)])
    assert np.allclose(batch, one, atol=1e-5) and not np.allclose(batch[0], batch[3])
