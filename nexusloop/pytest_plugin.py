"""pytest plugin: run pytest-asyncio tests on nexusloop, optionally under virtual time.

Installed with the package (entry point ``pytest11``) and **off** unless asked for, so installing
nexusloop never changes another project's tests. Turn it on with one of::

    pytest --nexusloop                 # every pytest-asyncio test on nexusloop
    pytest --nexusloop-mode=both       # every test twice: [asyncio] and [nexusloop]
    # or in the ini file:  nexusloop_mode = nexusloop   (off | nexusloop | both)

Loop options (the fields of ``nexusloop.LoopOptions``) come from the ini file
(``nexusloop_options = timers_first=true tasks_per_cycle=64``) and, per test, from the marker
``@pytest.mark.nexusloop(timers_first=True)``, whose keywords override the ini.

Virtual time (see :mod:`nexusloop.testing` for the rule): the ``virtual_clock`` fixture, or
``@pytest.mark.nexusloop(virtual_time=True)`` (``autojump_threshold=`` to tune), runs the test on a
loop whose clock jumps to the next timer whenever the loop is idle. Such tests run on nexusloop
only (also in ``both`` mode).

How it plugs in:

* pytest-asyncio >= 1.4: the plugin implements ``pytest_asyncio_loop_factories`` (registered
  only when the plugin is on: pytest-asyncio treats any implementation as authoritative), which
  returns one factory (``nexusloop``) or two (``asyncio``, ``nexusloop``; pytest-asyncio makes
  them the test ids) per test.
* older pytest-asyncio (1.0 - 1.3; tested with 1.3.0): the plugin sets nexusloop's event loop policy for the
  session, which the ``event_loop_policy`` fixture of those versions returns; ``both`` and
  virtual time need the hook and are refused there with a clear message.
* anyio's pytest plugin is configured by the project's ``anyio_backend`` fixture::

      @pytest.fixture
      def anyio_backend():
          return ("asyncio", {"loop_factory": nexusloop.new_event_loop})
"""
from __future__ import annotations

import asyncio
import dataclasses
import functools
from collections.abc import Callable
from typing import Any

import pytest

__all__ = ["loop_options_from_strings"]

_MODES = ("off", "nexusloop", "both")
_MARKER = "nexusloop"
_VIRTUAL_KEYS = ("virtual_time", "autojump_threshold")


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("nexusloop", "nexusloop event loop")
    group.addoption(
        "--nexusloop", dest="nexusloop_mode", action="store_const", const="nexusloop",
        help="run pytest-asyncio tests on nexusloop (same as --nexusloop-mode=nexusloop)",
    )
    group.addoption(
        "--nexusloop-mode", dest="nexusloop_mode", choices=_MODES, default=None,
        help="off (default): plugin inactive; nexusloop: tests run on nexusloop; both: every "
        "test runs on asyncio and on nexusloop",
    )
    parser.addini("nexusloop_mode", "default for --nexusloop-mode (off, nexusloop, both)",
                  default="off")
    parser.addini(
        "nexusloop_options", "nexusloop loop options as name=value (LoopOptions fields)",
        type="args", default=[],
    )


def _mode(config: pytest.Config) -> str:
    mode = config.getoption("nexusloop_mode") or config.getini("nexusloop_mode") or "off"
    if mode not in _MODES:
        raise pytest.UsageError(f"nexusloop_mode must be one of {', '.join(_MODES)}, not {mode!r}")
    return str(mode)


def loop_options_from_strings(items: list[str]) -> dict[str, Any]:
    """Parse ``name=value`` strings into ``LoopOptions`` keywords (ini file syntax).

    Example::

        loop_options_from_strings(["timers_first=true", "tasks_per_cycle=64"])
        # {'timers_first': True, 'tasks_per_cycle': 64}
    """
    from nexusloop import LoopOptions

    types = {f.name: f.type for f in dataclasses.fields(LoopOptions)}
    out: dict[str, Any] = {}
    for item in items:
        name, sep, raw = item.partition("=")
        name = name.strip()
        if not sep or name not in types:
            raise pytest.UsageError(
                f"nexusloop_options: {item!r} is not name=value with name one of "
                f"{', '.join(types)}"
            )
        kind = str(types[name])
        raw = raw.strip()
        if kind == "bool":
            if raw.lower() not in ("true", "false", "1", "0", "yes", "no"):
                raise pytest.UsageError(f"nexusloop_options: {name} wants true/false, got {raw!r}")
            out[name] = raw.lower() in ("true", "1", "yes")
        elif kind in ("int", "int | None"):
            try:
                out[name] = int(raw)
            except ValueError:
                raise pytest.UsageError(f"nexusloop_options: {name} wants an int, got {raw!r}")
        else:
            raise pytest.UsageError(f"nexusloop_options: {name} cannot be set from the ini file")
    try:  # validate now: a bad value is a usage error at start-up, not an error per test
        LoopOptions(**out)
    except (TypeError, ValueError) as exc:
        raise pytest.UsageError(f"nexusloop_options: {exc}")
    return out


