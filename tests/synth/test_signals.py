"""The signal layer (schemas.signals), its table round trip, and the red-light label (synth.signals)."""
from __future__ import annotations

import dataclasses

import numpy as np
import pyarrow as pa
import pytest

from pipelines.validation import validate_table
from schemas import InputError, SignalLayer, SignalState, scenario_to_tables, tables_to_scenarios
from schemas.signals import lane_path_from, nuplan_state, waymo_state
from synth.kinematics import Plans
from synth.signals import red_light_labels, signal_window
from tests.fixtures.builders import tiny_scenario
from tests.fixtures.reference_labels import reference_red_light

G, C, S, U = SignalState.GO, SignalState.CAUTION, SignalState.STOP, SignalState.UNKNOWN
FRAMES, H, DT, LENGTH = 200, 80, 0.1, 4.5


def _schedule(*spans) -> np.ndarray:
    """States over FRAMES frames from ``(state, until_frame)`` spans (the last runs to the end)."""
    out, start = np.full(FRAMES, spans[-1][0], np.int8), 0
    for state, until in spans:
        out[start:until] = state
        start = until
    return out


def junction() -> SignalLayer:
    """A hand-built signalised junction (scenario frame, m), stop lines at x = 0 for the eastbound approach:

    * ``a0`` eastbound lane y = -1.75, straight on: GO until frame 30, CAUTION until 60, then STOP;
    * ``a0L`` the left-turn connector from the same stop point (radius 12 m arc to the north): STOP arrow
      until frame 100, then GO;
    * ``a1`` eastbound lane y = -5.25: STOP until frame 40, then GO;
    * ``b0`` westbound lane y = +1.75, stop line at x = 20: STOP throughout;
    * ``c0`` northbound lane x = 11.75, stop line at y = -12: GO until frame 50, then STOP.
    """
    arc = np.array([[12 * np.sin(a), -1.75 + 12 * (1 - np.cos(a))] for a in np.linspace(0, np.pi / 2, 30)])
    lanes = {
        "a0": ([[0, -1.75], [60, -1.75]], (0, -1.75), _schedule((G, 30), (C, 60), (S, FRAMES))),
        "a0L": (arc, (0, -1.75), _schedule((S, 100), (G, FRAMES))),
        "a1": ([[0, -5.25], [60, -5.25]], (0, -5.25), _schedule((S, 40), (G, FRAMES))),
        "b0": ([[20, 1.75], [-40, 1.75]], (20, 1.75), _schedule((S, FRAMES))),
        "c0": ([[11.75, -12], [11.75, 40]], (11.75, -12), _schedule((G, 50), (S, FRAMES))),
    }
    return SignalLayer(lane_ids=list(lanes), stop_point=np.array([v[1] for v in lanes.values()], float),
                       lane_path=np.array([lane_path_from(np.asarray(v[0], float), v[1]) for v in lanes.values()]),
                       state=np.array([v[2] for v in lanes.values()]))


def _straight(x0, y0, heading, speed) -> Plans:
    """One plan ``[1, H + 1]`` along ``heading`` from (x0, y0) with speeds ``speed`` (m/s, scalar or per state)."""
    v = np.broadcast_to(np.asarray(speed, float), (H + 1,))
    s = np.r_[0.0, np.cumsum((v[:-1] + v[1:]) / 2 * DT)]
    return Plans.from_states((x0 + s * np.cos(heading))[None], (y0 + s * np.sin(heading))[None],
                             np.full((1, H + 1), heading), v[None].copy())


def _label(plans: Plans, anchor: int, layer: SignalLayer | None = None):
    return red_light_labels(plans, LENGTH, signal_window(layer or junction(), anchor, H), DT)


# ------------------------------------------------------------------------------------------ the label
def test_a_plan_that_runs_the_red_is_labelled_with_the_linear_crossing_time():
    # front at x = -47.75 + 10 t crosses x = 0 at 4.775 s; anchor 20 -> frame 67: a0 shows STOP
    red, t = _label(_straight(-50.0, -1.75, 0.0, 10.0), anchor=20)
    assert red[0] and t[0] == pytest.approx(4.775, abs=1e-9)


def test_the_state_at_or_before_the_crossing_counts_amber_is_not_red():
    red, t = _label(_straight(-50.0, -1.75, 0.0, 10.0), anchor=0)     # crossing at frame 47.75: CAUTION
    assert not red[0] and np.isnan(t[0])


def test_a_plan_that_stops_before_the_line_is_not_labelled():
    # 10 m/s braking at 2 m/s^2 from x = -40: stops after 25 m with its front at -12.75 m
    v = np.maximum(10.0 - 2.0 * np.arange(H + 1) * DT, 0.0)
    red, t = _label(_straight(-40.0, -1.75, 0.0, v), anchor=70)
    assert not red[0] and np.isnan(t[0])


