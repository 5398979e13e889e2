"""Collision and off-road AUROC per perturbation family, from ``predictions.parquet``.

``python -m benchmark.by_family BENCH_OUT DATA`` joins the predictions with the ``family``
column of ``DATA``'s counterfactuals and prints one line per model: AUROC within each
family (NaN where a family has one class only) and the family's share of failures.
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from .metrics import METRICS


def family_auroc(pred: pa.Table, families: dict[str, str], event: str = "collision") -> dict[str, dict[str, float]]:
    """``{model: {family: AUROC of <event>_risk against true_<event> within the family}}``."""
    fam = np.array([families.get(s, "?") for s in pred.column("sample_id").to_pylist()])
    model = np.array(pred.column("model").to_pylist())
    y = pred.column(f"true_{event}").to_numpy(zero_copy_only=False).astype(bool)
    p = pred.column(f"{event}_risk").to_numpy(zero_copy_only=False)
    out: dict[str, dict[str, float]] = {}
    for m in dict.fromkeys(model.tolist()):
        out[m] = {}
        for f in sorted(set(fam.tolist())):
            k = (model == m) & (fam == f)
            value, valid = METRICS["auroc"](p[k], y[k])
            out[m][f] = value if valid else float("nan")
    return out


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: python -m benchmark.by_family BENCH_OUT DATA", file=sys.stderr)
        return 2
    pred = pq.read_table(Path(argv[0]) / "predictions.parquet")
    families: dict[str, str] = {}
    for part in sorted((Path(argv[1]) / "counterfactuals").glob("split=*/part-*.parquet")):
        rows = pq.read_table(part, columns=["sample_id", "family"])
        families.update(zip(rows.column("sample_id").to_pylist(), rows.column("family").to_pylist()))
    for event in ("collision", "offroad"):
        print(f"{event} AUROC within each family")
        for m, per in family_auroc(pred, families, event).items():
            print(f"  {m:28s} " + "  ".join(f"{f} {v:.3f}" for f, v in per.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
