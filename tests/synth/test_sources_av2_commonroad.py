import numpy as np
import pytest

from pipelines.inspect_scenes import ego_inside_fraction
from schemas import DrivableAreaSource, InputError, LineType, ObjectType
from synth.sources import Av2Source, CommonRoadSource, read_any
from tests.conftest import real_path
from tests.fixtures.builders import av2_folder, commonroad_xml


def test_av2_folder_converts_with_imputed_sizes_and_typed_lines(tmp_path):
    (scn,) = Av2Source().read(av2_folder(tmp_path))
    assert scn.ego_track_id == "AV" and scn.num_frames == 30 and scn.size_imputed.all()
    assert scn.length[scn.track_id.index("7"), 0] == pytest.approx(0.6)
    assert list(scn.object_type) == [ObjectType.VEHICLE, ObjectType.VEHICLE, ObjectType.PEDESTRIAN]
    assert set(scn.map.lane_line_types) == {LineType.DOUBLE_SOLID, LineType.SOLID, LineType.BROKEN}
    assert scn.map.drivable_area_source == DrivableAreaSource.EXPLICIT and len(scn.map.crosswalks) == 1


def test_av2_parquet_missing_a_column_names_file_and_column(tmp_path):
    folder = av2_folder(tmp_path, drop_column="heading")
    with pytest.raises(InputError, match="heading: column is missing") as err:
        list(Av2Source().read(folder))
    assert "scenario_" in str(err.value)


def test_av2_nan_position_is_refused(tmp_path):
    with pytest.raises(InputError, match="position_x: NaN"):
        list(Av2Source().read(av2_folder(tmp_path, nan_at=3)))


def test_real_av2_scenario_loads_with_ego_inside_drivable_area():
    (scn,) = read_any(real_path("av2_motion_forecasting"))
    assert scn.num_agents == 58 and scn.num_frames == 110
    assert ego_inside_fraction(scn) >= 0.95


@pytest.mark.parametrize("version", ["2018b", "2020a"])
def test_commonroad_versions_convert_and_longest_vehicle_is_ego(tmp_path, version):
    (scn,) = CommonRoadSource().read(commonroad_xml(tmp_path / "s.xml", version))
    assert scn.ego_track_id == "10" and scn.num_frames == 20
    assert scn.valid[1].sum() == 8
    assert np.allclose(scn.vx[0, 0], 10.0)
    expected = {LineType.BROKEN} if version == "2020a" else {LineType.UNKNOWN}
    assert set(scn.map.lane_line_types) == expected


def test_commonroad_any_vehicle_can_be_ego(tmp_path):
    (scn,) = CommonRoadSource(ego_id="11").read(commonroad_xml(tmp_path / "s.xml"))
    assert scn.ego_track_id == "11"
    with pytest.raises(InputError, match="no obstacle"):
        list(CommonRoadSource(ego_id="nope").read(commonroad_xml(tmp_path / "t.xml")))


def test_malformed_commonroad_xml_is_a_clear_error(tmp_path):
    p = tmp_path / "bad.xml"
    p.write_text('<commonRoad timeStepSize="0.1"><lanelet id="1"><leftBound>')
    with pytest.raises(InputError, match="malformed XML"):
        list(CommonRoadSource().read(p))


def test_all_four_real_commonroad_scenes_load_with_ego_inside_drivable_area():
    scns = list(read_any(real_path("commonroad_ngsim")))
    assert len(scns) == 4
    for scn in scns:
        assert ego_inside_fraction(scn) >= 0.95
