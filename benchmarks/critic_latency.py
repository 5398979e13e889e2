"""Critic scoring latency: one ``score`` call for 64 scenes x 16 plans, and for batch size 1.

Usage: python benchmarks/critic_latency.py [--checkpoint DIR] [--repeats N] [--threads T] [--motion-layers K ...]
Without a checkpoint a freshly initialised default-preset model is timed (latency does
not depend on the weights); ``--motion-layers`` times it once per forecaster depth given
(0 = no agent-centric attention), so their cost compares within one run. Prints median
and p90 milliseconds per call.
"""
from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from critic import ImpartialCritic, SceneBatch  # noqa: E402
from pipelines.presets import preset  # noqa: E402
from critic.features import AGENT_FEATURES, MAP_FEATURES, PLAN_FEATURES  # noqa: E402
from critic.model import build_model  # noqa: E402


def random_inputs(cfg, B: int, G: int):
    fc = cfg.features
    g = torch.Generator().manual_seed(0)
    scenes = SceneBatch(torch.randn(B, 1 + fc.max_agents, fc.history_steps, AGENT_FEATURES, generator=g),
                        torch.rand(B, 1 + fc.max_agents, fc.history_steps, generator=g) > 0.3,
                        torch.randn(B, fc.max_polylines, fc.polyline_points, MAP_FEATURES, generator=g),
                        torch.rand(B, fc.max_polylines, fc.polyline_points, generator=g) > 0.3)
    return scenes, torch.randn(B, G, fc.plan_steps, PLAN_FEATURES, generator=g)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--checkpoint")
    ap.add_argument("--repeats", type=int, default=20)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--motion-layers", type=int, nargs="*", default=[])
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    if args.checkpoint:
        time_critic(ImpartialCritic.load(args.checkpoint), args)
        return
    cfg = preset("default").train
    for layers in args.motion_layers or [cfg.model.motion_layers]:
        c = dataclasses.replace(cfg, model=dataclasses.replace(cfg.model, motion_layers=layers))
        print(f"default preset, forecaster with {layers} agent-centric layers")
        time_critic(ImpartialCritic(build_model(c), c), args)


def time_critic(critic, args) -> None:
    for B, G in ((64, 16), (1, 16), (1, 1)):
        scenes, plans = random_inputs(critic.cfg, B, G)
        critic.score(scenes, plans)  # warm-up
        ts = []
        for _ in range(args.repeats):
            t = time.perf_counter()
            critic.score(scenes, plans)
            ts.append(1000 * (time.perf_counter() - t))
        print(f"score {B:3d} scenes x {G:2d} plans: median {np.median(ts):7.1f} ms, p90 {np.percentile(ts, 90):7.1f} ms"
              f"  ({1000 * B * G / np.median(ts):,.0f} plans/s, {args.threads} threads)")


if __name__ == "__main__":
    main()
