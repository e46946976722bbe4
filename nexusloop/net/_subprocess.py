"""Subprocesses: ``loop.subprocess_exec`` / ``subprocess_shell`` and the child watching behind them.

What a subprocess transport is here
-----------------------------------
:class:`SubprocessTransport` is asyncio's own ``base_subprocess.BaseSubprocessTransport`` with
the one method a platform provides, ``_start``, which runs ``subprocess.Popen`` (as asyncio's
``unix_events._UnixSubprocessTransport`` does). Reusing the stdlib class is deliberate: the
protocol-facing behaviour (``connection_made`` only once the pipes are connected,
``pipe_data_received`` / ``pipe_connection_lost`` per fd, ``process_exited`` before the final
``connection_lost``, ``_wait()`` for ``asyncio.subprocess.Process.wait``, ``ProcessLookupError``
from ``send_signal`` / ``terminate`` / ``kill`` after the exit, ``close()`` killing a child that
still runs, the ``ResourceWarning`` of an unclosed transport) is asyncio's by construction, on
every Python version. The child's standard streams are connected through nexusloop's pipe
transports (``_pipe.py``): ``BaseSubprocessTransport`` calls ``loop.connect_read_pipe`` /
``connect_write_pipe``.

What nexusloop does itself is *noticing that a child exited*, without asyncio's child watchers
(deprecated in 3.12, removed in 3.14), without ``SIGCHLD`` and without threads:

pidfd (Linux 5.3+)
    ``os.pidfd_open(pid)`` gives a descriptor that becomes readable when the child exits. It is
    registered as an ordinary read watcher of the loop (:class:`_ChildWatcher`), so a child's
    exit is one more readiness event of the tick: ``os.waitpid(pid, WNOHANG)`` reaps it and
    ``transport._process_exited(returncode)`` runs, with asyncio's conversion
    (``os.waitstatus_to_exitcode``: the exit status, or ``-signum`` for a child killed by a
    signal).
polling (no ``pidfd_open``, or it fails: old kernels, seccomp, macOS)
    One timer per loop (``call_later``) calls ``os.waitpid(pid, WNOHANG)`` for each child that is
    not watched by a pidfd. It starts 1 ms after a spawn and backs off by doubling to
    :data:`_POLL_MAX` (50 ms), so a short-lived child is noticed quickly and a long-running one
    costs at most 20 cheap system calls a second; every new child resets the back-off. The
    timer is cancelled while there is nothing to poll.

A ``waitpid`` that finds the child already reaped by someone else (``ChildProcessError``: e.g. a
``SIGCHLD`` handler of the application calling ``os.waitpid(-1, ...)``, or ``Popen.poll()``) reports
``Popen.returncode`` when ``Popen`` got the status, else ``255`` with asyncio's warning
("Unknown child process pid %d, will report returncode 255"). A ``SIGCHLD`` handler installed
with ``loop.add_signal_handler`` is not affected by any of this: nexusloop installs none.

Closing the loop while children run
    ``Loop.close()`` closes the :class:`ChildService` (a loop service, registered on the first
    spawn). A child that has exited by then is reaped and its returncode recorded. A child still
    running is not killed (asyncio does not kill either): nexusloop logs asyncio's warning
    ("Loop %r that handles pid %r is closed", the text of asyncio's thread-based watcher) and
    hands the pid to a process-wide list of orphans, reaped with ``waitpid(WNOHANG)`` whenever any
    nexusloop loop spawns or reaps a child or closes, and at interpreter exit (``atexit``), so
    no zombie outlives the next of those events. (An unclosed subprocess transport also warns
    ``ResourceWarning`` when collected, and its ``close()`` kills the child, as in asyncio.)

Contract with the loop
    The loop calls ``subprocess_exec`` / ``subprocess_shell`` (bound as its methods) and the child
    watchers' ``_read_ready`` from the tick. This module calls ``loop._watch_read`` /
    ``loop._unwatch_read`` (pidfds), ``loop.call_later`` (the polling fallback),
    ``loop.create_future``, ``loop.get_debug()``, ``loop._add_service`` (once per loop, to be
    closed with it) and, through ``BaseSubprocessTransport``, ``loop.call_soon``,
    ``loop.create_task``, ``loop.connect_read_pipe`` / ``connect_write_pipe``.
"""
from __future__ import annotations

