"""Splits by log: a stable hash of ``log_id`` (:attr:`schemas.Scenario.log_id`), so no log straddles two splits."""
from __future__ import annotations

import hashlib

#: cumulative shares of train / val (the rest is test)
SPLIT_SHARES = (("train", 0.8), ("val", 0.9))


#: marks a scene variant derived from a source scenario: ``<source id>~hist-<mode>-<k>``
VARIANT_MARK = "~hist-"


def source_scenario_id(scenario_id: str) -> str:
    """The source scenario of a scene variant (the id itself for a source scenario)."""
    return scenario_id.split(VARIANT_MARK, 1)[0]


def is_variant(scenario_id: str) -> bool:
    """True for a scene variant synthesized from a source scenario."""
    return VARIANT_MARK in scenario_id


def split_of(log_id: str) -> str:
    """``train`` | ``val`` | ``test`` for a log id (md5-based, identical on every machine).

    Every scene of a log, every ego in it and every scene variant derived from it (variants keep their
    source's ``log_id``; a variant id given here maps to its source) share one split.
    """
    u = int.from_bytes(hashlib.md5(source_scenario_id(log_id).encode()).digest()[:8], "big") / 2**64
    for name, upper in SPLIT_SHARES:
        if u < upper:
            return name
    return "test"
