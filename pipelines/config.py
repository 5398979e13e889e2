"""Pipeline configuration (frozen dataclass, named presets)."""
from __future__ import annotations

import dataclasses

from synth.config import CurriculumConfig, SynthConfig, VariantConfig
from synth.sources import ProceduralConfig


@dataclasses.dataclass(frozen=True)
class PipelineConfig:
    """What ``impartial synth`` runs.

    The resolved configuration is written into ``_manifest.json``.
    """

    procedural_scenarios: int = 500
    """Scenarios generated when the source is ``procedural``."""
    scenarios_per_shard: int = 10
    """Procedural scenarios per shard (the unit of work, writing and resumption)."""
    files_per_shard: int = 1
    """Input files (or item folders) per shard for file sources."""
    seed: int = 0
    """Base seed of the procedural generator and of synthesis."""
    synth: SynthConfig = SynthConfig(anchors_per_scenario=5)
    """Synthesis settings (horizon, limits, thresholds, curriculum)."""
    procedural: ProceduralConfig = ProceduralConfig()
    """Procedural generator settings (its seed is overridden by ``seed``)."""


def preset(name: str) -> PipelineConfig:
    """``default`` (>= 100k rows from 500 scenes), ``demo`` (small), ``debug`` (tiny, for tests)."""
    if name == "default":
        return PipelineConfig()
    if name == "demo":
        return PipelineConfig(procedural_scenarios=80, scenarios_per_shard=10,
                              synth=SynthConfig(anchors_per_scenario=3, curriculum=CurriculumConfig(samples_per_anchor=30),
                                                variants=VariantConfig(per_scenario=1)))
    if name == "debug":
        return PipelineConfig(procedural_scenarios=6, scenarios_per_shard=2,
                              synth=SynthConfig(anchors_per_scenario=1, variants=VariantConfig(per_scenario=1),
                                                curriculum=CurriculumConfig(samples_per_anchor=10, candidates_factor=2)))
    raise ValueError(f"preset: unknown {name!r} (default, demo, debug)")


def to_dict(cfg) -> dict:
    """JSON-able dict of a (nested) configuration dataclass."""
    return dataclasses.asdict(cfg)
