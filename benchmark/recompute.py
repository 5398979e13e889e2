"""Independent recomputation of the leaderboard from ``predictions.parquet`` alone.

``impartial recompute OUT_DIR`` re-derives every metric with separate,
deliberately plain implementations (pairwise counting instead of ranks, explicit loops)
and compares them with ``OUT_DIR/leaderboard.csv`` and, when present, the per-family AUROCs of
``OUT_DIR/leaderboard_families.csv``; it exits 1 on any mismatch.
"""
from __future__ import annotations

import csv
import math
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq

from schemas.errors import InputError


def _auroc(s, y):
    pos, neg = s[y], s[~y]
    if not len(pos) or not len(neg):
        return math.nan
    wins = 0.0
    for i in range(0, len(pos), 512):
        d = pos[i:i + 512, None] - neg[None, :]
        wins += (d > 0).sum() + 0.5 * (d == 0).sum()
    return wins / (len(pos) * len(neg))


def _auprc(s, y):
    if not y.any():
        return math.nan
    idx = sorted(range(len(s)), key=lambda i: (-s[i], bool(y[i])))
    tp, precisions = 0, []
    for rank, i in enumerate(idx, start=1):
        if y[i]:
            tp += 1
            precisions.append(tp / rank)
    return sum(precisions) / len(precisions)


def _recall_at(s, y, fpr=0.05):
    if not y.any() or y.all():
        return math.nan
    neg = sorted(s[~y], reverse=True)
    k = int(math.floor(fpr * len(neg)))
    thr = neg[k] if k < len(neg) else -math.inf
    return sum(1 for v in s[y] if v > thr) / y.sum()


def _ece(p, y, bins=15):
    total = 0.0
    for b in range(bins):
        m = np.array([min(int(v * bins), bins - 1) == b for v in p])
        if m.any():
            total += m.sum() * abs(p[m].mean() - y[m].mean())
    return total / len(p)


def _daf(r, pt, f, tt, thr=0.5, slack=0.5):
    alarms = r >= thr
    if not f.any() or not alarms.any():
        return 0.0 if f.any() else math.nan
    hit = sum(1 for i in range(len(r)) if alarms[i] and f[i] and pt[i] <= tt[i] + slack)
    p, rc = hit / alarms.sum(), hit / f.sum()
    return 2 * p * rc / (p + rc) if p + rc else 0.0


def recompute(table) -> list[dict]:
    rows = []
    models = list(dict.fromkeys(table.column("model").to_pylist()))
    for model in models:
        mask = np.array(table.column("model").to_pylist()) == model
        g = {c: np.asarray(table.column(c).to_numpy(zero_copy_only=False))[mask] for c in table.column_names
             if c not in ("model", "sample_id", "outcome", "family")}
        row = {"model": model}
        for ev in ("collision", "offroad"):
            y, s = g[f"true_{ev}"].astype(bool), g[f"{ev}_risk"].astype(float)
            row[f"{ev}_auroc"], row[f"{ev}_auprc"] = _auroc(s, y), _auprc(s, y)
            row[f"{ev}_recall@5%fpr"], row[f"{ev}_ece"] = _recall_at(s, y), _ece(s, y.astype(float))
            row[f"{ev}_brier"] = float(((s - y) ** 2).mean())
            row[f"{ev}_daf"] = _daf(s, g[f"{ev}_time_s"], y, g[f"true_{ev}_time_s"])
            row[f"{ev}_time_mae_s"] = float(np.abs(g[f"{ev}_time_s"][y] - g[f"true_{ev}_time_s"][y]).mean()) if y.any() else math.nan
        f = g["true_collision"].astype(bool) | g["true_offroad"].astype(bool)
        risk = g["risk"]
        row["mean_risk_on_failures"] = float(risk[f].mean()) if f.any() else math.nan
        row["failures_called_safe"] = float((risk[f] < 0.5).mean()) if f.any() else math.nan
        wins = pairs = 0.0
        for sc in np.unique(g["scene"]):
            a, b = risk[(g["scene"] == sc) & f], risk[(g["scene"] == sc) & ~f]
            for x in a:
                wins += (x > b).sum() + 0.5 * (x == b).sum()
                pairs += len(b)
        row["causal_pairwise_acc"] = wins / pairs if pairs else math.nan
        tt = np.fmin(g["true_collision_time_s"], g["true_offroad_time_s"])
        pt = []
        for i in range(len(risk)):
            cand = [t for r, t in ((g["collision_risk"][i], g["collision_time_s"][i]),
                                   (g["offroad_risk"][i], g["offroad_time_s"][i])) if r >= 0.5]
            pt.append(min(cand) if cand else (g["collision_time_s"][i] if g["collision_risk"][i] >= g["offroad_risk"][i]
                                              else g["offroad_time_s"][i]))
        row["daf"] = _daf(risk, np.array(pt), f, tt)
        gu = g["g_union"]
        ok = not any(v is None or (isinstance(v, float) and math.isnan(v)) for v in gu)
        row["g_iou"] = float(np.sum(g["g_inter"]) / np.sum(gu)) if ok and np.sum(gu) else math.nan
        row["f_iou"] = float(np.sum(g["f_inter"]) / np.sum(g["f_union"])) if ok and np.sum(g["f_union"]) else math.nan
        rows.append(row)
    return rows


