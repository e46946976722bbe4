"""``nexusloop.is_compiled()`` and the fallback when built extensions cannot be loaded (issue #12).

Each case runs in a fresh interpreter with an explicit environment: what is decided is decided
once, at import. The broken-extension case copies the package to a temporary directory and
replaces one core extension with a file that is not a shared library, as a truncated copy or a
build for another platform would be: the real loader fails on it.
"""
from __future__ import annotations

import importlib.machinery
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import nexusloop._core as _core

ROOT = Path(__file__).resolve().parent.parent
BUILT = all(_core.extension_path("nexusloop._core", name) for name in _core.CORE_MODULES)

PROBE = textwrap.dedent(
    """
    import asyncio, sys
    import nexusloop
    import nexusloop.channels  # imports compiled modules of another package too
    from nexusloop._compiled import core_status

    async def main():
        await asyncio.sleep(0.001)
        return type(asyncio.get_running_loop()).__module__

    assert nexusloop.run(main()) == "nexusloop.loop"
    status = core_status()
    files = [m.__file__ for name, m in sorted(sys.modules.items())
             if name.startswith(("nexusloop._core.", "nexusloop.net._", "nexusloop.channels._"))
             and getattr(m, "__file__", None)]
    print("COMPILED", nexusloop.is_compiled())
    print("REASON", status.reason)
    print("ALL_SOURCE", all(f.endswith(".py") for f in files))
    """
)


def _env(pure: bool, pythonpath: Path = ROOT) -> dict[str, str]:
    env = dict(os.environ, PYTHONPATH=str(pythonpath))
    env.pop("NEXUSLOOP_NO_EXTENSIONS", None)
    env.pop("PYTHONWARNINGS", None)
    if pure:
        env["NEXUSLOOP_NO_EXTENSIONS"] = "1"
    return env


def _probe(env: dict[str, str], cwd: Path) -> tuple[dict[str, str], str]:
    proc = subprocess.run([sys.executable, "-c", PROBE], env=env, cwd=cwd, capture_output=True,
                          text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr
    out = dict(line.split(" ", 1) for line in proc.stdout.splitlines() if " " in line)
    return out, proc.stderr


def test_is_compiled_is_public_and_typed() -> None:
    import nexusloop

    assert "is_compiled" in nexusloop.__all__
    assert nexusloop.is_compiled.__annotations__["return"] in (bool, "bool")
    assert "Example" in (nexusloop.is_compiled.__doc__ or "")
    assert nexusloop.is_compiled() == (BUILT and not _core.PURE_REQUESTED)


def test_pure_mode_requested(tmp_path: Path) -> None:
    out, err = _probe(_env(pure=True), tmp_path)
    assert out["COMPILED"] == "False"
    assert "NEXUSLOOP_NO_EXTENSIONS" in out["REASON"]
    assert out["ALL_SOURCE"] == "True"
    assert "Warning" not in err, err


@pytest.mark.skipif(not BUILT, reason="extensions not built")
def test_compiled_mode(tmp_path: Path) -> None:
    out, err = _probe(_env(pure=False), tmp_path)
    assert out["COMPILED"] == "True"
    assert out["REASON"] == "None"
    assert err == ""


def _copy_package(dest: Path) -> Path:
    shutil.copytree(ROOT / "nexusloop", dest / "nexusloop",
                    ignore=shutil.ignore_patterns("*.c", "*.html", "__pycache__"))
    return dest / "nexusloop" / "_core"


@pytest.mark.parametrize("broken", ["_loopcore", "_handles"])
def test_broken_extension_warns_once_and_runs_pure(tmp_path: Path, broken: str) -> None:
    core = _copy_package(tmp_path)
    suffix = importlib.machinery.EXTENSION_SUFFIXES[0]
    for name in _core.CORE_MODULES:
        path = core / f"{name}{suffix}"
        if name == broken or not path.exists():
            # Not a shared library: the real loader refuses it. Unbroken modules keep their
            # real build when there is one (then the probe loads them before failing).
            path.write_bytes(b"this is not an ELF file\n" * 4)
    out, err = _probe(_env(pure=False, pythonpath=tmp_path), tmp_path)
    assert out["COMPILED"] == "False"
    assert out["ALL_SOURCE"] == "True"  # the whole package fell back, not only the broken module
    assert f"nexusloop._core.{broken} failed to load" in out["REASON"]
    assert "cannot be used" in out["REASON"]
    assert err.count("RuntimeWarning") == 1, err
    assert f"nexusloop._core.{broken} failed to load: ImportError" in err
    assert "NEXUSLOOP_NO_EXTENSIONS=1" in err  # says how to silence it

    # Asking for pure mode: nothing probed, nothing to warn about.
    out, err = _probe(_env(pure=True, pythonpath=tmp_path), tmp_path)
    assert out["COMPILED"] == "False"
    assert "Warning" not in err, err


def test_unbuilt_package_is_pure_without_warning(tmp_path: Path) -> None:
    core = _copy_package(tmp_path)
    for ext in list(core.parent.rglob("*.so")) + list(core.parent.rglob("*.pyd")):
        ext.unlink()
    out, err = _probe(_env(pure=False, pythonpath=tmp_path), tmp_path)
    assert out["COMPILED"] == "False"
    assert "not built" in out["REASON"]
    assert "Warning" not in err, err
