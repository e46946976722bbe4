"""Smoke test of the benchmark runner: it runs, its output parses, rates are positive.

No speed assertions: this only guards the runner (benchmarks/run.py) against bit rot.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
RUNNER = ROOT / "benchmarks" / "run.py"
WORKLOADS = ["call_soon_chain", "sleep0"]
LOOPS = ["asyncio", "nexusloop"]


def _run(*args: str, timeout: float = 240) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(RUNNER), *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=timeout, check=False)


def test_child_prints_one_json_line() -> None:
    proc = _run("--child", "--loop", "asyncio", "--workload", "call_soon_chain", "--quick")
    assert proc.returncode == 0, proc.stderr
    lines = [ln for ln in proc.stdout.splitlines() if ln.strip()]
    assert len(lines) == 1, proc.stdout
    res = json.loads(lines[0])
    assert res["status"] == "ok"
    assert res["ops"] > 0 and res["seconds"] > 0 and res["rate"] > 0


def test_quick_run_parses_with_positive_rates(tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    proc = _run("--quick", "--repeat", "1", "--workloads", ",".join(WORKLOADS),
                "--loops", ",".join(LOOPS), "--json", str(out), "--markdown")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    data = json.loads(out.read_text())
    assert data["workloads"] == WORKLOADS
    assert data["loops"] == LOOPS, data.get("unavailable")
    for w in WORKLOADS:
        for lp in LOOPS:
            cell = data["results"][w][lp]
            assert cell["status"] == "ok", (w, lp, cell)
            assert cell["rate"] > 0
            assert cell["n"] == 1
    assert data["results"][WORKLOADS[0]]["asyncio"]["ratio"] == pytest.approx(1.0)
    assert data["loop_info"]["nexusloop"]["loop_class"].startswith("nexusloop")
    # the printed tables name every workload and loop, the markdown has its header block
    for name in WORKLOADS + LOOPS:
        assert name in proc.stdout
    assert "- Command: `python benchmarks/run.py --quick" in proc.stdout
    assert "| `call_soon_chain` |" in proc.stdout


def test_unknown_workload_is_rejected() -> None:
    proc = _run("--workloads", "no_such_workload", timeout=60)
    assert proc.returncode != 0
    assert "unknown workload" in proc.stderr


def test_pure_child_reports_pure_python() -> None:
    # The runner labels columns from this report; the pure column must really be pure.
    env = dict(os.environ, NEXUSLOOP_NO_EXTENSIONS="1")
    proc = subprocess.run([sys.executable, str(RUNNER), "--child", "--loop", "nexusloop-pure",
                           "--probe"], cwd=ROOT, capture_output=True, text=True, timeout=60,
                          check=False, env=env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    res = json.loads(proc.stdout.strip().splitlines()[-1])
    assert res["status"] == "ok", res
    assert res["info"]["core_modules"], res["info"]
    assert not res["info"]["any_compiled"], res["info"]["core_modules"]
