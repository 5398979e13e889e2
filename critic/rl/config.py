"""Configuration of the RL adapters: PerlAD reward, GRPO, imagination (the pseudo-simulation's
:class:`~synth.config.SimConfig` comes from synthesis).

Frozen dataclasses with a docstring per field (the named presets are in :mod:`pipelines.presets`);
the resolved configuration is written beside every ``impartial refine`` output.
"""
from __future__ import annotations

import dataclasses
import json

from synth.config import SimConfig


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
    red_light: float = -30.0
    """Once per episode, at the step the ego's front crosses the stop line of its lane while that lane shows
    STOP in the log (PerlAD's pseudo-simulation scores against logged signal states; the value is ours, set
    equal to a vehicle collision). Kept in the critic reward's deterministic terms: the critic does not
    predict it, the log's signal states decide it, as the log's lane lines decide the lane term."""
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
