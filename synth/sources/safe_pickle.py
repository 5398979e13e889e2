"""A restricted unpickler that rebuilds numpy arrays and plain containers only.

ScenarioNet pickles hold dicts, lists, numbers, strings and numpy arrays; the files its
current converter writes (format ``v1.2``) also hold ``collections.defaultdict`` (with an
``int`` / ``float`` / ``list`` factory) and ``collections.OrderedDict`` in their metadata.
Those are admitted and nothing else: every other global (``os.system``, ``builtins.eval``,
any class) is refused before it is resolved, so nothing in the file can run code. The
factories are admitted as inert tokens that only the ``defaultdict`` constructor accepts:
the pickle itself can never call ``int``, ``float`` or ``list``.

``numpy.ndarray`` and ``numpy.dtype`` are handed to the pickle as tokens as well: an array can
only be built through ``_reconstruct`` plus its state, and a dtype only from a plain type code
(bool, integer, float, complex, bytes, unicode, datetime; no object, void, structured or
sub-array dtypes) whose state may set nothing but the byte order.

Allocation is bounded by the file: the file may be at most :data:`MAX_FILE_BYTES`; arrays
of object dtype are refused; and every array's size is checked *before* numpy allocates it
(in ``_reconstruct`` and in ``__setstate__``): its bytes must equal the raw data the file
carries, and all arrays together may hold at most twice the file's size plus
:data:`SLACK_BYTES` (arrays sharing one memoised buffer still count once each), so a
100-byte pickle cannot ask for gigabytes. Walking the loaded containers visits each one once
(a pickle of shared sub-trees cannot make it exponential).
"""
from __future__ import annotations

import collections
import io
import math
import pickle
import warnings
from pathlib import Path

import numpy as np

from schemas import InputError

#: largest pickle read (bytes); ScenarioNet scenarios are a few MB
MAX_FILE_BYTES = 256 * 2**20
#: array bytes admitted beyond twice the file size (small headers, empty arrays)
SLACK_BYTES = 2**20
#: deepest container nesting converted after loading
MAX_DEPTH = 64

_NUMPY_MODULES = ("numpy", "numpy.core", "numpy._core", "numpy.core.multiarray", "numpy._core.multiarray")
#: builtin factories a defaultdict may name (tokens, not callables, until defaultdict receives them)
_FACTORIES = {"int": int, "float": float, "list": list}


class _Factory:
    """Inert stand-in for an admitted defaultdict factory (not callable by the pickle)."""

    def __init__(self, name: str):
        self.name = name


#: dtype kinds a pickle may name: bool, signed / unsigned integer, float, complex, bytes, unicode, datetime
_KINDS = set("biufcSUMm")


class _ArrayToken:
    """Stand-in for ``numpy.ndarray``: only ``_reconstruct`` accepts it; the pickle cannot call it."""


_ARRAY = _ArrayToken()


class _DtypeToken:
    """A dtype the pickle named, with a state that may only set its byte order (``BUILD``)."""

    def __init__(self, dtype: np.dtype):
        self.dtype = dtype

    def __setstate__(self, state):
        if not (isinstance(state, tuple) and len(state) == 8 and state[2:5] == (None, None, None)):
            raise pickle.UnpicklingError("dtype state with fields or a sub-array is refused")
        order, elsize = state[1], state[5]
        if order not in ("<", ">", "|", "="):
            raise pickle.UnpicklingError(f"dtype byte order {order!r}")
        if elsize not in (-1, self.dtype.itemsize):
            raise pickle.UnpicklingError(f"dtype item size {elsize!r} differs from {self.dtype.itemsize}")
        if order in ("<", ">"):
            self.dtype = self.dtype.newbyteorder(order)


