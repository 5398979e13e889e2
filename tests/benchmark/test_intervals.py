"""Bootstrap intervals over logs: the weighted AUROC of every resample at once equals the slow AUROC of the
resampled rows written out, and the intervals resample logs, not rows."""
import numpy as np
import pytest

from benchmark.intervals import auroc_interval, log_weights, paired_auroc_difference, weighted_auroc
from critic.metrics import auroc


def test_weighted_auroc_equals_the_rank_auroc_of_the_rows_repeated_by_their_weights():
    rng = np.random.default_rng(0)
    scores = np.round(rng.random(60), 1)                      # many ties
    labels = rng.random(60) < 0.4
    w = rng.integers(0, 4, (5, 60))
    got = weighted_auroc(scores, labels, w)
    for b in range(5):
        rows = np.repeat(np.arange(60), w[b])
        assert got[b] == pytest.approx(auroc(scores[rows], labels[rows])[0], abs=1e-12)
    assert weighted_auroc(scores, labels, np.ones((1, 60)))[0] == pytest.approx(auroc(scores, labels)[0])


def test_one_class_gives_nan():
    assert np.isnan(weighted_auroc(np.arange(4.0), np.zeros(4, bool), np.ones((1, 4))))[0]


def test_a_resample_draws_whole_logs_as_many_as_there_are():
    logs = np.array(["a", "a", "a", "b", "c", "c"])
    w = log_weights(logs, resamples=200, seed=1)
    assert np.all(w[:, 0] == w[:, 1]) and np.all(w[:, 1] == w[:, 2]) and np.all(w[:, 4] == w[:, 5])
    assert np.all(w[:, [0, 3, 4]].sum(1) == 3)                  # three logs drawn each time


def test_the_interval_holds_the_value_and_one_log_per_row_is_tighter_than_few_big_logs():
    rng = np.random.default_rng(2)
    labels = rng.random(2000) < 0.3
    scores = labels + rng.normal(0, 1.0, 2000)
    many = auroc_interval(scores, labels, np.arange(2000), resamples=300)
    few = auroc_interval(scores, labels, np.arange(2000) // 200, resamples=300)   # 10 logs of 200 rows
    assert many.lo <= many.value <= many.hi and few.lo <= few.value <= few.hi
    assert many.value == few.value and many.logs == 2000 and few.logs == 10
    assert (many.hi - many.lo) < (few.hi - few.lo)


def test_the_paired_difference_of_a_model_with_itself_is_exactly_zero_and_a_better_model_is_above():
    rng = np.random.default_rng(3)
    labels = rng.random(1000) < 0.3
    good, bad = labels + rng.normal(0, 0.5, 1000), labels + rng.normal(0, 2.0, 1000)
    logs = np.arange(1000) // 10
    same = paired_auroc_difference(good, good, labels, logs, resamples=200)
    assert same.value == 0.0 and same.lo == 0.0 and same.hi == 0.0
    d = paired_auroc_difference(good, bad, labels, logs, resamples=200)
    assert d.lo > 0.0
