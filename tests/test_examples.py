"""examples/echo_server.py in a subprocess, echoing over loopback; and every example has a test.

The subprocesses inherit this process's mode (compiled, or pure with NEXUSLOOP_NO_EXTENSIONS=1)
and run in their own process group, killed in ``finally``.
"""
from __future__ import annotations

import contextlib
import os
import re
import select
import signal
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest

import nexusloop

ROOT = Path(__file__).resolve().parent.parent
ECHO = ROOT / "examples" / "echo_server.py"
ENV = {**os.environ, "PYTHONPATH": str(ROOT)}
LOOP_NAME = f"{nexusloop.Loop.__module__}.{nexusloop.Loop.__qualname__}"
TIMEOUT = 30.0

pytestmark = pytest.mark.timeout(90)


def test_echo_server_self_test() -> None:
    proc = subprocess.run([sys.executable, str(ECHO), "--self-test"], capture_output=True,
                          text=True, env=ENV, timeout=TIMEOUT, check=False)
    assert (proc.returncode, proc.stderr) == (0, ""), proc.stdout + proc.stderr
    assert re.fullmatch(rf"self-test ok: 50 clients echoed \d+ bytes on {re.escape(LOOP_NAME)}\n",
                        proc.stdout), proc.stdout


def test_echo_server_over_loopback() -> None:
    """Serve on a free port; echo raw bytes, run the client mode, stop with an idle client open."""
    server = subprocess.Popen(
        [sys.executable, str(ECHO), "--port", "0"], env=ENV, text=True,
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        start_new_session=True,
    )  # fmt: skip
    assert server.stdout is not None and server.stderr is not None
    try:
        ready, _, _ = select.select([server.stdout], [], [], TIMEOUT)
        assert ready, "the echo server did not start in time"
        first = server.stdout.readline()
        m = re.fullmatch(r"listening on 127\.0\.0\.1:(\d+) \((.+)\)\n", first)
        assert m, first + server.stderr.read()
        port, loop = int(m[1]), m[2]
        assert loop == LOOP_NAME

        payload = bytes(range(256)) * 4096  # 1 MiB: more than the socket buffers hold, so
        with socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT) as s:
            # a thread sends while this one reads (the server's drain() pauses it meanwhile)
            sender = threading.Thread(target=lambda: (s.sendall(payload), s.shutdown(socket.SHUT_WR)))
            sender.start()
            got = bytearray()
            while chunk := s.recv(65536):
                got += chunk
            sender.join(TIMEOUT)
        assert got == payload  # echoed, then closed by the server at our EOF

        client = subprocess.run(
            [sys.executable, str(ECHO), "--client", "--port", str(port), "hello", "two words"],
            capture_output=True, text=True, env=ENV, timeout=TIMEOUT, check=False,
        )  # fmt: skip
        assert (client.returncode, client.stderr) == (0, ""), client.stdout + client.stderr
        assert client.stdout == "hello\ntwo words\n"

        with socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT) as idle:
            idle.sendall(b"x")
            assert idle.recv(1) == b"x"  # connected and served: the stop must close it
            server.send_signal(signal.SIGTERM)
            assert idle.recv(1) == b""  # closed by the server's graceful stop
        out, err = server.communicate(timeout=TIMEOUT)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(server.pid, signal.SIGKILL)
        server.wait()
    assert (server.returncode, out, err) == (0, "stopped\n", "")


def test_every_example_is_run_by_a_test() -> None:
    """Each examples/*.py is named by some test module (which runs it)."""
    tests = [p.read_text() for p in (ROOT / "tests").rglob("test_*.py")]
    for example in sorted((ROOT / "examples").glob("*.py")):
        assert any(example.name in text for text in tests), f"no test runs examples/{example.name}"