import atexit
import contextvars
import logging
import os
import subprocess
import weakref
from asyncio import base_subprocess
from typing import Any

from nexusloop._core._loopcore import Watcher

__all__ = ["ChildService", "SubprocessTransport", "subprocess_exec", "subprocess_shell"]

_logger = logging.getLogger("asyncio")

_POLL_MIN = 0.001  # seconds: first poll after a spawn (polling fallback only)
_POLL_MAX = 0.05  # seconds: the back-off limit

#: Use ``os.pidfd_open`` when the platform has it (tests switch it off to exercise polling).
_USE_PIDFD = hasattr(os, "pidfd_open")

#: Children still running when their loop closed: pid -> None (reaped later, see the docstring).
_ORPHANS: dict[int, None] = {}


def _reap_orphans() -> None:
    for pid in list(_ORPHANS):
        try:
            done, _ = os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            done = pid  # reaped by someone else (Popen.__del__, subprocess._cleanup)
        if done:
            _ORPHANS.pop(pid, None)


atexit.register(_reap_orphans)


def _exit_code(status: int) -> int:
    try:
        return os.waitstatus_to_exitcode(status)
    except ValueError:  # a status asyncio does not understand either: pass it on
        return status


class SubprocessTransport(base_subprocess.BaseSubprocessTransport):
    """asyncio's subprocess transport, started with ``subprocess.Popen`` (module docstring)."""

    def _start(  # type: ignore[override]
        self,
        args: Any,
        shell: bool,
        stdin: Any,
        stdout: Any,
        stderr: Any,
        bufsize: int,
        **kwargs: Any,
    ) -> None:
        self._proc = subprocess.Popen(
            args,
            shell=shell,
            stdin=stdin,
            stdout=stdout,
            stderr=stderr,
            universal_newlines=False,
            bufsize=bufsize,
            **kwargs,
        )


class _ChildWatcher(Watcher):
    """One child being waited for: its pidfd's read watcher, or an entry of the polling list."""

    def __init__(self, service: ChildService, transport: Any, pid: int, pidfd: int) -> None:
        self._context = contextvars.copy_context()
        self._service = service
        self._transport = transport
        self._pid = pid
        self._pidfd = pidfd  # -1: polled

    def _read_ready(self) -> None:
        self._service._check(self)


