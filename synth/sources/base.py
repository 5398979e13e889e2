"""The narrow base every source adapter implements, and the registry that finds them.

An adapter turns one input item (a file or a directory) into canonical
:class:`schemas.Scenario` objects. ``discover`` lists the items under a path, each with
the adapter that reads it; it is what ``impartial inspect`` and the pipeline's
sharding use.
"""
from __future__ import annotations

import abc
import sqlite3
import struct
import zlib
from pathlib import Path
from typing import ClassVar, Iterator

import pyarrow as pa
import shapely.errors

from schemas import InputError, Scenario

#: what a reader raises on content it cannot parse (a field of the wrong type or kind, a truncated file, an index past the
#: end of a table): :meth:`Source.load` turns these into ``InputError`` naming the file. Anything else a reader
#: raises is a bug and travels as itself. Readers bound what they allocate before allocating, so a huge value in a
#: file is an ``InputError`` of its own and never a ``MemoryError``.
CONTENT_ERRORS = (ValueError, TypeError, AttributeError, IndexError, KeyError, OverflowError, EOFError, OSError, struct.error,
                  sqlite3.Error, zlib.error, pa.ArrowException, shapely.errors.ShapelyError)

_REGISTRY: dict[str, type["Source"]] = {}


class Source(abc.ABC):
    """Base class of source adapters.

    Subclasses set ``name`` and implement ``matches`` (is this path one item of my
    format?) and ``read`` (yield the scenarios of one item). ``read`` raises
    :class:`schemas.InputError` naming the file, field and reason on malformed input.
    """

    name: ClassVar[str]

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if getattr(cls, "name", None):
            if cls.name in _REGISTRY:
                raise ValueError(f"source adapter {cls.name!r} registered twice")
            _REGISTRY[cls.name] = cls

    @classmethod
    @abc.abstractmethod
    def matches(cls, path: Path) -> bool:
        """True when ``path`` is one readable item of this format."""

    @abc.abstractmethod
    def read(self, path: Path) -> Iterator[Scenario]:
        """Yield the canonical scenarios held in ``path``."""

    def load(self, path: str | Path) -> Iterator[Scenario]:
        """:meth:`read` with one error path: every failure caused by the content of ``path`` arrives as an
        ``InputError`` that names ``path`` (and the field, where the reader knows it). What every caller uses."""
        path = Path(path)
        try:
            yield from self.read(path)
        except InputError as err:
            raise err.with_path(str(path)) from None
        except CONTENT_ERRORS as err:
            reason = " ".join(f"{type(err).__name__}: {err}".split())
            raise InputError(f"unreadable {self.name} input ({reason})", path=str(path)) from err

    @classmethod
    def options(cls) -> list[str]:
        """The options this adapter takes (its constructor's parameters)."""
        import inspect

        return [p for p in inspect.signature(cls.__init__).parameters if p != "self"]

    @classmethod
    def from_options(cls, strict: bool = True, **options) -> "Source":
        """An adapter built from ``options`` (None values mean "not given" and are left out).

        ``strict``: an option that is not one of the constructor's parameters raises ``InputError``
        naming the source, the option and what it accepts; otherwise (a folder of several formats,
        whose options were checked together by :func:`check_options`) it is left to the others.
        """
        accepted = cls.options()
        given = {k: v for k, v in options.items() if v is not None}
        unknown = sorted(set(given) - set(accepted))
        if unknown and not strict:
            given = {k: v for k, v in given.items() if k in accepted}
        elif unknown:
            raise InputError(f"source {cls.name!r} takes no option {', '.join(map(repr, unknown))} "
                             f"(it accepts: {', '.join(accepted) or 'no options'})", field=unknown[0])
        return cls(**given)


def registry() -> dict[str, type[Source]]:
    """Adapters by name (importing ``synth.sources`` registers the built-in ones)."""
    return dict(_REGISTRY)


def _walk(root: Path) -> list[Path]:
    """Every path under the folder ``root``, sorted, symlinked folders followed. Each real file or folder (device
    and inode) is listed once, under the first path the walk meets it by, so a link back up the tree ends the
    descent instead of looping and a second link to the same data does not list it twice."""
    def key(p: Path):
        st = p.stat()
        return st.st_dev, st.st_ino

    seen, out, stack = {key(root)}, [], [root]
    while stack:
        folder = stack.pop()
        try:
            entries = sorted(folder.iterdir())
        except OSError:          # unreadable: nothing to find there
            continue
        for p in entries:
            try:
                k = key(p)
            except OSError:      # a dangling link
                continue
            if k in seen:
                continue
            seen.add(k)
            out.append(p)
            if p.is_dir():
                stack.append(p)
    return sorted(out)


def discover(path: str | Path) -> list[tuple[type[Source], Path]]:
    """Every readable item under ``path`` with its adapter, sorted by path.

    A file or an item directory yields itself; any other directory is searched
    recursively. Raises ``InputError`` when nothing readable is found.
    """
    path = Path(path)
    if not path.exists():
        raise InputError("no such file or directory", path=str(path))
    adapters = [a for a in _REGISTRY.values() if a.name != "procedural"]

    def match(p: Path):
        return next((a for a in adapters if a.matches(p)), None)

    found = []
    if match(path):
        found.append((match(path), path))
    elif path.is_dir():
        for p in _walk(path):
            a = match(p)
            if a and not any(p.is_relative_to(q) for _, q in found if q.is_dir()):
                found.append((a, p))
    if not found:
        raise InputError(
            "no supported input found (ScenarioNet .pkl, nuPlan .db, Argoverse 2 scenario folder, Argoverse 2 sensor "
            "log folder with annotations.feather and city_SE3_egovehicle.feather, CommonRoad .xml)",
            path=str(path),
        )
    return found


def check_options(options: dict, adapters) -> None:
    """Raise ``InputError`` for a given option (not None) that none of ``adapters`` takes."""
    adapters = sorted(set(adapters), key=lambda a: a.name)
    for key in sorted(k for k, v in options.items() if v is not None):
        if not any(key in a.options() for a in adapters):
            takes = "; ".join(f"{a.name}: {', '.join(a.options()) or 'none'}" for a in adapters)
            raise InputError(f"no input here takes the option {key!r} (options by source: {takes})", field=key)


def read_any(path: str | Path, **options) -> Iterator[Scenario]:
    """Yield every scenario under ``path``. Each option must be taken by the adapter of at least one
    item (:func:`check_options`); each adapter gets the options it takes."""
    found = discover(path)
    check_options(options, [a for a, _ in found])
    for adapter, item in found:
        yield from adapter.from_options(strict=False, **options).load(item)
