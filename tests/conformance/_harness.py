"""Run CPython's own ``test.test_asyncio`` test classes on nexusloop.

Why this shape
--------------
CPython's asyncio tests are written against *a* loop, but they obtain it in half a dozen ways:
``self.create_event_loop()`` (``test_events``/``test_sock_lowlevel`` per-selector classes),
``self.new_test_loop()`` (``test_utils.TestLoop``, a virtual-time ``BaseEventLoop``),
``asyncio.new_event_loop()`` and ``asyncio.run()``/``asyncio.Runner()`` (through the event loop
policy), ``unittest.IsolatedAsyncioTestCase`` (a ``Runner`` per test, through the policy) and a few
hand-built ``asyncio.BaseEventLoop()`` objects with mocked internals. Running the modules
unchanged would therefore test the stock loop, not ours.

So every conformance module (``test_cpy_*.py``) imports the CPython module and defines
*subclasses* of its test classes whose first base is :class:`NexusCase`:

* ``NexusCase.run`` installs ``nexusloop.EventLoopPolicy()`` around the whole test (setUp, body,
  tearDown, cleanups, and ``IsolatedAsyncioTestCase``'s runner), then resets the policy to
  ``None``. Every ``asyncio.new_event_loop()``/``asyncio.run()``/``Runner()`` inside the test
  therefore builds a ``nexusloop.Loop``. (The CPython modules' ``tearDownModule`` only resets the
  policy, and pytest never calls it for our modules anyway since it is not in their namespace.)
* The subclasses override the direct constructors where that is meaningful:
  ``create_event_loop`` and ``new_test_loop()`` return nexusloop (the latter with a read-only
  ``_ready`` view, see :class:`ReadyView`); ``new_test_loop(gen)`` (virtual time driven by a
  generator) is excluded, see :meth:`NexusCase.new_test_loop`. The modules redirect the
  others through :func:`new_loop`: ``functional.FunctionalTestCaseMixin.new_loop``
  (``test_server``, ``test_buffered_proto``), the ``setUp`` of classes that build
  ``asyncio.SelectorEventLoop()`` or a bare ``BaseEventLoop()`` (``test_unix_events``,
  ``test_pep492``) and ``test_runners``' ``new_loop``.
* **Proof.** While a test runs, ``nexusloop.Loop.__init__``/``run_forever`` and
  ``asyncio.BaseEventLoop.__init__`` are wrapped to record which loops the test created and ran.
  A test class in which no test touched nexusloop fails in ``tearDownClass``; the conftest
  prints (and can write as JSON) how many tests ran on nexusloop and on other loops.
* Expected failures are ``pytest.mark.xfail(strict=True)`` on copies of the inherited test
  methods (so a fix turns CI red until the mark is removed); exclusions are
  ``pytest.mark.skip`` with the reason. Both are declared next to each class with
  :func:`conformance` and documented in ``docs/compatibility.md``.

Checking the harness itself
---------------------------
With ``NEXUSLOOP_CONFORMANCE_LOOP=stock`` the same derived classes run on asyncio's own
``SelectorEventLoop`` instead (:func:`new_loop` and the policy switch to the stock loop, the
nexusloop-only stand-ins are not attached, the xfail marks -- nexusloop bugs -- are dropped, the
exclusions stay). Every test that is not excluded must pass there: a failure means the subclass,
a stand-in or an override is wrong, not nexusloop. The proof is inverted in that mode: a class in
which a test created a nexusloop fails.
"""
from __future__ import annotations

import asyncio
import dataclasses
import importlib
import os
import types
import unittest
from asyncio import base_events
from collections.abc import Callable, Mapping
from typing import Any

import pytest

import nexusloop
from nexusloop import _core

#: Pure-Python mode (``NEXUSLOOP_NO_EXTENSIONS=1`` or no compiled core)?
PURE = not _core.is_compiled(_core.load("_loopcore"))

#: ``NEXUSLOOP_CONFORMANCE_LOOP=stock``: run the harness on asyncio's own loop to check the harness
#: (see "Checking the harness itself" above).
STOCK = os.environ.get("NEXUSLOOP_CONFORMANCE_LOOP", "nexusloop") == "stock"
MODE = "stock loop" if STOCK else ("pure" if PURE else "compiled")


