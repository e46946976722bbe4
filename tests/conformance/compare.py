"""Stock asyncio vs nexusloop on CPython's asyncio tests: the table in docs/compatibility.md.

Usage (from the repository root)::

    python tests/conformance/compare.py            # stock + nexusloop compiled + pure + harness check
    python tests/conformance/compare.py --markdown out.md
    python tests/conformance/compare.py --modes compiled,pure

It runs, each in a fresh process:

1. stock: ``python -m pytest -p no:cacheprovider --pyargs test.test_asyncio.test_<m> ...`` (all
   CPython classes, every selector variant), with this file as a plugin recording each outcome;
2. the harness on nexusloop, compiled and pure (``NEXUSLOOP_NO_EXTENSIONS=1``), with
   ``NEXUSLOOP_CONFORMANCE_JSON`` (see ``conftest.py``);
3. mode ``harness-on-stock``: the same harness with ``NEXUSLOOP_CONFORMANCE_LOOP=stock``, i.e. on
   asyncio's own loop -- every test it does not exclude must pass there, or the harness (not
   nexusloop) is wrong;

then matches every harness test with the stock test it mirrors (``stock_counterpart`` + method)
and prints per-module counts plus every test that passes on stock but not on nexusloop, with the
xfail/exclusion reason. Any such test *without* a reason is a regression and makes the exit
status non-zero.
"""
from __future__ import annotations

import argparse
import collections
import json
import os
import subprocess
import sys
import tempfile
import time
from typing import Any

import pytest

MODULES = [
    "test_events", "test_tasks", "test_futures", "test_futures2", "test_locks", "test_queues",
    "test_timeouts", "test_waitfor", "test_taskgroups", "test_pep492", "test_context",
    "test_runners", "test_threads", "test_sock_lowlevel", "test_streams", "test_server",
    "test_buffered_proto", "test_sendfile", "test_unix_events", "test_subprocess",
    "test_ssl", "test_sslproto", "test_protocols", "test_transports",
]

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))

# ----------------------------------------------------------------- pytest plugin (stock run)

_STOCK: dict[str, str] = {}


def pytest_runtest_logreport(report: Any) -> None:  # pragma: no cover - runs in the child
    key = getattr(report, "_stock_key", None)
    if key is None:
        return
    if report.failed:
        _STOCK[key] = "failed"
    elif report.skipped and _STOCK.get(key) != "failed":
        _STOCK[key] = "skipped"
    elif report.when == "call" and key not in _STOCK:
        _STOCK[key] = "passed"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: Any, call: Any) -> Any:  # pragma: no cover - child
    outcome = yield
    report = outcome.get_result()
    cls = getattr(item, "cls", None)
    if cls is not None:
        report._stock_key = f"{cls.__module__}.{cls.__qualname__}.{item.name}"


def pytest_sessionfinish(session: Any) -> None:  # pragma: no cover - runs in the child
    path = os.environ.get("NEXUSLOOP_STOCK_JSON")
    if path:
        with open(path, "w", encoding="utf-8") as fh:
            json.dump(_STOCK, fh, indent=1, sort_keys=True)


# ----------------------------------------------------------------------------- driver


def _run(cmd: list[str], env: dict[str, str]) -> float:
    t0 = time.monotonic()
    print("$", " ".join(cmd), file=sys.stderr, flush=True)
    subprocess.run(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, check=False)
    return time.monotonic() - t0


def run_stock(tmp: str) -> tuple[dict[str, str], float]:
    path = os.path.join(tmp, "stock.json")
    env = dict(os.environ, NEXUSLOOP_STOCK_JSON=path, PYTHONPATH=HERE)
    cmd = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "-p", "compare",
           "--rootdir", tmp, "--pyargs", *[f"test.test_asyncio.{m}" for m in MODULES]]
    seconds = _run(cmd, env)
    with open(path, encoding="utf-8") as fh:
        return json.load(fh), seconds


MODES = ("compiled", "pure", "harness-on-stock")


def run_nexus(tmp: str, mode: str) -> tuple[list[dict[str, Any]], float]:
    if mode not in MODES:
        raise SystemExit(f"unknown mode {mode!r}; choose from {', '.join(MODES)}")
    path = os.path.join(tmp, f"nexus-{mode}.json")
    env = dict(os.environ, NEXUSLOOP_CONFORMANCE_JSON=path)
    env.pop("NEXUSLOOP_NO_EXTENSIONS", None)
    env.pop("NEXUSLOOP_CONFORMANCE_LOOP", None)
    if mode == "pure":
        env["NEXUSLOOP_NO_EXTENSIONS"] = "1"
    elif mode == "harness-on-stock":
        env["NEXUSLOOP_CONFORMANCE_LOOP"] = "stock"
    cmd = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "tests/conformance"]
    seconds = _run(cmd, env)
    with open(path, encoding="utf-8") as fh:
        return json.load(fh)["tests"], seconds


def _label(mode: str) -> str:
    return "harness on the stock loop" if mode == "harness-on-stock" else f"nexusloop {mode}"


