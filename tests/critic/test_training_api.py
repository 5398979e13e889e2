import json
import subprocess
import sys

import numpy as np
import pytest
import torch

from critic import ImpartialCritic
from critic.batching import make_batch
from critic.config import TrainConfig
from pipelines.presets import preset
from critic.data import load_split
from critic.train import train


@pytest.fixture(scope="module")
def dataset(synth_dataset):
    return synth_dataset


@pytest.fixture(scope="module")
def checkpoint(debug_critic):
    return debug_critic


def test_debug_preset_trains_and_writes_a_safetensors_checkpoint(checkpoint):
    out, summary = checkpoint
    assert (out / "model.safetensors").exists() and (out / "config.json").exists()
    assert summary["steps"] > 0
    log = (out / "train_log.csv").read_text().splitlines()
    assert log[0].startswith("step,epoch,loss/total") and "loss/contrastive" in log[0] and "loss/diffusion" in log[0]
    assert 0.0 <= summary["feature_fraction_of_step"] < 0.5


def test_a_budget_that_ends_training_early_is_flagged_and_said_and_a_finished_run_is_not(dataset, tmp_path, capsys):
    import dataclasses

    cfg = dataclasses.replace(preset("debug").train, max_minutes=0.0, forecast_pretrain_epochs=0)
    summary = train(dataset, tmp_path / "cut", cfg)
    assert summary["stopped_by_time_budget"] is True and summary["steps"] == 1
    assert "budget ended training after 0 of 0 pretraining and 1 of 1 joint epochs" in capsys.readouterr().out
    assert json.loads((tmp_path / "cut" / "metrics.json").read_text())["stopped_by_time_budget"] is True
    summary = train(dataset, tmp_path / "whole", dataclasses.replace(cfg, max_minutes=60.0))
    assert summary["stopped_by_time_budget"] is False and summary["steps"] == cfg.max_batches_per_epoch
    assert "budget ended" not in capsys.readouterr().out


def test_every_epoch_reports_the_fit_on_training_scenes_next_to_validation(checkpoint):
    _, summary = checkpoint
    for epoch in summary["history"]:
        assert {"val/collision_auroc", "fit/collision_auroc", "fit/offroad_auroc"} <= set(epoch)
        assert "fit/loss" not in epoch and "fit/occupancy_iou" not in epoch


def test_config_round_trips_through_json():
    cfg = preset("debug").training("no-contrastive")
    assert TrainConfig.from_json(cfg.to_json()) == cfg
    with pytest.raises(ValueError, match="variant"):
        TrainConfig(variant="pessimistic")


def _inputs(dataset, cfg):
    va = load_split(dataset, "train", cfg.features)
    idx = np.stack([np.flatnonzero(va.row_scene == s)[:4] for s in range(2)])
    b = make_batch(va, idx, cfg.features.occ_size)
    return b.scene, b.plans


def test_score_returns_batched_tensors_without_gradients(dataset, checkpoint):
    critic = ImpartialCritic.load(checkpoint[0])
    scenes, plans = _inputs(dataset, critic.cfg)
    out = critic.score(scenes, plans)
    assert out["collision_risk"].shape == (2, 4) and out["hazards"].shape == (2, 4, 16, 2)
    assert not out["risk"].requires_grad and ((out["risk"] >= 0) & (out["risk"] <= 1)).all()
    assert (out["collision_time_s"] <= 8.0).all()
    dreams = critic.dream(scenes, plans[:, :2], n=2, steps=3, generator=torch.Generator().manual_seed(0))
    assert dreams.shape == (2, 2, 2, 8, 2, 32, 32) and ((dreams >= 0) & (dreams <= 1)).all()


def test_checkpoint_loaded_in_a_fresh_process_gives_identical_scores(dataset, checkpoint, tmp_path):
    critic = ImpartialCritic.load(checkpoint[0])
    scenes, plans = _inputs(dataset, critic.cfg)
    here = critic.score(scenes, plans)["risk"]
    torch.save({"a": scenes.agents, "am": scenes.agents_mask, "m": scenes.map, "mm": scenes.map_mask, "p": plans,
                "d": scenes.drivable},
               tmp_path / "inputs.pt")
    code = (
        "import sys, torch, json; from critic import ImpartialCritic, SceneBatch;"
        f"c = ImpartialCritic.load({str(checkpoint[0])!r});"
        f"d = torch.load({str(tmp_path / 'inputs.pt')!r}, weights_only=True);"
        "r = c.score(SceneBatch(d['a'], d['am'], d['m'], d['mm'], d['d']), d['p'])['risk'];"
        "print(json.dumps(r.double().tolist()))"
    )
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    assert torch.equal(torch.tensor(json.loads(res.stdout), dtype=torch.float64), here.double())


def test_load_refuses_a_checkpoint_without_weights(tmp_path):
    from schemas import InputError

    (tmp_path / "config.json").write_text(preset("debug").train.to_json())
    with pytest.raises(InputError, match="model.safetensors"):
        ImpartialCritic.load(tmp_path)


