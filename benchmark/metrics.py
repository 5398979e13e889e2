"""Risk metrics, one function each, in a registry; every result is ``(value, valid)``.

A metric that is undefined on its inputs (for example AUROC with one class only)
returns ``(nan, False)``. Inputs are numpy arrays over samples.
"""
from __future__ import annotations

from typing import Callable

import numpy as np

from critic.metrics import MetricResult, auroc, iou, undefined

METRICS: dict[str, Callable[..., MetricResult]] = {}


def metric(name: str):
    def deco(fn):
        if name in METRICS:
            raise ValueError(f"metric {name!r} registered twice")
        METRICS[name] = fn
        return fn
    return deco


# the two metrics training reports live in the leaf :mod:`critic.metrics`; registered here in their place
metric("auroc")(auroc)
metric("iou")(iou)


@metric("auprc")
def auprc(scores: np.ndarray, labels: np.ndarray) -> MetricResult:
    """Average precision: mean precision at the rank of every positive (ties broken pessimistically)."""
    scores, labels = np.asarray(scores, float), np.asarray(labels, bool)
    if labels.sum() == 0:
        return undefined()
    order = np.lexsort((labels, -scores))  # descending score; among ties negatives first
    hits = labels[order]
    precision = np.cumsum(hits) / np.arange(1, len(hits) + 1)
    return float(precision[hits].mean()), True


@metric("recall_at_5pct_fpr")
def recall_at_fpr(scores: np.ndarray, labels: np.ndarray, fpr: float = 0.05) -> MetricResult:
    """Recall of positives scored strictly above the threshold that lets at most ``fpr`` of negatives through."""
    scores, labels = np.asarray(scores, float), np.asarray(labels, bool)
    if labels.sum() == 0 or (~labels).sum() == 0:
        return undefined()
    neg = np.sort(scores[~labels])[::-1]
    k = int(np.floor(fpr * len(neg)))  # negatives allowed above the threshold
    thr = neg[k] if k < len(neg) else -np.inf
    return float((scores[labels] > thr).mean()), True


@metric("ece")
def ece(probs: np.ndarray, labels: np.ndarray, bins: int = 15) -> MetricResult:
    """Expected calibration error over ``bins`` equal-width probability bins."""
    probs, labels = np.asarray(probs, float), np.asarray(labels, float)
    if len(probs) == 0 or not np.isfinite(probs).all():
        return undefined()
    idx = np.minimum((probs * bins).astype(int), bins - 1)
    # a bin's count x |mean prob - mean label| is |sum of probs - sum of labels| over the bin
    gap = np.bincount(idx, weights=probs, minlength=bins) - np.bincount(idx, weights=labels, minlength=bins)
    return float(np.abs(gap).sum() / len(probs)), True


@metric("brier")
def brier(probs: np.ndarray, labels: np.ndarray) -> MetricResult:
    probs, labels = np.asarray(probs, float), np.asarray(labels, float)
    if len(probs) == 0:
        return undefined()
    return float(np.mean((probs - labels) ** 2)), True


@metric("mean_risk_on_failures")
def mean_risk_on_failures(probs: np.ndarray, labels: np.ndarray) -> MetricResult:
    """Optimism gap, part 1: mean predicted risk on plans that truly fail (1 is ideal)."""
    probs, labels = np.asarray(probs, float), np.asarray(labels, bool)
    if labels.sum() == 0:
        return undefined()
    return float(probs[labels].mean()), True


@metric("failures_called_safe")
def failures_called_safe(probs: np.ndarray, labels: np.ndarray, threshold: float = 0.5) -> MetricResult:
    """Optimism gap, part 2: fraction of true failures predicted safe (risk < threshold; 0 is ideal)."""
    probs, labels = np.asarray(probs, float), np.asarray(labels, bool)
    if labels.sum() == 0:
        return undefined()
    return float((probs[labels] < threshold).mean()), True


@metric("causal_pairwise_accuracy")
def causal_pairwise_accuracy(risk: np.ndarray, failed: np.ndarray, group: np.ndarray) -> MetricResult:
    """Over pairs of plans of the same scene with different outcomes, how often the failing one
    scores higher (ties count half; 0.5 for a model that ignores the action)."""
    risk, failed, group = np.asarray(risk, float), np.asarray(failed, bool), np.asarray(group)
    if not len(risk) or not np.isfinite(risk).all():
        return undefined()
    _, g = np.unique(group, return_inverse=True)
    order = np.lexsort((risk, g))                      # by scene, then risk
    g, r, f = g[order], risk[order], failed[order]
    new = np.r_[True, (g[1:] != g[:-1]) | (r[1:] != r[:-1])]
    block = np.cumsum(new) - 1                         # one block per (scene, risk value)
    safe = np.bincount(block, weights=~f)
    fail = np.bincount(block, weights=f)
    below = np.cumsum(safe) - safe                     # safe plans in earlier blocks, all scenes
    scene = g[new]
    scene_first = np.flatnonzero(np.r_[True, scene[1:] != scene[:-1]])
    below -= below[scene_first][np.cumsum(np.r_[True, scene[1:] != scene[:-1]]) - 1]   # ... of this scene only
    wins = float((fail * (below + 0.5 * safe)).sum())
    pairs = float((np.bincount(g, weights=f) * np.bincount(g, weights=~f)).sum())
    if pairs == 0:
        return undefined()
    return wins / pairs, True


@metric("daf")
def daf(risk: np.ndarray, pred_time: np.ndarray, failed: np.ndarray, true_time: np.ndarray,
        threshold: float = 0.5, slack_s: float = 0.5) -> MetricResult:
    """Danger anticipation F1: a failure is foreseen when risk >= threshold and the predicted
    event time is no later than the true time + ``slack_s``. Precision = foreseen / alarms,
    recall = foreseen / failures."""
    risk, pred_time = np.asarray(risk, float), np.asarray(pred_time, float)
    failed, true_time = np.asarray(failed, bool), np.asarray(true_time, float)
    alarm = risk >= threshold
    foreseen = alarm & failed & (pred_time <= true_time + slack_s)
    if failed.sum() == 0 or alarm.sum() == 0:
        return (0.0, True) if failed.sum() and not alarm.sum() else undefined()
    p, r = foreseen.sum() / alarm.sum(), foreseen.sum() / failed.sum()
    return (float(2 * p * r / (p + r)) if p + r > 0 else 0.0), True


@metric("time_to_event_mae")
def time_to_event_mae(pred_time: np.ndarray, true_time: np.ndarray, failed: np.ndarray) -> MetricResult:
    """Mean absolute error (s) of the predicted first-event time on true failures."""
    pred_time, true_time, failed = np.asarray(pred_time, float), np.asarray(true_time, float), np.asarray(failed, bool)
    if failed.sum() == 0:
        return undefined()
    return float(np.abs(pred_time[failed] - true_time[failed]).mean()), True


@metric("g_iou")
def g_iou(pred: np.ndarray, truth: np.ndarray) -> MetricResult:
    """IoU of forecast vs true agent occupancy over the whole grid (all frames, all plans)."""
    return iou(pred, truth)


@metric("f_iou")
def f_iou(pred: np.ndarray, truth: np.ndarray, corridor: np.ndarray) -> MetricResult:
    """IoU restricted to the ego's swept corridor cells (``corridor`` broadcastable mask)."""
    corridor = np.broadcast_to(np.asarray(corridor, bool), np.shape(pred))
    return iou(np.asarray(pred, bool) & corridor, np.asarray(truth, bool) & corridor)
