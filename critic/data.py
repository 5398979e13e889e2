"""Critic training data: features of every anchor and plan of a dataset split, cached.

``load_split(data_dir, split, cfg)`` reads the counterfactuals of one split with their
scenarios and map features (through :class:`schemas.dataset.Dataset`), builds scene
features once per (scenario, anchor) and plan features and targets per row (occupancy
bit-packed), and caches the arrays as ``.npy`` files under ``DATA/_cache/critic-<hash>/``
(loaded memory-mapped, read-only, with ``allow_pickle=False``).
``GroupSampler`` yields batches of several scenes with several plans each.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import shutil
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from schemas import InputError
from schemas.atomic import atomic_write_handle, atomic_write_text
from schemas.dataset import Dataset
from schemas.splits import is_variant

from .columns import MapCol
from .config import FeatureConfig
from .features import agent_features_and_futures, anchor_pose, drivable_raster, map_features, plan_features
from .occupancy import DrivableRaster, agent_occupancy, non_drivable
from .scene import SceneBatch

CACHE_VERSION = "8"
_ROW_COLUMNS = ("sample_id", "scenario_id", "ego_track_id", "anchor_frame", "family", "outcome", "collision_time_s", "offroad_time_s",
                "plan_x", "plan_y", "plan_heading", "plan_speed", "perturbed_track_ids", "perturbed_x", "perturbed_y",
                "perturbed_heading", "collision_at_fault")
ARRAYS = ("agents", "agents_mask", "agent_future", "agent_future_mask", "map", "map_mask", "drivable", "row_scene",
          "plan", "coll_t", "off_t", "occ", "logged")


@dataclasses.dataclass
class SplitArrays:
    """Scene arrays ``[S, ...]`` and row arrays ``[R, ...]`` (``row_scene`` maps rows to scenes), as cached.

    The scene part is read as a :class:`~critic.scene.SceneBatch` through :meth:`scenes` (its fields'
    shapes and frames are documented there); the arrays stay separate fields because they are the
    cache's files, one ``.npy`` each."""

    agents: np.ndarray
    agents_mask: np.ndarray
    agent_future: np.ndarray
    """``[S, 1 + max_agents, steps, 2]`` float32: each agent token's true position (ego frame at the
    anchor, m) at the end of every dynamics step, from the scenario as logged (no perturbation)."""
    agent_future_mask: np.ndarray
    """``[S, 1 + max_agents, steps]`` bool: ``agent_future`` is observed."""
    map: np.ndarray
    map_mask: np.ndarray
    drivable: np.ndarray
    """``[S, NX, NY / 8]`` uint8: bit-packed ego-frame drivable-area raster per scene."""
    row_scene: np.ndarray
    plan: np.ndarray
    coll_t: np.ndarray
    off_t: np.ndarray
    occ: np.ndarray
    logged: np.ndarray
    sample_id: list
    outcome: list

    @property
    def num_rows(self) -> int:
        return len(self.row_scene)

    @property
    def expert_logged(self) -> np.ndarray:
        """``[R]`` bool: the logged plan of a logged scene (the logged plan of a scene variant,
        whose agent was perturbed before the anchor, is a counterfactual and not counted)."""
        return self.logged & ~np.array([is_variant(s) for s in self.sample_id], dtype=bool)

    def scenes(self, idx: np.ndarray) -> SceneBatch:
        """Scenes ``idx`` ``[B]`` (indices into the scene arrays) as a numpy :class:`~critic.scene.SceneBatch`,
        the drivable raster unpacked to ``[B, NX, NY]`` bool."""
        return SceneBatch(agents=self.agents[idx], agents_mask=self.agents_mask[idx], map=self.map[idx],
                          map_mask=self.map_mask[idx],
                          drivable=np.unpackbits(self.drivable[idx], axis=-1).astype(bool))

    def select_rows(self, keep: np.ndarray) -> "SplitArrays":
        keep = np.flatnonzero(keep)
        rows = {k: getattr(self, k)[keep] for k in ("row_scene", "plan", "coll_t", "off_t", "occ", "logged")}
        return dataclasses.replace(self, **rows, sample_id=[self.sample_id[i] for i in keep],
                                   outcome=[self.outcome[i] for i in keep])


