#!/usr/bin/env python3
"""Syscalls per round trip of the network workloads, per loop, side by side (``strace -f -c``).

::

    python benchmarks/syscalls.py [--loops asyncio,uvloop,rloop,nexusloop]
                                  [--workloads tcp_echo_protocol,...] [--clients 1]
                                  [--rounds 2000] [--json out.json]

For each (workload, loop) a child process (``syscalls.py --child``) runs the workload of
``benchmarks/_workloads.py`` once, with exactly the code the benchmark runs, under
``strace -f -c``; twice, with ``base`` and ``base + rounds`` operations. The difference of the
two syscall counts, divided by ``rounds``, is the count per operation (per round trip; per
connection for ``tcp_short_connections``, per MiB echoed for ``tcp_bulk_1mib``): interpreter
start-up, imports, loop creation, setup and teardown are the same in both runs and cancel out.

Read the counts, not the times: strace stops the process at every syscall, so its timings say
nothing about the untraced loop. Syscalls whose count depends on timing (``epoll_wait`` that
finds nothing ready, ``EAGAIN`` retries) can differ a little from an untraced run.

Needs strace (``apt-get update && apt-get install -y strace``) and ptrace permission.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from typing import Any

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
SCRIPT = os.path.abspath(__file__)
if HERE not in sys.path:
    sys.path.insert(0, HERE)

import run as R  # noqa: E402  (benchmarks/run.py: loop construction, child environment)

DEFAULT_LOOPS = ["asyncio", "uvloop", "rloop", "nexusloop"]
DEFAULT_WORKLOADS = ["tcp_echo_protocol"]
#: Rows below this many calls per op (in every loop) are folded into "other".
MIN_PER_OP = 0.01


def child_main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="syscalls.py --child")
    p.add_argument("--child", action="store_true")
    p.add_argument("--loop", required=True)
    p.add_argument("--workload", required=True)
    p.add_argument("--size", type=int, required=True)
    p.add_argument("--clients", type=int)
    a = p.parse_args(argv)
    import _workloads as W

    W.NET_TIMEOUT = W.NET_STALL = 600.0  # traced runs are slow; the parent bounds the child
    out: dict[str, Any] = {"loop": a.loop, "workload": a.workload, "size": a.size}
    try:
        loop, info = R._make_loop(a.loop)
    except ModuleNotFoundError as exc:
        out.update(status="unavailable", reason=f"not installed ({exc.name})")
        print(json.dumps(out), flush=True)
        return 0
    except LookupError as exc:
        out.update(status="unavailable", reason=str(exc))
        print(json.dumps(out), flush=True)
        return 0
    except Exception as exc:  # noqa: BLE001 - a loop that fails to construct is an error
        out.update(status="error", error=f"loop does not start: {type(exc).__name__}: {exc}")
        print(json.dumps(out), flush=True)
        return 1
    out["info"] = {k: info.get(k) for k in ("version", "loop_class", "compiled")}
    kwargs = {} if a.clients is None else {"clients": a.clients}
    try:
        import asyncio

        asyncio.set_event_loop(loop)
        res = W.WORKLOADS[a.workload](loop, a.size, **kwargs)
        out.update(status="ok", ops=res["ops"], unit=res["unit"], clients=res.get("clients"))
    except Exception as exc:  # noqa: BLE001 - reported to the parent
        out.update(status="error", error=f"{type(exc).__name__}: {exc}")
    finally:
        R._close_loop(loop)
    print(json.dumps(out), flush=True)
    return 0 if out["status"] == "ok" else 1


def parse_strace_summary(text: str) -> dict[str, tuple[int, int]]:
    """``strace -c`` summary -> {syscall: (calls, errors)}."""
    out: dict[str, tuple[int, int]] = {}
    for line in text.splitlines():
        tok = line.split()
        if len(tok) < 5 or tok[0].startswith(("%", "-")) or tok[-1] == "total":
            continue
        try:
            nums = [float(t) for t in tok[:-1]]
        except ValueError:
            continue
        # % time, seconds, usecs/call, calls[, errors], syscall
        calls = int(nums[3])
        errors = int(nums[4]) if len(nums) > 4 else 0
        out[tok[-1]] = (calls, errors)
    return out


def traced(loop: str, workload: str, size: int, clients: int | None,
           timeout: float) -> dict[str, Any]:
    """Run one child under ``strace -f -c``; its JSON result plus ``counts``."""
    fd, path = tempfile.mkstemp(prefix="nexus-strace-", suffix=".txt")
    os.close(fd)
    cmd = ["strace", "-f", "-c", "-o", path, sys.executable, SCRIPT, "--child", "--loop", loop,
           "--workload", workload, "--size", str(size)]
    if clients is not None:
        cmd += ["--clients", str(clients)]
    try:
        proc = subprocess.run(cmd, env=R._child_env(loop), capture_output=True, text=True,
                              timeout=timeout, check=False, cwd=ROOT)
        lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
        if not lines:
            tail = "\n".join((proc.stderr or proc.stdout).strip().splitlines()[-5:])
            return {"status": "error", "error": f"child exited {proc.returncode}: {tail}"}
        res: dict[str, Any] = json.loads(lines[-1])
        with open(path) as f:
            res["counts"] = parse_strace_summary(f.read())
        if res["status"] == "ok" and not res["counts"]:
            res.update(status="error", error="empty strace summary (ptrace not permitted?)")
        return res
    except subprocess.TimeoutExpired:
        return {"status": "error", "error": f"timeout after {timeout:.0f} s"}
    finally:
        os.unlink(path)


def per_op(loop: str, workload: str, rounds: int, clients: int | None,
           timeout: float) -> dict[str, Any]:
    """Syscalls per op from two traced runs (``base`` and ``base + rounds`` ops)."""
    c = clients if clients is not None else 10
    base = max(c, rounds // 10)
    if workload == "tcp_bulk_1mib":  # ops are MiB: keep the traced run short
        base = max(c, 10)
    small = traced(loop, workload, base, clients, timeout)
    if small.get("status") != "ok":
        return small
    big = traced(loop, workload, base + rounds, clients, timeout)
    if big.get("status") != "ok":
        return big
    ops = big["ops"] - small["ops"]
    if ops <= 0:
        return {"status": "error", "error": f"no ops between the runs ({small['ops']}, "
                f"{big['ops']})"}
    rows: dict[str, dict[str, float]] = {}
    for name in set(small["counts"]) | set(big["counts"]):
        c0, e0 = small["counts"].get(name, (0, 0))
        c1, e1 = big["counts"].get(name, (0, 0))
        rows[name] = {"calls": (c1 - c0) / ops, "errors": (e1 - e0) / ops}
    return {"status": "ok", "ops": ops, "unit": big["unit"], "clients": big.get("clients"),
            "info": big.get("info"), "per_op": rows}


def _num(x: float) -> str:
    return f"{0.0 if abs(x) < 0.005 else x:.2f}"


def _cell(row: dict[str, float] | None) -> str:
    if not row:
        return "0"
    s = _num(row["calls"])
    if abs(row["errors"]) >= 0.005:
        s += f" ({_num(row['errors'])} err)"
    return s


def render(workload: str, results: dict[str, dict[str, Any]], loops: list[str]) -> str:
    ok = [lp for lp in loops if results[lp].get("status") == "ok"]
    unit = next((results[lp]["unit"] for lp in ok), "op")
    clients = next((results[lp].get("clients") for lp in ok), None)
    op = {"round trips": "round trip", "connections": "connection",
          "MiB echoed": "MiB echoed"}.get(unit, unit)
    title = f"{workload}: syscalls per {op}" + (f" ({clients} client(s))" if clients else "")
    names: dict[str, float] = {}
    for lp in ok:
        for name, row in results[lp]["per_op"].items():
            names[name] = max(names.get(name, 0.0), abs(row["calls"]))
    shown = sorted((n for n, v in names.items() if v >= MIN_PER_OP),
                   key=lambda n: (-max(results[lp]["per_op"].get(n, {"calls": 0})["calls"]
                                       for lp in ok), n))
    headers = ["syscall"] + loops
    rows = []
    for name in shown:
        row = [name]
        for lp in loops:
            row.append(_cell(results[lp]["per_op"].get(name)) if lp in ok else "-")
        rows.append(row)
    other = ["other"]
    total = ["total"]
    for lp in loops:
        if lp not in ok:
            other.append("-")
            total.append(results[lp].get("status", "error"))
            continue
        po = results[lp]["per_op"]
        other.append(_num(sum(r["calls"] for n, r in po.items() if n not in shown)))
        total.append(_num(sum(r["calls"] for r in po.values())))
    rows += [other, total]
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(headers)]
    lines = [title, "  ".join(h.ljust(widths[0]) if i == 0 else h.rjust(widths[i])
                              for i, h in enumerate(headers))]
    lines.append("-" * len(lines[-1]))
    for r in rows:
        if r[0] == "other":
            lines.append("-" * len(lines[1]))
        lines.append("  ".join(c.ljust(widths[0]) if i == 0 else c.rjust(widths[i])
                               for i, c in enumerate(r)))
    for lp in loops:
        if results[lp].get("status") != "ok":
            why = results[lp].get("error") or results[lp].get("reason") or "?"
            lines.append(f"{lp}: {results[lp].get('status', 'error')}: {why}")
    return "\n".join(lines)


def parent_main(argv: list[str]) -> int:
    import _workloads as W

    p = argparse.ArgumentParser(
        prog="benchmarks/syscalls.py",
        description="Syscalls per round trip of the network workloads, per loop (strace -f -c).")
    p.add_argument("--loops", default=",".join(DEFAULT_LOOPS),
                   help=f"comma-separated (default {','.join(DEFAULT_LOOPS)}; known: "
                   + ", ".join(R.CORE_LOOPS + list(R.EXTRA_LOOPS)) + ")")
    p.add_argument("--workloads", default=",".join(DEFAULT_WORKLOADS),
                   help="comma-separated names or globs of the net suite (default "
                   f"{','.join(DEFAULT_WORKLOADS)}): " + ", ".join(W.NET_WORKLOADS))
    p.add_argument("--clients", type=int, default=1,
                   help="concurrent clients (default 1: one connection, so nothing is batched "
                   "across connections; the benchmark uses 10, 50 for tcp_short_connections); "
                   "0 = the workload's default")
    p.add_argument("--rounds", type=int, default=2000,
                   help="ops counted (difference of the two traced runs; default 2000, "
                   "tcp_bulk_1mib: MiB, capped at 200)")
    p.add_argument("--timeout", type=float, default=300.0, help="per traced child, seconds")
    p.add_argument("--json", metavar="PATH", help="write the per-op counts as JSON")
    a = p.parse_args(argv)
    if shutil.which("strace") is None:
        print("strace not found: apt-get update && apt-get install -y strace", file=sys.stderr)
        return 2
    loops = [s.strip() for s in a.loops.split(",") if s.strip()]
    known = R.CORE_LOOPS + list(R.EXTRA_LOOPS)
    for lp in loops:
        if lp not in known:
            p.error(f"unknown loop {lp!r}; known: {', '.join(known)}")
    workloads = R._select_workloads(a.workloads, list(W.NET_WORKLOADS))
    clients = a.clients or None
    all_results: dict[str, dict[str, Any]] = {}
    for w in workloads:
        rounds = min(a.rounds, 200) if w == "tcp_bulk_1mib" else a.rounds
        res: dict[str, dict[str, Any]] = {}
        for lp in loops:
            print(f"tracing {w} on {lp} ...", file=sys.stderr, flush=True)
            res[lp] = per_op(lp, w, rounds, clients, a.timeout)
        all_results[w] = res
        print(render(w, res, loops))
        print()
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"loops": loops, "clients": clients, "rounds": a.rounds,
                       "results": all_results}, f, indent=1)
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if "--child" in argv:
        return child_main(argv)
    return parent_main(argv)


if __name__ == "__main__":
    sys.exit(main())
