"""Fuzzing every reader: small valid inputs of each format, mutated (truncated, wrong dtypes, NaN, huge values,
missing keys, duplicate ids), either load into valid ``Scenario`` objects or raise ``InputError``, never anything
else. Bounded: :data:`EXAMPLES` mutations per reader (about a minute in all on 2 cores)."""
from __future__ import annotations

import json
import pickle
import re
import sqlite3
import tempfile
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.feather as feather
import pyarrow.parquet as pq
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from schemas import InputError, Scenario
from synth.sources import Av2SensorSource, Av2Source, CommonRoadSource, NuPlanSource, ScenarioNetSource
from tests.fixtures.builders import av2_folder, commonroad_xml, nuplan_db, scenarionet_dict
from tests.synth.test_sources_av2_sensor import sensor_log

EXAMPLES = 150
FUZZ = settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
#: values a mutation puts where a field was: wrong types, NaN, huge, negative, empty
BAD_VALUES = [None, "abc", float("nan"), float("inf"), 1e300, -1, 10 ** 12, 2 ** 70, [], {}, True,
              np.array(["x", "y"]), np.zeros(0), np.full((3, 3), np.nan), b"\x00\xff"]


def _load(source, path: Path) -> None:
    """The property: load succeeds with valid scenarios, or raises InputError (anything else fails the test)."""
    try:
        scenarios = list(source.load(path))
    except InputError as err:
        assert str(err) and "\n" not in str(err)
        # counted by pytest --hypothesis-show-statistics: raised where the reader names the field, or converted
        # by Source.load from an exception of CONTENT_ERRORS deep in a reader (then the file is named, not the field)
        event(f"InputError converted from {type(err.__cause__).__name__}" if err.__cause__ is not None
              else "InputError raised by the reader")
        return
    event("loaded")
    for scn in scenarios:
        assert isinstance(scn, Scenario) and scn.num_frames >= 1


def _leaves(obj, path=()):
    """Every (path, value) of a nested dict / list (lists: the first three items)."""
    yield path, obj
    if isinstance(obj, dict):
        for k in list(obj)[:40]:
            yield from _leaves(obj[k], path + (k,))
    elif isinstance(obj, list):
        for i in range(min(3, len(obj))):
            yield from _leaves(obj[i], path + (i,))


def _mutate_tree(obj, choice: int, op: str, value, cut: int):
    paths = [p for p, _ in _leaves(obj) if p]
    path = paths[choice % len(paths)]
    parent = obj
    for k in path[:-1]:
        parent = parent[k]
    key = path[-1]
    if op == "drop" and isinstance(parent, dict):
        del parent[key]
    elif op == "truncate" and hasattr(parent[key], "__len__") and not isinstance(parent[key], (str, dict)):
        parent[key] = parent[key][: cut % (len(parent[key]) + 1)]
    elif op == "duplicate" and isinstance(parent, dict):
        parent[f"{key}"] = parent[key]
        parent[f"{key}-copy"] = parent[key]
    else:
        parent[key] = value
    return obj


tree_ops = st.tuples(st.integers(0, 10_000), st.sampled_from(["drop", "replace", "truncate", "duplicate"]),
                     st.sampled_from(BAD_VALUES), st.integers(0, 50))


