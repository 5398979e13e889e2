"""Where the critic runs: device choice, host-to-device copies and mixed precision.

``resolve_device("auto")`` picks the first CUDA GPU when torch sees one, else the CPU; asking for
``cuda`` on a machine without one is an :class:`~schemas.InputError` (not a silent CPU run). On a
GPU, batches are copied from pinned host memory without blocking (:func:`to_device`) and the
forward pass runs under bf16 autocast (:func:`autocast`); on the CPU both are plain float32.
"""
from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterable, Iterator
from queue import Queue
from typing import TypeVar

import numpy as np
import torch

from schemas import InputError

CHOICES = ("auto", "cpu", "cuda")
"""What ``--device`` accepts (``cuda:N`` picks one GPU of several)."""

T = TypeVar("T")
U = TypeVar("U")


def resolve_device(name: str | torch.device = "auto") -> torch.device:
    """The torch device ``name`` (``auto``, ``cpu``, ``cuda`` or ``cuda:N``) stands for on this machine."""
    if isinstance(name, torch.device):
        return name
    name = str(name).strip().lower()
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cpu":
        return torch.device("cpu")
    if name == "cuda" or name.startswith("cuda:"):
        if not torch.cuda.is_available():
            raise InputError(f"{name}: torch sees no CUDA GPU here (torch {torch.__version__}, built for CUDA "
                             f"{torch.version.cuda or 'none'}); use --device cpu or auto", field="device")
        dev = torch.device(name)
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise InputError(f"{name}: this machine has {torch.cuda.device_count()} CUDA GPU(s)", field="device")
        return dev
    raise InputError(f"{name!r} is not a device ({', '.join(CHOICES)} or cuda:N)", field="device")


def module_device(module: torch.nn.Module) -> torch.device:
    """The device of ``module``'s (first) parameters: where its inputs must go."""
    return next(module.parameters()).device


def autocast(device: torch.device) -> contextlib.AbstractContextManager:
    """bf16 autocast on a CUDA device, nothing on the CPU (float32 there: bf16 matmuls are slower on most CPUs)."""
    if device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


def to_device(array, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """``array`` (numpy or torch) as a ``dtype`` tensor on ``device``: through pinned memory and a
    non-blocking copy for a CUDA device, by ``torch.as_tensor`` (no copy where possible) otherwise."""
    t = torch.as_tensor(np.ascontiguousarray(array) if isinstance(array, np.ndarray) else array, dtype=dtype)
    if device.type != "cuda" or t.device == device:
        return t.to(device)
    return t.pin_memory().to(device, non_blocking=True)


def prefetch(items: Iterable[T], build: Callable[[T], U], depth: int = 2) -> Iterator[U]:
    """``build(item)`` for each of ``items``, in order, computed up to ``depth`` items ahead in one background
    thread (batch building overlaps the device's step). An exception in ``build`` is raised here."""
    q: Queue = Queue(maxsize=depth)
    done = object()
    stop = threading.Event()

    def work() -> None:
        try:
            for it in items:
                if stop.is_set():
                    return
                q.put((True, build(it)))
        except BaseException as err:      # handed to the consumer, which raises it
            q.put((False, err))
            return
        q.put((True, done))

    th = threading.Thread(target=work, daemon=True, name="impartial-prefetch")
    th.start()
    try:
        while True:
            ok, value = q.get()
            if not ok:
                raise value
            if value is done:
                return
            yield value
    finally:
        stop.set()
        while th.is_alive():          # unblock a producer waiting on a full queue
            while not q.empty():
                q.get_nowait()
            th.join(timeout=0.05)
