"""``impartial refine``: refine one imitation-initialised speed policy with GRPO under each
reward source (each critic, and the true pseudo-simulation reward) and evaluate every
policy in closed loop on held-out scenes with true (incl. perturbed) agent behaviour."""
from __future__ import annotations

import dataclasses
import json
import os
import time
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import save_file

from benchmark.closed_loop import episode_metrics, summarise
from benchmark.closed_loop_report import write_report
from critic.api import ImpartialCritic, SceneBatch
from critic.checkpoint import save_checkpoint
from schemas import InputError

from .adapt import adapt_critic
from .config import RefineConfig
from .episodes import build_episodes
from .grpo import grpo_refine, imitation_init
from .observe import Observer
from .rewards import critic_reward
from .rollout import DecisionStates, closed_loop, collect_decisions, dagger_states, imitation_states


def critic_table(critic: ImpartialCritic, ds: DecisionStates, rc: RefineConfig, batch: int = 48) -> np.ndarray:
    """Critic reward ``[S, A]`` of every decision state and target speed (one batched call per chunk)."""
    out = []
    dev = next(critic.model.parameters()).device
    for i in range(0, len(ds.obs), batch):
        sl = slice(i, i + batch)
        t = lambda x, dt=torch.float32: torch.as_tensor(x[sl], dtype=dt, device=dev)  # noqa: E731
        scenes = SceneBatch(t(ds.agents), t(ds.agents_mask, torch.bool), t(ds.map), t(ds.map_mask, torch.bool))
        hz = critic.score(scenes, t(ds.plans))["hazards"]
        out.append(critic_reward(hz, t(ds.critic_geometric_reward), rc.reward, critic.cfg.features.dyn_stride,
                                 rc.sim.safety_horizon).cpu().numpy())
    return np.concatenate(out)


def rank_agreement(pred: np.ndarray, true: np.ndarray, min_gap: float = 0.5) -> dict[str, float]:
    """Per state, Kendall tau-a between two rankings of the target speeds, averaged; and the
    pairwise agreement over pairs whose true rewards differ by more than ``min_gap``."""
    i, j = np.triu_indices(pred.shape[1], 1)
    dp, dt = np.sign(pred[:, i] - pred[:, j]), np.sign(true[:, i] - true[:, j])
    tau = (dp * dt).mean(1)
    big = np.abs(true[:, i] - true[:, j]) > min_gap
    agree = ((dp == dt) & big).sum() / max(big.sum(), 1)
    best = np.take_along_axis(true, pred.argmax(1)[:, None], 1)[:, 0]
    return {"kendall_tau": float(tau.mean()), "pairwise_agreement": float(agree),
            "regret_of_argmax": float((true.max(1) - best).mean())}


def imitation_policy(train_eps: list, cfg: RefineConfig, fc, log=print):
    """Behaviour cloning of the logged speeds, then ``cfg.grpo.dagger_rounds`` DAgger rounds."""
    obs, tgt = imitation_states(train_eps, cfg, fc)
    pol = imitation_init(obs, tgt, len(cfg.sim.target_speeds), cfg.grpo, log)
    for r in range(cfg.grpo.dagger_rounds):
        o, t = dagger_states(train_eps, pol.greedy, cfg, fc)
        obs, tgt = np.concatenate([obs, o]), np.concatenate([tgt, t])
        log(f"dagger round {r + 1}: {len(o)} visited states relabelled ({len(obs)} in total)")
        pol = imitation_init(obs, tgt, len(cfg.sim.target_speeds), cfg.grpo, log)
    return pol


