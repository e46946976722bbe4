"""Regression tests for the rough edges a new user hit (issue #12), one or more per edge.

Interpreter-exit behaviour is checked in subprocesses, in compiled and in pure mode, against
what stock asyncio prints for the same program.
"""
from __future__ import annotations

import ast
import asyncio
import gc
import importlib.util
import inspect
import os
import pydoc
import subprocess
import sys
import textwrap
import warnings
from pathlib import Path

import pytest

import nexusloop
import nexusloop._core as _core

ROOT = Path(__file__).resolve().parent.parent
BUILT = all(_core.extension_path("nexusloop._core", name) for name in _core.CORE_MODULES)
MODES = [pytest.param(True, id="pure"),
         pytest.param(False, id="compiled",
                      marks=pytest.mark.skipif(not BUILT, reason="extensions not built"))]


def _python(code: str, *, pure: bool, args: tuple[str, ...] = ()) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    env.pop("NEXUSLOOP_NO_EXTENSIONS", None)
    env.pop("PYTHONWARNINGS", None)
    if pure:
        env["NEXUSLOOP_NO_EXTENSIONS"] = "1"
    return subprocess.run([sys.executable, *args, "-c", textwrap.dedent(code)], env=env,
                          capture_output=True, text=True, timeout=120, check=False)


# -- a loop left unclosed at interpreter exit ------------------------------------------------

UNCLOSED = {
    "plain": """
        import {mod}
        loop = {new}()
        loop.call_later(10, print)
        """,
    "pending-task-and-executor": """
        import asyncio, {mod}
        loop = {new}()
        asyncio.set_event_loop(loop)
        async def forever():
            await asyncio.sleep(100)
        task = loop.create_task(forever())
        loop.run_until_complete(loop.run_in_executor(None, sum, [1, 2]))
        """,
    "in-a-cycle-with-a-reader": """
        import socket, {mod}
        def make():
            loop = {new}()
            a, b = socket.socketpair()
            loop.add_reader(a, print)
            loop.cycle = (loop, a, b)
        make()
        """,
    "held-by-builtins": """
        import builtins, {mod}
        builtins.kept_loop = {new}()   # finalized late, after most modules are cleared
        builtins.kept_loop.call_later(10, print)
        """,
    "install-get_event_loop": """
        import asyncio, warnings
        warnings.simplefilter("ignore", DeprecationWarning)
        {install}
        loop = asyncio.get_event_loop()
        async def forever():
            await asyncio.sleep(100)
        task = loop.create_task(forever())
        loop.run_until_complete(asyncio.sleep(0.001))
        """,
}


def _variant(code: str, stock: bool) -> str:
    if stock:
        return code.format(mod="asyncio", new="asyncio.new_event_loop", install="")
    return code.format(mod="nexusloop", new="nexusloop.new_event_loop",
                       install="import nexusloop; nexusloop.install()")


def _complaints(stderr: str) -> list[str]:
    """Lines of stderr that are not part of a ResourceWarning report."""
    lines = stderr.splitlines()
    out = []
    skip_next = False
    for line in lines:
        if skip_next:  # the source line Python prints under a warning
            skip_next = False
            continue
        if "ResourceWarning" in line:
            skip_next = not line.startswith("ResourceWarning: Enable tracemalloc")
            continue
        out.append(line)
    return out


@pytest.mark.parametrize("pure", MODES)
@pytest.mark.parametrize("case", sorted(UNCLOSED))
@pytest.mark.parametrize("flags", [(), ("-W", "default")], ids=["plain", "W-default"])
def test_unclosed_loop_at_exit_prints_at_most_a_resource_warning(
    case: str, pure: bool, flags: tuple[str, ...]
) -> None:
    proc = _python(_variant(UNCLOSED[case], stock=False), pure=pure, args=flags)
    assert proc.returncode == 0, proc.stderr
    assert "Exception ignored" not in proc.stderr, proc.stderr
    assert "Traceback" not in proc.stderr, proc.stderr
    assert _complaints(proc.stderr) == [], proc.stderr
    if not flags:  # ResourceWarning is hidden by default, as on stock asyncio
        assert proc.stderr == ""
    stock = _python(_variant(UNCLOSED[case], stock=True), pure=pure, args=flags)
    assert "Exception ignored" not in stock.stderr  # the reference: same program on asyncio
    assert _complaints(stock.stderr) == []


# -- nexusloop.run() -------------------------------------------------------------------------


async def _answer() -> int:
    return 42


def test_run_inside_a_running_loop_is_one_clear_error_and_closes_the_coroutine() -> None:
    async def main() -> None:
        coro = _answer()
        with pytest.raises(RuntimeError) as info:
            nexusloop.run(coro)
        assert str(info.value) == "nexusloop.run() cannot be called from a running event loop"
        assert info.value.__context__ is None and info.value.__cause__ is None
        assert inspect.getcoroutinestate(coro) == inspect.CORO_CLOSED

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        nexusloop.run(main())
        gc.collect()
    assert not [w for w in caught if "never awaited" in str(w.message)]


