"""Critic training-step and scoring time under glibc's default allocator and under the settings
of :mod:`pipelines.allocator` (what the ``impartial`` command uses), measured in one run.

Usage: python benchmarks/allocator.py [--steps N] [--threads T]
Each setting runs in its own process on random inputs of the default preset (16 scenes x 8
plans, occupancy decoded for 3 plans per scene, as in training; scoring 16 scenes x 40 plans
with occupancy, as in ``impartial benchmark``). Prints seconds per step, user and system CPU
seconds, and the ratio.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def _cpu() -> tuple[float, float]:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime, r.ru_stime


def child(steps: int, threads: int) -> dict:
    import torch

    from benchmarks.critic_latency import random_inputs
    from pipelines.presets import preset
    from critic.model import build_model

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    cfg = preset("default").train
    fc = cfg.features
    model = build_model(cfg)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
    nx = round((fc.raster_x[1] - fc.raster_x[0]) / fc.raster_cell_m)
    ny = round((fc.raster_y[1] - fc.raster_y[0]) / fc.raster_cell_m)
    res = {}
    for phase, G, train in (("train step", 8, True), ("score", 40, False)):
        scenes, plans = random_inputs(cfg, 16, G)
        scenes = dataclasses.replace(scenes, drivable=torch.rand(16, nx, ny) > 0.5)
        times = []
        for i in range(steps + 2):
            if i == 2:
                u0, s0 = _cpu()
            t = time.perf_counter()
            if train:
                out = model(scenes, plans, occ_plans=cfg.occ_plans_per_scene)
                loss = out["hazard_logits"].mean() + out["occ_logits"].mean()
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
            else:
                with torch.inference_mode():
                    model(scenes, plans)
            if i >= 2:
                times.append(time.perf_counter() - t)
        u1, s1 = _cpu()
        res[phase] = {"s_per_step": sum(times) / len(times), "user_s": u1 - u0, "sys_s": s1 - s0}
    return res


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        print(json.dumps(child(args.steps, args.threads)))
        return
    from pipelines.allocator import OPT_OUT, tuned_environment

    base = {k: v for k, v in os.environ.items() if k != "GLIBC_TUNABLES"}
    tuned = tuned_environment(base)
    if tuned is None:
        print("glibc tunables do not apply on this platform; nothing to compare")
        return
    cmd = [sys.executable, __file__, "--child", "--steps", str(args.steps), "--threads", str(args.threads)]
    runs = {}
    for name, env in (("glibc default", {**base, OPT_OUT: "1"}), ("impartial", tuned)):
        out = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True, cwd=ROOT)
        runs[name] = json.loads(out.stdout.strip().splitlines()[-1])
    for phase in runs["impartial"]:
        for name, r in runs.items():
            p = r[phase]
            print(f"{phase:10s} {name:13s}: {p['s_per_step']:.3f} s/step  user {p['user_s']:6.1f} s  sys {p['sys_s']:6.1f} s")
        ratio = runs["glibc default"][phase]["s_per_step"] / runs["impartial"][phase]["s_per_step"]
        print(f"{phase:10s} speed-up: {ratio:.2f}x ({args.steps} steps, {args.threads} threads)")


if __name__ == "__main__":
    main()