#: ``NEXUSLOOP_CONFORMANCE_TASK_FACTORY=runtime``: ``create_task`` makes the runtime's compiled
#: tasks (``nexusloop.runtime._task.task_factory``): how compatible they are as default tasks.
RUNTIME_TASKS = os.environ.get("NEXUSLOOP_CONFORMANCE_TASK_FACTORY") == "runtime"


def new_loop() -> Any:
    """The loop every redirected constructor returns: nexusloop (or the stock loop, see STOCK)."""
    if STOCK:
        return asyncio.SelectorEventLoop()
    loop = nexusloop.new_event_loop()
    if RUNTIME_TASKS:
        from nexusloop.runtime._task import task_factory

        loop.set_task_factory(task_factory)
    return loop


def new_loop_method(self: Any) -> Any:
    """``new_loop`` override for CPython's ``functional.FunctionalTestCaseMixin`` classes."""
    return new_loop()


VIRTUAL_TIME_REASON = (
    "virtual time: uses test_utils.TestLoop(gen), whose clock is advanced by a generator "
    "(TestLoop internals, not a real loop); cannot run on any real event loop"
)


def cpython_test_module(name: str) -> types.ModuleType:
    """Import ``test.test_asyncio.<name>``, or skip the calling module with a clear message."""
    try:
        importlib.import_module("test.test_asyncio")
    except ImportError as exc:  # pragma: no cover - depends on how Python was packaged
        pytest.skip(
            "conformance suite skipped: this interpreter has no CPython test package "
            f"'test.test_asyncio' ({exc}); install it (e.g. Debian/Ubuntu: "
            "libpython3.X-testsuite) to run CPython's asyncio tests against nexusloop",
            allow_module_level=True,
        )
    return importlib.import_module(f"test.test_asyncio.{name}")


# --------------------------------------------------------------------------- recording


@dataclasses.dataclass
class TestRecord:
    """Which loops one test created and ran."""

    test_id: str
    skipped: bool = False
    nexus_created: int = 0
    nexus_ran: int = 0
    other_created: dict[str, int] = dataclasses.field(default_factory=dict)

    @property
    def touched_nexusloop(self) -> bool:
        return self.nexus_created > 0


#: unittest id (``module.Class.method``) -> record, for the conftest's summary.
RECORDS: dict[str, TestRecord] = {}


class _Probes:
    """Wrap loop constructors for the duration of one test (restored afterwards)."""

    def __init__(self, record: TestRecord) -> None:
        self.record = record
        self.saved: list[tuple[type, str, Any]] = []

    def __enter__(self) -> _Probes:  # noqa: PYI034 - final helper class
        record = self.record
        loop_cls = nexusloop.Loop
        orig_init = loop_cls.__dict__["__init__"]
        orig_run = loop_cls.__dict__.get("run_forever")
        orig_base_init = base_events.BaseEventLoop.__dict__["__init__"]

        def nexus_init(self: Any, *args: Any, **kwargs: Any) -> None:
            record.nexus_created += 1
            orig_init(self, *args, **kwargs)

        def nexus_run_forever(self: Any) -> None:
            record.nexus_ran += 1
            return orig_run(self)

        def base_init(self: Any, *args: Any, **kwargs: Any) -> None:
            name = type(self).__module__ + "." + type(self).__qualname__
            record.other_created[name] = record.other_created.get(name, 0) + 1
            orig_base_init(self, *args, **kwargs)

        self._patch(loop_cls, "__init__", nexus_init)
        if orig_run is not None:
            self._patch(loop_cls, "run_forever", nexus_run_forever)
        self._patch(base_events.BaseEventLoop, "__init__", base_init)
        return self

    def _patch(self, cls: type, name: str, value: Any) -> None:
        self.saved.append((cls, name, cls.__dict__[name]))
        setattr(cls, name, value)

    def __exit__(self, *exc: object) -> None:
        for cls, name, value in reversed(self.saved):
            setattr(cls, name, value)


# --------------------------------------------------------------------------- the mixin


