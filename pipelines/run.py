"""``impartial synth``: a Dask graph over shards, resumable, with a manifest.

* ``scheduler=None, workers=1``: the graph runs in this process (Dask's synchronous
  scheduler), handy for debugging.
* ``scheduler=None, workers=N>1`` (default: every core): a ``distributed.LocalCluster``
  of N single-threaded worker processes.
* ``scheduler="tcp://host:port"``: the same graph on an existing ``dask.distributed``
  cluster (its workers need this package installed and the output folder mounted).

Finished shards (marker present, written under the same run key, every file there with the recorded
sha256) are skipped; anything else is redone, and this package's stray temp files are removed first.

The run key (:func:`run_key`) hashes the resolved configuration, the source and the code. A re-run into a
folder written under another key (another ``--seed``, preset, option, source or version of this code) is
refused, naming what differs, unless ``overwrite``: then the earlier run's partitions and markers are removed
first, so a dataset never holds rows of two configurations. A scenario id that an earlier shard published
already is left out of the later shard (listed under ``duplicates`` in its marker and the manifest): a scene
read twice (the same file in two folders) is published once.
"""
from __future__ import annotations

import datetime
import hashlib
import json
import os
import re
import subprocess
import time
from pathlib import Path

import dask

from schemas import InputError
from schemas.dataset import PUBLISHED
from synth.sources import check_options, registry

from .config import PipelineConfig, to_dict
from .shards import ShardSpec, plan_shards
from .worker import process_shard, sha256, write_json_atomic


def _marker(out: Path, name: str) -> dict | None:
    path = out / "_shards" / f"{name}.json"
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return None


def _finished(out: Path, spec: ShardSpec, key: str) -> dict | None:
    marker = _marker(out, spec.name)
    if marker is None or marker.get("status") != "ok" or marker.get("input") != spec.describe():
        return None
    if marker.get("key") != key:
        return None
    for rel, meta in marker["files"].items():
        f = out / rel
        if not f.exists() or sha256(f) != meta["sha256"]:
            return None
    return marker


#: the temp files :func:`schemas.atomic.temp_path` makes (``.<name>.<8 hex>.tmp``); nothing else is swept
_TEMP = re.compile(r"^\..+\.[0-9a-f]{8}\.tmp$")


def clean_temp_files(out: Path) -> int:
    """Remove this package's temp files under ``out`` (left by a killed run); returns how many."""
    n = 0
    for p in out.rglob(".*.tmp"):
        if p.is_file() and _TEMP.match(p.name):
            p.unlink()
            n += 1
    return n


#: the pipeline modules that decide a dataset's rows (the command line, presets and the rest do not)
_ROW_MODULES = ("config.py", "io.py", "shards.py", "validation.py", "worker.py")


def code_version() -> str:
    """sha256 (16 hex) of the source that makes a dataset's rows: ``schemas/``, ``synth/`` and the pipeline
    modules in :data:`_ROW_MODULES`."""
    h = hashlib.sha256()
    root = Path(__file__).resolve().parent.parent
    files = [f for pkg in ("schemas", "synth") for f in sorted((root / pkg).rglob("*.py"))]
    for f in files + [root / "pipelines" / m for m in _ROW_MODULES]:
        h.update(f.relative_to(root).as_posix().encode())
        h.update(f.read_bytes())
    return h.hexdigest()[:16]


def _run_identity(source: str, cfg: PipelineConfig, options: dict | None) -> dict:
    src = source if source == "procedural" else str(Path(source).resolve())
    ident = {"config": to_dict(cfg), "source": src,
             "options": {k: str(Path(v).resolve()) if k.endswith("root") else str(v)    # a folder, however spelt
                         for k, v in sorted((options or {}).items()) if v is not None},
             "code": code_version()}
    return json.loads(json.dumps(ident, sort_keys=True, default=str))     # as _run.json stores it (tuples as lists)


def run_key(source: str, cfg: PipelineConfig, options: dict | None = None) -> str:
    """sha256 (16 hex) of what decides a dataset's rows: the resolved configuration (seed included), the source,
    the reader options and :func:`code_version`."""
    ident = json.dumps(_run_identity(source, cfg, options), sort_keys=True, default=str)
    return hashlib.sha256(ident.encode()).hexdigest()[:16]


def _differences(old: dict, new: dict, prefix: str = "") -> list[str]:
    out = []
    for k in sorted(set(old) | set(new)):
        a, b = old.get(k), new.get(k)
        if isinstance(a, dict) and isinstance(b, dict):
            out += _differences(a, b, f"{prefix}{k}.")
        elif a != b:
            out.append(f"{prefix}{k} {a!r} -> {b!r}")
    return out


