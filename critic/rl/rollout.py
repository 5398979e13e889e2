"""Closed-loop runs of a speed policy in the pseudo-simulation, and the decision states
(with every target speed's true and geometric reward) that refinement learns from."""
from __future__ import annotations

import dataclasses
from typing import Callable

import numpy as np

from critic.config import FeatureConfig
from critic.scene import SceneBatch
from synth.kinematics import Plans
from synth.sim import PATH_DS, EgoState, Episode, events, simulate

from .config import RefineConfig
from .observe import Observer, candidate_plans, ego_pose
from .rewards import perlad_reward


def start_trajectory(state: EgoState) -> Plans:
    """The single-state trajectory ``[N, 1]`` of ``state``."""
    return state.current


def logged_trajectory(ep: Episode, k: int) -> Plans:
    """The logged ego from the anchor to step ``k`` as a ``[1, k + 1]`` trajectory."""
    lg = ep.ctx.logged
    acc = np.gradient(lg.speed[0], ep.ctx.dt)[None]
    steer = np.zeros_like(acc)  # not logged; the observations do not use it
    return Plans(lg.x, lg.y, lg.heading, lg.speed, acc, steer).frames(slice(0, k + 1))


def closed_loop(ep: Episode, observer: Observer, choose: Callable[[np.ndarray], int], rc: RefineConfig,
                on_decision: Callable | None = None) -> Plans:
    """Run one episode: every ``replan_steps`` the policy ``choose(obs) -> speed index`` picks a
    target speed, the ego tracks it on the logged path. ``on_decision(k, state, obs, scene, traj)``
    is called at each decision (``scene``: the critic's scene of one decision, :meth:`Observer.critic_scene`;
    ``traj``: the ego so far, ``[1, k + 1]``, whose :func:`ego_pose` frames the scene). Returns the ego
    trajectory ``[1, horizon_steps + 1]``."""
    sc = rc.sim
    speeds = np.asarray(sc.target_speeds)
    state = EgoState.at_anchor(ep)
    traj = start_trajectory(state)
    H = min(sc.horizon_steps, ep.ctx.steps)
    for k in range(0, H, sc.replan_steps):
        obs, scene = observer.observe(traj, int(state.path_idx[0]))
        if on_decision is not None:
            on_decision(k, state, obs, scene, traj)
        seg, state = simulate(ep, state, speeds[choose(obs)], min(sc.replan_steps, H - k), sc)
        traj = Plans.concat_time(traj, seg)
    return traj


@dataclasses.dataclass(frozen=True, eq=False)
class DecisionStates:
    """S decision states, each with every target speed (A) evaluated.

    ``obs`` ``[S, OBS_DIM]``; ``true_reward`` / ``geometric_reward`` ``[S, A]`` (PerlAD reward
    from the simulation, and its lane / distance / progress part only); critic inputs, all as
    known at the decision (:func:`predicted_inputs`): the scenes ``scene`` (S scenes), ``plans``
    ``[S, A, 80, 5]`` and their lane / distance / progress reward ``critic_geometric_reward``
    ``[S, A]``; ``episode`` and ``step`` ``[S]``; optionally the true outcomes of the critic's plans.
    """

    obs: np.ndarray
    true_reward: np.ndarray
    geometric_reward: np.ndarray
    critic_geometric_reward: np.ndarray
    scene: SceneBatch
    """The critic's scene at each decision (numpy, no drivable raster; :meth:`Observer.critic_scene`),
    in the ego frame at the decision step."""
    plans: np.ndarray
    """``[S, A, plan_steps, 5]`` float32 :class:`~critic.columns.PlanCol` features of every target speed's
    plan, in the same ego frame as ``scene``."""
    episode: np.ndarray
    step: np.ndarray
    critic_plan_outcomes: np.ndarray | None = None
    """``[S, A, 2]`` bool (:func:`plan_outcomes` of ``plans``), when collected with labels."""


