"""The allocator setting is applied once on glibc Linux and can be switched off."""
import subprocess
import sys

import pytest

CHECK = "from inr.training.allocator import tune_allocator; print(tune_allocator(), tune_allocator())"


def run(env_extra):
    import os
    env = {**os.environ, **env_extra}
    return subprocess.run([sys.executable, "-c", CHECK], env=env, capture_output=True,
                          text=True, check=True).stdout.split()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc mallopt is Linux-only")
def test_tuning_applies_once_and_can_be_disabled():
    assert run({}) == ["True", "True"]
    assert run({"INR_NO_MALLOC_TUNING": "1"}) == ["False", "False"]
