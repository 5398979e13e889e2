"""One shard, start to finish, inside a Dask worker: ingest, synthesize, label, validate, write.

Every partition is written atomically (temp file, Arrow schema, Great Expectations
suite, rename); the shard's marker ``_shards/<shard>.json`` (files with sha256 and row
counts, statistics) is written last, so a shard without a marker is unfinished and is
redone by the next run. Bad input fails that input, not the shard or the run: the marker lists it
(``failed_inputs``) with its error line; a bug fails the shard alone (``status: failed``, the traceback kept).
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import time
import traceback
from pathlib import Path

import pyarrow as pa

from schemas import (MAP_FEATURES_SCHEMA, SCENARIOS_SCHEMA, SIGNALS_SCHEMA, InputError, counterfactuals_schema,
                     scenario_to_tables)
from schemas.atomic import atomic_write_text
from synth.engine import SynthStats, synthesize_with_variants
from synth.sources import ProceduralSource, registry

from .config import PipelineConfig
from .io import write_parquet_atomic
from .shards import ShardSpec
from .validation import check_counterfactual_rules, validate_table


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def write_json_atomic(obj: dict, path: Path) -> None:
    """``obj`` as indented, key-sorted JSON (ASCII) at ``path``, atomically."""
    atomic_write_text(path, json.dumps(obj, indent=1, sort_keys=True, default=str))


def _inputs(spec: ShardSpec, cfg: PipelineConfig, options: dict):
    """``(input, scenarios)`` per input item of the shard (one for a procedural range)."""
    if spec.kind == "procedural":
        pcfg = dataclasses.replace(cfg.procedural, seed=cfg.seed)
        yield spec.describe(), ProceduralSource(pcfg, count=spec.stop - spec.start, start=spec.start).read()
        return
    adapters = registry()
    for item, name in zip(spec.items, spec.adapters):
        yield item, adapters[name].from_options(strict=False, **options).load(Path(item))  # checked by run_synth


def _validator(name: str, where: Path):
    def run(table: pa.Table) -> None:
        rep = validate_table(name, table)
        if not rep.success:
            raise InputError(rep.summary(), path=str(where))
        if name == "counterfactuals":
            check_counterfactual_rules(table, str(where))
    return run


def input_digest(item: str) -> str:
    """sha256 of an input's content: a file's bytes, or a folder's files (relative paths and bytes, sorted)."""
    path, h = Path(item), hashlib.sha256()
    files = sorted(f for f in path.rglob("*") if f.is_file()) if path.is_dir() else [path]
    for f in files:
        h.update(f.relative_to(path).as_posix().encode() if path.is_dir() else b"")
        h.update(sha256(f).encode())
    return h.hexdigest()


def _synthesize_input(scenarios, cfg: PipelineConfig, seen: dict, exclude: dict, item: str,
                      duplicates: list) -> tuple[list, list, SynthStats]:
    """Tables, scenario ids and statistics of one input. A scenario id met before (in this shard: ``seen``, in an
    earlier shard: ``exclude``; both map it to the input it came from) is a copy of that scene when both inputs
    hold the same bytes: it is left out and listed in ``duplicates``; from other content it is an ``InputError``
    (two scenes under one id would corrupt every later stage)."""
    tables, ids, stats = [], [], SynthStats()
    for source in scenarios:
        sid = source.scenario_id
        first = seen.get(sid) or exclude.get(sid)
        if first is not None:
            if first != item and input_digest(first) != input_digest(item):
                raise InputError(f"scenario id {sid!r} is also in {first} with other content: ids must be unique "
                                 "across inputs", path=item, field="scenario_id")
            duplicates.append({"scenario_id": sid, "input": item, "first_read_from": first})
            continue
        seen[sid] = item
        synthesized, st = synthesize_with_variants(source, cfg.synth, seed=cfg.seed)
        stats += st
        ids.append(sid)
        tables += [(*scenario_to_tables(scn), table) for scn, table in synthesized]
    return tables, ids, stats


def _remove_other_parts(out: Path, name: str, keep: set[str]) -> None:
    """Delete this shard's partitions that the new marker does not list (left by an earlier run of the shard)."""
    for p in [*out.glob(f"*/part-{name}.parquet"), *out.glob(f"counterfactuals/split=*/part-{name}.parquet")]:
        if p.relative_to(out).as_posix() not in keep:
            p.unlink()


