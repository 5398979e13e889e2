import math

import numpy as np
import torch

from critic import ImpartialCritic
from critic.calibration import Calibration, fit_scale_offset, horizon_nll
from pipelines.presets import preset


def test_horizon_nll_matches_a_plain_loop_over_rows_and_steps():
    rng = np.random.default_rng(0)
    logits, events = rng.normal(-2.0, 1.5, (7, 5)), np.array([1, 0, 0, 1, 1, 0, 0], float)
    scale, offset = 1.3, -0.4
    total = 0.0
    for row, y in zip(logits, events):
        survival = 1.0
        for v in row:
            survival *= 1.0 - 1.0 / (1.0 + math.exp(-(scale * v + offset)))
        total -= y * math.log(1.0 - survival) + (1.0 - y) * math.log(survival)
    got = horizon_nll(torch.as_tensor(logits), torch.as_tensor(events), torch.tensor(scale, dtype=torch.float64),
                      torch.tensor(offset, dtype=torch.float64))
    assert abs(float(got) - total / len(events)) < 1e-12


def test_scale_and_offset_fit_recovers_the_hazards_that_drew_the_events():
    rng = np.random.default_rng(1)
    logits = rng.normal(-3.0, 1.5, (20000, 16))
    hazards = 1.0 / (1.0 + np.exp(-(2.0 * logits - 1.0)))          # under-confident logits: true scale 2
    events = rng.random(20000) < 1.0 - np.prod(1.0 - hazards, axis=1)
    scale, offset = fit_scale_offset(torch.as_tensor(logits, dtype=torch.float32), events)
    assert abs(scale - 2.0) < 0.1 and abs(offset + 1.0) < 0.15


def test_events_of_one_class_leave_the_hazards_as_they_are():
    logits = torch.randn(50, 16)
    assert fit_scale_offset(logits, np.zeros(50, bool)) == (1.0, 0.0)
    assert fit_scale_offset(logits, np.ones(50, bool)) == (1.0, 0.0)


def test_calibrated_hazards_apply_each_events_scale_and_offset_and_old_offsets_read_with_scale_one():
    model = torch.nn.Linear(1, 1)
    critic = ImpartialCritic(model, preset("debug").train)
    logits = torch.tensor([[-1.0, 2.0], [0.5, -3.0]])
    model.calibration = Calibration.from_dict({"collision": -0.5, "offroad": 1.0, "collision_scale": 2.0,
                                               "offroad_scale": 0.5})
    want = torch.sigmoid(torch.tensor([[-2.5, 2.0], [0.5, -0.5]]))
    assert torch.allclose(critic.calibrated_hazards(logits), want)
    model.calibration = Calibration.from_dict({"collision": -0.5, "offroad": 1.0})   # from before the scales
    assert torch.allclose(critic.calibrated_hazards(logits), torch.sigmoid(logits + torch.tensor([-0.5, 1.0])))


def test_logits_without_signal_cannot_drive_the_scale_past_its_bounds():
    from critic.calibration import SCALE_BOUNDS

    rng = np.random.default_rng(2)
    logits = torch.as_tensor(rng.normal(-3.0, 1.0, (4000, 16)))
    scale, _ = fit_scale_offset(logits, rng.random(4000) < 0.3)     # events independent of the logits
    assert SCALE_BOUNDS[0] <= scale < SCALE_BOUNDS[0] + 0.05


def test_calibration_round_trips_through_its_stored_dict_and_a_missing_one_is_the_identity():
    cal = Calibration(collision_scale=1.6, collision=-0.25, offroad_scale=1.7, offroad=0.5)
    assert Calibration.from_dict(cal.to_dict()) == cal
    assert list(cal.to_dict()) == ["collision_scale", "collision", "offroad_scale", "offroad"]
    assert Calibration.from_dict(None) == Calibration.from_dict({"collision": 0.0, "offroad": 0.0}) == Calibration.identity()


def test_a_checkpoint_stores_its_calibration_atomically_and_leaves_the_rest_of_its_configuration(tmp_path):
    import json

    from critic.checkpoint import load_checkpoint, save_calibration, save_checkpoint
    from critic.model import build_model

    cfg = preset("debug").train
    save_checkpoint(tmp_path, build_model(cfg), cfg, extra={"epoch": 3})
    assert load_checkpoint(tmp_path, build_model)[0].calibration == Calibration.identity()
    cal = Calibration(collision_scale=2.0, collision=-1.0, offroad_scale=0.5, offroad=0.25)
    save_calibration(tmp_path, cal)
    assert load_checkpoint(tmp_path, build_model)[0].calibration == cal
    assert json.loads((tmp_path / "config.json").read_text())["_extra"]["epoch"] == 3
    assert sorted(p.name for p in tmp_path.iterdir()) == ["config.json", "model.safetensors"]   # no temp file left


def test_refitting_a_freshly_trained_checkpoint_reproduces_the_calibration_training_stored(debug_critic, synth_dataset,
                                                                                        tmp_path):
    import shutil

    from critic.calibrate import recalibrate

    folder, summary = debug_critic
    copy = shutil.copytree(folder, tmp_path / "ckpt")
    stored = ImpartialCritic.load(copy).model.calibration
    assert stored.to_dict() == summary["calibration"]
    assert recalibrate(copy, str(synth_dataset)) == stored
    assert ImpartialCritic.load(copy).model.calibration == stored


def test_each_domain_is_calibrated_on_its_own_rows_and_scoring_picks_it_with_the_pooled_one_as_fallback(
        debug_critic, synth_dataset, tmp_path):
    import shutil

    from critic.calibration import fit_by_domain, fit_on_split
    from critic.checkpoint import load_checkpoint, save_calibration
    from critic.data import load_splits
    from critic.model import build_model

    folder, _ = debug_critic
    critic = ImpartialCritic.load(folder)
    arr = load_splits(synth_dataset, ("val",), critic.cfg.features, log=lambda *a: None)
    domains = np.where(np.arange(arr.num_rows) % 2 == 0, "even", "odd").astype(object)
    fitted = fit_by_domain(critic.model, arr, domains, critic.cfg.features.occ_size)
    assert fitted["odd"] == fit_on_split(critic.model, arr.select_rows(domains == "odd"), critic.cfg.features.occ_size)
    mine = {"even": Calibration(collision_scale=2.0, collision=-1.0), "odd": Calibration(offroad=0.5)}
    copy = shutil.copytree(folder, tmp_path / "ckpt")
    pooled = critic.model.calibration
    save_calibration(copy, pooled, mine)
    model, _ = load_checkpoint(copy, build_model)
    assert model.calibration_by_domain == mine and model.calibration == pooled
    c = ImpartialCritic(model, critic.cfg)
    logits = torch.randn(3, 2, 4, 2)
    per_scene = c.calibrated_hazards(logits, ["even", "nuplan", "odd"])   # nuplan has none: the pooled one
    for b, name in enumerate(["even", "nuplan", "odd"]):
        assert torch.allclose(per_scene[b], c.calibrated_hazards(logits[b:b + 1], name)[0])
    assert torch.allclose(c.calibrated_hazards(logits, "nuplan"), c.calibrated_hazards(logits))
    save_calibration(copy, pooled)                                        # refitting without domains drops them
    assert load_checkpoint(copy, build_model)[0].calibration_by_domain == {}
