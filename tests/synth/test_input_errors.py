"""One error path: every input a reader cannot take ends as one ``InputError`` line naming the file and the field
(exit 2), never a traceback; a bug elsewhere still shows as a bug; readers bound what they allocate; SQLite names
with URI characters and symlinked folders are read."""
import os
import sqlite3
import subprocess
import sys

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pipelines.cli import main
from schemas import InputError
from synth.sources import Av2Source, CommonRoadSource, NuPlanSource, discover
from tests.fixtures.builders import av2_folder, commonroad_xml, nuplan_db


def _inspect(capsys, path) -> tuple[int, str]:
    rc = main(["inspect", str(path)])
    return rc, capsys.readouterr().err.strip()


def _set_av2(folder, column, values):
    (pq_file,) = folder.glob("scenario_*.parquet")
    t = pq.read_table(pq_file)
    i = t.column_names.index(column)
    pq.write_table(t.set_column(i, column, pa.array(values)), pq_file)


def test_a_commonroad_obstacle_with_no_positioned_state_is_one_line_naming_file_and_field(tmp_path, capsys):
    p = commonroad_xml(tmp_path / "s.xml")
    text = p.read_text()
    start = text.index('<dynamicObstacle id="11">')
    end = text.index("</dynamicObstacle>", start)
    body = text[start:end]
    stripped = body.replace("<position><point>", "<position><nopoint>").replace("</point></position>",
                                                                              "</nopoint></position>")
    p.write_text(text[:start] + stripped + text[end:])
    rc, err = _inspect(capsys, p)
    assert rc == 2 and str(p) in err and "dynamicObstacle.initialState.position" in err and "11" in err
    assert "\n" not in err and "Traceback" not in err


@pytest.mark.parametrize("value, reason", [(None, "NULL"), ("soon", "not a number")])
def test_a_nuplan_timestamp_that_is_null_or_text_names_lidar_pc_timestamp(tmp_path, capsys, value, reason):
    db = nuplan_db(tmp_path / "log.db")
    con = sqlite3.connect(db)
    con.execute("UPDATE lidar_pc SET timestamp = ? WHERE rowid = 3", (value,))
    con.commit()
    con.close()
    rc, err = _inspect(capsys, db)
    assert rc == 2 and str(db) in err and "lidar_pc.timestamp" in err and reason in err


def test_an_av2_timestep_of_1e12_is_refused_before_allocating(tmp_path, capsys):
    folder = av2_folder(tmp_path)
    steps = pq.read_table(next(folder.glob("scenario_*.parquet"))).column("timestep").to_pylist()
    _set_av2(folder, "timestep", [10 ** 12 if i == 5 else s for i, s in enumerate(steps)])
    rc, err = _inspect(capsys, folder)
    assert rc == 2 and "timestep" in err and "frames" in err and "scenario_" in err


def test_an_av2_position_that_is_not_a_number_names_position_x(tmp_path, capsys):
    folder = av2_folder(tmp_path)
    xs = pq.read_table(next(folder.glob("scenario_*.parquet"))).column("position_x").to_pylist()
    _set_av2(folder, "position_x", ["abc" if i == 3 else str(x) for i, x in enumerate(xs)])
    rc, err = _inspect(capsys, folder)
    assert rc == 2 and "position_x" in err and "scenario_" in err and "abc" in err


def test_a_bug_outside_the_readers_is_not_reported_as_bad_input(tmp_path, monkeypatch):
    p = commonroad_xml(tmp_path / "s.xml")

    def broken(self, root, path):
        raise RuntimeError("a bug")

    monkeypatch.setattr(CommonRoadSource, "_convert", broken)
    with pytest.raises(RuntimeError, match="a bug"):
        main(["inspect", str(p)])


def test_the_command_line_shows_a_bug_as_a_traceback_with_exit_1(tmp_path):
    code = ("import sys; from synth.sources import CommonRoadSource as C; "
            "C._convert = lambda *a: (_ for _ in ()).throw(RuntimeError('a bug')); "
            "from pipelines.cli import main; sys.exit(main(sys.argv[1:]))")
    res = subprocess.run([sys.executable, "-c", code, "inspect", str(commonroad_xml(tmp_path / "s.xml"))],
                         capture_output=True, text=True, timeout=120)
    assert res.returncode == 1 and "Traceback" in res.stderr and "RuntimeError: a bug" in res.stderr


def test_a_nuplan_file_name_with_a_hash_reads_and_leaves_no_stray_file(tmp_path):
    db = nuplan_db(tmp_path / "log#1 ?x.db")
    before = set(os.listdir(tmp_path))
    (scn,) = NuPlanSource().load(db)
    assert scn.num_frames > 1 and set(os.listdir(tmp_path)) == before


def test_a_symlinked_folder_is_followed_once_and_a_link_loop_ends(tmp_path):
    real = tmp_path / "elsewhere"
    commonroad_xml((real / "a").mkdir(parents=True) or real / "a" / "s.xml")
    root = tmp_path / "data"
    root.mkdir()
    (root / "linked").symlink_to(real, target_is_directory=True)
    (real / "loop").symlink_to(root, target_is_directory=True)   # elsewhere/loop -> data -> linked -> elsewhere
    (root / "again").symlink_to(real, target_is_directory=True)  # a second link to the same data
    found = discover(root)
    assert [p.name for _, p in found] == ["s.xml"]


def test_load_names_the_file_for_content_a_reader_cannot_parse(tmp_path, monkeypatch):
    folder = av2_folder(tmp_path)
    monkeypatch.setattr(Av2Source, "_read", lambda self, a, b: [][1])    # an IndexError deep in a reader
    with pytest.raises(InputError, match="unreadable av2 input .IndexError") as err:
        list(Av2Source().load(folder))
    assert err.value.path == str(folder)
