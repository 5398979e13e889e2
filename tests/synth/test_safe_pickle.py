import collections
import pickle

import numpy as np
import pytest

from schemas import InputError
from synth.sources.safe_pickle import load_restricted
from tests.fixtures.builders import malicious_pickle, scenarionet_dict, write_pickle


def test_numpy_arrays_and_plain_containers_load(tmp_path):
    obj = {"a": np.arange(5.0), "b": [1, "x", {"c": np.eye(2, dtype=np.float32)}], "s": {1, 2}}
    back = load_restricted(write_pickle(tmp_path / "ok.pkl", obj))
    assert np.array_equal(back["a"], obj["a"]) and back["b"][2]["c"].dtype == np.float32


def test_pickle_naming_os_system_is_refused_and_never_runs(tmp_path):
    marker = tmp_path / "pwned"
    path = malicious_pickle(tmp_path / "evil.pkl", marker)
    with pytest.raises(InputError, match="forbidden") as err:
        load_restricted(path)
    assert str(path) in str(err.value) and ("os.system" in str(err.value) or "posix.system" in str(err.value))
    assert not marker.exists()
    # the same file really would run the command under plain pickle: the test can fail
    with open(path, "rb") as fh:
        pickle.load(fh)
    assert marker.exists()


def test_any_class_global_is_refused(tmp_path):
    import fractions

    path = write_pickle(tmp_path / "cls.pkl", {"x": fractions.Fraction(1, 3)})  # a class -> a global
    with pytest.raises(InputError, match="forbidden"):
        load_restricted(path)


def test_current_scenarionet_containers_load(tmp_path):
    """ScenarioNet v1.2 metadata holds defaultdict(int / float / list) and OrderedDict."""
    obj = {"metadata": {"counts": collections.defaultdict(int, {"VEHICLE": 3}), "w": collections.defaultdict(float),
                        "ids": collections.defaultdict(list, {"a": [1]}), "o": collections.OrderedDict(b=np.arange(3.0))}}
    back = load_restricted(write_pickle(tmp_path / "v12.pkl", obj))["metadata"]
    assert back["counts"]["VEHICLE"] == 3 and back["counts"]["missing"] == 0 and back["w"].default_factory is float
    assert back["ids"]["a"] == [1] and type(back["o"]["b"]) is np.ndarray and np.array_equal(back["o"]["b"], np.arange(3.0))


class _Call:
    """Pickles as a call of ``fn(*args)`` (what a hostile file can ask for)."""

    def __init__(self, fn, args, state=None):
        self.fn, self.args, self.state = fn, args, state

    def __reduce__(self):
        return (self.fn, self.args) if self.state is None else (self.fn, self.args, self.state)


def test_a_defaultdict_factory_cannot_be_called_by_the_pickle(tmp_path):
    path = write_pickle(tmp_path / "call.pkl", {"x": _Call(int, ("123",))})
    with pytest.raises(InputError, match="not callable") as err:
        load_restricted(path)
    assert str(path) in str(err.value)


def test_ndarray_cannot_be_called_directly_to_skip_the_budget(tmp_path):
    path = write_pickle(tmp_path / "nd.pkl", {"a": _Call(np.ndarray, ((2**26,), "O"))})
    with pytest.raises(InputError, match="not callable"):
        load_restricted(path)


def test_shape_of_infinite_size_is_one_line_bad_input(tmp_path):
    path = write_pickle(tmp_path / "inf.pkl", {"a": _Call(_RECONSTRUCT, (np.ndarray, (float("inf"),), b"b"))})
    with pytest.raises(InputError, match="bad shape"):
        load_restricted(path)


@pytest.mark.parametrize("dtype", [np.dtype([("a", "f8"), ("b", "i4")]), np.dtype("V8")], ids=["structured", "void"])
def test_structured_void_and_subarray_dtypes_are_refused(tmp_path, dtype):
    path = write_pickle(tmp_path / "dt.pkl", {"a": np.zeros(2, dtype=dtype)})
    with pytest.raises(InputError, match="refused pickle"):
        load_restricted(path)


def test_big_endian_unicode_and_bool_arrays_load_as_plain_pickle_loads_them(tmp_path):
    obj = {"be": np.arange(4, dtype=">i4"), "u": np.array(["ab", "c"]), "b": np.array([True, False])}
    path = write_pickle(tmp_path / "dt.pkl", obj)
    back, ref = load_restricted(path), pickle.loads(path.read_bytes())
    for k, v in obj.items():
        assert type(back[k]) is np.ndarray and back[k].dtype == ref[k].dtype and np.array_equal(back[k], v)


def test_shared_sub_trees_are_walked_once(tmp_path):
    """60 levels of a tuple holding the previous one twice: 2^60 paths, 60 distinct containers."""
    t = (np.zeros(1),)
    for _ in range(60):
        t = (t, t)
    back = load_restricted(write_pickle(tmp_path / "dag.pkl", {"t": t}))["t"]
    for _ in range(60):
        back = back[0]
    assert type(back[0]) is np.ndarray


def test_defaultdict_with_another_factory_is_refused(tmp_path):
    path = write_pickle(tmp_path / "dd.pkl", {"x": collections.defaultdict(dict)})
    with pytest.raises(InputError, match="forbidden"):
        load_restricted(path)


_RECONSTRUCT = np.ndarray.__reduce__(np.zeros(0))[0]


def test_object_dtype_array_is_refused(tmp_path):
    path = write_pickle(tmp_path / "obj.pkl", {"a": np.array([1, "x"], dtype=object)})
    with pytest.raises(InputError, match="object dtype") as err:
        load_restricted(path)
    assert str(path) in str(err.value) and "\n" not in str(err.value)


@pytest.mark.parametrize("state", [
    (1, (2**26,), np.dtype("O"), False, []),          # 2^26-entry object array from a tiny file
    (1, (2**28,), np.dtype("f8"), False, b""),        # 2 GiB of floats with no data behind them
], ids=["object", "float"])
def test_a_small_pickle_cannot_allocate_a_large_array(tmp_path, state):
    import tracemalloc

    path = write_pickle(tmp_path / "huge.pkl", {"a": _Call(_RECONSTRUCT, (np.ndarray, (0,), b"b"), state)})
    assert path.stat().st_size < 300
    tracemalloc.start()
    try:
        with pytest.raises(InputError, match="refused pickle"):
            load_restricted(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 16 * 2**20


def test_reconstruct_asking_for_a_huge_shape_is_refused(tmp_path):
    path = write_pickle(tmp_path / "shape.pkl", {"a": _Call(_RECONSTRUCT, (np.ndarray, (2**31,), b"b"))})
    with pytest.raises(InputError, match="out of proportion"):
        load_restricted(path)


def test_pickle_larger_than_the_cap_is_refused_before_reading(tmp_path):
    path = write_pickle(tmp_path / "big.pkl", {"a": np.zeros(1000)})
    with pytest.raises(InputError, match="exceeds") as err:
        load_restricted(path, max_bytes=1000)
    assert str(path) in str(err.value)


def test_truncated_pickle_gives_a_one_line_error(tmp_path):
    good = write_pickle(tmp_path / "full.pkl", scenarionet_dict())
    cut = tmp_path / "cut.pkl"
    cut.write_bytes(good.read_bytes()[:500])
    with pytest.raises(InputError, match="truncated") as err:
        load_restricted(cut)
    assert "\n" not in str(err.value) and str(cut) in str(err.value)
