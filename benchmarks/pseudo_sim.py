"""Pseudo-simulation throughput: PID-bicycle rollouts, exact event labelling, observations,
closed-loop episodes, and critic reward tables (the costs of ``impartial refine``).

Usage: python benchmarks/pseudo_sim.py [--checkpoint DIR] [--scenes N]
Runs on procedural scenes generated in memory. Prints throughput and latency figures.
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

from critic.config import FeatureConfig  # noqa: E402
from critic.rl.config import RefineConfig  # noqa: E402
from critic.rl.observe import Observer  # noqa: E402
from critic.rl.rollout import closed_loop, evaluate_speeds, predicted_inputs, start_trajectory  # noqa: E402
from synth.sim import EgoState, Episode, events, simulate  # noqa: E402
from synth.config import SynthConfig  # noqa: E402
from synth.context import build_context, candidate_anchors  # noqa: E402
from synth.sources.procedural.config import ProceduralConfig  # noqa: E402
from synth.sources.procedural.scene import generate_scene  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--checkpoint", help="critic checkpoint for the reward-table figure")
    ap.add_argument("--scenes", type=int, default=8)
    args = ap.parse_args()
    torch.set_num_threads(2)
    rc, fc = RefineConfig(), FeatureConfig()
    eps = []
    for i in range(args.scenes):
        scn = generate_scene(ProceduralConfig(), i)
        anchors = candidate_anchors(scn, SynthConfig())
        eps.append(Episode.build(build_context(scn, anchors[len(anchors) // 2], SynthConfig())))
    A = len(rc.sim.target_speeds)
    speeds = np.asarray(rc.sim.target_speeds)
    events(eps[0], simulate(eps[0], EgoState.at_anchor(eps[0], 2), speeds[:2], 40, rc.sim)[0], 0)  # compile / warm
    t = time.perf_counter()
    trajs = [simulate(ep, EgoState.at_anchor(ep, A), speeds, 80, rc.sim)[0] for ep in eps]
    dt = time.perf_counter() - t
    print(f"simulate: {len(eps) * A / dt:,.0f} candidate rollouts/s (8 s, 0.02 s sub-steps), "
          f"{1000 * dt / len(eps):.1f} ms per {A}-candidate group")
    t = time.perf_counter()
    for ep, tr in zip(eps, trajs):
        events(ep, tr.frames(slice(0, 41)), 0)
    dt = time.perf_counter() - t
    print(f"events (exact, 100 Hz refinement): {len(eps) * A / dt:,.0f} candidates/s over 4 s")
    obs = [Observer(ep, fc) for ep in eps]
    t = time.perf_counter()
    for o, tr in zip(obs, trajs):
        o.critic_scene(tr.take([0]).frames(slice(0, 21)))
    print(f"observation: {1000 * (time.perf_counter() - t) / len(eps):.2f} ms per step")
    t = time.perf_counter()
    for ep, o in zip(eps, obs):
        closed_loop(ep, o, lambda _: 10, rc)
    ms = 1000 * (time.perf_counter() - t) / len(eps)
    print(f"closed-loop episode (8 s, replan {rc.sim.replan_steps * rc.sim.dt:g} s): {ms:.1f} ms")
    jobs = [(f"decision state, {m!r} value (all {A} speeds simulated and rewarded)", evaluate_speeds, m)
            for m in ("policy", "hold")]
    jobs.append((f"critic inputs of a decision state (all {A} speeds continued in the predicted world)",
                 predicted_inputs, "policy"))
    for label, fn, mode in jobs:
        rcm = dataclasses.replace(rc, sim=dataclasses.replace(rc.sim, decision_value=mode))
        t = time.perf_counter()
        for ep, o in zip(eps, obs):
            st = EgoState.at_anchor(ep)
            fn(ep, st, 0, rcm, np.array(ep.ctx.anchor_state[:3]), (o, start_trajectory(st), lambda _: 10))
        print(f"{label}: {1000 * (time.perf_counter() - t) / len(eps):.1f} ms")
    if args.checkpoint:
        from critic.api import ImpartialCritic, SceneBatch

        critic = ImpartialCritic.load(args.checkpoint)
        starts = [tr.take([0]).frames(slice(0, 1)) for tr in trajs]
        batch = SceneBatch.concat([o.critic_scene(st) for o, st in zip(obs, starts)]).to_torch()
        from critic.rl.observe import candidate_plans, ego_pose

        plans = torch.as_tensor(np.stack([candidate_plans(tr, ego_pose(st)) for tr, st in zip(trajs, starts)]))
        critic.score(batch, plans)
        t = time.perf_counter()
        for _ in range(5):
            critic.score(batch, plans)
        print(f"critic reward table: {5 * len(eps) / (time.perf_counter() - t):,.0f} decision states/s "
              f"({A} speeds each, one batched call of {len(eps)} scenes)")


if __name__ == "__main__":
    main()
