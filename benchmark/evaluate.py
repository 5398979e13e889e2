"""Risk Foreseeing Benchmark: score every model on the test split, build the leaderboard.

``run_benchmark`` writes ``predictions.parquet`` (one row per (model, sample_id) with
every score, the truth, and per-row occupancy intersection / union counts), then computes
the leaderboard from that table alone (``leaderboard_from_predictions``), so anyone can
recompute it from the parquet.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from critic.columns import AgentCol
from critic.config import FeatureConfig
from schemas.atomic import atomic_write
from schemas.splits import is_variant

from .by_family import read_families, read_row_column
from .metrics import METRICS
from .models import BenchData, Predictions
from .report import read_predictions

EVENTS = ("collision", "offroad")
#: the predictions' columns that hold labels, not scores
TEXT_COLUMNS = ("model", "sample_id", "outcome", "family", "log_id")
#: corridor of the f-IoU: cells within 2 m of the ego's planned centreline, from 4 m behind to 16 m ahead
CORRIDOR = (-4.0, 16.0, 2.0)


def corridor_mask(size: int, cell: float) -> np.ndarray:
    c = (np.arange(size) + 0.5) * cell - 0.5 * size * cell
    X, Y = np.meshgrid(c, c, indexing="ij")
    return (X >= CORRIDOR[0]) & (X <= CORRIDOR[1]) & (np.abs(Y) <= CORRIDOR[2])


def bench_data(data_dir: str | Path, cfg: FeatureConfig | None = None, splits: tuple[str, ...] = ("test",)) -> BenchData:
    from critic.data import load_splits, row_sources

    from schemas.dataset import Dataset

    ds = Dataset(data_dir)
    cfg = cfg or FeatureConfig(plan_steps=ds.horizon_steps)   # the dataset's horizon, not an assumed 8 s
    arr = load_splits(str(data_dir), splits, cfg, log=lambda *a: None)
    # ego box size per row (from the scene features: token 0, last history step)
    size = arr.agents[arr.row_scene, 0, -1, AgentCol.SIZE]
    families = read_families(data_dir, splits)
    family = np.array([families[s] for s in arr.sample_id])
    logs = read_row_column(data_dir, "log_id", splits)
    log_id = np.array([logs[s] for s in arr.sample_id], dtype=object)
    source = row_sources(str(data_dir), splits, arr.sample_id)
    return BenchData(arr, str(data_dir), cfg.occ_size, cfg.occ_cell_m, size[:, 0].astype(float), size[:, 1].astype(float),
                     family, log_id, source, splits, horizon_s=ds.horizon_steps * ds.dt)


def predictions_table(name: str, pred: Predictions, bench: BenchData) -> pa.Table:
    arr = bench.arrays
    truth_occ = np.unpackbits(arr.occ, axis=-1, count=bench.occ_size)[:, :, 0].astype(bool)  # agents channel
    R = arr.num_rows
    cols = {
        "model": [name] * R, "sample_id": arr.sample_id, "scene": arr.row_scene.astype(np.int64),
        "outcome": arr.outcome, "family": bench.family, "log_id": bench.log_id.astype(str),
        "true_collision": np.isfinite(arr.coll_t), "true_offroad": np.isfinite(arr.off_t),
        "true_collision_time_s": np.where(np.isfinite(arr.coll_t), arr.coll_t, np.nan).astype(float),
        "true_offroad_time_s": np.where(np.isfinite(arr.off_t), arr.off_t, np.nan).astype(float),
        "collision_risk": pred.collision_risk.astype(float), "offroad_risk": pred.offroad_risk.astype(float),
        "risk": pred.risk.astype(float), "collision_time_s": pred.collision_time_s.astype(float),
        "offroad_time_s": pred.offroad_time_s.astype(float),
    }
    if pred.occupancy is not None:
        p = pred.occupancy[:, :, 0] >= 0.5
        corr = corridor_mask(bench.occ_size, bench.occ_cell_m)
        cols["g_inter"] = (p & truth_occ).sum(axis=(1, 2, 3)).astype(np.int64)
        cols["g_union"] = (p | truth_occ).sum(axis=(1, 2, 3)).astype(np.int64)
        cols["f_inter"] = (p & truth_occ & corr).sum(axis=(1, 2, 3)).astype(np.int64)
        cols["f_union"] = ((p | truth_occ) & corr).sum(axis=(1, 2, 3)).astype(np.int64)
    else:
        for k in ("g_inter", "g_union", "f_inter", "f_union"):
            cols[k] = pa.nulls(R, pa.int64())
    return pa.table(cols)


def _v(res) -> float:
    value, valid = res
    return value if valid else float("nan")


def model_columns(table: pa.Table) -> dict[str, dict[str, np.ndarray]]:
    """``{model: {column: [R] array}}`` of the predictions table (models in their order, the numeric columns
    and ``log_id``; null occupancy counts become NaN)."""
    out = {}
    for model in dict.fromkeys(table.column("model").to_pylist()):
        t = table.filter(pa.compute.equal(table.column("model"), model))
        g = {c: t.column(c).to_numpy(zero_copy_only=False) for c in t.column_names if c not in TEXT_COLUMNS}
        if "log_id" in t.column_names:
            g["log_id"] = t.column("log_id").to_numpy(zero_copy_only=False)
        out[model] = g
    return out


def model_metrics(g: dict[str, np.ndarray]) -> dict[str, float]:
    """Every leaderboard metric (NaN where undefined) of one model's prediction columns ``g``
    (:func:`model_columns`); the rows may repeat (a bootstrap resample), ``scene`` then names each copy apart."""
    row = {}
    for ev in EVENTS:
        y, p = g[f"true_{ev}"].astype(bool), g[f"{ev}_risk"]
        row[f"{ev}_auroc"] = _v(METRICS["auroc"](p, y))
        row[f"{ev}_auprc"] = _v(METRICS["auprc"](p, y))
        row[f"{ev}_recall@5%fpr"] = _v(METRICS["recall_at_5pct_fpr"](p, y))
        row[f"{ev}_ece"] = _v(METRICS["ece"](p, y))
        row[f"{ev}_brier"] = _v(METRICS["brier"](p, y))
        row[f"{ev}_daf"] = _v(METRICS["daf"](p, g[f"{ev}_time_s"], y, g[f"true_{ev}_time_s"]))
        row[f"{ev}_time_mae_s"] = _v(METRICS["time_to_event_mae"](g[f"{ev}_time_s"], g[f"true_{ev}_time_s"], y))
    failed = g["true_collision"].astype(bool) | g["true_offroad"].astype(bool)
    true_t = np.fmin(g["true_collision_time_s"], g["true_offroad_time_s"])
    # predicted failure time: the earliest predicted event among those that raise an alarm
    alarm_c, alarm_o = g["collision_risk"] >= 0.5, g["offroad_risk"] >= 0.5
    pred_t = np.fmin(np.where(alarm_c, g["collision_time_s"], np.nan), np.where(alarm_o, g["offroad_time_s"], np.nan))
    pred_t = np.where(np.isnan(pred_t), np.where(g["collision_risk"] >= g["offroad_risk"], g["collision_time_s"],
                                                 g["offroad_time_s"]), pred_t)
    row["mean_risk_on_failures"] = _v(METRICS["mean_risk_on_failures"](g["risk"], failed))
    row["failures_called_safe"] = _v(METRICS["failures_called_safe"](g["risk"], failed))
    row["causal_pairwise_acc"] = _v(METRICS["causal_pairwise_accuracy"](g["risk"], failed, g["scene"]))
    row["daf"] = _v(METRICS["daf"](g["risk"], pred_t, failed, true_t))
    gu, fu = np.asarray(g["g_union"], float), np.asarray(g["f_union"], float)
    if len(gu) and not np.isnan(gu).any():
        row["g_iou"] = float(np.sum(g["g_inter"]) / gu.sum()) if gu.sum() else float("nan")
        row["f_iou"] = float(np.sum(g["f_inter"]) / fu.sum()) if fu.sum() else float("nan")
    else:
        row["g_iou"] = row["f_iou"] = float("nan")
    return row


def leaderboard_from_predictions(table: pa.Table) -> list[dict]:
    """One leaderboard row per model, computed only from the predictions table."""
    return [{"model": model, "plans": len(g["scene"]), **model_metrics(g)} for model, g in model_columns(table).items()]


#: row slices reported beside the leaderboard: name -> predicate on the sample id
SLICES = {
    "source scenes": lambda sid: not is_variant(sid),
    "scene variants (an agent already braking or cutting in at t0)": is_variant,
}


def slice_leaderboards(table: pa.Table) -> dict[str, list[dict]]:
    """The leaderboard on each :data:`SLICES` subset of the predictions (slices with no rows, or
    with every row, are left out)."""
    sids = table.column("sample_id").to_pylist()
    out = {}
    for name, keep in SLICES.items():
        mask = np.array([keep(s) for s in sids], dtype=bool)
        if 0 < mask.sum() < len(mask):
            out[name] = leaderboard_from_predictions(table.filter(pa.array(mask)))
    return out


def run_benchmark(data_dir: str | Path, models: list, out: str | Path, log=print,
                  splits: tuple[str, ...] = ("test",)) -> tuple[list[dict], BenchData, dict]:
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    bench = bench_data(data_dir, splits=splits)
    log(f"{'+'.join(splits)}: {bench.arrays.num_rows} plans from {len(set(bench.arrays.row_scene))} scenes")
    tables, preds = [], {}
    for m in models:
        for name, pred in m.predict(bench).items():
            preds[name] = pred
            tables.append(predictions_table(name, pred, bench))
            log(f"scored {name}")
    table = pa.concat_tables(tables)
    atomic_write(out / "predictions.parquet", lambda tmp: pq.write_table(table, tmp))
    return leaderboard_from_predictions(read_predictions(out)), bench, preds
