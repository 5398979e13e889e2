"""Device choice and batch prefetching (:mod:`critic.device`); the GPU paths run only where torch sees one."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from critic.device import autocast, prefetch, resolve_device, to_device
from schemas import InputError


def test_auto_picks_the_cpu_without_a_gpu_and_cuda_without_one_is_a_clear_error():
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device("auto") == torch.device("cuda" if torch.cuda.is_available() else "cpu")
    with pytest.raises(InputError, match="not a device"):
        resolve_device("tpu")
    if not torch.cuda.is_available():
        with pytest.raises(InputError, match="no CUDA GPU"):
            resolve_device("cuda")


def test_prefetch_keeps_the_order_and_raises_the_builders_error_in_the_consumer():
    assert list(prefetch(range(20), lambda i: i * i)) == [i * i for i in range(20)]

    def build(i):
        if i == 3:
            raise ValueError("bad batch 3")
        return i

    got = []
    with pytest.raises(ValueError, match="bad batch 3"):
        for x in prefetch(range(10), build):
            got.append(x)
    assert got == [0, 1, 2]
    gen = prefetch(range(1000), lambda i: i)      # a consumer that stops early leaves no thread behind
    assert next(gen) == 0
    gen.close()


def test_on_the_cpu_copies_are_plain_and_autocast_is_off():
    a = np.arange(6, dtype=np.float64).reshape(2, 3)
    t = to_device(a, torch.float32, torch.device("cpu"))
    assert t.dtype == torch.float32 and t.device.type == "cpu" and torch.equal(t, torch.arange(6.0).view(2, 3))
    with autocast(torch.device("cpu")):
        assert (torch.ones(2, 2) @ torch.ones(2, 2)).dtype == torch.float32


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA GPU visible to torch on this machine")
def test_on_a_gpu_batches_arrive_on_it_and_the_forward_runs_in_bf16():
    dev = resolve_device("cuda")
    t = to_device(np.ones((4, 4), np.float32), torch.float32, dev)
    assert t.device.type == "cuda"
    with autocast(dev):
        assert (t @ t).dtype == torch.bfloat16


def test_the_feature_cache_is_read_memory_mapped_and_equals_the_arrays_built(synth_dataset):
    """``load_split`` reads its cache memory-mapped (training memory does not grow with the dataset) and the
    mapped arrays are the ones ``build_split`` computes."""
    from critic.data import ARRAYS, build_split, load_split
    from pipelines.presets import preset
    from schemas.dataset import Dataset

    import shutil
    from critic.data import _cache_dir

    fc = preset("debug").train.for_horizon(Dataset(synth_dataset).horizon_steps).features
    cache = _cache_dir(Dataset(synth_dataset), "val", fc)
    shutil.rmtree(cache, ignore_errors=True)     # built here: through the memory-mapped scratch files
    got = load_split(synth_dataset, "val", fc, log=lambda *a: None)
    ref = build_split(Dataset(synth_dataset), "val", fc, log=lambda *a: None)   # in memory: the reference
    assert isinstance(got.plan, np.memmap) and isinstance(got.drivable, np.memmap)
    assert not list(cache.glob(".building-*")), "the scratch folder is removed once the cache is complete"
    for k in ARRAYS:
        np.testing.assert_array_equal(np.asarray(getattr(got, k)), getattr(ref, k), err_msg=k)
    assert got.sample_id == ref.sample_id


def test_plan_columns_convert_straight_from_arrow_and_a_wrong_length_names_the_column():
    import pyarrow as pa
    from critic.data import _state_matrix

    class _DS:
        path = "data/x"
    col = pa.chunked_array([pa.array([[0.0, 1.0, 2.0], [3.0, 4.0, 5.0]]), pa.array([[6.0, 7.0, 8.0]])])
    got = _state_matrix(col, 3, _DS, "plan_x")
    assert got.dtype == np.float64 and np.array_equal(got, np.array(col.to_pylist()))
    with pytest.raises(InputError, match="plan_y.*plans have 2 states, the critic expects 3"):
        _state_matrix(pa.chunked_array([pa.array([[0.0, 1.0, 2.0], [1.0, 2.0]])]), 3, _DS, "plan_y")