def test_a_plan_that_crosses_on_go_is_not_labelled():
    red, _ = _label(_straight(-30.0, -1.75, 0.0, 15.0), anchor=0)     # crossing at 1.85 s, frame 18: GO
    assert not red[0]


def test_a_crossing_against_the_lane_direction_is_not_labelled():
    # westbound in the eastbound lane over a0's stop line (STOP from frame 60): the wrong direction
    red, _ = _label(_straight(30.0, -1.75, np.pi, 10.0), anchor=70)
    assert not red[0]


def test_the_branch_the_ego_follows_decides_between_lanes_that_share_a_stop_line():
    # frame 0..30: a0 (straight) GO, a0L (left arrow) STOP, both from (0, -1.75)
    straight = _straight(-20.0, -1.75, 0.0, 10.0)
    red, _ = _label(straight, anchor=0)
    assert not red[0]
    # the same approach, then the left turn: the front follows the arc after the line
    arc_t = np.arange(H + 1) * DT
    s = 10.0 * arc_t - 17.75                         # front arc length from the stop point
    ang = np.clip(s, 0, None) / 12.0
    fx = np.where(s < 0, s, 12 * np.sin(np.minimum(ang, np.pi / 2)))
    fy = np.where(s < 0, -1.75, -1.75 + 12 * (1 - np.cos(np.minimum(ang, np.pi / 2))))
    h = np.where(s < 0, 0.0, np.minimum(ang, np.pi / 2))
    left = Plans.from_states((fx - 2.25 * np.cos(h))[None], (fy - 2.25 * np.sin(h))[None], h[None],
                             np.full((1, H + 1), 10.0))
    red, t = _label(left, anchor=0)
    assert red[0] and t[0] == pytest.approx(1.775, abs=1e-3)   # the chord to the first arc frame


def test_the_lane_beside_the_ego_does_not_count():
    # eastbound at y = -1.75 over x = 0 at frame 35 (a0 CAUTION): a1 (STOP until 40) is 3.5 m to the right
    red, _ = _label(_straight(-20.0, -1.75, 0.0, 5.0), anchor=0)     # crossing at 3.55 s
    assert not red[0]
    red, _ = _label(_straight(-20.0, -5.25, 0.0, 5.0), anchor=0)     # in a1: red
    assert red[0]


def test_no_signals_means_no_red_light():
    red, t = red_light_labels(_straight(-50.0, -1.75, 0.0, 10.0), LENGTH, None, DT)
    assert not red.any() and np.isnan(t).all()
    assert signal_window(SignalLayer.empty(FRAMES), 0, H) is None


def _random_plans(rng: np.random.Generator, n: int) -> Plans:
    """Plans through the junction: eastbound, westbound or northbound starts near a stop line, random speed,
    acceleration and curvature profiles (some turn, some stop, some reverse direction of travel)."""
    xs, ys, hs, vs = [], [], [], []
    for _ in range(n):
        kind = rng.integers(3)
        x0, y0, h0 = [(rng.uniform(-30, -3), rng.choice([-1.75, -5.25]) + rng.uniform(-1.5, 1.5), 0.0),
                      (rng.uniform(23, 45), 1.75 + rng.uniform(-1.5, 1.5), np.pi),
                      (11.75 + rng.uniform(-1.5, 1.5), rng.uniform(-35, -15), np.pi / 2)][kind]
        h0 += rng.uniform(-0.12, 0.12)
        v = np.clip(rng.uniform(3, 16) + np.cumsum(rng.uniform(-2.5, 2, H + 1)) * DT * 3, 0, None)
        kappa = np.repeat(rng.uniform(-0.06, 0.06, 9), 9)[: H + 1] * (rng.random() < 0.4)
        h = h0 + np.r_[0.0, np.cumsum(v[:-1] * kappa[:-1] * DT)]
        x = x0 + np.r_[0.0, np.cumsum(v[:-1] * np.cos(h[:-1]) * DT)]
        y = y0 + np.r_[0.0, np.cumsum(v[:-1] * np.sin(h[:-1]) * DT)]
        xs.append(x), ys.append(y), hs.append(np.angle(np.exp(1j * h))), vs.append(v)
    return Plans.from_states(*(np.array(a) for a in (xs, ys, hs, vs)))


