"""``impartial refine``: the refinement study.

One imitation-initialised speed policy is refined with GRPO under each reward source (each
critic, its adapted copy, and the true pseudo-simulation reward; :mod:`critic.rl.refine`), and
every policy is evaluated in closed loop on held-out scenes with true (incl. perturbed) agent
behaviour (:mod:`benchmark.closed_loop`). Writes, into the output folder: ``refine.json``,
``decision_states.npz`` (the decision states and every source's reward table),
``closed_loop.md`` / ``.csv`` / ``.png`` (:mod:`benchmark.closed_loop_report`), the policies
(``policy-<source>[-seed<i>].safetensors``) and the adapted critics (``critic-<name>-adapted``).
"""
from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import save_file

from critic.api import ImpartialCritic
from critic.rl.config import RefineConfig
from critic.rl.episodes import build_episodes
from critic.rl.observe import Observer
from critic.rl.refine import adapt_critics, critic_table, imitation_policy, refine_policies
from critic.rl.rollout import DecisionStates, closed_loop, collect_decisions
from schemas import InputError
from schemas.atomic import atomic_write, atomic_write_handle, atomic_write_text

from .closed_loop import episode_metrics, summarise
from .closed_loop_report import write_report
from .refine_ranking import speed_ranking


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


def write_decision_states(path: Path, ds: DecisionStates, tables: dict[str, np.ndarray]) -> Path:
    """``decision_states.npz`` atomically: the states' ``obs``, ``episode``, ``step``, both geometric
    rewards and every source's reward table ``reward_<source>`` ``[S, A]``."""
    return atomic_write_handle(path, lambda fh: np.savez_compressed(
        fh, obs=ds.obs, episode=ds.episode, step=ds.step, geometric_reward=ds.geometric_reward,
        critic_geometric_reward=ds.critic_geometric_reward, **{f"reward_{k}": v for k, v in tables.items()}))


def refine(data: Path, critics: dict[str, Path], out: Path, cfg: RefineConfig, log=print, device: str = "cpu") -> dict:
    """Runs the whole refinement study; writes tables, plot, policies and ``refine.json`` to ``out``. The critics
    score (and their adapted copies train) on ``device`` (:func:`critic.device.resolve_device`); the small policy
    networks and the simulator stay on the CPU."""
    t_start = time.time()
    if not critics:
        raise InputError("give at least one critic (--critic NAME=DIR)", field="critic")
    loaded = {n: ImpartialCritic.load(p, device) for n, p in critics.items()}
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
        pred_safety, true_safety = tables[name] - ds.critic_geometric_reward, ds.true_reward - ds.geometric_reward
        ranking[name] = speed_ranking(tables[name], ds.true_reward, pred_safety, true_safety)
        log(f"critic {name}: speed ranking vs simulator: {ranking[name]}")
    out.mkdir(parents=True, exist_ok=True)
    write_decision_states(out / "decision_states.npz", ds, tables)
    policies = refine_policies(base, ds.obs, tables, cfg, log)
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
            state = pol.state_dict()
            atomic_write(out / f"policy-{name}{f'-seed{i}' if i else ''}.safetensors",
                         lambda tmp, state=state: save_file(state, str(tmp)))
    result = {"table": table, "ranking": ranking, "decision_states": int(len(ds.obs)), "adaptation": adaptation,
              "train_episodes": len(train_eps), "test_episodes": len(test_eps), "seconds": time.time() - t_start,
              "config": json.loads(cfg.to_json()), "critics": {n: str(p) for n, p in critics.items()}}
    atomic_write_text(out / "refine.json", json.dumps(result, indent=1))
    log(md)
    return result
