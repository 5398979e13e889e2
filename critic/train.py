"""``impartial train-critic``: train one variant on a synthesized dataset.

Variants: ``impartial`` (all counterfactuals, every loss), ``no-contrastive`` (same data,
contrastive weight 0), ``optimistic`` (``family = logged`` rows of logged scenes only: the world model an
expert-log-only pipeline would give). Losses are logged per step to stdout (progress
bar) and ``train_log.csv`` under ``loss/<name>``; validation runs every epoch with early
stopping; the best checkpoint (safetensors + config.json) and ``metrics.json`` are kept.
"""
from __future__ import annotations

import csv
import itertools
import dataclasses
import json
import math
import time
from pathlib import Path

import numpy as np
import torch

from schemas import CANONICAL_DT, InputError
from schemas.dataset import Dataset
from schemas.atomic import atomic_write_text

from .batching import Targets, TrainBatch, eval_groups, make_batch
from .calibration import fit_by_domain, fit_on_split
from .checkpoint import load_checkpoint, save_calibration, save_checkpoint
from .config import TrainConfig, Variant
from .device import autocast, module_device, prefetch, resolve_device
from .data import GroupSampler, SplitArrays, concat_arrays, load_splits, mixing_weights, row_sources
from .forecast import most_likely
from .losses import compute_losses, forecast_losses, step_targets
from .metrics import auroc, iou
from .model import build_model
from .risk import cumulative_risk


def _forward_losses(model, batch: TrainBatch, cfg: TrainConfig, with_diffusion: bool = True,
                    occ_plans: int | None = None):
    """Outputs and losses of ``batch`` (on the model's device; bf16 autocast on a GPU, :func:`critic.device.autocast`)."""
    fc = cfg.features
    with autocast(batch.plans.device):
        out = model(batch.scene, batch.plans, occ_plans=occ_plans)
        step_s = fc.dyn_stride * CANONICAL_DT
        tg = step_targets(batch.targets.coll_t, batch.targets.off_t, batch.plans, fc.dyn_stride, step_s, model.steps)
        weights = cfg.loss if cfg.variant is not Variant.NO_CONTRASTIVE else dataclasses.replace(cfg.loss, contrastive=0.0)
        total, terms = compute_losses(model, out, batch, tg, weights, cfg.focal_gamma, cfg.infonce_temperature,
                                      getattr(model, "dream", None) if with_diffusion else None)
    return total, terms, out


def _batches_per_epoch(sampler: GroupSampler, cfg: TrainConfig) -> int:
    return len(sampler) if not cfg.max_batches_per_epoch else min(len(sampler), cfg.max_batches_per_epoch)


def _cosine(opt: torch.optim.Optimizer, total_steps: int) -> torch.optim.lr_scheduler.LambdaLR:
    """Cosine decay of ``opt``'s learning rate to 0 over ``total_steps`` steps."""
    total_steps = max(1, total_steps)
    return torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 0.5 * (1 + math.cos(math.pi * min(s, total_steps) / total_steps)))


def forecast_error_sum(forecast: torch.Tensor, mode_logits: torch.Tensor, targets: Targets) -> tuple[float, int]:
    """Sum (m) and count of the most likely mode's error at the horizon end, over the agents observed
    then (``forecast`` ``[B, A, K, S, 2]``, ``mode_logits`` ``[B, A, K]``)."""
    end = most_likely(forecast, mode_logits)[:, :, -1]                                  # [B, A, 2]
    seen = targets.agent_future_mask[:, 1:, -1]
    err = (end - targets.agent_future[:, 1:, -1]).norm(dim=-1)
    return float(err[seen].sum()), int(seen.sum())


def _batches(arr: SplitArrays, sampler, n_batches: int, occ_size: int, device: torch.device):
    """The first ``n_batches`` batches of ``sampler`` on ``device``; on a GPU built one batch ahead in a background
    thread (:func:`critic.device.prefetch`), so the GPU does not wait for the host."""
    idxs = itertools.islice(sampler, n_batches)
    build = lambda idx: make_batch(arr, idx, occ_size, device)  # noqa: E731
    return prefetch(idxs, build) if device.type == "cuda" else map(build, idxs)


