"""``python -m nexusloop`` run / bench / info, exercised as a user runs them: real subprocesses.

Every ``run`` case is compared with the same program run by plain ``python``: same argv, same
``__name__``, same exit status; only the loop differs.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import nexusloop._core as _core

ROOT = Path(__file__).resolve().parent.parent
PURE = _core.PURE_REQUESTED

PROGRAM = textwrap.dedent(
    """
    import asyncio, sys

    async def main():
        return type(asyncio.get_running_loop()).__name__

    with asyncio.Runner() as runner:
        via_runner = runner.run(main())
    loop = asyncio.new_event_loop()
    via_new = type(loop).__name__
    loop.close()
    print(asyncio.run(main()), via_runner, via_new, __name__, sys.argv, sys.path[0])
    if len(sys.argv) > 1 and sys.argv[1] == "exit":
        sys.exit(int(sys.argv[2]))
    if len(sys.argv) > 1 and sys.argv[1] == "raise":
        raise ValueError("boom from the program")
    if len(sys.argv) > 1 and sys.argv[1] == "options":
        async def opts():
            o = asyncio.get_running_loop().options
            return o.tasks_per_cycle, o.timers_first
        print(asyncio.run(opts()))
    """
)


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    return env


def _run(*args: str, cwd: Path, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, *args], cwd=cwd, env=_env(), capture_output=True,
                          text=True, timeout=timeout, check=False)


@pytest.fixture
def program(tmp_path: Path) -> Path:
    path = tmp_path / "app.py"
    path.write_text(PROGRAM)
    return path


def test_run_script_gets_nexusloop_everywhere(program: Path) -> None:
    proc = _run("-m", "nexusloop", "run", "app.py", "a", "--flag", cwd=program.parent)
    assert proc.returncode == 0, proc.stderr
    plain = _run("app.py", "a", "--flag", cwd=program.parent)
    assert plain.stdout.startswith("_UnixSelectorEventLoop _UnixSelectorEventLoop")
    # Same argv, __name__ and sys.path[0] as under plain python; every loop a nexusloop Loop.
    assert proc.stdout == plain.stdout.replace("_UnixSelectorEventLoop", "Loop")
    assert proc.stderr == ""


def test_run_module(tmp_path: Path) -> None:
    pkg = tmp_path / "mypkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "server.py").write_text(PROGRAM)
    proc = _run("-m", "nexusloop", "run", "-m", "mypkg.server", "x", "-v", cwd=tmp_path)
    plain = _run("-m", "mypkg.server", "x", "-v", cwd=tmp_path)
    assert proc.returncode == 0 == plain.returncode, proc.stderr + plain.stderr
    assert proc.stdout.startswith("Loop Loop Loop __main__")
    assert proc.stdout == plain.stdout.replace("_UnixSelectorEventLoop", "Loop")


@pytest.mark.parametrize("code", [0, 3, 255])
def test_run_exit_code_is_the_programs(program: Path, code: int) -> None:
    proc = _run("-m", "nexusloop", "run", "app.py", "exit", str(code), cwd=program.parent)
    assert proc.returncode == code, proc.stderr


def test_run_uncaught_exception_is_status_1_with_the_programs_traceback(program: Path) -> None:
    proc = _run("-m", "nexusloop", "run", "app.py", "raise", cwd=program.parent)
    plain = _run("app.py", "raise", cwd=program.parent)
    assert proc.returncode == 1 == plain.returncode
    assert proc.stderr == plain.stderr  # no frames of the CLI or runpy
    assert proc.stderr.rstrip().endswith("ValueError: boom from the program")


def test_run_keyboard_interrupt_as_python(tmp_path: Path) -> None:
    (tmp_path / "sleepy.py").write_text(textwrap.dedent(
        """
        import asyncio, os, signal
        async def main():
            asyncio.get_running_loop().call_later(0.05, os.kill, os.getpid(), signal.SIGINT)
            await asyncio.sleep(30)
        asyncio.run(main())
        """))
    proc = _run("-m", "nexusloop", "run", "sleepy.py", cwd=tmp_path)
    plain = _run("sleepy.py", cwd=tmp_path)
    assert plain.returncode == -signal.SIGINT
    assert proc.returncode == plain.returncode, proc.stderr
    assert proc.stderr.rstrip().endswith("KeyboardInterrupt")


def test_run_option_flags(program: Path) -> None:
    proc = _run("-m", "nexusloop", "run", "--tasks-per-cycle", "64", "--timers-first", "app.py",
                "options", cwd=program.parent)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines()[-1] == "(64, True)"


@pytest.mark.parametrize(("flags", "message"), [
    (["--tasks-per-cycle", "-1"], "tasks_per_cycle must be >= 0"),
    (["--event-interval", "0"], "event_interval must be >= 1"),
    (["--tasks-per-cycle", "many"], "invalid int value"),
])
def test_run_bad_option_is_loop_options_error(program: Path, flags: list[str],
                                              message: str) -> None:
    proc = _run("-m", "nexusloop", "run", *flags, "app.py", cwd=program.parent)
    assert proc.returncode == 2
    assert message in proc.stderr
    assert proc.stdout == ""  # the program did not run


def test_run_flags_are_the_loop_options(tmp_path: Path) -> None:
    proc = _run("-m", "nexusloop", "run", "--help", cwd=tmp_path)
    assert proc.returncode == 0
    for flag in ("--tasks-per-cycle", "--event-interval", "--busy-poll", "--timers-first",
                 "--timer-slack-ns"):
        assert flag in proc.stdout
    assert "--world" not in proc.stdout


def test_run_missing_script(tmp_path: Path) -> None:
    proc = _run("-m", "nexusloop", "run", "nope.py", cwd=tmp_path)
    assert proc.returncode == 2 and "nope.py" in proc.stderr


STATS_PROGRAM = textwrap.dedent(
    """
    import asyncio

    async def main():
        for _ in range(20):
            await asyncio.sleep(0.001)

    asyncio.run(main())
    asyncio.run(main())  # a second loop
    print("ran")
    """
)


def test_run_stats_reports_every_loop(tmp_path: Path) -> None:
    (tmp_path / "timers.py").write_text(STATS_PROGRAM)
    proc = _run("-m", "nexusloop", "run", "--stats", "--gc-control", "timers.py", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "ran\n"  # the report goes to stderr only
    assert "statistics of loop 1 of 2" in proc.stderr and "statistics of loop 2 of 2" in proc.stderr
    assert proc.stderr.count("timers fired 20 /") == 2  # each loop fired its own 20 timers
    assert proc.stderr.count("timer_lateness  n=20 ") == 2
    assert "gc control      young" in proc.stderr  # --gc-control's collections
    plain = _run("-m", "nexusloop", "run", "timers.py", cwd=tmp_path)
    assert plain.stderr == ""  # no flag, no report


def test_run_stats_png(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    (tmp_path / "timers.py").write_text(STATS_PROGRAM)
    proc = _run("-m", "nexusloop", "run", "--stats-png", "loop.png", "timers.py", cwd=tmp_path,
                timeout=240)
    assert proc.returncode == 0, proc.stderr
    for name in ("loop.png", "loop-2.png"):
        assert (tmp_path / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_run_stats_png_without_matplotlib_fails_early(tmp_path: Path) -> None:
    (tmp_path / "timers.py").write_text(STATS_PROGRAM)
    code = ("import sys; sys.modules['matplotlib'] = None; from nexusloop._cli import main; "
            "sys.exit(main(['run', '--stats-png', 'x.png', 'timers.py']))")
    proc = _run("-c", code, cwd=tmp_path, timeout=60)
    assert proc.returncode == 2
    assert "--stats-png needs matplotlib" in proc.stderr
    assert "ran" not in proc.stdout  # the program did not run


def test_info_reports_the_compiled_core_and_extras(tmp_path: Path) -> None:
    proc = _run("-m", "nexusloop", "info", "--json", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    import nexusloop

    assert data["nexusloop"] == nexusloop.__version__
    assert data["compiled"] is nexusloop.is_compiled()
    if PURE:
        assert "NEXUSLOOP_NO_EXTENSIONS" in data["compiled_reason"]
    assert data["options"]["event_interval"] == 61
    assert set(data["extras"]) >= {"uvloop", "rloop", "matplotlib", "pytest-asyncio", "anyio"}
    text = _run("-m", "nexusloop", "info", cwd=tmp_path).stdout
    assert ("Compiled  yes" in text) is nexusloop.is_compiled()
    assert "tasks_per_cycle" in text and "uvloop" in text


def test_bench_quick_one_workload(tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    proc = _run("-m", "nexusloop", "bench", "--quick", "--workloads", "call_soon_chain",
                "--loops", "asyncio,nexusloop", "--progress", "bar", "--json", str(out),
                cwd=tmp_path, timeout=240)
    assert proc.returncode == 0, proc.stderr
    data = json.loads(out.read_text())
    assert data["command"].startswith("python -m nexusloop bench --quick")
    assert data["repeat"] == 1  # --quick means one repetition here
    for loop in ("asyncio", "nexusloop"):
        assert data["results"]["call_soon_chain"][loop]["rate"] > 0
    assert "Throughput" in proc.stdout and "call_soon_chain" in proc.stdout
    assert "[####" in proc.stderr and "4/4 100%" in proc.stderr  # the progress bar was drawn


def test_bench_quick_selection_and_default_loops(tmp_path: Path) -> None:
    from nexusloop._bench import _runner, _workloads

    assert set(_runner.QUICK_WORKLOADS) <= set(_workloads.WORKLOADS)
    proc = _run("-m", "nexusloop", "bench", "--help", cwd=tmp_path)
    assert proc.returncode == 0
    assert "under 30 s" in proc.stdout and "--plot" in proc.stdout


def test_bench_plot_without_matplotlib_fails_early(tmp_path: Path) -> None:
    # Hide matplotlib even where it is installed: a None entry makes its import fail.
    code = ("import sys; sys.modules['matplotlib'] = None; from nexusloop._cli import main; "
            "sys.exit(main(['bench', '--quick', '--plot', 'out.png']))")
    proc = _run("-c", code, cwd=tmp_path, timeout=60)
    assert proc.returncode == 2
    assert "--plot needs matplotlib" in proc.stderr and "nexusloop[plot]" in proc.stderr
    assert "Throughput" not in proc.stdout  # nothing was measured


def test_bench_plot(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    proc = _run("-m", "nexusloop", "bench", "--quick", "--workloads", "sleep0", "--loops",
                "asyncio,nexusloop", "--plot", "ratios.png", cwd=tmp_path, timeout=240)
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "ratios.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
