"""Splits by source scenario: a stable hash of ``scenario_id``, so no log straddles two splits."""
from __future__ import annotations

import hashlib

#: cumulative shares of train / val (the rest is test)
SPLIT_SHARES = (("train", 0.8), ("val", 0.9))


def split_of(scenario_id: str) -> str:
    """``train`` | ``val`` | ``test`` for a scenario id (md5-based, identical on every machine)."""
    u = int.from_bytes(hashlib.md5(scenario_id.encode()).digest()[:8], "big") / 2**64
    for name, upper in SPLIT_SHARES:
        if u < upper:
            return name
    return "test"
