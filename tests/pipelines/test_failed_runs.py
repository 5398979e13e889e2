"""Runs that fail say so, re-runs never mix configurations, a scene read twice is published once, and the sweep of
temp files removes only this package's own."""
import json
import shutil

import pyarrow.parquet as pq
import pytest

from pipelines.cli import EXIT_BAD_INPUT, EXIT_FAILED_INPUTS, main
from pipelines.run import clean_temp_files
from pipelines.validate_dataset import validate_dataset
from schemas.dataset import Dataset
from tests.fixtures import builders


def _synth(*args) -> int:
    return main(["synth", "--preset", "debug", "--workers", "1", "--quiet", *args])


def _logs(tmp_path, good: int = 1, bad: int = 1):
    src = tmp_path / "logs"
    src.mkdir()
    for i in range(good):
        d = builders.scenarionet_dict(T=120)
        d["id"] = f"sn-good-{i}"
        builders.write_pickle(src / f"good{i}.pkl", d)
    for i in range(bad):
        (src / f"bad{i}.pkl").write_bytes(b"\x80\x04not a pickle at all")
    return src


def test_one_good_and_one_corrupt_file_publishes_the_good_one_and_exits_3_naming_the_bad(tmp_path, capsys):
    src = _logs(tmp_path)
    out = tmp_path / "out"
    assert _synth("--source", str(src), "--out", str(out)) == EXIT_FAILED_INPUTS
    err = capsys.readouterr().err
    assert "bad0.pkl" in err and "1 input(s) failed" in err and "good0.pkl" not in err
    ds = Dataset(out)
    assert {i.split("~")[0] for i in ds.scenarios().column("scenario_id").to_pylist()} == {"sn-good-0"}
    m = json.loads((out / "_manifest.json").read_text())
    assert [f["input"].rsplit("/", 1)[-1] for f in m["failed_inputs"]] == ["bad0.pkl"]


def test_a_folder_of_only_corrupt_files_exits_3_and_says_nothing_was_published(tmp_path, capsys):
    src = _logs(tmp_path, good=0, bad=2)
    assert _synth("--source", str(src), "--out", str(tmp_path / "out")) == EXIT_FAILED_INPUTS
    err = capsys.readouterr().err
    assert "2 input(s) failed; nothing was published" in err and "bad0.pkl" in err and "bad1.pkl" in err


def test_a_bug_in_a_shard_fails_that_shard_alone_and_the_run_exits_3(tmp_path, capsys, monkeypatch):
    import pipelines.worker as worker

    real = worker.synthesize_with_variants
    calls = []

    def flaky(source, cfg, seed):
        calls.append(source.scenario_id)
        if len(calls) == 1:
            raise RuntimeError("a bug in synthesis")
        return real(source, cfg, seed=seed)

    monkeypatch.setattr(worker, "synthesize_with_variants", flaky)
    out = tmp_path / "out"
    assert _synth("--scenarios", "12", "--out", str(out)) == EXIT_FAILED_INPUTS
    m = json.loads((out / "_manifest.json").read_text())
    (failed,) = m["failed_shards"]
    assert "internal error (RuntimeError: a bug in synthesis)" in failed["error"]
    assert len(m["shards"]) == 2 and m["counts"]["counterfactuals"] > 0
    assert "RuntimeError" in json.loads((out / "_shards" / f"{failed['shard']}.json").read_text())["traceback"]


def _rows(out) -> int:
    ds = Dataset(out)
    return ds.counterfactuals(ds.splits, columns=["sample_id"]).num_rows


def test_a_rerun_with_another_seed_is_refused_and_overwrite_never_mixes_the_two(tmp_path, capsys):
    out = tmp_path / "out"
    assert _synth("--scenarios", "12", "--out", str(out)) == 0
    first = _rows(out)
    assert _synth("--scenarios", "6", "--seed", "7", "--out", str(out)) == EXIT_BAD_INPUT
    err = capsys.readouterr().err
    assert "another run" in err and "seed 0 -> 7" in err and "--overwrite" in err
    assert _rows(out) == first
    assert _synth("--scenarios", "6", "--seed", "7", "--out", str(out), "--overwrite") == 0
    m = json.loads((out / "_manifest.json").read_text())
    assert m["seed"] == 7 and len(m["shards"]) == 1
    on_disk = sorted(p.relative_to(out).as_posix() for p in out.rglob("part-*.parquet"))
    assert on_disk == sorted(m["shards"][0]["files"])           # nothing of the seed-0 run is left
    rows = sum(pq.read_metadata(out / f).num_rows for f in on_disk if f.startswith("counterfactuals/"))
    assert rows == m["counts"]["counterfactuals"] == _rows(out)


