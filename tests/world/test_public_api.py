"""``nexusloop.world.__all__`` is accurate: every name exists, every public name is listed."""
from __future__ import annotations

import importlib
import pkgutil

import nexusloop.world as world_pkg


def test_all_names_exist_and_are_unique() -> None:
    assert len(world_pkg.__all__) == len(set(world_pkg.__all__))
    for name in world_pkg.__all__:
        assert hasattr(world_pkg, name), name


def test_every_private_module_public_name_is_exported() -> None:
    for info in pkgutil.iter_modules(world_pkg.__path__):
        if not info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{world_pkg.__name__}.{info.name}")
        for name in getattr(module, "__all__", ()):
            assert name in world_pkg.__all__, f"{info.name}.{name} missing from __all__"
            assert getattr(world_pkg, name) is getattr(module, name)


def test_public_names_have_docstrings_with_an_example() -> None:
    mine = {
        "WorldBuilder", "World", "Registry", "Cell", "Shutdown", "into_handler", "into_callback",
        "HandlerTemplate", "CallbackTemplate", "compile_step", "TimerQueue", "TimerPoller",
        "TimerInstaller", "Periodic", "IoDriver", "IoPoller", "IoInstaller", "TestHarness",
        "VirtualClock", "with_world", "world", "Handler", "Callback", "param_spec", "Plugin",
    }
    for name in mine:
        doc = getattr(world_pkg, name).__doc__ or ""
        assert "Example::" in doc, f"{name} has no example in its docstring"
