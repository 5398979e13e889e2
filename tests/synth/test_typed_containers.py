"""The typed containers shared by kinematics, labels, physics and the simulator: ``Plans``,
``Labels``, ``PhysicsReport`` and ``EgoState``."""
import dataclasses

import numpy as np
import pytest

from schemas import counterfactuals_schema
from synth.config import SimConfig, SynthConfig
from synth.context import build_context
from synth.curriculum import generate
from synth.engine import SynthStats, choose_anchors
from synth.kinematics import Plans
from synth.labels import Labels, label_plans
from synth.physics import RULES, SUMMARY_COLUMNS, check_physics
from synth.sim import EgoState, Episode, simulate
from synth.sources import ProceduralSource
from tests.fixtures.reference_labels import reference_labels


@pytest.fixture(scope="module")
def anchor_pool():
    cfg = SynthConfig()
    scn = next(iter(ProceduralSource(count=1).read()))
    ctx = build_context(scn, choose_anchors(scn, cfg, SynthStats())[0], cfg)
    pool, _ = generate(ctx, np.random.default_rng(3), 40)
    return ctx, pool


def _label(ctx, plans, agents=None):
    return label_plans(plans, ctx.agents if agents is None else agents, ctx.drivable, ctx.solid_lines, ctx.dt,
                       ctx.cfg.labels, ctx.drivable_inner, length=ctx.ego_length, width=ctx.ego_width)


def test_labels_from_label_plans_have_one_entry_per_plan_in_every_field(anchor_pool):
    ctx, pool = anchor_pool
    for lab in pool:
        n = len(lab.cands.plans.x)
        assert isinstance(lab.labels, Labels) and len(lab.labels) == n
        assert all(len(v) == n for v in lab.labels.columns().values())


def test_label_columns_are_the_table_label_columns_in_table_order_plus_the_agent_index(anchor_pool):
    _, pool = anchor_pool
    cols = list(pool[0].labels.columns())
    table = [c.name for c in counterfactuals_schema(81) if c.name in cols]
    assert [c for c in cols if c != "collision_agent"] == table
    assert cols == [f.name for f in dataclasses.fields(Labels)]


def test_label_columns_agree_with_the_reference_labellers_dict(anchor_pool):
    ctx, pool = anchor_pool
    for lab in pool:
        p = lab.cands.plans
        cols = lab.labels.columns()
        ref = reference_labels(p, lab.cands.agents if lab.cands.agents is not None else ctx.agents, ctx.drivable,
                               ctx.dt, length=ctx.ego_length, width=ctx.ego_width)
        for k in ("collision", "offroad"):
            assert (cols[k] == ref[k]).all()
            both = cols[k] & ref[k]
            assert (np.abs(cols[f"{k}_time_s"][both] - ref[f"{k}_time_s"][both]) <= 0.01 + 1e-9).all()


def test_labels_take_selects_the_same_plans_in_every_field(anchor_pool):
    ctx, pool = anchor_pool
    lab = max(pool, key=lambda b: len(b.cands))
    idx = np.arange(len(lab.cands))[::-2]
    part = _label(ctx, lab.cands.plans.take(idx), lab.cands.agents.rows(idx) if lab.cands.agents is not None else None)
    for k, v in lab.labels.take(idx).columns().items():
        assert np.array_equal(v, part.columns()[k], equal_nan=v.dtype.kind == "f"), k


def test_plans_from_states_have_zero_controls_and_the_labels_and_physics_of_the_full_plans(anchor_pool):
    ctx, pool = anchor_pool
    p = next(b for b in pool if b.cands.family == "lateral").cands.plans
    bare = Plans.from_states(p.x, p.y, p.heading, p.speed)
    assert not bare.accel.any() and not bare.steer.any() and bare.accel.shape == p.x.shape
    assert _label(ctx, bare).columns().keys() == _label(ctx, p).columns().keys()
    for k, v in _label(ctx, bare).columns().items():
        assert np.array_equal(v, _label(ctx, p).columns()[k], equal_nan=v.dtype.kind == "f"), k
    assert np.array_equal(ctx.physics(bare).passed, ctx.physics(p).passed)


def test_physics_report_passed_is_the_and_of_every_rule_in_registration_order(anchor_pool):
    ctx, pool = anchor_pool
    p = Plans.concat([b.cands.plans for b in pool])
    rep = check_physics(p, ctx.dt, ctx.cfg.limits, ctx.anchor_state)
    assert list(rep.rules) == list(RULES)
    assert np.array_equal(rep.passed, np.logical_and.reduce([r.ok for r in rep.rules.values()]))
    for name, fn in RULES.items():
        value, ok = fn(p, ctx.dt, ctx.cfg.limits, ctx.anchor_state)
        assert np.array_equal(rep[name].value, value) and np.array_equal(rep[name].ok, ok)


def test_physics_report_fails_a_plan_when_one_rule_fails():
    t = np.arange(81) * 0.1
    p = Plans.from_states(np.r_[0.0, 50.0 + 10.0 * t[1:]][None], np.zeros((1, 81)), np.zeros((1, 81)),
                          np.full((1, 81), 10.0))       # teleports 50 m in the first step
    rep = check_physics(p, 0.1, SynthConfig().limits, np.array([0.0, 0.0, 0.0, 10.0]))
    assert not rep["non_holonomic"].ok[0] and not rep.passed[0]


def test_physics_columns_are_the_table_physics_columns_with_their_rules_worst_values(anchor_pool):
    ctx, pool = anchor_pool
    rep = pool[1].physics
    cols = rep.columns()
    assert list(cols) == [c.name for c in counterfactuals_schema(81) if c.name in (*SUMMARY_COLUMNS, "physics_ok")]
    for col, name in SUMMARY_COLUMNS.items():
        assert cols[col] is rep[name].value
    assert np.array_equal(cols["physics_ok"], rep.passed)
    sl = slice(1, 3)
    assert all(np.array_equal(v, cols[k][sl]) for k, v in rep.take(sl).columns().items())


def test_ego_state_holds_a_one_frame_plans_and_simulate_ends_in_the_trajectorys_last_frame(anchor_pool):
    ctx, _ = anchor_pool
    ep = Episode.build(ctx)
    st = EgoState.at_anchor(ep, 3)
    assert isinstance(st.current, Plans) and st.current.x.shape == (3, 1)
    first = np.stack([st.current.x[:, 0], st.current.y[:, 0], st.current.heading[:, 0], st.current.speed[:, 0]], 1)
    assert (first == ctx.anchor_state).all()
    traj, end = simulate(ep, st, np.array([5.0, 10.0, 15.0]), 12, SimConfig())
    last = traj.frames(slice(-1, None))
    for f in dataclasses.fields(Plans):
        assert np.array_equal(getattr(end.current, f.name), getattr(last, f.name)), f.name
    again = end.repeat(2)
    assert again.current.x.shape == (2, 1) and (again.current.speed == end.current.speed[0]).all()
    assert (again.path_idx == end.path_idx[0]).all()