def report(stock: dict[str, str], modes: dict[str, list[dict[str, Any]]],
           seconds: dict[str, float]) -> tuple[str, int]:
    out: list[str] = []
    regressions = 0
    stock_by_module: dict[str, collections.Counter[str]] = collections.defaultdict(
        collections.Counter)
    for key, outcome in stock.items():
        stock_by_module[key.split(".")[2]][outcome] += 1
    out.append("| module | stock: passed / skipped / failed (all classes) "
               "| stock: passed (counterparts) | "
               + " | ".join(f"{_label(m)}: passed / xfail / excluded / failed" for m in modes)
               + " |")
    out.append("|---|---|---|" + "---|" * len(modes))
    per_mode: dict[str, dict[str, collections.Counter[str]]] = {}
    for mode, rows in modes.items():
        table: dict[str, collections.Counter[str]] = collections.defaultdict(collections.Counter)
        for row in rows:
            module = row["cpython_module"].rsplit(".", 1)[-1]
            c = table[module]
            outcome = row["outcome"]
            c[{"passed": "passed", "xfailed": "xfail", "skipped": "excluded"}.get(
                outcome, "failed")] += 1
            stock_outcome = stock.get(f"{row['stock_class']}.{row['method']}")
            if stock_outcome == "passed":
                c["stock_counterpart_passed"] += 1
        per_mode[mode] = table
    totals: collections.Counter[str] = collections.Counter()
    for module in MODULES:
        s = stock_by_module.get(module, collections.Counter())
        first = next(iter(per_mode.values())).get(module, collections.Counter())
        cells = [f"{s['passed']} / {s['skipped']} / {s['failed']}",
                 str(first["stock_counterpart_passed"])]
        totals.update({"s_passed": s["passed"], "s_skipped": s["skipped"],
                       "s_failed": s["failed"], "cp": first["stock_counterpart_passed"]})
        for mode in modes:
            c = per_mode[mode].get(module, collections.Counter())
            cells.append(f"{c['passed']} / {c['xfail']} / {c['excluded']} / {c['failed']}")
            for k in ("passed", "xfail", "excluded", "failed"):
                totals[f"{mode}_{k}"] += c[k]
        out.append(f"| {module} | " + " | ".join(cells) + " |")
    cells = [f"{totals['s_passed']} / {totals['s_skipped']} / {totals['s_failed']}",
             str(totals["cp"])]
    for mode in modes:
        cells.append(" / ".join(str(totals[f"{mode}_{k}"])
                                for k in ("passed", "xfail", "excluded", "failed")))
    out.append("| **total** | " + " | ".join(f"**{c}**" for c in cells) + " |")
    out.append("")
    out.append("Wall time: " + ", ".join(f"{k} {v:.0f} s" for k, v in seconds.items()) + ".")
    out.append("")

    # Tests on nexusloop that ran on nexusloop vs other loops.
    for mode, rows in modes.items():
        ran = [r for r in rows if r["outcome"] not in ("skipped", "not run")]
        on_nexus = sum(1 for r in ran if r["nexus_loops_created"])
        other = sum(1 for r in ran if not r["nexus_loops_created"] and r["other_loops_created"])
        none = len(ran) - on_nexus - other
        out.append(f"- {mode}: {len(ran)} tests ran; {on_nexus} created a nexusloop.Loop, "
                   f"{other} only other loops, {none} no loop at all (mock-only tests in "
                   "classes that otherwise use nexusloop)")
    out.append("")

    # Every xfail/exclusion by reason (whatever the stock outcome).
    out.append("| reason | " + " | ".join(f"{m}: xfail / excluded" for m in modes) + " |")
    out.append("|---|" + "---|" * len(modes))
    by_reason: dict[str, dict[str, collections.Counter[str]]] = collections.defaultdict(
        lambda: collections.defaultdict(collections.Counter))
    for mode, rows in modes.items():
        for row in rows:
            if row["outcome"] in ("xfailed", "skipped"):
                by_reason[row.get("reason", "")][mode][row["outcome"]] += 1
    for reason in sorted(by_reason):
        cells = [f"{by_reason[reason][m]['xfailed']} / {by_reason[reason][m]['skipped']}"
                 for m in modes]
        out.append(f"| {reason} | " + " | ".join(cells) + " |")
    out.append("")

    # Stock passes, nexusloop does not.
    out.append("Tests that pass on stock asyncio but not on nexusloop:")
    out.append("")
    seen: dict[tuple[str, str], set[str]] = collections.defaultdict(set)
    for mode, rows in modes.items():
        for row in rows:
            stock_outcome = stock.get(f"{row['stock_class']}.{row['method']}")
            if stock_outcome != "passed" or row["outcome"] == "passed":
                continue
            if row["outcome"] not in ("xfailed", "skipped"):
                regressions += 1
            key = (row["outcome"], row["method"], row.get("reason", ""))
            seen[key].add(f"{mode}:{row['stock_class'].rsplit('.', 1)[-1]}")
    for (outcome, method, reason), where in sorted(seen.items()):
        label = {"xfailed": "xfail", "skipped": "excluded"}.get(outcome, "**FAILED**")
        modes_seen = sorted({w.split(":", 1)[0] for w in where})
        classes = sorted({w.split(":", 1)[1] for w in where})
        out.append(f"- {label}: `{method}` ({', '.join(modes_seen)}; "
                   f"{len(classes)} class(es): {', '.join(classes)}) -- {reason}")
    return "\n".join(out), regressions


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--markdown", help="also write the report to this file")
    parser.add_argument("--modes", default=",".join(MODES))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        seconds: dict[str, float] = {}
        stock, seconds["stock"] = run_stock(tmp)
        modes: dict[str, list[dict[str, Any]]] = {}
        for mode in args.modes.split(","):
            modes[mode], seconds[_label(mode)] = run_nexus(tmp, mode)
    text, regressions = report(stock, modes, seconds)
    print(text)
    if args.markdown:
        with open(args.markdown, "w", encoding="utf-8") as fh:
            fh.write(text + "\n")
    if regressions:
        print(f"\n{regressions} test(s) pass on stock and fail on nexusloop without a mark",
              file=sys.stderr)
    return 1 if regressions else 0


if __name__ == "__main__":
    sys.exit(main())
