"""Collision and off-road AUROC per perturbation family, from ``predictions.parquet``.

``python -m benchmark.by_family BENCH_OUT DATA [--without FAMILY ...]`` joins the predictions
with the ``family`` column of ``DATA``'s counterfactuals and prints one line per model: AUROC
within each family (NaN where a family has one class only). With ``--without``, it also prints
the pooled AUROC over every other family (for example without ``agent_perturbation``, whose
rows carry the same inputs as their scene's logged row: ``benchmark.ceiling``).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from .metrics import METRICS


def _columns(pred: pa.Table, families: dict[str, str], event: str):
    """Per-row family, model, true event and predicted risk (numpy ``[N]``)."""
    fam = np.array([families.get(s, "?") for s in pred.column("sample_id").to_pylist()])
    model = np.array(pred.column("model").to_pylist())
    y = pred.column(f"true_{event}").to_numpy(zero_copy_only=False).astype(bool)
    return fam, model, y, pred.column(f"{event}_risk").to_numpy(zero_copy_only=False)


def _auroc(p: np.ndarray, y: np.ndarray, keep: np.ndarray) -> float:
    """AUROC of the rows in ``keep`` (bool ``[N]``), NaN when they hold one class only."""
    value, valid = METRICS["auroc"](p[keep], y[keep])
    return value if valid else float("nan")


def family_auroc(pred: pa.Table, families: dict[str, str], event: str = "collision") -> dict[str, dict[str, float]]:
    """``{model: {family: AUROC of <event>_risk against true_<event> within the family}}``."""
    fam, model, y, p = _columns(pred, families, event)
    return {m: {f: _auroc(p, y, (model == m) & (fam == f)) for f in sorted(set(fam.tolist()))}
            for m in dict.fromkeys(model.tolist())}


def auroc_without(pred: pa.Table, families: dict[str, str], without: set[str],
                  event: str = "collision") -> dict[str, float]:
    """``{model: AUROC of <event>_risk against true_<event> over the rows whose family is not in without}``."""
    fam, model, y, p = _columns(pred, families, event)
    keep = ~np.isin(fam, list(without))
    return {m: _auroc(p, y, keep & (model == m)) for m in dict.fromkeys(model.tolist())}


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmark.by_family", description=__doc__.split("\n\n")[0])
    ap.add_argument("bench_out", help="benchmark output folder (predictions.parquet)")
    ap.add_argument("data", help="synthesised dataset folder (counterfactuals/ with the family column)")
    ap.add_argument("--without", action="append", default=[], metavar="FAMILY",
                    help="also print the pooled AUROC over every other family (repeatable)")
    args = ap.parse_args(argv)
    without = set(args.without)
    pred = pq.read_table(Path(args.bench_out) / "predictions.parquet")
    families: dict[str, str] = {}
    for part in sorted((Path(args.data) / "counterfactuals").glob("split=*/part-*.parquet")):
        rows = pq.read_table(part, columns=["sample_id", "family"])
        families.update(zip(rows.column("sample_id").to_pylist(), rows.column("family").to_pylist()))
    for event in ("collision", "offroad"):
        print(f"{event} AUROC within each family")
        for m, per in family_auroc(pred, families, event).items():
            print(f"  {m:28s} " + "  ".join(f"{f} {v:.3f}" for f, v in per.items()))
        if without:
            print(f"{event} AUROC over all families but {', '.join(sorted(without))}")
            for m, v in auroc_without(pred, families, without, event).items():
                print(f"  {m:28s} {v:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