def choose_each(choose: Callable[[np.ndarray], int], obs: np.ndarray) -> np.ndarray:
    """``choose`` applied to each observation of ``obs`` ``[A, OBS_DIM]``: ``[A]`` speed indices, in one call
    when ``choose`` declares ``batched = True`` (it then takes ``[A, OBS_DIM]`` and returns ``[A]``)."""
    if getattr(choose, "batched", False):
        return np.asarray(choose(obs), dtype=np.int64).reshape(len(obs))
    return np.array([choose(o) for o in obs], dtype=np.int64)


def continue_with_policy(ep: Episode, observer: Observer, history: Plans, first: Plans, state: EgoState,
                         choose: Callable[[np.ndarray], int], rc: RefineConfig,
                         steps: int) -> tuple[Plans, EgoState, np.ndarray]:
    """Candidates ``first`` ``[A, r + 1]`` (one replanning interval each, ending in ``state``) continued
    in closed loop under ``choose`` until ``steps`` recorded steps; ``history`` ``[1, k + 1]`` is the
    ego before the decision. Returns the trajectories ``[A, steps + 1]``, the final states and the
    last target speeds ``[A]`` (m/s)."""
    speeds = np.asarray(rc.sim.target_speeds)
    out, t = first, first.x.shape[1] - 1
    tgt = speeds
    while t < steps:
        n = min(rc.sim.replan_steps, steps - t)
        tgt = speeds[choose_each(choose, observer.policy_obs_batch(history, out, state.path_idx))]
        seg, state = simulate(ep, state, tgt, n, rc.sim)
        out, t = Plans.concat_time(out, seg), t + n
    return out, state, tgt


def candidate_trajectories(ep: Episode, state: EgoState, k: int, rc: RefineConfig, steps: int | None = None,
                           continuation: tuple[Observer, Plans, Callable] | None = None) -> tuple[Plans, Plans]:
    """Every target speed from ``state`` at step ``k``: (the plan its geometric terms are computed on,
    the plan its safety terms are computed on), each ``[A, steps + 1]`` (``rc.sim.decision_value``);
    ``steps`` defaults to the episode's horizon, the dataset's, which is the critic's plan length.

    ``hold``: the speed held throughout (both). ``fallback``: held; and held for one replanning
    interval, then braking to a stop. ``policy``: held for one replanning interval, then the
    policy ``continuation = (observer, history, choose)`` in closed loop up to the safety
    horizon, then its last target speed held (both).
    """
    sc = rc.sim
    steps = ep.ctx.steps if steps is None else steps
    A = len(sc.target_speeds)
    speeds = np.asarray(sc.target_speeds)
    if sc.decision_value == "hold":
        held, _ = simulate(ep, state.repeat(A), speeds, steps, sc)
        return held, held
    first, mid = simulate(ep, state.repeat(A), speeds, sc.replan_steps, sc)
    if sc.decision_value == "fallback":   # both continue the same first interval (simulation continues exactly)
        held = Plans.concat_time(first, simulate(ep, mid, speeds, steps - sc.replan_steps, sc)[0])
        return held, Plans.concat_time(first, simulate(ep, mid, np.zeros(A), steps - sc.replan_steps, sc)[0])
    if continuation is None:
        raise ValueError("decision_value 'policy' needs the continuation (observer, history, choose)")
    observer, history, choose = continuation
    upto = max(min(sc.safety_horizon, ep.ctx.steps - k), sc.replan_steps)
    traj, last, tgt = continue_with_policy(ep, observer, history, first, mid, choose, rc, upto)
    if steps > upto:
        traj = Plans.concat_time(traj, simulate(ep, last, tgt, steps - upto, sc)[0])
    return traj, traj


def _geometric(ep: Episode, geo_plan: Plans, k: int, rc: RefineConfig) -> np.ndarray:
    """Lane, distance and progress terms ``[A]`` over ``reward_steps`` of plans ``[A, >= R + 1]``."""
    R = min(rc.sim.reward_steps, ep.ctx.steps - k)
    return perlad_reward(events(ep, geo_plan.frames(slice(0, R + 1)), k).without_safety(), rc.reward)["total"]