class NexusCase:
    """First base of every conformance class: run the test with nexusloop as the loop."""

    #: ``module.Class`` of the stock class this one mirrors (for the stock/nexusloop comparison).
    stock_counterpart: str = ""

    _nexus_tests_run = 0
    _nexus_tests_on_nexusloop = 0

    def run(self, result: Any = None) -> Any:
        record = RECORDS.setdefault(self.id(), TestRecord(self.id()))
        cls = type(self)
        asyncio.set_event_loop_policy(
            asyncio.DefaultEventLoopPolicy() if STOCK else nexusloop.EventLoopPolicy()
        )
        try:
            with _Probes(record):
                return super().run(result)  # type: ignore[misc]
        finally:
            asyncio.set_event_loop_policy(None)
            method = getattr(self, self._testMethodName, None)  # type: ignore[attr-defined]
            skipped = getattr(method, "__unittest_skip__", False) or getattr(
                cls, "__unittest_skip__", False
            )
            if not (skipped or record.skipped):
                cls._nexus_tests_run += 1
                if record.touched_nexusloop:
                    cls._nexus_tests_on_nexusloop += 1

    @classmethod
    def tearDownClass(cls) -> None:
        super().tearDownClass()  # type: ignore[misc]
        if STOCK:
            if cls._nexus_tests_on_nexusloop:
                raise AssertionError(
                    f"{cls.__qualname__}: {cls._nexus_tests_on_nexusloop} test(s) created a "
                    "nexusloop.Loop in the stock-loop run -- a constructor bypasses new_loop()"
                )
            return
        if cls._nexus_tests_run and not cls._nexus_tests_on_nexusloop:
            raise AssertionError(
                f"{cls.__qualname__}: {cls._nexus_tests_run} test(s) ran but none created a "
                "nexusloop.Loop -- the harness is not redirecting this class to nexusloop"
            )

    # ``test_utils.TestCase.new_test_loop``: a real nexusloop instead of a virtual-time TestLoop.
    def new_test_loop(self, gen: Any = None) -> Any:
        if gen is not None:
            RECORDS[self.id()].skipped = True  # type: ignore[attr-defined]
            raise unittest.SkipTest(VIRTUAL_TIME_REASON)
        loop = new_loop()
        if not STOCK:
            loop._ready = ReadyView(loop)
        self.set_event_loop(loop)  # type: ignore[attr-defined]
        return loop

    def create_event_loop(self) -> Any:
        return new_loop()


class ReadyView:
    """Stand-in for CPython's ``loop._ready`` deque, for tests that only ask "is work queued?".

    CPython's ``GatherTestsBase._run_loop`` and ``test_log_destroyed_pending_task`` peek at
    ``loop._ready`` (BaseEventLoop's private deque) to drive the loop until it is idle. nexusloop
    keeps its ready queue in a ring buffer; ``loop.stats().ready`` is its public size. The view
    is attached to the loops that replace ``test_utils.TestLoop`` (``new_test_loop()``), which
    has ``_ready`` too; nexusloop itself never reads or writes ``_ready``.
    """

    def __init__(self, loop: Any) -> None:
        self._stats = loop.stats

    def __len__(self) -> int:
        return int(self._stats().ready)

    def __bool__(self) -> bool:
        return len(self) > 0


# --------------------------------------------------------------------------- marks


def _virtual_time_tests(cls: type) -> list[str]:
    """Test methods of ``cls`` whose source calls ``new_test_loop(<generator>)``."""
    import inspect
    import re

    found = []
    for name in dir(cls):
        func = getattr(cls, name, None)
        if not name.startswith("test") or not isinstance(func, types.FunctionType):
            continue
        try:
            source = inspect.getsource(func)
        except (OSError, TypeError):
            continue
        if re.search(r"new_test_loop\(\s*[^)\s]", source):
            found.append(name)
    return found


def _copy_function(func: Callable[..., Any]) -> Any:
    copy = types.FunctionType(
        func.__code__, func.__globals__, func.__name__, func.__defaults__, func.__closure__
    )
    copy.__kwdefaults__ = func.__kwdefaults__
    copy.__qualname__ = func.__qualname__
    copy.__dict__.update(func.__dict__)
    copy.__dict__.pop("pytestmark", None)
    return copy


def _mark(cls: type, name: str, mark: Any) -> None:
    func = getattr(cls, name, None)
    if func is None:
        # The CPython test does not exist in this Python version: nothing to mark.
        return
    if not isinstance(func, types.FunctionType):
        raise TypeError(f"{cls.__qualname__}.{name} is not a plain test function")
    copy = _copy_function(func)
    setattr(cls, name, mark(copy))


