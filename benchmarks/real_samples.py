"""What the real samples in ``../shared/data/real/`` yield: per source, logs, scenarios, egos, anchors and
counterfactual rows at the 4 s and the 8 s horizon, and the share of logged vehicle frames off-road.

    python benchmarks/real_samples.py [--root ../shared/data/real] [--horizons 40 80] [--preset NAME]
                                      [--anchor-stride N]

Each source folder is read with the registered adapters and synthesised in-process with the
preset's synthesis settings (horizon and anchor stride replaced), as ``impartial synth`` does
per shard. Off-road shares count box corners of every valid frame of every vehicle track against
the same drivable test the labeller uses. Prints one markdown table; ``--json`` writes the numbers.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from schemas import InputError, ObjectType  # noqa: E402
from schemas.splits import source_scenario_id  # noqa: E402

SOURCES = {
    "nuScenes (ScenarioNet)": "nuscenes_mini_scenarionet",
    "AV2 motion forecasting": "av2_motion_forecasting",
    "AV2 sensor annotations": "av2_sensor_annotations",
    "CommonRoad NGSIM": "commonroad_ngsim",
    "CommonRoad NGSIM benchmark": "commonroad_ngsim_benchmark",
}


def synth_config(preset: str, horizon: int, stride: int | None = None):
    """The preset's synthesis configuration with ``horizon`` steps and, when given, anchors every
    ``stride`` steps across the whole log."""
    from pipelines.presets import preset as named_preset

    cfg = dataclasses.replace(named_preset(preset).pipeline.synth, horizon_steps=horizon)
    return cfg if stride is None else dataclasses.replace(cfg, anchor_stride_steps=stride)


def vehicle_offroad(scn) -> tuple[int, int, int, int]:
    """(ego frames off-road, ego frames, vehicle frames off-road, vehicle frames) of the logged tracks
    (:func:`synth.offroad.logged_offroad`: a valid frame with a box corner outside the drivable area)."""
    from synth.offroad import logged_offroad

    off = logged_offroad(scn)
    veh = (np.asarray(scn.object_type) == ObjectType.VEHICLE)[:, None] & scn.valid
    e = scn.ego_index
    return int(off[e].sum()), int(scn.valid[e].sum()), int((off & veh).sum()), int(veh.sum())


def measure(folder: Path, cfg) -> dict:
    from synth.engine import synthesize_with_variants
    from synth.sources import read_any

    t0 = time.perf_counter()
    out = Counter()
    logs, egos, anchors = set(), set(), set()
    try:
        scenarios = list(read_any(folder))
    except InputError as err:
        return {"error": str(err).splitlines()[0]}
    for scn in scenarios:
        out["scenarios"] += 1
        logs.add(scn.log_id)
        for k, v in zip(("ego_off", "ego_frames", "veh_off", "veh_frames"), vehicle_offroad(scn)):
            out[k] += v
        try:
            results, _ = synthesize_with_variants(scn, cfg)
        except InputError as err:
            out["refused"] += 1
            print(f"  {scn.scenario_id}: {err}", file=sys.stderr)
            continue
        for _, table in results:
            sid, ego, anc = (table.column(c).to_pylist() for c in ("scenario_id", "ego_track_id", "anchor_frame"))
            egos.update((source_scenario_id(s), e) for s, e in zip(sid, ego))
            anchors.update(zip(sid, ego, anc))
            out["rows"] += table.num_rows
    out.update(logs=len(logs), egos=len(egos), anchors=len(anchors))
    out["seconds"] = round(time.perf_counter() - t0, 1)
    return dict(out)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--root", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "data" / "real")
    ap.add_argument("--horizons", type=int, nargs="+", default=[40, 80], help="horizons in 0.1 s steps")
    ap.add_argument("--preset", default="default", help="preset whose synthesis settings are used (default: default)")
    ap.add_argument("--only", nargs="*", help="source folders to measure (default all)")
    ap.add_argument("--anchor-stride", type=int, help="anchors every N steps across each log (default: the preset's)")
    ap.add_argument("--json", type=Path, help="also write the numbers here")
    args = ap.parse_args(argv)
    if not args.root.is_dir():
        print(f"no real samples at {args.root}; nothing to measure")
        return 0
    result = {}
    print("| source | horizon | logs | scenarios | egos | anchors | rows | logged ego off-road | vehicle frames off-road | s |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for name, sub in SOURCES.items():
        if args.only and sub not in args.only or not (args.root / sub).exists():
            continue
        for h in args.horizons:
            r = measure(args.root / sub, synth_config(args.preset, h, args.anchor_stride))
            result[f"{sub}@{h}"] = r
            if "error" in r:
                print(f"| {name} | {h / 10:g} s | refused: {r['error']} |||||||")
                continue
            pct = lambda a, b: f"{100 * r[a] / max(r[b], 1):.2f} %"  # noqa: E731
            print(f"| {name} | {h / 10:g} s | {r['logs']} | {r['scenarios']} | {r['egos']} | {r['anchors']} | "
                  f"{r.get('rows', 0)} | {pct('ego_off', 'ego_frames')} | {pct('veh_off', 'veh_frames')} | {r['seconds']} |",
                  flush=True)
    if args.json:
        args.json.write_text(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
