"""The one preset table: each named preset gives every command its configuration.

``impartial synth`` and ``render`` read :attr:`Preset.pipeline` (``render`` draws with the same
synthesis settings the dataset of that preset is made with), ``train-critic`` reads
:meth:`Preset.training`, ``refine`` reads :attr:`Preset.refine`. A preset is consistent across
commands: ``impartial synth --preset debug`` writes a dataset that ``impartial train-critic
--preset debug`` and ``impartial refine --preset debug`` accept (every split has scenes).

The table lives at the top layer because it spans all of them; the configuration classes it
fills stay in their own packages (``synth.config``, ``critic.config``, ``critic.rl.config``,
``pipelines.config``).
"""
from __future__ import annotations

import dataclasses

from critic.config import FeatureConfig, ModelConfig, TrainConfig, Variant
from critic.rl.config import GRPOConfig, RefineConfig
from synth.config import CurriculumConfig, SynthConfig, VariantConfig

from .config import PipelineConfig
from schemas.errors import InputError


@dataclasses.dataclass(frozen=True)
class Preset:
    """One named configuration of the whole chain."""

    name: str
    """The name the command line takes (``--preset NAME``)."""
    summary: str
    """One line: what the preset is for and how long it takes on 2 cores."""
    pipeline: PipelineConfig
    """``impartial synth`` (and ``impartial render``: ``pipeline.synth``)."""
    train: TrainConfig
    """``impartial train-critic`` for the ``impartial`` variant; :meth:`training` gives the others."""
    refine: RefineConfig
    """``impartial refine``."""

    def training(self, variant: Variant | str = Variant.IMPARTIAL) -> TrainConfig:
        """The training configuration of ``variant`` (the others differ only in their variant)."""
        return dataclasses.replace(self.train, variant=Variant(variant))


_DEFAULT = Preset(
    name="default",
    summary="make synth / train-critic / benchmark / refine: 1000 procedural scenes (about 240k rows); "
            "about 32 min of training for the impartial critic",
    pipeline=PipelineConfig(),
    train=TrainConfig(),
    refine=RefineConfig(),
)

_DEMO = Preset(
    name="demo",
    summary="make demo: 80 scenes, critics trained for about 2 min each, a small closed-loop study",
    pipeline=PipelineConfig(procedural_scenarios=80, scenarios_per_shard=10,
                            synth=SynthConfig(anchors_per_scenario=3, curriculum=CurriculumConfig(samples_per_anchor=30),
                                              variants=VariantConfig(per_scenario=1))),
    # the demo skips the forecast pretraining: on its ~160 training scenes and within its 2 min it cost
    # joint steps, and val collision AUROC fell from 0.872 to 0.840
    train=TrainConfig(epochs=30, max_minutes=2.0, patience=4, forecast_pretrain_epochs=0, model=ModelConfig(d_model=64)),
    # trimmed so that a fresh clone's make demo fits 10 minutes on 2 cores (it took 11.6 with 120 train anchors,
    # three GRPO seeds and 100 adaptation steps): two seeds still give the spread column
    refine=RefineConfig(train_anchors=100, eval_anchors=80, decision_times=(0, 20, 40, 60), adapt_anchors=30,
                        adapt_steps=60, grpo_seeds=2),
)

_DEBUG = Preset(
    name="debug",
    summary="tests: 24 scenes (every split has some), tiny models, seconds per stage",
    pipeline=PipelineConfig(procedural_scenarios=24, scenarios_per_shard=6,
                            synth=SynthConfig(anchors_per_scenario=1, variants=VariantConfig(per_scenario=1),
                                              curriculum=CurriculumConfig(samples_per_anchor=10, candidates_factor=2))),
    train=TrainConfig(epochs=1, max_minutes=0.5, forecast_pretrain_epochs=1, scenes_per_batch=4, plans_per_scene=4,
                      max_batches_per_epoch=6, fit_probe_scenes=4,
                      model=ModelConfig(d_model=32, heads=2, scene_layers=1, diffusion=True, diffusion_channels=(16, 32)),
                      features=FeatureConfig(max_agents=8, max_polylines=16, polyline_points=8)),
    refine=RefineConfig(train_anchors=6, eval_anchors=4, perturbed_per_anchor=1, decision_times=(0, 10),
                        grpo=GRPOConfig(il_epochs=5, iterations=10, states_per_batch=8, group=4, dagger_rounds=1),
                        grpo_seeds=2, adapt_anchors=3, adapt_steps=3, adapt_batch=4),
)

#: training on real logs at 4 s (``real`` and ``real-cv``): the real samples hold ~2,000 to 4,500 training scenes
#: per fold (150 to 280 steps an epoch); the demo's width, a short forecast pretraining and 3 joint epochs end by
#: epochs, not by the 15-minute guard, so a run does not depend on the machine's speed; constant-velocity path
#: entries for the interaction network (``cv_paths``: on fold 2 of the real samples DAF 0.806 -> 0.819 and
#: collision DAF 0.715 -> 0.733 at an unchanged collision AUROC, 0.918 / 0.917; one seed) and exact event indicators
#: for the hazard heads (``event_prior``: on fold 2, DAF 0.819 -> 0.870, off-road AUROC 0.98 -> 0.999, off-road DAF
#: 0.862 -> 0.977, collision AUROC 0.917 -> 0.929; constant velocity 0.887 DAF; one seed; 6 joint epochs instead of 3
#: gave DAF 0.874, within noise, for 1.7x the time)
_REAL_TRAIN = TrainConfig(epochs=3, max_minutes=15.0, patience=1, forecast_pretrain_epochs=2,
                          model=ModelConfig(d_model=64, cv_paths=True, event_prior=True),
                          features=FeatureConfig(plan_steps=40))

_REAL = Preset(
    name="real",
    summary="make synth-real: real logs (nuScenes, Argoverse 2, CommonRoad / NGSIM, nuPlan, Waymo) at NAVSIM's 4 s "
            "horizon, anchors every 2 s across each log, every long-tracked vehicle as ego",
    # 4 s (NAVSIM's horizon) lets the 9.1 s Waymo scenes and the 5.5 s NGSIM scenes yield anchors; with every
    # vehicle as ego a log gives many anchors, so 20 rows each keep the dataset near the default's size
    pipeline=PipelineConfig(files_per_shard=4,
                            synth=SynthConfig(horizon_steps=40, anchor_stride_steps=20, egos="all",
                                              curriculum=CurriculumConfig(samples_per_anchor=20),
                                              variants=VariantConfig(per_scenario=1))),
    train=_REAL_TRAIN,
    refine=RefineConfig(decision_times=(0, 10, 20, 30)),
)

_REAL_CV = Preset(
    name="real-cv",
    summary="impartial cv / make cv-real: one critic per fold of the real samples at 4 s; five folds of the ~90k real "
            "rows take about 40 min on 2 cores",
    pipeline=_REAL.pipeline,
    train=_REAL_TRAIN,
    refine=_REAL.refine,
)

#: every preset by name, in the order the command line lists them
PRESETS: dict[str, Preset] = {p.name: p for p in (_DEFAULT, _DEMO, _DEBUG, _REAL, _REAL_CV)}


def preset(name: str) -> Preset:
    """The preset called ``name``; a ``ValueError`` lists the known names."""
    try:
        return PRESETS[name]
    except KeyError:
        raise InputError(f"preset: unknown {name!r} ({', '.join(PRESETS)})") from None
