"""One scene type: :class:`critic.scene.SceneBatch` (numpy or torch) and the typed training batch."""
import numpy as np
import pytest
import torch

from critic.columns import MapCol
from critic.scene import SceneBatch


def _scene(B=2, A=3, H=4, M=5, L=6, drivable=True) -> SceneBatch:
    g = np.random.default_rng(0)
    return SceneBatch(g.normal(size=(B, A, H, 13)).astype(np.float32), g.random((B, A, H)) > 0.3,
                      g.normal(size=(B, M, L, MapCol.COUNT)).astype(np.float32), g.random((B, M, L)) > 0.3,
                      g.random((B, 7, 8)) > 0.5 if drivable else None)


def test_scene_batch_refuses_mismatched_shapes():
    s = _scene()
    with pytest.raises(ValueError, match="agents_mask"):
        SceneBatch(s.agents, s.agents_mask[:, :, :-1], s.map, s.map_mask)
    with pytest.raises(ValueError, match="SceneBatch.map:"):
        SceneBatch(s.agents, s.agents_mask, s.map[:1], s.map_mask[:1])       # 1 scene of map, 2 of agents
    with pytest.raises(ValueError, match="agents.*13 feature columns"):
        SceneBatch(s.agents[..., :12], s.agents_mask, s.map, s.map_mask)
    with pytest.raises(ValueError, match="map_mask"):
        SceneBatch(s.agents, s.agents_mask, s.map, s.map_mask.astype(np.float32))   # a mask must be bool
    with pytest.raises(ValueError, match="drivable"):
        SceneBatch(s.agents, s.agents_mask, s.map, s.map_mask, s.drivable[:1])
    with pytest.raises(ValueError, match="mix numpy arrays and torch tensors"):
        SceneBatch(torch.as_tensor(s.agents), s.agents_mask, s.map, s.map_mask)
    with pytest.raises(ValueError, match="agents: expected 4 dimensions"):
        SceneBatch(s.agents[0], s.agents_mask[0], s.map, s.map_mask)


def test_scene_batch_converts_between_numpy_and_torch_and_indexes_along_scenes():
    s = _scene(B=3)
    t = s.to_torch()
    assert t.is_torch and not s.is_torch and len(t) == 3
    assert (t.agents.dtype, t.agents_mask.dtype, t.map.dtype, t.map_mask.dtype, t.drivable.dtype) == \
        (torch.float32, torch.bool, torch.float32, torch.bool, torch.bool)
    assert t.to_torch().agents is t.agents                          # already the model's tensors: no copy
    back = t.numpy()
    assert all(np.array_equal(getattr(back, k), getattr(s, k)) for k in ("agents", "agents_mask", "map", "drivable"))
    parts = SceneBatch.concat([s.take([2]), s.take(slice(0, 2))])
    assert np.array_equal(parts.agents, s.agents[[2, 0, 1]]) and np.array_equal(parts.drivable, s.drivable[[2, 0, 1]])
    assert SceneBatch.concat([t.take([1]), t.take([0])]).map.equal(t.map[[1, 0]])
    with pytest.raises(ValueError, match="drivable"):
        SceneBatch.concat([s, _scene(B=3, drivable=False)])
    import critic
    import critic.api
    assert critic.SceneBatch is critic.api.SceneBatch is SceneBatch


def test_make_batch_is_a_typed_scene_plans_targets_batch_of_the_split_arrays_scenes(synth_dataset):
    from critic.batching import TrainBatch, make_batch
    from critic.data import load_split
    from pipelines.presets import preset

    fc = preset("debug").train.features
    arr = load_split(synth_dataset, "train", fc, log=lambda *a: None)
    idx = np.stack([np.flatnonzero(arr.row_scene == s)[:3] for s in range(2)])
    b = make_batch(arr, idx, fc.occ_size)
    assert isinstance(b, TrainBatch) and b.plans.shape == (2, 3, fc.plan_steps, 5) and b.row_ids.dtype == torch.long
    ref = arr.scenes(arr.row_scene[idx[:, 0]])
    assert not ref.is_torch and ref.drivable.dtype == bool
    assert all(torch.equal(getattr(b.scene, k), torch.as_tensor(getattr(ref, k)))
               for k in ("agents", "agents_mask", "map", "map_mask", "drivable"))
    assert b.targets.occ.shape[:2] == b.targets.coll_t.shape == (2, 3)
    with pytest.raises(ValueError, match="targets.coll_t"):
        TrainBatch(b.scene, b.plans, type(b.targets)(**{**vars(b.targets), "coll_t": b.targets.coll_t[:, :2]}),
                   b.row_ids)


def test_scene_batch_numpy_and_torch_give_the_same_scores(synth_dataset, debug_critic):
    from critic import ImpartialCritic
    from critic.data import load_split

    critic = ImpartialCritic.load(debug_critic[0])
    fc = critic.cfg.features
    arr = load_split(synth_dataset, "val", fc, log=lambda *a: None)
    rows = np.stack([np.flatnonzero(arr.row_scene == s)[:2] for s in range(2)])
    scenes, plans = arr.scenes(np.arange(2)), arr.plan[rows]
    from_numpy = critic.score(scenes, plans)
    from_torch = critic.score(scenes.to_torch(), torch.as_tensor(plans))
    assert from_numpy.keys() == from_torch.keys()
    assert all(torch.equal(from_numpy[k], from_torch[k]) for k in from_numpy)
