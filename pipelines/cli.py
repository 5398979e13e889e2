"""The ``impartial`` command line: every tool is a subcommand and every Makefile target calls it.

Bad input never shows a traceback: the error names the file, the field and the
reason on one line and the exit code is 2. Exit codes: see :data:`EXIT_BAD_INPUT`.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
from pathlib import Path

from critic.config import Variant
from schemas import InputError

#: exit codes: 0 done; 1 an internal error (a bug: the traceback is shown); 2 bad input or a refused request, one
#: line naming the file, the field and the reason, nothing run; 3 a run that finished but some inputs or shards
#: failed (each named on stderr and in the manifest; the others were published)
EXIT_BAD_INPUT = 2
EXIT_FAILED_INPUTS = 3


def _scenarios(args):
    from synth.sources import ProceduralConfig, ProceduralSource, read_any

    if str(args.path) == "procedural":
        cfg = ProceduralConfig(seed=args.seed)
        return ProceduralSource(cfg, count=args.count).read()
    options = {"map_root": args.map_root, "ego_id": args.ego}
    return read_any(args.path, **{k: v for k, v in options.items() if v is not None})


def cmd_inspect(args) -> int:
    from pipelines.inspect_scenes import draw_scenario, format_stats, scenario_stats

    stats = []
    for i, scn in enumerate(_scenarios(args)):
        st = scenario_stats(scn)
        stats.append(st)
        if args.png:
            png = Path(args.png)
            target = png if i == 0 else png.with_name(f"{png.stem}-{i:03d}{png.suffix or '.png'}")
            draw_scenario(scn, str(target))
            st["png"] = str(target)
        if not args.json:
            print(format_stats(st))
    if args.json:
        print(json.dumps({"num_scenarios": len(stats), "scenarios": stats}, indent=2))
    else:
        print(f"{len(stats)} scenario(s)")
    return 0


def cmd_ingest(args) -> int:
    """Convert any supported input to the canonical scenarios / map_features / signals Parquet tables."""
    import pyarrow as pa

    from pipelines.io import write_parquet_atomic
    from pipelines.validation import validate_table
    from schemas import MAP_FEATURES_SCHEMA, SCENARIOS_SCHEMA, SIGNALS_SCHEMA, scenario_to_tables

    out = Path(args.out)
    scen, feats, sigs, n = [], [], [], 0
    for scn in _scenarios(args):
        a, b, c = scenario_to_tables(scn)
        scen.append(a)
        feats.append(b)
        sigs.append(c)
        n += 1

    def check(name):
        def run(table):
            rep = validate_table(name, table)
            if not rep.success:
                raise InputError(rep.summary(), path=str(out / name))
        return run

    write_parquet_atomic(pa.concat_tables(scen), out / "scenarios" / "part-00000.parquet", SCENARIOS_SCHEMA,
                         check("scenarios"))
    write_parquet_atomic(pa.concat_tables(feats), out / "map_features" / "part-00000.parquet", MAP_FEATURES_SCHEMA,
                         check("map_features"))
    write_parquet_atomic(pa.concat_tables(sigs), out / "signals" / "part-00000.parquet", SIGNALS_SCHEMA,
                         check("signals"))
    print(f"wrote {n} scenario(s) to {out} (scenarios/, map_features/, signals/), validated with Great Expectations")
    return 0


def cmd_render(args) -> int:
    """Synthesise counterfactuals for one scenario and draw one of them."""
    from pipelines.presets import preset
    from synth.engine import synthesize_scenario
    from synth.render import animate_sample, render_sample

    scenarios = list(_scenarios(args))
    if not 0 <= args.index < len(scenarios):
        raise InputError(f"--index {args.index} out of range: {len(scenarios)} scenario(s)", path=str(args.path))
    scn = scenarios[args.index]
    table, _ = synthesize_scenario(scn, preset(args.preset).pipeline.synth, seed=args.seed)
    rows = table.to_pylist()
    if args.outcome:
        rows = [r for r in rows if r["outcome"] == args.outcome.upper()]
    if args.family:
        rows = [r for r in rows if r["family"] == args.family]
    if not rows:
        raise InputError("no counterfactual matches the --outcome / --family filter", path=str(args.path))
    row = rows[min(args.sample, len(rows) - 1)]
    print(f"{row['sample_id']}: {row['family']} -> {row['outcome']}")
    if args.png:
        print(f"wrote {render_sample(scn, row, args.png)}")
    if args.gif:
        print(f"wrote {animate_sample(scn, row, args.gif)}")
    return 0


def cmd_synth(args) -> int:
    from pipelines.presets import preset
    from pipelines.run import run_synth

    cfg = preset(args.preset).pipeline
    if args.seed is not None:
        cfg = dataclasses.replace(cfg, seed=args.seed)
    if args.scenarios is not None:
        cfg = dataclasses.replace(cfg, procedural_scenarios=args.scenarios)
    if args.anchor_stride is not None:
        cfg = dataclasses.replace(cfg, synth=dataclasses.replace(cfg.synth, anchor_stride_steps=args.anchor_stride))
    if args.egos is not None:
        cfg = dataclasses.replace(cfg, synth=dataclasses.replace(cfg.synth, egos=args.egos))
    if args.horizon is not None:
        cfg = dataclasses.replace(cfg, synth=dataclasses.replace(cfg.synth, horizon_steps=args.horizon))
    options = {"map_root": args.map_root, "ego_id": args.ego}
    m = run_synth(args.source, args.out, cfg, scheduler=args.scheduler, workers=args.workers, quiet=args.quiet,
                  options=options, preset_name=args.preset, overwrite=args.overwrite)
    c = m["counts"]
    print(f"{c['counterfactuals']} counterfactual rows from {c['scenarios']} scenarios ({c['egos']} egos) in {m['run']['wall_seconds']} s "
          f"-> {args.out} (splits {c['by_split']}; outcome mix {m['outcome_mix']})")
    for d in m["duplicates"]:
        print(f"impartial: note: scenario {d['scenario_id']!r} of {d['input']} was read before ({d['first_read_from']}): "
              "published once", file=sys.stderr)
    failed_inputs = {f["input"]: f["error"] for f in m["failed_inputs"]}
    for f in m["shards"]:       # a shard that failed as a whole (a bug, a dead worker): its own error, always
        if f["status"] not in ("ok", "partial") and not str(f["error"] or "").startswith(f"{len(f['failed_inputs'])} input(s)"):
            failed_inputs[f"shard {f['shard']} ({f['input']})"] = f["error"]
    for where, error in failed_inputs.items():   # an input's error line names its file already
        print(f"impartial: failed: {error if error.startswith(where) else f'{where}: {error}'}", file=sys.stderr)
    if failed_inputs:
        print(f"impartial: error: {len(failed_inputs)} input(s) failed"
              f"{'; nothing was published' if not c['counterfactuals'] else ''} (listed in {args.out}/_manifest.json)",
              file=sys.stderr)
        return EXIT_FAILED_INPUTS
    return 0


def cmd_validate(args) -> int:
    from pipelines.validate_dataset import validate_dataset

    report = validate_dataset(args.dir, docs=args.docs)
    for line in report["lines"]:
        print(line)
    if args.docs and report.get("docs"):
        print(f"Data Docs: {report['docs']}")
    if not report["ok"]:
        print(f"impartial: error: {args.dir}: {report['problems']} problem(s) found", file=sys.stderr)
        return EXIT_BAD_INPUT
    return 0


def cmd_train_critic(args) -> int:
    from critic.train import train
    from pipelines.presets import preset

    cfg = preset(args.preset).training(args.variant)
    if args.max_minutes is not None:
        cfg = dataclasses.replace(cfg, max_minutes=args.max_minutes)
    if args.seed is not None:
        cfg = dataclasses.replace(cfg, seed=args.seed)
    if args.epochs is not None:
        if args.epochs < 1:
            raise InputError(f"--epochs must be at least 1, got {args.epochs}", field="epochs")
        cfg = dataclasses.replace(cfg, epochs=args.epochs)
    if args.no_signals:
        cfg = dataclasses.replace(cfg, features=dataclasses.replace(cfg.features, signals=False))
    weights = None
    if args.weights:
        try:
            weights = [float(w) for w in args.weights.split(",")]
        except ValueError:
            raise InputError(f"--weights {args.weights!r}: not comma-separated numbers", field="weights") from None
        if any(not (w >= 0) or w == float("inf") for w in weights) or sum(weights) <= 0:
            raise InputError(f"--weights {args.weights!r}: need finite non-negative numbers, not all zero",
                             field="weights")
    summary = train(args.data, args.out, cfg, quiet=args.quiet, init=args.init, weights=weights, device=args.device)
    last = summary["history"][-1] if summary["history"] else {}
    print(f"{args.variant}: {summary['steps']} steps in {summary['train_minutes']} min; "
          + ", ".join(f"{k}={v:.3f}" for k, v in last.items() if k.startswith("val/")) + f" -> {args.out}")
    return 0


def cmd_benchmark(args) -> int:
    from benchmark.leaderboard import write_benchmark

    out = Path(args.out)
    splits = ("train", "val", "test") if args.splits == "all" else tuple(args.splits.split(","))
    if args.resamples < 1:
        raise InputError(f"--resamples must be at least 1, got {args.resamples}", field="resamples")
    md = write_benchmark(args.data, _named_checkpoints(args.critic), out, splits,
                         log=(lambda *a: None) if args.quiet else print, resamples=args.resamples, device=args.device)
    print(md)
    print(f"wrote {out}/leaderboard.md, leaderboard.csv, leaderboard_differences.csv, leaderboard_families.csv, "
          "report.html, predictions.parquet")
    return 0


def _named_checkpoints(specs: list[str]) -> dict[str, str]:
    out = {}
    for spec in specs:
        if "=" not in spec:
            raise InputError("expected NAME=CHECKPOINT_DIR", field="--critic", path=spec)
        name, ckpt = spec.split("=", 1)
        out[name] = ckpt
    return out


def cmd_refine(args) -> int:
    from benchmark.refine import refine
    from pipelines.presets import preset

    cfg = preset(args.preset).refine
    if args.train_anchors:
        cfg = dataclasses.replace(cfg, train_anchors=args.train_anchors)
    if args.eval_anchors:
        cfg = dataclasses.replace(cfg, eval_anchors=args.eval_anchors)
    res = refine(Path(args.data), {k: Path(v) for k, v in _named_checkpoints(args.critic).items()}, Path(args.out), cfg,
                 log=(lambda *a: None) if args.quiet else print, device=args.device)
    print(f"refine: {res['test_episodes']} held-out episodes in {res['seconds']:.0f} s; "
          f"wrote {args.out}/closed_loop.md, closed_loop.csv, closed_loop.png, refine.json")
    return 0


def _preset_name(name: str) -> str:
    """A preset name checked against the one preset table (imported when a stage command is parsed)."""
    from pipelines.presets import PRESETS

    if name not in PRESETS:
        raise argparse.ArgumentTypeError(f"unknown preset {name!r} (choose from {', '.join(PRESETS)})")
    return name


#: the --preset option of every command that runs a stage (see pipelines.presets)
PRESET_ARG = {"default": "default", "type": _preset_name, "metavar": "NAME",
              "help": "named configuration from pipelines.presets: default, demo, debug, real or real-cv "
                      "(default: default)"}


#: the --device option of the commands that run the critic (critic.device.resolve_device checks it)
DEVICE_ARG = {"default": "auto", "metavar": "auto|cpu|cuda[:N]",
              "help": "where the critic trains and scores: auto (a CUDA GPU when torch sees one, else the CPU; the "
                      "default), cpu or cuda (bf16 autocast and pinned, prefetched batches on a GPU)"}


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="impartial", description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="command", required=True)

    def source_args(sp):
        sp.add_argument("path", help="file or directory of a supported format, or 'procedural'")
        sp.add_argument("--count", type=int, default=5, help="procedural: number of scenarios (default 5)")
        sp.add_argument("--seed", type=int, default=0, help="procedural: base seed (default 0)")
        sp.add_argument("--map-root", help="nuPlan: folder holding {map_version}/*/map.gpkg")
        sp.add_argument("--ego", help="CommonRoad: obstacle id to play the ego (default: longest vehicle track)")

    sp = sub.add_parser("inspect", help="print per-scenario counts and draw scenarios")
    source_args(sp)
    sp.add_argument("--json", action="store_true", help="print JSON instead of text")
    sp.add_argument("--png", help="draw the scenario(s) to this PNG (index appended for the 2nd and later)")
    sp.set_defaults(func=cmd_inspect)

    sp = sub.add_parser("ingest", help="convert input to the canonical scenarios/map_features Parquet tables")
    source_args(sp)
    sp.add_argument("--out", required=True, help="output directory")
    sp.set_defaults(func=cmd_ingest)

    sp = sub.add_parser("render", help="synthesise one scenario's counterfactuals and draw one (PNG, GIF)")
    source_args(sp)
    sp.add_argument("--index", type=int, default=0, help="which scenario of PATH (default 0)")
    sp.add_argument("--sample", type=int, default=0, help="which matching counterfactual (default 0)")
    sp.add_argument("--outcome", choices=["SAFE", "NEAR_MISS", "COLLISION", "OFFROAD"], help="only this outcome")
    sp.add_argument("--family", help="only this perturbation family")
    sp.add_argument("--preset", **PRESET_ARG)
    sp.add_argument("--png", default="outputs/render/counterfactual.png", help="PNG to write")
    sp.add_argument("--gif", help="also write an animated GIF here")
    sp.set_defaults(func=cmd_render)

    sp = sub.add_parser("synth", help="counterfactual synthesis with Dask into validated Parquet (resumable)")
    sp.add_argument("--source", default="procedural", help="'procedural' (default) or a file / folder of logs")
    sp.add_argument("--out", default="outputs/synth", help="dataset folder (default outputs/synth)")
    sp.add_argument("--preset", **PRESET_ARG)
    sp.add_argument("--scheduler", help="address of an existing dask.distributed scheduler (tcp://host:port)")
    sp.add_argument("--workers", type=int, help="local worker processes (default: every core; 1 = in-process)")
    sp.add_argument("--seed", type=int, help="override the preset's seed")
    sp.add_argument("--scenarios", type=int, help="override the number of procedural scenarios")
    sp.add_argument("--anchor-stride", type=int,
                    help="anchors across the whole log, every N steps (0 = the preset's evenly spread anchors)")
    sp.add_argument("--egos", choices=("sdc", "all"),
                    help="who plays the ego: the scene's own ego (sdc) or every vehicle with a usable anchor (all); "
                         "default: the preset's (default and demo: all for real logs, sdc for procedural scenes)")
    sp.add_argument("--horizon", type=int,
                    help="plan horizon in 0.1 s steps (40 = NAVSIM's 4 s; default the preset's); train-critic, "
                         "benchmark and refine read it from the dataset")
    sp.add_argument("--map-root", help="nuPlan: folder holding {map_version}/*/map.gpkg")
    sp.add_argument("--ego", help="CommonRoad: obstacle id to play the ego")
    sp.add_argument("--quiet", action="store_true", help="no progress bar")
    sp.add_argument("--overwrite", action="store_true",
                    help="replace a dataset in --out made by another configuration, seed, source or code version "
                         "(without it such a re-run is refused)")
    sp.set_defaults(func=cmd_synth)

    sp = sub.add_parser("train-critic", help="train a world-model critic on a synthesized dataset")
    sp.add_argument("--data", default="outputs/synth",
                    help="dataset folder written by impartial synth (several: comma-separated)")
    sp.add_argument("--out", required=True, help="checkpoint folder (model.safetensors, config.json, logs)")
    sp.add_argument("--variant", default="impartial", choices=[v.value for v in Variant])
    sp.add_argument("--preset", **PRESET_ARG)
    sp.add_argument("--max-minutes", type=float, help="override the preset's wall-time budget")
    sp.add_argument("--seed", type=int, help="override the preset's seed (initialisation, batch order)")
    sp.add_argument("--epochs", type=int, help="override the preset's joint epochs (with a --max-minutes that does "
                                               "not cut them, a run that does not depend on the machine's speed)")
    sp.add_argument("--no-signals", action="store_true",
                    help="leave the signal-controlled lanes out of the critic's map input (the ablation)")
    sp.add_argument("--weights", help="with several --data folders: each one's share of the training scenes drawn "
                                      "(comma-separated, one per folder; default every scene alike)")
    sp.add_argument("--init", help="checkpoint folder whose weights start the training (fine-tuning; same horizon "
                                   "and widths)")
    sp.add_argument("--quiet", action="store_true", help="no progress bar")
    sp.add_argument("--device", **DEVICE_ARG)
    sp.set_defaults(func=cmd_train_critic)

    sp = sub.add_parser("benchmark", help="Risk Foreseeing Benchmark on a dataset's test split")
    sp.add_argument("--data", default="outputs/synth", help="dataset folder")
    sp.add_argument("--critic", action="append", default=[], help="NAME=CHECKPOINT_DIR (repeatable)")
    sp.add_argument("--out", default="outputs/benchmark", help="output folder")
    sp.add_argument("--splits", default="test",
                    help="splits to score: 'test' (default), a comma list, or 'all' (only for data no critic trained on)")
    sp.add_argument("--resamples", type=int, default=1000,
                    help="bootstrap resamples of the logs behind every interval (default 1000)")
    sp.add_argument("--quiet", action="store_true")
    sp.add_argument("--device", **DEVICE_ARG)
    sp.set_defaults(func=cmd_benchmark)

    sp = sub.add_parser("refine", help="GRPO-refine a speed policy with each critic and the simulator; closed-loop table")
    sp.add_argument("--data", default="outputs/synth", help="dataset folder (train split refines, test split evaluates)")
    sp.add_argument("--critic", action="append", default=[], help="NAME=CHECKPOINT_DIR (repeatable)")
    sp.add_argument("--out", default="outputs/refine", help="output folder")
    sp.add_argument("--preset", **PRESET_ARG)
    sp.add_argument("--train-anchors", type=int, help="override the preset's number of training anchors")
    sp.add_argument("--eval-anchors", type=int, help="override the preset's number of held-out anchors")
    sp.add_argument("--quiet", action="store_true")
    sp.add_argument("--device", **DEVICE_ARG)
    sp.set_defaults(func=cmd_refine)

    sp = sub.add_parser("validate", help="re-validate a dataset (schemas, suites, checksums); --docs builds Data Docs")
    sp.add_argument("dir", help="dataset folder written by impartial synth")
    sp.add_argument("--docs", help="write Great Expectations Data Docs (HTML) under this folder")
    sp.set_defaults(func=cmd_validate)
    _tool_parsers(sub)
    return p


def _tool_parsers(sub) -> None:
    """The tool subcommands (handlers in :mod:`pipelines.commands_tools`)."""
    from pipelines import commands_tools as tools

    sp = sub.add_parser("recompute", help="re-derive every leaderboard number from predictions.parquet alone; "
                                          "exit 1 on any mismatch")
    sp.add_argument("dir", nargs="?", type=Path, default=Path("outputs/benchmark"),
                    help="benchmark output folder (default outputs/benchmark)")
    sp.set_defaults(func=tools.cmd_recompute)

    sp = sub.add_parser("by-family", help="print collision and off-road AUROC by perturbation family")
    sp.add_argument("bench_out", type=Path, help="benchmark output folder (predictions.parquet)")
    sp.add_argument("data", nargs="?", help="synthesised dataset folder, for predictions without a family column")
    sp.add_argument("--without", action="append", default=None, metavar="FAMILY",
                    help="the families left out of the 'all but' group (repeatable; default: the hidden-cause ones)")
    sp.set_defaults(func=tools.cmd_by_family)

    sp = sub.add_parser("by-scene-kind", help="event AUROC by scene kind (map name), 95 %% bootstrap intervals over logs, "
                                              "paired differences from a reference model")
    sp.add_argument("bench_out", type=Path, help="benchmark output folder (predictions.parquet)")
    sp.add_argument("data", help="the dataset folder it scored")
    sp.add_argument("--event", default="collision", choices=("collision", "offroad"))
    sp.add_argument("--reference", help="model the others are compared with (default the first scored)")
    sp.add_argument("--splits", default="test", help="the splits it scored (default test)")
    sp.add_argument("--resamples", type=int, default=1000, help="bootstrap resamples of the logs (default 1000)")
    sp.add_argument("--seed", type=int, default=0, help="bootstrap seed")
    sp.set_defaults(func=tools.cmd_by_scene_kind)

    sp = sub.add_parser("cv", help="K-fold cross-validation of the impartial critic by log (out-of-fold leaderboard "
                                   "with intervals over logs, per fold and per source)")
    sp.add_argument("--data", required=True, help="dataset folder written by impartial synth (every split takes part)")
    sp.add_argument("--folds", type=int, default=5, help="folds of whole logs (0: leave one log out; default 5)")
    sp.add_argument("--pretrained", help="checkpoint folder each fold fine-tunes from (same horizon); default: from scratch")
    sp.add_argument("--out", default="outputs/cv", help="output folder (one checkpoint per fold, the tables)")
    sp.add_argument("--preset", **{**PRESET_ARG, "default": "real-cv",
                                   "help": "training configuration of each fold (default: real-cv)"})
    sp.add_argument("--max-minutes", type=float, help="override the preset's wall-time guard per fold")
    sp.add_argument("--seed", type=int, help="override the preset's training seed")
    sp.add_argument("--epochs", type=int, help="override the preset's joint epochs per fold")
    sp.add_argument("--variant", action="append", choices=[v.value for v in Variant],
                    help="critic variant to train per fold, repeatable (default: impartial); every variant is scored "
                         "on the same held-out logs")
    sp.add_argument("--fold", type=int, action="append", default=[],
                    help="run only this fold (1-based, repeatable): a quick look; the tables cover its logs only")
    sp.add_argument("--resamples", type=int, default=1000, help="bootstrap resamples of the logs (default 1000)")
    sp.add_argument("--device", **DEVICE_ARG)
    sp.set_defaults(func=tools.cmd_cv)

    sp = sub.add_parser("ceiling", help="Monte Carlo upper bound on the collision AUROC of any history-only critic "
                                        "(procedural data)")
    sp.add_argument("data", type=Path, help="dataset folder written by impartial synth from procedural scenes")
    sp.add_argument("--bench", type=Path, help="a benchmark output folder: also print each model's AUROC on these rows")
    sp.add_argument("--forks", type=int, default=16, help="re-simulations per anchor (default 16)")
    sp.add_argument("--workers", type=int, default=2, help="worker processes (default 2)")
    sp.add_argument("--limit", type=int, default=0, help="only the first N (scenario, anchor) pairs (0 = all)")
    sp.add_argument("--drivers", action="store_true",
                    help="also redraw every driver's parameters at the anchor: a pessimistic estimate, since the "
                         "history reveals some of them (the default knows them all: an upper bound)")
    sp.set_defaults(func=tools.cmd_ceiling)

    sp = sub.add_parser("calibrate", help="re-fit a checkpoint's hazard calibration on a dataset's validation split")
    sp.add_argument("checkpoint", help="checkpoint folder written by impartial train-critic")
    sp.add_argument("data", help="dataset folder (its val split is used)")
    sp.set_defaults(func=tools.cmd_calibrate)

    sp = sub.add_parser("schema-doc", help="print the column reference of the on-disk tables (markdown, as in the README)")
    sp.set_defaults(func=tools.cmd_schema_doc)


def main(argv: list[str] | None = None) -> int:
    """Run one command; ``argv`` None (the console entry point) first re-executes the process once
    with the allocator settings of :mod:`pipelines.allocator` when the command is one of its
    ``TUNED_COMMANDS`` (training, benchmark, refinement, cross-validation)."""
    if argv is None:
        from pipelines.allocator import TUNED_COMMANDS, reexec_tuned, restore_environment

        if len(sys.argv) > 1 and sys.argv[1] in TUNED_COMMANDS:
            reexec_tuned()
        else:
            restore_environment(os.environ)
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except InputError as err:        # only bad input is reported in one line; anything else is a bug and shows as one
        print(f"impartial: error: {' '.join(str(err).split())}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except OSError as err:
        if err.filename is None:     # not about a file the user named: a bug
            raise
        print(f"impartial: error: {err.filename}: {err.strerror or err}", file=sys.stderr)   # unwritable --out, ...
        return EXIT_BAD_INPUT


if __name__ == "__main__":
    sys.exit(main())
