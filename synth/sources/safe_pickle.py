"""A restricted unpickler that rebuilds numpy arrays and plain containers only.

ScenarioNet pickles hold dicts, lists, numbers, strings and numpy arrays. Every other
global (``os.system``, ``builtins.eval``, any class) is refused before it is
resolved, so nothing in the file can run code.
"""
from __future__ import annotations

import io
import pickle
import warnings

import numpy as np

from schemas import InputError

_ALLOWED = {
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("numpy._core", "ndarray"),
    ("numpy._core", "dtype"),
    ("numpy.core", "ndarray"),
    ("numpy.core", "dtype"),
}


def _resolve(module: str, name: str):
    if name == "_reconstruct":
        return np.ndarray.__reduce__(np.zeros(0))[0]  # numpy's own _reconstruct, wherever it lives
    return getattr(np, name)


class RestrictedUnpickler(pickle.Unpickler):
    """Admit only numpy array reconstruction globals; refuse everything else."""

    def find_class(self, module: str, name: str):
        if (module, name) in _ALLOWED:
            return _resolve(module, name)
        raise pickle.UnpicklingError(f"global '{module}.{name}' is forbidden (only numpy arrays are admitted)")


def load_restricted(path) -> object:
    """Load a pickle file through :class:`RestrictedUnpickler`.

    Raises ``InputError`` naming the file for truncated or forbidden content.
    """
    try:
        data = open(path, "rb").read()
    except OSError as err:
        raise InputError(f"cannot read: {err.strerror}", path=str(path)) from None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            return RestrictedUnpickler(io.BytesIO(data)).load()
    except pickle.UnpicklingError as err:
        raise InputError(f"refused pickle: {err}", path=str(path)) from None
    except (EOFError, ValueError, TypeError, IndexError, KeyError, AttributeError, MemoryError) as err:
        raise InputError(f"corrupt or truncated pickle ({type(err).__name__}: {err})", path=str(path)) from None
