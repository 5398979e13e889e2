"""``impartial synth``: a Dask graph over shards, resumable, with a manifest.

* ``scheduler=None, workers=1``: the graph runs in this process (Dask's synchronous
  scheduler), handy for debugging.
* ``scheduler=None, workers=N>1`` (default: every core): a ``distributed.LocalCluster``
  of N single-threaded worker processes.
* ``scheduler="tcp://host:port"``: the same graph on an existing ``dask.distributed``
  cluster (its workers need this package installed and the output folder mounted).

Finished shards (marker present, every file there with the recorded sha256) are
skipped; anything else is redone, and stray temp files are removed first.
"""
from __future__ import annotations

import datetime
import json
import os
import subprocess
import time
from pathlib import Path

import dask

from synth.sources import check_options, registry

from .config import PipelineConfig, to_dict
from .shards import ShardSpec, plan_shards
from .worker import process_shard, sha256, write_json_atomic


def _finished(out: Path, spec: ShardSpec) -> dict | None:
    path = out / "_shards" / f"{spec.name}.json"
    if not path.exists():
        return None
    try:
        marker = json.loads(path.read_text())
    except json.JSONDecodeError:
        return None
    if marker.get("status") != "ok" or marker.get("input") != spec.describe():
        return None
    for rel, meta in marker["files"].items():
        f = out / rel
        if not f.exists() or sha256(f) != meta["sha256"]:
            return None
    return marker


def clean_temp_files(out: Path) -> int:
    n = 0
    for p in out.rglob(".*.tmp"):
        p.unlink()
        n += 1
    return n


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
              preset_name: str = "custom") -> dict:
    """Run (or resume) the synthesis pipeline; returns the manifest written to ``out/_manifest.json``."""
    from tqdm import tqdm

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.time()
    removed = clean_temp_files(out)
    shards = plan_shards(source, cfg)
    if source != "procedural":
        check_options(options or {}, [registry()[name] for s in shards for name in s.adapters])
    done = {s.name: m for s in shards if (m := _finished(out, s)) is not None}
    todo = [s for s in shards if s.name not in done]
    workers = workers or os.cpu_count() or 1
    tasks = [dask.delayed(process_shard, pure=False)(s, str(out), cfg, options or {}, dask_key_name=f"shard-{s.name}")
             for s in todo]
    bar = tqdm(total=len(shards), initial=len(done), desc="shards", unit="shard", disable=quiet)
    markers = dict(done)
    if todo and scheduler is None and workers == 1:
        for task in tasks:
            m = task.compute(scheduler="synchronous")
            markers[m["shard"]] = m
            bar.update()
    elif todo:
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
            for fut in as_completed(futures):
                m = fut.result()
                markers[m["shard"]] = m
                bar.update()
        finally:
            client.close()
            if cluster is not None:
                cluster.close()
    bar.close()
    manifest = build_manifest(out, shards, markers, cfg, source, preset_name)
    manifest["run"] = {"wall_seconds": round(time.time() - t0, 2), "shards_skipped_as_done": len(done),
                       "shards_run": len(todo), "temp_files_removed": removed, "workers": workers,
                       "scheduler": scheduler or ("synchronous" if workers == 1 else "LocalCluster")}
    write_json_atomic(manifest, out / "_manifest.json")
    return manifest


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
        scenarios += st.get("scenarios", 0) if m["status"] == "ok" else 0
        egos += st.get("egos", 0) if m["status"] == "ok" else 0
        shard_list.append({"shard": s.name, "input": s.describe(), "status": m["status"], "error": m.get("error"),
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
        "failed_shards": [s for s in shard_list if s["status"] != "ok"],
        "shards": shard_list,
    }
