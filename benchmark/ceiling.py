"""How well can *any* critic that sees only the history rank collisions? A Monte Carlo bound.

A plan's collision label is one draw of the future: the other vehicles' later lane
changes and entries, and (for ``agent_perturbation`` rows) a hard brake or cut-in that
starts at or after the anchor, are random and invisible at the anchor. The best possible
score of a plan is therefore ``P(at-fault collision | history, plan)``, and the AUROC of
that probability against the drawn labels is the ceiling for any critic.

For procedural test scenes this module estimates that probability directly:

* every (scenario, anchor) is re-simulated ``forks`` times with
  :func:`synth.sources.procedural.scene.generate_scene` ``fork=(anchor, seed)``: same
  history, same ego track; redrawn are the vehicles' decisions from the anchor on, the
  signal's switch time if it has not switched yet, and the start of pedestrians not yet due;
* every row's plan is re-labelled against each forked future with the synthesis labeller
  (an ``agent_perturbation`` row keeps its own perturbed agent track);
* rows whose critic inputs are identical (same scenario, anchor and plan; the logged row
  and the ``agent_perturbation`` rows of an anchor) share one probability: the mean over
  the forks of all of them, because a critic cannot tell them apart.

The estimate is an **upper bound** in two ways: it knows each driver's hidden parameters
(desired speed, headway, acceleration), which a critic must infer from one second of
history; and the identical-input mixture is taken from the test rows themselves. With finitely many forks
the probabilities are noisy, which lowers the AUROC; :func:`ceiling_auroc` reports it at
several fork counts so the trend shows how far that matters. Scene variants
(``<source>~hist-...``) are left out: their perturbed history is not re-simulated.

``impartial ceiling DATA [--bench BENCH_OUT] [--forks K] [--workers W]`` (:func:`report`)
prints the bound, and each model's AUROC on the same rows when ``--bench`` is given.
"""
from __future__ import annotations

import concurrent.futures as cf
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq

from schemas import InputError
from schemas.dataset import MANIFEST, Dataset
from schemas.splits import is_variant
from synth.config import LabelThresholds, SynthConfig, VehicleLimits
from synth.context import build_context
from synth.kinematics import Plans
from synth.labels import AgentFutures, label_plans
from synth.sources.procedural.config import ProceduralConfig
from synth.sources.procedural.scene import generate_scene

from .metrics import METRICS

_COLUMNS = ["sample_id", "scenario_id", "anchor_frame", "family", "plan_x", "plan_y", "plan_heading", "plan_speed",
            "perturbed_x", "perturbed_y", "perturbed_heading", "collision", "collision_at_fault"]


def configs_of(data: Path | Dataset) -> tuple[ProceduralConfig, SynthConfig]:
    """The procedural and synthesis configurations recorded in the dataset's ``_manifest.json``
    (InputError when it is missing or the data is not procedural)."""
    ds = data if isinstance(data, Dataset) else Dataset(data)
    if ds.source not in ("procedural", None):
        raise InputError(f"source {ds.source!r}; the ceiling re-simulates procedural scenes only",
                         path=str(ds.path / MANIFEST), field="source")
    pc = {k: tuple(v) if isinstance(v, list) else v for k, v in ds.config["procedural"].items()}
    sc = ds.config["synth"]
    synth = SynthConfig(horizon_steps=sc["horizon_steps"], dt=sc["dt"], history_steps=sc["history_steps"],
                        limits=VehicleLimits(**sc["limits"]), labels=LabelThresholds(**sc["labels"]))
    pc["seed"] = ds.config["seed"]   # the pipeline's seed overrides the generator's own
    return ProceduralConfig(**pc), synth


def scene_index(scenario_id: str, seed: int) -> int:
    """``procedural-<seed>-<index>`` -> index (ValueError for any other id)."""
    parts = scenario_id.split("-")
    if len(parts) != 3 or parts[0] != "procedural" or parts[1] != str(seed) or not parts[2].isdigit():
        raise InputError(f"scenario_id {scenario_id!r}: not a procedural scene of seed {seed}")
    return int(parts[2])


