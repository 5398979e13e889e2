"""Ranking and overlap metrics that training reports (a leaf: numpy only).

Every result is ``(value, valid)``; a metric undefined on its inputs (AUROC with one class
only, IoU of two empty masks) returns ``(nan, False)``. :mod:`benchmark.metrics` registers
these same functions in its metric registry.
"""
from __future__ import annotations

import numpy as np

MetricResult = tuple[float, bool]


def undefined() -> MetricResult:
    """The result of a metric that its inputs leave undefined."""
    return float("nan"), False


def auroc(scores: np.ndarray, labels: np.ndarray) -> MetricResult:
    """Area under the ROC curve (ties counted half), via the rank statistic."""
    scores, labels = np.asarray(scores, float), np.asarray(labels, bool)
    pos, neg = labels.sum(), (~labels).sum()
    if pos == 0 or neg == 0:
        return undefined()
    order = np.argsort(scores, kind="mergesort")
    s = scores[order]
    starts = np.flatnonzero(np.r_[True, s[1:] != s[:-1]])     # first position of each run of tied scores
    ends = np.r_[starts[1:], len(s)]
    ranks = np.empty(len(scores))
    ranks[order] = np.repeat(0.5 * (starts + ends - 1) + 1.0, ends - starts)   # 1-based ranks, ties averaged
    return float((ranks[labels].sum() - pos * (pos + 1) / 2) / (pos * neg)), True


def iou(pred: np.ndarray, truth: np.ndarray) -> MetricResult:
    """Intersection over union of two boolean arrays (undefined when both are empty)."""
    pred, truth = np.asarray(pred, bool), np.asarray(truth, bool)
    union = (pred | truth).sum()
    if union == 0:
        return undefined()
    return float((pred & truth).sum() / union), True
