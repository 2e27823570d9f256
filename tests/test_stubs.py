"""The hand-written stub of the native extension matches the built module (mypy's stubtest)."""

from __future__ import annotations

import subprocess
import sys

import pytest


def test_core_stub_matches_the_extension():
    pytest.importorskip("mypy")
    run = subprocess.run(
        [sys.executable, "-m", "mypy.stubtest", "cgfast._core"],
        capture_output=True,
        text=True,
    )
    assert run.returncode == 0, run.stdout + run.stderr
