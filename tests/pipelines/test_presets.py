import dataclasses

import pytest

from critic.config import TrainConfig, Variant
from pipelines.presets import PRESETS, preset
from schemas import Dataset


def test_every_preset_configures_every_command_consistently():
    for p in PRESETS.values():
        assert p.train.features.plan_steps == p.pipeline.synth.horizon_steps  # the critic reads the plans synth writes
        assert p.train.features.history_steps == p.pipeline.synth.history_steps + 1   # history frames plus the anchor
        for v in Variant:   # a variant changes nothing else of the preset's training
            assert dataclasses.replace(p.training(v.value), variant=Variant.IMPARTIAL) == p.train


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
