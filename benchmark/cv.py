"""``impartial cv``: K-fold cross-validation of critics by log.

Folds are sets of whole logs (``log_id``), filled greedily (largest log first, into the fold with the fewest
rows) so that folds hold about as many rows each; ``K`` at least the number of logs is leave-one-log-out. For
fold ``k`` the critic trains (or fine-tunes a ``pretrained`` checkpoint) on the other folds' logs, of which a
share of whole logs (:data:`VAL_SHARE`, at least one) is held back for early stopping and the hazard
calibration, and scores the logs of fold ``k``, which nothing was fitted on; constant velocity and the oracle
score the same rows. Every split of the dataset takes part (its own train / val / test split is ignored). Several
critic variants (``impartial``, ``optimistic``, ``no-contrastive``) can be cross-validated side by side on the same
folds (``pretrained`` starts every variant but ``optimistic``, which sees safe logs only); ``only`` runs a subset of the folds (a quick look at one fold; the tables then cover those folds' logs only).

The pooled out-of-fold predictions go through the leaderboard code (:mod:`benchmark.evaluate`, intervals over
logs and the paired difference from constant velocity, :mod:`benchmark.leaderboard_ci`), with one table per
fold and one per source. A fold whose checkpoint and predictions are on disk for the same logs and
configuration is not trained again (a re-run resumes).
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import time
from collections import Counter
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from critic.config import TrainConfig, Variant
from critic.train import fit
from schemas import InputError
from schemas.atomic import atomic_write, atomic_write_text
from schemas.dataset import Dataset

from .constant_velocity import ConstantVelocityModel
from .evaluate import bench_data, leaderboard_from_predictions, predictions_table
from .intervals import RESAMPLES
from .leaderboard_ci import REFERENCE, interval_tables
from .models import CriticModel, OracleModel
from .report import markdown, write_csv

#: share of a fold's training logs held back (whole logs) for early stopping and calibration
VAL_SHARE = 0.15
CRITIC = "impartial"


def _hash(text: str) -> str:
    return hashlib.md5(text.encode()).hexdigest()


def assign_folds(rows_per_log: dict[str, int], k: int) -> dict[str, int]:
    """``{log: fold}``: ``min(k, logs)`` folds (``k <= 0``: one per log), the largest logs first, each into the
    fold with the fewest rows so far (ties: the lower fold; logs of equal size in a fixed hashed order)."""
    logs = sorted(rows_per_log, key=lambda g: (-rows_per_log[g], _hash(g)))
    K = len(logs) if k <= 0 else min(k, len(logs))
    load, out = np.zeros(K, np.int64), {}
    for g in logs:
        f = int(np.argmin(load))
        out[g], load[f] = f, load[f] + rows_per_log[g]
    return out


def validation_logs(train_logs: list[str], share: float = VAL_SHARE) -> list[str]:
    """The logs of ``train_logs`` held back for validation: ``max(1, round(share * n))`` in hashed order
    (none when only one log is left to train on)."""
    if len(train_logs) < 2:
        return []
    n = max(1, int(round(share * len(train_logs))))
    return sorted(train_logs, key=_hash)[:n]


def _init(variant: str, pretrained):
    """The starting weights of ``variant``: ``pretrained``, except that the optimistic critic always starts from
    nothing (weights that have seen counterfactual failures would not be the optimistic baseline any more)."""
    return None if Variant(variant) is Variant.OPTIMISTIC else pretrained


def _fold_table(models: list, bench, fold: int) -> pa.Table:
    tables = [predictions_table(n, p, bench) for m in models for n, p in m.predict(bench).items()]
    t = pa.concat_tables(tables)
    return t.append_column("fold", pa.array(np.full(t.num_rows, fold, np.int64)))


def _filter(table: pa.Table, column: str, value) -> pa.Table:
    return table.filter(pc.equal(table.column(column), value))


def _leaderboard_md(table: pa.Table, title: str, resamples: int, seed: int) -> tuple[str, list[dict], list[dict]]:
    csv_rows, shown, diff_csv, diff_shown = interval_tables(table, leaderboard_from_predictions(table), resamples, seed)
    md = markdown(shown, title)
    if diff_shown:
        md += "\n" + markdown(diff_shown, f"{title}: minus {REFERENCE} (paired 95 % interval over logs)")
    return md, csv_rows, diff_csv


def run_cv(data: str | Path, out: str | Path, folds: int, cfg: TrainConfig, pretrained: str | Path | None = None,
           resamples: int = RESAMPLES, seed: int = 0, log=print, variants: tuple[str, ...] = (CRITIC,),
           only: tuple[int, ...] = (), device: str = "cpu") -> str:
    """Cross-validate on dataset ``data`` into ``out`` (module docstring); returns the markdown report, also
    written to ``out/leaderboard.md`` beside ``predictions.parquet``, ``leaderboard.csv``,
    ``leaderboard_sources.csv``, ``leaderboard_differences.csv``, ``folds.csv``, ``cv.json`` and one checkpoint
    folder per fold and variant (``fold_<k>/<variant>``). ``only``: 1-based folds to run (empty: all). ``device``:
    where each fold trains and scores (:func:`critic.device.resolve_device`)."""
    variants = tuple(dict.fromkeys(Variant(v).value for v in variants))
    if not variants:
        raise InputError("no critic variant to cross-validate", field="variant")
    if folds == 1:
        raise InputError("one fold would hold out every log and train on none: give 2 or more (0: leave one log out)",
                         field="folds")
    out = Path(out)
    ds = Dataset(data)
    if ds.horizon_steps != cfg.features.plan_steps:
        cfg = cfg.for_horizon(ds.horizon_steps)
    weights_id = ""
    if pretrained is not None:      # refused before any feature is built when it cannot start this training
        from critic.model import build_model
        from critic.train import initial_weights

        initial_weights(build_model(cfg), pretrained)
        st = (Path(pretrained) / "model.safetensors").stat()
        weights_id = f"{Path(pretrained).resolve()}|{st.st_size}|{st.st_mtime_ns}"
    out.mkdir(parents=True, exist_ok=True)
    splits = ds.splits
    t0 = time.time()
    bench = bench_data(data, cfg.features, splits)
    arr, logs = bench.arrays, bench.log_id.astype(str)
    rows_per_log = Counter(logs.tolist())
    if len(rows_per_log) < 2:
        raise InputError(f"{len(rows_per_log)} log(s): cross-validation by log needs at least two", path=str(data),
                         field="log_id")
    fold_of_log = assign_folds(dict(rows_per_log), folds)
    K = max(fold_of_log.values()) + 1
    fold = np.array([fold_of_log[g] for g in logs])
    bad = [f for f in only if not 1 <= f <= K]
    if bad:
        raise InputError(f"fold {bad[0]} does not exist: the {len(rows_per_log)} logs make folds 1 to {K}", field="fold")
    run_folds = sorted({f - 1 for f in only}) if only else list(range(K))
    log(f"{arr.num_rows} rows of {len(rows_per_log)} logs in {K} folds ({time.time() - t0:.0f} s of features)")
    # a fold is kept on a re-run only for the same configuration, starting weights, dataset and rows
    config_key = _hash(cfg.to_json() + f"|{weights_id}|{ds.created}|{','.join(variants)}")
    tables, fold_rows, timings = [], [], []
    for k in run_folds:
        test = fold == k
        train_logs = sorted(set(logs[~test].tolist()))
        val = validation_logs(train_logs)
        is_val = np.isin(logs, val) & ~test
        tr_rows = ~test & ~is_val
        va_rows = is_val if is_val.any() else tr_rows       # one training log left: it validates itself (said below)
        ck = out / f"fold_{k}"
        key = {"config": config_key, "test_logs": sorted(set(logs[test].tolist())), "val_logs": val,
               "rows": _hash("\n".join(sorted(arr.sample_id[i] for i in np.flatnonzero(test))))}
        marker, part = ck / "fold.json", ck / "predictions.parquet"
        t_fold = time.time()
        if marker.exists() and part.exists() and json.loads(marker.read_text()).get("key") == key:
            log(f"fold {k + 1}/{K}: done before, kept")
            t = pq.read_table(part)
            summary = json.loads(marker.read_text())["summary"]
        else:
            log(f"fold {k + 1}/{K}: training on {int(tr_rows.sum())} rows of {len(train_logs) - len(val)} logs "
                f"(validation {len(val)} logs{'' if val else ': none left, the training log validates itself'}), "
                f"held out {int(test.sum())} rows of {len(key['test_logs'])} logs")
            for stale in (marker, part, *(ck / v / "model.safetensors" for v in variants)):
                stale.unlink(missing_ok=True)                       # never score an earlier run's checkpoint
            summary, critics = {}, []
            for v in variants:
                s = fit(arr.select_rows(tr_rows), arr.select_rows(va_rows), ck / v,
                        dataclasses.replace(cfg, variant=Variant(v)), quiet=True, init=_init(v, pretrained),
                        va_domains=bench.source[va_rows], device=device)
                for k2 in ("steps", "train_minutes", "stopped_by_time_budget", "best_val_loss"):
                    summary[k2 if v == variants[0] else f"{v}_{k2}"] = s[k2]
                critics.append(CriticModel(v, str(ck / v), device))
            t = _fold_table([*critics, ConstantVelocityModel(), OracleModel()], bench.select_rows(test), k)
            atomic_write(part, lambda tmp: pq.write_table(t, tmp))
            atomic_write_text(marker, json.dumps({"key": key, "summary": summary}, indent=1))
        timings.append(round(time.time() - t_fold, 1))
        tables.append(t)
        fold_rows.append({"fold": k + 1, "train_logs": len(train_logs) - len(val), "val_logs": len(val),
                          "test_logs": len(key["test_logs"]), "test_rows": int(test.sum()), **summary})
    table = pa.concat_tables(tables)
    order = {m: i for i, m in enumerate(dict.fromkeys(table.column("model").to_pylist()))}
    # one block per model, its rows in fold order (every model scored the same rows of each fold)
    table = table.take(pa.array(np.argsort([order[m] for m in table.column("model").to_pylist()], kind="stable")))
    atomic_write(out / "predictions.parquet", lambda tmp: pq.write_table(table, tmp))

    n_logs = len(rows_per_log)
    shown_folds = "" if len(run_folds) == K else f" (run here: fold {', '.join(str(k + 1) for k in run_folds)} only)"
    md = [f"# Cross-validation by log: {data}", "",
          f"{K} folds{shown_folds} over {n_logs} logs ({arr.num_rows} rows; every split of the dataset); "
          f"critics {', '.join(variants)}; "
          f"{'fine-tuned from ' + str(pretrained) if pretrained else 'trained from scratch'} per fold. 95 % intervals: "
          f"percentiles of {resamples} bootstrap resamples of the logs (whole logs drawn, never rows).", ""]
    pooled, csv_rows, diff_csv = _leaderboard_md(table, "Out of fold, pooled", resamples, seed)
    md.append(pooled)
    src_of, source_rows = dict(zip(arr.sample_id, bench.source.tolist())), []
    src_col = pa.array([src_of[s] for s in table.column("sample_id").to_pylist()])
    by_source = table.append_column("source", src_col)
    for src in sorted(set(src_col.to_pylist())):
        part = _filter(by_source, "source", src).drop_columns(["source"])
        s_md, s_csv, s_diff = _leaderboard_md(part, f"Out of fold, source {src}", resamples, seed)
        md.append(s_md)
        source_rows += [{"source": src, **r} for r in s_csv]
        diff_csv += [{**r, "model": f"{r['model']} [{src}]"} for r in s_diff]
    per_fold = []
    for k in run_folds:
        for r in leaderboard_from_predictions(_filter(table, "fold", k)):
            per_fold.append({"fold": k + 1, **r})
    md.append(markdown([{**r, "model": f"fold {r['fold']}: {r['model']}"} for r in per_fold], "Per fold (no intervals)"))
    fold_md = ["| fold | train logs | val logs | test logs | test rows | steps | minutes | cut by time |",
               "|---:|---:|---:|---:|---:|---:|---:|---|"]
    fold_md += [f"| {r['fold']} | {r['train_logs']} | {r['val_logs']} | {r['test_logs']} | {r['test_rows']} | "
                f"{r['steps']} | {r['train_minutes']} | {r['stopped_by_time_budget']} |" for r in fold_rows]
    md += ["### Folds", "", *fold_md, ""]
    text = "\n".join(md)
    atomic_write_text(out / "leaderboard.md", text)
    write_csv(csv_rows, out / "leaderboard.csv")        # the pooled table only: impartial recompute checks it
    write_csv(source_rows, out / "leaderboard_sources.csv")
    write_csv(diff_csv, out / "leaderboard_differences.csv")
    write_csv(per_fold, out / "folds.csv")
    atomic_write_text(out / "cv.json", json.dumps({
        "data": str(data), "folds": K, "folds_run": [k + 1 for k in run_folds], "variants": list(variants),
        "logs": n_logs, "rows": arr.num_rows, "pretrained": str(pretrained or ""),
        "fold_of_log": fold_of_log, "fold_seconds": timings, "minutes": round((time.time() - t0) / 60, 2),
        "train": dataclasses.asdict(cfg)}, indent=1, default=str))
    return text
