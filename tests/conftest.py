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


@pytest.fixture(scope="session")
def synth_dataset(tmp_path_factory):
    """A small synthesized dataset (24 procedural scenes, debug synthesis) shared by critic and benchmark tests."""
    import dataclasses

    from pipelines.presets import preset
    from pipelines.run import run_synth

    out = tmp_path_factory.mktemp("data")
    run_synth("procedural", out, preset("debug").pipeline,
              workers=1, quiet=True)
    return out


@pytest.fixture(scope="session")
def debug_critic(synth_dataset, tmp_path_factory):
    """A critic trained with the debug preset on ``synth_dataset``: ``(folder, summary)``."""
    from pipelines.presets import preset
    from critic.train import train

    out = tmp_path_factory.mktemp("ckpt")
    return out, train(synth_dataset, out, preset("debug").train, quiet=True)
