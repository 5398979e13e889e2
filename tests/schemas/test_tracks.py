"""Tracks: one self-validating block of agent trajectories for scenarios, agent futures and the observer."""
import dataclasses

import numpy as np
import pytest

from schemas import InputError, ObjectType, Scenario, Tracks
from schemas.tracks import TRACK_FIELDS
from tests.fixtures.builders import tiny_scenario


def _block(shape=(2, 3, 5), **overrides) -> Tracks:
    """Na x A x T tracks: every field a distinct constant, all valid, three vehicles."""
    fields = {name: np.full(shape, float(i + 1)) for i, name in enumerate(TRACK_FIELDS)}
    fields.update(valid=np.ones(shape, bool), object_type=np.full(shape[-2], int(ObjectType.VEHICLE), np.int8))
    fields.update(overrides)
    return Tracks(**fields)


def test_tracks_refuses_mismatched_shapes():
    with pytest.raises(InputError, match="vy.*must have shape"):
        _block(vy=np.zeros((2, 3, 4)))
    with pytest.raises(InputError, match="object_type"):
        _block(object_type=np.zeros(2, np.int8))          # 2 types for 3 agents


def test_tracks_refuses_non_finite_poses_where_valid_but_not_where_invalid():
    x = np.zeros((2, 3, 5))
    x[1, 2, 4] = np.nan
    with pytest.raises(InputError, match="x.*non-finite value at valid frame 4 of track #2"):
        _block(x=x)
    valid = np.ones((2, 3, 5), bool)
    valid[1, 2, 4] = False
    assert np.isnan(_block(x=x, valid=valid).x[1, 2, 4])


def test_tracks_accepts_unknown_box_sizes_where_a_track_was_extended():
    # an extrapolated or perturbed future may be valid where the log had no box: sizes are not required
    length = np.full((2, 3, 5), np.nan)
    assert np.isnan(_block(length=length).length).all()


def test_tracks_refuses_a_non_bool_validity_mask():
    with pytest.raises(InputError, match="valid.*bool"):
        _block(valid=np.ones((2, 3, 5), int))


def test_frames_and_rows_slice_every_array_and_keep_the_types():
    t = _block()
    f = t.frames(slice(1, 3))
    assert all(getattr(f, k).shape == (2, 3, 2) for k in TRACK_FIELDS + ("valid",))
    assert f.heading[0, 0, 0] == 3.0 and np.shares_memory(f.x, t.x) and f.object_type is t.object_type
    r = t.rows(slice(1, 2))
    assert r.valid.shape == (1, 3, 5) and r.width[0, 0, 0] == 7.0 and r.num_agents == 3 and r.num_frames == 5
    with pytest.raises(ValueError, match="version axis"):
        _block(shape=(3, 5)).rows(slice(0, 1))


def test_a_scenario_is_a_tracks_block_of_its_own_read_only_arrays():
    scn = tiny_scenario()
    assert isinstance(scn, Tracks) and (scn.num_agents, scn.num_frames) == (2, 6)
    tr = scn.tracks
    assert type(tr) is Tracks and tr.x is scn.x and tr.object_type is scn.object_type
    head = scn.frames(slice(0, 2))
    assert type(head) is Tracks and head.valid.shape == (2, 2) and not head.x.flags.writeable
    # the scenario's own, stricter rules still hold: box sizes must be given where valid
    with pytest.raises(InputError, match="length.*must be > 0"):
        dataclasses.replace(scn, length=np.where(scn.valid, 0.0, np.nan))
    assert isinstance(dataclasses.replace(scn, ego_index=0), Scenario)
