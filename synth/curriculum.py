"""Curriculum: generate candidates per family, label them, select a target outcome mix.

Candidates are drawn from the families in fixed shares of a budget of
``samples_per_anchor * candidates_factor``; each is rolled out, checked by every physics
rule (failures are counted per rule and dropped) and labelled. Selection then fills a
quota per outcome (round-robin over families inside an outcome so no family dominates);
quotas that cannot be met are filled from the other outcomes in proportion to their
targets, and the achieved mix is reported.
"""
from __future__ import annotations

import dataclasses

import numpy as np

from .context import AnchorContext
from .families import Candidates, families
from .families.base import roll_batch
from .kinematics import Plans
from .labels import Labels, label_plans
from .physics import PhysicsReport
from .signals import signal_window

#: share of the candidate budget given to each family
FAMILY_SHARES = {
    "collision_seek": 0.24,
    "speed_profile": 0.14,
    "braking": 0.08,
    "agent_perturbation": 0.10,
    "lateral": 0.16,
    "offroad_seek": 0.18,
    "near_logged": 0.10,
}

#: shares at the anchor of a scene variant (:mod:`synth.variants`): an agent is already braking or
#: cutting in, so the longitudinal choice matters most and braking plans get the largest share
VARIANT_FAMILY_SHARES = {
    "collision_seek": 0.14,
    "speed_profile": 0.16,
    "braking": 0.30,
    "agent_perturbation": 0.06,
    "lateral": 0.12,
    "offroad_seek": 0.12,
    "near_logged": 0.10,
}


@dataclasses.dataclass
class Labelled:
    """Candidates of one family with their labels and physics summary (arrays over candidates)."""

    cands: Candidates
    labels: Labels
    physics: PhysicsReport


def generate(ctx: AnchorContext, rng: np.random.Generator, budget: int,
             shares: dict[str, float] = FAMILY_SHARES) -> tuple[list[Labelled], dict[str, int]]:
    """All labelled candidates of one anchor (``shares`` of ``budget`` per family), plus rejections per physics rule.

    Families that roll out the bicycle model are rolled in one batch, and every
    candidate that shares the logged agents is labelled in one batch.
    """
    fams = families()
    batches = []
    jobs = [("logged", 1)] + [(name, max(1, int(round(share * budget)))) for name, share in shares.items()]
    for name, n in jobs:
        cands = fams[name].sample(ctx, rng, n)
        if cands is not None and len(cands):
            batches.append(cands)
    pending = [c for c in batches if c.plans is None]
    for c, plans in zip(pending, roll_batch(ctx, [c.targets for c in pending])):
        object.__setattr__(c, "plans", plans)
    groups = [[c for c in batches if c.agents is None]] + [[c] for c in batches if c.agents is not None]
    signals = signal_window(ctx.scenario.signals, ctx.anchor, ctx.steps)
    out, rejected = [], {}
    for group in groups:
        if not group:
            continue
        p = Plans.concat([c.plans for c in group])
        phys = ctx.physics(p)
        for rule, ok in phys.rule_ok.items():
            if (~ok).any():
                rejected[rule] = rejected.get(rule, 0) + int((~ok).sum())
        agents = group[0].agents if group[0].agents is not None else ctx.agents
        labels = label_plans(p, agents, ctx.drivable_index, ctx.solid_lines, ctx.dt, ctx.cfg.labels, ctx.drivable_inner_index,
                             length=ctx.ego_length, width=ctx.ego_width, signals=signals)
        start = 0
        for c in group:
            sl = slice(start, start + len(c))
            start += len(c)
            out.append(Labelled(c, labels.take(sl), phys.take(sl)))
    return out, rejected


def select(pool: list[Labelled], targets: dict[str, float], k: int, rng: np.random.Generator) -> list[tuple[int, int]]:
    """Pick ``k`` (family batch, candidate) pairs: the logged plan first, then per-outcome quotas."""
    chosen: list[tuple[int, int]] = []
    avail: dict[str, dict[str, list]] = {}
    for b, lab in enumerate(pool):
        ok = lab.physics.passed
        if lab.cands.family == "logged":
            if ok[0]:
                chosen.append((b, 0))
            continue
        for i in np.flatnonzero(ok):
            avail.setdefault(lab.labels.outcome[i], {}).setdefault(lab.cands.family, []).append((b, int(i)))
    for fam_lists in avail.values():
        for lst in fam_lists.values():
            rng.shuffle(lst)
    counts = {o: 0 for o in targets}
    if chosen:
        o = pool[chosen[0][0]].labels.outcome[0]
        counts[o] = counts.get(o, 0) + 1

    def take(outcome: str) -> bool:
        fam_lists = avail.get(outcome, {})
        live = [f for f, lst in fam_lists.items() if lst]
        if not live:
            return False
        # round-robin: the family with the fewest picks in this outcome so far
        fam = min(live, key=lambda f: (picks.get((outcome, f), 0), rng.random()))
        chosen.append(fam_lists[fam].pop())
        picks[(outcome, fam)] = picks.get((outcome, fam), 0) + 1
        counts[outcome] += 1
        return True

    picks: dict = {}
    while len(chosen) < k:
        deficits = {o: targets[o] * k - counts[o] for o in targets if any(avail.get(o, {}).values())}
        if not deficits:
            break
        take(max(deficits, key=lambda o: (deficits[o], rng.random())))
    return chosen