@FUZZ
@given(tree_ops, st.integers(0, 100), st.booleans())
def test_scenarionet_pickles_mutated_load_or_raise_input_error(mut, byte_cut, cut_bytes):
    d = _mutate_tree(scenarionet_dict(T=30), *mut)
    with tempfile.TemporaryDirectory() as tmp:
        p = Path(tmp) / "s.pkl"
        data = pickle.dumps(d, protocol=4)
        p.write_bytes(data[: len(data) * byte_cut // 100] if cut_bytes else data)
        _load(ScenarioNetSource(), p)


def _mutate_table(t: pa.Table, col: int, op: str, value, row: int) -> pa.Table:
    name = t.column_names[col % t.num_columns]
    i = t.column_names.index(name)
    if op == "drop":
        return t.drop_columns([name])
    if op == "as_text":
        return t.set_column(i, name, pa.array([str(v) for v in t.column(name).to_pylist()]))
    if op == "duplicate_rows":
        return pa.concat_tables([t, t])
    if op == "truncate":
        return t.slice(0, row % (t.num_rows + 1))
    vals = t.column(name).to_pylist()
    vals[row % len(vals)] = value if not isinstance(value, np.ndarray) else value.tolist()
    try:
        arr = pa.array(vals)
    except (pa.ArrowException, TypeError, ValueError, OverflowError):
        arr = pa.array([None if v is None else str(v) for v in vals])
    return t.set_column(i, name, arr)


table_ops = st.tuples(st.integers(0, 100), st.sampled_from(["drop", "as_text", "duplicate_rows", "truncate", "set"]),
                      st.sampled_from([None, "abc", float("nan"), float("inf"), 1e300, -1, 10 ** 12, 2 ** 62]),
                      st.integers(0, 1000))


@FUZZ
@given(table_ops, tree_ops, st.booleans())
def test_argoverse2_scenarios_mutated_load_or_raise_input_error(tmut, jmut, in_map):
    with tempfile.TemporaryDirectory() as tmp:
        folder = av2_folder(Path(tmp))
        if in_map:
            (mp,) = folder.glob("log_map_archive_*.json")
            mp.write_text(json.dumps(_mutate_tree(json.loads(mp.read_text()), *jmut), default=str,
                                     allow_nan=True))
        else:
            (pf,) = folder.glob("scenario_*.parquet")
            pq.write_table(_mutate_table(pq.read_table(pf), *tmut), pf)
        _load(Av2Source(), folder)


@FUZZ
@given(table_ops, st.sampled_from(["annotations", "poses"]))
def test_argoverse2_sensor_logs_mutated_load_or_raise_input_error(tmut, which):
    with tempfile.TemporaryDirectory() as tmp:
        folder = sensor_log(Path(tmp))
        f = folder / ("annotations.feather" if which == "annotations" else "city_SE3_egovehicle.feather")
        feather.write_feather(_mutate_table(feather.read_table(f), *tmut), f)
        _load(Av2SensorSource(), folder)


_NUMBER = re.compile(r"-?\d+(?:\.\d+)?")
_ELEMENT = re.compile(r"<(position|orientation|time|velocity|shape|initialState|trajectory|leftBound|point|exact)>")


@FUZZ
@given(st.sampled_from(["number", "element", "truncate", "duplicate_id"]), st.integers(0, 10_000),
       st.sampled_from(["abc", "nan", "inf", "1e308", "-5", "99999999999", ""]), st.sampled_from(["2018b", "2020a"]))
def test_commonroad_files_mutated_load_or_raise_input_error(op, where, value, version):
    with tempfile.TemporaryDirectory() as tmp:
        p = commonroad_xml(Path(tmp) / "s.xml", version)
        text = p.read_text()
        if op == "number":
            ms = list(_NUMBER.finditer(text))
            m = ms[where % len(ms)]
            text = text[:m.start()] + value + text[m.end():]
        elif op == "element":
            ms = list(_ELEMENT.finditer(text))
            m = ms[where % len(ms)]
            close = text.find(f"</{m.group(1)}>", m.end())
            text = text[:m.start()] + text[close + len(m.group(1)) + 3:] if close > 0 else text
        elif op == "truncate":
            text = text[: where % len(text)]
        else:
            text = text.replace('id="11"', 'id="10"')
        p.write_text(text)
        _load(CommonRoadSource(), p)


_NUPLAN_FIELDS = [("lidar_pc", "timestamp"), ("lidar_pc", "scene_token"), ("lidar_pc", "ego_pose_token"),
                  ("ego_pose", "x"), ("ego_pose", "qw"), ("ego_pose", "timestamp"), ("lidar_box", "x"),
                  ("lidar_box", "yaw"), ("lidar_box", "length"), ("lidar_box", "track_token"), ("track", "token"),
                  ("category", "name"), ("log", "map_version"), ("scene", "name"), ("traffic_light_status", "status")]


@FUZZ
@given(st.sampled_from(_NUPLAN_FIELDS), st.sampled_from(["set", "delete_rows", "drop_table", "truncate_file"]),
       st.sampled_from([None, "abc", float("nan"), 1e300, -1, 10 ** 18, b"\x00"]), st.integers(0, 80))
def test_nuplan_logs_mutated_load_or_raise_input_error(field, op, value, row):
    table, column = field
    with tempfile.TemporaryDirectory() as tmp:
        db = nuplan_db(Path(tmp) / "log.db")
        if op == "truncate_file":
            data = db.read_bytes()
            db.write_bytes(data[: len(data) * row // 100])
        else:
            con = sqlite3.connect(db)
            if op == "set":
                con.execute(f"UPDATE {table} SET {column} = ? WHERE rowid = (SELECT rowid FROM {table} LIMIT 1 "
                            f"OFFSET ?)", (value, row % 40))
            elif op == "delete_rows":
                con.execute(f"DELETE FROM {table}")
            else:
                con.execute(f"DROP TABLE {table}")
            con.commit()
            con.close()
        _load(NuPlanSource(), db)