def conformance(
    *,
    stock: str = "",
    xfail: Mapping[str, str] | None = None,
    xfail_pure: Mapping[str, str] | None = None,
    xfail_compiled: Mapping[str, str] | None = None,
    exclude: Mapping[str, str] | None = None,
) -> Callable[[type], type]:
    """Class decorator: stock counterpart, strict xfails (per mode) and exclusions with reasons.

    ``stock`` is ``module.Class`` of the stock test class with the same test methods (defaults
    to the CPython base class that is a ``unittest.TestCase``).
    """

    def decorate(cls: type) -> type:
        if stock:
            cls.stock_counterpart = stock  # type: ignore[attr-defined]
        else:
            for base in cls.__mro__[1:]:
                if (
                    issubclass(base, unittest.TestCase)
                    and base.__module__.startswith("test.test_asyncio.")
                    and base.__name__ != "TestCase"
                ):
                    cls.stock_counterpart = f"{base.__module__}.{base.__name__}"  # type: ignore[attr-defined]
                    break
        for name, reason in (exclude or {}).items():
            _mark(cls, name, pytest.mark.skip(reason=f"excluded: {reason}"))
        for name in _virtual_time_tests(cls):
            # Marked up front so the test body never runs (it would create coroutines that the
            # runtime SkipTest in new_test_loop(gen) leaves un-awaited).
            _mark(cls, name, pytest.mark.skip(reason=VIRTUAL_TIME_REASON))
        mode_xfail = dict(xfail or {})
        mode_xfail.update((xfail_pure if PURE else xfail_compiled) or {})
        if STOCK:  # xfails are nexusloop bugs: on the stock loop these tests must pass
            mode_xfail = {}
        for name, reason in mode_xfail.items():
            _mark(cls, name, pytest.mark.xfail(strict=True, reason=f"nexusloop bug: {reason}"))
        return cls

    return decorate


def derive(
    namespace: dict[str, Any],
    base: type,
    *,
    name: str | None = None,
    extra: tuple[type, ...] = (),
    attrs: Mapping[str, Any] | None = None,
    **marks: Any,
) -> type:
    """Define ``Nexus_<base>`` (``NexusCase`` first) in ``namespace`` and apply :func:`conformance`."""
    cls_name = name or f"Nexus_{base.__name__}"
    body: dict[str, Any] = {"__module__": namespace["__name__"], "__qualname__": cls_name}
    body.update(attrs or {})
    cls = type(cls_name, (*extra, NexusCase, base), body)
    cls = conformance(**marks)(cls)
    namespace[cls_name] = cls
    return cls


def derive_all(
    namespace: dict[str, Any],
    module: types.ModuleType,
    *,
    per_class: Mapping[str, Mapping[str, Any]] | None = None,
    overrides: Mapping[str, Any] | None = None,
    exclude_classes: Mapping[str, str] | None = None,
    replaced: tuple[str, ...] = (),
) -> list[type]:
    """Derive a nexusloop variant of every ``TestCase`` class defined in CPython's ``module``.

    ``per_class`` maps a class name to :func:`derive` keyword arguments (marks, attrs, extra);
    ``overrides`` are attributes set on every derived class (e.g. a ``new_loop`` factory);
    ``exclude_classes`` maps class names to the reason the whole class does not apply (its tests
    are reported as skipped with that reason, never dropped silently); ``replaced`` names
    per-selector variants that the calling module replaces by one hand-written nexusloop class
    (they are not derived: the same test bodies run there).
    """
    per_class = per_class or {}
    derived = []
    for name, obj in sorted(vars(module).items()):
        if not (
            isinstance(obj, type)
            and issubclass(obj, unittest.TestCase)
            and obj.__module__ == module.__name__
        ) or name in replaced:
            continue
        kwargs = dict(per_class.get(name, {}))
        attrs = dict(overrides or {})
        attrs.update(kwargs.pop("attrs", {}))
        if exclude_classes and name in exclude_classes:
            attrs["pytestmark"] = [pytest.mark.skip(reason=f"excluded: {exclude_classes[name]}")]
        derived.append(derive(namespace, obj, attrs=attrs, **kwargs))
    return derived


def matching_tests(cls: type, patterns: Mapping[str, str]) -> dict[str, str]:
    """``{test name: reason}`` for the test methods of ``cls`` matching each regex in ``patterns``.

    Used to exclude whole feature areas by name (e.g. ``create_server``) with one reason each.
    """
    import re

    found: dict[str, str] = {}
    for name in sorted(dir(cls)):
        if not name.startswith("test"):
            continue
        for pattern, reason in patterns.items():
            if re.search(pattern, name):
                found.setdefault(name, reason)
    return found
