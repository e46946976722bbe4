"""Smoke test of the benchmark runner: it runs, its output parses, rates are positive.

No speed assertions: this only guards the runner (benchmarks/run.py) against bit rot.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
RUNNER = ROOT / "benchmarks" / "run.py"
sys.path.insert(0, str(ROOT / "benchmarks"))
import _workloads as W  # noqa: E402
import syscalls as S  # noqa: E402

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


# --- the net suite: every network workload once, briefly, on stock asyncio only (so this does not
# depend on nexusloop's transports), and the guards that keep a broken loop from hanging a run.


def test_net_suite_runs_on_asyncio(tmp_path: Path) -> None:
    out = tmp_path / "net.json"
    proc = _run("--suite", "net", "--quick", "--repeat", "1", "--loops", "asyncio",
                "--json", str(out))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    data = json.loads(out.read_text())
    assert data["workloads"] == W.NET_WORKLOADS
    assert set(W.NET_WORKLOADS) == set(W.SUITES["net"])
    for w in W.NET_WORKLOADS:
        cell = data["results"][w]["asyncio"]
        assert cell["status"] == "ok", (w, cell)
        assert cell["rate"] > 0
        assert not cell.get("sockets_left_open"), (w, cell)  # asyncio closes every socket
    run = {r["workload"]: r for r in data["runs"]}
    assert run["tcp_bulk_1mib"]["unit"] == "MiB echoed"
    assert run["tcp_short_connections"]["unit"] == "connections"
    assert "error" not in proc.stdout


def test_suites_partition_the_workloads() -> None:
    assert sorted(W.SUITES["core"] + W.SUITES["net"]) == sorted(W.WORKLOADS)
    proc = _run("--list", timeout=60)
    assert proc.returncode == 0
    assert "workloads (net): tcp_echo_streams" in proc.stdout


def test_stalled_net_workload_fails_instead_of_hanging(monkeypatch: pytest.MonkeyPatch) -> None:
    import asyncio

    monkeypatch.setattr(W, "NET_STALL", 0.6)
    loop = asyncio.new_event_loop()
    try:
        async def stuck() -> None:
            await loop.create_future()  # a transport that never delivers

        with pytest.raises(TimeoutError, match="no progress"):
            loop.run_until_complete(W._guarded(loop, stuck(), lambda: 0))
    finally:
        loop.close()


def test_strace_summary_parses() -> None:
    text = """\
% time     seconds  usecs/call     calls    errors syscall
------ ----------- ----------- --------- --------- ----------------
 79.70    0.057771         722        80        40 recvfrom
  3.46    0.002507          10       237           sendto
------ ----------- ----------- --------- --------- ----------------
100.00    0.060278                   317        40 total
"""
    assert S.parse_strace_summary(text) == {"recvfrom": (80, 40), "sendto": (237, 0)}


@pytest.mark.skipif(shutil.which("strace") is None, reason="strace not installed")
def test_syscalls_per_round_trip_on_asyncio(tmp_path: Path) -> None:
    out = tmp_path / "sys.json"
    proc = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "syscalls.py"), "--loops",
                           "asyncio", "--rounds", "200", "--json", str(out)], cwd=ROOT,
                          capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    res = json.loads(out.read_text())["results"]["tcp_echo_protocol"]["asyncio"]
    if res["status"] != "ok" and "ptrace" in res.get("error", ""):
        pytest.skip(res["error"])
    assert res["status"] == "ok", res
    # one client, one 1 KiB message in flight: each side sends once per round trip
    assert res["per_op"]["sendto"]["calls"] == pytest.approx(2.0, abs=0.05)


@pytest.mark.parametrize("loop_name", LOOPS)
def test_paced_lateness_holds_the_churn_to_its_pace(loop_name: str) -> None:
    # A slow pace, so that even a loaded machine sustains it: the churn must not exceed it
    # (nor stall), and the lateness of every firing is recorded.
    import asyncio

    import nexusloop

    pace = 20_000
    loop = asyncio.new_event_loop() if loop_name == "asyncio" else nexusloop.new_event_loop()
    try:
        res = W._lateness(loop, 0.3, garbage=True, pace=pace)
    finally:
        loop.close()
    rate = res["ops"] / res["seconds"]
    assert 0.3 * pace < rate <= 1.1 * pace, rate
    assert res["lateness_us"]["samples"] == 300
    assert res["lateness_us"]["early_pct"] == 0.0
