"""glibc allocator settings for torch on CPU, applied by re-executing the ``impartial`` command once.

glibc serves every block above its mmap threshold (32 MiB at most) with a fresh ``mmap`` and
unmaps it on ``free``. A training or scoring batch of the critic allocates its activations
(hundreds of MiB) anew each time, so the kernel maps and zeroes them again on every batch:
on 2 cores about 40 % of a training step was system time. Disabling mmap for large blocks
(``mmap_max=0``), never trimming the heap, and backing it with transparent huge pages keeps
the memory in the process. Measured by ``benchmarks/allocator.py``.

Linux with glibc only; elsewhere, or when ``GLIBC_TUNABLES`` already sets ``mmap_max``, or
with ``IMPARTIAL_DEFAULT_MALLOC=1``, nothing changes. Freed memory then stays with the process
(its resident size is its peak).

Only the training, benchmark, refinement and cross-validation commands (:data:`TUNED_COMMANDS`) re-execute,
and only the ``impartial`` process itself runs under these settings: glibc reads them once, at start,
so the re-executed process puts the environment back as it was before anything else runs, and the
processes it starts (Dask workers, which would otherwise never return memory) inherit the user's
own environment.
"""
from __future__ import annotations

import os
import platform
import sys

TUNABLES = "glibc.malloc.hugetlb=1:glibc.malloc.mmap_max=0:glibc.malloc.trim_threshold=17179869184"
"""``GLIBC_TUNABLES`` entries: THP-backed heap, no mmap for large blocks, no heap trimming (16 GiB)."""
OPT_OUT = "IMPARTIAL_DEFAULT_MALLOC"
TUNED_COMMANDS = frozenset({"train-critic", "benchmark", "refine", "cv", "calibrate"})
"""The ``impartial`` subcommands that run under :data:`TUNABLES` (the ones whose time goes to torch batches);
``synth``, ``validate``, ``inspect`` and the rest run under the user's own allocator settings."""
BEFORE = "_IMPARTIAL_GLIBC_TUNABLES_BEFORE"
"""Set in the re-executed process only: the ``GLIBC_TUNABLES`` value to give back to its children."""


def tuned_environment(env: dict[str, str]) -> dict[str, str] | None:
    """``env`` with :data:`TUNABLES` added to ``GLIBC_TUNABLES``, or None when nothing should change."""
    if sys.platform != "linux" or platform.libc_ver()[0] != "glibc" or env.get(OPT_OUT) == "1":
        return None
    current = env.get("GLIBC_TUNABLES", "")
    if "glibc.malloc.mmap_max" in current:
        return None
    return {**env, "GLIBC_TUNABLES": ":".join(t for t in (current, TUNABLES) if t), BEFORE: current}


def restore_environment(env) -> bool:
    """In the re-executed process, put ``GLIBC_TUNABLES`` in ``env`` (``os.environ``) back to its value
    before :func:`tuned_environment`; True when it did."""
    if BEFORE not in env:
        return False
    before = env.pop(BEFORE)
    if before:
        env["GLIBC_TUNABLES"] = before
    else:
        env.pop("GLIBC_TUNABLES", None)
    return True


def reexec_tuned() -> None:
    """Replace this process by the same command line under :func:`tuned_environment` (returns when
    nothing should change). Only for the console entry point: the process is replaced. In the
    re-executed process it returns at once, after :func:`restore_environment`."""
    if restore_environment(os.environ):
        return
    env = tuned_environment(dict(os.environ))
    if env is None or not getattr(sys, "orig_argv", None):
        return
    sys.stdout.flush()
    sys.stderr.flush()
    os.execve(sys.executable, [sys.executable, *sys.orig_argv[1:]], env)