@pytest.mark.parametrize("pure", MODES)
def test_run_inside_a_running_loop_prints_one_traceback(pure: bool) -> None:
    proc = _python(
        """
        import nexusloop
        async def inner(): pass
        async def main():
            nexusloop.run(inner())
        nexusloop.run(main())
        """,
        pure=pure, args=("-W", "default"),
    )
    assert proc.returncode == 1
    assert proc.stderr.count("Traceback") == 1, proc.stderr
    assert "During handling" not in proc.stderr
    assert proc.stderr.rstrip().endswith(
        "RuntimeError: nexusloop.run() cannot be called from a running event loop")
    assert "never awaited" not in proc.stderr


@pytest.mark.parametrize("factory", ["nexusloop", "asyncio"])
def test_run_accepts_loop_factory_like_uvloop(factory: str) -> None:
    make = nexusloop.new_event_loop if factory == "nexusloop" else asyncio.new_event_loop

    async def main() -> type:
        return type(asyncio.get_running_loop())

    assert nexusloop.run(main(), loop_factory=make) is type(make_and_close(make))


def make_and_close(factory: object) -> asyncio.AbstractEventLoop:
    loop = factory()  # type: ignore[operator]
    loop.close()
    return loop  # type: ignore[no-any-return]


def test_run_rejects_loop_factory_with_options() -> None:
    coro = _answer()
    with pytest.raises(TypeError, match="loop options .*busy_poll.* or loop_factory, not both"):
        nexusloop.run(coro, loop_factory=nexusloop.new_event_loop, busy_poll=True)
    assert inspect.getcoroutinestate(coro) == inspect.CORO_CLOSED


# -- help(nexusloop.Loop) ----------------------------------------------------------------------


def _function_node(obj: object) -> ast.FunctionDef | None:
    """The source definition of a method, found by module and qualname (works for compiled
    modules too: their ``.py`` source sits beside the extension)."""
    func = inspect.unwrap(getattr(obj, "__func__", obj))  # type: ignore[arg-type]
    module, qualname = getattr(func, "__module__", None), getattr(func, "__qualname__", None)
    if not module or not qualname:
        return None
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.origin:
        return None
    source = Path(spec.origin).with_name(module.rpartition(".")[2] + ".py")
    if not source.exists():
        return None
    tree = ast.parse(source.read_text())
    parts = qualname.split(".")
    scope: list[ast.stmt] = tree.body
    node: ast.AST | None = None
    for part in parts:
        node = next((n for n in scope if isinstance(n, (ast.ClassDef, ast.FunctionDef,
                                                         ast.AsyncFunctionDef))
                     and n.name == part), None)
        if node is None:
            return None
        scope = node.body  # type: ignore[attr-defined]
    return node if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) else None  # type: ignore[return-value]


def test_help_lists_no_method_that_only_raises_not_implemented() -> None:
    text = pydoc.render_doc(nexusloop.Loop, renderer=pydoc.plaintext)
    offenders = []
    checked = 0
    for name in dir(nexusloop.Loop):
        if name.startswith("_") or f"{name}(" not in text:
            continue
        node = _function_node(inspect.getattr_static(nexusloop.Loop, name))
        if node is None:
            continue
        checked += 1
        raises = any(isinstance(n, ast.Raise) and "NotImplementedError" in ast.unparse(n)
                     for n in ast.walk(node))
        doc = ast.get_docstring(node) or ""
        if raises and "not supported" not in doc.lower() and "NotImplementedError" not in doc:
            offenders.append(name)
    assert checked > 50  # the scan found the methods (it is not vacuous)
    assert offenders == []


def test_loop_docstring_shows_the_runner_for_python_3_11() -> None:
    doc = nexusloop.Loop.__doc__ or ""
    assert "asyncio.Runner(loop_factory=nexusloop.new_event_loop)" in doc
    line = next(ln for ln in doc.splitlines() if "asyncio.run(" in ln)
    assert "3.12" in line  # asyncio.run(loop_factory=) is marked as needing 3.12


# -- documentation claims ---------------------------------------------------------------------


def test_readme_compatibility_claim_points_at_the_differences() -> None:
    readme = (ROOT / "README.md").read_text()
    assert "Any code written for asyncio runs on it unchanged" not in " ".join(readme.split())
    first_claim = readme.index("runs on it unchanged")
    paragraph = readme[first_claim:readme.index("\n\n", first_claim)]
    assert "docs/compatibility.md" in paragraph


def test_importing_channels_or_world_does_not_import_the_loop() -> None:
    # What the package docstring promises.
    for module in ("nexusloop.channels", "nexusloop.world"):
        proc = _python(f"import sys, {module}; print('nexusloop.loop' in sys.modules)",
                       pure=_core.PURE_REQUESTED)
        assert proc.stdout.strip() == "False", (module, proc.stderr)
    assert "nexusloop.channels" in (nexusloop.__doc__ or "")


def test_benchmark_help_documents_every_column() -> None:
    proc = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "run.py"), "--help"],
                          capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 0, proc.stderr
    help_text = " ".join(proc.stdout.split())
    for column in ("asyncio", "uvloop", "nexusloop-pure", "nexusloop-lowlat", "rloop"):
        assert column in help_text, column
    assert "timers_first" in help_text and "tasks_per_cycle=32" in help_text
