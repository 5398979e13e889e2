"""Draw one counterfactual: map, agents over time, logged vs perturbed ego plan, the event point.

``render_sample`` writes a PNG; ``animate_sample`` writes an animated GIF (one frame per
0.1 s, boxes of the ego and every agent moving along their futures). Inputs are a
scenario and one row of the ``counterfactuals`` table (as a dict).
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from schemas import LineType, ObjectType, Scenario
from schemas.atomic import atomic_write

from .geometry import box_corners

AGENT_COLORS = {ObjectType.VEHICLE: "#1f77b4", ObjectType.PEDESTRIAN: "#d62728", ObjectType.CYCLIST: "#2ca02c",
           ObjectType.STATIC: "#7f7f7f"}
_LINES = {LineType.SOLID: ("#444444", 1.0, "-"), LineType.DOUBLE_SOLID: ("#d49a00", 2.0, "-"),
          LineType.BROKEN: ("#777777", 0.8, "--"), LineType.UNKNOWN: ("#aaaaaa", 0.6, "-")}


def _agent_futures(scn: Scenario, row: dict):
    """Agent arrays over the plan horizon ``[A, H + 1]`` with perturbed agents substituted."""
    a0, H = row["anchor_frame"], len(row["plan_x"]) - 1
    sl = slice(a0, a0 + H + 1)
    fut = {k: getattr(scn, k)[:, sl].copy() for k in ("x", "y", "heading", "length", "width", "valid")}
    for tid, px, py, ph in zip(row["perturbed_track_ids"], row["perturbed_x"], row["perturbed_y"], row["perturbed_heading"]):
        i = scn.track_id.index(tid)
        fut["x"][i], fut["y"][i], fut["heading"][i] = px, py, ph
    return fut


def draw_map(ax, scn: Scenario, centerlines: bool = False) -> None:
    """Drivable area, crosswalks, typed lane lines and road edges of ``scn`` onto a matplotlib axis."""
    from matplotlib.patches import Polygon as MplPolygon

    for poly in scn.map.drivable_area.geoms:
        ax.add_patch(MplPolygon(np.asarray(poly.exterior.coords), closed=True, fc="#e8e8e8", ec="#bbbbbb", lw=0.5, zorder=0))
        for ring in poly.interiors:
            ax.add_patch(MplPolygon(np.asarray(ring.coords), closed=True, fc="white", ec="none", zorder=0))
    for cw in scn.map.crosswalks:
        ax.add_patch(MplPolygon(cw, closed=True, fc="#fff2a8", ec="#c9b400", lw=0.5, zorder=1))
    if centerlines:
        for c in scn.map.centerlines:
            ax.plot(c[:, 0], c[:, 1], color="#9db4d6", lw=0.5, ls=":", zorder=1)
    for pts, t in zip(scn.map.lane_lines, scn.map.lane_line_types):
        col, lw, ls = _LINES[t]
        ax.plot(pts[:, 0], pts[:, 1], color=col, lw=lw, ls=ls, zorder=2)
    for e in scn.map.road_edges:
        ax.plot(e[:, 0], e[:, 1], color="black", lw=1.0, zorder=2)


def _base(ax, scn: Scenario, center, span):
    draw_map(ax, scn)
    ax.set_xlim(center[0] - span, center[0] + span)
    ax.set_ylim(center[1] - span, center[1] + span)
    ax.set_aspect("equal")


def _title(row: dict) -> str:
    params = json.loads(row["params"]) if isinstance(row["params"], str) else row["params"]
    ev = ""
    if row["collision"]:
        ev = f"collision with {row['collision_agent_type'].lower()} at {row['collision_time_s']:.2f} s"
    elif row["offroad"]:
        ev = f"off-road at {row['offroad_time_s']:.2f} s"
    short = ", ".join(f"{k}={v}" for k, v in list(params.items())[:4])
    return f"{row['sample_id']}  {row['family']} ({short})\n{row['outcome']} {ev}"


def _view(scn: Scenario, row: dict):
    e = scn.ego_index
    px, py = np.asarray(row["plan_x"]), np.asarray(row["plan_y"])
    lx, ly = scn.x[e, row["anchor_frame"]: row["anchor_frame"] + len(px)], scn.y[e, row["anchor_frame"]: row["anchor_frame"] + len(px)]
    xs, ys = np.r_[px, lx], np.r_[py, ly]
    center = np.array([np.nanmean(xs), np.nanmean(ys)])
    span = max(35.0, 0.5 * max(np.nanmax(xs) - np.nanmin(xs), np.nanmax(ys) - np.nanmin(ys)) + 20.0)
    return center, span, (px, py), (lx, ly)


def render_sample(scn: Scenario, row: dict, path: str | Path) -> Path:
    """Static drawing of one counterfactual to ``path`` (PNG)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Polygon as MplPolygon

    fut = _agent_futures(scn, row)
    center, span, (px, py), (lx, ly) = _view(scn, row)
    fig, ax = plt.subplots(figsize=(8, 8), dpi=110)
    _base(ax, scn, center, span)
    e = scn.ego_index
    for a in range(scn.num_agents):
        if a == e or not fut["valid"][a].any():
            continue
        v = fut["valid"][a]
        col = AGENT_COLORS[ObjectType(scn.object_type[a])]
        ax.plot(fut["x"][a, v], fut["y"][a, v], color=col, lw=0.8, alpha=0.5, zorder=3)
        f = int(np.flatnonzero(v)[0])
        c = box_corners(fut["x"][a, f], fut["y"][a, f], fut["heading"][a, f], fut["length"][a, f], fut["width"][a, f])
        perturbed = scn.track_id[a] in row["perturbed_track_ids"]
        ax.add_patch(MplPolygon(c, closed=True, fc=col, ec="magenta" if perturbed else "black", lw=1.5 if perturbed else 0.4,
                                alpha=0.85, zorder=4))
    ax.plot(lx, ly, color="#2ca02c", lw=2.0, ls="--", label="logged ego plan", zorder=5)
    ax.plot(px, py, color="#ff7f0e", lw=2.4, label="counterfactual plan", zorder=6)
    L, W = scn.length[e, row["anchor_frame"]], scn.width[e, row["anchor_frame"]]
    ax.add_patch(MplPolygon(box_corners(px[0], py[0], row["plan_heading"][0], L, W), closed=True, fc="#ff7f0e", ec="black", zorder=7))
    t_ev = row["collision_time_s"] if row["collision"] else (row["offroad_time_s"] if row["offroad"] else None)
    if t_ev is not None:
        k = t_ev / row["plan_dt"]
        x_ev, y_ev = np.interp(k, np.arange(len(px)), px), np.interp(k, np.arange(len(py)), py)
        h_ev = np.interp(k, np.arange(len(px)), np.unwrap(row["plan_heading"]))
        ax.add_patch(MplPolygon(box_corners(x_ev, y_ev, h_ev, L, W), closed=True, fc="none", ec="red", lw=2.0, zorder=8))
        ax.plot([x_ev], [y_ev], marker="X", color="red", ms=14, zorder=9, label="event")
    ax.legend(loc="upper right", fontsize=8)
    ax.set_title(_title(row), fontsize=9)
    fig.tight_layout()
    path = atomic_write(path, lambda tmp: fig.savefig(tmp, format="png"))
    plt.close(fig)
    return path