def fork_labels(task: tuple) -> np.ndarray:
    """At-fault collision ``[forks, N]`` of the N rows of one (scenario, anchor) under each fork (a fork
    keeps the scenario's history exactly: :func:`synth.sources.procedural.scene.generate_scene`)."""
    proc, synth, index, anchor, rows, forks, drivers = task
    return np.stack([relabel(generate_scene(proc, index, fork=(anchor, 1_000_003 * index + 7919 * anchor + k),
                                            fork_drivers=drivers), anchor, synth, rows) for k in range(forks)])


def relabel(scn, anchor: int, synth: SynthConfig, rows: dict) -> np.ndarray:
    """``[N]`` at-fault collision of the rows' plans (columns of :data:`_COLUMNS`, one anchor) against
    the agents of ``scn``, each perturbed row with its own perturbed agent track."""
    ctx = build_context(scn, anchor, synth)
    ego = Plans.from_states(*(np.stack(rows[f"plan_{c}"]) for c in ("x", "y", "heading", "speed")))
    agents = _with_perturbations(ctx.agents, rows, synth.dt)
    return label_plans(ego, agents, ctx.drivable_index, ctx.solid_lines, synth.dt, synth.labels,
                       ctx.drivable_inner_index, length=ctx.ego_length, width=ctx.ego_width).collision_at_fault


def _with_perturbations(agents: AgentFutures, rows: dict, dt: float) -> AgentFutures:
    """Per-row agents ``[N, A, T]``: the fork's agents, with each perturbed row's track in place of
    the agent that stands where the perturbed track starts (perturbations start at or after the anchor)."""
    n = len(rows["sample_id"])
    fields = {f: np.repeat(getattr(agents, f), n, axis=0) for f in ("x", "y", "heading", "vx", "vy", "length", "width",
                                                                    "valid")}
    for i in range(n):
        for px, py, ph in zip(rows["perturbed_x"][i], rows["perturbed_y"][i], rows["perturbed_heading"][i]):
            px, py = np.asarray(px), np.asarray(py)
            d = np.hypot(agents.x[0, :, 0] - px[0], agents.y[0, :, 0] - py[0])
            d[~agents.valid[0, :, 0]] = np.inf
            if not len(d) or d.min() > 0.05:
                continue   # the perturbed agent left the scene in this fork (overlap removal): keep the fork
            a = int(np.argmin(d))
            fields["x"][i, a], fields["y"][i, a], fields["heading"][i, a] = px, py, np.asarray(ph)
            fields["vx"][i, a], fields["vy"][i, a] = np.gradient(px, dt), np.gradient(py, dt)
            fields["valid"][i, a] = True
    return AgentFutures(**fields, object_type=agents.object_type)


def read_rows(data: Path | Dataset, split: str = "test") -> dict[str, list]:
    """Counterfactual rows of ``split`` (source scenes only) as column lists."""
    ds = data if isinstance(data, Dataset) else Dataset(data)
    t = ds.counterfactuals(split, columns=_COLUMNS).to_pydict()
    keep = [not is_variant(s) for s in t["scenario_id"]]
    return {c: [v for v, k in zip(t[c], keep) if k] for c in _COLUMNS}


def input_groups(rows: dict) -> np.ndarray:
    """``[N]`` int: rows with identical critic inputs (scenario, anchor, plan) share a group."""
    keys = {}
    out = np.empty(len(rows["scenario_id"]), np.int64)
    for i in range(len(out)):
        plan = np.round(np.stack([rows[f"plan_{c}"][i] for c in ("x", "y", "heading", "speed")]), 4)
        key = (rows["scenario_id"][i], rows["anchor_frame"][i], plan.tobytes())
        out[i] = keys.setdefault(key, len(keys))
    return out


def group_probability(labels: np.ndarray, groups: np.ndarray) -> np.ndarray:
    """``[N]`` mean of ``labels`` ``[forks, N]`` (NaN = missing fork) over the forks of every row in the
    row's group: the probability a critic that sees only the inputs should give."""
    ok = np.isfinite(labels)
    hits = np.bincount(groups, weights=np.where(ok, labels, 0.0).sum(0))
    count = np.bincount(groups, weights=ok.sum(0).astype(float))
    return (hits / np.maximum(count, 1.0))[groups]


