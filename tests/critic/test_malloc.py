"""The library's allocator fast path (critic.malloc) is applied once, and not when opted out."""
import platform
import subprocess
import sys

import pytest

CODE = ("import critic.malloc as m; first = m.keep_large_blocks(); print(first, m.keep_large_blocks() == first, "
        "m._applied)")


def _run(env_extra):
    import os
    env = {k: v for k, v in os.environ.items() if k != "IMPARTIAL_DEFAULT_MALLOC"} | env_extra
    return subprocess.run([sys.executable, "-c", CODE], env=env, capture_output=True, text=True, check=True).stdout.split()


@pytest.mark.skipif(sys.platform != "linux" or platform.libc_ver()[0] != "glibc", reason="mallopt is glibc's (Linux)")
def test_keep_large_blocks_applies_once_on_glibc():
    assert _run({}) == ["True", "True", "True"]


def test_keep_large_blocks_does_nothing_when_opted_out():
    assert _run({"IMPARTIAL_DEFAULT_MALLOC": "1"}) == ["False", "True", "False"]


def test_loading_a_critic_applies_it(monkeypatch):
    import critic.api
    calls = []
    monkeypatch.setattr(critic.api, "keep_large_blocks", lambda: calls.append(1))
    import torch
    critic.api.ImpartialCritic(torch.nn.Linear(1, 1), None)
    assert calls == [1]
