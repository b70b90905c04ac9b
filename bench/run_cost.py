"""What one run costs, where that time goes, and how it grows: against baselines measured in the same run.

Everything runs pinned to one CPU (the executor, its workers and this process), as a
campaign runs a controlled strategy, so a rate here is runs per second per core.

- Rates: lost-update (fuzzmm/examples/lost_update.py) with 3 tasks of one increment each,
  9 scheduling points a run, and the seed model's default scenario, each under PCT.
- Phases: a run taken apart as the executor runs it (reset to the snapshot, the
  program's init, the hand-off to the workers, the workers' run, the summary, the
  quiescent check, lockdep, the verdict), each timed in this process's own CPU time;
  the workers' CPU time comes from /proc/PID/schedstat.  CPU time does not count
  the time other processes on a busy machine take from this core, so on a shared
  machine the `cpu_*` figures are the ones to compare; wall-clock rates need a quiet core.
- Curves: cost per run against scheduling points per run (10 to 10,000), tasks
  (2 to 16, the most an executor runs) and pool size (pages 16 to 4,096), on lost-update.
- Baselines: bench/schedules.py's fork-per-run rate and the empty-body Hypothesis ceiling.
"""
import argparse
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))      # bench/schedules.py, the baselines

from fuzzmm import _core  # noqa: E402
from fuzzmm.examples.lost_update import LostUpdate, LostUpdateFixed  # noqa: E402
from fuzzmm.mm.base import ThpNuma  # noqa: E402
from fuzzmm.program import Scenario  # noqa: E402
from fuzzmm.sched import verdict  # noqa: E402
from fuzzmm.sched.executor import Executor  # noqa: E402
from fuzzmm.sched.schedule import RunResult  # noqa: E402
from fuzzmm.sched.strategies import PCT  # noqa: E402

import schedules  # noqa: E402


class LostUpdatePages16(LostUpdate):
    pool_config = {"pages": 16}


class LostUpdatePages256(LostUpdate):
    pool_config = {"pages": 256}


class LostUpdatePages1024(LostUpdate):
    pool_config = {"pages": 1024}


class LostUpdatePages4096(LostUpdate):
    pool_config = {"pages": 4096}


POOLS = {16: LostUpdatePages16, 64: LostUpdate, 256: LostUpdatePages256, 1024: LostUpdatePages1024,
         4096: LostUpdatePages4096}     # lost-update's own pool has 64 pages


