import pyarrow as pa

from pipelines.validation import validate_table
from schemas import scenario_to_tables
from tests.fixtures.builders import tiny_scenario


def test_good_tables_pass_their_suites():
    a, b, _ = scenario_to_tables(tiny_scenario())
    assert validate_table("scenarios", a).success
    assert validate_table("map_features", b).success


def test_unknown_object_type_fails_the_scenarios_suite():
    a, _, _ = scenario_to_tables(tiny_scenario())
    bad = a.set_column(a.schema.get_field_index("object_type"), "object_type",
                       pa.array(["UFO"] * len(a), pa.string()))
    rep = validate_table("scenarios", bad)
    assert not rep.success and any("object_type" in f for f in rep.failures)


def test_null_position_on_a_valid_row_fails_the_suite():
    a, _, _ = scenario_to_tables(tiny_scenario())
    x = a.column("x").to_pylist()
    x[0] = None
    bad = a.set_column(a.schema.get_field_index("x"), "x", pa.array(x, pa.float64()))
    rep = validate_table("scenarios", bad)
    assert not rep.success and any("valid==True" in f for f in rep.failures)


def test_missing_line_type_fails_the_map_suite():
    _, b, _ = scenario_to_tables(tiny_scenario())
    lt = [None] * len(b)
    bad = b.set_column(b.schema.get_field_index("line_type"), "line_type", pa.array(lt, pa.string()))
    assert not validate_table("map_features", bad).success