def _has_loop_factories_hook() -> bool:
    try:
        from pytest_asyncio.plugin import PytestAsyncioSpecs
    except ImportError:
        return False
    return hasattr(PytestAsyncioSpecs, "pytest_asyncio_loop_factories")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "nexusloop(**options): loop options for this test on nexusloop (LoopOptions fields); "
        "virtual_time=True runs it under virtual time (nexusloop.testing)",
    )
    mode = _mode(config)
    if mode == "off":
        return
    options = loop_options_from_strings(config.getini("nexusloop_options"))
    if _has_loop_factories_hook():
        config.pluginmanager.register(_LoopFactories(mode, options), "nexusloop-loop-factories")
        return
    if mode == "both":
        raise pytest.UsageError(
            "nexusloop_mode=both needs pytest-asyncio >= 1.4 (its pytest_asyncio_loop_factories "
            "hook); this environment has an older or no pytest-asyncio"
        )
    # Older pytest-asyncio: its event_loop_policy fixture returns the current policy.
    import nexusloop

    config.stash[_saved_policy] = asyncio.get_event_loop_policy()
    asyncio.set_event_loop_policy(nexusloop.EventLoopPolicy(**options))


_saved_policy = pytest.StashKey[Any]()


def pytest_unconfigure(config: pytest.Config) -> None:
    saved = config.stash.get(_saved_policy, None)
    if saved is not None:
        asyncio.set_event_loop_policy(saved)


def _make_loop(options: dict[str, Any], virtual: bool, threshold: float | None) -> Any:
    import nexusloop
    from nexusloop.testing import DEFAULT_AUTOJUMP_THRESHOLD, VirtualClock

    loop = nexusloop.new_event_loop(**options)
    if virtual:
        VirtualClock(
            loop,
            autojump_threshold=DEFAULT_AUTOJUMP_THRESHOLD if threshold is None else threshold,
        )
    return loop


class _LoopFactories:
    """The ``pytest_asyncio_loop_factories`` implementation (registered only when on)."""

    def __init__(self, mode: str, options: dict[str, Any]) -> None:
        self.mode = mode
        self.options = options

    @pytest.hookimpl
    def pytest_asyncio_loop_factories(
        self, config: pytest.Config, item: pytest.Item
    ) -> dict[str, Callable[[], asyncio.AbstractEventLoop]]:
        options = dict(self.options)
        virtual = "virtual_clock" in getattr(item, "fixturenames", ())
        threshold = None
        marker = item.get_closest_marker(_MARKER)
        if marker is not None:
            if marker.args:
                raise pytest.UsageError(
                    f"{item.nodeid}: @pytest.mark.nexusloop takes keywords only"
                )
            kwargs = dict(marker.kwargs)
            virtual = bool(kwargs.pop("virtual_time", False)) or virtual
            threshold = kwargs.pop("autojump_threshold", None)
            options.update(kwargs)
            from nexusloop import LoopOptions

            try:
                LoopOptions(**options)
            except (TypeError, ValueError) as exc:
                raise pytest.UsageError(f"{item.nodeid}: @pytest.mark.nexusloop: {exc}")
        nexus = functools.partial(_make_loop, options, virtual, threshold)
        if self.mode == "both" and not virtual:
            return {"asyncio": asyncio.new_event_loop, "nexusloop": nexus}
        return {"nexusloop": nexus}


class _RunningLoopClock:
    """What the ``virtual_clock`` fixture gives: the running test loop's virtual clock."""

    def _clock(self) -> Any:
        from nexusloop.testing import VirtualClock

        return VirtualClock.of()

    def time(self) -> float:
        """The loop's (virtual) time."""
        return float(self._clock().time())

    def advance(self, seconds: float) -> None:
        """Move the clock forward by ``seconds``."""
        self._clock().advance(seconds)

    @property
    def lead(self) -> float:
        """Virtual seconds ahead of the real monotonic clock."""
        return float(self._clock().lead)

    @property
    def autojump_threshold(self) -> float:
        return float(self._clock().autojump_threshold)

    @autojump_threshold.setter
    def autojump_threshold(self, seconds: float) -> None:
        self._clock().autojump_threshold = seconds


@pytest.fixture
def virtual_clock(request: pytest.FixtureRequest) -> _RunningLoopClock:
    """Run this (pytest-asyncio) test under virtual time on nexusloop; the value gives the
    clock (``time()``, ``advance(s)``, ``lead``, ``autojump_threshold``) of the running loop.

    Example::

        @pytest.mark.asyncio
        async def test_timeout(virtual_clock):
            with pytest.raises(TimeoutError):
                async with asyncio.timeout(30):      # 30 virtual seconds, instant
                    await asyncio.Event().wait()
    """
    if _mode(request.config) == "off":
        raise pytest.UsageError(
            "the virtual_clock fixture needs the nexusloop pytest plugin on: run pytest with "
            "--nexusloop (or set nexusloop_mode = nexusloop in the ini file)"
        )
    if not _has_loop_factories_hook():
        raise pytest.UsageError("virtual_clock needs pytest-asyncio >= 1.4")
    return _RunningLoopClock()
