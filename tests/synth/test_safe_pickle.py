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
    import collections

    path = write_pickle(tmp_path / "cls.pkl", {"x": collections.OrderedDict(a=1)})  # a class -> a global
    with pytest.raises(InputError, match="forbidden"):
        load_restricted(path)


def test_truncated_pickle_gives_a_one_line_error(tmp_path):
    good = write_pickle(tmp_path / "full.pkl", scenarionet_dict())
    cut = tmp_path / "cut.pkl"
    cut.write_bytes(good.read_bytes()[:500])
    with pytest.raises(InputError, match="truncated") as err:
        load_restricted(cut)
    assert "\n" not in str(err.value) and str(cut) in str(err.value)
