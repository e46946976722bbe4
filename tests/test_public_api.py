"""The public surface: ``__all__`` lists exactly what the package exports, and it resolves."""
from __future__ import annotations

import asyncio
import inspect

import nexusloop


def test_all_names_resolve() -> None:
    for name in nexusloop.__all__:
        assert getattr(nexusloop, name) is not None, name


def test_all_is_accurate() -> None:
    public = {
        name
        for name in dir(nexusloop)
        if not name.startswith("_") and not inspect.ismodule(getattr(nexusloop, name))
    }
    assert public == set(nexusloop.__all__) - {"__version__"}


def test_unknown_attribute_raises() -> None:
    try:
        nexusloop.does_not_exist  # type: ignore[attr-defined]  # noqa: B018
    except AttributeError as exc:
        assert "does_not_exist" in str(exc)
    else:  # pragma: no cover
        raise AssertionError("expected AttributeError")


def test_loop_is_an_abstract_event_loop() -> None:
    assert issubclass(nexusloop.Loop, asyncio.AbstractEventLoop)
    loop = nexusloop.new_event_loop()
    try:
        assert isinstance(loop, asyncio.AbstractEventLoop)
    finally:
        loop.close()


def test_loop_options_is_exported() -> None:
    from nexusloop._options import LoopOptions

    assert nexusloop.LoopOptions is LoopOptions


def test_public_callables_have_docstrings() -> None:
    for name in ("new_event_loop", "run", "install", "EventLoopPolicy", "Loop", "LoopOptions"):
        assert getattr(nexusloop, name).__doc__, name


def test_every_abstract_event_loop_method_is_implemented() -> None:
    """Issue #7's "done when": no public AbstractEventLoop method is left to the base class
    (whose bodies raise NotImplementedError)."""
    missing = [
        name
        for name in dir(asyncio.AbstractEventLoop)
        if not name.startswith("_")
        and callable(getattr(asyncio.AbstractEventLoop, name))
        and getattr(nexusloop.Loop, name) is getattr(asyncio.AbstractEventLoop, name)
    ]
    assert missing == []
