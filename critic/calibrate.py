"""Re-fit the hazard calibration of an existing checkpoint: :func:`recalibrate`.

Loads the checkpoint, fits a :class:`~critic.calibration.Calibration` on the dataset's
validation split (:func:`critic.calibration.fit_on_split`; the ``optimistic`` variant on its
expert-logged rows, as it was trained), and one per source domain on that domain's rows, and stores them in
the checkpoint's ``config.json``.
``impartial calibrate CHECKPOINT DATA`` does it from the command line (for a checkpoint
trained before the scales existed) and prints the fitted numbers as JSON.
"""
from __future__ import annotations

from pathlib import Path

from .calibration import Calibration, fit_by_domain, fit_on_split
from .checkpoint import load_checkpoint, save_calibration
from .config import Variant
from .data import load_splits, row_sources
from .model import build_model


def recalibrate(folder: str | Path, data: str, max_groups: int = 255) -> Calibration:
    """Fit the scales and offsets of the checkpoint in ``folder`` on ``data``'s validation split (its
    first ``max_groups`` scenes), store them in ``folder/config.json`` and return them."""
    model, cfg = load_checkpoint(folder, build_model)
    arr = load_splits(data, ("val",), cfg.features, log=lambda *a: None)
    if cfg.variant is Variant.OPTIMISTIC:
        arr = arr.select_rows(arr.expert_logged)
    calibration = fit_on_split(model.eval(), arr, cfg.features.occ_size, max_groups)
    by_domain = fit_by_domain(model, arr, row_sources(data, ("val",), arr.sample_id), cfg.features.occ_size, max_groups)
    save_calibration(folder, calibration, by_domain)
    return calibration