def increments(tasks, points_per_task):
    """A lost-update scenario: `tasks` tasks of about `points_per_task` scheduling points each
    (an increment of n takes 2n; the task's end takes one more)."""
    n = max(1, points_per_task // 2)
    ops = [("increment", (16,))] * (n // 16) + ([("increment", (n % 16,))] if n % 16 else [])
    return Scenario.of([ops] * tasks)


def schedstat_ns(pid):
    """CPU time a process has run, in ns (the scheduler's own count)."""
    try:
        with open(f"/proc/{pid}/schedstat") as f:
            return int(f.read().split()[0])
    except OSError:
        return 0


def measure(ex, scenario, runs, seed=1):
    """Runs `runs` PCT runs of `scenario`: wall and CPU time per run (this process and the workers)."""
    pct = PCT(seed)
    for _ in range(max(3, runs // 10)):                       # warm up: caches, the scenario posted
        pct.observe(ex.run(scenario, pct.schedule(scenario.ntasks)))
    schedules_ = [pct.schedule(scenario.ntasks) for _ in range(runs)]
    pids = [os.getpid()] + ex.worker_pids
    before = [schedstat_ns(p) for p in pids]
    start = time.perf_counter()
    steps = 0
    for schedule in schedules_:
        steps += ex.run(scenario, schedule).steps
    wall = time.perf_counter() - start
    cpu = [(schedstat_ns(p) - b) / runs / 1000 for p, b in zip(pids, before)]
    return {"runs": runs, "steps": steps / runs, "wall_us": wall / runs * 1e6, "per_s": runs / wall,
            "cpu_us": sum(cpu), "cpu_per_s": 1e6 / max(sum(cpu), 1e-9), "parent_cpu_us": cpu[0],
            "workers_cpu_us": sum(cpu[1:])}


PHASES = ("reset", "init", "hand-off", "wait", "summary", "check", "lockdep", "verdict")


def phases(ex, scenario, runs, seed=1):
    """This process's CPU time per phase of a run, in us (medians, less what reading the
    clock costs), the run taken apart as Executor.run runs it; each result is checked
    against Executor.run's own for the same schedule.  `wait` is what this process spends
    while the workers run (it sleeps); `hand-off` includes waking the first of them."""
    clock = time.thread_time_ns
    pct = PCT(seed)
    pool = ex.pool
    times = {name: [] for name in PHASES}
    for i in range(runs):
        schedule = pct.schedule(scenario.ntasks)
        t0 = clock()
        _core.reset_run(pool, ex._snapshot, False)
        t1 = clock()
        failed = ex._init(scenario) if ex._has_init else None
        t2 = clock()
        assert failed is None, failed
        if scenario is not ex._scenario and scenario != ex._scenario:
            _core.put_scenario(pool, ex.check_scenario_size(scenario))
            ex._scenario = scenario
        _core.prepare_run(pool, scenario.ntasks, "controlled", schedule.kind, schedule.switches,
                          schedule.priorities, schedule.change_points, schedule.seed, schedule.order,
                          ex.program.max_steps, 0.0, 0, ex.spin_iters)
        _core.start_run(pool)
        t3 = clock()
        ended = ex._wait(scenario.ntasks)
        t4 = clock()
        steps, switches, complete, clean = _core.run_summary(pool)
        if ended is None and clean:
            _core.finish_run(pool)
            t5 = clock()
            finding = ex._check(scenario)
            t6 = clock()
            if finding is None and ex.lockdep is not None:
                finding = ex.lockdep.observe(pool, ex.object_names)
            t7 = clock()
        else:               # a finding: its records read and worded, counted with the check
            info = _core.run_info(pool)
            _core.finish_run(pool)
            t5 = clock()
            finding = verdict.decide(pool, info, ended, lambda: ex._check(scenario), ex.lockdep,
                                     ex.object_names)
            t6 = t7 = clock()
        result = RunResult(finding, switches, complete, steps, "controlled", None)
        t8 = clock()
        for name, a, b in zip(PHASES, (t0, t1, t2, t3, t4, t5, t6, t7), (t1, t2, t3, t4, t5, t6, t7, t8)):
            times[name].append((b - a) / 1000)
        if i % 50 == 0:
            again = ex.run(scenario, schedule)
            assert (again.finding, again.switches, again.steps) == (result.finding, result.switches, result.steps)
    empty = sorted(-clock() + clock() for _ in range(2000))[1000] / 1000     # what a reading itself costs
    out = {name: max(0.0, sorted(v)[len(v) // 2] - empty) for name, v in times.items()}
    out["parent"] = sum(out.values())
    return out


def lost_update_9(ex):
    return increments(3, 2)        # 3 x (2 points + the task's end) = 9 points


def curve_points(runs, sizes):
    rows = []
    with Executor(LostUpdate, workers=3, cpu=CPU) as ex:
        for points in sizes:
            scenario = increments(3, points // 3)
            m = measure(ex, scenario, max(20, runs * 10 // max(10, points) + 20))
            rows.append({"points": m["steps"], "cpu_us": m["cpu_us"], "wall_us": m["wall_us"],
                         "cpu_us_per_point": m["cpu_us"] / m["steps"]})
    return with_slopes(rows)


def curve_tasks(runs, counts):
    rows = []
    for tasks in counts:
        with Executor(LostUpdate, workers=tasks, cpu=CPU) as ex:
            m = measure(ex, increments(tasks, 2), runs)
            rows.append({"tasks": tasks, "points": m["steps"], "cpu_us": m["cpu_us"], "wall_us": m["wall_us"],
                         "cpu_us_per_task": m["cpu_us"] / tasks})
    return rows


def curve_pages(runs, sizes):
    rows = []
    for pages in sizes:
        with Executor(POOLS[pages], workers=3, cpu=CPU) as ex:
            m = measure(ex, lost_update_9(ex), runs)
            rows.append({"pages": pages, "cpu_us": m["cpu_us"], "wall_us": m["wall_us"],
                         "parent_cpu_us": m["parent_cpu_us"]})
    return rows


def per_point_us(rows):
    """The cost of one more scheduling point: the slope from the curve's first size of about
    100 points or more (the fixed cost of a run weighs on smaller ones) to its last."""
    a = next((r for r in rows[:-1] if r["points"] >= 90), rows[0])
    b = rows[-1]
    return (b["cpu_us"] - a["cpu_us"]) / max(1, b["points"] - a["points"]) if b is not a else None


def with_slopes(rows):
    """Each row of the points curve with the cost of a point more since the row before."""
    for before, row in zip([None] + rows[:-1], rows):
        row["marginal_us_per_point"] = None if before is None else \
            (row["cpu_us"] - before["cpu_us"]) / max(1, row["points"] - before["points"])
    return rows


CPU = None


def main(argv=None):
    global CPU
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5000, help="runs per rate measured (default 5000)")
    parser.add_argument("--seconds", type=float, default=2.0, help="time per baseline measurement (default 2)")
    parser.add_argument("--examples", type=int, default=300, help="Hypothesis examples for its ceiling")
    parser.add_argument("--cpu", type=int, default=None, help="the CPU to pin to (default: the first allowed)")
    parser.add_argument("--quick", action="store_true", help="a tiny budget and short curves (for the tests)")
    parser.add_argument("--json", action="store_true", help="end with one JSON object of the figures")
    args = parser.parse_args(argv)
    if args.quick:
        args.runs, args.seconds, args.examples = 60, 0.2, 20
    CPU = args.cpu if args.cpu is not None else min(os.sched_getaffinity(0))
    os.sched_setaffinity(0, {CPU})
    point_sizes = (10, 100, 1000) if args.quick else (10, 30, 100, 300, 1000, 3000, 10000)
    task_counts = (2, 4) if args.quick else (2, 4, 8, 16)
    page_sizes = (16, 4096) if args.quick else (16, 64, 256, 1024, 4096)

    figures = {"cpu": CPU, "runs": args.runs}
    with Executor(LostUpdate, workers=3, cpu=CPU) as ex:
        scenario = lost_update_9(ex)
        lu = measure(ex, scenario, args.runs)
        lu_phases = phases(ex, scenario, max(50, args.runs // 3))
        figures["fork_baseline_per_s"] = schedules.fork_baseline_rate(ex, ex.program.default_scenario(), args.seconds)
    with Executor(ThpNuma, cpu=CPU) as ex:
        scenario = ex.program.default_scenario()
        seed = measure(ex, scenario, max(30, args.runs // 2))
        seed_phases = phases(ex, scenario, max(50, args.runs // 6))
    figures["hypothesis_empty_per_s"] = schedules.hypothesis_rate(LostUpdateFixed, args.examples, lambda *_: None)
    figures["lost_update_9"] = lu
    figures["seed_default"] = seed
    figures["phases"] = {"lost_update_9": lu_phases, "seed_default": seed_phases}
    curves = {"points": curve_points(args.runs, point_sizes), "tasks": curve_tasks(args.runs, task_counts),
              "pages": curve_pages(args.runs, page_sizes)}
    figures["curves"] = curves
    figures["lost_update_9_per_s"] = lu["per_s"]
    figures["seed_default_per_s"] = seed["per_s"]
    figures["lost_update_9_cpu_per_s"] = lu["cpu_per_s"]
    figures["seed_default_cpu_per_s"] = seed["cpu_per_s"]
    figures["parent_us"] = seed_phases["parent"]
    figures["per_point_us"] = per_point_us(curves["points"])
    figures["lost_update_9_vs_fork"] = lu["per_s"] / figures["fork_baseline_per_s"]
    figures["lost_update_9_vs_hypothesis_empty"] = lu["per_s"] / figures["hypothesis_empty_per_s"]
    figures["seed_default_vs_fork"] = seed["per_s"] / figures["fork_baseline_per_s"]

    print(f"one CPU ({CPU}), PCT; wall-clock rates need a quiet core, CPU-time figures do not")
    for label, m in (("lost-update, 9 points", lu), (f"seed default, {seed['steps']:.0f} points", seed)):
        print(f"  {label:28} {m['per_s']:9.0f} runs/s  {m['wall_us']:7.1f} us a run (wall); "
              f"CPU {m['cpu_us']:6.1f} us a run ({m['cpu_per_s']:7.0f} runs/s of CPU): "
              f"this process {m['parent_cpu_us']:5.1f}, workers {m['workers_cpu_us']:5.1f}")
    print(f"  fork per run {figures['fork_baseline_per_s']:9.0f} runs/s; empty-body Hypothesis "
          f"{figures['hypothesis_empty_per_s']:9.0f}/s; lost-update {figures['lost_update_9_vs_fork']:.1f}x fork, "
          f"{figures['lost_update_9_vs_hypothesis_empty']:.1f}x the Hypothesis ceiling")
    print("where a run's CPU time goes, us a run (this process's phases: medians):")
    print(f"  {'phase':10} {'lost-update':>12} {'seed':>8}")
    for name in PHASES + ("parent",):
        print(f"  {name:10} {lu_phases[name]:12.2f} {seed_phases[name]:8.2f}")
    print(f"  {'workers':10} {lu['workers_cpu_us']:12.2f} {seed['workers_cpu_us']:8.2f}   (their CPU time: the run itself)")
    print("cost against scheduling points (lost-update, 3 tasks):")
    for r in curves["points"]:
        more = "" if r["marginal_us_per_point"] is None else f", {r['marginal_us_per_point']:.3f} us a point more"
        print(f"  {r['points']:8.0f} points {r['cpu_us']:10.1f} us CPU a run, {r['cpu_us_per_point']:.3f} us a point{more}")
    if figures["per_point_us"] is not None:
        print(f"  one more point, from about 100 to the most: {figures['per_point_us']:.3f} us")
    print("cost against tasks (lost-update, 3 points a task):")
    for r in curves["tasks"]:
        print(f"  {r['tasks']:8} tasks {r['cpu_us']:10.1f} us CPU a run {r['cpu_us_per_task']:8.2f} us a task")
    print("cost against pool size (lost-update, 9 points):")
    for r in curves["pages"]:
        print(f"  {r['pages']:8} pages {r['cpu_us']:10.1f} us CPU a run, this process {r['parent_cpu_us']:6.1f}")
    if args.json:
        print(json.dumps(_rounded(figures)))


def _rounded(value):
    if isinstance(value, float):
        return round(value, 3)
    if isinstance(value, dict):
        return {k: _rounded(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_rounded(v) for v in value]
    return value


if __name__ == "__main__":
    main()
