"""Atomic file writes: datasets, checkpoints, tables, reports and manifests go through :func:`atomic_write`.

The content is written to a hidden temp file in the destination's folder, optionally
checked, fsynced, then renamed over the destination, so a crash or a killed worker never
leaves a half-written file under the final name (the earlier file, if any, stays intact).
"""
from __future__ import annotations

import os
import uuid
from collections.abc import Callable
from typing import BinaryIO
from pathlib import Path


def temp_path(path: str | Path) -> Path:
    """A hidden, unique temp path beside ``path`` (``.<name>.<8 hex>.tmp``; swept by resumption)."""
    path = Path(path)
    return path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")


def atomic_write(path: str | Path, write: Callable[[Path], None], check: Callable[[Path], None] | None = None) -> Path:
    """Create ``path`` atomically: ``write(tmp)`` fills a temp file beside it, ``check(tmp)`` (when
    given) raises if the result is wrong, then the temp file is fsynced and renamed over ``path``.
    The parent folder is created when missing; the temp file never outlives the call.

    The temp name ends in ``.tmp``: writers that pick a format from the suffix must be told the
    format (``savefig(tmp, format="png")``), or write to a handle (:func:`atomic_write_handle`:
    ``np.savez`` given a path would append ``.npz``)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_path(path)
    try:
        write(tmp)
        if check is not None:
            check(tmp)
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    return path


def atomic_write_text(path: str | Path, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    return atomic_write(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def atomic_write_handle(path: str | Path, fill: Callable[[BinaryIO], None]) -> Path:
    """Create ``path`` atomically from ``fill(fh)``, ``fh`` the temp file opened for binary writing
    (for writers such as ``np.save`` / ``np.savez`` that would rename a path they are given)."""
    def write(tmp: Path) -> None:
        with open(tmp, "wb") as fh:
            fill(fh)
    return atomic_write(path, write)
