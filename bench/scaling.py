"""Campaign throughput with 1, 2, 4, 8 and 16 executors, and parallel efficiency.

Each point runs a campaign of N executors (one per job, each its own pool and
workers) on one variant for a fixed time, all in this one command, and
divides its runs per second by N times the single-executor rate.
"""
import argparse
import json
import os
import platform

from fuzzmm.campaign import Campaign, Job
from fuzzmm.models import load_model


def measure(ref, variant, executors, seconds, corpus_dir):
    jobs = [Job("thp-numa", variant, ref, "pct", seed) for seed in range(executors)]
    campaign = Campaign(jobs, seconds, executors, corpus_dir, emit=lambda event: None)
    summary = campaign.run()
    return summary["runs"] / summary["elapsed_s"]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--counts", default="1,2,4,8,16", help="executor counts (default 1,2,4,8,16)")
    parser.add_argument("--seconds", type=float, default=10.0, help="seconds per point (default 10)")
    parser.add_argument("--variant", default="hugh", help="seed-model variant to run (default hugh)")
    parser.add_argument("--corpus", default=os.path.join(".fuzzmm", "scaling-corpus"), help="where findings go")
    parser.add_argument("--json", action="store_true", help="end with one JSON object of the figures")
    args = parser.parse_args(argv)
    ref = load_model("thp-numa").ref(args.variant)
    counts = [int(c) for c in args.counts.split(",")]
    rows, base = [], None
    machine = f"{platform.machine()}, {os.cpu_count()} CPUs"
    print(f"thp-numa {args.variant}, pct, {args.seconds:g} s per point, {machine}")
    for n in counts:
        rate = measure(ref, args.variant, n, args.seconds, args.corpus)
        base = base or rate / n
        efficiency = rate / (n * base)
        rows.append({"executors": n, "runs_per_s": round(rate, 1), "efficiency": round(efficiency, 3)})
        print(f"  {n:3d} executors  {rate:10.0f} runs/s  efficiency {efficiency:.2f}", flush=True)
    if args.json:
        print(json.dumps({"machine": machine, "rows": rows, "efficiency_at_max": rows[-1]["efficiency"]}))


if __name__ == "__main__":
    main()
