import json
import subprocess
import sys

import pytest

from tests.conftest import real_path
from tests.fixtures import builders


def run(*args):
    return subprocess.run([sys.executable, "-m", "pipelines.cli", *map(str, args)], capture_output=True, text=True,
                          timeout=300)


def test_inspect_real_nuscenes_reports_ten_scenarios_as_json():
    res = run("inspect", real_path("nuscenes_mini_scenarionet"), "--json")
    assert res.returncode == 0, res.stderr
    out = json.loads(res.stdout)
    assert out["num_scenarios"] == 10
    for st in out["scenarios"]:
        assert st["drivable_area_source"] == "DERIVED" and st["ego_inside_drivable_fraction"] >= 0.95
        assert st["agents"]["vehicle"] > 0 and st["frames"] >= 191


def test_inspect_procedural_draws_a_png(tmp_path):
    png = tmp_path / "scene.png"
    res = run("inspect", "procedural", "--count", "2", "--png", png)
    assert res.returncode == 0, res.stderr
    assert png.stat().st_size > 10_000 and (tmp_path / "scene-001.png").exists()
    assert "2 scenario(s)" in res.stdout and "ego frames inside: 100.0 %" in res.stdout


def _bad_inputs(tmp_path):
    good = builders.write_pickle(tmp_path / "good.pkl", builders.scenarionet_dict())
    cut = tmp_path / "truncated.pkl"
    cut.write_bytes(good.read_bytes()[:300])
    nan = builders.scenarionet_dict()
    nan["tracks"]["car"]["state"]["position"][2, 1] = float("nan")
    empty = builders.scenarionet_dict()
    empty["tracks"]["car"]["state"]["valid"][:] = 0
    return {
        "truncated": (cut, "truncated"),
        "os.system": (builders.malicious_pickle(tmp_path / "evil.pkl", tmp_path / "pwned"), "forbidden"),
        "db missing table": (builders.nuplan_db(tmp_path / "log.db", skip_tables=("track",)), "track: table is missing"),
        "parquet missing column": (builders.av2_folder(tmp_path / "av2", drop_column="position_y"),
                                   "position_y: column is missing"),
        "NaN positions": (builders.write_pickle(tmp_path / "nan.pkl", nan), "NaN position"),
        "zero valid frames": (builders.write_pickle(tmp_path / "empty.pkl", empty), "zero valid frames"),
    }


@pytest.mark.parametrize("case", ["truncated", "os.system", "db missing table", "parquet missing column",
                                  "NaN positions", "zero valid frames"])
def test_bad_input_exits_2_with_one_line_naming_file_and_problem(tmp_path, case):
    path, problem = _bad_inputs(tmp_path)[case]
    res = run("inspect", path)
    assert res.returncode == 2
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in res.stderr, res.stderr
    assert problem in lines[0] and path.name in lines[0]
    assert not (tmp_path / "pwned").exists()


def test_missing_path_exits_2():
    res = run("inspect", "/nonexistent/folder")
    assert res.returncode == 2 and "no such file" in res.stderr


def test_ingest_writes_validated_canonical_tables_that_round_trip(tmp_path):
    import pyarrow.parquet as pq

    from schemas import tables_to_scenarios
    from synth.sources import ProceduralSource

    res = run("ingest", "procedural", "--count", "2", "--out", tmp_path / "ds")
    assert res.returncode == 0, res.stderr
    a = pq.read_table(tmp_path / "ds" / "scenarios" / "part-00000.parquet")
    b = pq.read_table(tmp_path / "ds" / "map_features" / "part-00000.parquet")
    c = pq.read_table(tmp_path / "ds" / "signals" / "part-00000.parquet")
    back = tables_to_scenarios(a, b, c)
    expected = list(ProceduralSource(count=2).read())
    assert len(back) == 2 and all(x.equals(y) for x, y in zip(back, expected))
    assert not list((tmp_path / "ds").rglob("*.tmp"))


def test_render_draws_a_collision_to_png_and_gif(tmp_path):
    png, gif = tmp_path / "c.png", tmp_path / "c.gif"
    res = run("render", "procedural", "--count", "1", "--preset", "debug", "--outcome", "COLLISION",
              "--png", png, "--gif", gif)
    assert res.returncode == 0, res.stderr
    assert "-> COLLISION" in res.stdout
    assert png.stat().st_size > 20_000 and gif.read_bytes()[:6] in (b"GIF89a", b"GIF87a")


def test_render_with_an_impossible_filter_exits_2(tmp_path):
    res = run("render", "procedural", "--count", "1", "--preset", "debug", "--family", "no_such_family",
              "--png", tmp_path / "x.png")
    assert res.returncode == 2 and "no counterfactual matches" in res.stderr