def _stale(out: Path, key: str) -> list[str]:
    """Names of the shard markers under ``out`` written under another run key (an unreadable marker, a half-written
    one of a killed run, is not: that shard is simply redone)."""
    markers = {p.stem: _marker(out, p.stem) for p in (out / "_shards").glob("*.json")}
    return sorted(n for n, m in markers.items() if m is not None and m.get("key") != key)


def _remove_earlier_run(out: Path) -> int:
    """Delete every partition, marker and the manifest of an earlier run in ``out``; returns files removed."""
    gone = [*out.glob("*/part-*.parquet"), *out.glob("counterfactuals/split=*/part-*.parquet"),
            *(out / "_shards").glob("*.json"), out / "_manifest.json", out / "_run.json"]
    n = 0
    for p in gone:
        if p.is_file():
            p.unlink()
            n += 1
    return n


def _check_earlier_run(out: Path, key: str, ident: dict, overwrite: bool) -> int:
    """Refuse (``InputError``) a folder holding another run's shards unless ``overwrite`` (then they are removed)."""
    stale = _stale(out, key)
    if not stale:
        return 0
    if overwrite:
        return _remove_earlier_run(out)
    try:
        before = json.loads((out / "_run.json").read_text())
        what = "; ".join(_differences(before, ident)[:6]) or "the code or configuration"
    except (OSError, json.JSONDecodeError):
        what = "unknown (no _run.json)"
    raise InputError(f"holds {len(stale)} shard(s) of another run (differs: {what}); give --overwrite to replace "
                     "that dataset, or another --out", path=str(out))


def git_commit() -> str | None:
    try:
        res = subprocess.run(["git", "rev-parse", "HEAD"], cwd=Path(__file__).resolve().parent, capture_output=True,
                             text=True, timeout=10)
        return res.stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        return None


def _package_version() -> str:
    try:
        from importlib.metadata import version

        return version("impartial")
    except Exception:  # noqa: BLE001 (not installed: running from a checkout)
        return "unknown"


def run_synth(source: str, out: str | Path, cfg: PipelineConfig, scheduler: str | None = None,
              workers: int | None = None, quiet: bool = False, options: dict | None = None,
              preset_name: str = "custom", overwrite: bool = False) -> dict:
    """Run (or resume) the synthesis pipeline; returns the manifest written to ``out/_manifest.json``.

    Refuses (``InputError``) an ``out`` that holds shards of another run unless ``overwrite`` (module docstring).
    The manifest lists failed shards and failed inputs; nothing raises for them (the command line exits 3)."""
    from tqdm import tqdm

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.time()
    shards = plan_shards(source, cfg)
    if source != "procedural":
        check_options(options or {}, [registry()[name] for s in shards for name in s.adapters])
    ident = _run_identity(source, cfg, options)
    key = run_key(source, cfg, options)
    replaced = _check_earlier_run(out, key, ident, overwrite)
    removed = clean_temp_files(out)
    write_json_atomic(ident, out / "_run.json")
    done = {s.name: m for s in shards if (m := _finished(out, s, key)) is not None}
    todo = [s for s in shards if s.name not in done]
    workers = workers or os.cpu_count() or 1
    bar = tqdm(total=len(shards), initial=len(done), desc="shards", unit="shard", disable=quiet)
    markers = dict(done)
    for m in _run_shards(todo, out, cfg, options or {}, key, scheduler, workers, bar):
        markers[m["shard"]] = m
    bar.close()
    # a scenario id published by an earlier shard is left out of the later one (a scene read twice)
    first: dict[str, str] = {}          # scenario id -> the input it was first published from
    for s in shards:
        m = markers.get(s.name) or {}
        if m.get("status") in PUBLISHED and any(i in first for i in m.get("scenario_ids", [])):
            markers[s.name] = process_shard(s, str(out), cfg, options or {}, key,
                                            exclude={i: first[i] for i in m["scenario_ids"] if i in first})
            m = markers[s.name]
        if m.get("status") in PUBLISHED:
            for i in m.get("scenario_ids", []):
                first.setdefault(i, m.get("scenario_inputs", {}).get(i, f"shard {s.name}"))
    manifest = build_manifest(out, shards, markers, cfg, source, preset_name)
    manifest["run_key"] = key
    manifest["code_version"] = ident["code"]
    manifest["run"] = {"wall_seconds": round(time.time() - t0, 2), "shards_skipped_as_done": len(done),
                       "shards_run": len(todo), "temp_files_removed": removed, "earlier_run_files_removed": replaced,
                       "workers": workers, "scheduler": scheduler or ("synchronous" if workers == 1 else "LocalCluster")}
    write_json_atomic(manifest, out / "_manifest.json")
    return manifest


