"""Subprocesses (``subprocess_exec`` / ``subprocess_shell``, ``asyncio.create_subprocess_*``).

Real children (``sys.executable -c ...``), run on stock asyncio and nexusloop through the ``net``
fixture (fds, tasks, exception-handler calls and ResourceWarnings checked after). Every test
waits for its children, so none is left running or unreaped.
"""
from __future__ import annotations

import asyncio
import logging
import os
import signal
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from typing import Any

import pytest

import nexusloop
from nexusloop.net import _subprocess

from ._harness import Net, until

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="Unix subprocesses")

PY = sys.executable
PIPE = asyncio.subprocess.PIPE
CAT = "import sys; sys.stdout.buffer.write(sys.stdin.buffer.read())"


async def _exec(*args: Any, **kwargs: Any) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(*args, **kwargs)


# ------------------------------------------------------------------ basics


def test_communicate_with_more_input_than_the_pipe_holds(net: Net) -> None:
    data = os.urandom(1 << 20)

    async def main() -> None:
        proc = await _exec(PY, "-c", CAT, stdin=PIPE, stdout=PIPE)
        out, err = await proc.communicate(data)
        assert out == data and err is None
        assert proc.returncode == 0

    net.run(main())


def test_exit_code_and_wait_is_idempotent(net: Net) -> None:
    async def main() -> None:
        proc = await _exec(PY, "-c", "import sys; sys.exit(3)")
        assert proc.returncode is None or proc.returncode == 3
        assert await proc.wait() == 3
        assert await proc.wait() == 3
        assert proc.returncode == 3

    net.run(main())


def test_child_killed_by_a_signal_has_a_negative_returncode(net: Net) -> None:
    async def main() -> None:
        proc = await _exec(PY, "-c", "import os, signal; os.kill(os.getpid(), signal.SIGKILL)")
        assert await proc.wait() == -signal.SIGKILL

    net.run(main())


def test_terminate_and_signals_after_exit(net: Net) -> None:
    async def main() -> None:
        proc = await _exec(
            PY, "-c", "import sys, time; print('ready', flush=True); time.sleep(60)", stdout=PIPE
        )
        assert proc.stdout is not None
        assert await proc.stdout.readline() == b"ready\n"
        proc.terminate()
        assert await proc.wait() == -signal.SIGTERM
        await proc.stdout.read()
        await until(lambda: proc._transport.get_protocol() is None, "transport finished")  # type: ignore[attr-defined]
        with pytest.raises(ProcessLookupError):
            proc.send_signal(signal.SIGTERM)
        with pytest.raises(ProcessLookupError):
            proc.terminate()
        with pytest.raises(ProcessLookupError):
            proc.kill()

    net.run(main())


def test_child_that_ignores_sigterm_is_killed(net: Net) -> None:
    code = (
        "import signal, sys, time\n"
        "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
        "print('ready', flush=True)\n"
        "time.sleep(60)\n"
    )

    async def main() -> None:
        proc = await _exec(PY, "-c", code, stdout=PIPE)
        assert proc.stdout is not None
        assert await proc.stdout.readline() == b"ready\n"
        proc.terminate()
        waiting = asyncio.ensure_future(proc.wait())
        done, _ = await asyncio.wait([waiting], timeout=0.3)
        assert not done and proc.returncode is None  # SIGTERM is ignored: still running
        proc.kill()
        assert await waiting == -signal.SIGKILL
        await proc.stdout.read()

    net.run(main())


def test_missing_command_raises_file_not_found_and_leaks_nothing(net: Net) -> None:
    async def main() -> None:
        for kwargs in ({}, {"stdin": PIPE, "stdout": PIPE, "stderr": PIPE}):
            with pytest.raises(FileNotFoundError):
                await _exec("/nonexistent/nexusloop-test-command", **kwargs)
        proc = await asyncio.create_subprocess_shell("exec /nonexistent/command 2>/dev/null")
        assert await proc.wait() == 127

    net.run(main())


