"""Configuration of the RL adapters: pseudo-simulation, PerlAD reward, GRPO, imagination.

Frozen dataclasses with a docstring per field and named presets (``default``, ``demo``,
``debug``); the resolved configuration is written beside every ``impartial refine`` output.
"""
from __future__ import annotations

import dataclasses
import json

import numpy as np


@dataclasses.dataclass(frozen=True)
class SimConfig:
    """Vector-space pseudo-simulation (ego: kinematic bicycle + PID; agents: log or perturbed)."""

    dt: float = 0.1
    """Recorded step (s); the labeller refines every step at 100 Hz, so no contact is missed."""
    substeps: int = 5
    """Bicycle integration sub-steps per recorded step (0.02 s)."""
    horizon_steps: int = 80
    """Episode length in recorded steps (8 s)."""
    replan_steps: int = 5
    """The policy picks a new target speed every this many steps (0.5 s)."""
    reward_steps: int = 20
    """Steps (2 s) over which one target-speed decision's progress, distance and lane terms are
    computed, on the plan ``decision_value`` names (the held speed under ``fallback``)."""
    decision_value: str = "policy"
    """What one target-speed decision is judged on (refinement is a one-step policy improvement
    of the imitation policy). ``policy``: the speed for one replanning interval, then the
    imitation policy in closed loop (the pseudo-simulation's agents act meanwhile), so a speed is
    judged by what actually follows it. ``hold``: the speed held throughout, which penalises
    any speed that would be unsafe if a lead braked and the ego never reacted. ``fallback``:
    progress on the held speed, safety on holding it one interval and then braking to a stop
    (the responsibility-sensitive-safety idea)."""
    safety_steps: int = 40
    """Steps (4 s) over which collision / off-road terms count under ``policy`` and ``fallback``
    (enough to stop from 20 m/s after a 0.5 s hold); ``hold`` uses ``reward_steps``."""
    wheelbase: float = 2.9
    """m."""
    max_accel: float = 3.0
    """m/s^2, longitudinal controller output limit."""
    max_decel: float = 8.0
    """m/s^2, braking limit (positive number)."""
    comfort_jerk: float = 4.0
    """m/s^3, rate limit of the commanded acceleration in normal driving (NAVSIM's comfort bound is 4.13)."""
    max_jerk: float = 15.0
    """m/s^3, rate limit when the controller demands more than ``comfort_decel`` of braking (emergency)."""
    comfort_decel: float = 4.0
    """m/s^2, braking demand above which the emergency jerk limit applies."""
    max_steer: float = 0.6
    """rad."""
    max_steer_rate: float = 0.8
    """rad/s."""
    speed_pid: tuple[float, float, float] = (1.2, 0.05, 0.0)
    """Longitudinal PID gains (kp 1/s, ki 1/s^2, kd) on target minus current speed."""
    lateral_pid: tuple[float, float, float] = (0.25, 0.01, 0.05)
    """Lateral PID gains (rad/m, rad/(m s), rad s/m) on the signed cross-track error to the path."""
    heading_gain: float = 1.0
    """Steering per rad of heading error to the path tangent (the PID's feed-forward part)."""
    target_speeds: tuple[float, ...] = tuple(float(v) for v in np.arange(0.0, 21.0, 1.0))
    """Discrete target-speed action set (m/s)."""

    def __post_init__(self):
        if self.decision_value not in ("policy", "hold", "fallback"):
            raise ValueError(f"SimConfig.decision_value: {self.decision_value!r} is not one of 'policy', 'hold', 'fallback'")
        if min(self.replan_steps, self.reward_steps, self.safety_steps) < 1:
            raise ValueError("SimConfig: replan_steps, reward_steps and safety_steps must be >= 1")

    @property
    def safety_horizon(self) -> int:
        """Steps over which collision / off-road terms of one decision count."""
        return self.reward_steps if self.decision_value == "hold" else self.safety_steps


@dataclasses.dataclass(frozen=True)
class RewardConfig:
    """PerlAD reward terms (values from the paper) plus the extensions marked as ours."""

    collision_vehicle: float = -30.0
    collision_pedestrian: float = -50.0
    """Also applied to cyclists (vulnerable road users; PerlAD names only pedestrians)."""
    collision_static: float = -10.0
    """Cones, barriers and other static objects."""
    double_solid: float = -30.0
    """Per crossing of a DOUBLE_SOLID line."""
    solid: float = -10.0
    """Per crossing of a SOLID line."""
    offroad: float = -30.0
    """Ours (PerlAD has no drivable-area term): first footprint corner outside the drivable area."""
    progress: float = 1.0
    """Weight of progress in [0, 1] (distance along the path / logged distance) at the last step."""
    distance: float = 0.05
    """Weight per step of the negative L2 distance (m) to the logged position (PerlAD gives no scale)."""
    gamma: float = 0.99
    """Discount per recorded step (0.1 s)."""


