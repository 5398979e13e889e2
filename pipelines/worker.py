"""One shard, start to finish, inside a Dask worker: ingest, synthesize, label, validate, write.

Every partition is written atomically (temp file, Arrow schema, Great Expectations
suite, rename); the shard's marker ``_shards/<shard>.json`` (files with sha256 and row
counts, statistics) is written last, so a shard without a marker is unfinished and is
redone by the next run. Bad input fails the shard, not the run: the marker then holds
``status: failed`` and the error line.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import time
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


def _scenarios(spec: ShardSpec, cfg: PipelineConfig, options: dict):
    if spec.kind == "procedural":
        pcfg = dataclasses.replace(cfg.procedural, seed=cfg.seed)
        yield from ProceduralSource(pcfg, count=spec.stop - spec.start, start=spec.start).read()
        return
    adapters = registry()
    for item, name in zip(spec.items, spec.adapters):
        cls = adapters[name]
        yield from cls.from_options(strict=False, **options).read(Path(item))  # checked by run_synth


def _validator(name: str, where: Path):
    def run(table: pa.Table) -> None:
        rep = validate_table(name, table)
        if not rep.success:
            raise InputError(rep.summary(), path=str(where))
        if name == "counterfactuals":
            check_counterfactual_rules(table, str(where))
    return run


def process_shard(spec: ShardSpec, out: str, cfg: PipelineConfig, options: dict | None = None) -> dict:
    """Run one shard and return its marker (also written to ``_shards/<shard>.json``)."""
    out = Path(out)
    t0 = time.time()
    marker = {"shard": spec.name, "input": spec.describe(), "status": "ok", "error": None, "files": {}}
    stats = SynthStats()
    try:
        scen, feats, sigs, cfs, ids = [], [], [], [], []
        for source in _scenarios(spec, cfg, options or {}):
            synthesized, st = synthesize_with_variants(source, cfg.synth, seed=cfg.seed)
            stats += st
            ids.append(source.scenario_id)
            for scn, table in synthesized:
                a, b, c = scenario_to_tables(scn)
                scen.append(a)
                feats.append(b)
                sigs.append(c)
                cfs.append(table)
        parts = {
            f"scenarios/part-{spec.name}.parquet": (pa.concat_tables(scen), SCENARIOS_SCHEMA, "scenarios"),
            f"map_features/part-{spec.name}.parquet": (pa.concat_tables(feats), MAP_FEATURES_SCHEMA, "map_features"),
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
        marker["scenario_ids"] = ids
    except InputError as err:
        marker.update(status="failed", error=str(err))
    marker["stats"] = stats.to_dict()
    marker["seconds"] = round(time.time() - t0, 3)
    write_json_atomic(marker, out / "_shards" / f"{spec.name}.json")
    return marker
