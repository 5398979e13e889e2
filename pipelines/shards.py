"""Shards: the unit of parallel work, of writing and of resumption."""
from __future__ import annotations

import dataclasses
from pathlib import Path

from synth.sources import discover

from .config import PipelineConfig


@dataclasses.dataclass(frozen=True)
class ShardSpec:
    """One shard: ``procedural`` index range ``[start, stop)`` or a tuple of input items."""

    index: int
    kind: str
    start: int = 0
    stop: int = 0
    items: tuple[str, ...] = ()
    adapters: tuple[str, ...] = ()

    @property
    def name(self) -> str:
        return f"{self.index:05d}"

    def describe(self) -> str:
        return f"procedural[{self.start}:{self.stop}]" if self.kind == "procedural" else ", ".join(self.items)


def plan_shards(source: str, cfg: PipelineConfig) -> list[ShardSpec]:
    """Split the work deterministically (same source + config -> same shards)."""
    if source == "procedural":
        n, k = cfg.procedural_scenarios, cfg.scenarios_per_shard
        return [ShardSpec(i, "procedural", start=a, stop=min(a + k, n)) for i, a in enumerate(range(0, n, k))]
    found = discover(Path(source))
    k = cfg.files_per_shard
    return [ShardSpec(i, "files", items=tuple(str(p) for _, p in found[a:a + k]),
                      adapters=tuple(ad.name for ad, _ in found[a:a + k]))
            for i, a in enumerate(range(0, len(found), k))]
