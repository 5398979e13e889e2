import pytest

from schemas import InputError
from synth.sources import CommonRoadSource, NuPlanSource, ScenarioNetSource, read_any
from tests.fixtures import builders


def test_an_option_the_source_does_not_take_is_an_input_error_naming_source_option_and_what_it_accepts():
    with pytest.raises(InputError) as err:
        ScenarioNetSource.from_options(ego_id="car")
    msg = str(err.value)
    assert "'scenarionet'" in msg and "'ego_id'" in msg and "accepts: smooth_ego" in msg
    assert err.value.field == "ego_id"


def test_options_the_source_takes_are_passed_and_none_means_not_given():
    assert CommonRoadSource.from_options(ego_id="7").ego_id == "7"
    assert CommonRoadSource.from_options(ego_id=None).ego_id is None
    assert NuPlanSource.from_options(map_root=None, ego_id=None).map_root is None


def test_read_any_with_an_option_of_another_format_refuses_instead_of_dropping_it(tmp_path):
    pkl = builders.write_pickle(tmp_path / "s.pkl", builders.scenarionet_dict())
    assert len(list(read_any(pkl))) == 1
    with pytest.raises(InputError, match="no input here takes the option 'map_root'") as err:
        list(read_any(pkl, map_root=str(tmp_path)))
    assert "scenarionet: smooth_ego" in str(err.value)


def test_a_folder_of_two_formats_gives_each_adapter_the_options_it_takes(tmp_path):
    builders.write_pickle(tmp_path / "s.pkl", builders.scenarionet_dict())
    builders.commonroad_xml(tmp_path / "cr.xml")
    scenarios = list(read_any(tmp_path, ego_id="11"))         # only CommonRoad takes ego_id
    assert sorted(s.source for s in scenarios) == ["commonroad", "nuscenes"]
    assert next(s for s in scenarios if s.source == "commonroad").ego_track_id == "11"