def test_shell(net: Net) -> None:
    async def main() -> None:
        proc = await asyncio.create_subprocess_shell("echo $((6 * 7)); exit 7", stdout=PIPE)
        out, _ = await proc.communicate()
        assert out == b"42\n" and proc.returncode == 7
        proc = await asyncio.create_subprocess_shell(b"printf bytes", stdout=PIPE)
        assert (await proc.communicate())[0] == b"bytes"

    net.run(main())


# ------------------------------------------------------------------ the standard streams


def test_stderr_to_stdout_devnull_fd_and_file_object(net: Net) -> None:
    async def main() -> None:
        code = "import sys; sys.stdout.write('out '); sys.stdout.flush(); sys.stderr.write('err')"
        proc = await _exec(PY, "-c", code, stdout=PIPE, stderr=subprocess.STDOUT)
        out, err = await proc.communicate()
        assert out == b"out err" and err is None
        proc = await _exec(PY, "-c", code, stdout=subprocess.DEVNULL, stderr=PIPE)
        out, err = await proc.communicate()
        assert out is None and err == b"err"
        # stdin from a raw fd, stdout into a file object.
        r, w = os.pipe()
        os.write(w, b"from an fd")
        os.close(w)
        with tempfile.TemporaryFile() as f:
            proc = await _exec(PY, "-c", CAT, stdin=r, stdout=f)
            os.close(r)
            assert await proc.wait() == 0
            f.seek(0)
            assert f.read() == b"from an fd"

    net.run(main())


def test_process_exits_before_its_pipes_close(net: Net) -> None:
    # The child leaves a grandchild holding its stdout; the grandchild writes once released.
    gate_r, gate_w = os.pipe()
    grandchild = f"import os, sys; os.read({gate_r}, 1); sys.stdout.write('late')"
    child = (
        "import subprocess, sys\n"
        f"subprocess.Popen([sys.executable, '-c', {grandchild!r}], pass_fds=[{gate_r}])\n"
    )

    class Recorder(asyncio.SubprocessProtocol):
        def __init__(self) -> None:
            self.events: list[Any] = []
            self.data = b""
            self.exited = net.loop.create_future()
            self.done = net.loop.create_future()

        def pipe_data_received(self, fd: int, data: bytes) -> None:
            self.data += data

        def pipe_connection_lost(self, fd: int, exc: BaseException | None) -> None:
            self.events.append(("pipe_lost", fd))

        def process_exited(self) -> None:
            self.events.append("exited")
            self.exited.set_result(None)

        def connection_lost(self, exc: BaseException | None) -> None:
            self.done.set_result(None)

    async def main() -> None:
        transport, proto = await net.loop.subprocess_exec(
            Recorder, PY, "-c", child, stdin=None, stderr=None, pass_fds=[gate_r]
        )
        await proto.exited  # the child has exited; its stdout is still open in the grandchild
        assert transport.get_returncode() == 0 and proto.events == ["exited"]
        os.write(gate_w, b"x")
        await proto.done  # asyncio's wait() would return only now, once the pipes closed too
        assert proto.data == b"late" and proto.events == ["exited", ("pipe_lost", 1)]
        transport.close()

    try:
        net.run(main())
    finally:
        os.close(gate_r)
        os.close(gate_w)


def test_process_closes_its_pipes_before_exiting(net: Net) -> None:
    code = "import os, sys; os.close(1); os.close(2); sys.stdin.readline(); sys.exit(5)"

    async def main() -> None:
        proc = await _exec(PY, "-c", code, stdin=PIPE, stdout=PIPE, stderr=PIPE)
        assert proc.stdout is not None and proc.stderr is not None and proc.stdin is not None
        assert await proc.stdout.read() == b""
        assert await proc.stderr.read() == b""
        assert proc.returncode is None  # still running, waiting for its input
        proc.stdin.write(b"go\n")
        await proc.stdin.drain()
        assert await proc.wait() == 5

    net.run(main())


# ------------------------------------------------------------------ Popen options


