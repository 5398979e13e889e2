"""The built-in procedural source: seeded roads, junctions and traffic (no downloads)."""
from __future__ import annotations

from pathlib import Path
from typing import Iterator

from schemas import Scenario

from ..base import Source
from .config import ProceduralConfig
from .scene import generate_scene


class ProceduralSource(Source):
    """Generates ``count`` scenarios from ``config`` (``read`` ignores its path)."""

    name = "procedural"

    def __init__(self, config: ProceduralConfig | None = None, count: int = 10, start: int = 0):
        self.config = config or ProceduralConfig()
        self.count, self.start = int(count), int(start)

    @classmethod
    def matches(cls, path: Path) -> bool:
        return str(path) == "procedural"

    def read(self, path: Path | None = None) -> Iterator[Scenario]:
        for i in range(self.start, self.start + self.count):
            yield self.scenario(i)

    def scenario(self, index: int) -> Scenario:
        """Scenario number ``index`` (deterministic for a given config)."""
        return generate_scene(self.config, index)


__all__ = ["ProceduralConfig", "ProceduralSource"]
