"""Handlers of the ``impartial`` tool subcommands: ``recompute``, ``by-family``, ``ceiling``,
``calibrate`` and ``schema-doc``. :mod:`pipelines.cli` parses their arguments.

Each handler takes the parsed ``argparse.Namespace``, prints its result on stdout and returns
the exit code; bad input raises ``InputError`` (or ``ValueError`` / ``OSError``), which the
command line turns into one line on stderr and exit code 2.
"""
from __future__ import annotations

import argparse
import json

#: exit code of ``impartial recompute`` when a recomputed number differs from the leaderboard
EXIT_MISMATCH = 1


def cmd_recompute(args: argparse.Namespace) -> int:
    """Re-derive every leaderboard number of ``args.dir`` from ``predictions.parquet`` alone."""
    from benchmark.recompute import compare

    issues = compare(args.dir)
    print("\n".join(issues) if issues else f"all metrics of {args.dir}/leaderboard.csv (and leaderboard_families.csv) "
          "recomputed exactly")
    return EXIT_MISMATCH if issues else 0


def cmd_by_family(args: argparse.Namespace) -> int:
    """Print the AUROC tables by perturbation family of the benchmark output ``args.bench_out``."""

    from benchmark.by_family import family_leaderboard, family_markdown, read_families
    from benchmark.report import read_predictions

    pred = read_predictions(args.bench_out)
    families = read_families(args.data) if args.data else None
    print(family_markdown(family_leaderboard(pred, families, None if args.without is None else tuple(args.without))))
    return 0


def cmd_by_scene_kind(args: argparse.Namespace) -> int:
    """Print event AUROC by scene kind with bootstrap intervals over logs (:mod:`benchmark.by_scene_kind`)."""
    from benchmark.by_scene_kind import by_scene_kind, markdown

    rows = by_scene_kind(args.bench_out, args.data, args.event, args.reference, tuple(args.splits.split(",")),
                         args.resamples, args.seed)
    print(markdown(rows, args.event, args.reference or rows[0]["model"]))
    return 0


def cmd_ceiling(args: argparse.Namespace) -> int:
    """Print the Monte Carlo ceiling of the collision AUROC on ``args.data`` (:mod:`benchmark.ceiling`)."""
    from benchmark.ceiling import report

    print("\n".join(report(args.data, args.forks, args.workers, bench=args.bench, limit=args.limit,
                           drivers=args.drivers)))
    return 0


def cmd_calibrate(args: argparse.Namespace) -> int:
    """Re-fit the hazard calibration of the checkpoint ``args.checkpoint`` on ``args.data``'s validation split."""
    from critic.calibrate import recalibrate

    print(json.dumps(recalibrate(args.checkpoint, args.data).to_dict()))
    return 0


def cmd_schema_doc(args: argparse.Namespace) -> int:
    """Print the column reference of every on-disk table (the README's copy must equal it)."""
    from schemas.tables import markdown_reference

    print(markdown_reference())
    return 0


def cmd_cv(args: argparse.Namespace) -> int:
    """K-fold cross-validation by log of the impartial critic on ``args.data`` (:mod:`benchmark.cv`)."""
    import dataclasses

    from benchmark.cv import run_cv
    from pipelines.presets import preset
    from schemas import InputError

    cfg = preset(args.preset).training("impartial")
    if args.max_minutes is not None:
        cfg = dataclasses.replace(cfg, max_minutes=args.max_minutes)
    if args.seed is not None:
        cfg = dataclasses.replace(cfg, seed=args.seed)
    if args.epochs is not None:
        if args.epochs < 1:
            raise InputError(f"--epochs must be at least 1, got {args.epochs}", field="epochs")
        cfg = dataclasses.replace(cfg, epochs=args.epochs)
    if args.resamples < 1:
        raise InputError(f"--resamples must be at least 1, got {args.resamples}", field="resamples")
    print(run_cv(args.data, args.out, args.folds, cfg, args.pretrained, args.resamples, log=print,
                 variants=tuple(args.variant or ("impartial",)), only=tuple(args.fold), device=args.device))
    print(f"wrote {args.out}/leaderboard.md, leaderboard.csv, leaderboard_sources.csv, leaderboard_differences.csv, "
          "folds.csv, cv.json, predictions.parquet")
    return 0
