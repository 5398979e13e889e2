"""schemas.dataset.Dataset: the one reader of a synthesized dataset, on tiny hand-built folders."""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from schemas import Dataset, InputError, scenario_to_tables
from tests.fixtures.builders import tiny_scenario


def _put(root: Path, rel: str, table: pa.Table) -> dict:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, path)
    return {"rows": table.num_rows, "sha256": hashlib.sha256(path.read_bytes()).hexdigest()}


def _rows(split: str, *ids: str) -> pa.Table:
    """Counterfactual-like rows: ``<scenario>/<k>`` sample ids (only the columns the reader needs)."""
    sids = [i.split("/")[0] for i in ids]
    return pa.table({"sample_id": list(ids), "scenario_id": sids, "split": [split] * len(ids),
                     "anchor_frame": pa.array([2] * len(ids), pa.int32())})


def _canonical(root: Path, shard: str, *scenario_ids: str) -> dict:
    tables = [scenario_to_tables(tiny_scenario(scenario_id=s)) for s in scenario_ids]
    return {f"scenarios/part-{shard}.parquet": _put(root, f"scenarios/part-{shard}.parquet",
                                                    pa.concat_tables([a for a, _, _ in tables])),
            f"map_features/part-{shard}.parquet": _put(root, f"map_features/part-{shard}.parquet",
                                                       pa.concat_tables([b for _, b, _ in tables])),
            f"signals/part-{shard}.parquet": _put(root, f"signals/part-{shard}.parquet",
                                                  pa.concat_tables([c for _, _, c in tables]))}


def _manifest(shards: list[dict], **synth) -> dict:
    return {"source": "procedural", "seed": 7, "created": "2024-01-01T00:00:00+00:00",
            "config": {"seed": 7, "synth": {"horizon_steps": 4, "history_steps": 3, "dt": 0.1, **synth}},
            "shards": shards}


@pytest.fixture
def dataset(tmp_path) -> Path:
    """Two ok shards (train and val rows), one failed shard (test rows), and stray partitions that no
    shard lists (train rows, a scenario ``z``)."""
    root = tmp_path / "ds"
    s0 = {**_canonical(root, "00000", "a", "b"),
          "counterfactuals/split=train/part-00000.parquet": _put(root, "counterfactuals/split=train/part-00000.parquet",
                                                                 _rows("train", "a/0", "a/1")),
          "counterfactuals/split=val/part-00000.parquet": _put(root, "counterfactuals/split=val/part-00000.parquet",
                                                               _rows("val", "b/0"))}
    s1 = {**_canonical(root, "00001", "c"),
          "counterfactuals/split=train/part-00001.parquet": _put(root, "counterfactuals/split=train/part-00001.parquet",
                                                                 _rows("train", "c/0", "c/1"))}
    rel = "counterfactuals/split=test/part-00003.parquet"
    failed = {rel: _put(root, rel, _rows("test", "d/0"))}
    _put(root, "counterfactuals/split=train/part-00002.parquet", _rows("train", "stray/0"))   # listed nowhere
    _canonical(root, "00002", "z")
    # the shards in reverse: the reader orders partitions by name, not by the manifest
    shards = [{"shard": "00003", "status": "failed", "error": "bad input", "files": failed},
              {"shard": "00001", "status": "ok", "files": s1}, {"shard": "00000", "status": "ok", "files": s0}]
    (root / "_manifest.json").write_text(json.dumps(_manifest(shards)))
    return root


def test_counterfactuals_read_only_the_listed_partitions_in_name_order(dataset):
    t = Dataset(dataset).counterfactuals("train")
    assert t.column("sample_id").to_pylist() == ["a/0", "a/1", "c/0", "c/1"]   # no "stray/0"


def test_splits_are_those_with_listed_partitions_of_ok_shards(dataset):
    ds = Dataset(dataset)
    assert ds.splits == ("train", "val")   # the failed shard's test partition is on disk but not read
    with pytest.raises(InputError, match="split 'test'") as err:
        ds.counterfactuals("test")
    assert err.value.field == "split"


