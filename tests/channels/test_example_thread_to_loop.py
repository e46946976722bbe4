"""examples/thread_to_loop.py runs (in a subprocess, in this process's mode) and prints what it
promises: four windows of readings (in order, drifting upwards), then the end of the
channel."""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent.parent

pytestmark = pytest.mark.timeout(120)


def test_thread_to_loop_example_runs() -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}  # NEXUSLOOP_NO_EXTENSIONS is passed on
    proc = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "thread_to_loop.py")],
        capture_output=True, text=True, env=env, timeout=100, check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stderr == ""
    lines = proc.stdout.splitlines()
    assert len(lines) == 5, proc.stdout
    window = re.compile(
        r"readings +(\d+)- *(\d+): min +([\d.]+) +mean +([\d.]+) +max +([\d.]+) C")
    means = []
    for k, line in enumerate(lines[:4]):
        m = window.fullmatch(line)
        assert m, line
        assert (int(m[1]), int(m[2])) == (250 * k, 250 * k + 249)
        low, mean, high = (float(m[i]) for i in (3, 4, 5))
        assert low <= mean <= high
        means.append(mean)
    assert means == sorted(means) and len(set(means)) == 4  # the readings drift upwards
    assert lines[4] == "sensor closed its sender: 1000 readings received, channel ended"
