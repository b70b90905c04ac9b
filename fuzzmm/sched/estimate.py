"""How many runs plain bounded enumeration of a scenario would make, estimated.

Plain enumeration runs one schedule per leaf of the tree of decisions within the
preemption bound (every task that can run, at every step, while the schedule's
preemptions stay within the bound): counting the leaves exactly means running
them all.  Knuth's estimator ("Estimating the efficiency of backtrack programs",
Mathematics of Computation, 1975) walks random paths from the root instead; with
each child drawn with probability p, the product of the 1/p met on a path is an
unbiased estimate of the number of leaves, and their mean over many paths
converges to it.  The tree is lopsided (a preemption taken early leaves a small
subtree, the default rule a large one), so children are drawn in proportion to
a guess of their subtrees' size: with m decisions left and b preemptions,
sum over j <= b of C(m, j) (k - 1)^j, for k tasks that can run (importance
sampling).  A path costs one run, plus one for each choice it makes away from
the default rule (at most the bound, but for free choices).
"""
from dataclasses import dataclass
import math
import random
import statistics
import time

from fuzzmm import _core
from fuzzmm.sched.dependence import steps_of_run
from fuzzmm.sched.explore import preemption_cost, tasks_of
from fuzzmm.sched.schedule import Schedule


@dataclass
class Estimate:
    leaves: float           # the estimated number of runs plain enumeration makes
    probes: int             # random paths walked
    runs: int               # runs they took
    spread: float = 0.0     # the standard error of the mean

    def to_json(self):
        return {"schedules": round(self.leaves), "estimated": True, "probes": self.probes,
                "standard_error": round(self.spread)}


def plain_enumeration(executor, scenario, bound, probes=100, seed=0, deadline=None):
    """An Estimate of the runs plain enumeration of `scenario` within `bound` preemptions
    makes, from `probes` random paths (fewer if `deadline`, a time.monotonic(), passes
    first; always at least one)."""
    rng = random.Random(seed)
    products, runs = [], 0
    while len(products) < probes:
        if products and deadline is not None and time.monotonic() >= deadline:
            break
        steps = _run(executor, scenario, ())
        runs += 1
        product, budget, i = 1.0, bound, 0
        while i < len(steps):
            step = steps[i]
            left = len(steps) - i - 1
            choices = [t for t in tasks_of(step.enabled) if preemption_cost(step, t) <= budget]
            if len(choices) > 1:
                width = max(1, len(choices) - 1)
                weights = [_subtree(left, budget - preemption_cost(step, t), width) for t in choices]
                chosen = rng.choices(choices, weights)[0]
                product *= sum(weights) / weights[choices.index(chosen)]
            else:
                chosen = choices[0]
            budget -= preemption_cost(step, chosen)
            if chosen != step.task:
                prefix = [s.task for s in steps[:i]] + [chosen]
                steps = steps[:i] + _run(executor, scenario, prefix, steps)[i:]
                runs += 1
            i += 1
        products.append(product)
    mean = statistics.fmean(products)
    spread = statistics.stdev(products) / len(products) ** 0.5 if len(products) > 1 else 0.0
    return Estimate(mean, len(products), runs, spread)


def _run(executor, scenario, prefix, steps=None):
    """The steps of the run that takes the decisions of `prefix` (the steps of a run that
    took all but its last, `steps`, say where they left the default rule)."""
    switches = [(k, task) for k, task in enumerate(prefix) if task != steps[k].dflt]
    executor.run_alone(scenario, Schedule.of_switches(switches))
    return steps_of_run(_core.decisions(executor.pool), (), ())


def _subtree(left, budget, width):
    """A guess of the leaves below a decision with `left` decisions after it and `budget`
    preemptions: each of up to `budget` of them may go to one of `width` other tasks."""
    return sum(math.comb(left, j) * width ** j for j in range(budget + 1))
