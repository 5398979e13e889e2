"""Gymnasium environment over the pseudo-simulation, so other RL libraries can drive it.

Observation: the compact policy vector of :mod:`critic.rl.observe` (``float32 [OBS_DIM]``).
Action: index into ``SimConfig.target_speeds``. One step = ``replan_steps`` x 0.1 s of
PID tracking of the chosen speed along the logged path. Reward: the PerlAD terms of
:mod:`critic.rl.rewards` over that segment (progress counted per segment, so the segments
add up to the episode's progress). Terminated on a collision or off-road event; truncated
at the end of the horizon.
"""
from __future__ import annotations

import gymnasium as gym
import numpy as np

from critic.config import FeatureConfig
from synth.kinematics import Plans
from synth.sim import EgoState, Episode, events, simulate

from .config import RefineConfig
from .observe import OBS_DIM, Observer
from .rewards import perlad_reward
from .rollout import start_trajectory


class PseudoSimEnv(gym.Env):
    """``PseudoSimEnv(episodes, cfg)``: each ``reset`` draws one of ``episodes``."""

    metadata = {"render_modes": []}

    def __init__(self, episodes: list[Episode], cfg: RefineConfig = RefineConfig(), features: FeatureConfig = FeatureConfig()):
        if not episodes:
            raise ValueError("episodes: need at least one")
        self.episodes, self.cfg, self.fc = episodes, cfg, features
        self.speeds = np.asarray(cfg.sim.target_speeds)
        self.observation_space = gym.spaces.Box(-50.0, 50.0, (OBS_DIM,), np.float32)
        self.action_space = gym.spaces.Discrete(len(self.speeds))

    def _obs(self) -> np.ndarray:
        return np.clip(self.observer.observe(self.traj, int(self.state.path_idx[0]))[0], -50.0, 50.0)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        i = int(self.np_random.integers(len(self.episodes))) if not options or "episode" not in options \
            else int(options["episode"])
        self.ep = self.episodes[i]
        self.observer = Observer(self.ep, self.fc)
        self.state = EgoState.at_anchor(self.ep)
        self.traj: Plans = start_trajectory(self.state)
        self.k = 0
        return self._obs(), {"episode": i, "variant": self.ep.variant}

    def step(self, action):
        if not self.action_space.contains(action):
            raise ValueError(f"action: {action!r} is not in {self.action_space}")
        H = min(self.cfg.sim.horizon_steps, self.ep.ctx.steps)
        n = min(self.cfg.sim.replan_steps, H - self.k)
        seg, self.state = simulate(self.ep, self.state, self.speeds[int(action)], n, self.cfg.sim)
        ev = events(self.ep, seg, self.k)
        terms = perlad_reward(ev, self.cfg.reward)
        self.traj = Plans.concat_time(self.traj, seg)
        self.k += n
        terminated = bool(ev.collision_step[0] >= 0 or ev.offroad_step[0] >= 0)
        truncated = self.k >= H and not terminated
        info = {k: float(v[0]) for k, v in terms.items()}
        return self._obs(), float(terms["total"][0]), terminated, truncated, info
