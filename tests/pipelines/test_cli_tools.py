"""The tool subcommands of ``impartial``: recompute, by-family, ceiling, calibrate, schema-doc."""
import csv
import json
import shutil

import pyarrow.parquet as pq
import pytest

from pipelines.cli import main


@pytest.fixture(scope="module")
def bench_out(synth_dataset, tmp_path_factory):
    """``impartial benchmark`` output of the constant-velocity and oracle rows on ``synth_dataset``."""
    out = tmp_path_factory.mktemp("bench")
    assert main(["benchmark", "--data", str(synth_dataset), "--out", str(out), "--quiet"]) == 0
    return out


def test_schema_doc_prints_the_column_reference_of_every_table(capsys):
    from schemas.tables import markdown_reference

    assert main(["schema-doc"]) == 0
    assert capsys.readouterr().out == markdown_reference() + "\n"


def test_recompute_exits_0_on_a_fresh_leaderboard_and_1_naming_the_metric_on_a_tampered_one(bench_out, tmp_path, capsys):
    capsys.readouterr()
    assert main(["recompute", str(bench_out)]) == 0
    assert capsys.readouterr().out == (f"all metrics of {bench_out}/leaderboard.csv (and leaderboard_families.csv) "
                                       "recomputed exactly\n")
    tampered = tmp_path / "bench"
    shutil.copytree(bench_out, tampered)
    with open(tampered / "leaderboard.csv") as fh:
        rows = list(csv.DictReader(fh))
    rows[-1]["collision_auroc"] = "0.5"
    with open(tampered / "leaderboard.csv", "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    assert main(["recompute", str(tampered)]) == 1
    assert "oracle collision_auroc: recomputed" in capsys.readouterr().out


def test_by_family_prints_the_family_tables_of_the_predictions_and_honours_without(bench_out, capsys):
    from benchmark.by_family import family_leaderboard, family_markdown

    pred = pq.read_table(bench_out / "predictions.parquet")
    capsys.readouterr()
    assert main(["by-family", str(bench_out)]) == 0
    assert capsys.readouterr().out == family_markdown(family_leaderboard(pred)) + "\n"
    assert main(["by-family", str(bench_out), "--without", "braking", "--without", "logged"]) == 0
    assert "| all but braking,logged |" in capsys.readouterr().out


def test_by_family_on_a_folder_without_predictions_exits_2_with_one_line(tmp_path, capsys):
    assert main(["by-family", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "predictions.parquet" in err[0]


def test_ceiling_prints_the_bound_and_each_benchmarked_models_auroc_on_the_same_rows(synth_dataset, bench_out, capsys):
    capsys.readouterr()
    assert main(["ceiling", str(synth_dataset), "--bench", str(bench_out), "--forks", "2", "--workers", "1",
                 "--limit", "2"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].endswith(" anchors, 2 forks each") and " 2 anchors" in out[0]
    assert any(line.startswith("ceiling collision AUROC with   2 forks: ") for line in out)
    assert any(line.startswith("model oracle ") and "collision AUROC on the same rows" in line for line in out)


def test_calibrate_refits_a_checkpoint_without_calibration_and_stores_what_it_prints(debug_critic, synth_dataset,
                                                                                     tmp_path, capsys):
    ckpt = tmp_path / "ckpt"
    shutil.copytree(debug_critic[0], ckpt)
    cfg = json.loads((ckpt / "config.json").read_text())
    trained = cfg["_extra"].pop("calibration")
    (ckpt / "config.json").write_text(json.dumps(cfg))        # a checkpoint from before calibration existed
    capsys.readouterr()
    assert main(["calibrate", str(ckpt), str(synth_dataset)]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert json.loads((ckpt / "config.json").read_text())["_extra"]["calibration"] == printed
    assert printed.keys() == trained.keys() and all(abs(printed[k] - trained[k]) < 1e-6 for k in trained)
