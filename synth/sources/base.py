"""The narrow base every source adapter implements, and the registry that finds them.

An adapter turns one input item (a file or a directory) into canonical
:class:`schemas.Scenario` objects. ``discover`` lists the items under a path, each with
the adapter that reads it; it is what ``impartial inspect`` and the pipeline's
sharding use.
"""
from __future__ import annotations

import abc
from pathlib import Path
from typing import ClassVar, Iterator

from schemas import InputError, Scenario

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

    @classmethod
    def from_options(cls, **options) -> "Source":
        """An adapter built from ``options`` (None values mean "not given" and are left out).

        Raises ``InputError`` naming the source, the option and what the constructor accepts when
        an option is not one of the constructor's parameters.
        """
        import inspect

        accepted = [p for p in inspect.signature(cls.__init__).parameters if p != "self"]
        given = {k: v for k, v in options.items() if v is not None}
        unknown = sorted(set(given) - set(accepted))
        if unknown:
            raise InputError(f"source {cls.name!r} takes no option {', '.join(map(repr, unknown))} "
                             f"(it accepts: {', '.join(accepted) or 'no options'})", field=unknown[0])
        return cls(**given)


def registry() -> dict[str, type[Source]]:
    """Adapters by name (importing ``synth.sources`` registers the built-in ones)."""
    return dict(_REGISTRY)


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
        for p in sorted(path.rglob("*")):
            a = match(p)
            if a and not any(p.is_relative_to(q) for _, q in found if q.is_dir()):
                found.append((a, p))
    if not found:
        raise InputError(
            "no supported input found (ScenarioNet .pkl, nuPlan .db, Argoverse 2 scenario folder, CommonRoad .xml)",
            path=str(path),
        )
    return found


def read_any(path: str | Path, **options) -> Iterator[Scenario]:
    """Yield every scenario under ``path``; ``options`` go to adapters that accept them."""
    for adapter, item in discover(path):
        yield from adapter.from_options(**options).read(item)
