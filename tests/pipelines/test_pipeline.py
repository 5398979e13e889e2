import dataclasses
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from pipelines.presets import preset
from pipelines.run import run_synth
from pipelines.validate_dataset import validate_dataset
from tests.conftest import real_path
from tests.fixtures import builders

#: six scenes in shards of two (the debug preset makes 24: every split has scenes)
DEBUG = dataclasses.replace(preset("debug").pipeline, procedural_scenarios=6, scenarios_per_shard=2)


def _rows(out: Path) -> pa.Table:
    parts = sorted((out / "counterfactuals").rglob("*.parquet"))
    t = pa.concat_tables([pq.read_table(p) for p in parts])
    return t.sort_by("sample_id")


def test_debug_run_publishes_every_table_and_a_manifest(tmp_path):
    m = run_synth("procedural", tmp_path, DEBUG, workers=1, quiet=True)
    assert m["counts"]["scenarios"] == 6 and m["counts"]["counterfactuals"] == len(_rows(tmp_path))
    assert set(m["counts"]["by_outcome"]) <= {"SAFE", "NEAR_MISS", "COLLISION", "OFFROAD"}
    assert m["git_commit"] is None or len(m["git_commit"]) == 40
    assert m["config"]["synth"]["horizon_steps"] == 80 and not m["failed_shards"]
    for kind in ("scenarios", "map_features", "signals"):
        assert len(list((tmp_path / kind).glob("part-*.parquet"))) == 3
    assert validate_dataset(tmp_path)["ok"]
    # the signal layers come back with the scenarios (zero signal rows for scenes without signals)
    from schemas import Dataset
    from synth.sources import ProceduralSource

    back = Dataset(tmp_path).read_scenarios()
    source = ProceduralSource(dataclasses.replace(DEBUG.procedural, seed=DEBUG.seed), count=6).read()
    assert all(back[s.scenario_id].signals.equals(s.signals) for s in source)


def test_rerun_skips_finished_shards_and_redoes_half_written_ones(tmp_path):
    run_synth("procedural", tmp_path, DEBUG, workers=1, quiet=True)
    before = _rows(tmp_path)
    # simulate a crash in shard 00001: its marker and one partition gone, a temp file left
    (tmp_path / "_shards" / "00001.json").unlink()
    (tmp_path / "scenarios" / "part-00001.parquet").unlink()
    (tmp_path / "scenarios" / ".part-00001.parquet.deadbeef.tmp").write_bytes(b"half")
    m = run_synth("procedural", tmp_path, DEBUG, workers=1, quiet=True)
    assert m["run"]["shards_skipped_as_done"] == 2 and m["run"]["shards_run"] == 1
    assert m["run"]["temp_files_removed"] == 1
    assert _rows(tmp_path).equals(before)


def test_corrupted_partition_is_detected_by_validate(tmp_path):
    run_synth("procedural", tmp_path, DEBUG, workers=1, quiet=True)
    victim = sorted((tmp_path / "counterfactuals").rglob("*.parquet"))[0]
    data = bytearray(victim.read_bytes())
    data[len(data) // 2] ^= 0xFF
    victim.write_bytes(bytes(data))
    rep = validate_dataset(tmp_path)
    assert not rep["ok"] and any("corrupted" in line and victim.name in line for line in rep["lines"])


def _split_of_rows(out: Path) -> dict:
    return {sid: part.parent.name for part in (out / "counterfactuals").rglob("*.parquet")
            for sid in pq.read_table(part, columns=["sample_id"]).column("sample_id").to_pylist()}


def test_more_procedural_scenarios_keep_the_first_ones_rows_and_splits(tmp_path):
    """Growing ``procedural_scenarios`` (as the default did, 500 -> 1000) only adds scenarios: the
    rows of the first ones, and so every earlier test split, stay exactly the same."""
    run_synth("procedural", tmp_path / "few", dataclasses.replace(DEBUG, procedural_scenarios=4), workers=1, quiet=True)
    run_synth("procedural", tmp_path / "more", DEBUG, workers=1, quiet=True)
    few, more = _rows(tmp_path / "few"), _rows(tmp_path / "more")
    assert len(more) > len(few) > 0
    shared = more.filter(pc.is_in(more.column("sample_id"), few.column("sample_id")))
    assert shared.equals(few)
    splits_few = _split_of_rows(tmp_path / "few")
    assert {k: v for k, v in _split_of_rows(tmp_path / "more").items() if k in splits_few} == splits_few


def test_local_cluster_on_loopback_gives_exactly_the_rows_of_a_local_run(tmp_path):
    from distributed import LocalCluster

    run_synth("procedural", tmp_path / "local", DEBUG, workers=1, quiet=True)
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                      dashboard_address=None) as cluster:
        run_synth("procedural", tmp_path / "cluster", DEBUG, scheduler=cluster.scheduler_address, quiet=True)
    assert _rows(tmp_path / "local").equals(_rows(tmp_path / "cluster"))
    for kind in ("scenarios", "map_features"):
        a = pa.concat_tables([pq.read_table(p) for p in sorted((tmp_path / "local" / kind).glob("*.parquet"))])
        b = pa.concat_tables([pq.read_table(p) for p in sorted((tmp_path / "cluster" / kind).glob("*.parquet"))])
        assert a.equals(b)


