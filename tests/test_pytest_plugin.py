"""The pytest plugin (``nexusloop.pytest_plugin``), run as a user runs it: pytest in a subprocess
on a small test project (pytester), with the plugin loaded from its ``pytest11`` entry point."""
from __future__ import annotations

import importlib.metadata
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest_plugins = ["pytester"]

pytest.importorskip("pytest_asyncio", reason="the plugin drives pytest-asyncio (a dev extra)")

LOOP_TYPE_TEST = """
import asyncio
import pytest

@pytest.mark.asyncio
async def test_loop():
    loop = asyncio.get_running_loop()
    print("LOOP=" + type(loop).__module__ + "." + type(loop).__qualname__)
"""

INI = """
[pytest]
asyncio_default_fixture_loop_scope = function
{extra}
"""


def _loops(result: pytest.RunResult) -> list[str]:
    return [line.split("LOOP=")[1] for line in result.outlines if "LOOP=" in line]


@pytest.fixture(autouse=True)
def _entry_point_installed() -> None:
    names = [e.value for e in importlib.metadata.entry_points(group="pytest11")]
    assert "nexusloop.pytest_plugin" in names, "install the package (pip install -e .)"


def test_off_by_default(pytester: pytest.Pytester) -> None:
    pytester.makeini(INI.format(extra=""))
    pytester.makepyfile(LOOP_TYPE_TEST)
    result = pytester.runpytest_subprocess("-s")
    result.assert_outcomes(passed=1)
    assert _loops(result) == ["asyncio.unix_events._UnixSelectorEventLoop"]


@pytest.mark.parametrize("how", ["flag", "ini"])
def test_on_runs_the_tests_on_nexusloop(pytester: pytest.Pytester, how: str) -> None:
    pytester.makeini(INI.format(extra="nexusloop_mode = nexusloop" if how == "ini" else ""))
    pytester.makepyfile(LOOP_TYPE_TEST)
    result = pytester.runpytest_subprocess("-s", *(["--nexusloop"] if how == "flag" else []))
    result.assert_outcomes(passed=1)
    assert _loops(result) == ["nexusloop.loop.Loop"]


def test_both_runs_every_test_on_each_loop_with_the_hook_ids(pytester: pytest.Pytester) -> None:
    pytester.makeini(INI.format(extra=""))
    pytester.makepyfile(LOOP_TYPE_TEST)
    result = pytester.runpytest_subprocess("-s", "-v", "--nexusloop-mode=both")
    result.assert_outcomes(passed=2)
    out = result.stdout.str()
    assert "::test_loop[asyncio]" in out and "::test_loop[nexusloop]" in out
    assert sorted(_loops(result)) == [
        "asyncio.unix_events._UnixSelectorEventLoop", "nexusloop.loop.Loop",
    ]


def test_loop_options_from_the_ini_and_the_marker(pytester: pytest.Pytester) -> None:
    pytester.makeini(INI.format(extra="nexusloop_mode = nexusloop\n"
                                      "nexusloop_options = timers_first=true tasks_per_cycle=64"
                                      + (" timer_slack_ns=2000" if sys.platform.startswith("linux")
                                         else "")))
    pytester.makepyfile("""
        import asyncio
        import sys
        import pytest

        @pytest.mark.asyncio
        async def test_ini():
            opts = asyncio.get_running_loop().options
            assert opts.timers_first and opts.tasks_per_cycle == 64
            assert opts.timer_slack_ns == (2000 if sys.platform.startswith("linux") else None)

        @pytest.mark.asyncio
        @pytest.mark.nexusloop(tasks_per_cycle=8, busy_poll=True)
        async def test_marker_overrides():
            opts = asyncio.get_running_loop().options
            assert opts.timers_first and opts.tasks_per_cycle == 8 and opts.busy_poll
    """)
    result = pytester.runpytest_subprocess()
    result.assert_outcomes(passed=2)


@pytest.mark.parametrize(("ini", "message"), [
    ("nexusloop_options = timers_first=maybe", "wants true/false"),
    ("nexusloop_options = no_such_option=1", "is not name=value"),
    ("nexusloop_options = tasks_per_cycle=-3", "tasks_per_cycle"),
    ("nexusloop_mode = sometimes", "nexusloop_mode must be one of"),
])
def test_bad_ini_values_are_usage_errors(pytester: pytest.Pytester, ini: str,
                                         message: str) -> None:
    pytester.makeini(INI.format(extra=ini if "mode" in ini else "nexusloop_mode = nexusloop\n"
                                + ini))
    pytester.makepyfile(LOOP_TYPE_TEST)
    result = pytester.runpytest_subprocess()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert message in result.stderr.str()


