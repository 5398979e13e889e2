"""Ingestion throughput: scenarios per second for procedural generation and each real reader.

Usage: python benchmarks/ingest.py [--procedural N] [--repeats R]
Prints one line per reader: scenarios/s, mean latency per scenario, and the
Scenario -> Arrow conversion rate. Real readers are skipped when ../shared/data/real
is absent. Compare figures as ratios within one run (machines here are noisy).
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from schemas import scenario_to_tables  # noqa: E402
from synth.sources import ProceduralConfig, ProceduralSource, read_any  # noqa: E402

REAL = ROOT.parent / "shared" / "data" / "real"


def bench(name: str, make, repeats: int) -> None:
    best, count, scns = float("inf"), 0, []
    for _ in range(repeats):
        t = time.perf_counter()
        scns = list(make())
        best = min(best, time.perf_counter() - t)
        count = len(scns)
    t = time.perf_counter()
    rows = sum(scenario_to_tables(s)[0].num_rows for s in scns)
    conv = time.perf_counter() - t
    print(f"{name:28s} {count:5d} scenarios  {count / best:8.1f} scenarios/s  {1000 * best / count:8.1f} ms/scenario"
          f"  | to Arrow: {count / conv:8.1f} scenarios/s ({rows / conv / 1e6:.2f} M rows/s)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--procedural", type=int, default=100, help="procedural scenarios to generate")
    ap.add_argument("--repeats", type=int, default=3, help="best of this many runs per reader")
    args = ap.parse_args()
    bench("procedural (default config)", lambda: ProceduralSource(ProceduralConfig(), count=args.procedural).read(), 1)
    for name, folder in (("scenarionet (nuScenes-mini)", "nuscenes_mini_scenarionet"),
                         ("av2 motion forecasting", "av2_motion_forecasting"),
                         ("commonroad (NGSIM)", "commonroad_ngsim")):
        if (REAL / folder).exists():
            bench(name, lambda f=folder: read_any(REAL / f), args.repeats)
        else:
            print(f"{name:28s} skipped: {REAL / folder} not found")
    import tempfile

    sys.path.insert(0, str(ROOT / "tests"))
    from tests.fixtures.builders import nuplan_db

    with tempfile.TemporaryDirectory() as tmp:
        db = nuplan_db(Path(tmp) / "log.db", n_frames=401)
        bench("nuplan (synthetic 20 s log)", lambda: read_any(db), args.repeats)


if __name__ == "__main__":
    main()
