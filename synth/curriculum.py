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
from .labels import label_plans
from .physics import PlanStates

#: share of the candidate budget given to each family
FAMILY_SHARES = {
    "collision_seek": 0.26,
    "speed_profile": 0.16,
    "agent_perturbation": 0.10,
    "lateral": 0.16,
    "offroad_seek": 0.20,
    "near_logged": 0.12,
}


@dataclasses.dataclass
class Labelled:
    """Candidates of one family with their labels and physics summary (arrays over candidates)."""

    cands: Candidates
    labels: dict
    physics: dict


def generate(ctx: AnchorContext, rng: np.random.Generator, budget: int) -> tuple[list[Labelled], dict[str, int]]:
    """All labelled candidates of one anchor, plus rejections per physics rule."""
    fams = families()
    out, rejected = [], {}
    jobs = [("logged", 1)] + [(name, max(1, int(round(share * budget)))) for name, share in FAMILY_SHARES.items()]
    for name, n in jobs:
        cands = fams[name].sample(ctx, rng, n)
        if cands is None or len(cands) == 0:
            continue
        p = cands.plans
        phys = ctx.physics(PlanStates(p.x, p.y, p.heading, p.speed))
        for rule, ok in phys["rule_ok"].items():
            if (~ok).any():
                rejected[rule] = rejected.get(rule, 0) + int((~ok).sum())
        ego = dataclasses.replace(ctx.logged, x=p.x, y=p.y, heading=p.heading, speed=p.speed)
        labels = label_plans(ego, cands.agents if cands.agents is not None else ctx.agents, ctx.drivable,
                             ctx.solid_lines, ctx.dt, ctx.cfg.labels)
        out.append(Labelled(cands, labels, phys))
    return out, rejected


def select(pool: list[Labelled], targets: dict[str, float], k: int, rng: np.random.Generator) -> list[tuple[int, int]]:
    """Pick ``k`` (family batch, candidate) pairs: the logged plan first, then per-outcome quotas."""
    chosen: list[tuple[int, int]] = []
    avail: dict[str, dict[str, list]] = {}
    for b, lab in enumerate(pool):
        ok = lab.physics["physics_ok"]
        if lab.cands.family == "logged":
            if ok[0]:
                chosen.append((b, 0))
            continue
        for i in np.flatnonzero(ok):
            avail.setdefault(lab.labels["outcome"][i], {}).setdefault(lab.cands.family, []).append((b, int(i)))
    for fam_lists in avail.values():
        for lst in fam_lists.values():
            rng.shuffle(lst)
    counts = {o: 0 for o in targets}
    if chosen:
        o = pool[chosen[0][0]].labels["outcome"][0]
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