VIRTUAL_TESTS = """
import asyncio
import time
import pytest

@pytest.mark.asyncio
async def test_fixture(virtual_clock):
    loop = asyncio.get_running_loop()
    t0, real0 = virtual_clock.time(), time.monotonic()
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(30):
            await asyncio.Event().wait()
    await asyncio.wait_for(asyncio.sleep(3600), timeout=7200)
    assert virtual_clock.time() - t0 >= 3630
    assert time.monotonic() - real0 < 60
    virtual_clock.advance(5)
    assert loop.time() - t0 >= 3635

@pytest.mark.asyncio
@pytest.mark.nexusloop(virtual_time=True, autojump_threshold=0.001)
async def test_marker():
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    await asyncio.sleep(86400)
    assert loop.time() - t0 >= 86400
    print("LOOP=" + type(loop).__module__ + "." + type(loop).__qualname__)

@pytest.mark.asyncio
async def test_real_time():
    loop = asyncio.get_running_loop()
    t0, real0 = loop.time(), time.monotonic()
    await asyncio.sleep(0.05)
    assert time.monotonic() - real0 >= 0.05
"""


def test_virtual_time_fixture_and_marker(pytester: pytest.Pytester) -> None:
    pytester.makeini(INI.format(extra="nexusloop_mode = both"))
    pytester.makepyfile(VIRTUAL_TESTS)
    result = pytester.runpytest_subprocess("-s", "-v")
    # Virtual-time tests run on nexusloop only; the plain one on both loops.
    result.assert_outcomes(passed=4)
    assert _loops(result) == ["nexusloop.loop.Loop"]


def test_virtual_clock_without_the_plugin_is_a_clear_error(pytester: pytest.Pytester) -> None:
    pytester.makeini(INI.format(extra=""))
    pytester.makepyfile(VIRTUAL_TESTS)
    result = pytester.runpytest_subprocess("-k", "fixture")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*virtual_clock fixture needs the nexusloop pytest plugin on*"])


def test_a_deadlocked_test_fails_instead_of_hanging(pytester: pytest.Pytester) -> None:
    pytester.makeini(INI.format(extra="nexusloop_mode = nexusloop"))
    pytester.makepyfile("""
        import asyncio
        import pytest

        @pytest.mark.asyncio
        async def test_waits_forever(virtual_clock):
            await asyncio.Event().wait()
    """)
    result = pytester.runpytest_subprocess()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*would wait forever*"])


def test_anyio_backend_with_the_nexusloop_factory(pytester: pytest.Pytester) -> None:
    pytest.importorskip("anyio")
    pytester.makeini(INI.format(extra=""))
    pytester.makepyfile("""
        import asyncio
        import anyio
        import pytest
        import nexusloop

        @pytest.fixture
        def anyio_backend():
            return ("asyncio", {"loop_factory": nexusloop.new_event_loop})

        @pytest.mark.anyio
        async def test_on_nexusloop():
            await anyio.sleep(0.01)
            loop = asyncio.get_running_loop()
            print("LOOP=" + type(loop).__module__ + "." + type(loop).__qualname__)
    """)
    result = pytester.runpytest_subprocess("-s")
    result.assert_outcomes(passed=1)
    assert _loops(result) == ["nexusloop.loop.Loop"]


OLD_PYTEST_ASYNCIO = "1.3.0"


def test_older_pytest_asyncio_through_the_event_loop_policy(
        pytester: pytest.Pytester, tmp_path_factory: pytest.TempPathFactory,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """pytest-asyncio < 1.4 has no loop-factories hook: the plugin sets the policy instead."""
    target = tmp_path_factory.mktemp("old-pytest-asyncio")
    install = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target", str(target),
         f"pytest-asyncio=={OLD_PYTEST_ASYNCIO}"],
        capture_output=True, text=True, timeout=180,
    )
    if install.returncode != 0:
        pytest.skip(f"cannot install pytest-asyncio {OLD_PYTEST_ASYNCIO} (no package index "
                    f"reachable?): {install.stderr.strip()[-300:]}")
    pytester.makeini(INI.format(extra="nexusloop_mode = nexusloop"))
    pytester.makepyfile(LOOP_TYPE_TEST)
    env_path = os.pathsep.join([str(target), os.environ.get("PYTHONPATH", "")])
    monkeypatch.setenv("PYTHONPATH", env_path)
    result = pytester.runpytest_subprocess("-s", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)
    assert _loops(result) == ["nexusloop.loop.Loop"]
    result = pytester.runpytest_subprocess("--nexusloop-mode=both")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert "needs pytest-asyncio >= 1.4" in result.stderr.str()
    assert Path(target, "pytest_asyncio").is_dir()
