"""The ``impartial`` command re-executes itself once with glibc's allocator tunables."""
from __future__ import annotations

import os
import platform
import subprocess
import sys

import pytest

from pipelines.allocator import OPT_OUT, TUNABLES, tuned_environment

GLIBC = sys.platform == "linux" and platform.libc_ver()[0] == "glibc"


@pytest.mark.skipif(not GLIBC, reason="glibc tunables exist on Linux with glibc only")
def test_tuned_environment_appends_to_existing_tunables_and_respects_opt_out():
    env = tuned_environment({"GLIBC_TUNABLES": "glibc.malloc.arena_max=2", "X": "1"})
    assert env["GLIBC_TUNABLES"] == f"glibc.malloc.arena_max=2:{TUNABLES}" and env["X"] == "1"
    assert tuned_environment({})["GLIBC_TUNABLES"] == TUNABLES
    assert tuned_environment({"GLIBC_TUNABLES": "glibc.malloc.mmap_max=5"}) is None   # the user's choice wins
    assert tuned_environment({OPT_OUT: "1"}) is None


@pytest.mark.skipif(not GLIBC, reason="glibc tunables exist on Linux with glibc only")
def test_reexec_runs_the_same_command_once_with_the_tunables_set():
    code = ("import os, sys; from pipelines.allocator import reexec_tuned; print('run', sys.argv[1:]); reexec_tuned(); "
            "print(os.environ['GLIBC_TUNABLES'])")
    env = {k: v for k, v in os.environ.items() if k not in ("GLIBC_TUNABLES", OPT_OUT)}
    out = subprocess.run([sys.executable, "-c", code, "a", "b"], env=env, capture_output=True, text=True, check=True,
                         cwd=os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
    lines = out.stdout.splitlines()
    assert lines == ["run ['a', 'b']", "run ['a', 'b']", TUNABLES]   # ran twice: before and after the re-exec
