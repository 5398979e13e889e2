"""Closed-loop runs of a speed policy in the pseudo-simulation, and the decision states
(with every target speed's true and geometric reward) that refinement learns from."""
from __future__ import annotations

import dataclasses
from typing import Callable

import numpy as np

from critic.config import FeatureConfig
from synth.kinematics import Plans

from .config import RefineConfig
from .observe import Observer, candidate_plans
from .rewards import perlad_reward
from .sim import PATH_DS, EgoState, Episode, events, simulate


def start_trajectory(state: EgoState) -> Plans:
    """The single-state trajectory ``[N, 1]`` of ``state``."""
    return Plans(*(getattr(state, k)[:, None] for k in ("x", "y", "heading", "speed", "accel", "steer")))


def logged_trajectory(ep: Episode, k: int) -> Plans:
    """The logged ego from the anchor to step ``k`` as a ``[1, k + 1]`` trajectory."""
    lg = ep.ctx.logged
    acc = np.gradient(lg.speed[0], ep.ctx.dt)[None]
    steer = np.zeros_like(acc)  # not logged; the observations do not use it
    return Plans(lg.x, lg.y, lg.heading, lg.speed, acc, steer).frames(slice(0, k + 1))


def closed_loop(ep: Episode, observer: Observer, choose: Callable[[np.ndarray], int], rc: RefineConfig,
                on_decision: Callable | None = None) -> Plans:
    """Run one episode: every ``replan_steps`` the policy ``choose(obs) -> speed index`` picks a
    target speed, the ego tracks it on the logged path. ``on_decision(k, state, obs, scene)`` is
    called at each decision. Returns the ego trajectory ``[1, horizon_steps + 1]``."""
    sc = rc.sim
    speeds = np.asarray(sc.target_speeds)
    state = EgoState.at_anchor(ep)
    traj = start_trajectory(state)
    H = min(sc.horizon_steps, ep.ctx.steps)
    for k in range(0, H, sc.replan_steps):
        obs, scene = observer.observe(traj, int(state.path_idx[0]))
        if on_decision is not None:
            on_decision(k, state, obs, scene)
        seg, state = simulate(ep, state, speeds[choose(obs)], min(sc.replan_steps, H - k), sc)
        traj = Plans.concat_time(traj, seg)
    return traj


@dataclasses.dataclass
class DecisionStates:
    """S decision states, each with every target speed (A) evaluated.

    ``obs`` ``[S, OBS_DIM]``; ``true_reward`` / ``geometric_reward`` ``[S, A]`` (PerlAD reward
    from the simulation, and its lane / distance / progress part only); critic inputs:
    ``agents``, ``agents_mask``, ``map``, ``map_mask`` ``[S, ...]`` and ``plans`` ``[S, A, 80, 5]``;
    ``episode`` and ``step`` ``[S]``.
    """

    obs: np.ndarray
    true_reward: np.ndarray
    geometric_reward: np.ndarray
    agents: np.ndarray
    agents_mask: np.ndarray
    map: np.ndarray
    map_mask: np.ndarray
    plans: np.ndarray
    episode: np.ndarray
    step: np.ndarray


def evaluate_speeds(ep: Episode, state: EgoState, k: int, rc: RefineConfig, pose: np.ndarray):
    """Every target speed from ``state`` at step ``k``: (true reward ``[A]``, geometric reward ``[A]``,
    critic plan features ``[A, 80, 5]``)."""
    sc = rc.sim
    speeds = np.asarray(sc.target_speeds)
    cand, _ = simulate(ep, state.repeat(len(speeds)), speeds, 80, sc)
    R = min(sc.reward_steps, ep.ctx.steps - k)
    ev = events(ep, cand.frames(slice(0, R + 1)), k)
    return (perlad_reward(ev, rc.reward)["total"], perlad_reward(ev.without_safety(), rc.reward)["total"],
            candidate_plans(cand, pose))


def collect_decisions(episodes: list[Episode], choose: Callable[[np.ndarray], int], rc: RefineConfig,
                      fc: FeatureConfig, log=None) -> DecisionStates:
    """Run ``choose`` in closed loop on every episode and evaluate every target speed at the
    decision steps ``rc.decision_times``."""
    rows: dict[str, list] = {k: [] for k in ("obs", "true_reward", "geometric_reward", "agents", "agents_mask", "map",
                                             "map_mask", "plans", "episode", "step")}
    times = set(rc.decision_times)
    for i, ep in enumerate(episodes):
        obsr = Observer(ep, fc)

        def record(k, state, obs, scene, i=i, ep=ep):
            if k not in times or k + rc.sim.replan_steps > ep.ctx.steps:
                return
            tr, geo, plans = evaluate_speeds(ep, state, k, rc, scene[4])
            for key, val in zip(rows, (obs, tr, geo, *scene[:4], plans, i, k)):
                rows[key].append(val)

        closed_loop(ep, obsr, choose, rc, record)
        if log and (i + 1) % 100 == 0:
            log(f"decision states: {i + 1}/{len(episodes)} episodes")
    return DecisionStates(**{k: np.stack(v) if k not in ("episode", "step") else np.asarray(v) for k, v in rows.items()})


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