def _read_rows(ds: Dataset, split: str) -> pa.Table:
    try:
        return ds.counterfactuals(split, columns=_ROW_COLUMNS)
    except InputError as err:
        if err.field != "collision_at_fault":
            raise
        raise InputError("column missing: the dataset predates at-fault collision labels; re-run impartial synth",
                         path=err.path, field=err.field) from None


def _cache_dir(ds: Dataset, split: str, cfg: FeatureConfig) -> Path:
    stamp = [CACHE_VERSION, split, dataclasses.asdict(cfg), ds.created]
    key = hashlib.sha1(json.dumps(stamp).encode()).hexdigest()[:12]
    return ds.path / "_cache" / f"critic-{split}-{key}"


def _state_matrix(column, states: int, ds: Dataset, name: str) -> np.ndarray:
    """A list column of ``states`` floats per row as a float64 matrix ``[R, states]``, straight from Arrow
    (a Python list per row would hold about 30 bytes per value: gigabytes for the default dataset)."""
    lengths = np.asarray(pc.list_value_length(column).fill_null(0))
    if len(lengths) and (lengths != states).any():
        raise InputError(f"plans have {int(lengths[lengths != states][0])} states, the critic expects {states}",
                         path=str(ds.path), field=name)
    flat = pc.list_flatten(column)
    flat = flat.combine_chunks() if isinstance(flat, pa.ChunkedArray) else flat
    return np.asarray(flat.to_numpy(zero_copy_only=False), dtype=float).reshape(len(lengths), states)


def _allocator(scratch: Path | None):
    """``alloc(name, shape, dtype)``: zeroed arrays in memory, or (with ``scratch``) ``.npy`` files there opened
    as writable memory maps, so that the arrays being built are file pages the kernel can write out."""
    if scratch is None:
        return lambda name, shape, dtype: np.zeros(shape, dtype)
    return lambda name, shape, dtype: np.lib.format.open_memmap(scratch / f"{name}.npy", mode="w+", dtype=dtype,
                                                                 shape=shape)


