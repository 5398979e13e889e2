"""Critic configuration: frozen dataclasses with a docstring per field (the named presets that
fill them are in :mod:`pipelines.presets`).

The resolved configuration is saved as JSON beside every checkpoint and is all
``ImpartialCritic.load`` needs besides the safetensors weights.
"""
from __future__ import annotations

import dataclasses
import enum
import json
from schemas.errors import InputError


class Variant(str, enum.Enum):
    """Which critic ``impartial train-critic`` trains (a ``str``, so JSON and comparisons with the names work)."""

    IMPARTIAL = "impartial"
    """Every counterfactual, every loss."""
    OPTIMISTIC = "optimistic"
    """Logged plans of logged scenes only: the world model an expert-log-only pipeline would give."""
    NO_CONTRASTIVE = "no-contrastive"
    """The impartial data with contrastive weight 0 (the contrastive loss's ablation)."""

    def __str__(self) -> str:
        return self.value


@dataclasses.dataclass(frozen=True)
class FeatureConfig:
    """Ego-centric inputs and targets (ego frame at the anchor: x forward, y left, m)."""

    max_agents: int = 24
    """Agents kept (nearest to the ego at the anchor); the ego is token 0 on top of these."""
    history_steps: int = 11
    """Frames of history per agent, anchor included (1 s at 10 Hz)."""
    max_polylines: int = 48
    """Map polylines kept (nearest), each cut to ``polyline_points`` points."""
    polyline_points: int = 16
    """Points per polyline after resampling."""
    map_radius_m: float = 70.0
    """Map features farther than this from the ego are dropped."""
    plan_steps: int = 80
    """Plan states after the anchor (8 s at 10 Hz)."""
    dyn_stride: int = 5
    """Plan states per latent-dynamics step (5 -> 0.5 s steps, 16 steps over 8 s)."""
    occ_size: int = 32
    """Occupancy grid cells per side, centred on the ego's planned pose."""
    occ_cell_m: float = 1.0
    """Occupancy cell size (m)."""
    occ_every: int = 2
    """Occupancy frames every this many dynamics steps (2 -> every 1 s, 8 frames)."""
    raster_x: tuple[float, float] = (-40.0, 200.0)
    """Ego-frame x range (m) of the drivable-area raster given to the model."""
    raster_y: tuple[float, float] = (-80.0, 80.0)
    """Ego-frame y range (m) of the drivable-area raster."""
    raster_cell_m: float = 0.5
    """Drivable-area raster cell (m)."""
    signals: bool = True
    """Signal-controlled lanes near the ego enter the map tokens with their state at the observed frame
    (:class:`critic.columns.MapKind` ``signal_*``); False leaves them out (the ablation without signals)."""
    signal_radius_m: float = 120.0
    """Signal-controlled lanes are taken within this distance of the ego (box half-width, m), farther than other
    map features: a stop line 100 m ahead decides an 8 s plan at urban speeds. They take the first map slots,
    at most ``max_polylines // 4`` of them (nearest first)."""

    def __post_init__(self) -> None:
        unit = self.dyn_stride * self.occ_every
        if self.plan_steps < unit or self.plan_steps % unit:
            raise InputError(f"features.plan_steps: {self.plan_steps} is not a positive multiple of dyn_stride x "
                             f"occ_every = {unit} (one occupancy frame every {unit} plan steps)")


@dataclasses.dataclass(frozen=True)
class ModelConfig:
    """Network sizes."""

    d_model: int = 64
    """Token and latent width."""
    heads: int = 4
    """Attention heads."""
    scene_layers: int = 2
    """Self-attention layers over scene tokens."""
    poly_stride: int = 2
    """The scene encoder reads every k-th point of each polyline (the plan-relative map
    geometry of the dynamics always uses every point)."""
    agent_width: int = 32
    """Width of the per (plan, step, agent) interaction network (its cost is B x P x S x nearest x width)."""
    nearest_agents: int = 6
    """Agent forecast modes (path entries) nearest to each planned pose that the interaction network looks at."""
    map_every: int = 2
    """Plan-relative map geometry is evaluated every this many dynamics steps (the map is static)."""
    learned_forecast: bool = True
    """Agents move along a learned forecast in the dynamics' geometry (constant velocity plus an offset
    read from each agent's token after agent-centric attention, :mod:`critic.forecast`, trained on the
    agents' true futures: ``loss/motion``); False keeps them at constant velocity."""
    motion_layers: int = 2
    """Agent-centric attention layers of the forecaster (each agent attends to all scene tokens seen from
    its own frame); 0 reads the scene tokens directly."""
    forecast_modes: int = 3
    """Forecast modes per agent (winner-takes-all ``loss/motion`` plus the modes' cross-entropy); the
    dynamics' geometry sees every mode with its probability, the occupancy prior the most likely one."""
    cv_paths: bool = False
    """Give the interaction network each agent's constant-velocity path as one more path entry beside the
    learned modes (flagged as such): the kinematic prior the constant-velocity rule decides by, seen
    exactly, so the hazard heads need not relearn the box geometry of the collisions it already predicts.
    On in the ``real`` and ``real-cv`` presets (real logs at 4 s, where agents mostly keep their velocity)."""
    event_prior: bool = False
    """The hazard heads also read exact geometric event indicators of every dynamics step
    (:meth:`critic.interactions.Interactions.events`): whether a corner of the ego's footprint leaves the
    drivable-area raster at any 0.1 s planned state of the step (and the share of corners that do), and
    whether the ego's box touches an agent's constant-velocity box ahead of its rear bumper (the
    labeller's at-fault rule). Off-road depends on the plan and the static map alone, so the first is what
    the labeller decides by, up to the raster's cell; the second is the constant-velocity rule's own
    decision, which the learned part then corrects. Needs ``cv_paths`` and a drivable raster in every
    scene (``SceneBatch.drivable``). On in the ``real`` and ``real-cv`` presets."""
    occ_width: int = 16
    """Channels of the occupancy decoder's convolutions, which run at 32 x 32 cells and are most of a
    training step's cost (default step on 2 cores: 0.74 s at width 32, 0.39 s at 16)."""
    diffusion: bool = False
    """Train the diffusers dream decoder (UNet + DDPM) next to the deterministic occupancy head."""
    diffusion_channels: tuple[int, int] = (32, 64)
    """UNet block widths of the dream decoder."""

    def __post_init__(self) -> None:
        if self.event_prior and not self.cv_paths:
            raise InputError("model.event_prior: needs model.cv_paths (its contact indicator is read off the "
                             "constant-velocity path entries)")