def test_pass_fds_cwd_env_and_new_session(net: Net) -> None:
    async def main() -> None:
        r, w = os.pipe()
        try:
            proc = await _exec(PY, "-c", f"import os; os.write({w}, b'passed')", pass_fds=[w])
            assert await proc.wait() == 0
            assert os.read(r, 100) == b"passed"
        finally:
            os.close(r)
            os.close(w)
        with tempfile.TemporaryDirectory() as tmp:
            code = "import os; print(os.getcwd(), os.environ.get('NEXUS_T'), os.getsid(0))"
            proc = await _exec(
                PY, "-c", code, stdout=PIPE, cwd=tmp, env={**os.environ, "NEXUS_T": "yes"},
                start_new_session=True,
            )
            out, _ = await proc.communicate()
            cwd, env, sid = out.decode().split()
            assert os.path.realpath(cwd) == os.path.realpath(tmp)
            assert env == "yes"
            assert int(sid) == proc.pid != os.getsid(0)

    net.run(main())


def test_many_concurrent_children(net: Net) -> None:
    async def one(i: int) -> bytes:
        proc = await _exec(PY, "-c", f"print({i})", stdout=PIPE)
        out, _ = await proc.communicate()
        assert proc.returncode == 0
        return out

    async def main() -> None:
        outs = await asyncio.gather(*(one(i) for i in range(40)))
        assert outs == [f"{i}\n".encode() for i in range(40)]

    net.run(main())


BAD_ARGS = [
    {"universal_newlines": True},
    {"bufsize": 4096},
    {"text": True},
    {"encoding": "utf-8"},
    {"errors": "strict"},
]


@pytest.mark.parametrize("kwargs", BAD_ARGS, ids=lambda k: next(iter(k)))
def test_argument_checks(net: Net, kwargs: dict[str, Any]) -> None:
    async def main() -> None:
        loop = net.loop
        with pytest.raises(ValueError, match="must be"):
            await loop.subprocess_exec(asyncio.SubprocessProtocol, PY, "-c", "pass", **kwargs)
        with pytest.raises(ValueError, match="must be"):
            await loop.subprocess_shell(asyncio.SubprocessProtocol, "true", **kwargs)

    net.run(main())


def test_shell_flag_and_command_type_checks(net: Net) -> None:
    async def main() -> None:
        loop = net.loop
        proto = asyncio.SubprocessProtocol
        with pytest.raises(ValueError, match="shell must be False"):
            await loop.subprocess_exec(proto, PY, "-c", "pass", shell=True)
        with pytest.raises(ValueError, match="shell must be True"):
            await loop.subprocess_shell(proto, "true", shell=False)
        with pytest.raises(ValueError, match="cmd must be a string"):
            await loop.subprocess_shell(proto, ["true"])

    net.run(main())


def test_protocol_sees_asyncio_event_order(net: Net) -> None:
    class Recorder(asyncio.SubprocessProtocol):
        def __init__(self) -> None:
            self.events: list[Any] = []
            self.done = net.loop.create_future()

        def connection_made(self, transport: Any) -> None:
            self.events.append("made")

        def pipe_data_received(self, fd: int, data: bytes) -> None:
            if not self.events or self.events[-1] != ("data", fd):
                self.events.append(("data", fd))

        def pipe_connection_lost(self, fd: int, exc: BaseException | None) -> None:
            self.events.append(("pipe_lost", fd))

        def process_exited(self) -> None:
            self.events.append("exited")

        def connection_lost(self, exc: BaseException | None) -> None:
            self.events.append("lost")
            self.done.set_result(None)

    async def main() -> None:
        transport, proto = await net.loop.subprocess_exec(
            Recorder, PY, "-c", "print('hi')", stdin=None, stderr=None
        )
        await proto.done
        assert proto.events[0] == "made" and proto.events[-1] == "lost"
        assert ("data", 1) in proto.events and ("pipe_lost", 1) in proto.events
        assert proto.events.index("exited") < proto.events.index("lost")
        assert transport.get_returncode() == 0
        assert transport.get_pipe_transport(1) is not None
        transport.close()

    net.run(main())


# ------------------------------------------------------------------ signals


