"""The refinement study's speed-ranking statistics on hand-computed tables."""
import numpy as np
import pytest

from benchmark.refine_ranking import penalty_gaps, rank_agreement, state_auroc, within_state_auroc


def test_rank_agreement_is_one_for_identical_and_minus_one_for_reversed_rankings():
    true = np.array([[0.0, 1.0, 3.0, 2.0]])
    assert rank_agreement(true, true)["kendall_tau"] == 1.0
    assert rank_agreement(-true, true)["kendall_tau"] == -1.0
    r = rank_agreement(np.array([[0.0, 1.0, 2.0, 3.0]]), true)      # one swapped pair of six
    assert r["kendall_tau"] == (5 - 1) / 6 and r["regret_of_argmax"] == 1.0


def test_within_state_auroc_counts_only_states_with_both_outcomes():
    true = np.array([[0.0, -30.0, -30.0], [0.0, 0.0, 0.0], [-30.0, -30.0, -30.0], [0.0, 0.0, -30.0]])
    pred = np.array([[0.0, -5.0, -9.0], [0.0, -1.0, -2.0], [0.0, 0.0, 0.0], [-3.0, 0.0, -1.0]])
    out = within_state_auroc(pred, true)
    assert out["mixed_states"] == 2
    # state 0: failing speeds ranked above the safe one (1.0); state 3: fail (1) vs safe (3, 0): 1 of 2 pairs
    assert out["within_state_auroc"] == pytest.approx((1.0 + 0.5) / 2)


def test_penalty_gaps_on_a_hand_computed_table():
    true = np.array([[0.0, -30.0, -30.0], [0.0, 0.0, 0.0], [-30.0, -30.0, -30.0], [0.0, 0.0, -30.0]])
    pred = np.array([[0.0, -5.0, -9.0], [0.0, -1.0, -2.0], [0.0, 0.0, 0.0], [-3.0, 0.0, -1.0]])
    out = penalty_gaps(pred, true)
    # state 0: 0 - (-7) = 7; state 3: -1.5 - (-1) = -0.5; all-safe state 1: slowest 0 minus fastest -2
    assert out["mixed_state_gap"] == pytest.approx((7.0 - 0.5) / 2)
    assert out["safe_state_speed_slope"] == pytest.approx(2.0)


def test_state_auroc_ranks_states_by_their_mean_penalty_and_pools_pairs():
    true = np.array([[0.0, -30.0], [0.0, 0.0], [0.0, 0.0], [-30.0, -30.0]])
    pred = np.array([[-1.0, -1.0], [-2.0, -2.0], [0.0, 0.0], [-3.0, -1.0]])
    out = state_auroc(pred, true)
    # danger states 0 and 3 (mean penalty 1, 2) vs safe 1 and 2 (2, 0): 1 vs 2 lost, 1 vs 0 won,
    # 2 vs 2 tied, 2 vs 0 won
    assert out["state_auroc"] == pytest.approx(2.5 / 4)
    # 3 failing pairs (penalties 1, 3, 1) vs 5 safe (1, 2, 2, 0, 0): wins 2.5 + 5 + 2.5 of 15
    assert out["pooled_auroc"] == pytest.approx(10.0 / 15)
    assert np.isnan(state_auroc(pred[1:3], true[1:3])["state_auroc"])
