"""Campaigns side by side: K one-executor campaigns at once against one alone.

Users run several campaigns on one machine (one per variant, or test modules
under pytest-xdist that each start one), each from its own `fuzzmm fuzz`, and
none knows of the others.  Each point starts K such commands together, on the
seed model, and divides their combined runs per second by K times the rate of
one campaign alone, measured in the same command.  Below 1/K x the CPUs it
could use, the campaigns share cores that other cores could have taken.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile


def together(k, seconds, variant):
    """Combined runs per second of `k` campaigns started at once."""
    with tempfile.TemporaryDirectory() as corpus:
        procs = [subprocess.Popen([sys.executable, "-m", "fuzzmm", "fuzz", "--variant", variant, "--strategy", "pct",
                                   "--executors", "1", "--duration", str(seconds),
                                   "--corpus", os.path.join(corpus, str(i)), "--seed", str(i), "--json"],
                                  stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
                 for i in range(k)]
        summaries = [json.loads(proc.communicate()[0].strip().splitlines()[-1]) for proc in procs]
    return sum(s["runs"] / s["elapsed_s"] for s in summaries)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--counts", default="1,2", help="campaigns at once, comma-separated (default 1,2)")
    parser.add_argument("--seconds", type=float, default=5.0, help="each campaign's --duration (default 5)")
    parser.add_argument("--variant", default="hugh", help="seed-model variant (default hugh)")
    parser.add_argument("--repeat", type=int, default=1, help="sweeps, alternately up and down; medians (default 1)")
    parser.add_argument("--json", action="store_true", help="end with one JSON object of the figures")
    args = parser.parse_args(argv)
    try:
        counts = [int(c) for c in args.counts.split(",")]
    except ValueError:
        parser.error(f"--counts: expected numbers separated by commas, not {args.counts!r}")
    if min(counts) < 1 or args.repeat < 1 or args.seconds <= 0:
        parser.error("--counts and --repeat must be at least 1 and --seconds positive")
    cpus = len(os.sched_getaffinity(0))
    print(f"thp-numa {args.variant}, one executor per campaign, {args.seconds:g} s each, {cpus} CPUs", flush=True)
    alone, samples = [], {k: [] for k in counts}
    for sweep in range(args.repeat):
        alone.append(together(1, args.seconds, args.variant))
        for k in (counts if sweep % 2 == 0 else counts[::-1]):
            samples[k].append(together(k, args.seconds, args.variant))
    base = statistics.median(alone)
    rows = []
    for k in counts:
        rate = statistics.median(samples[k])
        row = {"campaigns": k, "runs_per_s": round(rate, 1), "efficiency": round(rate / (k * base), 3)}
        rows.append(row)
        print(f"  {k:3d} campaigns  {rate:8.0f} runs/s together  efficiency {row['efficiency']:.2f}", flush=True)
    if args.json:
        print(json.dumps({"cpus": cpus, "alone_runs_per_s": round(base, 1), "rows": rows,
                          "efficiency_at_max": rows[-1]["efficiency"]}))


if __name__ == "__main__":
    main()