def _group_rows(family: np.ndarray, group: str) -> np.ndarray:
    """Rows of a ``leaderboard_families.csv`` group: ``all``, ``all but a,b`` or ``family=a``."""
    if group == "all":
        return np.ones(len(family), bool)
    if group.startswith("all but "):
        left_out = group[len("all but "):].split(",")
        return np.array([f not in left_out for f in family])
    if group.startswith("family="):
        return family == group[len("family="):]
    raise ValueError(f"leaderboard_families.csv: unknown group {group!r}")


def compare_families(out: Path, table, tol: float = 1e-9) -> list[str]:
    """Problems between ``leaderboard_families.csv`` and the AUROCs and counts recomputed here."""
    with open(out / "leaderboard_families.csv") as fh:
        theirs = list(csv.DictReader(fh))
    model = np.array(table.column("model").to_pylist())
    family = np.array(table.column("family").to_pylist())
    col = {c: np.asarray(table.column(c).to_numpy(zero_copy_only=False))
           for ev in ("collision", "offroad") for c in (f"true_{ev}", f"{ev}_risk")}
    problems = []
    for r in theirs:
        keep = (model == r["model"]) & _group_rows(family, r["group"])
        y, s = col[f"true_{r['event']}"].astype(bool)[keep], col[f"{r['event']}_risk"].astype(float)[keep]
        v, w = _auroc(s, y), float(r["auroc"]) if r["auroc"] not in ("", "nan") else math.nan
        where = f"{r['model']} {r['event']} {r['group']}"
        if not ((math.isnan(v) and math.isnan(w)) or abs(v - w) <= tol):
            problems.append(f"{where}: recomputed AUROC {v!r}, leaderboard {w!r}")
        if int(r["plans"]) != int(keep.sum()) or int(r["events"]) != int(y.sum()):
            problems.append(f"{where}: recomputed {keep.sum()} plans ({y.sum()} events), leaderboard {r['plans']} ({r['events']})")
    return problems


def compare(out: Path, tol: float = 1e-9) -> list[str]:
    """Problems between ``leaderboard.csv`` (and ``leaderboard_families.csv`` when present) and the
    metrics recomputed here from ``predictions.parquet``; empty when everything matches."""
    for name in ("predictions.parquet", "leaderboard.csv"):
        if not (out / name).is_file():
            raise InputError("missing: run impartial benchmark (or impartial cv) first", path=str(out / name))
    table = pq.read_table(out / "predictions.parquet")
    mine = recompute(table)
    with open(out / "leaderboard.csv") as fh:
        theirs = list(csv.DictReader(fh))
    problems = []
    for a, b in zip(mine, theirs):
        for k, v in a.items():
            if k == "model":
                if v != b[k]:
                    problems.append(f"model order {v} != {b[k]}")
                continue
            w = float(b[k]) if b.get(k) not in (None, "", "nan") else math.nan
            if not ((math.isnan(v) and math.isnan(w)) or abs(v - w) <= tol):
                problems.append(f"{a['model']} {k}: recomputed {v!r}, leaderboard {w!r}")
    if len(mine) != len(theirs):
        problems.append(f"{len(mine)} models recomputed, {len(theirs)} on the leaderboard")
    if (out / "leaderboard_families.csv").exists():
        problems += compare_families(out, table, tol)
    return problems
