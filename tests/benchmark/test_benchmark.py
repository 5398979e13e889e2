import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from benchmark.constant_velocity import ConstantVelocityModel
from benchmark.evaluate import leaderboard_from_predictions, run_benchmark, slice_leaderboards
from benchmark.models import CriticModel, OracleModel
from benchmark.recompute import compare
from benchmark.report import markdown, write_csv, write_html


def test_benchmark_writes_every_output_and_recomputes_exactly(synth_dataset, debug_critic, tmp_path):
    models = [CriticModel("debug", str(debug_critic[0])), ConstantVelocityModel(), OracleModel()]
    rows, bench, preds = run_benchmark(synth_dataset, models, tmp_path, log=lambda *a: None)
    names = [r["model"] for r in rows]
    assert names == ["debug", "debug (occupancy)", "constant-velocity", "oracle"]
    md = markdown(rows)
    write_csv(rows, tmp_path / "leaderboard.csv")
    write_html(rows, preds, bench, tmp_path / "report.html")
    assert "| oracle |" in md and (tmp_path / "report.html").read_text().count("data:image/png;base64") >= 2
    t = pq.read_table(tmp_path / "predictions.parquet")
    assert t.num_rows == 4 * bench.arrays.num_rows and {"risk", "collision_time_s", "g_inter"} <= set(t.column_names)
    assert compare(tmp_path) == []
    oracle = rows[-1]
    assert oracle["collision_auroc"] == 1.0 and oracle["causal_pairwise_acc"] == 1.0 and oracle["g_iou"] == 1.0
    cv = rows[2]
    assert cv["offroad_auroc"] == 1.0  # the static map makes off-road exact for a geometric model


def test_recompute_detects_a_tampered_leaderboard(synth_dataset, debug_critic, tmp_path):
    rows, _, _ = run_benchmark(synth_dataset, [OracleModel()], tmp_path, log=lambda *a: None)
    rows[0]["collision_auroc"] = 0.5
    write_csv(rows, tmp_path / "leaderboard.csv")
    assert any("collision_auroc" in p for p in compare(tmp_path))


def test_slices_split_rows_into_source_scenes_and_scene_variants(synth_dataset, tmp_path):
    run_benchmark(synth_dataset, [OracleModel()], tmp_path, log=lambda *a: None)
    t = pq.read_table(tmp_path / "predictions.parquet")
    t = t.drop(["sample_id"]).append_column(
        "sample_id", pa.array([f"s{i % 3}~hist-lead_brake-0/a0011/{i:03d}" if i % 2 else f"s{i % 3}/a0011/{i:03d}"
                               for i in range(t.num_rows)]))
    slices = slice_leaderboards(t)
    assert [r[0]["plans"] for r in slices.values()] == [(t.num_rows + 1) // 2, t.num_rows // 2]
    whole = leaderboard_from_predictions(t)[0]
    assert all(r[0]["collision_auroc"] == whole["collision_auroc"] == 1.0 for r in slices.values())


def test_benchmark_cli_writes_the_family_tables_and_the_recompute_checks_them(synth_dataset, debug_critic, tmp_path, capsys):
    import csv

    from benchmark.by_family import read_families
    from pipelines.cli import main

    out = tmp_path / "bench"
    assert main(["benchmark", "--data", str(synth_dataset), "--critic", f"debug={debug_critic[0]}", "--out", str(out),
                 "--quiet"]) == 0
    t = pq.read_table(out / "predictions.parquet")
    truth = read_families(synth_dataset, ("test",))
    assert t.column("family").to_pylist() == [truth[s] for s in t.column("sample_id").to_pylist()]
    md = (out / "leaderboard.md").read_text()
    assert "### Collision AUROC by perturbation family" in md and "all but agent_perturbation" in md
    assert "Collision AUROC by perturbation family" in (out / "report.html").read_text()
    with open(out / "leaderboard_families.csv") as fh:
        rows = list(csv.DictReader(fh))
    oracle_all = [r for r in rows if r["model"] == "oracle" and r["group"] == "all" and r["event"] == "collision"]
    assert len(oracle_all) == 1 and float(oracle_all[0]["auroc"]) == 1.0
    assert int(oracle_all[0]["plans"]) == t.num_rows // 4        # debug, debug (occupancy), constant-velocity, oracle
    assert compare(out) == []
    tampered = [dict(r, auroc="0.5") if r["model"] == "debug" and r["group"] == "all" else r for r in rows]
    with open(out / "leaderboard_families.csv", "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(tampered)
    assert any("debug collision all: recomputed AUROC" in p for p in compare(out))


def test_html_table_turns_titles_notes_and_pipe_tables_into_html_and_escapes_cells():
    from benchmark.report import html_table

    got = html_table("### Title\n\n`all but x`: a <note>.\n\n| model | a&b |\n|---|---|\n| m | 0.5 |\n")
    assert got == ("<h2>Title</h2><p>all but x: a &lt;note&gt;.</p><table><tr><th>model</th><th>a&amp;b</th></tr>"
                   "<tr><td>m</td><td>0.5</td></tr></table>")


def test_by_scene_kind_gives_the_oracle_auroc_1_per_kind_with_intervals_over_logs(synth_dataset, tmp_path, capsys):
    """The oracle ranks perfectly on every scene kind (interval [1, 1]); the constant-velocity rule's paired
    difference from it is at most 0; the kinds are the dataset's map names."""
    from benchmark.by_scene_kind import ALL, by_scene_kind
    from pipelines.cli import main

    run_benchmark(synth_dataset, [OracleModel(), ConstantVelocityModel()], tmp_path, log=lambda *a: None)
    rows = by_scene_kind(tmp_path, synth_dataset, resamples=50)
    kinds = {r["kind"] for r in rows}
    assert ALL in kinds and kinds - {ALL} <= {"procedural-road", "procedural-junction"}
    for r in rows:
        if r["model"] == "oracle" and r["positives"] and r["positives"] < r["rows"]:
            assert (r["auroc"].value, r["auroc"].lo, r["auroc"].hi) == (1.0, 1.0, 1.0)
        if r["minus_reference"] is not None and np.isfinite(r["minus_reference"].value):
            assert r["minus_reference"].hi <= 1e-12
    assert sum(r["rows"] for r in rows if r["kind"] != ALL and r["model"] == "oracle") == \
        next(r["rows"] for r in rows if r["kind"] == ALL and r["model"] == "oracle")
    assert main(["by-scene-kind", str(tmp_path), str(synth_dataset), "--resamples", "20"]) == 0
    assert "minus oracle" in capsys.readouterr().out
