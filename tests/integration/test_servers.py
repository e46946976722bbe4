"""Every incantation of docs/servers.md, run as written: a real server in a subprocess on loopback.

The page marks its runnable blocks with an HTML comment, ``<!-- tested: KIND [file=NAME]
[stop=SIGNAL] -->``, right before the fence:

* ``file NAME``: the block is a file the others use (``app.py``), written into a fresh directory;
* ``http file=NAME``: the block is a program, written as NAME and started as ``python NAME``;
* ``http`` on a ``sh`` block: each line is a command (``uvicorn ...`` is started as
  ``python -m uvicorn ...``, ``python ...`` with this interpreter);
* ``tcp``: like ``http``, but the server speaks a line protocol (the anyio example).

Each server is started in that directory with ``8000`` replaced by a free port, queried with
httpx (``GET /`` answers the class of the running loop, which must be ``nexusloop.Loop``) or a
raw socket, then sent SIGNAL. It must exit in time with status 0 (killed by SIGTERM for uvicorn, which
re-raises it after its graceful shutdown), and print no traceback. The subprocess runs in
its own process group, killed in ``finally`` whatever happens (worker processes included). The environment is passed on, so the servers run
compiled or pure (``NEXUSLOOP_NO_EXTENSIONS=1``) as this process does.
"""
from __future__ import annotations

import contextlib
import os
import re
import shlex
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

import nexusloop

from .conftest import HANG_TIMEOUT, qualified_name

pytestmark = pytest.mark.timeout(120)

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "servers.md"
DOC_PORT = "8000"
LOOP_NAME = qualified_name(nexusloop.Loop)

_MARKED_BLOCK = re.compile(
    r"<!-- tested: (?P<spec>[^>]*?) -->\n```(?P<lang>\w+)\n(?P<body>.*?)\n```", re.S
)


@dataclass(frozen=True)
class Block:
    kind: str  # "file", "http" or "tcp"
    lang: str
    body: str
    file: str | None
    stop: signal.Signals


def doc_blocks() -> list[Block]:
    text = DOC.read_text()
    blocks = []
    for m in _MARKED_BLOCK.finditer(text):
        kind, *rest = m["spec"].split()
        opts = dict(part.split("=", 1) for part in rest if "=" in part)
        name = opts.get("file") or next((p for p in rest if "=" not in p), None)
        blocks.append(
            Block(kind, m["lang"], m["body"], name, signal.Signals[opts.get("stop", "SIGTERM")])
        )
    # Every marker was understood (a typo in one would silently drop its block).
    assert len(blocks) == text.count("\n<!-- tested:"), "a tested block is not followed by a fence"
    return blocks


def _server_cases() -> list[tuple[str, Block, list[str]]]:
    """(test id, block, argv) for every server the page starts."""
    cases = []
    for block in doc_blocks():
        if block.kind == "file":
            continue
        assert block.kind in ("http", "tcp"), block.kind
        if block.lang == "python":
            assert block.file, "a program block needs file=NAME"
            cases.append((block.file, block, ["python", block.file]))
            continue
        assert block.lang == "sh", block.lang
        for line in block.body.splitlines():
            argv = shlex.split(line, comments=True)
            if argv:
                words = [a for a in argv if not a.startswith("-")]
                under_run = argv[:4] == ["python", "-m", "nexusloop", "run"]
                name = f"nexusloop-run-{argv[5] if argv[4] == '-m' else argv[4]}" if under_run else f"{words[0]}-cli"
                cases.append((name, block, argv))
    return cases


CASES = _server_cases()


def test_every_section_is_tested() -> None:
    """The page's servers and ways in are all among the tested blocks."""
    ran = " ".join(" ".join(argv) + " " + block.body for _, block, argv in CASES)
    for needle in (
        "uvicorn --loop nexusloop:new_event_loop",
        'loop="nexusloop:new_event_loop"',
        "asyncio.Runner(loop_factory=nexusloop.new_event_loop)",
        "loop_factory=nexusloop.new_event_loop)",
        "web.run_app(app, host=\"127.0.0.1\", port=8000, loop=nexusloop.new_event_loop())",
        "web.AppRunner(app)",
        'backend_options={"loop_factory": nexusloop.new_event_loop}',
        "nexusloop run -m uvicorn --loop none",
        "nexusloop run -m hypercorn --workers 0",
        "nexusloop run serve_aiohttp_plain.py",
    ):
        assert needle in ran, needle


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _argv(argv: list[str]) -> list[str]:
    if argv[0] == "python":
        return [sys.executable, *argv[1:]]
    return [sys.executable, "-m", *argv]  # a console script: uvicorn, hypercorn


def _wait_listening(port: int, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + HANG_TIMEOUT
    while True:
        if proc.poll() is not None:
            pytest.fail(f"the server exited with {proc.returncode}:\n{log.read_text()}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            if time.monotonic() > deadline:
                pytest.fail(f"the server did not listen in time:\n{log.read_text()}")
            time.sleep(0.05)


def _query_http(port: int) -> None:
    with httpx.Client(base_url=f"http://127.0.0.1:{port}", trust_env=False,
                      timeout=HANG_TIMEOUT) as client:
        for _ in range(3):  # several requests on one kept-alive connection
            r = client.get("/")
            assert r.status_code == 200, r
            assert r.text == LOOP_NAME + "\n"


def _query_tcp(port: int) -> None:
    with socket.create_connection(("127.0.0.1", port), timeout=HANG_TIMEOUT) as s:
        f = s.makefile("rb")
        assert f.readline() == (LOOP_NAME + "\n").encode()
        payload = bytes(range(256)) * 1000
        s.sendall(payload)
        s.shutdown(socket.SHUT_WR)
        assert f.read() == payload  # echoed, then closed by the server at our EOF
        f.close()


@pytest.mark.parametrize("block,argv", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_incantation(tmp_path: Path, block: Block, argv: list[str]) -> None:
    port = str(_free_port())
    for b in doc_blocks():
        if b.file is not None:
            (tmp_path / b.file).write_text(b.body.replace(DOC_PORT, port) + "\n")
    argv = _argv([a.replace(DOC_PORT, port) for a in argv])
    env = {k: v for k, v in os.environ.items() if not k.startswith(("UVICORN_", "WEB_CONCURRENCY"))}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    env["PYTHONUNBUFFERED"] = "1"
    log = tmp_path / "server.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(argv, cwd=tmp_path, env=env, stdin=subprocess.DEVNULL,
                                stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)  # its own process group, killed below
    try:
        _wait_listening(int(port), proc, log)
        (_query_http if block.kind == "http" else _query_tcp)(int(port))
        proc.send_signal(block.stop)
        try:
            proc.wait(timeout=HANG_TIMEOUT)
        except subprocess.TimeoutExpired:
            pytest.fail(f"no exit after {block.stop.name}:\n{log.read_text()}")
    finally:
        # The whole group: a server's worker processes too (hypercorn --workers 1 spawns one).
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    output = log.read_text()
    # uvicorn re-raises SIGTERM once shut down (a process manager sees "killed by SIGTERM"), on
    # asyncio too; everything else, uvicorn on Ctrl-C included, exits 0 after a graceful stop.
    uvicorn = "uvicorn" in argv or "import uvicorn" in block.body
    expected = -signal.SIGTERM if uvicorn and block.stop == signal.SIGTERM else 0
    assert proc.returncode == expected, (proc.returncode, output)
    assert "Traceback" not in output and "ERROR" not in output, output
