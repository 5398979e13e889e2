"""Scene variants: a source scenario with one agent perturbed *before* the anchor.

``agent_perturbation`` starts its perturbations at or after the anchor, so they are
invisible in the history the critic encodes. A policy in closed loop, though, decides
while the lead is already braking or a neighbour is already cutting in. A variant copies
the source scenario and re-times one agent's track over the whole scene:

* ``lead_brake``: the lead on the ego path brakes from ``lag`` s before the anchor at
  ``decel`` m/s^2 to a stop, along its own logged path;
* ``cut_in``: a neighbour started moving onto the ego path ``lag`` s before the anchor
  (quintic ramp over ``duration`` s).

The ego keeps its logged track (the logged plan may now collide: the label says so). The
perturbed track ends at the end of the plan horizon (a re-timed track cannot rejoin its
log). Variants whose perturbed agent comes within ``clearance_m`` of any other box over
the history, that the ego cannot escape by braking, or whose re-timed track moves more than 3 m/s
faster than its log are dropped. The variant id is ``<source>~hist-<mode>-<k>``; splits follow
the source (:func:`schemas.splits.split_of`).
"""
from __future__ import annotations

import dataclasses

import numpy as np

from schemas import Scenario
from schemas.splits import VARIANT_MARK

from .config import SynthConfig
from .context import build_context
from .families.agent_perturbation import braked_track, cut_in_track, headings_of, lead_index, neighbours
from .geometry import box_corners, boxes_overlap
from .kinematics import PATH_DS


@dataclasses.dataclass(frozen=True)
class SceneVariant:
    """A perturbed copy of a scenario, to be synthesized at ``anchor`` only; ``params`` as JSON."""

    scenario: Scenario
    anchor: int
    params: dict


def scene_variants(scn: Scenario, anchors: list[int], cfg: SynthConfig, rng: np.random.Generator) -> list[SceneVariant]:
    """Up to ``cfg.variants.per_scenario`` variants of ``scn``, cycling over ``anchors``."""
    vc = cfg.variants
    out: list[SceneVariant] = []
    for k in range(vc.per_scenario if anchors else 0):
        anchor = anchors[k % len(anchors)]
        ctx = build_context(scn, anchor, cfg)
        lead, neigh = lead_index(ctx), neighbours(ctx)
        options = (["lead_brake"] if lead is not None else []) + (["cut_in"] if neigh else [])
        if not options:
            continue
        mode = str(rng.choice(options))
        others = [i for i in range(scn.num_agents) if i != scn.ego_index]
        if mode == "lead_brake":
            lag, dec = rng.uniform(*vc.brake_lag_s), rng.uniform(*vc.brake_decel)
            a = others[lead]
            params = {"mode": mode, "track": scn.track_id[a], "lag_s": round(float(lag), 2), "decel": round(float(dec), 2)}
        else:
            j, _ = neigh[rng.integers(len(neigh))]
            lag, dur = rng.uniform(*vc.cut_in_lag_s), rng.uniform(*vc.cut_in_duration_s)
            a = others[j]
            params = {"mode": mode, "track": scn.track_id[a], "lag_s": round(float(lag), 2),
                      "duration_s": round(float(dur), 2)}
        variant = _perturbed_copy(scn, ctx, a, anchor, lag, params, f"{scn.scenario_id}{VARIANT_MARK}{mode}-{k}")
        if variant is not None:
            out.append(SceneVariant(variant, anchor, params))
    return out


