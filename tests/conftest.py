"""Shared test fixtures. Real data is read from ../shared/data/real/ when present."""
from __future__ import annotations

from pathlib import Path

import pytest

REAL = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "real"


def real_path(*parts: str) -> Path:
    """Path under the real-data folder, skipping the test with a clear reason when absent."""
    p = REAL.joinpath(*parts)
    if not p.exists():
        pytest.skip(f"real data sample not available: {p} (the shared data folder is not beside this checkout)")
    return p