def evaluate_speeds(ep: Episode, state: EgoState, k: int, rc: RefineConfig, pose: np.ndarray,
                    continuation: tuple[Observer, Plans, Callable] | None = None):
    """Every target speed from ``state`` at step ``k``: (true reward ``[A]``, geometric reward ``[A]``,
    plan features ``[A, H, 5]`` of the safety plans, the safety trajectories ``[A, H + 1]``; H the episode's horizon).

    Geometric terms (progress, distance to the log, lane lines) over ``reward_steps``, collision and
    off-road terms over ``safety_horizon``, on the plans of :func:`candidate_trajectories`.
    """
    geo_plan, safe = candidate_trajectories(ep, state, k, rc, continuation=continuation)
    geo = _geometric(ep, geo_plan, k, rc)
    Rs = min(rc.sim.safety_horizon, ep.ctx.steps - k)
    terms = perlad_reward(events(ep, safe.frames(slice(0, Rs + 1)), k), rc.reward)
    return geo + terms["collision"] + terms["offroad"], geo, candidate_plans(safe, pose), safe


def predicted_inputs(ep: Episode, state: EgoState, k: int, rc: RefineConfig, pose: np.ndarray,
                     continuation: tuple[Observer, Plans, Callable]) -> tuple[np.ndarray, np.ndarray, Plans]:
    """What a critic scores for every target speed at step ``k``: geometric reward ``[A]``, plan
    features ``[A, H, 5]`` and the safety trajectories ``[A, H + 1]`` of the decision plans in the
    world as known at ``k`` (:meth:`Episode.predicted_at`: other agents at constant velocity from ``k``).

    Under ``decision_value='policy'`` the plans continue under the policy, which reacts to the
    other agents; continued in the true world they would carry the agents' future into the
    critic's input (a plan that brakes hard because the lead will brake), which no critic can
    be given at decision time. ``hold`` and ``fallback`` plans do not depend on the agents.
    """
    world = ep
    if rc.sim.decision_value == "policy":
        world = ep.predicted_at(k)
        observer, history, choose = continuation
        continuation = (observer.for_episode(world), history, choose)
    geo_plan, safe = candidate_trajectories(world, state, k, rc, continuation=continuation)
    return _geometric(ep, geo_plan, k, rc), candidate_plans(safe, pose), safe


def plan_outcomes(ep: Episode, traj: Plans, k: int, rc: RefineConfig) -> np.ndarray:
    """``[A, 2]`` bool: whether trajectories ``traj`` ``[A, >= 2]`` from step ``k``, driven open loop
    among the episode's true agents, have an at-fault collision / leave the road within the safety
    horizon (the labels a critic is trained on, :mod:`synth.labels`)."""
    Rs = min(rc.sim.safety_horizon, ep.ctx.steps - k, traj.x.shape[1] - 1)
    ev = events(ep, traj.frames(slice(0, Rs + 1)), k)
    return np.stack([(ev.collision_step >= 0) & ev.at_fault, ev.offroad_step >= 0], -1)


