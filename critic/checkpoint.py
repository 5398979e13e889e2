"""Checkpoints: safetensors weights plus a JSON configuration; loading never unpickles."""
from __future__ import annotations

from pathlib import Path

from safetensors.torch import load_file, save_file

from schemas import InputError

from .config import TrainConfig

WEIGHTS, CONFIG = "model.safetensors", "config.json"


def save_checkpoint(folder: str | Path, model, cfg: TrainConfig, extra: dict | None = None) -> Path:
    """Write ``model.safetensors`` and ``config.json`` atomically into ``folder``."""
    import json
    import os

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    tmp_w, tmp_c = folder / f".{WEIGHTS}.tmp", folder / f".{CONFIG}.tmp"
    state = {k: v.detach().contiguous().cpu() for k, v in model.state_dict().items()}
    save_file(state, str(tmp_w), metadata={"format": "pt"})
    payload = json.loads(cfg.to_json())
    if extra:
        payload["_extra"] = extra
    tmp_c.write_text(json.dumps(payload, indent=1, sort_keys=True))
    os.replace(tmp_w, folder / WEIGHTS)
    os.replace(tmp_c, folder / CONFIG)
    return folder


def load_checkpoint(folder: str | Path, build):
    """``(model, cfg)``: ``build(cfg)`` makes the module, weights come from safetensors."""
    import json

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
    model.calibration = extra.get("calibration", {"collision": 0.0, "offroad": 0.0})  # scales default to 1
    return model, cfg
