"""Checkpoints: safetensors weights plus a JSON configuration; loading never unpickles.

``config.json`` holds the :class:`~critic.config.TrainConfig` and, under ``_extra``, what training
or adaptation adds (epoch, validation metrics, the hazard :class:`~critic.calibration.Calibration`
under ``calibration``).
"""
from __future__ import annotations

import json
from pathlib import Path

from safetensors.torch import load_file, save_file

from schemas import InputError
from schemas.atomic import atomic_write, atomic_write_text

from .calibration import Calibration
from .config import TrainConfig

WEIGHTS, CONFIG = "model.safetensors", "config.json"


def _config_text(payload: dict) -> str:
    return json.dumps(payload, indent=1, sort_keys=True)


def save_checkpoint(folder: str | Path, model, cfg: TrainConfig, extra: dict | None = None,
                    calibration: Calibration | None = None) -> Path:
    """Write ``model.safetensors`` and ``config.json`` atomically into ``folder``; ``extra`` (and
    ``calibration``, stored as ``extra["calibration"]``) go to ``config.json``'s ``_extra``."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().contiguous().cpu() for k, v in model.state_dict().items()}
    payload = json.loads(cfg.to_json())
    extra = dict(extra or {})
    if calibration is not None:
        extra["calibration"] = calibration.to_dict()
    if extra:
        payload["_extra"] = extra
    atomic_write(folder / WEIGHTS, lambda tmp: save_file(state, str(tmp), metadata={"format": "pt"}))
    atomic_write_text(folder / CONFIG, _config_text(payload))
    return folder


def save_calibration(folder: str | Path, calibration: Calibration,
                     by_domain: dict[str, Calibration] | None = None) -> Path:
    """Store ``calibration`` in the checkpoint ``folder``'s ``config.json`` (``_extra.calibration``) and, when
    given, one per source domain (``_extra.calibration_by_domain``; replaced, or removed when not given),
    atomically; the weights and everything else stay as they are."""
    path = Path(folder) / CONFIG
    payload = json.loads(path.read_text())
    extra = payload.setdefault("_extra", {})
    extra["calibration"] = calibration.to_dict()
    extra.pop("calibration_by_domain", None)
    if by_domain:
        extra["calibration_by_domain"] = {d: c.to_dict() for d, c in by_domain.items()}
    return atomic_write_text(path, _config_text(payload))


def load_checkpoint(folder: str | Path, build):
    """``(model, cfg)``: ``build(cfg)`` makes the module, weights come from safetensors, and
    ``model.calibration`` is the stored :class:`Calibration` (the identity when none is stored)."""
    folder = Path(folder)
    for name in (WEIGHTS, CONFIG):
        if not (folder / name).exists():
            raise InputError("checkpoint file is missing", path=str(folder / name))
    payload = json.loads((folder / CONFIG).read_text())
    extra = payload.pop("_extra", None) or {}
    cfg = TrainConfig.from_json(json.dumps(payload))
    model = build(cfg)
    state = load_file(str(folder / WEIGHTS))
    try:
        missing, unexpected = model.load_state_dict(state, strict=False)
    except RuntimeError as err:
        raise InputError(f"weights do not match the configuration ({str(err).splitlines()[-1].strip()})",
                         path=str(folder / WEIGHTS)) from None
    if missing or unexpected:
        raise InputError(f"weights do not match the configuration (missing {missing[:3]}, unexpected {unexpected[:3]})",
                         path=str(folder / WEIGHTS))
    model.calibration = Calibration.from_dict(extra.get("calibration"))
    model.calibration_by_domain = {str(d): Calibration.from_dict(c)
                                   for d, c in (extra.get("calibration_by_domain") or {}).items()}
    return model, cfg
