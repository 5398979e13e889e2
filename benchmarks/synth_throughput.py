"""Labelled rollouts per second per core: bicycle rollout + physics rules + labels.

Usage: python benchmarks/synth_throughput.py [--plans N] [--scenes S] [--agents A] [--profile]
For each procedural scene, the anchor context keeps the ``--agents`` agents nearest to
the ego (32 by default) and ``--plans`` candidate plans are drawn from the families,
rolled out over an 8 s horizon, physics-checked and labelled. One process, one core.
Also prints the end-to-end engine rate (``synthesize_scenario``, which adds family
sampling and selection), and with ``--profile`` where the time goes.
"""
from __future__ import annotations

import argparse
import cProfile
import dataclasses
import pstats
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from synth.config import SynthConfig  # noqa: E402
from synth.context import build_context  # noqa: E402
from synth.curriculum import generate  # noqa: E402
from synth.engine import SynthStats, choose_anchors, synthesize_scenario  # noqa: E402
from synth.labels import AgentFutures  # noqa: E402
from synth.sources import ProceduralSource  # noqa: E402


def nearest_agents(ctx, k: int):
    ag = ctx.agents
    d = np.hypot(np.nan_to_num(ag.x[0, :, 0] - ctx.anchor_state[0], nan=1e9),
                 np.nan_to_num(ag.y[0, :, 0] - ctx.anchor_state[1], nan=1e9))
    keep = np.sort(np.argsort(d)[:k])
    fields = {f.name: getattr(ag, f.name)[:, keep] for f in dataclasses.fields(AgentFutures)[:-1]}
    return dataclasses.replace(ctx, agents=AgentFutures(**fields, object_type=ag.object_type[keep]),
                               agent_ids=tuple(ctx.agent_ids[i] for i in keep))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--plans", type=int, default=256)
    ap.add_argument("--scenes", type=int, default=12)
    ap.add_argument("--agents", type=int, default=32)
    ap.add_argument("--profile", action="store_true")
    ap.add_argument("--sort", default="tottime", help="profile order (pstats key: tottime, cumulative)")
    ap.add_argument("--top", type=int, default=18, help="profile lines to print")
    args = ap.parse_args()
    cfg = SynthConfig()
    scenes = list(ProceduralSource(count=args.scenes * 2).read())
    ctxs = []
    for s in scenes:
        if (s.num_agents - 1) < args.agents:
            continue
        for a in choose_anchors(s, cfg, SynthStats()):
            ctxs.append(nearest_agents(build_context(s, a, cfg), args.agents))
        if len(ctxs) == args.scenes:
            break
    prof = cProfile.Profile() if args.profile else None
    generate(ctxs[0], np.random.default_rng(0), 20)  # warm-up
    t0, n = time.perf_counter(), 0
    if prof:
        prof.enable()
    for i, ctx in enumerate(ctxs):
        pool, _ = generate(ctx, np.random.default_rng(i), args.plans)
        n += sum(len(lab.cands) for lab in pool)
    if prof:
        prof.disable()
    dt = time.perf_counter() - t0
    print(f"labelled rollouts: {n} plans x {args.agents} agents x 8 s over {len(ctxs)} scenes in {dt:.2f} s"
          f" -> {n / dt:,.0f} rollouts/s/core ({1e6 * dt / n:.0f} us each)")
    t0 = time.perf_counter()
    stats = SynthStats()
    for s in scenes[: args.scenes]:
        stats += synthesize_scenario(s, cfg)[1]
    dt = time.perf_counter() - t0
    cands = sum(stats.candidates.values())
    print(f"engine end to end (all agents, default curriculum): {stats.samples} rows from {cands} candidates in"
          f" {dt:.2f} s -> {cands / dt:,.0f} candidates/s/core, {stats.samples / dt:,.0f} rows/s/core")
    if prof:
        pstats.Stats(prof).sort_stats(args.sort).print_stats(args.top)


if __name__ == "__main__":
    main()
