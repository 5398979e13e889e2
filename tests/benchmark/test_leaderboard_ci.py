"""Leaderboard intervals over logs: every metric's interval is the metric recomputed on whole logs drawn with
replacement (checked against resamples written out by hand), all models see the same draws, and the vectorised
causal pairwise accuracy equals the pair-counting loop."""
import numpy as np
import pyarrow as pa
import pytest

from benchmark.evaluate import model_metrics
from benchmark.intervals import auroc_interval, log_draws, resampled_rows
from benchmark.leaderboard_ci import _take, leaderboard_intervals, with_intervals
from benchmark.metrics import causal_pairwise_accuracy


def _table(rng, models=("critic", "constant-velocity"), logs=6, scenes_per_log=3, plans=4) -> pa.Table:
    R = logs * scenes_per_log * plans
    scene = np.repeat(np.arange(logs * scenes_per_log), plans)
    log = np.array([f"log{s // scenes_per_log}" for s in scene])
    coll, off = rng.random(R) < 0.4, rng.random(R) < 0.2
    parts = []
    for k, m in enumerate(models):
        noise = 0.3 + 0.5 * k
        cr = np.clip(coll + rng.normal(0, noise, R), 0, 1)
        orr = np.clip(off + rng.normal(0, noise, R), 0, 1)
        parts.append(pa.table({
            "model": [m] * R, "sample_id": [f"s{i}" for i in range(R)], "scene": scene, "outcome": ["x"] * R,
            "family": ["f"] * R, "log_id": log, "true_collision": coll, "true_offroad": off,
            "true_collision_time_s": np.where(coll, 2.0, np.nan), "true_offroad_time_s": np.where(off, 3.0, np.nan),
            "collision_risk": cr, "offroad_risk": orr, "risk": np.maximum(cr, orr),
            "collision_time_s": np.full(R, 2.2), "offroad_time_s": np.full(R, 2.9),
            "g_inter": rng.integers(0, 5, R), "g_union": rng.integers(5, 9, R),
            "f_inter": rng.integers(0, 3, R), "f_union": rng.integers(3, 6, R)}))
    return pa.concat_tables(parts)


def _slow_resample(g: dict, logs: np.ndarray, counts: np.ndarray) -> dict:
    """The rows of each log written out once per draw, each copy's scenes renamed apart (the reference)."""
    names = np.unique(logs)
    parts, scene = [], []
    for j, name in enumerate(names):
        rows = np.flatnonzero(logs == name)
        for c in range(counts[j]):
            parts.append(rows)
            scene.append(g["scene"][rows] + 1000 * (c + 1) + 100000 * j)
    idx = np.concatenate(parts)
    out = {k: v[idx] for k, v in g.items() if k != "log_id"}
    out["scene"] = np.concatenate(scene)
    return out


def test_every_metric_of_every_resample_equals_the_metrics_of_the_logs_written_out_by_hand():
    t = _table(np.random.default_rng(0))
    crit = t.filter(pa.compute.equal(t.column("model"), "critic"))
    g = {c: crit.column(c).to_numpy(zero_copy_only=False) for c in crit.column_names if c not in ("model", "sample_id", "outcome", "family")}
    _, counts = log_draws(g["log_id"], resamples=5, seed=3)
    for (idx, copy), cnt in zip(resampled_rows(g["log_id"], resamples=5, seed=3), counts):
        fast, slow = model_metrics(_take(g, idx, copy)), model_metrics(_slow_resample(g, g["log_id"], cnt))
        for k in fast:
            assert fast[k] == pytest.approx(slow[k], nan_ok=True, abs=1e-12), k


def test_the_collision_auroc_interval_equals_the_weighted_bootstrap_of_the_same_draws():
    t = _table(np.random.default_rng(1))
    iv, _ = leaderboard_intervals(t, resamples=200, seed=7)
    crit = t.filter(pa.compute.equal(t.column("model"), "critic"))
    ref = auroc_interval(crit.column("collision_risk").to_numpy(), crit.column("true_collision").to_numpy(),
                         crit.column("log_id").to_numpy(zero_copy_only=False), resamples=200, seed=7)
    got = iv["critic"]["collision_auroc"]
    assert (got.value, got.logs) == (pytest.approx(ref.value), 6)
    assert got.lo == pytest.approx(ref.lo, abs=1e-12) and got.hi == pytest.approx(ref.hi, abs=1e-12)


def test_the_paired_difference_of_the_better_model_excludes_zero_and_a_model_minus_itself_is_zero():
    t = _table(np.random.default_rng(2), models=("critic", "twin", "constant-velocity"), logs=20)
    twin = t.filter(pa.compute.equal(t.column("model"), "critic"))
    t = pa.concat_tables([twin, twin.set_column(0, "model", pa.array(["constant-velocity"] * twin.num_rows))])
    _, diff = leaderboard_intervals(t, resamples=100)
    d = diff["critic"]["collision_auroc"]
    assert (d.value, d.lo, d.hi) == (0.0, 0.0, 0.0)
    t = _table(np.random.default_rng(2), logs=20)
    _, diff = leaderboard_intervals(t, resamples=300)
    assert diff["critic"]["collision_auroc"].lo > 0.0          # noise 0.3 against 0.8


def test_csv_rows_keep_the_points_and_add_lo_and_hi_and_display_rows_show_the_interval():
    t = _table(np.random.default_rng(4))
    iv, _ = leaderboard_intervals(t, resamples=50)
    rows = [{"model": m, "plans": 72, "collision_auroc": iv[m]["collision_auroc"].value} for m in iv]
    csv_rows, shown = with_intervals(rows, iv)
    assert csv_rows[0]["collision_auroc"] == rows[0]["collision_auroc"]
    assert csv_rows[0]["collision_auroc_lo"] <= csv_rows[0]["collision_auroc"] <= csv_rows[0]["collision_auroc_hi"]
    assert shown[0]["collision_auroc"].count("[") == 1


def _slow_causal(risk, failed, group):
    wins = pairs = 0.0
    for g in np.unique(group):
        m = group == g
        f, s = risk[m & failed], risk[m & ~failed]
        d = f[:, None] - s[None, :]
        wins, pairs = wins + (d > 0).sum() + 0.5 * (d == 0).sum(), pairs + d.size
    return wins / pairs if pairs else np.nan


def test_vectorised_causal_pairwise_accuracy_equals_the_pair_counting_loop_with_ties():
    rng = np.random.default_rng(5)
    for _ in range(200):
        n = int(rng.integers(1, 50))
        risk, failed, group = rng.integers(0, 5, n) / 4.0, rng.random(n) < 0.4, rng.integers(0, 6, n)
        value, valid = causal_pairwise_accuracy(risk, failed, group)
        ref = _slow_causal(risk, failed, group)
        assert (not valid and np.isnan(ref)) or value == pytest.approx(ref, abs=1e-12)
