"""Episodes of a synthesized dataset: its anchors, each replayed from the log and with
perturbed agents (lead brakes / cut-in) drawn from the ``agent_perturbation`` family."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from schemas import InputError
from schemas.dataset import Dataset
from schemas.splits import is_variant
from synth.config import SynthConfig
from synth.context import build_context
from synth.families.agent_perturbation import AgentPerturbation
from synth.sim import Episode


def dataset_anchors(data: Path | Dataset, split: str) -> list[tuple[str, int]]:
    """Distinct ``(scenario_id, anchor_frame)`` of ``split`` in a dataset's counterfactuals (sorted).

    Scene variants (:mod:`synth.variants`) are left out: episodes start from logged scenes, and
    their perturbed agents are drawn here.
    """
    ds = data if isinstance(data, Dataset) else Dataset(data)
    t = ds.counterfactuals(split, columns=["scenario_id", "anchor_frame"])
    pairs = sorted({(s, a) for s, a in zip(t["scenario_id"].to_pylist(), t["anchor_frame"].to_pylist())
                    if not is_variant(s)})
    if not pairs:
        raise InputError(f"no anchors in split {split!r}", path=str(ds.path / "counterfactuals" / f"split={split}"),
                         field="split")
    return pairs


def build_episodes(data: Path, split: str, n_anchors: int, perturbed: int, seed: int,
                   horizon_steps: int = 80) -> list[Episode]:
    """Up to ``n_anchors`` anchors of ``split`` (evenly spread), each as a log-replay episode plus
    ``perturbed`` perturbed-agent episodes (fewer when the anchor has no lead or neighbour)."""
    ds = Dataset(data)
    pairs = dataset_anchors(ds, split)
    pick = np.unique(np.linspace(0, len(pairs) - 1, min(n_anchors, len(pairs))).round().astype(int))
    pairs = [pairs[i] for i in pick]
    scns = ds.read_scenarios(sorted({s for s, _ in pairs}))
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