def test_user_sigchld_handler_still_fires_and_children_are_reaped(net: Net) -> None:
    loop = net.loop
    calls: list[int] = []
    loop.add_signal_handler(signal.SIGCHLD, calls.append, 1)

    async def main() -> None:
        proc = await _exec(PY, "-c", "import sys; sys.exit(4)")
        assert await proc.wait() == 4
        await until(lambda: calls, "SIGCHLD handler call")

    try:
        net.run(main())
    finally:
        assert loop.remove_signal_handler(signal.SIGCHLD)


# ----------------------------------------------------- nexusloop-only behaviour


@pytest.fixture
def polling() -> Iterator[None]:
    """Child exits noticed by the polling fallback (as where pidfd_open is missing)."""
    saved = _subprocess._USE_PIDFD
    _subprocess._USE_PIDFD = False
    try:
        yield
    finally:
        _subprocess._USE_PIDFD = saved


def test_polling_fallback_without_pidfd(net: Net, polling: None) -> None:
    if not net.nexus:
        pytest.skip("the pidfd/polling choice is nexusloop's (stock asyncio uses child watchers)")

    async def one(i: int) -> int:
        proc = await _exec(PY, "-c", f"import sys; sys.stdout.write('{i}'); sys.exit({i})",
                           stdout=PIPE)
        out, _ = await proc.communicate()
        assert out == str(i).encode()
        return proc.returncode  # type: ignore[return-value]

    async def main() -> None:
        assert await asyncio.gather(*(one(i) for i in range(8))) == list(range(8))
        proc = await _exec(PY, "-c", "import os, signal; os.kill(os.getpid(), signal.SIGKILL)")
        assert await proc.wait() == -signal.SIGKILL

    net.run(main())


def _state(pid: int) -> str | None:
    """The /proc state letter of ``pid`` (``Z`` for a zombie), None once it is reaped."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return None


@pytest.mark.skipif(not os.path.isdir("/proc/self"), reason="reads /proc to see zombies")
def test_closing_the_loop_while_children_run(caplog: pytest.LogCaptureFixture) -> None:
    # nexusloop's documented behaviour (docs/compatibility.md): the child is not killed, asyncio's
    # warning is logged, and the orphan is reaped by the next spawn of any nexusloop loop.
    gate_r, gate_w = os.pipe()
    loop = nexusloop.new_event_loop()
    try:
        proc = loop.run_until_complete(
            _exec(PY, "-c", f"import os; os.read({gate_r}, 1)", pass_fds=[gate_r],
                  stdin=subprocess.DEVNULL)
        )
        with caplog.at_level(logging.WARNING, logger="asyncio"):
            loop.close()
        assert f"that handles pid {proc.pid} is closed" in caplog.text
        assert _state(proc.pid) not in (None, "Z")  # still running: not killed
        os.write(gate_w, b"x")
        deadline = 200
        while _state(proc.pid) != "Z" and deadline:
            deadline -= 1
            asyncio.run(asyncio.sleep(0.01))
        assert _state(proc.pid) == "Z"
        second = nexusloop.new_event_loop()
        try:
            child = second.run_until_complete(_exec(PY, "-c", "pass"))
            assert second.run_until_complete(child.wait()) == 0
        finally:
            second.close()
        assert _state(proc.pid) is None, "the orphan was not reaped"
        proc._transport.close()  # type: ignore[attr-defined]  # it was never closed
    finally:
        os.close(gate_r)
        os.close(gate_w)


def test_loop_close_restores_the_previous_wakeup_fd(nloop: Any) -> None:
    a, b = socket.socketpair()
    try:
        a.setblocking(False)
        previous = signal.set_wakeup_fd(a.fileno())
        assert previous == -1
        nloop.add_signal_handler(signal.SIGCHLD, lambda: None)
        current = signal.set_wakeup_fd(-1)
        signal.set_wakeup_fd(current)
        assert current not in (-1, a.fileno())  # the loop's own while it has handlers
        nloop.close()
        assert signal.set_wakeup_fd(-1) == a.fileno()  # restored (asyncio would leave -1)
    finally:
        signal.set_wakeup_fd(-1)
        a.close()
        b.close()