def _outcome_masks(true_safety: np.ndarray, fail_below: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``fail`` ``[S, A]`` (true safety reward < ``fail_below``), and per state ``mixed`` (some speeds
    fail, others not) and ``safe`` (none fails), ``[S]``."""
    fail = true_safety < fail_below
    return fail, fail.any(1) & ~fail.all(1), ~fail.any(1)


def within_state_auroc(pred_safety: np.ndarray, true_safety: np.ndarray, fail_below: float = -1.0) -> dict[str, float]:
    """Over states where some target speeds truly fail (true safety reward < ``fail_below``) and
    others do not: the AUROC of the predicted penalty ``-pred_safety`` for telling them apart,
    averaged over such states (NaN if there are none), and their number. ``[S, A]`` inputs."""
    fail, mixed, _ = _outcome_masks(true_safety, fail_below)
    f, r = fail[mixed], -pred_safety[mixed]
    gt = (r[:, :, None] > r[:, None, :]) + 0.5 * (r[:, :, None] == r[:, None, :])   # [M, A, A]
    pairs = f[:, :, None] & ~f[:, None, :]
    auc = (gt * pairs).sum((1, 2)) / np.maximum(pairs.sum((1, 2)), 1)
    return {"within_state_auroc": float(auc.mean()) if len(auc) else float("nan"), "mixed_states": int(mixed.sum())}


def penalty_gaps(pred_safety: np.ndarray, true_safety: np.ndarray, fail_below: float = -1.0) -> dict[str, float]:
    """How strongly a reward's safety part ``[S, A]`` (speeds in increasing order) separates outcomes.

    ``mixed_state_gap``: over states where some speeds truly fail and others do not, the mean of
    (mean safety reward of the safe speeds - that of the failing speeds); ``safe_state_speed_slope``:
    over states where no speed fails, the mean safety reward of the slowest speed minus the fastest
    (a critic's false alarms that grow with speed). NaN where there are no such states.
    """
    fail, mixed, safe = _outcome_masks(true_safety, fail_below)
    f, p = fail[mixed], pred_safety[mixed]
    gap = (p * ~f).sum(1) / (~f).sum(1) - (p * f).sum(1) / f.sum(1)
    slope = pred_safety[safe, 0] - pred_safety[safe, -1]
    return {"mixed_state_gap": float(gap.mean()) if len(gap) else float("nan"),
            "safe_state_speed_slope": float(slope.mean()) if len(slope) else float("nan")}


def state_auroc(pred_safety: np.ndarray, true_safety: np.ndarray, fail_below: float = -1.0) -> dict[str, float]:
    """Across decision states: the AUROC of the mean predicted penalty ``-pred_safety.mean(1)`` for
    telling states where some speed truly fails from states where none does (does the critic know
    *when* danger is near, rather than which speed is worse); and the same over all (state, speed)
    pairs pooled. ``[S, A]`` inputs; NaN when one class is missing."""
    from benchmark.metrics import auroc

    fail = true_safety < fail_below
    state, ok = auroc(-pred_safety.mean(1), fail.any(1))
    pooled, ok2 = auroc(-pred_safety.ravel(), fail.ravel())
    return {"state_auroc": float(state) if ok else float("nan"), "pooled_auroc": float(pooled) if ok2 else float("nan")}


def closed_loop_table(runs: dict[str, list[list[dict]]]) -> dict[str, dict[str, dict]]:
    """``runs[policy][seed]`` = per-episode metrics -> ``table[section][label]``: every seed's
    episodes pooled, plus the spread (std) of violations per 100 m over seeds."""
    label = lambda n: "unrefined (IL)" if n == "unrefined" else f"GRPO + {n}"  # noqa: E731
    sections = (("all", lambda r: True), ("log replay", lambda r: r["variant"] == "log"),
                ("perturbed agents", lambda r: r["variant"] != "log"))
    table: dict[str, dict[str, dict]] = {}
    for section, keep in sections:
        rows = {n: [[r for r in seed if keep(r)] for seed in seeds] for n, seeds in runs.items()}
        if not all(all(seed) for seeds in rows.values() for seed in seeds):
            continue
        table[section] = {}
        for n, seeds in rows.items():
            s = summarise([r for seed in seeds for r in seed])
            s["violations_sd_seeds"] = float(np.std([summarise(seed)["violations_per_100m"] for seed in seeds]))
            s["seeds"], s["episodes"] = len(seeds), len(seeds[0])
            table[section][label(n)] = s
    return table


def adapt_critics(data: Path, loaded: dict[str, ImpartialCritic], base, cfg: RefineConfig, fc, out: Path,
                  log=print) -> dict:
    """Adds ``<name>-adapted`` to ``loaded`` for every non-optimistic critic (:mod:`critic.rl.adapt`),
    from the imitation policy ``base`` in closed loop on ``cfg.adapt_anchors`` validation anchors,
    and saves each as a checkpoint ``out/critic-<name>-adapted``. Returns what was done for
    ``refine.json`` (skipped, with the reason, when the dataset has no validation split)."""
    names = [n for n, c in loaded.items() if c.cfg.variant != "optimistic"]
    if not cfg.adapt_anchors or not names:
        return {"critics": []}
    try:
        val_eps = build_episodes(data, "val", cfg.adapt_anchors, cfg.perturbed_per_anchor, cfg.seed + 2)
    except InputError as err:
        log(f"adaptation skipped: {err}")
        return {"critics": [], "skipped": str(err)}
    vds = collect_decisions(val_eps, base.greedy, cfg, fc, log, label_critic_plans=True)
    info = {"critics": names, "val_episodes": len(val_eps), "val_decision_states": int(len(vds.obs)),
            "failing_plan_share": float(vds.critic_plan_outcomes.any(-1).mean()), "steps": cfg.adapt_steps}
    for name in names:
        c = loaded[f"{name}-adapted"] = adapt_critic(loaded[name], vds, cfg, log)
        save_checkpoint(out / f"critic-{name}-adapted", c.model, c.cfg,
                        extra={"calibration": c.model.calibration, "adaptation": info})
    return info


def refine(data: Path, critics: dict[str, Path], out: Path, cfg: RefineConfig, log=print) -> dict:
    """Runs the whole refinement study; writes tables, plot, policies and ``refine.json`` to ``out``."""
    t_start = time.time()
    if not critics:
        raise InputError("give at least one critic (--critic NAME=DIR)", field="critic")
    loaded = {n: ImpartialCritic.load(p) for n, p in critics.items()}
    if len({c.cfg.features for c in loaded.values()}) != 1:   # frozen dataclasses compare by value
        raise InputError("critics use different feature configurations; refine compares them on the same states",
                         field="features")
    fc = next(iter(loaded.values())).cfg.features
    torch.manual_seed(cfg.seed)
    train_eps = build_episodes(data, "train", cfg.train_anchors, cfg.perturbed_per_anchor, cfg.seed)
    test_eps = build_episodes(data, "test", cfg.eval_anchors, cfg.perturbed_per_anchor, cfg.seed + 1)
    log(f"episodes: {len(train_eps)} train, {len(test_eps)} held-out test ({time.time() - t_start:.0f} s)")
    base = imitation_policy(train_eps, cfg, fc, log)
    ds = collect_decisions(train_eps, base.greedy, cfg, fc, log)
    log(f"decision states: {len(ds.obs)} ({time.time() - t_start:.0f} s)")
    adaptation = adapt_critics(data, loaded, base, cfg, fc, out, log)
    log(f"adaptation: {adaptation} ({time.time() - t_start:.0f} s)")
    tables = {"simulator": ds.true_reward}
    ranking = {}
    for name, c in loaded.items():
        tables[name] = critic_table(c, ds, cfg)
        ranking[name] = rank_agreement(tables[name], ds.true_reward)
        pred_safety, true_safety = tables[name] - ds.critic_geometric_reward, ds.true_reward - ds.geometric_reward
        ranking[name].update({f"safety_{k}": v for k, v in rank_agreement(pred_safety, true_safety).items()})
        ranking[name].update(within_state_auroc(pred_safety, true_safety))
        ranking[name].update(penalty_gaps(pred_safety, true_safety))
        ranking[name].update(state_auroc(pred_safety, true_safety))
        log(f"critic {name}: speed ranking vs simulator: {ranking[name]}")
    out.mkdir(parents=True, exist_ok=True)
    tmp = out / "decision_states.tmp.npz"
    np.savez_compressed(tmp, obs=ds.obs, episode=ds.episode, step=ds.step, geometric_reward=ds.geometric_reward,
                        critic_geometric_reward=ds.critic_geometric_reward,
                        **{f"reward_{k}": v for k, v in tables.items()})
    os.replace(tmp, out / "decision_states.npz")
    policies = {"unrefined": [base]}
    for name, table in tables.items():
        policies[name] = [grpo_refine(base, ds.obs, table, dataclasses.replace(cfg.grpo, seed=cfg.grpo.seed + i), log)
                          for i in range(cfg.grpo_seeds)]
    log(f"policies refined ({time.time() - t_start:.0f} s); closed-loop evaluation")
    runs: dict[str, list[list[dict]]] = {n: [[] for _ in pols] for n, pols in policies.items()}
    for ep in test_eps:
        obsr = Observer(ep, fc)
        for name, pols in policies.items():
            for i, pol in enumerate(pols):
                runs[name][i].append(episode_metrics(ep, closed_loop(ep, obsr, pol.greedy, cfg), cfg.sim.dt))
    table = closed_loop_table(runs)
    md = write_report(out, table)
    for name, pols in policies.items():
        for i, pol in enumerate(pols):
            save_file(pol.state_dict(), str(out / f"policy-{name}{f'-seed{i}' if i else ''}.safetensors"))
    result = {"table": table, "ranking": ranking, "decision_states": int(len(ds.obs)), "adaptation": adaptation,
              "train_episodes": len(train_eps), "test_episodes": len(test_eps), "seconds": time.time() - t_start,
              "config": json.loads(cfg.to_json()), "critics": {n: str(p) for n, p in critics.items()}}
    tmp = out / "refine.json.tmp"
    tmp.write_text(json.dumps(result, indent=1))
    os.replace(tmp, out / "refine.json")
    log(md)
    return result