@torch.no_grad()
def evaluate(model, arr: SplitArrays, cfg: TrainConfig, max_groups: int = 160, occ_plans: int = 8,
             prefix: str = "val") -> dict:
    """Loss and metrics on the first ``max_groups`` scenes of ``arr``: hazard AUROC (risk at the
    horizon), occupancy IoU and the forecast's final displacement error (most likely mode, m),
    keyed ``<prefix>/<name>``."""
    model.eval()
    dev = module_device(model)
    losses, risks, labels, occ_p, occ_t = [], {"collision": [], "offroad": []}, {"collision": [], "offroad": []}, [], []
    fde_sum, fde_n = 0.0, 0
    seen = 0
    for idx in eval_groups(arr, cfg.scenes_per_batch):
        batch = make_batch(arr, idx, cfg.features.occ_size, dev)
        total, terms, out = _forward_losses(model, batch, cfg, with_diffusion=False, occ_plans=occ_plans)
        losses.append(float(total))
        risk = cumulative_risk(torch.sigmoid(out["hazard_logits"].float()).transpose(-1, -2))[..., -1].cpu()
        for j, name in enumerate(("collision", "offroad")):
            risks[name].append(risk[..., j].flatten().numpy())
        labels["collision"].append(np.isfinite(batch.targets.coll_t.flatten().cpu().numpy()))
        labels["offroad"].append(np.isfinite(batch.targets.off_t.flatten().cpu().numpy()))
        e, n = forecast_error_sum(out["agent_forecast"], out["agent_mode_logits"], batch.targets)
        fde_sum, fde_n = fde_sum + e, fde_n + n
        occ_p.append((out["occ_logits"].float() > 0)[:, :, :, 0].cpu().numpy())
        occ_t.append(batch.targets.occ[:, : out["occ_logits"].shape[1], :, 0].cpu().numpy() > 0.5)
        seen += len(idx)
        if seen >= max_groups:
            break
    model.train()
    res = {f"{prefix}/loss": float(np.mean(losses)), f"{prefix}/forecast_fde_m": fde_sum / max(fde_n, 1)}
    for name in risks:
        v, ok = auroc(np.concatenate(risks[name]), np.concatenate(labels[name]))
        res[f"{prefix}/{name}_auroc"] = v if ok else float("nan")
    v, ok = iou(np.concatenate([p.ravel() for p in occ_p]), np.concatenate([t.ravel() for t in occ_t]))
    res[f"{prefix}/occupancy_iou"] = v if ok else float("nan")
    return res


@torch.no_grad()
def forecast_fde(model, arr: SplitArrays, cfg: TrainConfig, max_groups: int = 160) -> float:
    """Final displacement error (m) of the most likely forecast mode over the first ``max_groups`` scenes."""
    model.eval()
    dev = module_device(model)
    total, count, seen = 0.0, 0, 0
    for idx in eval_groups(arr, cfg.scenes_per_batch):
        batch = make_batch(arr, idx[:, :1], cfg.features.occ_size, dev)
        with autocast(dev):
            f, logits = model.forecast(batch.scene)
        e, n = forecast_error_sum(f.float(), logits.float(), batch.targets)
        total, count, seen = total + e, count + n, seen + len(idx)
        if seen >= max_groups:
            break
    model.train()
    return total / max(count, 1)


