"""``impartial refine``: refine one imitation-initialised speed policy with GRPO under each
reward source (each critic, and the true pseudo-simulation reward) and evaluate every
policy in closed loop on held-out scenes with true (incl. perturbed) agent behaviour."""
from __future__ import annotations

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
from schemas import InputError

from .config import RefineConfig
from .episodes import build_episodes
from .grpo import grpo_refine, imitation_init
from .observe import Observer
from .rewards import critic_reward
from .rollout import DecisionStates, closed_loop, collect_decisions, imitation_states


def critic_table(critic: ImpartialCritic, ds: DecisionStates, rc: RefineConfig, batch: int = 48) -> np.ndarray:
    """Critic reward ``[S, A]`` of every decision state and target speed (one batched call per chunk)."""
    out = []
    dev = next(critic.model.parameters()).device
    for i in range(0, len(ds.obs), batch):
        sl = slice(i, i + batch)
        t = lambda x, dt=torch.float32: torch.as_tensor(x[sl], dtype=dt, device=dev)  # noqa: E731
        scenes = SceneBatch(t(ds.agents), t(ds.agents_mask, torch.bool), t(ds.map), t(ds.map_mask, torch.bool))
        hz = critic.score(scenes, t(ds.plans))["hazards"]
        out.append(critic_reward(hz, t(ds.geometric_reward), rc.reward, critic.cfg.features.dyn_stride,
                                 rc.sim.reward_steps).cpu().numpy())
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
    il_obs, il_tgt = imitation_states(train_eps, cfg, fc)
    base = imitation_init(il_obs, il_tgt, len(cfg.sim.target_speeds), cfg.grpo, log)
    ds = collect_decisions(train_eps, base.greedy, cfg, fc, log)
    log(f"decision states: {len(ds.obs)} ({time.time() - t_start:.0f} s)")
    tables = {"simulator": ds.true_reward}
    ranking = {}
    for name, c in loaded.items():
        tables[name] = critic_table(c, ds, cfg)
        ranking[name] = rank_agreement(tables[name], ds.true_reward)
        safety = rank_agreement(tables[name] - ds.geometric_reward, ds.true_reward - ds.geometric_reward)
        ranking[name].update({f"safety_{k}": v for k, v in safety.items()})
        log(f"critic {name}: speed ranking vs simulator: {ranking[name]}")
    out.mkdir(parents=True, exist_ok=True)
    tmp = out / "decision_states.tmp.npz"
    np.savez_compressed(tmp, obs=ds.obs, episode=ds.episode, step=ds.step, geometric_reward=ds.geometric_reward,
                        **{f"reward_{k}": v for k, v in tables.items()})
    os.replace(tmp, out / "decision_states.npz")
    policies = {"unrefined": base}
    for name, table in tables.items():
        policies[name] = grpo_refine(base, ds.obs, table, cfg.grpo, log)
    log(f"policies refined ({time.time() - t_start:.0f} s); closed-loop evaluation")
    per_policy: dict[str, list[dict]] = {n: [] for n in policies}
    for ep in test_eps:
        obsr = Observer(ep, fc)
        for name, pol in policies.items():
            per_policy[name].append(episode_metrics(ep, closed_loop(ep, obsr, pol.greedy, cfg), cfg.sim.dt))
    label = lambda n: "unrefined (IL)" if n == "unrefined" else f"GRPO + {n}"  # noqa: E731
    table = {"all": {label(n): summarise(r) for n, r in per_policy.items()}}
    for section, keep in (("log replay", lambda r: r["variant"] == "log"),
                          ("perturbed agents", lambda r: r["variant"] != "log")):
        rows = {n: [x for x in r if keep(x)] for n, r in per_policy.items()}
        if all(rows.values()):
            table[section] = {label(n): summarise(r) for n, r in rows.items()}
    md = write_report(out, table)
    for name, pol in policies.items():
        save_file(pol.state_dict(), str(out / f"policy-{name}.safetensors"))
    result = {"table": table, "ranking": ranking, "decision_states": int(len(ds.obs)),
              "train_episodes": len(train_eps), "test_episodes": len(test_eps), "seconds": time.time() - t_start,
              "config": json.loads(cfg.to_json()), "critics": {n: str(p) for n, p in critics.items()}}
    tmp = out / "refine.json.tmp"
    tmp.write_text(json.dumps(result, indent=1))
    os.replace(tmp, out / "refine.json")
    log(md)
    return result
