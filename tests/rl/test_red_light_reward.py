"""Signals in the RL loop: the red-light reward term of the pseudo-simulation, and the signal states the
critic sees (map tokens at the anchor, re-read at every closed-loop step)."""
import dataclasses

import numpy as np
import pytest

from critic.columns import MapCol, MapKind
from critic.config import FeatureConfig
from critic.features import map_features
from critic.rl.config import RewardConfig
from critic.rl.observe import Observer
from critic.rl.rewards import perlad_reward
from schemas import ObjectType, SignalLayer, SignalState
from schemas.signals import lane_path_from
from synth.config import SimConfig, SynthConfig
from synth.context import build_context
from synth.sim import EgoState, Episode, events, simulate
from tests.rl.test_sim_rewards import RC, _events, _road_scenario

STOP_X = 80.0   # stop line of the ego's lane (y = -1.75), m


def _signalled_episode(states: np.ndarray) -> Episode:
    """The straight road of test_sim_rewards (ego 10 m/s from x = 10, no lead car) with one signal on the ego's
    lane at x = STOP_X showing ``states`` ``[T]``; anchor 11 (ego at x = 21)."""
    scn = _road_scenario(None)
    layer = SignalLayer(lane_ids=["ego_lane"], stop_point=np.array([[STOP_X, -1.75]]),
                        lane_path=lane_path_from(np.array([[STOP_X, -1.75], [300.0, -1.75]]), (STOP_X, -1.75))[None],
                        state=np.asarray(states, np.int8)[None])
    return Episode.build(build_context(dataclasses.replace(scn, signals=layer), 11, SynthConfig()))


def _run(ep: Episode, speeds) -> tuple:
    traj, _ = simulate(ep, EgoState.at_anchor(ep, len(speeds)), np.asarray(speeds, float), 80, SimConfig())
    return traj, events(ep, traj, 0)


def test_driving_through_a_red_costs_30_once_and_stopping_before_it_costs_nothing():
    ep = _signalled_episode(np.full(100, SignalState.STOP))
    traj, ev = _run(ep, [0.0, 15.0])
    assert ev.red_light_step[0] == -1 and ev.red_light_step[1] > 0
    front = traj.x[1] + 0.5 * ep.ctx.ego_length
    k = int(ev.red_light_step[1])
    assert front[k - 1] < STOP_X <= front[k]                      # charged at the step whose interval crosses
    r = perlad_reward(ev, RewardConfig(gamma=0.99))
    assert r["red_light"][0] == 0.0
    assert r["red_light"][1] == pytest.approx(-30.0 * 0.99 ** (k - 1))
    assert r["total"][1] <= r["red_light"][1] + r["progress"][1] + 1e-9


def test_crossing_on_green_or_caution_costs_nothing():
    for state in (SignalState.GO, SignalState.CAUTION, SignalState.UNKNOWN):
        _, ev = _run(_signalled_episode(np.full(100, state)), [15.0])
        assert ev.red_light_step[0] == -1
        assert perlad_reward(ev, RC)["red_light"][0] == 0.0


def test_a_red_light_does_not_end_the_episode_but_a_collision_before_it_drops_it():
    after = dataclasses.replace(_events(coll=6, ctype=int(ObjectType.VEHICLE)), red_light_step=np.array([3]))
    r = perlad_reward(after, RC)
    assert r["red_light"][0] == -30.0 and r["collision"][0] == -30.0 and r["total"][0] == -60.0
    before = dataclasses.replace(_events(coll=2, ctype=int(ObjectType.VEHICLE)), red_light_step=np.array([3]))
    assert perlad_reward(before, RC)["red_light"][0] == 0.0


def _signal_rows(feats, mask):
    """The distinct signal kinds among the polylines (a 20 m lane path is cut into pieces of <= 15 m)."""
    kinds = feats[:, 0, MapCol.KIND].argmax(-1)
    return sorted(set(kinds[mask.any(-1) & (kinds >= MapKind.SIGNAL_START)].tolist()))


def test_the_critic_sees_the_signal_state_at_the_anchor_and_the_ablation_does_not():
    states = np.r_[np.full(31, SignalState.GO), np.full(69, SignalState.STOP)]
    ep = _signalled_episode(states)
    fc = FeatureConfig(max_polylines=96)
    scn = ep.ctx.scenario
    assert (_signal_rows(*map_features(scn, 11, fc))) == [MapKind.SIGNAL_START + SignalState.GO]
    assert (_signal_rows(*map_features(scn, 40, fc))) == [MapKind.SIGNAL_START + SignalState.STOP]
    assert len(_signal_rows(*map_features(scn, 11, dataclasses.replace(fc, signals=False)))) == 0


def test_a_stop_line_100_m_ahead_takes_the_first_map_slots_though_other_features_end_at_70_m():
    scn = _signalled_episode(np.full(100, SignalState.STOP)).ctx.scenario
    moved = dataclasses.replace(scn, signals=dataclasses.replace(
        scn.signals, stop_point=scn.signals.stop_point + [[50.0, 0.0]], lane_path=scn.signals.lane_path + [50.0, 0.0]))
    fc = FeatureConfig()                                            # the default 48 slots, 70 m / 120 m
    feats, mask = map_features(moved, 11, fc)                       # ego front at x ~ 23, stop line at x = 130
    kinds = feats[:, 0, MapCol.KIND].argmax(-1)
    assert kinds[0] == MapKind.SIGNAL_START + SignalState.STOP and feats[0, 0, MapCol.X] > 100.0
    assert (feats[mask.any(-1) & (kinds < MapKind.SIGNAL_START)][..., MapCol.X] <= 70.0 + 1e-3).all()
    far = dataclasses.replace(moved, signals=dataclasses.replace(
        moved.signals, stop_point=moved.signals.stop_point + [[100.0, 0.0]], lane_path=moved.signals.lane_path + [100.0, 0.0]))
    assert _signal_rows(*map_features(far, 11, fc)) == []           # beyond 120 m it is left out


def test_the_closed_loop_observer_rereads_signal_states_at_every_step():
    states = np.r_[np.full(31, SignalState.GO), np.full(69, SignalState.STOP)]   # turns red 2 s after the anchor
    ep = _signalled_episode(states)
    obs = Observer(ep, FeatureConfig(max_polylines=96))
    logged = ep.ctx.logged
    early = obs.critic_scene(logged.frames(slice(0, 11)))          # frame 21: GO
    late = obs.critic_scene(logged.frames(slice(0, 31)))           # frame 41: STOP
    assert (_signal_rows(early.map[0], early.map_mask[0])) == [MapKind.SIGNAL_START + SignalState.GO]
    assert (_signal_rows(late.map[0], late.map_mask[0])) == [MapKind.SIGNAL_START + SignalState.STOP]
    # the signal polyline moved with the ego like every other polyline: its first point is the stop point
    row = int(np.flatnonzero(obs.signal_lanes >= 0)[0])
    ego_x = logged.x[0, 30]
    assert late.map[0][row, 0, MapCol.X] == pytest.approx(STOP_X - ego_x, abs=1e-4)