@dataclasses.dataclass(frozen=True)
class LossWeights:
    """Explicit weight of every loss term (logged as ``loss/<name>``)."""

    hazard: float = 1.0
    motion: float = 0.5
    mode: float = 0.5
    occupancy: float = 0.5
    reward: float = 0.2
    contrastive: float = 0.3
    diffusion: float = 0.2


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """Everything ``impartial train-critic`` uses."""

    variant: Variant = Variant.IMPARTIAL
    """Which critic (:class:`Variant`; its name is accepted too)."""
    features: FeatureConfig = FeatureConfig()
    model: ModelConfig = ModelConfig()
    loss: LossWeights = LossWeights()
    scenes_per_batch: int = 16
    """Scenes (anchors) per batch."""
    plans_per_scene: int = 8
    """Counterfactual plans per scene in a batch (hard negatives of each other)."""
    occ_plans_per_scene: int = 3
    """Plans per scene whose occupancy is decoded and supervised in a training batch (cost control)."""
    epochs: int = 6
    """Maximum joint epochs (the cosine schedule spans them); on 2 cores an epoch of the default dataset
    (308 batches and the validation) takes about 3 min, so all 6 take about 18 min and, after the feature
    cache is built (about 5 min, once per dataset) and the forecast pretraining (about 9 min), fit within
    ``max_minutes``."""
    forecast_pretrain_epochs: int = 20
    """Epochs of a first phase that trains the scene encoder and the agents' forecaster alone on
    ``loss/motion`` and ``loss/mode`` (one plan-free pass per scene: about 28 s an epoch on the default
    dataset, against 3 min for a joint epoch); 0 skips it. Joint training then starts from its weights."""
    max_minutes: float = 120.0
    """Stop training (after the current batch) once this much wall time has passed (feature building and
    both phases). A safety net, not the budget: the epochs are. Impartial takes about 32 min on the
    2-core machine the times above were measured on, when it builds the feature cache, and took 54 min
    on a 2-core machine that ran its steps about twice as slowly (the old 45 min budget would have cut
    its last joint epoch). A run the budget ends early is flagged (``stopped_by_time_budget`` in
    ``metrics.json``) because its checkpoint then depends on the machine."""
    lr: float = 2e-3
    """AdamW learning rate (cosine decay)."""
    weight_decay: float = 1e-4
    patience: int = 4
    """Early stopping: stop after more than this many epochs without validation-loss improvement (the
    best epoch's weights are kept). The validation loss is noisy from epoch to epoch (the no-contrastive
    critic's went 1.061, 1.122, 1.063 over epochs 2 to 4), so a small patience stops while the cosine
    learning rate is still high."""
    focal_gamma: float = 1.0
    """Focal-loss gamma of the hazard heads."""
    infonce_temperature: float = 0.1
    seed: int = 0
    threads: int = 2
    """torch threads."""
    max_batches_per_epoch: int = 0
    """0 = all; a positive number caps batches per epoch (debug)."""
    fit_probe_scenes: int = 80
    """Training scenes scored after every epoch (``fit/*_auroc`` in ``metrics.json``): how well the
    model fits the data it trains on, next to ``val/*``."""

    def __post_init__(self) -> None:
        try:
            object.__setattr__(self, "variant", Variant(self.variant))
        except ValueError:
            raise InputError(f"variant: unknown {self.variant!r} ({', '.join(v.value for v in Variant)})") from None

    def for_horizon(self, horizon_steps: int) -> "TrainConfig":
        """This configuration with plans of ``horizon_steps`` states after the anchor (a dataset's
        ``horizon_steps``: 80 for 8 s, 40 for NAVSIM's 4 s)."""
        return dataclasses.replace(self, features=dataclasses.replace(self.features, plan_steps=int(horizon_steps)))

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), indent=1, sort_keys=True)

    @staticmethod
    def from_json(text: str) -> "TrainConfig":
        d = json.loads(text)
        f = d["features"]
        f["raster_x"], f["raster_y"] = tuple(f["raster_x"]), tuple(f["raster_y"])
        d["features"] = FeatureConfig(**f)
        m = d["model"]
        m["diffusion_channels"] = tuple(m["diffusion_channels"])
        d["model"] = ModelConfig(**m)
        d["loss"] = LossWeights(**d["loss"])
        return TrainConfig(**d)