def test_several_splits_are_concatenated_in_the_order_given(dataset):
    ds = Dataset(dataset)
    assert ds.counterfactuals(["val", "train"]).column("sample_id").to_pylist() == ["b/0", "a/0", "a/1", "c/0", "c/1"]
    assert ds.counterfactuals(("train", "val")).num_rows == 5


def test_columns_selection_returns_only_those_columns_and_a_missing_one_names_file_and_field(dataset):
    ds = Dataset(dataset)
    t = ds.counterfactuals("train", columns=["scenario_id", "anchor_frame"])
    assert t.column_names == ["scenario_id", "anchor_frame"]
    assert t.column("scenario_id").to_pylist() == ["a", "a", "c", "c"]
    with pytest.raises(InputError, match="collision_at_fault") as err:
        ds.counterfactuals("val", columns=["sample_id", "collision_at_fault"])
    assert err.value.field == "collision_at_fault" and err.value.path.endswith("split=val/part-00000.parquet")


def test_scenarios_come_from_listed_partitions_only_and_round_trip(dataset):
    ds = Dataset(dataset)
    scns = ds.read_scenarios()
    assert sorted(scns) == ["a", "b", "c"]   # not "z", whose partitions no shard lists
    assert scns["c"].equals(tiny_scenario(scenario_id="c"))
    only = ds.read_scenarios(["c", "a"])
    assert sorted(only) == ["a", "c"] and only["a"].equals(tiny_scenario(scenario_id="a"))
    t = ds.scenarios(["b"])
    assert set(t.column("scenario_id").to_pylist()) == {"b"} and t.schema.metadata   # the schema version survives
    assert set(ds.map_features(["b"]).column("scenario_id").to_pylist()) == {"b"}


def test_manifest_facts_are_exposed(dataset):
    ds = Dataset(dataset)
    assert (ds.horizon_steps, ds.plan_states, ds.history_steps, ds.dt) == (4, 5, 3, 0.1)
    assert (ds.source, ds.seed, ds.created) == ("procedural", 7, "2024-01-01T00:00:00+00:00")
    assert [p.name for p in ds.files("counterfactuals", "train")] == ["part-00000.parquet", "part-00001.parquet"]
    assert {p.shard for p in ds.partitions} == {"00000", "00001"}


def test_a_missing_manifest_is_an_input_error_naming_the_file(tmp_path):
    with pytest.raises(InputError, match="_manifest.json: missing") as err:
        Dataset(tmp_path)
    assert err.value.path == str(tmp_path / "_manifest.json")


@pytest.mark.parametrize("text, field", [
    ("{not json", None),
    ("[1, 2]", None),
    (json.dumps({"config": {"synth": {"horizon_steps": 4, "history_steps": 3, "dt": 0.1}}}), "shards"),
    (json.dumps(_manifest([], horizon_steps="80")), "config.synth.horizon_steps"),
    (json.dumps(_manifest([{"shard": "0", "status": "ok", "files": {"../x.parquet": {"rows": 1, "sha256": "0"}}}])),
     "shards[0].files['../x.parquet']"),
    (json.dumps(_manifest([{"shard": "0", "status": "ok",
                            "files": {"scenarios/part-0.parquet": {"rows": -1, "sha256": "0"}}}])),
     "shards[0].files['scenarios/part-0.parquet']"),
])
def test_a_malformed_manifest_is_an_input_error_naming_the_field(tmp_path, text, field):
    (tmp_path / "_manifest.json").write_text(text)
    with pytest.raises(InputError) as err:
        Dataset(tmp_path)
    assert err.value.path == str(tmp_path / "_manifest.json") and err.value.field == field


def test_a_listed_partition_missing_on_disk_is_an_input_error(dataset):
    (dataset / "counterfactuals" / "split=train" / "part-00001.parquet").unlink()
    (dataset / "map_features" / "part-00000.parquet").unlink()
    ds = Dataset(dataset)
    with pytest.raises(InputError, match="part-00001.parquet: partition listed in the manifest is missing"):
        ds.counterfactuals("train")
    with pytest.raises(InputError, match="map_features/part-00000.parquet: partition listed"):
        ds.read_scenarios()
