"""Per-scenario statistics and drawings for ``impartial inspect``."""
from __future__ import annotations

import numpy as np
import shapely

from schemas import ObjectType, Scenario


def ego_inside_fraction(scn: Scenario) -> float:
    """Fraction of the ego's valid frames whose box centre lies inside the drivable area."""
    e = scn.ego_index
    v = scn.valid[e]
    return float(shapely.contains_xy(scn.map.drivable_area, scn.x[e, v], scn.y[e, v]).mean())


def scenario_stats(scn: Scenario) -> dict:
    """Counts of one scenario, as printed by ``impartial inspect``."""
    agents = {t.name.lower(): int((scn.object_type == t).sum()) for t in ObjectType}
    return {
        "scenario_id": scn.scenario_id,
        "source": scn.source,
        "map_name": scn.map_name,
        "agents": agents,
        "num_tracks": scn.num_agents,
        "frames": scn.num_frames,
        "duration_s": round(scn.duration_s, 3),
        "ego_track_id": scn.ego_track_id,
        "size_imputed_tracks": int(scn.size_imputed.sum()),
        "map_features": scn.map.feature_counts(),
        "drivable_area_source": scn.map.drivable_area_source.name,
        "drivable_area_m2": round(float(scn.map.drivable_area.area), 1),
        "ego_inside_drivable_fraction": round(ego_inside_fraction(scn), 4),
    }


def format_stats(st: dict) -> str:
    """One human-readable block for ``st`` from :func:`scenario_stats`."""
    agents = ", ".join(f"{k} {v}" for k, v in st["agents"].items())
    feats = ", ".join(f"{k} {v}" for k, v in st["map_features"].items() if v)
    return (
        f"{st['scenario_id']} [{st['source']}, {st['map_name']}]\n"
        f"  agents: {agents} (ego {st['ego_track_id']}, imputed sizes {st['size_imputed_tracks']})\n"
        f"  frames: {st['frames']} ({st['duration_s']} s)\n"
        f"  map: {feats}\n"
        f"  drivable area: {st['drivable_area_source']}, {st['drivable_area_m2']} m^2; "
        f"ego frames inside: {100 * st['ego_inside_drivable_fraction']:.1f} %"
    )


def draw_scenario(scn: Scenario, path: str) -> None:
    """Draw map, drivable area, tracks and the ego (highlighted) to a PNG file."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Polygon as MplPolygon

    from synth.geometry import box_corners
    from synth.render import AGENT_COLORS, draw_map

    fig, ax = plt.subplots(figsize=(9, 9), dpi=110)
    draw_map(ax, scn, centerlines=True)
    for a in range(scn.num_agents):
        v = scn.valid[a]
        ego = a == scn.ego_index
        col = "#ff7f0e" if ego else AGENT_COLORS[ObjectType(scn.object_type[a])]
        ax.plot(scn.x[a, v], scn.y[a, v], color=col, lw=2.2 if ego else 0.7, alpha=1.0 if ego else 0.6, zorder=4 if ego else 3)
        f = int(np.flatnonzero(v)[0])
        corners = box_corners(scn.x[a, f], scn.y[a, f], scn.heading[a, f], scn.length[a, f], scn.width[a, f])
        ax.add_patch(MplPolygon(corners, closed=True, fc=col, ec="black", lw=0.4, alpha=0.9, zorder=5 if ego else 4))
    e = scn.ego_index
    ve = scn.valid[e]
    cx, cy = np.nanmean(scn.x[e, ve]), np.nanmean(scn.y[e, ve])
    span = max(60.0, np.nanmax(np.abs(scn.x[e, ve] - cx)) + 40, np.nanmax(np.abs(scn.y[e, ve] - cy)) + 40)
    ax.set_xlim(cx - span, cx + span)
    ax.set_ylim(cy - span, cy + span)
    ax.set_aspect("equal")
    ax.set_title(f"{scn.scenario_id} ({scn.source}), ego {scn.ego_track_id} in orange; "
                 f"drivable area {scn.map.drivable_area_source.name.lower()}", fontsize=9)
    ax.set_xlabel("x [m]")
    ax.set_ylabel("y [m]")
    fig.tight_layout()
    from schemas.atomic import atomic_write

    atomic_write(path, lambda tmp: fig.savefig(tmp, format="png"))
    plt.close(fig)
