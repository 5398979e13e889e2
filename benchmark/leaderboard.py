"""``impartial benchmark``: score every model on a dataset's splits and write the leaderboard files.

:func:`write_benchmark` writes, into the output folder, ``predictions.parquet``
(:func:`benchmark.evaluate.run_benchmark`), ``leaderboard.md`` (the overall table, one table per
slice, the per-family table), ``leaderboard.csv``, ``leaderboard_families.csv``,
``leaderboard_slices.csv`` (when there are slices) and ``report.html``.
"""
from __future__ import annotations

from pathlib import Path

import pyarrow.parquet as pq

from schemas.atomic import atomic_write_text

from .by_family import family_leaderboard, family_markdown
from .constant_velocity import ConstantVelocityModel
from .evaluate import run_benchmark, slice_leaderboards
from .models import CriticModel, OracleModel
from .report import html_table, markdown, write_csv, write_html


def write_benchmark(data: str, critics: dict[str, str], out: Path, splits: tuple[str, ...] = ("test",),
                    log=print) -> str:
    """Benchmark the critics ``{name: checkpoint folder}`` (in that order), then the constant-velocity
    baseline and the oracle, on ``data``'s ``splits``; write the files listed in the module docstring
    into ``out`` and return the leaderboard markdown."""
    models = [CriticModel(name, ckpt) for name, ckpt in critics.items()]
    models += [ConstantVelocityModel(), OracleModel()]
    out = Path(out)
    rows, bench, preds = run_benchmark(data, models, out, log=log, splits=splits)
    md = markdown(rows, f"Risk Foreseeing Benchmark: {data} ({'+'.join(splits)})")
    table = pq.read_table(out / "predictions.parquet")
    slices = slice_leaderboards(table)
    for name, srows in slices.items():
        md += "\n" + markdown(srows, f"Slice: {name}")
    fam_rows = family_leaderboard(table)
    fam_md = family_markdown(fam_rows)
    md += "\n" + fam_md
    atomic_write_text(out / "leaderboard.md", md)
    write_csv(rows, out / "leaderboard.csv")
    write_csv(fam_rows, out / "leaderboard_families.csv")
    if slices:
        write_csv([{"slice": k, **r} for k, srows in slices.items() for r in srows], out / "leaderboard_slices.csv")
    write_html(rows, preds, bench, out / "report.html", extra_sections=[html_table(fam_md)])
    return md
