"""``impartial benchmark``: score every model on a dataset's splits and write the leaderboard files.

:func:`write_benchmark` writes, into the output folder, ``predictions.parquet``
(:func:`benchmark.evaluate.run_benchmark`), ``leaderboard.md`` (the overall table, one table per
slice, the per-family table), ``leaderboard.csv``, ``leaderboard_families.csv``,
``leaderboard_slices.csv`` (when there are slices) and ``report.html``. The overall table carries a 95 %
bootstrap interval over logs for every metric (``leaderboard.csv``: ``{metric}_lo`` / ``{metric}_hi``), and
``leaderboard_differences.csv`` each model minus constant-velocity with its paired interval
(:mod:`benchmark.leaderboard_ci`).
"""
from __future__ import annotations

from pathlib import Path


from schemas.atomic import atomic_write_text

from .by_family import family_leaderboard, family_markdown
from .constant_velocity import ConstantVelocityModel
from .evaluate import run_benchmark, slice_leaderboards
from .intervals import RESAMPLES
from .leaderboard_ci import REFERENCE, interval_tables
from .models import CriticModel, OracleModel
from .report import html_table, markdown, read_predictions, write_csv, write_html


def write_benchmark(data: str, critics: dict[str, str], out: Path, splits: tuple[str, ...] = ("test",),
                    log=print, resamples: int = RESAMPLES, device: str = "cpu") -> str:
    """Benchmark the critics ``{name: checkpoint folder}`` (in that order), then the constant-velocity
    baseline and the oracle, on ``data``'s ``splits``; write the files listed in the module docstring
    into ``out`` and return the leaderboard markdown (intervals from ``resamples`` resamples of the logs); the
    critics score on ``device`` (:func:`critic.device.resolve_device`)."""
    models = [CriticModel(name, ckpt, device) for name, ckpt in critics.items()]
    models += [ConstantVelocityModel(), OracleModel()]
    out = Path(out)
    rows, bench, preds = run_benchmark(data, models, out, log=log, splits=splits)
    table = read_predictions(out)
    csv_rows, shown, diff_csv, diff_shown = interval_tables(table, rows, resamples)
    n_logs = len(set(bench.log_id))
    note = (f"95 % intervals: percentiles of {resamples} bootstrap resamples of the {n_logs} logs (whole logs are "
            "drawn, never rows); differences are paired (the same resamples for both models).\n")
    md = markdown(shown, f"Risk Foreseeing Benchmark: {data} ({'+'.join(splits)})") + "\n" + note
    diff_md = markdown(diff_shown, f"Minus {REFERENCE} (paired 95 % interval over logs)") if diff_shown else ""
    md += "\n" + diff_md
    slices = slice_leaderboards(table)
    for name, srows in slices.items():
        md += "\n" + markdown(srows, f"Slice: {name}")
    fam_rows = family_leaderboard(table)
    fam_md = family_markdown(fam_rows)
    md += "\n" + fam_md
    atomic_write_text(out / "leaderboard.md", md)
    write_csv(csv_rows, out / "leaderboard.csv")
    write_csv(diff_csv, out / "leaderboard_differences.csv")   # empty without constant velocity; never a stale one
    write_csv(fam_rows, out / "leaderboard_families.csv")
    if slices:
        write_csv([{"slice": k, **r} for k, srows in slices.items() for r in srows], out / "leaderboard_slices.csv")
    write_html(shown, preds, bench, out / "report.html",
               extra_sections=[html_table(note + "\n" + diff_md), html_table(fam_md)])
    return md
