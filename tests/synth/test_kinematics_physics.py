import numpy as np
import pytest

from synth.config import VehicleLimits
from synth.kinematics import Plans, resample_path, rollout
from synth.physics import RULES, check_physics

LIM = VehicleLimits()


def _random_rollouts(n=300, seed=0):
    rng = np.random.default_rng(seed)
    v0 = 12.0
    base = resample_path(np.column_stack([np.linspace(0, 150, 76), np.zeros(76)]), 0.0)
    # wild targets: zig-zag paths and step speed profiles far beyond the limits
    d = rng.uniform(-15, 15, (n, 1)) * np.sin(np.arange(len(base))[None] / rng.uniform(5, 60, (n, 1)))
    paths = base[None] + d[..., None] * np.array([0.0, 1.0])
    speeds = np.repeat(rng.uniform(0, 45, (n, 1)), 81, axis=1) * (rng.random((n, 81)) < 0.5)
    plans = rollout(0.0, 0.0, 0.0, v0, 0.0, paths, speeds, LIM, 0.1, 80)
    return plans, np.array([0.0, 0.0, 0.0, v0])


def test_rollout_starts_exactly_at_the_logged_anchor_state():
    plans, anchor = _random_rollouts(20)
    first = np.stack([plans.x[:, 0], plans.y[:, 0], plans.heading[:, 0], plans.speed[:, 0]], 1)
    assert (first == anchor).all()


def test_every_rollout_satisfies_every_physics_rule_even_for_wild_targets():
    plans, anchor = _random_rollouts()
    res = check_physics(plans, 0.1, LIM, anchor)
    assert set(res.rules) == set(RULES)
    for name, r in res.rules.items():
        assert r.ok.all(), (name, r.value.max())
    assert res["longitudinal_accel"].value.max() > 0.8 * LIM.max_decel  # the targets really pushed the limits


def _straight(speed, n=81, dt=0.1):
    s = np.concatenate([[0.0], np.cumsum(0.5 * (speed[1:] + speed[:-1]) * dt)])
    return Plans.from_states(s[None], np.zeros((1, n)), np.zeros((1, n)), speed[None])


def _anchor(p):
    return np.array([p.x[0, 0], p.y[0, 0], p.heading[0, 0], p.speed[0, 0]])


@pytest.mark.parametrize("rule, make", [
    ("longitudinal_accel", lambda: _straight(np.r_[10.0, np.full(80, 11.5)])),          # +15 m/s^2
    ("jerk", lambda: _straight(10.0 + np.r_[np.zeros(40), 0.35 * np.arange(1, 42)] )),     # 0 -> 3.5 m/s^2 in one step
])
def test_each_rule_catches_its_violation(rule, make):
    p = make()
    assert not check_physics(p, 0.1, LIM, _anchor(p))[rule].ok[0]


def test_yaw_rate_curvature_and_non_holonomic_rules_catch_violations():
    n = 81
    x = np.arange(n) * 1.0
    sideways = Plans.from_states(np.zeros((1, n)), x[None], np.zeros((1, n)), np.full((1, n), 10.0))  # moves along +y, faces +x
    res = check_physics(sideways, 0.1, LIM, _anchor(sideways))
    assert not res["non_holonomic"].ok[0]
    spin = Plans.from_states(x[None], np.zeros((1, n)), (0.3 * np.arange(n))[None], np.full((1, n), 10.0))
    res = check_physics(spin, 0.1, LIM, _anchor(spin))
    assert not res["yaw_rate"].ok[0] and not res["curvature"].ok[0]
    teleport = Plans.from_states(np.r_[0.0, 50.0 + x[1:]][None], np.zeros((1, n)), np.zeros((1, n)), np.full((1, n), 10.0))
    assert not check_physics(teleport, 0.1, LIM, _anchor(teleport))["non_holonomic"].ok[0]


def test_anchor_continuity_requires_the_exact_logged_state():
    p = _straight(np.full(81, 10.0))
    anchor = _anchor(p) + np.array([0.0, 1e-9, 0.0, 0.0])
    assert not check_physics(p, 0.1, LIM, anchor)["anchor_continuity"].ok[0]
