"""Run ``timer_lateness_gc`` (a 1 ms periodic timer, 200 churning tasks, a 300k-object heap and
cyclic garbage) on nexusloop and draw ``loop.stats()`` as a PNG.

``python benchmarks/latency_plot.py OUT.png [--seconds 2] [--profile latency|default]``
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out")
    ap.add_argument("--seconds", type=float, default=2.0)
    ap.add_argument("--profile", choices=["latency", "default"], default="latency")
    args = ap.parse_args()

    import nexusloop
    from nexusloop._bench import _workloads as W
    from nexusloop.latency import plot_stats

    profile = None if args.profile == "default" else args.profile
    loop = nexusloop.new_event_loop(profile=profile)
    try:
        result = W.timer_lateness_gc(loop, args.seconds)
        stats = loop.stats()
    finally:
        loop.close()
    plot_stats(stats, args.out, title=f"timer_lateness_gc, {args.seconds:g} s, profile={profile}")
    lat = result["lateness_us"]
    print(f"lateness p50 {lat['p50']:.0f} us, p99 {lat['p99']:.0f} us, max {lat['max']:.0f} us; "
          f"stats p99 timer lateness {stats.timer_lateness.percentile(99) * 1e6:.0f} us; "
          f"gc {stats.gc}")


if __name__ == "__main__":
    main()
