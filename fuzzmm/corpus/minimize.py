"""Shrink a reproducer while the same signature (kind and function) still shows.

Greedy passes to a fixed point: drop whole tasks, drop operations, drop
switches, move each switch earlier, and make operation arguments smaller.
Each candidate is one controlled run, so the result is exact, not sampled.
"""
from dataclasses import replace

from fuzzmm.program import Scenario
from fuzzmm.sched.schedule import Schedule


def _renumber(switches, removed_task):
    out = []
    for step, task in switches:
        if task == removed_task:
            continue
        out.append((step, task - 1 if task > removed_task else task))
    return out


def _candidates(entry, ops):
    tasks = [list(t) for t in entry.scenario.tasks]
    switches = list(entry.schedule.switches)
    if len(tasks) > 1:
        for t in range(len(tasks)):
            yield tasks[:t] + tasks[t + 1:], _renumber(switches, t)
    for t, task in enumerate(tasks):
        if len(task) > 1:
            for i in range(len(task)):
                yield tasks[:t] + [task[:i] + task[i + 1:]] + tasks[t + 1:], switches
    for i in range(len(switches)):
        yield tasks, switches[:i] + switches[i + 1:]
    for i, (step, task) in enumerate(switches):
        for earlier in (step // 2, step - 1):
            if 0 <= earlier < step:
                yield tasks, switches[:i] + [(earlier, task)] + switches[i + 1:]
    for t, task in enumerate(tasks):
        for i, (name, args) in enumerate(task):
            domains = ops.get(name, ())
            for a, value in enumerate(args):
                values = list(domains[a][1]) if a < len(domains) else []
                if value in values and values.index(value) > 0:
                    for smaller in (values[0], values[values.index(value) - 1]):
                        new_args = tuple(args[:a]) + (smaller,) + tuple(args[a + 1:])
                        yield (tasks[:t] + [task[:i] + [(name, new_args)] + task[i + 1:]] + tasks[t + 1:],
                               switches)


def minimize(entry, executor, max_runs=5000, on_progress=None):
    """The smallest entry found that still reproduces `entry.signature` on `executor`."""
    ops = type(executor.program).ops()
    best, runs, improved = entry, 0, True
    while improved and runs < max_runs:
        improved = False
        for tasks, switches in _candidates(best, ops):
            candidate = replace(best, scenario=Scenario.of(tasks), schedule=Schedule.of_switches(switches))
            if candidate.size >= best.size and candidate.scenario == best.scenario:
                continue
            runs += 1
            result = executor.run(candidate.scenario, candidate.schedule)
            if result.finding is not None and result.finding.signature == entry.signature:
                # keep the switches the run really needed: the recorded list is minimal for it
                best = replace(candidate, schedule=result.schedule, message=result.finding.message)
                improved = True
                if on_progress:
                    on_progress(best, runs)
                break
            if runs >= max_runs:
                break
    return best
