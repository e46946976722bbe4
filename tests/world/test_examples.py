"""The world examples run (on the event loop) and print what they promise."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent


def test_world_basics_example_runs() -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    out = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "world_basics.py")],
        capture_output=True, text=True, env=env, timeout=60, check=True,
    ).stdout
    assert "accepted: 2" in out
    assert "locals: 1 2 1" in out
    assert "Venue(name='XNAS', fills=2)" in out
    # the heartbeat ran on the loop's timers, three times, then triggered shutdown
    assert out.rstrip().endswith("heartbeat 1\nheartbeat 2\nheartbeat 3")
