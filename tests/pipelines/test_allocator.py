"""The ``impartial`` command re-executes itself once with glibc's allocator tunables."""
from __future__ import annotations

import os
import platform
import subprocess
import sys

import pytest

from pipelines.allocator import OPT_OUT, TUNABLES, restore_environment, tuned_environment

GLIBC = sys.platform == "linux" and platform.libc_ver()[0] == "glibc"


@pytest.mark.skipif(not GLIBC, reason="glibc tunables exist on Linux with glibc only")
def test_tuned_environment_appends_to_existing_tunables_and_respects_opt_out():
    env = tuned_environment({"GLIBC_TUNABLES": "glibc.malloc.arena_max=2", "X": "1"})
    assert env["GLIBC_TUNABLES"] == f"glibc.malloc.arena_max=2:{TUNABLES}" and env["X"] == "1"
    assert restore_environment(env) and env == {"GLIBC_TUNABLES": "glibc.malloc.arena_max=2", "X": "1"}
    fresh = tuned_environment({})
    assert fresh["GLIBC_TUNABLES"] == TUNABLES and restore_environment(fresh) and fresh == {}
    assert tuned_environment({"GLIBC_TUNABLES": "glibc.malloc.mmap_max=5"}) is None   # the user's choice wins
    assert tuned_environment({OPT_OUT: "1"}) is None


@pytest.mark.skipif(not GLIBC, reason="glibc tunables exist on Linux with glibc only")
def test_reexec_runs_the_same_command_once_with_the_tunables_set_and_children_do_not_inherit_them():
    code = ("import os, subprocess, sys; from pipelines.allocator import reexec_tuned; print('run', sys.argv[1:]); "
            "reexec_tuned(); start = open('/proc/self/environ', 'rb').read().decode().split(chr(0)); "
            "print(any(e.startswith('GLIBC_TUNABLES=glibc.malloc.hugetlb=1') for e in start)); "
            "print(subprocess.run([sys.executable, '-c', 'import os; print(os.environ.get(\"GLIBC_TUNABLES\"))'], "
            "capture_output=True, text=True).stdout.strip())")
    env = {k: v for k, v in os.environ.items() if k not in ("GLIBC_TUNABLES", OPT_OUT)}
    out = subprocess.run([sys.executable, "-c", code, "a", "b"], env=env, capture_output=True, text=True, check=True,
                         cwd=os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
    lines = out.stdout.splitlines()
    # ran twice (before and after the re-exec), started under the tunables (glibc may rewrite the string
    # in place as it parses it, so only its start is checked), and its child got none of them
    assert lines == ["run ['a', 'b']", "run ['a', 'b']", "True", "None"]


@pytest.mark.skipif(not GLIBC, reason="glibc tunables exist on Linux with glibc only")
@pytest.mark.parametrize("command, tuned", [("synth", False), ("inspect", False), ("train-critic", True),
                                            ("benchmark", True)])
def test_only_training_benchmark_and_refinement_commands_run_under_the_tunables(command, tuned):
    code = ("import sys; from pipelines import cli; "
            "cli.build_parser = lambda: type('P', (), {'parse_args': lambda self, a: sys.exit(0 if "
            "open('/proc/self/environ', 'rb').read().find(b'GLIBC_TUNABLES=glibc.malloc.hugetlb=1') < 0 else 7)})(); "
            "sys.exit(cli.main())")
    env = {k: v for k, v in os.environ.items() if k not in ("GLIBC_TUNABLES", OPT_OUT)}
    res = subprocess.run([sys.executable, "-c", code, command], env=env, capture_output=True, text=True,
                         cwd=os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
    assert res.returncode == (7 if tuned else 0), res.stderr
