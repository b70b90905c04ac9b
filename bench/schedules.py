"""Schedules per second on the lost-update example, against baselines measured in the same run.

Measured here, side by side: controlled runs under the random-walk and PCT
strategies, the Hypothesis strategy, a baseline that forks fresh worker
processes for every run, and a Hypothesis test with an empty body (the ceiling
Hypothesis itself sets).  Also the cost of one hand-off between workers, next
to a plain futex round trip between two processes.

The executor's workers are pinned to one CPU, as a campaign runs a controlled
strategy: one task runs at a time, so hand-offs stay on that core; unpinned on
a loaded 2-CPU machine the random walk's many hand-offs fall to a few hundred
schedules per second.
"""
import argparse
import json
import os
import time

from hypothesis import HealthCheck, given, settings

import multiprocess

from fuzzmm._core import Atomic
from fuzzmm.examples.lost_update import LostUpdate, LostUpdateFixed
from fuzzmm.pool import Pool
from fuzzmm.program import Scenario
from fuzzmm.sched import draws
from fuzzmm.sched.executor import Executor
from fuzzmm.sched.schedule import Schedule
from fuzzmm.sched.strategies import PCT, RandomWalk


def rate(fn, seconds):
    """Calls of fn per second over about `seconds` (at least 3 calls)."""
    n, start = 0, time.perf_counter()
    while n < 3 or time.perf_counter() - start < seconds:
        fn()
        n += 1
    return n / (time.perf_counter() - start)


def strategy_rate(ex, strategy, scenario, seconds):
    return rate(lambda: ex.run(scenario, strategy.schedule(scenario.ntasks)), seconds)


def hypothesis_rate(program, examples, body):
    """Examples per second of a Hypothesis test drawing what the hypothesis strategy draws
    for `program` and calling `body(scenario, schedule)`; an empty body is Hypothesis's ceiling."""
    calls = []

    @settings(max_examples=examples, deadline=None, database=None, derandomize=True,
              suppress_health_check=list(HealthCheck))
    @given(scenario=draws.scenarios(program, min_tasks=3, max_tasks=3),
           schedule=draws.schedules(3, max_step=100))
    def probe(scenario, schedule):
        body(scenario, schedule)
        calls.append(1)
    start = time.perf_counter()
    probe()
    return len(calls) / (time.perf_counter() - start)


def fork_baseline_rate(ex, scenario, seconds):
    """A run that starts its worker processes afresh every time (fork), then runs as usual."""
    def one():
        ex._replace(range(ex.nworkers))
        ex.run(scenario, Schedule("random", seed=1))
    return rate(one, seconds)


def handoff_us(ex, points):
    """(time with a switch at every step - time with none) / switches, for two tasks."""
    scenario = Scenario.of([[("increment", (points,))], [("increment", (points,))]])
    steps = 2 * points * 2 + 2
    every = Schedule.of_switches([(s, s % 2) for s in range(1, steps)][:1000])
    ex.run(scenario, every)
    runs = 30
    start = time.perf_counter()
    for _ in range(runs):
        switched = ex.run(scenario, every)
    t_switch = (time.perf_counter() - start) / runs
    start = time.perf_counter()
    for _ in range(runs):
        ex.run(scenario, Schedule())
    t_plain = (time.perf_counter() - start) / runs
    return max(0.0, (t_switch - t_plain) / max(1, len(switched.switches)) * 1e6)


def _pong(name, rounds):
    pool = Pool.attach(name)
    ping = Atomic(pool, 0, 32)
    for i in range(rounds):
        while ping.peek() != 2 * i + 1:
            ping.wait(2 * i, 1.0)
        ping.poke(2 * i + 2)
        ping.wake(1)
    pool.close()


def futex_roundtrip_us(rounds=2000):
    """Two processes bounce a word through futex wait/wake; microseconds per round trip."""
    with Pool.create(heap=4096) as pool:
        ping = pool.atomic(0, bits=32)
        proc = multiprocess.get_context("fork").Process(target=_pong, args=(pool.name, rounds))
        proc.start()
        start = time.perf_counter()
        for i in range(rounds):
            ping.poke(2 * i + 1)
            ping.wake(1)
            while ping.peek() != 2 * i + 2:
                ping.wait(2 * i + 1, 1.0)
        elapsed = time.perf_counter() - start
        proc.join(10)
    return elapsed / rounds * 1e6


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=2.0, help="time per measurement (default 2)")
    parser.add_argument("--examples", type=int, default=300, help="Hypothesis examples per measurement")
    parser.add_argument("--json", action="store_true", help="end with one JSON object of the figures")
    args = parser.parse_args(argv)

    figures = {"cpus": os.cpu_count()}
    with Executor(LostUpdate, workers=3, cpu=0) as ex:      # pinned, as campaigns run controlled strategies
        scenario = ex.program.default_scenario()
        figures["steps_per_run"] = ex.run(scenario).steps
        figures["random_per_s"] = strategy_rate(ex, RandomWalk(1), scenario, args.seconds)
        figures["pct_per_s"] = strategy_rate(ex, PCT(1), scenario, args.seconds)
        figures["fork_baseline_per_s"] = fork_baseline_rate(ex, scenario, args.seconds)
        figures["handoff_us"] = handoff_us(ex, 50)
    with Executor(LostUpdateFixed, workers=3) as ex:
        figures["hypothesis_per_s"] = hypothesis_rate(LostUpdateFixed, args.examples, ex.run)
    figures["hypothesis_empty_per_s"] = hypothesis_rate(LostUpdateFixed, args.examples, lambda *_: None)
    figures["futex_roundtrip_us"] = futex_roundtrip_us()
    figures["pct_vs_fork"] = figures["pct_per_s"] / figures["fork_baseline_per_s"]
    figures["random_vs_fork"] = figures["random_per_s"] / figures["fork_baseline_per_s"]
    figures["hypothesis_vs_empty"] = figures["hypothesis_per_s"] / figures["hypothesis_empty_per_s"]

    rows = [("random walk", "random_per_s"), ("PCT (d=3)", "pct_per_s"), ("hypothesis", "hypothesis_per_s"),
            ("fork per run", "fork_baseline_per_s"), ("hypothesis, empty body", "hypothesis_empty_per_s")]
    print(f"lost-update, 3 tasks, {figures['steps_per_run']} scheduling points a run, {figures['cpus']} CPUs")
    for label, key in rows:
        print(f"  {label:24} {figures[key]:10.0f} schedules/s")
    print(f"  PCT / fork per run        {figures['pct_vs_fork']:10.1f}x")
    print(f"  random / fork per run     {figures['random_vs_fork']:10.1f}x")
    print(f"  hypothesis / empty body   {figures['hypothesis_vs_empty']:10.2f}")
    print(f"  hand-off between workers  {figures['handoff_us']:10.2f} us")
    print(f"  futex round trip          {figures['futex_roundtrip_us']:10.2f} us")
    if args.json:
        print(json.dumps({k: round(v, 3) if isinstance(v, float) else v for k, v in figures.items()}))


if __name__ == "__main__":
    main()
