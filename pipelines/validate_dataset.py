"""``impartial validate DIR [--docs OUT]``: re-check a published dataset.

For every partition the manifest lists: the file exists, its sha256 matches the one
recorded when it was published (any corruption shows), it parses, matches its Arrow
schema and passes its Great Expectations suite. Across partitions: sample ids are
unique, each scenario has one split (its hash split), and no partition is unlisted.
``--docs`` also runs the suites through a file-based Great Expectations context and
builds its Data Docs (HTML).
"""
from __future__ import annotations

from pathlib import Path

import pyarrow as pa

from schemas import MAP_FEATURES_SCHEMA, SCENARIOS_SCHEMA, SIGNALS_SCHEMA, InputError, counterfactuals_schema
from schemas.dataset import KINDS, PUBLISHED, Dataset

from .io import read_parquet_checked
from .validation import check_counterfactual_rules, to_frame, validate_table
from .worker import sha256


def _schema_for(kind: str, plan_steps: int) -> pa.Schema:
    if kind == "scenarios":
        return SCENARIOS_SCHEMA
    if kind == "map_features":
        return MAP_FEATURES_SCHEMA
    if kind == "signals":
        return SIGNALS_SCHEMA
    return counterfactuals_schema(plan_steps)


def validate_dataset(folder: str | Path, docs: str | None = None) -> dict:
    folder = Path(folder)
    lines, problems = [], 0
    try:
        ds = Dataset(folder)
    except InputError as err:   # a missing or malformed manifest
        return {"ok": False, "problems": 1, "lines": [str(err)]}
    listed = {p.rel: p for p in ds.partitions}
    sample_ids, split_of_log = set(), {}
    to_docs = []
    for shard in ds.manifest["shards"]:   # the manifest's order, so the report reads shard by shard
        if shard["status"] != "ok":
            lines.append(f"shard {shard['shard']} ({shard['input']}): {shard['status']}: {shard.get('error')}")
        if shard["status"] not in PUBLISHED:
            continue
        for rel in shard["files"]:
            part, path = listed[rel], folder / rel
            schema, suite = _schema_for(part.kind, ds.plan_states), part.kind
            try:
                if not path.exists():
                    raise InputError("partition is missing", path=str(path))
                if sha256(path) != part.sha256:
                    raise InputError("corrupted: sha256 differs from the one recorded at publication", path=str(path))
                table = read_parquet_checked(path, schema)
                if table.num_rows != part.rows:
                    raise InputError(f"{table.num_rows} rows, manifest says {part.rows}", path=str(path))
                rep = validate_table(suite, table)
                if not rep.success:
                    raise InputError(rep.summary(), path=str(path))
                if suite == "counterfactuals":
                    check_counterfactual_rules(table, str(path))
                    for log, sp in zip(table.column("log_id").to_pylist(), table.column("split").to_pylist()):
                        if split_of_log.setdefault(log, sp) != sp:
                            raise InputError(f"log {log!r} in two splits", path=str(path), field="split")
                    ids = table.column("sample_id").to_pylist()
                    dup = sample_ids.intersection(ids)
                    if dup:
                        raise InputError(f"{len(dup)} sample ids also in another partition, e.g. {sorted(dup)[0]!r}",
                                         path=str(path), field="sample_id")
                    sample_ids.update(ids)
                if docs:
                    to_docs.append((rel, suite, table))
            except InputError as err:
                problems += 1
                lines.append(f"FAIL {err}")
    for kind in KINDS:
        for p in sorted((folder / kind).rglob("*.parquet")) if (folder / kind).exists() else []:
            rel = str(p.relative_to(folder))
            if rel not in listed:
                problems += 1
                lines.append(f"FAIL {p}: partition not listed in the manifest (stray or from another run)")
    lines.append(f"{len(listed)} partitions, {len(sample_ids)} counterfactual rows checked; {problems} problem(s)")
    out = {"ok": problems == 0, "problems": problems, "lines": lines}
    if docs:
        out["docs"] = build_data_docs(to_docs, docs)
    return out


def build_data_docs(tables: list[tuple[str, str, pa.Table]], root: str) -> str:
    """Run each partition's suite in a file context under ``root`` and build its Data Docs."""
    import great_expectations as gx

    from .validation import make_context

    ctx, batches, suites = make_context(root)
    for rel, suite, table in tables:
        name = rel.replace("/", "__")
        vd = ctx.validation_definitions.add_or_update(gx.ValidationDefinition(name=name, data=batches[suite],
                                                                               suite=suites[suite]))
        cp = ctx.checkpoints.add_or_update(gx.Checkpoint(name=f"cp-{name}", validation_definitions=[vd],
                                                         actions=[gx.checkpoint.UpdateDataDocsAction(name="docs")]))
        cp.run(batch_parameters={"dataframe": to_frame(table)})
    sites = ctx.build_data_docs()
    return str(next(iter(sites.values())))
