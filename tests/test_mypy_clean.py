"""The package type-checks: ``mypy nexusloop`` reports no errors (the public API is typed)."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def test_package_is_mypy_clean(tmp_path: Path) -> None:
    pytest.importorskip("mypy", reason="mypy is a dev dependency (pip install -e '.[dev]')")
    proc = subprocess.run(
        [sys.executable, "-m", "mypy", "--cache-dir", str(tmp_path / "cache"), "nexusloop"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "MYPY_FORCE_COLOR": "0"},
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
