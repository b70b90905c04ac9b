"""Hypothesis draws of scenarios and schedules, so Hypothesis can shrink both.

A drawn schedule is a switch list, a random walk or a PCT schedule; shrinking
a switch list removes switches, moves them to earlier steps and to
lower-numbered tasks, which is what a reader of a minimal reproducer wants.
"""
import random

from hypothesis import strategies as st

from fuzzmm.program import Scenario
from fuzzmm.sched.schedule import Schedule
from fuzzmm.sched.strategies import pct_schedule


def _op_strategy(name, domains):
    return st.tuples(st.just(name), st.tuples(*[st.sampled_from(values) for _, values in domains]))


def scenarios(program, min_tasks=None, max_tasks=None, default=None):
    """Scenarios of `program` (a Program subclass): tasks, each a list of its @op calls.

    `default`, a scenario such as the program's default_scenario(), is drawn often
    (about a third of the examples): it is the case the author wrote down as the
    interesting one, and a race in it needs only the right schedule, not also the
    right ops."""
    ops = program.ops()
    if not ops:
        raise ValueError(f"{program.__name__} has no @op methods")
    lo_t, hi_t = program.tasks
    lo_o, hi_o = program.ops_per_task
    one_op = st.one_of([_op_strategy(name, domains) for name, domains in ops.items()])
    task = st.lists(one_op, min_size=lo_o, max_size=hi_o).map(tuple)
    drawn = st.lists(task, min_size=min_tasks or lo_t, max_size=max_tasks or hi_t).map(
        lambda tasks: Scenario(tuple(tasks)))
    return drawn if default is None else st.one_of(drawn, st.just(default))   # shrinks toward drawn


def _pct(seed, ntasks, max_step, depth=3):
    """The PCT schedule of a seed, drawn as a campaign draws one: uniform, which Hypothesis's
    own draws of priorities and steps, biased toward small values, are not."""
    return pct_schedule(random.Random(seed), ntasks, max(1, max_step), depth)


def schedules(max_tasks, max_step=200, max_switches=8, pct=False):
    """Schedules: a switch list of at most `max_switches` (step, task) pairs with steps
    in 0..max_step, or a random walk from a drawn seed; with `pct`, also PCT
    priorities and two change points.

    A switch list shrinks well, but a race that needs two preemptions close
    together (in, then out again while the first task is inside) is rare
    among switches spread over a run: Hypothesis missed such a test-and-set
    race in half of its 100-example runs.  A random walk hands the turn over
    at any step, and finds it in a few runs.  In a campaign PCT runs as a
    strategy of its own; in a pytest fuzz test Hypothesis is the only search,
    so there it draws PCT schedules too (about a fifth of its schedules),
    which found a reference taken after an unlock in a median of 19 examples
    against 75 without (16 tries each).  Shrinking prefers the switch lists; a
    walk's or a PCT run's switches are reported as it actually took them."""
    switch = st.tuples(st.integers(0, max_step), st.integers(0, max_tasks - 1))
    switch_lists = st.lists(switch, max_size=max_switches).map(Schedule.of_switches)
    walks = st.integers(0, 2 ** 32 - 1).map(lambda seed: Schedule("random", seed=seed))
    if not pct:
        return st.one_of(switch_lists, walks)
    pcts = st.integers(0, 2 ** 32 - 1).map(lambda seed: _pct(seed, max_tasks, max_step))
    return st.one_of(switch_lists, pcts, walks)
