"""Strategies that hand the executor schedules, one run at a time.

A strategy plays the part of a scheduler that is told a run begins and asked
who runs next; since that choice is made inside the workers, a strategy here
only produces the data one decision routine interprets (a switch list, PCT
priorities and change points, a random-walk seed).  The `hypothesis` strategy
is different in kind: Hypothesis drives the loop, so it lives in search.py.
"""
import random

from fuzzmm.sched.schedule import Schedule


class Strategy:
    name = "?"
    mode = "controlled"

    def __init__(self, seed=0):
        self.rng = random.Random(seed)
        self.steps_seen = 100      # a running estimate of a run's length, for choosing steps

    def observe(self, result):
        """Learn from a finished run (how many steps it took)."""
        if result.steps:
            self.steps_seen = max(8, (3 * self.steps_seen + result.steps) // 4)

    def schedule(self, ntasks):
        raise NotImplementedError


class RandomWalk(Strategy):
    """At every scheduling point, a uniformly random enabled task runs next."""
    name = "random"

    def schedule(self, ntasks):
        return Schedule("random", seed=self.rng.getrandbits(63) | 1)


class PCT(Strategy):
    """Probabilistic concurrency testing: random distinct task priorities and d-1
    change points, at each of which the running task drops below every other.
    Finds any bug of depth d with probability at least 1/(n k^(d-1))."""
    name = "pct"

    def __init__(self, seed=0, depth=3):
        super().__init__(seed)
        if not 1 <= depth <= 9:
            raise ValueError(f"PCT depth must be 1..9, not {depth}")
        self.depth = depth

    def schedule(self, ntasks):
        return pct_schedule(self.rng, ntasks, max(2, int(self.steps_seen * 1.2)), self.depth)


def pct_schedule(rng, ntasks, last_step, depth):
    """Distinct random priorities for `ntasks` tasks and depth-1 change points in 1..last_step."""
    priorities = list(range(ntasks))
    rng.shuffle(priorities)
    points = tuple(sorted(rng.randint(1, last_step) for _ in range(depth - 1)))
    return Schedule("pct", priorities=tuple(priorities), change_points=points)


class Chaos(Strategy):
    """All tasks run truly in parallel, with small random delays at scheduling points."""
    name = "chaos"
    mode = "chaos"

    def __init__(self, seed=0, delay_prob=0.05, delay_max_ns=20000):
        super().__init__(seed)
        self.delay_prob = delay_prob
        self.delay_max_ns = delay_max_ns

    def schedule(self, ntasks):
        return Schedule("switches")


STRATEGIES = {"random": RandomWalk, "pct": PCT, "chaos": Chaos}
