import numpy as np
import pytest

from benchmark.metrics import METRICS


def m(name, *args):
    return METRICS[name](*args)


def test_auroc_matches_hand_count_with_ties():
    # positives 0.9, 0.5; negatives 0.5, 0.1 -> pairs: (0.9>0.5), (0.9>0.1), (0.5=0.5 -> 1/2), (0.5>0.1) = 3.5 / 4
    assert m("auroc", [0.9, 0.5, 0.5, 0.1], [1, 1, 0, 0]) == (pytest.approx(0.875), True)
    v, ok = m("auroc", [0.1, 0.2], [1, 1])
    assert np.isnan(v) and not ok


def test_auprc_is_mean_precision_at_each_positive():
    # ranking: 0.9 (pos), 0.8 (neg), 0.7 (pos) -> precisions 1 and 2/3
    assert m("auprc", [0.9, 0.8, 0.7], [1, 0, 1])[0] == pytest.approx((1 + 2 / 3) / 2)


def test_recall_at_5pct_false_alarm_rate():
    neg = np.linspace(0, 1, 20)              # 20 negatives: 1 may pass (5 %), threshold = second highest
    pos = np.array([0.99, 0.96, 0.5])
    scores = np.r_[neg, pos]
    labels = np.r_[np.zeros(20), np.ones(3)].astype(bool)
    assert m("recall_at_5pct_fpr", scores, labels)[0] == pytest.approx(2 / 3)


def test_ece_and_brier_on_hand_values():
    p, y = np.array([0.1, 0.1, 0.9, 0.9]), np.array([0, 1, 1, 1])
    # bins: 0.1 -> observed 0.5 (gap 0.4), 0.9 -> observed 1.0 (gap 0.1); weighted 0.25
    assert m("ece", p, y)[0] == pytest.approx(0.25)
    assert m("brier", p, y)[0] == pytest.approx((0.01 + 0.81 + 0.01 + 0.01) / 4)


def test_optimism_gap_metrics():
    p, y = np.array([0.2, 0.8, 0.4, 0.0]), np.array([1, 1, 1, 0])
    assert m("mean_risk_on_failures", p, y)[0] == pytest.approx(np.mean([0.2, 0.8, 0.4]))
    assert m("failures_called_safe", p, y)[0] == pytest.approx(2 / 3)


def test_causal_pairwise_accuracy_counts_pairs_within_scenes_only():
    risk = np.array([0.9, 0.1, 0.5, 0.5, 0.2, 0.8])
    failed = np.array([1, 0, 1, 0, 1, 0], bool)
    group = np.array([0, 0, 1, 1, 2, 2])
    # scene 0: win; scene 1: tie -> 0.5; scene 2: loss -> (1 + 0.5 + 0) / 3
    assert m("causal_pairwise_accuracy", risk, failed, group)[0] == pytest.approx(0.5)
    v, ok = m("causal_pairwise_accuracy", risk, np.zeros(6, bool), group)
    assert not ok


def test_danger_anticipation_f1_needs_timely_alarms():
    risk = np.array([0.9, 0.9, 0.9, 0.1])
    pred_t = np.array([1.0, 4.0, 2.0, 8.0])
    failed = np.array([1, 1, 0, 1], bool)
    true_t = np.array([1.2, 2.0, np.nan, 3.0])
    # alarms: rows 0, 1, 2; foreseen: row 0 only (row 1 too late); precision 1/3, recall 1/3 -> F1 1/3
    assert m("daf", risk, pred_t, failed, true_t)[0] == pytest.approx(1 / 3)


def test_time_to_event_error_and_iou():
    assert m("time_to_event_mae", [1.0, 3.0, 5.0], [1.5, 2.0, np.nan], [1, 1, 0])[0] == pytest.approx(0.75)
    a = np.array([[1, 1], [0, 0]], bool)
    b = np.array([[1, 0], [1, 0]], bool)
    assert m("g_iou", a, b)[0] == pytest.approx(1 / 3)
    assert m("f_iou", a, b, np.array([[1, 1], [0, 0]], bool))[0] == pytest.approx(1 / 2)


def test_registry_refuses_duplicate_names():
    from benchmark.metrics import metric

    with pytest.raises(ValueError, match="twice"):
        metric("auroc")(lambda: None)


def test_family_auroc_is_computed_within_each_family_only():
    import pyarrow as pa

    from benchmark.by_family import family_auroc

    t = pa.table({"model": ["m"] * 6, "sample_id": list("abcdef"),
                  "true_collision": [True, False, True, False, True, True],
                  "collision_risk": [0.9, 0.1, 0.2, 0.8, 0.5, 0.6]})
    fams = {"a": "x", "b": "x", "c": "y", "d": "y", "e": "z", "f": "z"}
    got = family_auroc(t, fams)["m"]
    assert got["x"] == 1.0 and got["y"] == 0.0 and np.isnan(got["z"])  # z has positives only


def test_pooled_auroc_without_a_family_drops_exactly_its_rows():
    import pyarrow as pa

    from benchmark.by_family import auroc_without

    t = pa.table({"model": ["m"] * 6, "sample_id": list("abcdef"),
                  "true_collision": [True, False, True, False, True, False],
                  "collision_risk": [0.9, 0.1, 0.2, 0.8, 0.7, 0.3]})
    fams = {"a": "x", "b": "x", "c": "y", "d": "y", "e": "z", "f": "z"}
    # without y: positives a (0.9), e (0.7); negatives b (0.1), f (0.3): every pair ordered
    assert auroc_without(t, fams, {"y"})["m"] == 1.0
    # without x: positives c (0.2), e (0.7); negatives d (0.8), f (0.3): 1 of 4 pairs ordered
    assert auroc_without(t, fams, {"x"})["m"] == 0.25
    assert auroc_without(t, fams, {"x", "z"})["m"] == 0.0          # only c (0.2) against d (0.8)
    assert np.isnan(auroc_without(t, fams | {"f": "x"}, {"x", "y"})["m"])  # e alone: one class


def test_family_leaderboard_names_groups_by_the_rows_they_hold_and_leaves_out_hidden_cause_families():
    import pyarrow as pa

    from benchmark.by_family import family_leaderboard, hidden_cause_families

    assert hidden_cause_families() == ("agent_perturbation",)
    t = pa.table({"model": ["m"] * 6, "sample_id": list("abcdef"),
                  "family": ["logged", "logged", "agent_perturbation", "agent_perturbation", "braking", "braking"],
                  "true_collision": [True, False, True, False, True, False],
                  "collision_risk": [0.9, 0.1, 0.2, 0.8, 0.7, 0.3]})
    got = {r["group"]: r for r in family_leaderboard(t, events=("collision",))}
    assert list(got) == ["all", "all but agent_perturbation", "family=agent_perturbation", "family=braking",
                         "family=logged"]
    # all: positives 0.9, 0.2, 0.7 against negatives 0.1, 0.8, 0.3: 6 of 9 pairs ordered
    assert got["all"]["auroc"] == 6 / 9 and (got["all"]["plans"], got["all"]["events"]) == (6, 3)
    # without agent_perturbation: positives 0.9, 0.7 against 0.1, 0.3: every pair ordered
    assert got["all but agent_perturbation"]["auroc"] == 1.0 and got["all but agent_perturbation"]["plans"] == 4
    assert got["family=agent_perturbation"]["auroc"] == 0.0 and got["family=braking"]["auroc"] == 1.0
