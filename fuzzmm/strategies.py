"""Hypothesis strategies for scenarios and schedules, so Hypothesis can shrink both.

A drawn schedule is a switch list or a random walk; shrinking a switch list
removes switches, moves them to earlier steps and to lower-numbered tasks,
which is what a reader of a minimal reproducer wants.
"""
from hypothesis import strategies as st

from fuzzmm.program import Scenario
from fuzzmm.sched.schedule import Schedule


def _op_strategy(name, domains):
    return st.tuples(st.just(name), st.tuples(*[st.sampled_from(values) for _, values in domains]))


def scenarios(program, min_tasks=None, max_tasks=None):
    """Scenarios of `program` (a Program subclass): tasks, each a list of its @op calls."""
    ops = program.ops()
    if not ops:
        raise ValueError(f"{program.__name__} has no @op methods")
    lo_t, hi_t = program.tasks
    lo_o, hi_o = program.ops_per_task
    one_op = st.one_of([_op_strategy(name, domains) for name, domains in ops.items()])
    task = st.lists(one_op, min_size=lo_o, max_size=hi_o).map(tuple)
    return st.lists(task, min_size=min_tasks or lo_t, max_size=max_tasks or hi_t).map(
        lambda tasks: Scenario(tuple(tasks)))


def schedules(max_tasks, max_step=200, max_switches=8):
    """Schedules: a switch list of at most `max_switches` (step, task) pairs with steps
    in 0..max_step, or a random walk from a drawn seed.

    A switch list shrinks well, but a race that needs two preemptions close
    together (in, then out again while the first task is inside) is rare
    among switches spread over a run: Hypothesis missed such a test-and-set
    race in half of its 100-example runs.  A random walk hands the turn over
    at any step, and finds it in a few runs.  Shrinking prefers the switch
    lists, and a walk's run is reported by the switches it actually took."""
    switch = st.tuples(st.integers(0, max_step), st.integers(0, max_tasks - 1))
    switch_lists = st.lists(switch, max_size=max_switches).map(Schedule.of_switches)
    walks = st.integers(0, 2 ** 32 - 1).map(lambda seed: Schedule("random", seed=seed))
    return st.one_of(switch_lists, walks)
