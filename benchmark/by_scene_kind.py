"""Event AUROC of every scored model by scene kind (the scenarios' ``map_name``: procedural roads and
signalised junctions, or a real source's maps), with bootstrap intervals over logs and each model's
paired difference from a reference model (``impartial by-scene-kind``)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow.parquet as pq

from schemas import InputError

from critic.data import row_sources

from .by_family import read_row_column
from .intervals import Interval, auroc_interval, paired_auroc_difference

ALL = "all"


def row_kinds(data_dir: str | Path, sample_ids: list[str], splits: tuple[str, ...]) -> tuple[np.ndarray, np.ndarray]:
    """``(log_id [R], map_name [R])`` of the counterfactual rows ``sample_ids`` of dataset ``data_dir``."""
    kinds = row_sources(str(data_dir), splits, sample_ids, column="map_name")   # refuses rows it does not hold
    logs = read_row_column(data_dir, "log_id", splits)
    return np.array([logs[s] for s in sample_ids], dtype=object), kinds


def by_scene_kind(bench_out: str | Path, data_dir: str | Path, event: str = "collision", reference: str | None = None,
                  splits: tuple[str, ...] = ("test",), resamples: int = 1000, seed: int = 0) -> list[dict]:
    """One row per (scene kind, model): ``{"kind", "model", "rows", "logs", "positives", "auroc": Interval,
    "minus_reference": Interval | None}`` for ``event`` (collision or offroad) from ``bench_out/predictions.parquet``."""
    if event not in ("collision", "offroad"):
        raise InputError(f"{event!r} is not an event (collision, offroad)", field="event")
    path = Path(bench_out) / "predictions.parquet"
    if not path.is_file():
        raise InputError("no predictions: run impartial benchmark first", path=str(path))
    t = pq.read_table(path, columns=["model", "sample_id", f"{event}_risk", f"true_{event}"]).to_pydict()
    model = np.array(t["model"], dtype=object)
    names = list(dict.fromkeys(t["model"]))
    reference = reference or names[0]
    if reference not in names:
        raise InputError(f"{reference!r} is not among the scored models {names}", path=str(path), field="model")
    first = model == names[0]
    sids = np.array(t["sample_id"], dtype=object)
    logs, kinds = row_kinds(data_dir, list(sids[first]), splits)
    score = {n: np.asarray(t[f"{event}_risk"], float)[model == n] for n in names}
    label = np.asarray(t[f"true_{event}"], bool)[first]
    for n in names:
        if not np.array_equal(sids[model == n], sids[first]):
            raise InputError(f"model {n!r} scored other rows than {names[0]!r}", path=str(path), field="sample_id")
    rows = []
    for kind in [ALL] + sorted(set(kinds)):
        keep = np.ones(len(kinds), bool) if kind == ALL else kinds == kind
        for n in names:
            auc: Interval = auroc_interval(score[n][keep], label[keep], logs[keep], resamples, seed)
            diff = None if n == reference else paired_auroc_difference(
                score[n][keep], score[reference][keep], label[keep], logs[keep], resamples, seed)
            rows.append({"kind": kind, "model": n, "rows": int(keep.sum()), "logs": auc.logs,
                         "positives": auc.positives, "auroc": auc, "minus_reference": diff})
    return rows


def markdown(rows: list[dict], event: str, reference: str) -> str:
    out = [f"| scene kind | model | rows | logs | {event} rows | {event} AUROC [95 % CI over logs] | "
           f"minus {reference} [paired 95 % CI] |", "|---|---|---:|---:|---:|---|---|"]
    for r in rows:
        d = "" if r["minus_reference"] is None else f"{r['minus_reference'].value:+.3f} " \
            f"[{r['minus_reference'].lo:+.3f}, {r['minus_reference'].hi:+.3f}]"
        out.append(f"| {r['kind']} | {r['model']} | {r['rows']} | {r['logs']} | {r['positives']} | {r['auroc']} | {d} |")
    return "\n".join(out)
