"""examples/graceful_shutdown.py in a subprocess, stopped by a real SIGTERM or SIGINT.

The subprocess inherits this process's mode (compiled, or pure with NEXUSLOOP_NO_EXTENSIONS=1).
"""
from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent.parent
EXAMPLE = ROOT / "examples" / "graceful_shutdown.py"
ENV = {**os.environ, "PYTHONPATH": str(ROOT)}
TIMEOUT = 30.0

pytestmark = pytest.mark.timeout(90)


def _start() -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [sys.executable, str(EXAMPLE)], env=ENV, text=True, stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True,
    )
    assert proc.stdout is not None
    ready, _, _ = select.select([proc.stdout], [], [], TIMEOUT)
    assert ready, "the example did not start in time"
    first = proc.stdout.readline()
    assert first.startswith(f"running 4 workers in pid {proc.pid}"), first
    return proc


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_signal_stops_every_worker_and_exits_cleanly(sig: signal.Signals) -> None:
    proc = _start()
    try:
        proc.send_signal(sig)
        out, err = proc.communicate(timeout=TIMEOUT)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    lines = out.splitlines()
    assert (proc.returncode, err) == (0, ""), out + err
    assert lines[0] == f"received {sig.name}: shutting down"
    assert sorted(line.split(" stopped")[0] for line in lines[1:5]) == [
        f"worker {n}" for n in range(4)
    ]
    assert lines[5].startswith("all 4 workers stopped (") and len(lines) == 6, out


def test_without_the_example_a_sigterm_kills_the_process() -> None:
    """Control: the same program without signal_handlers dies of the signal, so the clean exit
    above is the shutdown handling's doing."""
    code = (
        "import asyncio, nexusloop\n"
        "async def main():\n"
        "    print('ready', flush=True)\n"
        "    await asyncio.sleep(60)\n"
        "nexusloop.Runtime().block_on(main())\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", code], env=ENV, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            start_new_session=True)
    assert proc.stdout is not None
    try:
        assert proc.stdout.readline() == "ready\n"
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=TIMEOUT)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert proc.returncode == -signal.SIGTERM