def collect_decisions(episodes: list[Episode], choose: Callable[[np.ndarray], int], rc: RefineConfig,
                      fc: FeatureConfig, log=None, label_critic_plans: bool = False) -> DecisionStates:
    """Run ``choose`` in closed loop on every episode and evaluate every target speed at the
    decision steps ``rc.decision_times``; ``label_critic_plans`` adds :func:`plan_outcomes` of the
    critic's plans (``critic_plan_outcomes``)."""
    keys = ("obs", "true_reward", "geometric_reward", "critic_geometric_reward", "plans", "episode",
            "step") + (("critic_plan_outcomes",) if label_critic_plans else ())
    rows: dict[str, list] = {k: [] for k in keys}
    scenes: list[SceneBatch] = []
    times = set(rc.decision_times)
    for i, ep in enumerate(episodes):
        obsr = Observer(ep, fc)

        def record(k, state, obs, scene, traj, i=i, ep=ep, obsr=obsr):
            if k not in times or k + rc.sim.replan_steps > ep.ctx.steps:
                return
            cont, pose = (obsr, traj, choose), ego_pose(traj)
            tr, geo, plans, safe = evaluate_speeds(ep, state, k, rc, pose, cont)
            cgeo = geo   # hold / fallback plans do not depend on the agents: the critic scores the same
            if rc.sim.decision_value == "policy":
                cgeo, plans, safe = predicted_inputs(ep, state, k, rc, pose, cont)
            vals = (obs, tr, geo, cgeo, plans, i, k)
            if label_critic_plans:
                vals += (plan_outcomes(ep, safe, k, rc),)
            for key, val in zip(rows, vals):
                rows[key].append(val)
            scenes.append(scene)

        closed_loop(ep, obsr, choose, rc, record)
        if log and (i + 1) % 100 == 0:
            log(f"decision states: {i + 1}/{len(episodes)} episodes")
    arrays = {k: np.stack(v) if k not in ("episode", "step") else np.asarray(v) for k, v in rows.items()}
    return DecisionStates(scene=SceneBatch.concat(scenes), **arrays)


def imitation_states(episodes: list[Episode], rc: RefineConfig, fc: FeatureConfig) -> tuple[np.ndarray, np.ndarray]:
    """Observations along the logged ego (log-replay episodes) at every replanning step, and the
    index of the target speed nearest to the logged speed one replanning interval later."""
    speeds = np.asarray(rc.sim.target_speeds)
    obs, tgt = [], []
    for ep in episodes:
        if ep.variant != "log":
            continue
        obsr = Observer(ep, fc)
        H = ep.ctx.steps
        for k in range(0, H, rc.sim.replan_steps):
            traj = logged_trajectory(ep, k)
            s, _ = ep.ctx.project(traj.x[0, -1:], traj.y[0, -1:])
            obs.append(obsr.observe(traj, int(s[0] / PATH_DS))[0])
            tgt.append(int(np.abs(speeds - ep.ctx.logged.speed[0, min(k + rc.sim.replan_steps, H)]).argmin()))
    return np.stack(obs), np.asarray(tgt)


def expert_speed(ep: Episode, k: int, s_ego: float, rc: RefineConfig) -> float:
    """The log's target speed for an ego at arc length ``s_ego`` (m) at step ``k``: the logged speed
    one replanning interval later, corrected to close the along-path gap to the logged position
    within ``rc.grpo.dagger_horizon_s`` (an ego ahead of the log slows down, one behind speeds up)."""
    lg, H = ep.ctx.logged, ep.ctx.steps
    s_log = float(ep.ctx.project(lg.x[0, min(k, H)], lg.y[0, min(k, H)])[0][0])
    v = lg.speed[0, min(k + rc.sim.replan_steps, H)] + (s_log - s_ego) / rc.grpo.dagger_horizon_s
    return float(np.clip(v, 0.0, max(rc.sim.target_speeds)))


def dagger_states(episodes: list[Episode], choose: Callable[[np.ndarray], int], rc: RefineConfig,
                  fc: FeatureConfig) -> tuple[np.ndarray, np.ndarray]:
    """DAgger: run ``choose`` in closed loop on the log-replay episodes and label every visited
    decision state with :func:`expert_speed` (index into the target speeds)."""
    speeds = np.asarray(rc.sim.target_speeds)
    obs, tgt = [], []
    for ep in episodes:
        if ep.variant != "log":
            continue

        def record(k, state, o, scene, traj, ep=ep):
            obs.append(o)
            tgt.append(int(np.abs(speeds - expert_speed(ep, k, float(state.path_idx[0]) * PATH_DS, rc)).argmin()))

        closed_loop(ep, Observer(ep, fc), choose, rc, record)
    return np.stack(obs), np.asarray(tgt)
