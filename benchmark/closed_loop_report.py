"""Closed-loop table (markdown, CSV) and plot of ``impartial refine``."""
from __future__ import annotations

import csv
from pathlib import Path

from schemas.atomic import atomic_write, atomic_write_text

COLUMNS = (("collisions_per_100m", "at-fault coll/100m", 3), ("contacts_per_100m", "all contacts/100m", 3),
           ("offroad_per_100m", "offroad/100m", 3),
           ("solid_crossings_per_100m", "solid/100m", 3),
           ("red_lights_per_100m", "red/100m", 3), ("violations_per_100m", "viol/100m", 3),
           ("violations_sd_seeds", "viol sd (seeds)", 3),
           ("collision_rate", "at-fault coll rate", 3), ("progress_m", "progress m", 1), ("progress_vs_log", "prog/log", 3),
           ("PDMS", "PDMS", 3), ("NC", "NC", 3), ("DAC", "DAC", 3), ("TTC", "TTC", 3), ("EP", "EP", 3), ("C", "C", 3))


def markdown(table: dict[str, dict[str, dict]]) -> str:
    """``table[section][policy] = summary`` -> one markdown table per section."""
    out = []
    for section, rows in table.items():
        first = next(iter(rows.values()))
        n = first["episodes"]
        k = max(r.get("seeds", 1) for r in rows.values())
        out.append(f"### {section} ({n} episodes" + (f"; rows of several seeds pool them, up to {k}" if k > 1 else "")
                   + ")\n")
        out.append("| policy | " + " | ".join(c[1] for c in COLUMNS) + " |")
        out.append("|---|" + "---:|" * len(COLUMNS))
        for name, s in rows.items():
            out.append(f"| {name} | " + " | ".join(f"{s[k]:.{p}f}" for k, _, p in COLUMNS) + " |")
        out.append("")
    return "\n".join(out)


def write_report(out: Path, table: dict[str, dict[str, dict]]) -> str:
    """Writes ``closed_loop.md``, ``closed_loop.csv`` and ``closed_loop.png``; returns the markdown."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out.mkdir(parents=True, exist_ok=True)
    md = markdown(table)
    atomic_write_text(out / "closed_loop.md", md)

    def write_csv(p):
        with open(p, "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["section", "policy", "episodes", *(c[0] for c in COLUMNS)])
            for section, rows in table.items():
                for name, s in rows.items():
                    w.writerow([section, name, s["episodes"], *(repr(float(s[c[0]])) for c in COLUMNS)])
    atomic_write(out / "closed_loop.csv", write_csv)

    rows = table["all"]
    names = list(rows)
    fig, ax = plt.subplots(1, 3, figsize=(13, 3.6))
    for a, (key, title) in zip(ax, (("violations_per_100m", "collisions + off-road per 100 m"),
                                    ("progress_vs_log", "progress / logged progress"), ("PDMS", "PDMS (first 4 s)"))):
        a.barh(names, [rows[n][key] for n in names], color=["#888", "#2a7", "#d62", "#27c"][: len(names)])
        a.set_title(title, fontsize=10)
        a.invert_yaxis()
    for a in ax[1:]:
        a.set_yticklabels([])
    fig.tight_layout()
    atomic_write(out / "closed_loop.png", lambda p: fig.savefig(p, format="png", dpi=110))
    plt.close(fig)
    return md