def _perturbed_copy(scn: Scenario, ctx, a: int, anchor: int, lag: float, params: dict, sid: str) -> Scenario | None:
    cfg, dt = ctx.cfg, scn.dt
    f0 = max(anchor - cfg.history_steps - int(np.ceil(lag / dt)) - 2, 0)
    f1 = anchor + cfg.horizon_steps
    if not scn.valid[a, f0:f1 + 1].all():
        return None
    t = (np.arange(f0, f1 + 1) - anchor) * dt
    x, y = scn.x[a, f0:f1 + 1], scn.y[a, f0:f1 + 1]
    if params["mode"] == "lead_brake":
        nx, ny = braked_track(x, y, t, -lag, params["decel"], dt)
    else:
        nx, ny = cut_in_track(ctx, x, y, t, -lag, params["duration_s"])
    vx, vy = np.gradient(nx, dt), np.gradient(ny, dt)
    if np.hypot(vx, vy).max() > np.hypot(scn.vx[a, f0:f1 + 1], scn.vy[a, f0:f1 + 1]).max() + 3.0:
        return None  # the lateral ramp projected onto a far part of the ego path: not a plausible cut-in
    fields = {k: np.array(getattr(scn, k)) for k in ("x", "y", "heading", "vx", "vy", "valid")}
    h = headings_of(nx, ny, float(scn.heading[a, f0]))
    for k, arr in (("x", nx), ("y", ny), ("heading", h), ("vx", vx), ("vy", vy)):
        fields[k][a, f0:f1 + 1] = arr
    fields["valid"][a, f1 + 1:] = False
    if not _clear(scn, fields, a, range(anchor - cfg.history_steps, anchor + 1), cfg.variants.clearance_m):
        return None
    k = anchor - f0
    if not _escapable(ctx, nx[k:], ny[k:], h[k:], float(scn.length[a, anchor]), float(scn.width[a, anchor])):
        return None
    return dataclasses.replace(scn, scenario_id=sid, **fields)


def _escapable(ctx, ax, ay, ah, length: float, width: float) -> bool:
    """True when the ego, braking at ``escape_decel`` along its path after a 0.3 s lag (the jerk-limited
    ramp to full braking), never overlaps the agent's box ``(ax, ay, ah)`` ``(H + 1,)`` over the horizon."""
    clock = np.arange(len(ax)) * ctx.dt
    t = np.maximum(clock - 0.3, 0.0)                     # time spent braking
    v0 = ctx.anchor_state[3]
    dec = ctx.cfg.variants.escape_decel
    s = v0 * np.minimum(clock, 0.3) + np.where(t < v0 / dec, v0 * t - 0.5 * dec * t**2, v0**2 / (2 * dec))
    arc = np.arange(len(ctx.path)) * PATH_DS
    ex, ey = np.interp(s, arc, ctx.path[:, 0]), np.interp(s, arc, ctx.path[:, 1])
    k = np.clip((s / PATH_DS).astype(int), 0, len(ctx.path) - 2)
    d = ctx.path[k + 1] - ctx.path[k]
    eh = np.arctan2(d[:, 1], d[:, 0])
    ego = box_corners(ex, ey, eh, ctx.ego_length, ctx.ego_width)
    return not boxes_overlap(ego, box_corners(ax, ay, ah, length, width)).any()


def _clear(scn: Scenario, f: dict, a: int, frames: range, margin: float) -> bool:
    """True when agent ``a`` keeps ``margin`` m (box inflated) from every other valid box at ``frames``."""
    fr = np.asarray(frames)
    mine = box_corners(f["x"][a, fr], f["y"][a, fr], f["heading"][a, fr],
                       scn.length[a, fr] + 2 * margin, scn.width[a, fr] + 2 * margin)  # [F, 4, 2]
    rest = np.array([i for i in range(scn.num_agents) if i != a])
    theirs = box_corners(np.nan_to_num(f["x"][rest][:, fr]), np.nan_to_num(f["y"][rest][:, fr]),
                         np.nan_to_num(f["heading"][rest][:, fr]), np.nan_to_num(scn.length[rest][:, fr], nan=0.1),
                         np.nan_to_num(scn.width[rest][:, fr], nan=0.1))  # [R, F, 4, 2]
    hit = boxes_overlap(mine[None], theirs) & f["valid"][rest][:, fr]
    return not hit.any()
