"""glibc allocator settings applied inside a running process, for the critic used as a library.

A user's RL loop imports :class:`critic.ImpartialCritic` directly, so it never goes through the
``impartial`` command's re-execution under ``GLIBC_TUNABLES`` (:mod:`pipelines.allocator`). The two
settings that matter most can still be changed after start through ``mallopt``: no ``mmap`` for large
blocks (``M_MMAP_MAX = 0``) and no heap trimming (``M_TRIM_THRESHOLD``), so the activations of each
scoring call reuse the heap instead of being mapped and zeroed by the kernel again on every call
(``benchmarks/critic_latency.py`` measures the difference). Only the transparent-huge-page backing of
the re-executed command has no run-time switch.

:func:`keep_large_blocks` runs once per process, on Linux with glibc, unless the environment sets
:data:`OPT_OUT` to ``1`` (read when it is called, not at import). Freed memory then stays with the
process: its resident size is its peak.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import os
import platform
import sys

OPT_OUT = "IMPARTIAL_DEFAULT_MALLOC"
"""Environment variable: ``1`` keeps glibc's own allocator settings (here and in :mod:`pipelines.allocator`)."""
M_TRIM_THRESHOLD, M_MMAP_MAX = -1, -4
"""``mallopt`` parameter numbers from glibc's ``malloc.h``."""
TRIM_THRESHOLD_BYTES = 16 << 30
"""Heap trimming only above 16 GiB of free heap top (in effect: never)."""

_applied: bool | None = None


def keep_large_blocks() -> bool:
    """Set ``M_MMAP_MAX = 0`` and ``M_TRIM_THRESHOLD`` = 16 GiB in this process (once); True when they are
    set (now or by an earlier call), False on another platform or C library, or when opted out."""
    global _applied
    if _applied is not None:
        return _applied
    _applied = False
    if sys.platform != "linux" or platform.libc_ver()[0] != "glibc" or os.environ.get(OPT_OUT) == "1":
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
    except OSError:
        return False
    _applied = bool(libc.mallopt(M_MMAP_MAX, 0)) and bool(libc.mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD_BYTES))
    return _applied