def build_split(ds: Dataset, split: str, cfg: FeatureConfig, log=print, scratch: Path | None = None) -> SplitArrays:
    """Features of the ``split`` rows of ``ds`` (:class:`SplitArrays`). With ``scratch`` (a folder), the scene
    and row arrays are built in ``.npy`` files there (writable memory maps) instead of in memory."""
    t0 = time.time()
    rows = _read_rows(ds, split)
    keys = list(zip(*(rows.column(c).to_pylist() for c in ("scenario_id", "ego_track_id", "anchor_frame"))))
    scenes = sorted(set(keys))   # one scene per (scenario, ego, anchor): every vehicle may play the ego
    scene_index = {k: i for i, k in enumerate(scenes)}
    scns = ds.read_scenarios(sorted({k[0] for k in scenes}))
    S, R = len(scenes), rows.num_rows
    K = cfg.plan_steps // (cfg.dyn_stride * cfg.occ_every)
    alloc = _allocator(scratch)
    agents = alloc("agents", (S, 1 + cfg.max_agents, cfg.history_steps, 13), np.float32)
    agents_mask = alloc("agents_mask", (S, 1 + cfg.max_agents, cfg.history_steps), bool)
    steps = cfg.plan_steps // cfg.dyn_stride
    future = alloc("agent_future", (S, 1 + cfg.max_agents, steps, 2), np.float32)
    future_mask = alloc("agent_future_mask", (S, 1 + cfg.max_agents, steps), bool)
    maps = alloc("map", (S, cfg.max_polylines, cfg.polyline_points, MapCol.COUNT), np.float32)
    map_mask = alloc("map_mask", (S, cfg.max_polylines, cfg.polyline_points), bool)
    drivable = None
    plan = alloc("plan", (R, cfg.plan_steps, 5), np.float32)
    occ = alloc("occ", (R, K, 2, cfg.occ_size, cfg.occ_size // 8), np.uint8)
    row_scene = np.array([scene_index[k] for k in keys], np.int64)
    col = {c: rows.column(c) for c in _ROW_COLUMNS}
    px, py, ph, ps = (_state_matrix(col[c], cfg.plan_steps + 1, ds, c)
                      for c in ("plan_x", "plan_y", "plan_heading", "plan_speed"))
    occ_idx = np.arange(1, K + 1) * cfg.dyn_stride * cfg.occ_every  # plan states at 1 s, 2 s, ...
    for s_i, (sid, ego, anchor) in enumerate(scenes):
        scn = scns[sid].with_ego(ego)
        agents[s_i], agents_mask[s_i], future[s_i], future_mask[s_i] = agent_features_and_futures(scn, anchor, cfg)
        maps[s_i], map_mask[s_i] = map_features(scn, anchor, cfg)
        ras = np.packbits(drivable_raster(scn, anchor, cfg), axis=-1)
        if drivable is None:
            drivable = alloc("drivable", (S,) + ras.shape, np.uint8)
        drivable[s_i] = ras
        r = np.flatnonzero(row_scene == s_i)
        pose = anchor_pose(scn, anchor)
        plan[r] = plan_features(px[r], py[r], ph[r], ps[r], pose)
        # true agent futures at the occupancy times, perturbed agents substituted per row
        e = scn.ego_index
        others = np.array([i for i in range(scn.num_agents) if i != e], dtype=int)
        fr = anchor + occ_idx
        base = {k: np.nan_to_num(getattr(scn, k)[others][:, fr]) for k in ("x", "y", "heading", "length", "width")}
        val = scn.valid[others][:, fr]
        fut = {k: np.repeat(v[None], len(r), axis=0) for k, v in base.items()}
        for j, row in enumerate(r):
            for tid, tx, ty, th in zip(col["perturbed_track_ids"][row].as_py(), col["perturbed_x"][row].as_py(),
                                        col["perturbed_y"][row].as_py(), col["perturbed_heading"][row].as_py()):
                a = int(np.flatnonzero(np.array(scn.track_id, dtype=object)[others] == tid)[0])
                fut["x"][j, a], fut["y"][j, a], fut["heading"][j, a] = (np.asarray(v)[occ_idx] for v in (tx, ty, th))
        ex, ey, eh = px[r][:, occ_idx], py[r][:, occ_idx], ph[r][:, occ_idx]
        ch0 = agent_occupancy(ex, ey, eh, fut["x"], fut["y"], fut["heading"], fut["length"], fut["width"],
                              np.repeat(val[None], len(r), axis=0), np.arange(len(r)), cfg.occ_size, cfg.occ_cell_m)
        m = 0.75 * cfg.occ_size * cfg.occ_cell_m
        raster = DrivableRaster(scn.map.drivable_area, ex.min() - m, ey.min() - m, ex.max() + m, ey.max() + m)
        ch1 = non_drivable(raster, ex, ey, eh, cfg.occ_size, cfg.occ_cell_m)
        occ[r] = np.packbits(np.stack([ch0, ch1], axis=2), axis=-1)
    out = SplitArrays(
        agents=agents, agents_mask=agents_mask, agent_future=future, agent_future_mask=future_mask, map=maps,
        map_mask=map_mask, drivable=drivable, row_scene=row_scene,
        plan=plan,
        # the collision event the critic learns is the one the ego causes (at fault)
        coll_t=np.where(np.array(col["collision_at_fault"].to_pylist(), bool),
                        np.nan_to_num(np.array(col["collision_time_s"].to_pylist(), dtype=float), nan=np.inf),
                        np.inf).astype(np.float32),
        off_t=np.nan_to_num(np.array(col["offroad_time_s"].to_pylist(), dtype=float), nan=np.inf).astype(np.float32),
        occ=occ, logged=np.array(pc.equal(col["family"], "logged").to_pylist(), bool),
        sample_id=col["sample_id"].to_pylist(), outcome=col["outcome"].to_pylist(),
    )
    log(f"features[{split}]: {S} scenes, {R} plans in {time.time() - t0:.1f} s")
    return out


def _save_npy(path: Path, array: np.ndarray) -> None:
    """``array`` as ``path`` (``.npy``), atomically."""
    atomic_write_handle(path, lambda fh: np.save(fh, array, allow_pickle=False))


def load_split(data: str | Path | Dataset, split: str, cfg: FeatureConfig, log=print) -> SplitArrays:
    """Features of one split, from the cache when it is there and complete.

    The cache holds one ``.npy`` per array and ``done.json``, each written atomically, and
    ``done.json`` last: a cache folder without it is incomplete and is rewritten."""
    ds = data if isinstance(data, Dataset) else Dataset(data)
    cache = _cache_dir(ds, split, cfg)
    if not ((cache / "done.json").exists() and all((cache / f"{k}.npy").exists() for k in ARRAYS)):
        scratch = cache / f".building-{os.getpid()}"
        scratch.mkdir(parents=True, exist_ok=True)
        try:
            out = build_split(ds, split, cfg, log, scratch=scratch)
            for k in ARRAYS:
                arr, built = getattr(out, k), scratch / f"{k}.npy"
                if isinstance(arr, np.memmap) and built.exists():
                    arr.flush()                                  # complete on disk, then moved into place
                    os.replace(built, cache / f"{k}.npy")
                else:
                    _save_npy(cache / f"{k}.npy", arr)
            atomic_write_text(cache / "done.json", json.dumps({"sample_id": out.sample_id, "outcome": out.outcome}))
            del out, arr     # read back memory-mapped below, so the built arrays need not stay resident
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
    # memory-mapped, read-only: a batch reads only its rows' pages, so training memory does not grow with
    # the dataset (concatenating several datasets or splits, :func:`concat_arrays`, copies them into memory)
    arrs = {k: np.load(cache / f"{k}.npy", allow_pickle=False, mmap_mode="r") for k in ARRAYS}
    extra = json.loads((cache / "done.json").read_text())
    return SplitArrays(**arrs, sample_id=extra["sample_id"], outcome=extra["outcome"])


class GroupSampler:
    """Batches of ``scenes_per_batch`` scenes with ``plans_per_scene`` plans each.

    Plans of a scene are drawn without replacement (with replacement only when the scene
    has fewer); an epoch visits every scene once, in a seeded random order. With ``scene_weights``
    (``[S]`` over the scene arrays, non-negative) an epoch instead draws as many scenes, with
    replacement, each with probability proportional to its weight (mixing datasets by share).
    """

    def __init__(self, arrays: SplitArrays, scenes_per_batch: int, plans_per_scene: int, seed: int,
                 scene_weights: np.ndarray | None = None):
        self.rows_of = {}
        for r, s in enumerate(arrays.row_scene):
            self.rows_of.setdefault(int(s), []).append(r)
        self.scenes = np.array(sorted(self.rows_of))
        self.spb, self.pps = scenes_per_batch, plans_per_scene
        self.rng = np.random.default_rng(seed)
        self.p = None
        if scene_weights is not None:
            w = np.asarray(scene_weights, float)[self.scenes]
            if not (np.all(np.isfinite(w)) and np.all(w >= 0) and w.sum() > 0):
                raise InputError("scene_weights: need finite non-negative weights, not all zero, on the scenes with rows")
            self.p = w / w.sum()

    def __len__(self) -> int:
        return int(np.ceil(len(self.scenes) / self.spb))

    def __iter__(self):
        order = (self.rng.permutation(self.scenes) if self.p is None
                 else self.rng.choice(self.scenes, size=len(self.scenes), replace=True, p=self.p))
        for i in range(0, len(order), self.spb):
            yield np.stack([self.rng.choice(self.rows_of[int(s)], size=self.pps,
                                            replace=len(self.rows_of[int(s)]) < self.pps)
                            for s in order[i:i + self.spb]])


def concat_arrays(parts: list[SplitArrays]) -> SplitArrays:
    """One SplitArrays from several (datasets or splits); scene indices are offset."""
    if len(parts) == 1:
        return parts[0]
    offs = np.cumsum([0] + [len(p.agents) for p in parts[:-1]])
    cat = lambda k: np.concatenate([getattr(p, k) for p in parts])  # noqa: E731
    return SplitArrays(
        agents=cat("agents"), agents_mask=cat("agents_mask"), agent_future=cat("agent_future"),
        agent_future_mask=cat("agent_future_mask"), map=cat("map"), map_mask=cat("map_mask"),
        drivable=cat("drivable"), row_scene=np.concatenate([p.row_scene + o for p, o in zip(parts, offs)]),
        plan=cat("plan"), coll_t=cat("coll_t"), off_t=cat("off_t"), occ=cat("occ"), logged=cat("logged"),
        sample_id=[s for p in parts for s in p.sample_id], outcome=[o for p in parts for o in p.outcome])


def row_sources(data: str | Path | list, splits: tuple[str, ...], sample_ids: list[str],
                column: str = "source") -> np.ndarray:
    """``[R]`` str: the source (``schemas`` scenarios column ``source``: ``procedural``, ``nuscenes``, ...; or the
    scenarios ``column`` given, such as ``map_name``) of the scenario of each counterfactual row ``sample_ids`` of
    the datasets ``data`` (comma-separated or a list)."""
    dirs = data if isinstance(data, (list, tuple)) else [d for d in str(data).split(",") if d]
    source_of: dict[str, str] = {}
    for d in dirs:
        ds = Dataset(d)
        present = [sp for sp in splits if sp in ds.splits]
        if not present:
            continue
        cf = ds.counterfactuals(present, columns=["sample_id", "scenario_id"]).to_pydict()
        scn = ds.scenarios(set(cf["scenario_id"])).to_pydict()
        src = dict(zip(scn["scenario_id"], scn[column]))
        source_of.update((s, src[c]) for s, c in zip(cf["sample_id"], cf["scenario_id"]))
    missing = [s for s in sample_ids if s not in source_of]
    if missing:
        raise InputError(f"{len(missing)} rows are not in the dataset's {'+'.join(splits)} split (first "
                         f"{missing[0]!r})", path=",".join(map(str, dirs)), field="sample_id")
    return np.array([source_of[s] for s in sample_ids], dtype=object)


def mixing_weights(parts: list[SplitArrays], weights: list[float]) -> np.ndarray:
    """``[S]`` scene weights of :func:`concat_arrays` ``(parts)`` that give dataset ``i`` the share
    ``weights[i] / sum(weights)`` of the scenes drawn, whatever its size (each of its scenes with rows gets
    ``weights[i] / their count``, scenes without rows 0)."""
    if len(weights) != len(parts):
        raise InputError(f"weights: {len(weights)} given for {len(parts)} datasets")
    if any(not np.isfinite(w) or w < 0 for w in weights) or sum(weights) <= 0:
        raise InputError(f"weights: need finite non-negative numbers, not all zero, got {weights}")
    out = []
    for p, w in zip(parts, weights):
        has_rows = np.zeros(len(p.agents), bool)
        has_rows[p.row_scene] = True
        out.append(np.where(has_rows, w / max(int(has_rows.sum()), 1), 0.0))
    return np.concatenate(out)


def load_splits(data: str | Path | list, splits: tuple[str, ...], cfg: FeatureConfig, log=print) -> SplitArrays:
    """Several splits of one or more datasets (``data`` may be a comma-separated list), concatenated.

    Splits a dataset does not have (no partition listed in its manifest) are skipped.
    """
    dirs = data if isinstance(data, (list, tuple)) else [d for d in str(data).split(",") if d]
    parts = []
    for d in dirs:
        ds = Dataset(d)
        for sp in splits:
            if sp in ds.splits:
                parts.append(load_split(ds, sp, cfg, log))
    if not parts:
        raise InputError(f"no counterfactuals for splits {splits}", path=",".join(map(str, dirs)))
    return concat_arrays(parts)