def test_a_rerun_of_the_same_configuration_still_resumes(tmp_path):
    out = tmp_path / "out"
    assert _synth("--scenarios", "12", "--out", str(out)) == 0
    assert _synth("--scenarios", "12", "--out", str(out)) == 0
    assert json.loads((out / "_manifest.json").read_text())["run"]["shards_skipped_as_done"] == 2


def _files_per_shard(monkeypatch, n: int) -> None:
    import dataclasses

    import pipelines.presets as presets

    debug = presets.PRESETS["debug"]
    monkeypatch.setitem(presets.PRESETS, "debug", dataclasses.replace(
        debug, pipeline=dataclasses.replace(debug.pipeline, files_per_shard=n)))


def test_a_shard_with_one_bad_input_publishes_the_others_to_every_reader(tmp_path, capsys, monkeypatch):
    _files_per_shard(monkeypatch, 4)
    src = _logs(tmp_path, good=2, bad=1)
    out = tmp_path / "out"
    assert _synth("--source", str(src), "--out", str(out)) == EXIT_FAILED_INPUTS
    m = json.loads((out / "_manifest.json").read_text())
    assert [s["status"] for s in m["shards"]] == ["partial"] and not m["failed_shards"]
    ds = Dataset(out)
    assert {i.split("~")[0] for i in ds.scenarios().column("scenario_id").to_pylist()} == {"sn-good-0", "sn-good-1"}
    assert _rows(out) == m["counts"]["counterfactuals"] > 0
    assert validate_dataset(out)["ok"]


def test_two_different_scenes_under_one_id_fail_the_later_input(tmp_path, capsys, monkeypatch):
    _files_per_shard(monkeypatch, 1)
    src = tmp_path / "logs"
    src.mkdir()
    a, b = builders.scenarionet_dict(T=120), builders.scenarionet_dict(T=120)
    b["metadata"]["map"] = "another-town"
    builders.write_pickle(src / "a.pkl", a)
    builders.write_pickle(src / "b.pkl", b)
    out = tmp_path / "out"
    assert _synth("--source", str(src), "--out", str(out)) == EXIT_FAILED_INPUTS
    err = capsys.readouterr().err
    assert "b.pkl: scenario_id: scenario id 'sn-tiny' is also in" in err and "a.pkl with other content" in err
    m = json.loads((out / "_manifest.json").read_text())
    assert [s["status"] for s in m["shards"]] == ["ok", "failed"]


@pytest.mark.parametrize("per_shard", [1, 4])
def test_one_scene_in_two_folders_is_published_once(tmp_path, capsys, per_shard, monkeypatch):
    src = tmp_path / "logs"
    for folder in ("a", "b"):
        (src / folder).mkdir(parents=True)
        builders.write_pickle(src / folder / "scene.pkl", builders.scenarionet_dict(T=120))
    _files_per_shard(monkeypatch, per_shard)
    out = tmp_path / "out"
    assert _synth("--source", str(src), "--out", str(out)) == 0
    assert "was read before" in capsys.readouterr().err
    m = json.loads((out / "_manifest.json").read_text())
    published = [i for s in m["shards"] for i in json.loads((out / "_shards" / f"{s['shard']}.json").read_text())
                 .get("scenario_ids", [])]
    assert published == ["sn-tiny"]
    ds = Dataset(out)
    sids = ds.counterfactuals(ds.splits, columns=["sample_id"]).column("sample_id").to_pylist()
    assert sids and len(sids) == len(set(sids))
    assert [d["scenario_id"] for d in m["duplicates"]] == ["sn-tiny"] and m["duplicates"][0]["input"].endswith(
        "b/scene.pkl")


def test_the_temp_sweep_removes_only_this_packages_temp_files(tmp_path):
    mine = tmp_path / "scenarios" / ".part-00000.parquet.0a1b2c3d.tmp"
    mine.parent.mkdir()
    mine.write_bytes(b"x")
    theirs = [tmp_path / ".notes.tmp", tmp_path / "scenarios" / ".draft.final.tmp"]
    for p in theirs:
        p.write_text("keep me")
    assert clean_temp_files(tmp_path) == 1
    assert not mine.exists() and all(p.exists() for p in theirs)
    shutil.rmtree(tmp_path / "scenarios")