def animate_sample(scn: Scenario, row: dict, path: str | Path, fps: int = 10) -> Path:
    """Animated GIF of one counterfactual: every box moving over the horizon."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.animation import FuncAnimation, PillowWriter
    from matplotlib.patches import Polygon as MplPolygon

    fut = _agent_futures(scn, row)
    center, span, (px, py), (lx, ly) = _view(scn, row)
    fig, ax = plt.subplots(figsize=(6, 6), dpi=80)
    _base(ax, scn, center, span)
    ax.plot(lx, ly, color="#2ca02c", lw=1.5, ls="--", zorder=5)
    ax.plot(px, py, color="#ff7f0e", lw=1.5, alpha=0.6, zorder=5)
    e = scn.ego_index
    L, W = scn.length[e, row["anchor_frame"]], scn.width[e, row["anchor_frame"]]
    agents = [a for a in range(scn.num_agents) if a != e and fut["valid"][a].any()]
    patches = {a: ax.add_patch(MplPolygon(np.zeros((4, 2)), closed=True, fc=AGENT_COLORS[ObjectType(scn.object_type[a])],
                                          ec="black", lw=0.4, zorder=6)) for a in agents}
    ego_patch = ax.add_patch(MplPolygon(np.zeros((4, 2)), closed=True, fc="#ff7f0e", ec="black", zorder=7))
    title = ax.set_title("", fontsize=9)

    def frame(k):
        for a, patch in patches.items():
            patch.set_visible(bool(fut["valid"][a, k]))
            if fut["valid"][a, k]:
                patch.set_xy(box_corners(fut["x"][a, k], fut["y"][a, k], fut["heading"][a, k], fut["length"][a, k],
                                         fut["width"][a, k]))
        ego_patch.set_xy(box_corners(px[k], py[k], row["plan_heading"][k], L, W))
        title.set_text(f"{row['family']} -> {row['outcome']}   t = {k * row['plan_dt']:.1f} s")
        return [*patches.values(), ego_patch, title]

    anim = FuncAnimation(fig, frame, frames=len(px), blit=False)
    def write(tmp: Path) -> None:          # Pillow picks the format from the name: save as .gif, then take its place
        gif = tmp.with_name(tmp.name + ".gif")
        try:
            anim.save(gif, writer=PillowWriter(fps=fps))
            os.replace(gif, tmp)
        finally:
            gif.unlink(missing_ok=True)

    path = atomic_write(path, write)
    plt.close(fig)
    return path
