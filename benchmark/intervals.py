"""Bootstrap intervals over logs (numpy): resample whole logs with replacement, never rows.

Rows of one log (its windows, egos, variants and counterfactuals) are correlated, so an interval
from resampled rows would be far too narrow. A resample draws as many logs as there are, with
replacement; each row then counts as often as its log was drawn (a weight), which lets every
resample be scored at once. Intervals are percentile intervals; a paired difference of two
scorers uses the same resamples for both, so it is much tighter than the two intervals side by side.
"""
from __future__ import annotations

import dataclasses

import numpy as np

RESAMPLES = 1000
LEVEL = 0.95


@dataclasses.dataclass(frozen=True)
class Interval:
    """A metric on all rows (``value``) and its bootstrap percentile interval ``[lo, hi]``; ``logs`` logs,
    ``positives`` positive rows (-1 where the metric has no single positive class). NaN where the metric is
    undefined (one class only)."""

    value: float
    lo: float
    hi: float
    logs: int
    positives: int

    def __str__(self) -> str:
        return f"{self.value:.3f} [{self.lo:.3f}, {self.hi:.3f}]"


def log_draws(logs: np.ndarray, resamples: int = RESAMPLES, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``(inv [R], counts [resamples, G])``: each row's log index among the ``G`` distinct ``logs`` ``[R]``, and
    how often each log is drawn in each resample (``G`` draws with replacement)."""
    _, inv = np.unique(np.asarray(logs), return_inverse=True)
    G = int(inv.max()) + 1 if len(inv) else 0
    counts = np.random.default_rng(seed).multinomial(G, np.full(G, 1.0 / max(G, 1)), size=resamples)
    return inv, counts


def log_weights(logs: np.ndarray, resamples: int = RESAMPLES, seed: int = 0) -> np.ndarray:
    """``[resamples, R]`` float64: how often each row's log is drawn in each resample of the logs ``logs`` ``[R]``."""
    inv, counts = log_draws(logs, resamples, seed)
    return counts[:, inv].astype(np.float64)


def resampled_rows(logs: np.ndarray, resamples: int = RESAMPLES, seed: int = 0):
    """Per resample of ``logs`` (the same draws as :func:`log_weights`), ``(idx [R'], copy [R'])``: the rows of every
    drawn log, a log drawn ``c`` times contributing its rows ``c`` times, and which copy (0 .. c-1) each row is, so
    that metrics over groups (pairs of plans of one scene) can keep the copies of a scene apart."""
    inv, counts = log_draws(logs, resamples, seed)
    rows = np.arange(len(inv))
    for drawn in counts:
        c = drawn[inv]
        idx = np.repeat(rows, c)
        first = np.cumsum(c) - c
        yield idx, np.arange(len(idx)) - np.repeat(first, c)


def weighted_auroc(scores: np.ndarray, labels: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """AUROC (ties counted half) of ``scores`` ``[R]`` against ``labels`` ``[R]`` under each row of ``weights``
    ``[B, R]`` (a row drawn twice counts twice): ``[B]``, NaN where one class has no weight."""
    scores, labels = np.asarray(scores, float), np.asarray(labels, bool)
    w = np.atleast_2d(np.asarray(weights, float))
    if not len(scores):
        return np.full(len(w), np.nan)
    order = np.argsort(scores, kind="mergesort")
    s, y, w = scores[order], labels[order], w[:, order]
    starts = np.flatnonzero(np.r_[True, s[1:] != s[:-1]])          # one entry per distinct score
    wp = np.add.reduceat(w * y, starts, axis=1)                    # [B, U] positive weight at each score
    wn = np.add.reduceat(w * ~y, starts, axis=1)
    below = np.cumsum(wn, axis=1) - wn                             # negative weight strictly below
    den = wp.sum(1) * wn.sum(1)
    return np.where(den > 0, (wp * (below + 0.5 * wn)).sum(1) / np.where(den > 0, den, 1.0), np.nan)


def _percentiles(values: np.ndarray, level: float) -> tuple[float, float]:
    v = values[np.isfinite(values)]
    if not len(v):
        return float("nan"), float("nan")
    a = 100.0 * (1.0 - level) / 2.0
    return float(np.percentile(v, a)), float(np.percentile(v, 100.0 - a))


def auroc_interval(scores, labels, logs, resamples: int = RESAMPLES, seed: int = 0, level: float = LEVEL) -> Interval:
    """AUROC of ``scores`` on ``labels`` and its interval over resampled ``logs`` (one id per row)."""
    labels = np.asarray(labels, bool)
    value = float(weighted_auroc(scores, labels, np.ones((1, len(labels))))[0])
    lo, hi = _percentiles(weighted_auroc(scores, labels, log_weights(logs, resamples, seed)), level)
    return Interval(value, lo, hi, len(np.unique(np.asarray(logs))), int(labels.sum()))


def paired_auroc_difference(scores_a, scores_b, labels, logs, resamples: int = RESAMPLES, seed: int = 0,
                            level: float = LEVEL) -> Interval:
    """AUROC(a) - AUROC(b) on the same rows, with its interval from the same resamples of ``logs`` for both."""
    labels = np.asarray(labels, bool)
    ones = np.ones((1, len(labels)))
    value = float(weighted_auroc(scores_a, labels, ones)[0] - weighted_auroc(scores_b, labels, ones)[0])
    w = log_weights(logs, resamples, seed)
    lo, hi = _percentiles(weighted_auroc(scores_a, labels, w) - weighted_auroc(scores_b, labels, w), level)
    return Interval(value, lo, hi, len(np.unique(np.asarray(logs))), int(labels.sum()))
