"""Shrink a reproducer while the same signature (kind and function) still shows.

Greedy passes to a fixed point: drop whole tasks, drop operations, drop
switches, move each switch earlier, and make operation arguments smaller.
Each candidate is one controlled run on its own (a fresh lock-dependency
graph, as in a replay), so the result is exact, not sampled.
Dropping a task or an operation renumbers every later step, so when the old
switches no longer fit a smaller scenario, a short PCT search looks for
switches that do.
"""
from dataclasses import replace
import random
import time

from fuzzmm.program import Scenario
from fuzzmm.sched.schedule import Schedule


def _renumber(switches, removed_task):
    out = []
    for step, task in switches:
        if task == removed_task:
            continue
        out.append((step, task - 1 if task > removed_task else task))
    return out


def _candidates(entry, ops, min_tasks=1):
    tasks = [list(t) for t in entry.scenario.tasks]
    switches = list(entry.schedule.switches)
    if len(tasks) > max(1, min_tasks):          # never fewer tasks than the program says it runs
        for t in range(len(tasks)):
            yield tasks[:t] + tasks[t + 1:], _renumber(switches, t)
    for t, task in enumerate(tasks):
        if len(task) > 1:
            for i in range(len(task)):
                yield tasks[:t] + [task[:i] + task[i + 1:]] + tasks[t + 1:], switches
    for i in range(len(switches)):
        yield tasks, switches[:i] + switches[i + 1:]
    for i in range(len(tasks)):                      # the default rule favours low task numbers
        for j in range(i + 1, len(tasks)):
            swapped = list(tasks)
            swapped[i], swapped[j] = swapped[j], swapped[i]
            yield swapped, [(step, j if t == i else i if t == j else t) for step, t in switches]
    for i, (step, task) in enumerate(switches):
        for earlier in (step // 2, step - 1):
            if 0 <= earlier < step:
                yield tasks, switches[:i] + [(earlier, task)] + switches[i + 1:]
    for t, task in enumerate(tasks):
        for i, (name, args) in enumerate(task):
            domains = ops.get(name, ())
            for a, value in enumerate(args):
                values = domains[a][1] if a < len(domains) else ()        # a range stays a range
                if value in values and values.index(value) > 0:
                    for smaller in (values[0], values[values.index(value) - 1]):
                        new_args = tuple(args[:a]) + (smaller,) + tuple(args[a + 1:])
                        yield (tasks[:t] + [task[:i] + [(name, new_args)] + task[i + 1:]] + tasks[t + 1:],
                               switches)


RESEARCH_RUNS = 300
QUICK_S = 2.0       # how long a new finding is shrunk before a campaign keeps it or a fuzz test reports it
QUICK_RUNS = 2000   # the same, counted in runs, where the result must not depend on the machine's speed


class _Budget:
    """The runs and time a minimisation may spend; every run it makes is counted here,
    the searches for new switches included, so --max-runs bounds them all."""

    def __init__(self, max_runs, deadline):
        self.max_runs, self.deadline, self.runs = max_runs, deadline, 0

    def spent(self):
        return self.runs >= self.max_runs or (self.deadline is not None and time.monotonic() >= self.deadline)

    def run(self, executor, scenario, schedule):
        self.runs += 1
        return executor.run_alone(scenario, schedule)


def _research(executor, scenario, signature, rng, budget, depths=(1, 2, 3)):
    """A PCT search, shallowest first, for switches that show `signature` on `scenario`."""
    from fuzzmm.sched.strategies import PCT
    for depth in depths:
        strategy = PCT(rng.getrandbits(32), depth=depth)
        for _ in range(RESEARCH_RUNS // len(depths)):
            if budget.spent():
                return None
            result = budget.run(executor, scenario, strategy.schedule(scenario.ntasks))
            strategy.observe(result)
            if result.finding is not None and result.finding.signature == signature:
                return result
    return None


def minimize(entry, executor, max_runs=20000, on_progress=None, deadline=None, acceptable=None):
    """The smallest entry found that still reproduces `entry.signature` on `executor`,
    within `max_runs` runs and, if given, by the time.monotonic() `deadline`.
    With `acceptable`, a smaller entry is kept only if acceptable(entry) holds too:
    that it still does not reproduce on the variants its file lists as fixed, say."""
    budget = _Budget(max_runs, deadline)
    if not entry.past_watchdog or executor.watchdog_s <= PROBE_WATCHDOG_S:
        return _shrink(entry, executor, budget, on_progress, acceptable, research=True)
    # Each try of a hang past the watchdog lasts the watchdog: try the candidates under a
    # shorter one, with no searches for new switches (hundreds of runs each), and keep the
    # result only if it still hangs under the executor's own watchdog.
    full = executor.watchdog_s
    executor.set_watchdog(PROBE_WATCHDOG_S)
    try:
        small = _shrink(entry, executor, budget, on_progress, acceptable, research=False)
    finally:
        executor.set_watchdog(full)
    if small is entry:
        return entry
    again = executor.run_alone(small.scenario, small.schedule)
    if again.finding is None or again.finding.signature != entry.signature:
        return entry            # it only outran the shorter watchdog: not the same hang
    return small.as_found_in(again)


PROBE_WATCHDOG_S = 2.0      # the watchdog candidates of a hang's reproducer run under


def _shrink(entry, executor, budget, on_progress, acceptable, research):
    ops = type(executor.program).ops()
    best, improved = entry, True
    rng = random.Random(0)
    hopeless = set()            # smaller scenarios a search already failed on
    while improved and not budget.spent():
        improved = False
        for tasks, switches in _candidates(best, ops, type(executor.program).tasks[0]):
            candidate = replace(best, scenario=Scenario.of(tasks), schedule=Schedule.of_switches(switches))
            if candidate.size >= best.size and candidate.scenario == best.scenario:
                continue
            if sorted(candidate.scenario.tasks) == sorted(best.scenario.tasks) and candidate.scenario != best.scenario \
                    and len(best.schedule.switches) <= 1:
                continue                               # reordering tasks only helps a longer schedule
            result = budget.run(executor, candidate.scenario, candidate.schedule)
            reshaped = candidate.scenario != best.scenario
            if research and reshaped and candidate.scenario not in hopeless and (
                    result.finding is None or result.finding.signature != entry.signature):
                found_again = _research(executor, candidate.scenario, entry.signature, rng, budget)
                if found_again is None and not budget.spent():
                    hopeless.add(candidate.scenario)
                result = found_again or result
            found = None
            if result.finding is not None and result.finding.signature == entry.signature:
                # keep the switches the run really needed: the recorded list is minimal for it
                found = candidate.as_found_in(result)
            if found is not None and found.size < best.size and (acceptable is None or acceptable(found)):
                best = found
                improved = True
                if on_progress:
                    on_progress(best, budget.runs)
                break
            if budget.spent():
                break
        if research and not improved and not budget.spent():
            best, improved = _fewer_switches(executor, best, entry.signature, rng, budget, acceptable)
    return best


def shrink_quickly(entry, executor, seconds=QUICK_S, max_runs=None):
    """The entry shrunk for at most `seconds`, or else for at most `max_runs` runs,
    whatever the time (the same result on any machine, as a deterministic test
    wants), so a new finding reads as a small reproducer (`fuzzmm minimize` goes
    further).  Never loses the finding: a hang past the watchdog is kept as found,
    since each run that tried to shrink it would last a watchdog too (a hang at the
    step limit shrinks like any finding), and an error while shrinking keeps the
    entry as it was."""
    if entry.past_watchdog:
        return entry
    try:
        if max_runs is not None:
            return minimize(entry, executor, max_runs=max_runs)
        return minimize(entry, executor, deadline=time.monotonic() + seconds)
    except Exception:
        return entry


def _fewer_switches(executor, best, signature, rng, budget, acceptable=None):
    """Searches with shallower PCT for a schedule of the same scenario with fewer switches."""
    for depth in (1, 2, 2, 3, 3, 3):
        result = _research(executor, best.scenario, signature, rng, budget, (depth,))
        if result is not None and len(result.switches) < len(best.schedule.switches):
            found = best.as_found_in(result)
            if acceptable is None or acceptable(found):
                return found, True
    return best, False