class _Budget:
    """Bytes that arrays of one file may still allocate."""

    def __init__(self, file_bytes: int):
        self.left = 2 * file_bytes + SLACK_BYTES

    def take(self, shape, dtype: np.dtype, what: str) -> None:
        if dtype.hasobject:
            raise pickle.UnpicklingError(f"{what}: object-dtype arrays are refused")
        try:
            dims = [int(d) for d in shape]
        except (TypeError, ValueError, OverflowError):
            raise pickle.UnpicklingError(f"{what}: bad shape {shape!r}") from None
        if any(d < 0 for d in dims):
            raise pickle.UnpicklingError(f"{what}: negative dimension in {tuple(dims)}")
        n = math.prod(dims) * max(dtype.itemsize, 1)
        if n > self.left:
            raise pickle.UnpicklingError(f"{what}: an array of shape {tuple(dims)} ({n} bytes) is out of "
                                         f"proportion to the file (at most {self.left} more bytes admitted)")
        self.left -= n


def _checked_array_type(budget: _Budget) -> type:
    class _CheckedArray(np.ndarray):
        """ndarray whose unpickled state is checked before numpy allocates it."""

        def __setstate__(self, state):
            if not isinstance(state, tuple) or len(state) not in (4, 5):
                raise pickle.UnpicklingError("array state is not a numpy array state")
            shape, dtype, raw = state[-4], state[-3], state[-1]
            if not isinstance(dtype, _DtypeToken):
                raise pickle.UnpicklingError("array state names no dtype")
            dtype = dtype.dtype
            state = (*state[:-3], dtype, *state[-2:])
            budget.take(shape, dtype, "array")
            if not isinstance(raw, (bytes, bytearray)):
                raise pickle.UnpicklingError(f"array data of type {type(raw).__name__} (expected bytes)")
            want = math.prod(int(d) for d in shape) * dtype.itemsize
            if len(raw) != want:
                raise pickle.UnpicklingError(f"array data holds {len(raw)} bytes, its shape needs {want}")
            super().__setstate__(state)

    return _CheckedArray


class RestrictedUnpickler(pickle.Unpickler):
    """Admit numpy array reconstruction and the harmless containers above; refuse everything else.

    ``file_bytes`` (the size of the pickle) sets the allocation budget of its arrays.
    """

    def __init__(self, file, file_bytes: int):
        super().__init__(file)
        self._budget = _Budget(file_bytes)
        self._array_type = _checked_array_type(self._budget)

    def find_class(self, module: str, name: str):
        if module in _NUMPY_MODULES and name == "_reconstruct":
            return self._reconstruct
        if module in _NUMPY_MODULES and name == "ndarray":
            return _ARRAY
        if module in _NUMPY_MODULES and name == "dtype":
            return _dtype
        if module == "collections" and name == "OrderedDict":
            return collections.OrderedDict
        if module == "collections" and name == "defaultdict":
            return _defaultdict
        if module == "builtins" and name in _FACTORIES:
            return _Factory(name)
        raise pickle.UnpicklingError(f"global '{module}.{name}' is forbidden (only numpy arrays, "
                                     "defaultdict and OrderedDict are admitted)")

    def _reconstruct(self, subtype, shape, dtype_code):
        if subtype is not _ARRAY:
            raise pickle.UnpicklingError("array reconstruction of a type other than numpy.ndarray")
        if isinstance(dtype_code, bytes):
            dtype_code = dtype_code.decode("ascii", "replace")
        dtype = _plain_dtype(dtype_code)
        shape = shape if isinstance(shape, tuple) else (shape,)
        self._budget.take(shape, dtype, "array")
        return np.ndarray.__new__(self._array_type, shape, dtype)


def _plain_dtype(code) -> np.dtype:
    """A fresh dtype for a plain type code (``"f8"``, ``"<U3"``, ...), refusing every other kind."""
    if not isinstance(code, str) or len(code) > 16:
        raise pickle.UnpicklingError(f"dtype {code!r} is not a plain type code")
    try:
        dt = np.dtype(code)
    except (TypeError, ValueError) as err:
        raise pickle.UnpicklingError(f"bad dtype {code!r}: {err}") from None
    if dt.hasobject:
        raise pickle.UnpicklingError("object dtype is refused")
    if dt.kind not in _KINDS or dt.fields is not None or dt.subdtype is not None:
        raise pickle.UnpicklingError(f"dtype {dt} is refused (plain numeric, bytes and unicode only)")
    return dt