def test_collision_targets_are_the_at_fault_ones_and_old_datasets_are_refused(dataset, tmp_path):
    import shutil

    import pyarrow.parquet as pq

    from schemas import InputError

    cfg = preset("debug").train.features
    arr = load_split(dataset, "val", cfg, log=lambda *a: None)
    t = pq.read_table(dataset / "counterfactuals" / "split=val")
    fault = np.array(t["collision_at_fault"].to_pylist(), bool)
    assert np.isfinite(arr.coll_t).sum() == fault.sum() <= np.array(t["collision"].to_pylist()).sum()
    old = tmp_path / "old"
    shutil.copytree(dataset, old, ignore=shutil.ignore_patterns("_cache"))
    part = sorted((old / "counterfactuals" / "split=val").glob("part-*.parquet"))[0]
    pq.write_table(pq.read_table(part).drop_columns(["collision_at_fault"]), part)
    with pytest.raises(InputError, match="collision_at_fault"):
        load_split(old, "val", cfg, log=lambda *a: None)


def test_the_optimistic_critic_sees_only_the_expert_logs_of_logged_scenes(dataset):
    from schemas.splits import is_variant

    arr = load_split(dataset, "train", preset("debug").train.features, log=lambda *a: None)
    variant_rows = np.array([is_variant(s) for s in arr.sample_id])
    assert variant_rows.any(), "the debug dataset should hold scene variants"
    assert (arr.logged & variant_rows).any() and not (arr.expert_logged & variant_rows).any()
    assert arr.expert_logged.sum() == (arr.logged & ~variant_rows).sum() > 0


def test_forecast_pretraining_lowers_the_motion_loss_and_moves_only_the_encoder_and_forecaster(dataset, tmp_path):
    import dataclasses
    import time

    from critic.data import load_splits
    from critic.model import build_model
    from critic.train import pretrain_forecaster

    cfg = dataclasses.replace(preset("debug").train, forecast_pretrain_epochs=4)
    tr, va = load_splits(dataset, ("train",), cfg.features, lambda *a: None), load_split(dataset, "val", cfg.features)
    torch.manual_seed(0)
    model = build_model(cfg)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    history = pretrain_forecaster(model, tr, va, cfg, tmp_path, time.time() + 600, log=lambda *a: None)
    assert [h["pretrain_epoch"] for h in history] == [1, 2, 3, 4]
    moved = {k.split(".")[0] + "." + k.split(".")[1] for k, v in model.state_dict().items() if not torch.equal(v, before[k])}
    assert moved == {"scene.agent", "scene.poly", "scene.kind", "scene.attn", "dynamics.forecaster"}
    rows = (tmp_path / "pretrain_log.csv").read_text().splitlines()
    losses = [float(r.split(",")[2]) for r in rows[1:]]
    per_epoch = len(losses) // 4
    assert per_epoch > 0 and np.mean(losses[-per_epoch:]) < np.mean(losses[:per_epoch])
    assert history[-1]["pretrain/val_fde_m"] < history[0]["pretrain/val_fde_m"]


def test_forecast_error_is_the_most_likely_modes_miss_at_the_horizon_end_over_agents_seen_then():
    from critic.batching import Targets
    from critic.train import forecast_error_sum

    forecast = torch.zeros(1, 2, 2, 3, 2)                      # [B, A, K, S, 2]
    forecast[0, 0, 1, -1] = torch.tensor([3.0, 4.0])           # agent 1, its likely mode 1: 5 m off
    forecast[0, 1, 0, -1] = torch.tensor([1.0, 0.0])           # agent 2: not seen at the end
    logits = torch.tensor([[[0.0, 2.0], [1.0, 0.0]]])
    mask = torch.ones(1, 3, 3, dtype=torch.bool)
    mask[0, 2, -1] = False
    targets = Targets(coll_t=torch.full((1, 1), torch.inf), off_t=torch.full((1, 1), torch.inf),
                      occ=torch.zeros(1, 1, 1, 2, 2, 2), agent_future=torch.zeros(1, 3, 3, 2), agent_future_mask=mask)
    assert forecast_error_sum(forecast, logits, targets) == (5.0, 1)


def test_mixing_weights_give_each_dataset_its_share_of_the_scenes_drawn(dataset):
    from critic.config import FeatureConfig
    from critic.data import GroupSampler, concat_arrays, mixing_weights

    arr = load_split(dataset, "train", FeatureConfig())
    small = arr.select_rows(np.isin(arr.row_scene, np.unique(arr.row_scene)[:2]))   # a 2-scene "dataset"
    parts = [arr, small]
    both = concat_arrays(parts)
    w = mixing_weights(parts, [1.0, 3.0])
    drawn = np.concatenate([b.ravel() for _ in range(60) for b in GroupSampler(both, 4, 1, 0, w)])
    second = both.row_scene[drawn] >= len(arr.agents)          # rows whose scene comes from the second part
    assert 0.7 < second.mean() < 0.8                           # 3 / (1 + 3), though it holds 2 scenes of many
    with pytest.raises(ValueError, match="weights"):
        mixing_weights(parts, [1.0])
    with pytest.raises(ValueError, match="weights"):
        mixing_weights(parts, [0.0, 0.0])


def test_fine_tuning_starts_from_the_given_checkpoint_and_refuses_another_horizon(dataset, checkpoint, tmp_path):
    from critic.model import build_model
    from critic.train import initial_weights
    from schemas import InputError

    folder, _ = checkpoint
    cfg = ImpartialCritic.load(folder).cfg
    model = build_model(cfg)
    initial_weights(model, folder)
    ref = ImpartialCritic.load(folder).model.state_dict()
    assert all(torch.equal(v, ref[k]) for k, v in model.state_dict().items())
    with pytest.raises(InputError, match="plan steps"):
        initial_weights(build_model(cfg.for_horizon(40)), folder)