def test_fast_label_agrees_with_the_slow_reference_on_random_plans():
    rng = np.random.default_rng(5)
    layer = junction()
    total_red = 0
    for anchor in (0, 25, 45, 70, 110):
        plans = _random_plans(rng, 12)
        red, t = red_light_labels(plans, LENGTH, signal_window(layer, anchor, H), DT)
        ref_red, ref_t = reference_red_light(plans, LENGTH, layer, anchor, DT)
        assert np.array_equal(red, ref_red), (anchor, red, ref_red)
        assert np.allclose(t, ref_t, atol=1e-6, equal_nan=True)
        total_red += red.sum()
    assert 5 <= total_red < 60     # the sample holds red crossings and plans without one


# ----------------------------------------------------------------------------------- the layer
def test_an_empty_layer_is_what_a_scenario_without_signals_gets():
    scn = tiny_scenario()
    assert scn.signals.num_lanes == 0 and scn.signals.num_frames == scn.num_frames


@pytest.mark.parametrize("change, field", [
    (dict(stop_point=np.zeros((5, 3))), "signals.stop_point"),
    (dict(lane_path=np.zeros((5, 1, 2))), "signals.lane_path"),
    (dict(lane_path=np.zeros((5, 5, 2))), "signals.lane_path"),          # no direction
    (dict(state=np.zeros((4, FRAMES), np.int8)), "signals.state"),
    (dict(state=np.full((5, FRAMES), 7, np.int8)), "signals.state"),     # not a SignalState
    (dict(state=np.full((5, FRAMES), "PURPLE")), "signals.state"),
    (dict(lane_ids=["a", "a", "b", "c", "d"]), "signals.lane_ids"),
    (dict(stop_z=np.zeros(3)), "signals.stop_z"),
])
def test_a_malformed_layer_is_refused_naming_the_field(change, field):
    with pytest.raises(InputError, match=field.replace(".", r"\.")):
        dataclasses.replace(junction(), **change)


def test_states_may_be_given_by_name_and_a_scenario_refuses_a_layer_of_other_length():
    names = np.array([[SignalState(int(s)).name for s in junction().state[k]] for k in range(5)])
    assert np.array_equal(dataclasses.replace(junction(), state=names).state, junction().state)
    with pytest.raises(InputError, match=r"signals\.state: state has 200 frames, the scenario 6"):
        tiny_scenario(signals=junction())


def test_source_states_map_onto_the_four_states():
    assert [waymo_state(v) for v in ("LANE_STATE_ARROW_GO", "LANE_STATE_FLASHING_STOP", "LANE_STATE_ARROW_STOP",
                                     None, 6, "TRAFFIC_LIGHT_RED")] == [G, C, S, U, G, S]
    assert [nuplan_state(v) for v in ("green", "yellow", "red", "unknown", None)] == [G, C, S, U, U]
    with pytest.raises(ValueError):
        waymo_state("LANE_STATE_PURPLE")


# ----------------------------------------------------------------------------------- the table
def _with_signals():
    lay = junction()
    T = tiny_scenario().num_frames
    return tiny_scenario(signals=dataclasses.replace(lay, state=lay.state[:, :T], stop_z=[1.0, np.nan, 2, 3, 4]))


def test_signals_round_trip_exactly_through_the_table_and_pass_their_suite():
    scn = _with_signals()
    a, b, c = scenario_to_tables(scn)
    assert c.num_rows == 5 * scn.num_frames and c.schema.metadata[b"table"] == b"signals"
    assert validate_table("signals", c).success
    back = tables_to_scenarios(a, b, pa.Table.from_batches(c.to_batches(), c.schema))[0]
    assert back.equals(scn) and back.signals.lane_ids == scn.signals.lane_ids
    assert not back.equals(tiny_scenario())


def test_a_scenario_without_signals_round_trips_with_zero_signal_rows():
    a, b, c = scenario_to_tables(tiny_scenario())
    assert c.num_rows == 0 and validate_table("signals", c).success
    assert tables_to_scenarios(a, b, c)[0].equals(tiny_scenario())


def test_bad_signal_rows_are_refused():
    a, b, c = scenario_to_tables(_with_signals())
    bad = c.set_column(c.schema.get_field_index("state"), "state", pa.array(["PURPLE"] * len(c)))
    assert not validate_table("signals", bad).success
    with pytest.raises(InputError, match="signals.state"):
        tables_to_scenarios(a, b, bad)
    with pytest.raises(InputError, match="full \\[lane, frame\\] grid"):
        tables_to_scenarios(a, b, c.slice(1))
    _, _, other = scenario_to_tables(tiny_scenario(scenario_id="other", signals=_with_signals().signals))
    with pytest.raises(InputError, match="scenarios table lacks"):
        tables_to_scenarios(a, b, pa.concat_tables([c, other]))
