"""``impartial refine`` end to end on the debug presets, and the ranking statistics."""
import json

import numpy as np
import pytest

from critic.rl.refine import rank_agreement
from pipelines.cli import main


def test_rank_agreement_is_one_for_identical_and_minus_one_for_reversed_rankings():
    true = np.array([[0.0, 1.0, 3.0, 2.0]])
    assert rank_agreement(true, true)["kendall_tau"] == 1.0
    assert rank_agreement(-true, true)["kendall_tau"] == -1.0
    r = rank_agreement(np.array([[0.0, 1.0, 2.0, 3.0]]), true)      # one swapped pair of six
    assert r["kendall_tau"] == (5 - 1) / 6 and r["regret_of_argmax"] == 1.0


def test_within_state_auroc_counts_only_states_with_both_outcomes():
    from critic.rl.refine import within_state_auroc
    true = np.array([[0.0, -30.0, -30.0], [0.0, 0.0, 0.0], [-30.0, -30.0, -30.0], [0.0, 0.0, -30.0]])
    pred = np.array([[0.0, -5.0, -9.0], [0.0, -1.0, -2.0], [0.0, 0.0, 0.0], [-3.0, 0.0, -1.0]])
    out = within_state_auroc(pred, true)
    assert out["mixed_states"] == 2
    # state 0: failing speeds ranked above the safe one (1.0); state 3: fail (1) vs safe (3, 0): 1 of 2 pairs
    assert out["within_state_auroc"] == pytest.approx((1.0 + 0.5) / 2)


def test_penalty_gaps_on_a_hand_computed_table():
    from critic.rl.refine import penalty_gaps
    true = np.array([[0.0, -30.0, -30.0], [0.0, 0.0, 0.0], [-30.0, -30.0, -30.0], [0.0, 0.0, -30.0]])
    pred = np.array([[0.0, -5.0, -9.0], [0.0, -1.0, -2.0], [0.0, 0.0, 0.0], [-3.0, 0.0, -1.0]])
    out = penalty_gaps(pred, true)
    # state 0: 0 - (-7) = 7; state 3: -1.5 - (-1) = -0.5; all-safe state 1: slowest 0 minus fastest -2
    assert out["mixed_state_gap"] == pytest.approx((7.0 - 0.5) / 2)
    assert out["safe_state_speed_slope"] == pytest.approx(2.0)


def test_refine_cli_writes_the_closed_loop_table_plot_and_policies(synth_dataset, debug_critic, tmp_path):
    out = tmp_path / "refine"
    code = main(["refine", "--data", str(synth_dataset), "--critic", f"impartial={debug_critic[0]}", "--out", str(out),
                 "--preset", "debug", "--quiet"])
    assert code == 0
    res = json.loads((out / "refine.json").read_text())
    table = res["table"]["all"]
    assert set(table) == {"unrefined (IL)", "GRPO + simulator", "GRPO + impartial"}
    for row in table.values():
        assert row["episodes"] == res["test_episodes"] > 0 and row["violations_sd_seeds"] >= 0.0
        assert 0.0 <= row["PDMS"] <= 1.0 and row["progress_m"] > 0.0
    assert table["GRPO + impartial"]["seeds"] == 2 and table["unrefined (IL)"]["seeds"] == 1
    assert -1.0 <= res["ranking"]["impartial"]["kendall_tau"] <= 1.0
    md = (out / "closed_loop.md").read_text()
    assert "GRPO + impartial" in md and "PDMS" in md
    assert (out / "closed_loop.png").read_bytes()[:4] == b"\x89PNG"
    assert (out / "policy-unrefined.safetensors").exists() and (out / "policy-simulator.safetensors").exists()
    assert (out / "policy-impartial-seed1.safetensors").exists()
    assert len((out / "closed_loop.csv").read_text().splitlines()) >= 4


def test_refine_rejects_a_missing_critic_with_a_clear_error(synth_dataset, tmp_path, capsys):
    code = main(["refine", "--data", str(synth_dataset), "--out", str(tmp_path / "r"), "--preset", "debug"])
    assert code == 2 and "critic" in capsys.readouterr().err


def test_state_auroc_ranks_states_by_their_mean_penalty_and_pools_pairs():
    from critic.rl.refine import state_auroc
    true = np.array([[0.0, -30.0], [0.0, 0.0], [0.0, 0.0], [-30.0, -30.0]])
    pred = np.array([[-1.0, -1.0], [-2.0, -2.0], [0.0, 0.0], [-3.0, -1.0]])
    out = state_auroc(pred, true)
    # danger states 0 and 3 (mean penalty 1, 2) vs safe 1 and 2 (2, 0): 1 vs 2 lost, 1 vs 0 won,
    # 2 vs 2 tied, 2 vs 0 won
    assert out["state_auroc"] == pytest.approx(2.5 / 4)
    # 3 failing pairs (penalties 1, 3, 1) vs 5 safe (1, 2, 2, 0, 0): wins 2.5 + 5 + 2.5 of 15
    assert out["pooled_auroc"] == pytest.approx(10.0 / 15)
    assert np.isnan(state_auroc(pred[1:3], true[1:3])["state_auroc"])