def test_a_corrupt_file_among_good_ones_fails_only_itself(tmp_path):
    src = tmp_path / "logs"
    src.mkdir()
    builders.write_pickle(src / "a.pkl", builders.scenarionet_dict(T=120))
    bad = builders.scenarionet_dict(T=120)
    bad["id"] = "sn-second"
    builders.write_pickle(src / "b.pkl", bad)
    (src / "c.pkl").write_bytes((src / "a.pkl").read_bytes()[:400])  # truncated
    m = run_synth(str(src), tmp_path / "out", DEBUG, workers=1, quiet=True)
    failed = m["failed_inputs"]
    assert len(failed) == 1 and failed[0]["input"].endswith("c.pkl") and "truncated" in failed[0]["error"]
    assert [s["status"] for s in m["shards"]] == ["ok", "ok", "failed"]       # one file per shard in debug
    assert m["counts"]["scenarios"] == 2 and m["counts"]["counterfactuals"] > 0


def test_killing_a_worker_process_mid_run_then_rerunning_publishes_every_shard_once(tmp_path):
    out = tmp_path / "ds"
    cmd = [sys.executable, "-m", "pipelines.cli", "synth", "--preset", "debug", "--scenarios", "16", "--workers", "2",
           "--out", str(out), "--quiet"]
    n_shards = -(-16 // preset("debug").pipeline.scenarios_per_shard)   # 3 shards of at most 6 scenes
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    deadline = time.time() + 240
    while time.time() < deadline and len(list((out / "_shards").glob("*.json"))) < 1:
        time.sleep(0.2)
    # kill one real worker process (a child of the CLI process, started by a nanny) with SIGKILL
    import psutil

    workers = [c for c in psutil.Process(proc.pid).children(recursive=True)
               if "resource_tracker" not in " ".join(c.cmdline()) and "forkserver" not in " ".join(c.cmdline())]
    assert workers, "no worker process found"
    workers[0].send_signal(signal.SIGKILL)
    proc.wait(timeout=300)
    # whatever happened to that run, a re-run completes the dataset
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    m = json.loads((out / "_manifest.json").read_text())
    assert not m["failed_shards"] and len(m["shards"]) == n_shards
    names = [p.name for p in (out / "scenarios").glob("part-*.parquet")]
    assert sorted(names) == [f"part-{i:05d}.parquet" for i in range(n_shards)]
    ids = _rows(out).column("sample_id").to_pylist()
    assert len(ids) == len(set(ids)) == m["counts"]["counterfactuals"]
    assert not list(out.rglob(".*.tmp"))
    assert validate_dataset(out)["ok"]


def test_real_nuscenes_synthesis_produces_every_outcome(tmp_path):
    m = run_synth(str(real_path("nuscenes_mini_scenarionet")), tmp_path, DEBUG, workers=1, quiet=True)
    assert m["counts"]["scenarios"] == 10 and not m["failed_shards"]
    assert set(m["counts"]["by_outcome"]) == {"SAFE", "NEAR_MISS", "COLLISION", "OFFROAD"}