def ceiling_auroc(labels: np.ndarray, groups: np.ndarray, truth: np.ndarray) -> dict[int, float]:
    """AUROC of :func:`group_probability` against ``truth`` using the first k forks, for k = K/4, K/2, K."""
    K = labels.shape[0]
    out = {}
    for k in sorted({max(K // 4, 1), max(K // 2, 1), K}):
        value, valid = METRICS["auroc"](group_probability(labels[:k], groups), truth)
        out[k] = value if valid else float("nan")
    return out


def run(data: Path, forks: int, workers: int, split: str = "test", limit: int = 0, drivers: bool = False):
    """Fork labels ``[forks, N]`` and the rows."""
    ds = Dataset(data)
    proc, synth = configs_of(ds)
    rows = read_rows(ds, split)
    anchors: dict[tuple, list[int]] = {}
    for i, (s, a) in enumerate(zip(rows["scenario_id"], rows["anchor_frame"])):
        anchors.setdefault((s, a), []).append(i)
    items = list(anchors.items())[: limit or None]
    tasks = [(proc, synth, scene_index(s, proc.seed), a, {c: [rows[c][i] for i in idx] for c in _COLUMNS}, forks, drivers)
             for (s, a), idx in items]
    keep = np.concatenate([idx for _, idx in items])
    labels = np.full((forks, len(rows["sample_id"])), np.nan)
    with cf.ProcessPoolExecutor(workers) if workers > 1 else _Serial() as pool:
        for (_, idx), lab in zip(items, pool.map(fork_labels, tasks)):
            labels[:, idx] = lab
    rows = {c: [v[i] for i in keep] for c, v in rows.items()}
    return labels[:, keep], rows


class _Serial:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    @staticmethod
    def map(fn, items):
        return map(fn, items)


def report(data: Path, forks: int, workers: int, bench: Path | None = None, limit: int = 0,
           drivers: bool = False) -> list[str]:
    """The lines ``impartial ceiling`` prints: the bound at several fork counts, the bound within each
    family, and with ``bench`` (a benchmark output folder) each model's AUROC on the same rows.
    ``forks``, ``workers``, ``limit`` and ``drivers`` as in :func:`run`."""
    labels, rows = run(data, forks, workers, limit=limit, drivers=drivers)
    truth = np.asarray(rows["collision_at_fault"], bool)
    groups = input_groups(rows)
    fam = np.asarray(rows["family"])
    out = [f"{len(truth)} rows ({truth.sum()} at-fault collisions), {len(set(zip(rows['scenario_id'], rows['anchor_frame'])))}"
           f" anchors, {forks} forks each"]
    drawn = labels.mean(0)
    out.append(f"share of rows whose label flips in at least one fork: {np.mean((drawn > 0) & (drawn < 1)):.3f}")
    for k, v in ceiling_auroc(labels, groups, truth).items():
        out.append(f"ceiling collision AUROC with {k:3d} forks: {v:.4f}")
    prob = group_probability(labels, groups)
    for f in sorted(set(fam.tolist())):
        m = fam == f
        v, ok = METRICS["auroc"](prob[m], truth[m])
        out.append(f"  within {f:20s} ceiling {v if ok else float('nan'):.3f}  (n={m.sum()}, collisions={truth[m].sum()})")
    if bench:
        pred = pq.read_table(bench / "predictions.parquet",
                             columns=["model", "sample_id", "collision_risk"]).to_pydict()
        where = {s: i for i, s in enumerate(rows["sample_id"])}
        scores = {m: np.full(len(truth), np.nan) for m in pred["model"]}
        for m, s, r in zip(pred["model"], pred["sample_id"], pred["collision_risk"]):
            if s in where:
                scores[m][where[s]] = r
        for m, score in scores.items():
            ok = np.isfinite(score)
            v, valid = METRICS["auroc"](score[ok], truth[ok])
            out.append(f"model {m:28s} collision AUROC on the same rows: {v if valid else float('nan'):.4f} (n={ok.sum()})")
    return out
