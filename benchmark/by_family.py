"""Collision and off-road AUROC per perturbation family, from ``predictions.parquet``.

:func:`benchmark.evaluate.run_benchmark` writes each row's ``family`` into the predictions.
:func:`family_leaderboard` gives, per model and event, the AUROC over named groups of rows:

* ``all``: every row (the leaderboard's own number);
* ``all but <name>[,<name>...]``: every row except those of the *hidden-cause* families
  (``Family.hidden_cause``: ``agent_perturbation``, where the ego follows its log and another
  vehicle brakes or cuts in from the anchor on, so its rows carry exactly the inputs of their
  scene's logged row and no critic can rank them within the scene; ``benchmark.ceiling``);
* ``family=<name>``: the rows of one family.

The group names say which rows they hold, so the independent recompute
(:mod:`benchmark.recompute`) rebuilds them from the parquet alone. An AUROC is NaN where a
group holds one class only.

``impartial by-family BENCH_OUT [DATA] [--without FAMILY ...]`` prints the tables;
``DATA`` supplies the families for predictions written before the column existed.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa

from schemas.dataset import Dataset

from .metrics import METRICS
from schemas.errors import InputError

EVENTS = ("collision", "offroad")
_TITLE = {"collision": "Collision", "offroad": "Off-road"}


def hidden_cause_families() -> tuple[str, ...]:
    """Names of the registered families whose rows share their inputs with the logged row (sorted)."""
    from synth.families import families

    return tuple(sorted(name for name, fam in families().items() if fam.hidden_cause))


def read_row_column(data: str | Path, column: str, splits: tuple[str, ...] | None = None) -> dict[str, str]:
    """``{sample_id: value of column}`` of the counterfactuals of ``data`` (a folder, or several separated by
    commas), restricted to ``splits`` when given."""
    out: dict[str, str] = {}
    for d in [d for d in str(data).split(",") if d]:
        ds = Dataset(d)
        present = sorted(sp for sp in ds.splits if splits is None or sp in splits)   # the folders' name order
        if present:
            rows = ds.counterfactuals(present, columns=["sample_id", column])
            out.update(zip(rows.column("sample_id").to_pylist(), rows.column(column).to_pylist()))
    return out


def read_families(data: str | Path, splits: tuple[str, ...] | None = None) -> dict[str, str]:
    """``{sample_id: family}`` (:func:`read_row_column`)."""
    return read_row_column(data, "family", splits)


def _auroc(p: np.ndarray, y: np.ndarray, keep: np.ndarray) -> float:
    """AUROC of the rows in ``keep`` (bool ``[N]``), NaN when they hold one class only."""
    value, valid = METRICS["auroc"](p[keep], y[keep])
    return value if valid else float("nan")


def family_leaderboard(pred: pa.Table, families: dict[str, str] | None = None, without: tuple[str, ...] | None = None,
                       events: tuple[str, ...] = EVENTS) -> list[dict]:
    """One row ``{model, event, group, plans, events, auroc}`` per model, event and group (module
    docstring). Families come from ``pred``'s ``family`` column, or from ``families``
    (``{sample_id: family}``) when given; ``without`` defaults to :func:`hidden_cause_families` (an
    empty tuple drops the ``all but`` group)."""
    if families is not None:
        fam = np.array([families.get(s, "?") for s in pred.column("sample_id").to_pylist()])
    elif "family" in pred.column_names:
        fam = np.array(pred.column("family").to_pylist())
    else:
        raise InputError("predictions have no family column: pass the dataset's families (--data)")
    model = np.array(pred.column("model").to_pylist())
    without = hidden_cause_families() if without is None else tuple(sorted(without))
    groups = {"all": np.ones(len(fam), bool)}
    if without:
        groups[f"all but {','.join(without)}"] = ~np.isin(fam, without)
    groups.update({f"family={f}": fam == f for f in sorted(set(fam.tolist()))})
    rows = []
    for event in events:
        y = pred.column(f"true_{event}").to_numpy(zero_copy_only=False).astype(bool)
        p = pred.column(f"{event}_risk").to_numpy(zero_copy_only=False)
        for m in dict.fromkeys(model.tolist()):
            for name, rows_of_group in groups.items():
                keep = rows_of_group & (model == m)
                rows.append({"model": m, "event": event, "group": name, "plans": int(keep.sum()),
                             "events": int(y[keep].sum()), "auroc": _auroc(p, y, keep)})
    return rows


def family_auroc(pred: pa.Table, families: dict[str, str] | None = None, event: str = "collision") -> dict[str, dict[str, float]]:
    """``{model: {family: AUROC of <event>_risk against true_<event> within the family}}``."""
    out: dict[str, dict[str, float]] = {}
    for r in family_leaderboard(pred, families, without=(), events=(event,)):
        if r["group"].startswith("family="):
            out.setdefault(r["model"], {})[r["group"].split("=", 1)[1]] = r["auroc"]
    return out


def auroc_without(pred: pa.Table, families: dict[str, str] | None, without: set[str],
                  event: str = "collision") -> dict[str, float]:
    """``{model: AUROC of <event>_risk against true_<event> over the rows whose family is not in without}``."""
    rows = family_leaderboard(pred, families, without=tuple(without), events=(event,))
    return {r["model"]: r["auroc"] for r in rows if r["group"].startswith("all but ")}


def family_markdown(rows: list[dict]) -> str:
    """The AUROC tables of :func:`family_leaderboard`, one per event, a column per group."""
    out = []
    for event in dict.fromkeys(r["event"] for r in rows):
        groups = list(dict.fromkeys(r["group"] for r in rows if r["event"] == event))
        cell = {(r["model"], r["group"]): r for r in rows if r["event"] == event}
        models = list(dict.fromkeys(r["model"] for r in rows if r["event"] == event))
        first = models[0]  # every model scores the same rows
        hidden = [g for g in groups if g.startswith("all but ")]
        note = ([f"`{hidden[0]}`: every row but those of the hidden-cause families, whose ego follows its log while "
                 "another agent changes from the anchor on (their rows carry the inputs of their scene's logged row).", ""]
                if hidden else [])
        out += [f"### {_TITLE.get(event, event)} AUROC by perturbation family", "", *note,
                "| model | " + " | ".join(g.removeprefix("family=") for g in groups) + " |",
                "|" + "|".join("---" for _ in range(len(groups) + 1)) + "|",
                "| plans (events) | " + " | ".join(f"{cell[(first, g)]['plans']} ({cell[(first, g)]['events']})"
                                                   for g in groups) + " |"]
        for m in models:
            out.append(f"| {m} | " + " | ".join("n/a" if np.isnan(cell[(m, g)]["auroc"]) else f"{cell[(m, g)]['auroc']:.3f}"
                                                for g in groups) + " |")
        out.append("")
    return "\n".join(out)
