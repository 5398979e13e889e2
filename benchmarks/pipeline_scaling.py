"""Pipeline scaling: the same synthesis job on a LocalCluster with 1 and with 2 worker processes.

Usage: python benchmarks/pipeline_scaling.py [--scenarios N] [--preset demo]
Prints wall time, rows per second and the speed-up ratio (cluster start-up excluded;
both runs in this one process, one after the other, into fresh folders).
"""
from __future__ import annotations

import argparse
import dataclasses
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pipelines.presets import preset  # noqa: E402
from pipelines.run import run_synth  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scenarios", type=int, default=80)
    ap.add_argument("--preset", default="default")
    args = ap.parse_args()
    from distributed import LocalCluster

    cfg = dataclasses.replace(preset(args.preset).pipeline, procedural_scenarios=args.scenarios, scenarios_per_shard=4)
    times = {}
    for n in (1, 2):
        out = Path(tempfile.mkdtemp(prefix=f"impartial-scale-{n}-"))
        with LocalCluster(n_workers=n, threads_per_worker=1, processes=True, host="127.0.0.1",
                          dashboard_address=":0") as cluster:
            t = time.perf_counter()
            m = run_synth("procedural", out, cfg, scheduler=cluster.scheduler_address, quiet=True)
            times[n] = time.perf_counter() - t
        rows = m["counts"]["counterfactuals"]
        print(f"{n} worker(s): {rows} rows from {m['counts']['scenarios']} scenarios in {times[n]:.1f} s"
              f" -> {rows / times[n]:,.0f} rows/s")
        shutil.rmtree(out)
    print(f"speed-up 2 vs 1 workers: {times[1] / times[2]:.2f}x")


if __name__ == "__main__":
    main()
