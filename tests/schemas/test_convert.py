import numpy as np
import pyarrow as pa
import pytest

from schemas import InputError, scenario_to_tables, tables_to_scenarios
from synth.sources import ProceduralSource, read_any
from tests.conftest import real_path
from tests.fixtures.builders import tiny_scenario


def _round_trip(scn):
    a, b, c = scenario_to_tables(scn)
    # through Arrow IPC bytes, as Parquet would store them
    back = tables_to_scenarios(pa.Table.from_batches(a.to_batches(), a.schema), b,
                               pa.Table.from_batches(c.to_batches(), c.schema))
    assert len(back) == 1
    return back[0]


def test_tiny_scenario_round_trips_exactly():
    scn = tiny_scenario()
    assert _round_trip(scn).equals(scn)


def test_round_trip_detects_a_changed_value():
    scn = tiny_scenario()
    a, b, c = scenario_to_tables(scn)
    x = a.column("x").to_numpy(zero_copy_only=False).copy()
    x[0] += 1e-9
    a = a.set_column(a.schema.get_field_index("x"), a.schema.field("x"), pa.array(x, mask=np.isnan(x)))
    assert not tables_to_scenarios(a, b, c)[0].equals(scn)


def test_procedural_scenarios_round_trip_exactly():
    for scn in ProceduralSource(count=3).read():
        assert _round_trip(scn).equals(scn)


@pytest.mark.parametrize("folder", ["nuscenes_mini_scenarionet", "av2_motion_forecasting", "commonroad_ngsim"])
def test_every_real_sample_round_trips_exactly(folder):
    scns = list(read_any(real_path(folder)))
    assert scns
    for scn in scns:
        assert _round_trip(scn).equals(scn), scn.scenario_id


def test_table_without_schema_version_is_refused():
    a, b, c = scenario_to_tables(tiny_scenario())
    with pytest.raises(InputError, match="schema_version"):
        tables_to_scenarios(a.replace_schema_metadata({}), b, c)


def test_missing_column_is_named():
    a, b, c = scenario_to_tables(tiny_scenario())
    with pytest.raises(InputError, match="heading: column is missing"):
        tables_to_scenarios(a.drop_columns(["heading"]), b, c)