@dataclasses.dataclass(frozen=True)
class GRPOConfig:
    """Imitation initialisation and group-relative policy optimisation of the speed policy."""

    hidden: int = 64
    """Policy MLP width."""
    il_epochs: int = 60
    """Epochs of cross-entropy imitation of the logged (discretised) target speed."""
    iterations: int = 1500
    """GRPO updates (cheap: rewards come from precomputed tables)."""
    states_per_batch: int = 64
    """Decision states per update."""
    group: int = 8
    """Target speeds sampled per state (the group whose rewards are standardised)."""
    lr: float = 1e-3
    entropy: float = 0.01
    """Entropy bonus weight."""
    dagger_rounds: int = 2
    """Rounds of DAgger after plain imitation: the policy drives the log-replay training episodes
    and every state it visits is relabelled with the log's gap-correcting speed, then it is
    re-imitated on all states so far (0: plain behaviour cloning, which drifts ahead of the log)."""
    dagger_horizon_s: float = 2.0
    """s, the relabelled target closes the along-path gap to the logged position in this time."""
    scale_by_std: bool = False
    """Divide group advantages by the group's reward std (GRPO). Dr. GRPO (Liu et al., 2025) drops
    this: it makes a state whose speeds differ by 0.01 push the policy as hard as one where a
    speed collides."""
    kl_to_il: float = 0.2
    """Weight of KL(policy || imitation policy), as GRPO's reference-policy term."""
    seed: int = 0


@dataclasses.dataclass(frozen=True)
class RefineConfig:
    """Everything ``impartial refine`` uses."""

    sim: SimConfig = SimConfig()
    reward: RewardConfig = RewardConfig()
    grpo: GRPOConfig = GRPOConfig()
    train_anchors: int = 300
    """Training anchors (train split) used to collect decision states."""
    eval_anchors: int = 200
    """Held-out anchors (test split) for the closed-loop evaluation."""
    perturbed_per_anchor: int = 2
    """Perturbed-agent variants (lead brakes / cut-in, from the agent_perturbation family) per anchor,
    besides log replay."""
    decision_times: tuple[int, ...] = (0, 10, 20, 30, 40, 50, 60, 70)
    """Steps after the anchor at which training decision states are recorded (IL policy in closed loop)."""
    grpo_seeds: int = 3
    """GRPO runs (seeds) per reward source; the table pools their episodes and gives the spread."""
    adapt_anchors: int = 100
    """Validation-split anchors whose closed-loop decision states adapt a copy of each
    counterfactual-trained critic to the states a policy visits (:mod:`critic.rl.adapt`); the
    adapted copy is an extra reward source ``<name>-adapted``. 0 disables. The optimistic critic
    is never adapted: it learns from expert logs only."""
    adapt_steps: int = 300
    """Fine-tuning steps of the adaptation."""
    adapt_batch: int = 16
    """Decision states per adaptation step (each with every target speed's plan)."""
    adapt_lr: float = 3e-4
    """Adam learning rate of the adaptation."""
    seed: int = 0

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), indent=1, sort_keys=True)


def preset(name: str) -> RefineConfig:
    """``default`` (``make refine``), ``demo`` (inside ``make demo``), ``debug`` (tests)."""
    if name == "default":
        return RefineConfig()
    if name == "demo":
        return RefineConfig(train_anchors=120, eval_anchors=80, decision_times=(0, 20, 40, 60), adapt_anchors=30,
                            adapt_steps=100)
    if name == "debug":
        return RefineConfig(train_anchors=6, eval_anchors=4, perturbed_per_anchor=1, decision_times=(0, 10),
                            grpo=GRPOConfig(il_epochs=5, iterations=10, states_per_batch=8, group=4, dagger_rounds=1),
                            grpo_seeds=2, adapt_anchors=3, adapt_steps=3, adapt_batch=4)
    raise ValueError(f"preset: unknown {name!r} (default, demo, debug)")
