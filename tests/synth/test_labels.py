import numpy as np
import pytest
import shapely

from schemas import ObjectType
from synth.config import LabelThresholds, SynthConfig
from synth.context import build_context
from synth.curriculum import generate
from synth.engine import SynthStats, choose_anchors
from synth.kinematics import Plans
from synth.labels import AgentFutures, label_plans
from synth.sources import ProceduralSource
from tests.fixtures.reference_labels import reference_labels

TH = LabelThresholds()
BOX = dict(length=4.5, width=2.0)   # the ego box (m) of every hand-built plan
ROAD = shapely.box(-50, -5, 500, 5)


def _ego(x, y=None, heading=None, speed=None):
    x = np.atleast_2d(x)
    y = np.zeros_like(x) if y is None else np.atleast_2d(y)
    heading = np.zeros_like(x) if heading is None else np.atleast_2d(heading)
    speed = np.full_like(x, 10.0) if speed is None else np.atleast_2d(speed)
    return Plans.from_states(x, y, heading, speed)


def _agents(x, y, heading=0.0, length=4.5, width=2.0, kind=ObjectType.VEHICLE, vx=0.0):
    x, y = np.atleast_2d(x), np.atleast_2d(y)
    T = x.shape[1]
    full = lambda v: np.full((1, x.shape[0], T), v, float)  # noqa: E731
    return AgentFutures(x[None], y[None], full(heading), full(vx), full(0.0), full(length), full(width),
                        np.ones((1, x.shape[0], T), bool), np.array([kind] * x.shape[0]))


def test_collision_with_a_parked_car_is_found_at_the_exact_time():
    t = np.arange(81) * 0.1
    ego = _ego(10.0 * t)                    # front bumper at 10 t + 2.25
    parked = _agents(np.full(81, 40.0), np.zeros(81))  # rear bumper at 37.75 -> contact at t = 3.55 s
    lab = label_plans(ego, parked, ROAD, None, 0.1, TH, **BOX)
    assert lab.collision[0] and lab.outcome[0] == "COLLISION"
    assert lab.collision_time_s[0] == pytest.approx(3.55, abs=0.01 + 1e-9)
    assert lab.collision_agent_type[0] == "VEHICLE" and lab.collision_rel_speed[0] == pytest.approx(10.0)


def test_a_fast_crossing_through_a_pedestrian_between_frames_does_not_tunnel():
    t = np.arange(81) * 0.1
    ego = _ego(60.0 * t - 30.0, speed=np.full(81, 60.0))  # 6 m per frame, longer than the 4.5 m box
    # pedestrian standing in the gap the ego box leaves between frames 0.5 s (x=0) and 0.6 s (x=6)
    ped = _agents(np.full(81, 3.0), np.zeros(81), length=0.3, width=0.3, kind=ObjectType.PEDESTRIAN)
    frames_only = [shapely.intersects(shapely.box(x - 2.25, -1, x + 2.25, 1), shapely.box(2.85, -0.15, 3.15, 0.15))
                   for x in ego.x[0]]
    assert not any(frames_only)            # no overlap at any 10 Hz frame ...
    lab = label_plans(ego, ped, ROAD, None, 0.1, TH, **BOX)
    assert lab.collision[0] and lab.collision_agent_type[0] == "PEDESTRIAN"  # ... but contact in between
    assert lab.collision_time_s[0] == pytest.approx(0.51, abs=0.01 + 1e-9)


def test_leaving_the_road_is_offroad_at_the_first_corner_out():
    t = np.arange(81) * 0.1
    ego = _ego(10.0 * t, y=np.clip(t - 2.0, 0, None))  # drifts left from t = 2 s at 1 m/s
    lab = label_plans(ego, _agents(np.full((1, 81), 400.0), np.full((1, 81), 0.0)), ROAD, None, 0.1, TH, **BOX)
    # left corners at y + 1 leave y = 5 when y > 4, i.e. t > 6 s (heading 0 in this toy plan)
    assert lab.offroad[0] and lab.outcome[0] == "OFFROAD"
    assert lab.offroad_time_s[0] == pytest.approx(6.0, abs=0.011)


