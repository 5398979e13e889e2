"""Episodes of a synthesized dataset: its anchors, each replayed from the log and with
perturbed agents (lead brakes / cut-in) drawn from the ``agent_perturbation`` family."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow.parquet as pq

from critic.data import read_scenarios
from schemas import InputError
from schemas.splits import is_variant
from synth.config import SynthConfig
from synth.context import build_context
from synth.families.agent_perturbation import AgentPerturbation

from .sim import Episode


def dataset_anchors(data: Path, split: str) -> list[tuple[str, int]]:
    """Distinct ``(scenario_id, anchor_frame)`` of ``split`` in a dataset's counterfactuals (sorted).

    Scene variants (:mod:`synth.variants`) are left out: episodes start from logged scenes, and
    their perturbed agents are drawn here.
    """
    part = Path(data) / "counterfactuals" / f"split={split}"
    if not part.exists():
        raise InputError(f"no counterfactuals for split {split!r} (run impartial synth first)", path=str(part))
    t = pq.read_table(part, columns=["scenario_id", "anchor_frame"])
    pairs = sorted({(s, a) for s, a in zip(t["scenario_id"].to_pylist(), t["anchor_frame"].to_pylist())
                    if not is_variant(s)})
    if not pairs:
        raise InputError(f"no anchors in split {split!r}", path=str(part), field="split")
    return pairs


def build_episodes(data: Path, split: str, n_anchors: int, perturbed: int, seed: int,
                   horizon_steps: int = 80) -> list[Episode]:
    """Up to ``n_anchors`` anchors of ``split`` (evenly spread), each as a log-replay episode plus
    ``perturbed`` perturbed-agent episodes (fewer when the anchor has no lead or neighbour)."""
    pairs = dataset_anchors(data, split)
    pick = np.unique(np.linspace(0, len(pairs) - 1, min(n_anchors, len(pairs))).round().astype(int))
    pairs = [pairs[i] for i in pick]
    scns = read_scenarios(Path(data), sorted({s for s, _ in pairs}))
    cfg = SynthConfig(horizon_steps=horizon_steps)
    family = AgentPerturbation()
    out: list[Episode] = []
    for i, (sid, anchor) in enumerate(pairs):
        ctx = build_context(scns[sid], int(anchor), cfg)
        out.append(Episode.build(ctx))
        if perturbed <= 0:
            continue
        cand = family.sample(ctx, np.random.default_rng([seed, i]), perturbed)
        if cand is None:
            continue
        for j, p in enumerate(cand.params):
            out.append(Episode.build(ctx, cand.agents.rows(slice(j, j + 1)), p["mode"]))
    return out