def _run_shards(todo: list[ShardSpec], out: Path, cfg: PipelineConfig, options: dict, key: str,
                scheduler: str | None, workers: int, bar):
    """Yield the marker of every shard in ``todo`` as it finishes; a shard whose task dies (a killed worker)
    yields a failed marker instead of ending the run."""
    if not todo:
        return
    tasks = [dask.delayed(process_shard, pure=False)(s, str(out), cfg, options, key, dask_key_name=f"shard-{s.name}")
             for s in todo]
    if scheduler is None and workers == 1:
        for task in tasks:
            yield task.compute(scheduler="synchronous")
            bar.update()
        return
    from distributed import Client, LocalCluster, as_completed

    cluster = None
    if scheduler is None:
        # scheduler, workers and dashboard on loopback only
        cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, host="127.0.0.1",
                               dashboard_address="127.0.0.1:0")
        client = Client(cluster)
    else:
        client = Client(scheduler)
    try:
        futures = client.compute(tasks)
        spec_of = {f.key: s for f, s in zip(futures, todo)}
        for fut in as_completed(futures):
            try:
                yield fut.result()
            except Exception as err:  # noqa: BLE001 (the worker died or the task could not run: this shard fails)
                s = spec_of[fut.key]
                yield {"shard": s.name, "input": s.describe(), "status": "failed", "files": {}, "stats": {},
                       "error": f"task failed ({type(err).__name__}: {err})", "failed_inputs": [], "duplicates": []}
            bar.update()
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


def build_manifest(out: Path, shards: list[ShardSpec], markers: dict, cfg: PipelineConfig, source: str,
                   preset_name: str) -> dict:
    from collections import Counter

    from schemas import SCHEMA_VERSION

    splits, families, outcomes, rejected, skipped, variants = Counter(), Counter(), Counter(), Counter(), Counter(), Counter()
    egos_rejected = Counter()
    scenarios = egos = 0
    rows = 0
    shard_list = []
    for s in shards:
        m = markers.get(s.name, {"status": "missing", "error": "not run", "files": {}, "stats": {}})
        st = m.get("stats") or {}
        for rel, meta in m["files"].items():
            if rel.startswith("counterfactuals/"):
                splits[rel.split("/")[1].split("=")[1]] += meta["rows"]
                rows += meta["rows"]
        families.update(st.get("families", {}))
        outcomes.update(st.get("outcomes", {}))
        rejected.update(st.get("rejected_by_rule", {}))
        skipped.update(st.get("skipped", {}))
        variants.update(st.get("variants", {}))
        egos_rejected.update(st.get("egos_rejected", {}))
        scenarios += st.get("scenarios", 0) if m["status"] in PUBLISHED else 0
        egos += st.get("egos", 0) if m["status"] in PUBLISHED else 0
        shard_list.append({"shard": s.name, "input": s.describe(), "status": m["status"], "error": m.get("error"),
                           "failed_inputs": m.get("failed_inputs", []), "duplicates": m.get("duplicates", []),
                           "files": m["files"], "seconds": m.get("seconds")})
    total = sum(outcomes.values()) or 1
    return {
        "schema_version": SCHEMA_VERSION,
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "package_version": _package_version(),
        "git_commit": git_commit(),
        "source": source,
        "preset": preset_name,
        "config": to_dict(cfg),
        "seed": cfg.seed,
        "counts": {"scenarios": scenarios, "egos": egos, "scene_variants": dict(variants), "counterfactuals": rows, "by_split": dict(splits),
                   "by_family": dict(families), "by_outcome": dict(outcomes)},
        "outcome_mix": {k: round(v / total, 4) for k, v in sorted(outcomes.items())},
        "outcome_target": cfg.synth.curriculum.targets(),
        "rejected_by_rule": dict(rejected),
        "skipped_anchors_or_scenarios": dict(skipped),
        "egos_rejected": dict(egos_rejected),
        "failed_shards": [s for s in shard_list if s["status"] not in PUBLISHED],
        "failed_inputs": [f for s in shard_list for f in s["failed_inputs"]],
        "duplicates": [d for s in shard_list for d in s["duplicates"]],
        "shards": shard_list,
    }
