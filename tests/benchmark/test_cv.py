"""Cross-validation by log: folds are whole logs of about equal rows, nothing a fold trains or validates on
comes from its held-out logs, every row is predicted exactly once out of fold, the pooled table passes the
independent recompute, and a re-run keeps the finished folds."""
import json

import numpy as np
import pyarrow.parquet as pq
import pytest

from benchmark import cv
from benchmark.cv import assign_folds, run_cv, validation_logs
from benchmark.recompute import compare
from schemas.dataset import Dataset


def test_folds_are_whole_logs_of_about_equal_rows_and_k_zero_leaves_one_log_out():
    rows = {"a": 50, "b": 40, "c": 30, "d": 20, "e": 10, "f": 10}
    f = assign_folds(rows, 2)
    load = [sum(n for g, n in rows.items() if f[g] == k) for k in range(2)]
    assert sorted(load) == [80, 80]
    assert sorted(assign_folds(rows, 0).values()) == list(range(6))
    assert sorted(assign_folds(rows, 99).values()) == list(range(6))


def test_validation_holds_back_whole_logs_and_none_when_one_log_is_left():
    logs = [f"log{i}" for i in range(20)]
    val = validation_logs(logs)
    assert len(val) == 3 and set(val) <= set(logs)
    assert validation_logs(["only"]) == []


@pytest.fixture(scope="module")
def cv_run(synth_dataset, tmp_path_factory):
    from pipelines.presets import preset

    out = tmp_path_factory.mktemp("cv")
    seen = []
    real_fit = cv.fit

    def spy(tr, va, ck, cfg, **kw):
        seen.append((set(tr.sample_id), set(va.sample_id), ck.parent.name))
        return real_fit(tr, va, ck, cfg, **kw)

    mp = pytest.MonkeyPatch()
    mp.setattr(cv, "fit", spy)
    try:
        text = run_cv(synth_dataset, out, 2, preset("debug").train, resamples=20, log=lambda *a: None)
    finally:
        mp.undo()
    return out, text, seen


def test_no_fold_trains_or_validates_on_its_held_out_logs(cv_run, synth_dataset):
    out, _, seen = cv_run
    ds = Dataset(synth_dataset)
    cf = ds.counterfactuals(ds.splits, columns=["sample_id", "log_id"]).to_pydict()
    log_of = dict(zip(cf["sample_id"], cf["log_id"]))
    assert len(seen) == 2
    for tr, va, name in seen:
        held = set(json.loads((out / name / "fold.json").read_text())["key"]["test_logs"])
        assert held and not ({log_of[s] for s in tr} & held) and not ({log_of[s] for s in va} & held)
        assert not ({log_of[s] for s in tr} & {log_of[s] for s in va})


def test_every_row_is_predicted_once_out_of_fold_and_the_pooled_table_recomputes(cv_run, synth_dataset):
    out, text, _ = cv_run
    t = pq.read_table(out / "predictions.parquet").to_pydict()
    ds = Dataset(synth_dataset)
    all_rows = set(ds.counterfactuals(ds.splits, columns=["sample_id"]).column("sample_id").to_pylist())
    for model in ("impartial", "constant-velocity", "oracle"):
        sids = [s for s, m in zip(t["sample_id"], t["model"]) if m == model]
        assert len(sids) == len(set(sids)) == len(all_rows) and set(sids) == all_rows
    assert compare(out) == []
    assert "Out of fold, pooled" in text and "Per fold" in text and "source procedural" in text
    assert (out / "leaderboard_differences.csv").exists() and (out / "folds.csv").exists()


def test_a_rerun_keeps_the_finished_folds(cv_run, synth_dataset, monkeypatch):
    from pipelines.presets import preset

    out, text, _ = cv_run
    monkeypatch.setattr(cv, "fit", lambda *a, **k: pytest.fail("a finished fold was trained again"))
    lines = []
    again = run_cv(synth_dataset, out, 2, preset("debug").train, resamples=20, log=lines.append)
    assert sum("done before" in line for line in lines) == 2 and again == text


def test_one_fold_with_two_variants_scores_both_on_that_folds_logs_only(synth_dataset, tmp_path):
    from pipelines.presets import preset

    out = tmp_path / "cv"
    text = run_cv(synth_dataset, out, 2, preset("debug").train, resamples=20, log=lambda *a: None,
                  variants=("impartial", "optimistic"), only=(2,))
    t = pq.read_table(out / "predictions.parquet").to_pydict()
    held = set(json.loads((out / "fold_1" / "fold.json").read_text())["key"]["test_logs"])
    assert set(t["fold"]) == {1} and set(t["log_id"]) == held
    by_model = {m: sorted(s for s, mm in zip(t["sample_id"], t["model"]) if mm == m) for m in set(t["model"])}
    assert {"impartial", "optimistic", "constant-velocity", "oracle"} <= set(by_model)
    assert by_model["impartial"] == by_model["optimistic"] == by_model["constant-velocity"]
    assert (out / "fold_1" / "optimistic" / "model.safetensors").exists() and not (out / "fold_0").exists()
    assert "fold 2 only" in text and "optimistic" in text


def test_a_fold_that_does_not_exist_is_refused_in_one_line(synth_dataset, tmp_path):
    from pipelines.presets import preset
    from schemas import InputError

    with pytest.raises(InputError, match="fold 3 does not exist"):
        run_cv(synth_dataset, tmp_path / "cv", 2, preset("debug").train, log=lambda *a: None, only=(3,))