def test_solid_line_crossings_are_counted():
    t = np.arange(81) * 0.1
    ego = _ego(10.0 * t, y=1.5 * np.sin(t))  # starts on y = 0, then crosses it at t = pi and 2 pi
    solid = shapely.MultiLineString([[(-50, 0.0), (500, 0.0)]])
    lab = label_plans(ego, _agents(np.full((1, 81), 400.0), np.full((1, 81), 0.0)), ROAD, solid, 0.1, TH, **BOX)
    assert lab.solid_line_crossings[0] == 2  # sin(t) crosses 0 at pi and 2 pi within 8 s


def test_close_pass_is_a_near_miss_not_a_collision():
    t = np.arange(81) * 0.1
    ego = _ego(10.0 * t)
    beside = _agents(np.full((1, 81), 40.0), np.full((1, 81), 2.4))  # 0.4 m gap between the boxes
    lab = label_plans(ego, beside, ROAD, None, 0.1, TH, **BOX)
    assert not lab.collision[0] and lab.outcome[0] == "NEAR_MISS"
    assert lab.min_distance_m[0] == pytest.approx(0.4, abs=1e-9)


def test_precedence_collision_over_offroad():
    t = np.arange(81) * 0.1
    ego = _ego(10.0 * t, y=np.clip(t - 2.0, 0, None))
    car = _agents(np.full((1, 81), 75.0), np.full((1, 81), 5.5))
    lab = label_plans(ego, car, ROAD, None, 0.1, TH, **BOX)
    assert lab.collision[0] and lab.offroad[0] and lab.outcome[0] == "COLLISION"


def test_hitting_a_parked_car_is_at_fault_but_being_rear_ended_or_hit_while_stopped_is_not():
    t = np.arange(81) * 0.1
    lab = label_plans(_ego(10.0 * t), _agents(np.full(81, 40.0), np.zeros(81)), ROAD, None, 0.1, TH, **BOX)
    assert lab.collision_at_fault[0]
    follower = _agents(-12.0 + 13.0 * t, np.zeros(81), vx=13.0)          # faster car closing from behind
    lab = label_plans(_ego(10.0 * t), follower, ROAD, None, 0.1, TH, **BOX)
    assert lab.collision[0] and not lab.collision_at_fault[0]
    stopped = _ego(np.zeros(81), speed=np.zeros(81))
    crossing = _agents(np.zeros(81), -10.0 + 4.0 * t, heading=np.pi / 2)   # drives into the stopped ego's side
    lab = label_plans(stopped, crossing, ROAD, None, 0.1, TH, **BOX)
    assert lab.collision[0] and not lab.collision_at_fault[0]
    assert not label_plans(_ego(10.0 * t), _agents(np.full(81, 400.0), np.zeros(81)), ROAD, None, 0.1,
                           TH, **BOX).collision_at_fault[0]


def test_fast_labels_agree_with_the_slow_shapely_reference_on_random_plans():
    cfg = SynthConfig()
    n = 0
    for scn in ProceduralSource(count=3).read():
        for a in choose_anchors(scn, cfg, SynthStats()):
            ctx = build_context(scn, a, cfg)
            pool, _ = generate(ctx, np.random.default_rng(5), 60)
            for lab in pool:
                p = lab.cands.plans
                ref = reference_labels(p, lab.cands.agents if lab.cands.agents is not None else ctx.agents,
                                       ctx.drivable, 0.1, length=ctx.ego_length, width=ctx.ego_width)
                for k in ("collision", "offroad"):
                    assert (ref[k] == getattr(lab.labels, k)).all(), (lab.cands.family, k)
                    both = ref[k] & getattr(lab.labels, k)
                    err = np.abs(ref[f"{k}_time_s"][both] - getattr(lab.labels, f"{k}_time_s")[both])
                    assert (err <= 0.01 + 1e-9).all()
                n += len(p.x)
    assert n >= 150


def test_earliest_contact_wins_even_when_a_later_hit_comes_first_in_agent_order():
    t = np.arange(81) * 0.1
    ego = _ego(10.0 * t)
    # agent 0 is hit at 2.86 s; agent 1 (later in the list) at 2.83 s, inside the same 0.1 s interval
    agents = _agents(np.stack([np.full(81, 33.1), np.full(81, 32.8)]), np.stack([np.zeros(81), np.full(81, 1.0)]))
    lab = label_plans(ego, agents, ROAD, None, 0.1, TH, **BOX)
    assert lab.collision_agent[0] == 1
    assert lab.collision_time_s[0] == pytest.approx(2.83, abs=0.01 + 1e-9)
