"""Counterfactual synthesis of one scenario: anchors -> candidates -> labels -> rows.

``synthesize_scenario`` is deterministic for a given (scenario, config, seed) and
returns the ``counterfactuals`` rows as an Arrow table plus statistics (candidates per
family, rejections per physics rule, achieved outcome mix, skipped anchors) that the
pipeline aggregates into the manifest.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
from collections import Counter

import numpy as np
import pyarrow as pa

from schemas import InputError, ObjectType, Scenario, counterfactuals_schema
from schemas.splits import VARIANT_MARK, is_variant, split_of

from .config import SynthConfig
from .context import build_context, candidate_anchors, logged_states
from .curriculum import FAMILY_SHARES, VARIANT_FAMILY_SHARES, generate, select
from .offroad import logged_offroad
from .physics import check_physics
from .variants import scene_variants


@dataclasses.dataclass
class SynthStats:
    """Counts from one or many scenarios (merge with ``+=``)."""

    scenarios: int = 0
    anchors: int = 0
    samples: int = 0
    candidates: Counter = dataclasses.field(default_factory=Counter)
    rejected_by_rule: Counter = dataclasses.field(default_factory=Counter)
    outcomes: Counter = dataclasses.field(default_factory=Counter)
    families: Counter = dataclasses.field(default_factory=Counter)
    skipped: Counter = dataclasses.field(default_factory=Counter)
    egos: int = 0
    """(scenario, ego track) pairs that yielded anchors."""
    egos_rejected: Counter = dataclasses.field(default_factory=Counter)
    """Candidate egos without a usable anchor, by reason."""
    variants: Counter = dataclasses.field(default_factory=Counter)

    def __iadd__(self, other: "SynthStats") -> "SynthStats":
        for f in dataclasses.fields(self):
            setattr(self, f.name, getattr(self, f.name) + getattr(other, f.name))
        return self

    def to_dict(self) -> dict:
        return {f.name: dict(v) if isinstance((v := getattr(self, f.name)), Counter) else v for f in dataclasses.fields(self)}


def scenario_seed(scenario_id: str, seed: int) -> int:
    """Stable 63-bit seed for a scenario (independent of processing order and machine)."""
    return int.from_bytes(hashlib.sha256(f"{seed}:{scenario_id}".encode()).digest()[:8], "big") >> 1


def ego_key(scn: Scenario, own_ego: str) -> str:
    """``scenario_id`` when ``scn`` plays ``own_ego`` (the ego it is stored with), else
    ``<scenario_id>/ego-<track>``: the prefix of its sample ids and the key of its seeds."""
    return scn.scenario_id if scn.ego_track_id == own_ego else f"{scn.scenario_id}/ego-{scn.ego_track_id}"


def strided_anchors(frames: list[int], stride: int) -> list[int]:
    """The first of the increasing ``frames``, then each frame at least ``stride`` after the last one kept."""
    out: list[int] = []
    for f in frames:
        if not out or f - out[-1] >= stride:
            out.append(f)
    return out


def choose_anchors(scn: Scenario, cfg: SynthConfig, stats: SynthStats) -> list[int]:
    """Anchors of the scenario's ego whose logged plan passes every physics rule and keeps every box
    corner on the drivable area: up to ``anchors_per_scenario`` evenly spread, or with
    ``anchor_stride_steps`` set, :func:`strided_anchors` over the whole log. Refused candidate
    anchors count in ``stats.skipped`` by reason (``anchor_logged_plan_offroad``, ``anchor_physics_<rule>``
    for the first rule the logged plan breaks); an ego with none counts once under the reason."""
    cands = candidate_anchors(scn, cfg)
    if not cands:
        stats.skipped["too_short_or_ego_gaps"] += 1
        return []
    off = logged_offroad(scn, [scn.ego_index])[0]
    passing, refused = [], Counter()
    for a in cands:
        if off[a: a + cfg.horizon_steps + 1].any():
            refused["anchor_logged_plan_offroad"] += 1
            continue
        st = logged_states(scn, a, cfg.horizon_steps)
        anchor = np.array([st.x[0, 0], st.y[0, 0], st.heading[0, 0], st.speed[0, 0]])
        ok = check_physics(st, cfg.dt, cfg.limits, anchor).rule_ok
        if all(v[0] for v in ok.values()):
            passing.append(a)
        else:
            refused["anchor_physics_" + next(k for k, v in ok.items() if not v[0])] += 1
    stats.skipped.update(refused)
    if not passing:
        stats.skipped["logged_plan_offroad" if set(refused) == {"anchor_logged_plan_offroad"}
                      else "logged_plan_fails_physics"] += 1
        return []
    if cfg.anchor_stride_steps > 0:
        return strided_anchors(passing, cfg.anchor_stride_steps)
    n = min(cfg.anchors_per_scenario, len(passing))
    pick = np.unique(np.linspace(0, len(passing) - 1, n + 2)[1:-1].round().astype(int)) if n < len(passing) else np.arange(len(passing))
    return [passing[i] for i in pick[:n]]


def ego_tracks(scn: Scenario, cfg: SynthConfig) -> list[str]:
    """Track ids that may play the ego under ``cfg.egos``: the scene's own ego first, then (``all``, or
    ``auto`` on a real source) every other VEHICLE track with enough valid frames for one anchor."""
    mode = cfg.egos if cfg.egos != "auto" else ("sdc" if scn.source == "procedural" else "all")
    if mode == "sdc":
        return [scn.ego_track_id]
    need = cfg.history_steps + cfg.horizon_steps + 1
    vehicles = (np.asarray(scn.object_type) == ObjectType.VEHICLE) & (scn.valid.sum(axis=1) >= need)
    return [scn.ego_track_id] + [scn.track_id[a] for a in np.flatnonzero(vehicles) if a != scn.ego_index]


def synthesize_scenario(scn: Scenario, cfg: SynthConfig, seed: int = 0, anchors: list[int] | None = None,
                        key: str | None = None) -> tuple[pa.Table, SynthStats]:
    """Counterfactual rows of one scenario (schema ``counterfactuals_schema(H + 1)``) for its ego at
    ``anchors`` (default: :func:`choose_anchors`). ``key`` (default ``scenario_id``, see :func:`ego_key`)
    prefixes the sample ids and seeds the draws."""
    stats = SynthStats(scenarios=1)
    rows: dict[str, list] = {c.name: [] for c in counterfactuals_schema(cfg.horizon_steps + 1)}
    split = split_of(scn.log_id)
    key = scn.scenario_id if key is None else key
    base_seed = scenario_seed(key, seed)
    cur = cfg.curriculum
    shares = VARIANT_FAMILY_SHARES if is_variant(scn.scenario_id) else FAMILY_SHARES
    for anchor in choose_anchors(scn, cfg, stats) if anchors is None else anchors:
        anchor_seed = (base_seed + anchor) % 2**63
        rng = np.random.default_rng(anchor_seed)
        ctx = build_context(scn, anchor, cfg)
        pool, rejected = generate(ctx, rng, cur.samples_per_anchor * cur.candidates_factor, shares)
        stats.anchors += 1
        stats.rejected_by_rule.update(rejected)
        for lab in pool:
            stats.candidates[lab.cands.family] += len(lab.cands)
        for k, (b, i) in enumerate(select(pool, cur.targets(), cur.samples_per_anchor, rng)):
            _append_row(rows, ctx, pool[b], i, k, anchor_seed, split, key)
            stats.outcomes[pool[b].labels.outcome[i]] += 1
            stats.families[pool[b].cands.family] += 1
            stats.samples += 1
    return pa.table(rows, schema=counterfactuals_schema(cfg.horizon_steps + 1)), stats


def synthesize_with_variants(scn: Scenario, cfg: SynthConfig, seed: int = 0):
    """``[(scenario, rows)]`` for ``scn`` and each of its scene variants (:mod:`synth.variants`),
    plus the merged statistics (variants count under ``variants`` by mode, not as scenarios).

    Every track of :func:`ego_tracks` plays the ego in turn; its rows carry it in ``ego_track_id``
    (and in ``sample_id`` unless it is the scene's own ego) and ``rows`` holds them all, so the
    scenario is stored once with its own ego. Egos without a usable anchor count in
    ``egos_rejected`` by reason. Variants are made for the first ego with anchors (the scene's own
    ego when it has any) and stored with that ego."""
    if is_variant(scn.scenario_id):
        raise InputError(f"{scn.scenario_id!r} contains {VARIANT_MARK!r}, which marks scene variants",
                         field="scenario_id")
    stats = SynthStats(scenarios=1)
    tables, first = [], None
    for tid in ego_tracks(scn, cfg):
        ego_scn = scn.with_ego(tid)
        st = SynthStats()
        anchors = choose_anchors(ego_scn, cfg, st)            # once, for this ego and its variants
        if not anchors:
            reason = "too_short_or_ego_gaps" if st.skipped["too_short_or_ego_gaps"] else (
                "logged_plan_offroad" if st.skipped["logged_plan_offroad"] else "logged_plan_fails_physics")
            st.egos_rejected[reason] += 1
            stats += st
            continue
        st.egos += 1
        first = first or (ego_scn, anchors)
        table, syn = synthesize_scenario(ego_scn, cfg, seed, anchors=anchors, key=ego_key(ego_scn, scn.ego_track_id))
        syn.scenarios = 0
        stats += st
        stats += syn
        tables.append(table)
    schema = counterfactuals_schema(cfg.horizon_steps + 1)
    out = [(scn, pa.concat_tables(tables) if tables else schema.empty_table())]
    if cfg.variants.per_scenario and first is not None:
        ego_scn, anchors = first
        rng = np.random.default_rng([scenario_seed(scn.scenario_id, seed), 7])
        for v in scene_variants(ego_scn, anchors, cfg, rng):
            vt, vs = synthesize_scenario(v.scenario, cfg, seed, anchors=[v.anchor])
            vs.scenarios = 0
            vs.variants[v.params["mode"]] += 1
            stats += vs
            out.append((v.scenario, vt))
    return out, stats


def _f(v) -> float | None:
    v = float(v)
    return None if np.isnan(v) else v


def _append_row(rows, ctx, lab, i, k, seed, split, key) -> None:
    c, L, P = lab.cands, lab.labels, lab.physics.columns()
    p = c.plans
    pert = c.perturbed[i] if c.perturbed else []
    ag = c.agents
    rows["sample_id"].append(f"{key}/a{ctx.anchor:04d}/{k:03d}")
    rows["scenario_id"].append(ctx.scenario.scenario_id)
    rows["log_id"].append(ctx.scenario.log_id)
    rows["anchor_frame"].append(ctx.anchor)
    rows["ego_track_id"].append(ctx.scenario.ego_track_id)
    rows["family"].append(c.family)
    rows["params"].append(json.dumps(c.params[i], sort_keys=True, default=lambda o: o.item()))
    rows["seed"].append(int(seed))
    rows["split"].append(split)
    rows["plan_dt"].append(ctx.dt)
    rows["plan_x"].append(p.x[i].tolist())
    rows["plan_y"].append(p.y[i].tolist())
    rows["plan_heading"].append(p.heading[i].tolist())
    rows["plan_speed"].append(p.speed[i].tolist())
    rows["perturbed_track_ids"].append([ctx.agent_ids[a] for a in pert])
    rows["perturbed_x"].append([ag.x[i, a].tolist() for a in pert])
    rows["perturbed_y"].append([ag.y[i, a].tolist() for a in pert])
    rows["perturbed_heading"].append([ag.heading[i, a].tolist() for a in pert])
    rows["outcome"].append(str(L.outcome[i]))
    rows["collision"].append(bool(L.collision[i]))
    rows["collision_time_s"].append(_f(L.collision_time_s[i]))
    rows["collision_agent_type"].append(L.collision_agent_type[i])
    rows["collision_rel_speed"].append(_f(L.collision_rel_speed[i]) if L.collision[i] else None)
    rows["collision_at_fault"].append(bool(L.collision_at_fault[i]))
    rows["offroad"].append(bool(L.offroad[i]))
    rows["offroad_time_s"].append(_f(L.offroad_time_s[i]))
    rows["solid_line_crossings"].append(int(L.solid_line_crossings[i]))
    rows["min_ttc_s"].append(_f(L.min_ttc_s[i]))
    rows["min_distance_m"].append(_f(L.min_distance_m[i]))
    rows["red_light"].append(bool(L.red_light[i]))
    rows["red_light_time_s"].append(_f(L.red_light_time_s[i]))
    for col in ("max_abs_accel", "max_abs_jerk", "max_lat_accel", "max_yaw_rate", "max_curvature"):
        rows[col].append(float(P[col][i]))
    rows["physics_ok"].append(bool(P["physics_ok"][i]))
