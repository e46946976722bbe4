"""LoopOptions: one definition of the runtime options, taken and validated the same way everywhere."""
from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import re
import typing
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import _checked, _open_fds

import nexusloop
from nexusloop._options import LoopOptionsKwargs
from nexusloop.world import WorldBuilder

README = Path(__file__).resolve().parent.parent / "README.md"

CUSTOM = {"tasks_per_cycle": 7, "event_interval": 5, "busy_poll": True, "timers_first": True}


@pytest.fixture
def make_loop() -> Iterator[Callable[..., Any]]:
    """``make_loop(factory, *args, **kwargs)``: each loop is closed and leak-checked after."""
    with contextlib.ExitStack() as stack:

        def make(factory: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
            return stack.enter_context(_checked(lambda: factory(*args, **kwargs)))

        yield make


def _via_run(*args: Any, **kwargs: Any) -> nexusloop.LoopOptions:
    async def main() -> nexusloop.LoopOptions:
        loop = asyncio.get_running_loop()
        assert isinstance(loop, nexusloop.Loop)
        return loop.options

    before = _open_fds()
    coro = main()
    try:
        options = nexusloop.run(coro, *args, **kwargs)
    finally:
        coro.close()  # never started when the options are rejected
    assert _open_fds() <= before
    return options


def _via_policy(*args: Any, **kwargs: Any) -> nexusloop.LoopOptions:
    loop = nexusloop.EventLoopPolicy(*args, **kwargs).new_event_loop()
    try:
        return loop.options
    finally:
        loop.close()


def _via_install(*args: Any, **kwargs: Any) -> nexusloop.LoopOptions:
    try:
        nexusloop.install(*args, **kwargs)
        loop = asyncio.new_event_loop()
        try:
            return loop.options  # type: ignore[attr-defined,no-any-return]
        finally:
            loop.close()
    finally:
        asyncio.set_event_loop_policy(None)


def _via_loop(*args: Any, **kwargs: Any) -> nexusloop.LoopOptions:
    loop = nexusloop.Loop(*args, **kwargs)  # type: ignore[abstract]
    try:
        return loop.options
    finally:
        loop.close()


def _via_new_event_loop(*args: Any, **kwargs: Any) -> nexusloop.LoopOptions:
    loop = nexusloop.new_event_loop(*args, **kwargs)
    try:
        return loop.options
    finally:
        loop.close()


# Each entry point, called as a user would: (positional options | options= | keywords).
ENTRY_POINTS: dict[str, tuple[Callable[..., nexusloop.LoopOptions], bool]] = {
    # name: (make a loop and return its options, takes options positionally)
    "Loop": (_via_loop, True),
    "new_event_loop": (_via_new_event_loop, True),
    "EventLoopPolicy": (_via_policy, True),
    "install": (_via_install, True),
    "run": (_via_run, False),
}


def _call(name: str, options: nexusloop.LoopOptions | None = None, **kwargs: Any) -> Any:
    via, positional = ENTRY_POINTS[name]
    if options is None:
        return via(**kwargs)
    if positional:
        return via(options, **kwargs)
    return via(options=options, **kwargs)


# -- the definition ---------------------------------------------------------------------------


def test_defaults_are_asyncio_like() -> None:
    assert nexusloop.LoopOptions() == nexusloop.LoopOptions(
        tasks_per_cycle=0, event_interval=61, busy_poll=False, timers_first=False, world=None
    )


def test_options_are_frozen_and_keyword_only() -> None:
    options = nexusloop.LoopOptions()
    with pytest.raises(dataclasses.FrozenInstanceError):
        options.busy_poll = True  # type: ignore[misc]
    with pytest.raises(TypeError):
        nexusloop.LoopOptions(4)  # type: ignore[misc]


def test_every_field_has_a_doc_and_the_class_docstring_shows_it() -> None:
    doc = nexusloop.LoopOptions.__doc__ or ""
    for field in dataclasses.fields(nexusloop.LoopOptions):
        assert field.metadata["doc"], field.name
        assert f"``{field.name}``" in doc and field.metadata["doc"] in doc


def test_kwargs_typeddict_matches_the_fields() -> None:
    fields = typing.get_type_hints(nexusloop.LoopOptions)
    assert typing.get_type_hints(LoopOptionsKwargs) == fields
    assert LoopOptionsKwargs.__required_keys__ == frozenset()


def test_readme_options_table_is_the_dataclass() -> None:
    """README's table lists exactly the fields, with their defaults and their docs, in order."""
    text = README.read_text(encoding="utf-8")
    rows = re.findall(r"^\| `(\w+)` \| (.+?) \| (.+?) \|$", text, flags=re.MULTILINE)
    fields = dataclasses.fields(nexusloop.LoopOptions)
    assert [name for name, _, _ in rows] == [field.name for field in fields]
    for (name, default, meaning), field in zip(rows, fields, strict=True):
        assert default.startswith(f"`{field.default!r}`"), name
        assert meaning == field.metadata["doc"], name


# -- validation, in one place -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"tasks_per_cycle": -1}, ValueError, r"^tasks_per_cycle must be >= 0 \(0 means unlimited\)$"),
        ({"event_interval": 0}, ValueError, r"^event_interval must be >= 1$"),
        ({"tasks_per_cycle": True}, TypeError, "tasks_per_cycle must be an int, not bool"),
        ({"event_interval": 1.5}, TypeError, "event_interval must be an int, not float"),
        ({"event_interval": "8"}, TypeError, "event_interval must be an int, not str"),
        ({"busy_poll": 1}, TypeError, "busy_poll must be a bool, not int"),
        ({"timers_first": None}, TypeError, "timers_first must be a bool, not NoneType"),
    ],
)
def test_invalid_values(kwargs: dict[str, Any], error: type[Exception], match: str) -> None:
    with pytest.raises(error, match=match):
        nexusloop.LoopOptions(**kwargs)
    for name in ENTRY_POINTS:
        with pytest.raises(error, match=match):
            _call(name, **kwargs)


