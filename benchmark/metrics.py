"""Risk metrics, one function each, in a registry; every result is ``(value, valid)``.

A metric that is undefined on its inputs (for example AUROC with one class only)
returns ``(nan, False)``. Inputs are numpy arrays over samples.
"""
from __future__ import annotations

from typing import Callable

import numpy as np

MetricResult = tuple[float, bool]
METRICS: dict[str, Callable[..., MetricResult]] = {}


def metric(name: str):
    def deco(fn):
        if name in METRICS:
            raise ValueError(f"metric {name!r} registered twice")
        METRICS[name] = fn
        return fn
    return deco


def _undefined() -> MetricResult:
    return float("nan"), False


@metric("auroc")
def auroc(scores: np.ndarray, labels: np.ndarray) -> MetricResult:
    """Area under the ROC curve (ties counted half), via the rank statistic."""
    scores, labels = np.asarray(scores, float), np.asarray(labels, bool)
    pos, neg = labels.sum(), (~labels).sum()
    if pos == 0 or neg == 0:
        return _undefined()
    order = np.argsort(scores, kind="mergesort")
    ranks = np.empty(len(scores))
    s = scores[order]
    i = 0
    while i < len(s):  # average ranks over ties
        j = i
        while j + 1 < len(s) and s[j + 1] == s[i]:
            j += 1
        ranks[order[i:j + 1]] = 0.5 * (i + j) + 1.0
        i = j + 1
    return float((ranks[labels].sum() - pos * (pos + 1) / 2) / (pos * neg)), True


@metric("iou")
def iou(pred: np.ndarray, truth: np.ndarray) -> MetricResult:
    """Intersection over union of two boolean arrays (undefined when both are empty)."""
    pred, truth = np.asarray(pred, bool), np.asarray(truth, bool)
    union = (pred | truth).sum()
    if union == 0:
        return _undefined()
    return float((pred & truth).sum() / union), True