class ChildService:
    """Waits for the children of one loop (module docstring); closed with the loop."""

    def __init__(self, loop: Any) -> None:
        self._loop: weakref.ref[Any] = weakref.ref(loop)  # the loop owns its services
        self._children: dict[int, _ChildWatcher] = {}
        self._polled: dict[int, _ChildWatcher] = {}
        self._poll_delay = _POLL_MIN
        self._poll_handle: Any = None

    def in_flight(self) -> int:
        """Children still running (virtual time does not jump past them)."""
        return len(self._children)

    def watch(self, transport: Any) -> None:
        """Call ``transport._process_exited(returncode)`` when the child exits."""
        _reap_orphans()
        loop = self._loop()
        assert loop is not None, "the loop calls its services only while it is alive"
        pid = transport.get_pid()
        pidfd = -1
        if _USE_PIDFD:
            try:
                pidfd = os.pidfd_open(pid)
            except OSError:  # no pidfd support (kernel, seccomp): poll instead
                pidfd = -1
        child = _ChildWatcher(self, transport, pid, pidfd)
        self._children[pid] = child
        if pidfd >= 0:
            loop._watch_read(pidfd, child)
        else:
            self._polled[pid] = child
            self._poll_delay = _POLL_MIN
            if self._poll_handle is not None:
                self._poll_handle.cancel()
            self._poll_handle = loop.call_later(_POLL_MIN, self._poll)

    def _poll(self) -> None:
        self._poll_handle = None
        for child in list(self._polled.values()):
            self._check(child)
        if self._polled:
            self._poll_delay = min(self._poll_delay * 2, _POLL_MAX)
            loop = self._loop()
            if loop is not None and not loop.is_closed():
                self._poll_handle = loop.call_later(self._poll_delay, self._poll)

    def _waitpid(self, child: _ChildWatcher) -> int | None:
        """The returncode of ``child`` if it has exited (and is now reaped), else None."""
        try:
            pid, status = os.waitpid(child._pid, os.WNOHANG)
        except ChildProcessError:
            # Reaped by someone else: Popen.poll()/wait(), or an application's waitpid(-1).
            proc = child._transport.get_extra_info("subprocess")
            if proc is not None and proc.returncode is not None:
                return int(proc.returncode)
            _logger.warning(
                "Unknown child process pid %d, will report returncode 255", child._pid
            )
            return 255
        if pid == 0:
            return None
        return _exit_code(status)

    def _forget(self, child: _ChildWatcher) -> None:
        self._children.pop(child._pid, None)
        self._polled.pop(child._pid, None)
        if child._pidfd >= 0:
            loop = self._loop()
            if loop is not None:
                loop._unwatch_read(child._pidfd)
            os.close(child._pidfd)
            child._pidfd = -1

    def _check(self, child: _ChildWatcher) -> None:
        returncode = self._waitpid(child)
        if returncode is None:
            return
        self._forget(child)
        transport = child._transport
        child._transport = None
        loop = self._loop()
        if loop is not None and loop.get_debug():
            _logger.debug("process %s exited with returncode %s", child._pid, returncode)
        transport._process_exited(returncode)
        _reap_orphans()

    def close(self) -> None:
        """``Loop.close()``: reap what has exited, hand running children to the orphan list."""
        if self._poll_handle is not None:
            self._poll_handle.cancel()
            self._poll_handle = None
        loop = self._loop()
        for child in list(self._children.values()):
            returncode = self._waitpid(child)
            self._forget(child)
            transport = child._transport
            child._transport = None
            if returncode is not None:
                # Too late for callbacks: record the status where asyncio keeps it.
                transport._returncode = returncode
                proc = transport.get_extra_info("subprocess")
                if proc is not None:
                    proc.returncode = returncode
                continue
            _logger.warning("Loop %r that handles pid %r is closed", loop, child._pid)
            _ORPHANS[child._pid] = None
        _reap_orphans()


def _child_service(loop: Any) -> ChildService:
    service: ChildService | None = loop.__dict__.get("_children")
    if service is None:
        service = loop._add_service(ChildService(loop))
        loop._children = service
    return service


# ------------------------------------------------------------------ the loop's methods


def _check_args(
    universal_newlines: Any, bufsize: Any, text: Any, encoding: Any, errors: Any
) -> None:
    # asyncio's checks, in its order: the transport speaks bytes and never buffers.
    if universal_newlines:
        raise ValueError("universal_newlines must be False")
    if bufsize != 0:
        raise ValueError("bufsize must be 0")
    if text:
        raise ValueError("text must be False")
    if encoding is not None:
        raise ValueError("encoding must be None")
    if errors is not None:
        raise ValueError("errors must be None")


def _format_pipe(fd: Any) -> str:
    if fd == subprocess.PIPE:
        return "<pipe>"
    if fd == subprocess.STDOUT:
        return "<stdout>"
    return repr(fd)


def _log_subprocess(msg: str, stdin: Any, stdout: Any, stderr: Any) -> None:
    info = [msg]
    if stdin is not None:
        info.append(f"stdin={_format_pipe(stdin)}")
    if stdout is not None and stderr == subprocess.STDOUT:
        info.append(f"stdout=stderr={_format_pipe(stdout)}")
    else:
        if stdout is not None:
            info.append(f"stdout={_format_pipe(stdout)}")
        if stderr is not None:
            info.append(f"stderr={_format_pipe(stderr)}")
    _logger.debug(" ".join(info))


