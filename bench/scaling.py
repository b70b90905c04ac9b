"""Campaign throughput with 1, 2, 4, 8 and 16 executors, and parallel efficiency.

Each point runs a campaign of N executors (one per job, each its own pool and
workers) on one variant for a fixed time, all in this one command, and
divides its runs per second by N times the single-executor rate.

Two rates are printed per point.  The whole rate divides all runs by the whole
wall time, start-up and shut-down of N job processes included.  The steady
rate counts only the runs between the campaign's progress reports after the
first fifth of the budget and its last report, which is what a long campaign
sees.  A short single-executor point runs first and is not counted, so the
first counted point does not pay for cold imports the later ones skip.

On a shared machine the neighbours' load drifts by tens of percent within a
minute, and one unlucky single-executor point skews every efficiency after
it.  `--repeat R` sweeps the counts R times, up and down in turn so a drift
weighs on every count alike, and reports each count's median.

The machine's own ceiling runs in the same command: N processes pinned to the
CPUs that N pinned jobs take (chaos jobs run unpinned), each spinning a
pure-Python loop.  Where it
falls below 1, the processor itself (shared cores, turbo clocks that drop as
more cores wake) limits every program, fuzzmm included.
"""
import argparse
import json
import os
import platform
import statistics
import time

import multiprocess

from fuzzmm.campaign import Campaign, Job
from fuzzmm.models import load_model


def measure(ref, variant, strategy, executors, seconds, corpus_dir):
    """(whole rate, steady rate) of a campaign of `executors` jobs, in runs per second."""
    jobs = [Job("thp-numa", variant, ref, strategy, seed) for seed in range(executors)]
    reports = []

    def emit(event):
        if event.get("event") == "progress":
            reports.append((event["elapsed_s"], event["runs"]))
    summary = Campaign(jobs, seconds, executors, corpus_dir, emit=emit).run()
    whole = summary["runs"] / summary["elapsed_s"]
    window = [r for r in reports if r[0] >= seconds / 5]
    if len(window) < 2 or window[-1][0] <= window[0][0] or window[-1][1] <= window[0][1]:
        return whole, whole     # no run counted between two reports (a short budget, a busy machine): no steady rate
    return whole, (window[-1][1] - window[0][1]) / (window[-1][0] - window[0][0])


def _spin(cpu, seconds, loops, index):
    os.sched_setaffinity(0, {cpu})
    n, end = 0, time.perf_counter() + seconds
    while time.perf_counter() < end:
        for _ in range(10_000):
            pass
        n += 1
    loops[index] = n


def ceiling(processes, seconds, cpus=None):
    """Pure-Python loops per second of `processes` pinned processes, on the campaign's CPUs
    (or on `cpus`, one process each)."""
    ctx = multiprocess.get_context("fork")
    cpus = cpus or sorted(os.sched_getaffinity(0))
    loops = ctx.Array("q", processes)
    procs = [ctx.Process(target=_spin, args=(cpus[i % len(cpus)], seconds, loops, i)) for i in range(processes)]
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join()
    return sum(loops) / seconds


def per_cpu(seconds):
    """Each CPU's pure-Python loop rate alone, against the median CPU's: a CPU that
    carries the machine's interrupts or a neighbour's load shows up below 1."""
    rates = {cpu: ceiling(1, seconds, [cpu]) for cpu in sorted(os.sched_getaffinity(0))}
    middle = statistics.median(rates.values())
    return {cpu: round(rate / middle, 3) for cpu, rate in rates.items()}


def cpu_model():
    """The processor's name from /proc/cpuinfo, where Linux provides it."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--counts", default="1,2,4,8,16", help="executor counts (default 1,2,4,8,16)")
    parser.add_argument("--seconds", type=float, default=10.0, help="seconds per point (default 10)")
    parser.add_argument("--variant", default="hugh", help="seed-model variant to run (default hugh)")
    parser.add_argument("--strategy", default="pct", choices=("pct", "random", "hypothesis", "chaos"),
                        help="search strategy of every job (default pct)")
    parser.add_argument("--repeat", type=int, default=1,
                        help="sweeps over the counts, alternately up and down; figures are medians (default 1)")
    parser.add_argument("--ceiling-seconds", type=float, default=2.0,
                        help="seconds of the machine-ceiling loop per point (default 2; 0 skips it)")
    parser.add_argument("--per-cpu", action="store_true",
                        help="first time the loop on each CPU alone and print its speed against the median CPU's")
    parser.add_argument("--corpus", default=os.path.join(".fuzzmm", "scaling-corpus"), help="where findings go")
    parser.add_argument("--json", action="store_true", help="end with one JSON object of the figures")
    args = parser.parse_args(argv)
    if args.repeat < 1 or args.seconds <= 0:
        parser.error("--repeat must be at least 1 and --seconds positive")
    ref = load_model("thp-numa").ref(args.variant)
    try:
        counts = [int(c) for c in args.counts.split(",")]
    except ValueError:
        parser.error(f"--counts: expected numbers separated by commas, not {args.counts!r}")
    if min(counts) < 1:
        parser.error("--counts: every count must be at least 1")
    machine = f"{cpu_model()}, {platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}"
    print(f"thp-numa {args.variant}, {args.strategy}, {args.seconds:g} s per point, {machine}")
    speeds = per_cpu(max(args.ceiling_seconds, 0.5)) if args.per_cpu else None
    if speeds:
        print("  per-CPU loop speed against the median CPU: "
              + "  ".join(f"{cpu}:{speed:.2f}" for cpu, speed in speeds.items()), flush=True)
    measure(ref, args.variant, args.strategy, 1, min(2.0, args.seconds), args.corpus)   # warm-up, not counted
    samples = {n: [] for n in counts}
    for sweep in range(args.repeat):
        for n in (counts if sweep % 2 == 0 else counts[::-1]):
            whole, steady = measure(ref, args.variant, args.strategy, n, args.seconds, args.corpus)
            spin = ceiling(n, args.ceiling_seconds) if args.ceiling_seconds > 0 else None
            samples[n].append((whole, steady, spin))
            if args.repeat > 1:
                print(f"  sweep {sweep + 1}: {n:3d} executors  whole {whole:8.0f}  steady {steady:8.0f} runs/s",
                      flush=True)
    medians = {n: [statistics.median(column) if None not in column else None for column in zip(*samples[n])]
               for n in counts}
    base = [m / counts[0] if m else None for m in medians[counts[0]]]
    rows = []
    for n in counts:
        whole, steady, spin = medians[n]
        row = {"executors": n, "runs_per_s": round(whole, 1), "efficiency": round(whole / (n * base[0]), 3),
               "steady_runs_per_s": round(steady, 1), "steady_efficiency": round(steady / (n * base[1]), 3)}
        if spin:
            row["machine_ceiling"] = round(spin / (n * base[2]), 3)
        rows.append(row)
        print(f"  {n:3d} executors  whole {whole:8.0f} runs/s  efficiency {row['efficiency']:.2f}   "
              f"steady {steady:8.0f} runs/s  efficiency {row['steady_efficiency']:.2f}"
              + (f"   machine ceiling {row['machine_ceiling']:.2f}" if spin else ""), flush=True)
    if args.json:
        print(json.dumps({"machine": machine, "strategy": args.strategy, "seconds": args.seconds,
                          "repeat": args.repeat, "rows": rows, "per_cpu_speed": speeds,
                          "efficiency_at_max": rows[-1]["efficiency"],
                          "steady_efficiency_at_max": rows[-1]["steady_efficiency"]}))


if __name__ == "__main__":
    main()
