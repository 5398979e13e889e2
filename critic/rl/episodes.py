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


def dataset_anchors(data: Path | Dataset, split: str) -> list[tuple[str, str, int]]:
    """Distinct ``(scenario_id, ego_track_id, anchor_frame)`` of ``split`` in a dataset's counterfactuals
    (sorted): every ego of a log with every vehicle as ego is an episode of its own.

    Scene variants (:mod:`synth.variants`) are left out: episodes start from logged scenes, and
    their perturbed agents are drawn here.
    """
    ds = data if isinstance(data, Dataset) else Dataset(data)
    cols = ["scenario_id", "ego_track_id", "anchor_frame"]
    t = ds.counterfactuals(split, columns=cols)
    keys = sorted({k for k in zip(*(t[c].to_pylist() for c in cols)) if not is_variant(k[0])})
    if not keys:
        raise InputError(f"no anchors in split {split!r}", path=str(ds.path / "counterfactuals" / f"split={split}"),
                         field="split")
    return keys


def build_episodes(data: Path, split: str, n_anchors: int, perturbed: int, seed: int,
                   horizon_steps: int | None = None) -> list[Episode]:
    """Up to ``n_anchors`` anchors of ``split`` (evenly spread), each as a log-replay episode plus
    ``perturbed`` perturbed-agent episodes (fewer when the anchor has no lead or neighbour).
    ``horizon_steps``: episode length (default: the dataset's synthesis horizon)."""
    ds = Dataset(data)
    keys = dataset_anchors(ds, split)
    pick = np.unique(np.linspace(0, len(keys) - 1, min(n_anchors, len(keys))).round().astype(int))
    keys = [keys[i] for i in pick]
    scns = ds.read_scenarios(sorted({s for s, _, _ in keys}))
    cfg = SynthConfig(horizon_steps=ds.horizon_steps if horizon_steps is None else horizon_steps,
                      history_steps=ds.history_steps)
    family = AgentPerturbation()
    out: list[Episode] = []
    for i, (sid, ego, anchor) in enumerate(keys):
        ctx = build_context(scns[sid].with_ego(ego), int(anchor), cfg)
        out.append(Episode.build(ctx))
        if perturbed <= 0:
            continue
        cand = family.sample(ctx, np.random.default_rng([seed, i]), perturbed)
        if cand is None:
            continue
        for j, p in enumerate(cand.params):
            out.append(Episode.build(ctx, cand.agents.rows(slice(j, j + 1)), p["mode"]))
    return out