def process_shard(spec: ShardSpec, out: str, cfg: PipelineConfig, options: dict | None = None, key: str = "",
                  exclude: dict | None = None) -> dict:
    """Run one shard and return its marker (also written to ``_shards/<shard>.json``).

    An input that fails (bad content: ``InputError``) is listed under ``failed_inputs`` with its error line and
    the shard publishes the others (status ``partial``; ``failed`` when none is left). Any other exception is a
    bug: the shard fails alone, its marker holds the error and the traceback. ``key`` identifies the run's
    configuration, source and code (:func:`pipelines.run.run_key`); ``exclude`` maps scenario ids published by
    earlier shards to the inputs they came from: such scenarios are listed under ``duplicates`` instead of published
    (an input holding one of those ids with other content fails, :func:`_synthesize_input`)."""
    out = Path(out)
    t0 = time.time()
    marker = {"shard": spec.name, "input": spec.describe(), "status": "ok", "error": None, "failed_inputs": [],
              "duplicates": [], "files": {}, "key": key}
    stats = SynthStats()
    try:
        rows, ids, seen = [], [], {}
        for item, scenarios in _inputs(spec, cfg, options or {}):
            dup = []
            try:
                tables, got, st = _synthesize_input(scenarios, cfg, dict(seen), exclude or {}, item, dup)
            except InputError as err:
                entry = {"input": item, "error": str(err)}
                if err.__cause__ is not None:      # converted by Source.load: keep where the reader gave up
                    entry["traceback"] = "".join(traceback.format_exception(err.__cause__))
                marker["failed_inputs"].append(entry)
                continue
            seen.update(dict.fromkeys(got, item))
            marker["duplicates"] += dup
            stats += st
            rows += tables
            ids += got
        scen, feats, sigs, cfs = (list(col) for col in zip(*rows)) if rows else ([], [], [], [])
        parts = {}
        if rows:
            parts = {
                f"scenarios/part-{spec.name}.parquet": (pa.concat_tables(scen), SCENARIOS_SCHEMA, "scenarios"),
                f"map_features/part-{spec.name}.parquet": (pa.concat_tables(feats), MAP_FEATURES_SCHEMA,
                                                           "map_features"),
                # always written (zero rows when no scene has signals), so every shard lists one
                f"signals/part-{spec.name}.parquet": (pa.concat_tables(sigs), SIGNALS_SCHEMA, "signals"),
            }
        cf_schema = counterfactuals_schema(cfg.synth.horizon_steps + 1)
        cf = pa.concat_tables(cfs) if cfs else cf_schema.empty_table()
        for split in ("train", "val", "test"):
            sub = cf.filter(pa.compute.equal(cf.column("split"), split))
            if len(sub):
                parts[f"counterfactuals/split={split}/part-{spec.name}.parquet"] = (sub, cf_schema, "counterfactuals")
        for rel, (table, schema, suite) in parts.items():
            path = write_parquet_atomic(table, out / rel, schema, _validator(suite, out / rel))
            marker["files"][rel] = {"sha256": sha256(path), "rows": table.num_rows}
        _remove_other_parts(out, spec.name, set(marker["files"]))
        marker["scenario_ids"] = ids
        marker["scenario_inputs"] = {i: seen[i] for i in ids}       # the input each published scene came from
        if marker["failed_inputs"]:
            marker["status"] = "partial" if ids else "failed"
            marker["error"] = f"{len(marker['failed_inputs'])} input(s) failed: " + "; ".join(
                f["error"] for f in marker["failed_inputs"])
    except InputError as err:
        marker.update(status="failed", error=str(err))
    except Exception as err:  # noqa: BLE001 (a bug fails this shard alone; the run reports it and exits non-zero)
        marker.update(status="failed", error=f"internal error ({type(err).__name__}: {err})",
                      traceback=traceback.format_exc())
    if marker["status"] == "failed":
        marker["files"] = {}
        _remove_other_parts(out, spec.name, set())     # an earlier attempt's partitions would look like strays
    marker["stats"] = stats.to_dict()
    marker["seconds"] = round(time.time() - t0, 3)
    write_json_atomic(marker, out / "_shards" / f"{spec.name}.json")
    return marker