async def _make_subprocess_transport(
    loop: Any,
    protocol: Any,
    args: Any,
    shell: bool,
    stdin: Any,
    stdout: Any,
    stderr: Any,
    bufsize: int,
    extra: Any = None,
    **kwargs: Any,
) -> SubprocessTransport:
    service = _child_service(loop)
    waiter = loop.create_future()
    transport = SubprocessTransport(
        loop, protocol, args, shell, stdin, stdout, stderr, bufsize,
        waiter=waiter, extra=extra, **kwargs,
    )
    service.watch(transport)
    try:
        await waiter
    except (SystemExit, KeyboardInterrupt):
        raise
    except BaseException:
        transport.close()
        await transport._wait()
        raise
    return transport


async def subprocess_exec(
    loop: Any,
    protocol_factory: Any,
    program: Any,
    *args: Any,
    stdin: Any = subprocess.PIPE,
    stdout: Any = subprocess.PIPE,
    stderr: Any = subprocess.PIPE,
    universal_newlines: bool = False,
    shell: bool = False,
    bufsize: int = 0,
    encoding: Any = None,
    errors: Any = None,
    text: Any = None,
    **kwargs: Any,
) -> tuple[SubprocessTransport, Any]:
    """``loop.subprocess_exec``: run ``program`` with ``args``; what ``create_subprocess_exec`` uses.

    Example::

        transport, protocol = await loop.subprocess_exec(
            asyncio.SubprocessProtocol, sys.executable, "-c", "pass", stdin=None)
    """
    if universal_newlines:
        raise ValueError("universal_newlines must be False")
    if shell:
        raise ValueError("shell must be False")
    _check_args(False, bufsize, text, encoding, errors)
    popen_args = (program, *args)
    protocol = protocol_factory()
    debug_log = None
    if loop._debug:
        # asyncio's choice: parameters are not logged (passwords, length).
        debug_log = f"execute program {program!r}"
        _log_subprocess(debug_log, stdin, stdout, stderr)
    transport = await _make_subprocess_transport(
        loop, protocol, popen_args, False, stdin, stdout, stderr, bufsize, **kwargs
    )
    if loop._debug and debug_log is not None:
        _logger.info("%s: %r", debug_log, transport)
    return transport, protocol


async def subprocess_shell(
    loop: Any,
    protocol_factory: Any,
    cmd: Any,
    *,
    stdin: Any = subprocess.PIPE,
    stdout: Any = subprocess.PIPE,
    stderr: Any = subprocess.PIPE,
    universal_newlines: bool = False,
    shell: bool = True,
    bufsize: int = 0,
    encoding: Any = None,
    errors: Any = None,
    text: Any = None,
    **kwargs: Any,
) -> tuple[SubprocessTransport, Any]:
    """``loop.subprocess_shell``: run ``cmd`` with the shell; what ``create_subprocess_shell`` uses.

    Example::

        transport, protocol = await loop.subprocess_shell(asyncio.SubprocessProtocol, "exit 3")
    """
    if not isinstance(cmd, (bytes, str)):
        raise ValueError("cmd must be a string")
    if universal_newlines:
        raise ValueError("universal_newlines must be False")
    if not shell:
        raise ValueError("shell must be True")
    _check_args(False, bufsize, text, encoding, errors)
    protocol = protocol_factory()
    debug_log = None
    if loop._debug:
        debug_log = f"run shell command {cmd!r}"
        _log_subprocess(debug_log, stdin, stdout, stderr)
    transport = await _make_subprocess_transport(
        loop, protocol, cmd, True, stdin, stdout, stderr, bufsize, **kwargs
    )
    if loop._debug and debug_log is not None:
        _logger.info("%s: %r", debug_log, transport)
    return transport, protocol