def _dtype(code, align=False, copy=True):
    """``numpy.dtype(code, align, copy)`` as a token (see :class:`_DtypeToken`)."""
    if align not in (False, True, 0, 1) or copy not in (False, True, 0, 1):
        raise pickle.UnpicklingError("bad dtype arguments")
    return _DtypeToken(_plain_dtype(code))


def _defaultdict(factory=None, *rest):
    """``collections.defaultdict`` with an admitted builtin factory (or none)."""
    if rest or not (factory is None or isinstance(factory, _Factory)):
        raise pickle.UnpicklingError("defaultdict with a factory other than int, float or list")
    return collections.defaultdict(None if factory is None else _FACTORIES[factory.name])


_TOKENS = (_Factory, _ArrayToken)


def _plain(obj, depth: int = 0, seen: dict | None = None):
    """``obj`` with every checked array turned back into a plain ``numpy.ndarray`` view and every dtype
    token into its dtype; each container is visited once (``seen``: id -> converted object)."""
    seen = {} if seen is None else seen
    if id(obj) in seen:
        return seen[id(obj)]
    if depth > MAX_DEPTH:
        raise pickle.UnpicklingError(f"containers nested deeper than {MAX_DEPTH}")
    if isinstance(obj, np.ndarray):
        return obj.view(np.ndarray) if type(obj) is not np.ndarray else obj
    if isinstance(obj, _DtypeToken):
        return obj.dtype
    if isinstance(obj, _TOKENS):
        raise pickle.UnpicklingError("a numpy or builtin global used outside an array or a defaultdict")
    if isinstance(obj, dict):
        seen[id(obj)] = obj
        for k, v in obj.items():
            if isinstance(k, (*_TOKENS, _DtypeToken)):
                raise pickle.UnpicklingError("a global used as a dict key")
            obj[k] = _plain(v, depth + 1, seen)
    elif isinstance(obj, list):
        seen[id(obj)] = obj
        obj[:] = [_plain(v, depth + 1, seen) for v in obj]
    elif isinstance(obj, (set, frozenset)):
        if any(isinstance(v, (*_TOKENS, _DtypeToken)) for v in obj):
            raise pickle.UnpicklingError("a global inside a set")
    elif isinstance(obj, tuple):
        seen[id(obj)] = out = tuple(_plain(v, depth + 1, seen) for v in obj)
        return out
    return obj


def load_restricted(path, max_bytes: int = MAX_FILE_BYTES) -> object:
    """Load a pickle file through :class:`RestrictedUnpickler`.

    Raises ``InputError`` naming the file for an oversized, truncated or forbidden content.
    """
    try:
        size = Path(path).stat().st_size
        if size > max_bytes:
            raise InputError(f"pickle of {size} bytes exceeds the {max_bytes}-byte limit", path=str(path))
        with open(path, "rb") as fh:
            data = fh.read(size + 1)          # read(n) reserves n bytes: never more than the file holds
        if len(data) > max_bytes:
            raise InputError(f"pickle grew past the {max_bytes}-byte limit while read", path=str(path))
    except OSError as err:
        raise InputError(f"cannot read: {err.strerror}", path=str(path)) from None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            return _plain(RestrictedUnpickler(io.BytesIO(data), len(data)).load())
    except pickle.UnpicklingError as err:
        raise InputError(f"refused pickle: {err}", path=str(path)) from None
    except RecursionError:
        raise InputError("refused pickle: containers nested too deeply", path=str(path)) from None
    except (EOFError, ValueError, TypeError, IndexError, KeyError, AttributeError, MemoryError, OverflowError) as err:
        raise InputError(f"corrupt or truncated pickle ({type(err).__name__}: {err})", path=str(path)) from None