def test_unknown_option_is_a_type_error_naming_it() -> None:
    with pytest.raises(TypeError, match="unknown nexusloop option 'event_intervall'"):
        nexusloop.LoopOptions.from_kwargs(event_intervall=3)
    with pytest.raises(TypeError, match="unknown nexusloop options 'foo', 'bar'"):
        nexusloop.LoopOptions.from_kwargs(foo=1, bar=2, busy_poll=True)
    for name in ENTRY_POINTS:
        with pytest.raises(TypeError, match="unknown nexusloop option 'foo'"):
            _call(name, foo=1)


def test_options_must_be_loop_options() -> None:
    for name in ("Loop", "new_event_loop", "EventLoopPolicy", "install"):
        with pytest.raises(TypeError, match="options must be a nexusloop.LoopOptions, not dict"):
            ENTRY_POINTS[name][0]({"busy_poll": True})
    with pytest.raises(TypeError, match="options must be a nexusloop.LoopOptions, not dict"):
        _via_run(options={"busy_poll": True})


# -- every entry point takes LoopOptions, keywords, or both ----------------------------------


@pytest.mark.parametrize("name", sorted(ENTRY_POINTS))
def test_entry_point_takes_options_and_keywords(name: str) -> None:
    world = WorldBuilder().build()
    expected = nexusloop.LoopOptions(**CUSTOM, world=world)
    assert _call(name) == nexusloop.LoopOptions()
    assert _call(name, **CUSTOM, world=world) == expected
    assert _call(name, expected) == expected
    assert nexusloop.LoopOptions.from_kwargs(options=expected) is expected
    # Keywords override the fields of the options object.
    overridden = _call(name, expected, event_interval=9, busy_poll=False)
    assert overridden == dataclasses.replace(expected, event_interval=9, busy_poll=False)


def test_loop_runs_with_its_options(make_loop: Callable[..., Any]) -> None:
    options = nexusloop.LoopOptions(**CUSTOM)
    loop = make_loop(nexusloop.new_event_loop, options)
    assert loop.options is options
    assert (loop._tasks_per_cycle, loop._event_interval, loop._busy_poll, loop._timers_first) == (
        7,
        5,
        True,
        True,
    )
    assert loop.run_until_complete(asyncio.sleep(0, "ok")) == "ok"


def test_world_option_is_loop_world(make_loop: Callable[..., Any]) -> None:
    world = WorldBuilder().build()
    loop = make_loop(nexusloop.new_event_loop, world=world)
    assert loop.world is world and loop.options.world is world


@pytest.mark.parametrize("bad", [42, "world", object()])
def test_world_must_be_a_world(bad: object) -> None:
    # Issue #12: new_event_loop(world=42) used to be accepted silently.
    with pytest.raises(TypeError, match="world must be a nexusloop.world.World"):
        nexusloop.new_event_loop(world=bad)
    with pytest.raises(TypeError, match="not int"):
        nexusloop.LoopOptions(world=42)


def test_options_is_read_only(make_loop: Callable[..., Any]) -> None:
    loop = make_loop(nexusloop.new_event_loop)
    with pytest.raises(AttributeError):
        loop.options = nexusloop.LoopOptions()
