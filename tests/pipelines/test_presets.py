import dataclasses

import pytest

from critic.config import TrainConfig, Variant
from pipelines.presets import PRESETS, preset
from schemas import Dataset


def test_every_preset_configures_every_command_consistently():
    for name, p in PRESETS.items():
        assert p.name == name and p.summary
        assert p.training().variant is Variant.IMPARTIAL
        assert p.training("optimistic") == dataclasses.replace(p.train, variant=Variant.OPTIMISTIC)
        assert p.train.features.plan_steps == p.pipeline.synth.horizon_steps  # the critic reads the plans synth writes


def test_unknown_preset_names_the_known_ones():
    with pytest.raises(ValueError, match="default, demo, debug"):
        preset("nope")


def test_variant_names_round_trip_through_the_saved_config():
    cfg = TrainConfig(variant="no-contrastive")
    assert cfg.variant is Variant.NO_CONTRASTIVE and TrainConfig.from_json(cfg.to_json()) == cfg
    with pytest.raises(ValueError, match="impartial, optimistic, no-contrastive"):
        TrainConfig(variant="pessimistic")


def test_debug_preset_dataset_has_every_split_so_debug_training_can_validate(synth_dataset):
    """``impartial synth --preset debug`` then ``train-critic --preset debug`` (the shared fixture runs both)."""
    assert Dataset(synth_dataset).splits == ("train", "val", "test")
