import numpy as np
import pytest

from benchmark.ceiling import (ceiling_auroc, configs_of, group_probability, input_groups, read_rows, relabel,
                               scene_index)
from synth.sources.procedural.scene import generate_scene


def _rows(plans, scenario="s", anchor=11):
    return {"scenario_id": [scenario] * len(plans), "anchor_frame": [anchor] * len(plans),
            **{f"plan_{c}": [np.asarray(p, float) + j for p in plans] for j, c in enumerate(("x", "y", "heading", "speed"))}}


def test_group_probability_pools_the_forks_of_rows_with_identical_inputs():
    labels = np.array([[1, 0, np.nan, 1], [1, 1, 0, np.nan]], float)   # [forks, rows]; NaN = discarded fork
    np.testing.assert_allclose(group_probability(labels, np.array([0, 0, 1, 2])), [0.75, 0.75, 0.0, 1.0])


def test_input_groups_join_only_rows_with_the_same_scenario_anchor_and_plan():
    rows = _rows([[0.0, 1.0], [0.0, 1.0], [0.0, 2.0]])
    assert input_groups(rows).tolist() == [0, 0, 1]
    rows["anchor_frame"][1] = 12
    assert input_groups(rows).tolist() == [0, 1, 2]


def test_ceiling_is_one_when_forks_agree_with_the_labels_and_chance_when_inputs_cannot_tell_rows_apart():
    truth = np.array([1, 0, 1, 0, 1, 0], bool)
    assert set(ceiling_auroc(np.tile(truth, (4, 1)).astype(float), np.arange(6), truth).values()) == {1.0}
    same_input = np.zeros(6, np.int64)   # one group: every row gets the same probability
    assert set(ceiling_auroc(np.tile(truth, (4, 1)).astype(float), same_input, truth).values()) == {0.5}


def test_scene_index_refuses_ids_of_other_sources():
    assert scene_index("procedural-0-000042", 0) == 42
    for bad in ("procedural-1-000042", "av2-abc", "procedural-0-000042~hist-cut_in-0"):
        try:
            scene_index(bad, 0)
        except ValueError as e:
            assert bad in str(e)
        else:
            raise AssertionError(bad)


def test_relabelling_the_unforked_scene_reproduces_every_stored_collision_label(synth_dataset):
    proc, synth = configs_of(synth_dataset)
    rows = read_rows(synth_dataset, "train")
    by_anchor: dict = {}
    for i, key in enumerate(zip(rows["scenario_id"], rows["anchor_frame"])):
        by_anchor.setdefault(key, []).append(i)
    perturbed = 0
    for (sid, anchor), idx in by_anchor.items():
        sub = {c: [v[i] for i in idx] for c, v in rows.items()}
        got = relabel(generate_scene(proc, scene_index(sid, proc.seed)), anchor, synth, sub)
        assert got.tolist() == sub["collision_at_fault"], sid
        perturbed += sum(len(p) > 0 for p in sub["perturbed_x"])
    assert perturbed > 0   # agent_perturbation rows were covered


@pytest.mark.parametrize("drivers", [False, True])
def test_a_fork_keeps_the_history_and_the_ego_and_redraws_other_vehicles_futures(drivers):
    from synth.sources.procedural import ProceduralConfig

    cfg, anchor, changed = ProceduralConfig(seed=5), 40, 0
    for i in range(8):
        a, b = generate_scene(cfg, i), generate_scene(cfg, i, fork=(anchor, 99), fork_drivers=drivers)
        ea, eb = a.ego_index, b.ego_index
        assert np.array_equal(a.x[ea], b.x[eb]) and np.array_equal(a.y[ea], b.y[eb])
        for s, t in ((a, b), (b, a)):   # every box seen up to the anchor exists, identically, in the other scene
            for j in np.flatnonzero(s.valid[:, : anchor + 1].any(axis=1)):
                v = s.valid[j, : anchor + 1]
                match = [k for k in range(t.num_agents) if np.array_equal(t.valid[k, : anchor + 1], v)
                         and np.array_equal(t.x[k, : anchor + 1][v], s.x[j, : anchor + 1][v])]
                assert match, (i, j)
        changed += a.num_agents != b.num_agents or not np.array_equal(np.nan_to_num(a.x), np.nan_to_num(b.x))
    assert changed >= 4
