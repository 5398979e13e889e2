"""95 % bootstrap intervals over logs for every leaderboard metric, and every model's paired difference from
the constant-velocity baseline (numpy).

Each resample draws as many logs as the predictions hold, with replacement (``benchmark.intervals``), and
recomputes every metric of :func:`benchmark.evaluate.model_metrics` on the drawn rows; all models see the same
draws, so a difference is paired. The predictions must carry ``log_id`` (``impartial benchmark`` writes it).
"""
from __future__ import annotations

import numpy as np
import pyarrow as pa

from .evaluate import model_columns, model_metrics
from .intervals import LEVEL, RESAMPLES, Interval, _percentiles, resampled_rows
from schemas.errors import InputError

REFERENCE = "constant-velocity"


def _take(g: dict[str, np.ndarray], idx: np.ndarray, copy: np.ndarray) -> dict[str, np.ndarray]:
    out = {k: v[idx] for k, v in g.items() if k != "log_id"}
    out["scene"] = out["scene"].astype(np.int64) * (int(copy.max(initial=0)) + 1) + copy   # copies of a scene apart
    return out


def leaderboard_intervals(table: pa.Table, resamples: int = RESAMPLES, seed: int = 0, level: float = LEVEL,
                          reference: str = REFERENCE) -> tuple[dict, dict]:
    """``(intervals, differences)`` from the predictions ``table``.

    ``intervals[model][metric]`` is the metric's :class:`~benchmark.intervals.Interval` on all rows with its
    percentile interval over ``resamples`` resamples of the logs; ``differences[model][metric]`` the paired
    interval of ``model - reference`` (every model but ``reference``; empty when ``reference`` was not scored)."""
    cols = model_columns(table)
    names = list(cols)
    first = cols[names[0]]
    sids = table.column("sample_id").to_numpy(zero_copy_only=False)
    model = table.column("model").to_numpy(zero_copy_only=False)
    for n in names[1:]:
        if not np.array_equal(sids[model == n], sids[model == names[0]]):
            raise InputError(f"predictions: model {n!r} scored other rows than {names[0]!r}")
    if "log_id" not in first:
        raise InputError("predictions: no log_id column (written before it existed); run impartial benchmark again")
    logs = first["log_id"]
    point = {n: model_metrics(g) for n, g in cols.items()}
    draws = {n: {k: [] for k in point[n]} for n in names}
    for idx, copy in resampled_rows(logs, resamples, seed):
        for n, g in cols.items():
            for k, v in model_metrics(_take(g, idx, copy)).items():
                draws[n][k].append(v)
    n_logs = len(np.unique(logs.astype(str)))

    def interval(value: float, values: np.ndarray) -> Interval:
        return Interval(float(value), *_percentiles(values, level), n_logs, -1)

    intervals = {n: {k: interval(point[n][k], np.array(draws[n][k])) for k in point[n]} for n in names}
    differences = {}
    if reference in names:
        for n in names:
            if n != reference:
                differences[n] = {k: interval(point[n][k] - point[reference][k],
                                              np.array(draws[n][k]) - np.array(draws[reference][k])) for k in point[n]}
    return intervals, differences


def interval_tables(table: pa.Table, rows: list[dict], resamples: int = RESAMPLES, seed: int = 0) -> tuple:
    """``(csv rows, display rows, difference csv rows, difference display rows)`` of the leaderboard ``rows`` of
    the predictions ``table`` (:func:`leaderboard_intervals`, :func:`with_intervals`, :func:`differences_rows`)."""
    intervals, diffs = leaderboard_intervals(table, resamples, seed)
    return (*with_intervals(rows, intervals), *differences_rows(diffs))


def with_intervals(rows: list[dict], intervals: dict) -> tuple[list[dict], list[dict]]:
    """``(csv rows, display rows)`` of the leaderboard ``rows``: the CSV rows gain ``{metric}_lo`` and
    ``{metric}_hi`` (the points stay, so the recompute checks them); the display rows show ``value [lo, hi]``."""
    csv_rows, shown = [], []
    for r in rows:
        iv = intervals.get(r["model"], {})
        c, d = dict(r), dict(r)
        for k, i in iv.items():
            c[f"{k}_lo"], c[f"{k}_hi"] = i.lo, i.hi
            d[k] = "n/a" if np.isnan(i.value) else (f"{i.value:.3f}" if np.isnan(i.lo) else str(i))
        csv_rows.append(c)
        shown.append(d)
    return csv_rows, shown


def differences_rows(differences: dict, reference: str = REFERENCE) -> tuple[list[dict], list[dict]]:
    """``(csv rows, display rows)`` of ``model - reference`` per metric, ``value [lo, hi]`` with signs."""
    csv_rows, shown = [], []
    for n, diff in differences.items():
        c, d = {"model": f"{n} - {reference}"}, {"model": f"{n} - {reference}"}
        for k, i in diff.items():
            c[k], c[f"{k}_lo"], c[f"{k}_hi"] = i.value, i.lo, i.hi
            d[k] = "n/a" if np.isnan(i.value) else f"{i.value:+.3f} [{i.lo:+.3f}, {i.hi:+.3f}]"
        csv_rows.append(c)
        shown.append(d)
    return csv_rows, shown
