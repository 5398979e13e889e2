"""Leaderboard outputs: markdown (stdout and file), CSV, and a self-contained HTML report."""
from __future__ import annotations

import base64
import csv
import html
import io
from pathlib import Path

import numpy as np

from schemas.atomic import atomic_write, atomic_write_text
from schemas.errors import InputError

from .metrics import auroc

COLUMNS = [
    ("model", "model"), ("collision_auroc", "coll AUROC"), ("collision_auprc", "coll AUPRC"),
    ("collision_recall@5%fpr", "coll R@5%FPR"), ("collision_ece", "coll ECE"), ("collision_brier", "coll Brier"),
    ("offroad_auroc", "off AUROC"), ("offroad_auprc", "off AUPRC"), ("offroad_recall@5%fpr", "off R@5%FPR"),
    ("offroad_ece", "off ECE"), ("offroad_brier", "off Brier"), ("mean_risk_on_failures", "risk|fail"),
    ("failures_called_safe", "fail called safe"), ("causal_pairwise_acc", "causal acc"), ("daf", "DAF"),
    ("collision_time_mae_s", "coll t-MAE s"), ("offroad_time_mae_s", "off t-MAE s"), ("g_iou", "G-IoU"),
    ("f_iou", "f-IoU"),
]


def read_predictions(folder: str | Path, columns: list[str] | None = None):
    """``folder/predictions.parquet`` (the rows ``impartial benchmark`` or ``impartial cv`` scored) as a pyarrow
    table; a missing or unreadable file, or a missing column, is an ``InputError`` naming it."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = Path(folder) / "predictions.parquet"
    if not path.is_file():
        raise InputError("no predictions here: run impartial benchmark (or impartial cv) first", path=str(path))
    try:
        return pq.read_table(path, columns=columns)
    except (pa.ArrowException, OSError, KeyError) as err:
        raise InputError(f"unreadable predictions ({' '.join(str(err).split())})", path=str(path)) from None


def _fmt(v) -> str:
    if isinstance(v, str):
        return v
    return "n/a" if v is None or (isinstance(v, float) and np.isnan(v)) else f"{v:.3f}"


def markdown(rows: list[dict], title: str = "Risk Foreseeing Benchmark") -> str:
    head = "| " + " | ".join(h for _, h in COLUMNS) + " |"
    sep = "|" + "|".join("---" for _ in COLUMNS) + "|"
    body = ["| " + " | ".join(_fmt(r.get(k)) for k, _ in COLUMNS) + " |" for r in rows]
    return "\n".join([f"### {title}", "", head, sep, *body, ""])


def write_csv(rows: list[dict], path: Path) -> None:
    """``rows`` as CSV at ``path``, written atomically (:func:`schemas.atomic.atomic_write`)."""
    keys = list(rows[0]) if rows else []

    def write(tmp: Path) -> None:
        with open(tmp, "w", newline="") as fh:
            w = csv.DictWriter(fh, fieldnames=keys)
            w.writeheader()
            for r in rows:
                w.writerow({k: r.get(k) for k in keys})
    atomic_write(path, write)


def html_table(md: str) -> str:
    """HTML of markdown sections made of ``### title`` lines, pipe tables (the first row of each table
    is its header; separator rows are dropped) and plain lines (paragraphs), for ``write_html``'s
    ``extra_sections``."""
    out, in_table = [], False
    for line in md.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")] if line.startswith("|") else None
        if cells is not None and all(set(c) <= {"-", ":"} and c for c in cells):
            continue
        if cells is not None:
            tag = "td" if in_table else "th"
            out.append(("" if in_table else "<table>") + "<tr>" + "".join(f"<{tag}>{html.escape(c)}</{tag}>" for c in cells)
                       + "</tr>")
            in_table = True
            continue
        if in_table:
            out.append("</table>")
            in_table = False
        if line.startswith("### "):
            out.append(f"<h2>{html.escape(line[4:])}</h2>")
        elif line.strip():
            out.append(f"<p>{html.escape(line.replace('`', ''))}</p>")
    if in_table:
        out.append("</table>")
    return "".join(out)


def _png(fig) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90, bbox_inches="tight")
    import matplotlib.pyplot as plt

    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode()


def _roc_reliability(preds: dict, truth: dict) -> list[tuple[str, str]]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figs = []
    for ev in ("collision", "offroad"):
        y = truth[ev]
        fig, (a1, a2) = plt.subplots(1, 2, figsize=(11, 4.5))
        for name, p in preds.items():
            s = getattr(p, f"{ev}_risk")
            order = np.argsort(-s, kind="mergesort")
            tp, fp = np.cumsum(y[order]), np.cumsum(~y[order])
            a1.plot(np.r_[0, fp / max((~y).sum(), 1)], np.r_[0, tp / max(y.sum(), 1)],
                    label=f"{name} ({auroc(s, y)[0]:.3f})")
            bins = np.minimum((s * 10).astype(int), 9)
            xs = [s[bins == b].mean() for b in range(10) if (bins == b).any()]
            ys = [y[bins == b].mean() for b in range(10) if (bins == b).any()]
            a2.plot(xs, ys, marker="o", label=name)
        a1.plot([0, 1], [0, 1], "k:", lw=0.8)
        a2.plot([0, 1], [0, 1], "k:", lw=0.8)
        a1.set(title=f"ROC, {ev}", xlabel="false-alarm rate", ylabel="recall")
        a2.set(title=f"reliability, {ev}", xlabel="predicted risk", ylabel="observed frequency")
        a1.legend(fontsize=7)
        figs.append((f"ROC and reliability: {ev}", _png(fig)))
    return figs


def _dreams(preds: dict, bench, n: int = 3) -> list[tuple[str, str]]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    arr = bench.arrays
    truth = np.unpackbits(arr.occ, axis=-1, count=bench.occ_size)
    failing = np.flatnonzero(np.isfinite(arr.coll_t))[:: max(1, int(np.isfinite(arr.coll_t).sum() // n))][:n]
    models = [(k, p) for k, p in preds.items() if p.occupancy is not None and "(occupancy)" not in k]
    out = []
    for r in failing:
        K = truth.shape[1]
        fig, axes = plt.subplots(1 + len(models), K, figsize=(1.6 * K, 1.7 * (1 + len(models))))
        rows = [("truth", truth[r].astype(float))] + [(k, p.occupancy[r]) for k, p in models]
        for i, (label, occ) in enumerate(rows):
            for k in range(K):
                ax = axes[i, k]
                img = np.stack([occ[k, 0], 0.35 * occ[k, 1], np.zeros_like(occ[k, 0])], -1)
                ax.imshow(np.clip(img, 0, 1).transpose(1, 0, 2)[::-1, ::-1], interpolation="nearest")
                ax.set_xticks([])
                ax.set_yticks([])
                if k == 0:
                    ax.set_ylabel(label, fontsize=7)
                if i == 0:
                    ax.set_title(f"{k + 1} s", fontsize=7)
        fig.suptitle(f"{arr.sample_id[r]} ({arr.outcome[r]} at {arr.coll_t[r]:.2f} s): agents red, off-road green; "
                     "grid centred on the planned ego pose", fontsize=8)
        out.append((f"dream vs truth: {arr.sample_id[r]}", _png(fig)))
    return out


def write_html(rows: list[dict], preds: dict, bench, path: Path, extra_sections: list[str] = ()) -> None:
    truth = {"collision": np.isfinite(bench.arrays.coll_t), "offroad": np.isfinite(bench.arrays.off_t)}
    figs = _roc_reliability(preds, truth) + _dreams(preds, bench)
    table = "<table><tr>" + "".join(f"<th>{html.escape(h)}</th>" for _, h in COLUMNS) + "</tr>"
    for r in rows:
        table += "<tr>" + "".join(f"<td>{html.escape(_fmt(r.get(k)))}</td>" for k, _ in COLUMNS) + "</tr>"
    table += "</table>"
    imgs = "".join(f"<h3>{html.escape(t)}</h3><img src='data:image/png;base64,{b}'/>" for t, b in figs)
    doc = (f"<!doctype html><html><head><meta charset='utf-8'><title>Risk Foreseeing Benchmark</title>"
           "<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse;font-size:12px}"
           "td,th{border:1px solid #ccc;padding:3px 6px;text-align:right}th{background:#eee}</style></head><body>"
           f"<h1>Risk Foreseeing Benchmark</h1><p>{len(bench.arrays.sample_id)} test plans.</p>{table}"
           + "".join(extra_sections) + imgs + "</body></html>")
    atomic_write_text(path, doc)
