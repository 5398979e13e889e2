"""Resident memory of ``impartial train-critic``: peak anonymous and file-backed resident sizes.

Usage: python benchmarks/train_memory.py DATA [DATA ...] [--epochs N] [--max-minutes M] [--preset P] [--variant V]
For each dataset folder, in turn, runs ``impartial train-critic --data DATA`` (a fresh output folder
under a temporary directory; the dataset's feature cache is built first when missing and is then
read memory-mapped) and samples ``/proc/PID/status`` of the command and its child processes every
0.2 s. Prints the dataset's rows, the peak ``RssAnon`` (heap, tensors: what grows with a dataset held
in memory), the peak ``RssFile`` (pages of the memory-mapped cache the kernel keeps resident; it
reclaims them under pressure) and ``VmHWM`` (the kernel's own peak of both), and the wall time.
Sums over processes count pages they share twice, and the 0.2 s sampling can miss a short peak.
Linux only (``/proc``).
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

FIELDS = ("RssAnon", "RssFile", "VmHWM")


def status_kib(pid: int) -> dict[str, int]:
    """``{field: KiB}`` of :data:`FIELDS` for process ``pid`` (empty once it has gone)."""
    out = {}
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            key, _, val = line.partition(":")
            if key in FIELDS:
                out[key] = int(val.split()[0])
    except (FileNotFoundError, ProcessLookupError, ValueError):
        return {}
    return out


def descendants(pid: int) -> list[int]:
    """``pid`` and every process below it (``/proc/PID/task/*/children``)."""
    todo, seen = [pid], []
    while todo:
        p = todo.pop()
        seen.append(p)
        try:
            for task in Path(f"/proc/{p}/task").iterdir():
                todo += [int(c) for c in (task / "children").read_text().split()]
        except OSError:       # the process (or a thread) ended while being read
            pass
    return seen


def rows_of(data: Path) -> int | None:
    try:
        return int(json.loads((data / "_manifest.json").read_text())["counts"]["counterfactuals"])
    except (FileNotFoundError, KeyError, TypeError, ValueError):
        return None


def measure(cmd: list[str]) -> tuple[dict[str, int], float, int]:
    """Peak of each field summed over the process tree (KiB), wall seconds and exit status of ``cmd``."""
    peak = dict.fromkeys(FIELDS, 0)
    t0 = time.perf_counter()
    with tempfile.TemporaryFile("w+") as err:    # a file, not a pipe: a chatty child never blocks on it
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=err, text=True)
        while proc.poll() is None:
            tree = [status_kib(p) for p in descendants(proc.pid)]
            for f in FIELDS:
                peak[f] = max(peak[f], sum(s.get(f, 0) for s in tree))
            time.sleep(0.2)
        if proc.returncode:
            err.seek(0)
            sys.stderr.write(err.read()[-2000:])
    return peak, time.perf_counter() - t0, proc.returncode


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("data", nargs="+", type=Path)
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--preset", default="default")
    ap.add_argument("--variant", default="impartial")
    ap.add_argument("--max-minutes", type=float, default=3.0, help="training budget per run (the cache is built first)")
    args = ap.parse_args()
    exe = Path(sys.executable).with_name("impartial")
    for data in args.data:
        with tempfile.TemporaryDirectory() as tmp:
            cmd = [str(exe), "train-critic", "--preset", args.preset, "--data", str(data), "--variant", args.variant,
                   "--epochs", str(args.epochs), "--max-minutes", str(args.max_minutes), "--quiet", "--out", str(Path(tmp) / "critic")]
            peak, wall, rc = measure(cmd)
        mib = {f: v / 1024 for f, v in peak.items()}
        print(f"{data}: {rows_of(data) or '?'} rows; peak RssAnon {mib['RssAnon']:,.0f} MiB, RssFile "
              f"{mib['RssFile']:,.0f} MiB, VmHWM {mib['VmHWM']:,.0f} MiB; {wall:.0f} s (exit {rc})", flush=True)


if __name__ == "__main__":
    main()