def pretrain_forecaster(model, tr: SplitArrays, va: SplitArrays, cfg: TrainConfig, out: Path, deadline: float,
                        log=print, scene_weights=None) -> list[dict]:
    """Phase 1: ``cfg.forecast_pretrain_epochs`` epochs of the scene encoder and the forecaster alone on
    ``loss/motion`` + ``loss/mode`` (their ``cfg.loss`` weights), one row per scene and no plan rollout,
    with its own AdamW and cosine schedule. Steps go to ``pretrain_log.csv``; after each epoch the
    most likely mode's final displacement error on up to 160 validation scenes is returned and logged
    as ``pretrain/val_fde_m``. Stops at ``deadline`` (``time.time()``)."""
    if cfg.forecast_pretrain_epochs <= 0 or model.dynamics.forecaster is None or cfg.loss.motion <= 0:
        return []
    dev = module_device(model)
    params = [*model.scene.parameters(), *model.dynamics.forecaster.parameters()]
    opt = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    sampler = GroupSampler(tr, cfg.scenes_per_batch, 1, cfg.seed + 1, scene_weights)
    n_batches = _batches_per_epoch(sampler, cfg)
    sched = _cosine(opt, n_batches * cfg.forecast_pretrain_epochs)
    weights = {"motion": cfg.loss.motion, "mode": cfg.loss.mode}
    history, step = [], 0
    with open(out / "pretrain_log.csv", "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=["step", "epoch", "loss/total", "loss/motion", "loss/mode", "lr"])
        writer.writeheader()
        for epoch in range(cfg.forecast_pretrain_epochs):
            for batch in _batches(tr, sampler, n_batches, cfg.features.occ_size, dev):
                if time.time() > deadline:
                    break
                with autocast(dev):
                    terms = forecast_losses(*model.forecast(batch.scene), batch.targets)
                    total = sum(weights[k] * v for k, v in terms.items())
                opt.zero_grad(set_to_none=True)
                total.backward()
                torch.nn.utils.clip_grad_norm_(params, 1.0)
                opt.step()
                sched.step()
                step += 1
                writer.writerow({"step": step, "epoch": epoch + 1, "loss/total": total.item(), "lr": sched.get_last_lr()[0],
                                 **{f"loss/{k}": v.item() for k, v in terms.items()}})
            history.append({"pretrain_epoch": epoch + 1, "pretrain/val_fde_m": forecast_fde(model, va, cfg)})
            log(f"forecast pretraining epoch {epoch + 1}: val final displacement {history[-1]['pretrain/val_fde_m']:.2f} m")
            if time.time() > deadline:
                log(f"time budget of {cfg.max_minutes} min reached during forecast pretraining")
                break
    return history


def train(data: str | Path, out: str | Path, cfg: TrainConfig, quiet: bool = False,
          init: str | Path | None = None, weights: list[float] | None = None, device: str = "cpu") -> dict:
    """Train one critic on dataset ``data`` (its train split; its val split for early stopping and calibration)
    into ``out``; its plan length is the dataset's horizon (``cfg.features.plan_steps`` is replaced by it when they
    differ, and the checkpoint records it). ``data`` may list several datasets (comma-separated, one horizon);
    ``weights`` (one per dataset) then sets each one's share of the training scenes drawn
    (:func:`critic.data.mixing_weights`; default: every scene alike). ``init``: a checkpoint folder whose weights
    start the training (fine-tuning). ``device``: ``cpu``, ``cuda`` or ``auto`` (:func:`critic.device.resolve_device`)."""
    log = (lambda *a: None) if quiet else print
    resolve_device(device)   # a device this machine lacks fails before the features are built
    dirs = [d for d in str(data).split(",") if d]
    horizons = {d: Dataset(d).horizon_steps for d in dirs}
    if len(set(horizons.values())) > 1:
        raise InputError(f"datasets of different horizons cannot be mixed: {horizons}", path=str(data),
                         field="horizon_steps")
    horizon = horizons[dirs[0]]
    if horizon != cfg.features.plan_steps:
        log(f"plans of {horizon} steps in {data}: the critic forecasts {horizon} (configured {cfg.features.plan_steps})")
        cfg = cfg.for_horizon(horizon)
    start = time.time()  # the time budget covers feature building too
    scene_weights = None
    if weights is not None:
        if len(dirs) < 2:
            raise InputError("weights mix several datasets: give --data A,B", path=str(data), field="weights")
        if len(weights) != len(dirs):
            raise InputError(f"{len(weights)} weights for {len(dirs)} datasets", path=str(data), field="weights")
        parts = [load_splits(d, ("train",), cfg.features, log) for d in dirs]
        tr, scene_weights = concat_arrays(parts), mixing_weights(parts, weights)
    else:
        tr = load_splits(dirs, ("train",), cfg.features, log)
    va = load_splits(dirs, ("val",), cfg.features, log)
    return fit(tr, va, out, cfg, quiet=quiet, init=init, start=start, feature_build_s=time.time() - start,
               scene_weights=scene_weights, va_domains=row_sources(dirs, ("val",), va.sample_id), device=device)


def initial_weights(model, init: str | Path) -> None:
    """Load the weights of checkpoint folder ``init`` into ``model``; an :class:`~schemas.InputError` names the
    checkpoint when its architecture (horizon, widths) differs."""
    src, src_cfg = load_checkpoint(init, build_model)
    if src_cfg.features.plan_steps != model.fc.plan_steps:
        raise InputError(f"checkpoint forecasts {src_cfg.features.plan_steps} plan steps, this training "
                         f"{model.fc.plan_steps}: pretrain at the dataset's horizon", path=str(init), field="plan_steps")
    try:
        model.load_state_dict(src.state_dict())
    except RuntimeError as err:
        raise InputError(f"its weights do not fit this model's configuration ({str(err).splitlines()[0]})",
                         path=str(init), field="model") from None


def fit(tr: SplitArrays, va: SplitArrays, out: str | Path, cfg: TrainConfig, quiet: bool = False,
        init: str | Path | None = None, start: float | None = None, feature_build_s: float = 0.0,
        scene_weights=None, va_domains=None, device: str | torch.device = "cpu") -> dict:
    """Train one critic on the rows ``tr`` (``va``: early stopping and calibration) into ``out``; ``init`` as in
    :func:`train`; ``start`` (``time.time()``) is when the time budget began (now when not given);
    ``scene_weights`` (``[S]`` over ``tr``'s scenes): how often each scene is drawn (:class:`GroupSampler`);
    ``va_domains`` (``[R]`` str over ``va``'s rows, their source): besides the pooled calibration, one per domain
    fitted on that domain's validation rows (:func:`critic.calibration.fit_by_domain`); ``device`` as in :func:`train`
    (the checkpoint is the same whichever device trained it: weights are saved from the CPU)."""
    from tqdm import tqdm

    torch.manual_seed(cfg.seed)
    torch.set_num_threads(cfg.threads)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    log = (lambda *a: None) if quiet else print
    start = time.time() if start is None else start
    if cfg.variant is Variant.OPTIMISTIC:
        if va_domains is not None:
            va_domains = np.asarray(va_domains, dtype=object)[va.expert_logged]
        tr, va = tr.select_rows(tr.expert_logged), va.select_rows(va.expert_logged)
    pps = 1 if cfg.variant is Variant.OPTIMISTIC else cfg.plans_per_scene
    sampler = GroupSampler(tr, cfg.scenes_per_batch, pps, cfg.seed, scene_weights)
    dev = resolve_device(device)
    model = build_model(cfg)
    if init is not None:   # fine-tuning: the forecaster comes trained, so its pretraining phase is skipped
        initial_weights(model, init)
        cfg_pre = dataclasses.replace(cfg, forecast_pretrain_epochs=0)
    else:
        cfg_pre = cfg
    model.to(dev)
    pretrain = pretrain_forecaster(model, tr, va, cfg_pre, out, start + cfg.max_minutes * 60, log, scene_weights)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    n_batches = _batches_per_epoch(sampler, cfg)
    sched = _cosine(opt, n_batches * cfg.epochs)
    step, best, bad, history, cut = 0, float("inf"), 0, [], False
    batch_s = feat_s = 0.0
    with open(out / "train_log.csv", "w", newline="") as fh:
        writer = None
        for epoch in range(cfg.epochs):
            bar = tqdm(total=n_batches, desc=f"{cfg.variant} epoch {epoch + 1}/{cfg.epochs}", disable=quiet, leave=False)
            batches = iter(_batches(tr, sampler, n_batches, cfg.features.occ_size, dev))
            for b in range(n_batches):
                t0 = time.perf_counter()
                batch = next(batches)         # built here on the CPU; on a GPU waited for (built ahead)
                t1 = time.perf_counter()
                total, terms, _ = _forward_losses(model, batch, cfg, occ_plans=cfg.occ_plans_per_scene)
                opt.zero_grad(set_to_none=True)
                total.backward()
                torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
                opt.step()
                sched.step()
                t2 = time.perf_counter()
                feat_s += t1 - t0
                batch_s += t2 - t0
                step += 1
                row = {"step": step, "epoch": epoch + 1, "loss/total": total.item(),
                       **{f"loss/{k}": v.item() for k, v in terms.items()}, "lr": sched.get_last_lr()[0],
                       "time/batch_s": round(t2 - t0, 4), "time/features_s": round(t1 - t0, 4)}
                if writer is None:
                    writer = csv.DictWriter(fh, fieldnames=list(row))
                    writer.writeheader()
                writer.writerow({k: row.get(k, "") for k in writer.fieldnames})
                bar.set_postfix({k.split("/")[1]: f"{v:.3f}" for k, v in row.items() if k.startswith("loss/")})
                bar.update()
                if time.time() - start > cfg.max_minutes * 60:
                    cut = b + 1 < n_batches or epoch + 1 < cfg.epochs
                    break
            bar.close()
            metrics = evaluate(model, va, cfg)
            # the same AUROCs on training scenes: a fit close to val means underfitting, far above it overfitting
            probe = evaluate(model, tr, cfg, max_groups=cfg.fit_probe_scenes, occ_plans=1, prefix="fit")
            metrics.update({k: v for k, v in probe.items() if k.endswith("_auroc")})
            metrics.update(epoch=epoch + 1, step=step, minutes=round((time.time() - start) / 60, 2))
            history.append(metrics)
            log(" ".join(f"{k}={v:.4f}" if isinstance(v, float) else f"{k}={v}" for k, v in metrics.items()))
            if metrics["val/loss"] < best - 1e-4:
                best, bad = metrics["val/loss"], 0
                save_checkpoint(out, model, cfg, extra={"epoch": epoch + 1, "val": metrics})
            else:
                bad += 1
                if bad > cfg.patience:
                    log(f"early stop after epoch {epoch + 1}")
                    break
            if time.time() - start > cfg.max_minutes * 60:
                cut = cut or epoch + 1 < cfg.epochs
                log(f"time budget of {cfg.max_minutes} min reached")
                break
    # only the budget ends the pretraining early; the joint phase also stops early on validation loss
    out_of_time = cut or 0 < len(pretrain) < cfg.forecast_pretrain_epochs
    if out_of_time:
        log(f"the {cfg.max_minutes} min budget ended training after {len(pretrain)} of {cfg.forecast_pretrain_epochs} "
            f"pretraining and {len(history)} of {cfg.epochs} joint epochs: a faster machine trains further, so this "
            "checkpoint depends on the machine (--max-minutes raises the budget)")
    summary = {"variant": cfg.variant, "device": str(dev), "train_rows": tr.num_rows, "val_rows": va.num_rows, "steps": step,
               "initialised_from": str(init) if init is not None else None, "weighted_scenes": scene_weights is not None,
               "stopped_by_time_budget": out_of_time,
               "train_minutes": round((time.time() - start) / 60, 2), "feature_build_s": round(feature_build_s, 1),
               "feature_fraction_of_step": round(feat_s / max(batch_s, 1e-9), 4), "best_val_loss": best,
               "pretrain": pretrain, "history": history}
    if (out / "model.safetensors").exists():   # the best checkpoint, calibrated on the validation rows trained against
        best, _ = load_checkpoint(out, build_model)
        best.to(dev)
        calibration = fit_on_split(best.eval(), va, cfg.features.occ_size)
        by_domain = None if va_domains is None else fit_by_domain(best, va, va_domains, cfg.features.occ_size)
        save_calibration(out, calibration, by_domain)
        summary["calibration"] = calibration.to_dict()
        if by_domain:
            summary["calibration_by_domain"] = {d: c.to_dict() for d, c in by_domain.items()}
    atomic_write_text(out / "metrics.json", json.dumps(summary, indent=1))
    return summary
