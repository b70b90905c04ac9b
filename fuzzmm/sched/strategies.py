"""Strategies that hand the executor schedules, one run at a time, and the registry of them all.

A strategy plays the part of a scheduler that is told a run begins and asked
who runs next; since that choice is made inside the workers, a strategy here
only produces the data one decision routine interprets (a switch list, PCT
priorities and change points, a random-walk seed).  The `hypothesis` strategy
is different in kind: Hypothesis drives the loop (sched/hypothesis_loop.py),
so Search runs it there instead of asking it for schedules.

STRATEGIES, at the end, is the one list of strategies: the CLI's help and
choices, the campaign portfolio and Search's construction all come from it.
A new strategy is a class here and a line in STRATEGIES (and, if it needs one, a
decision routine in the core).
"""
from dataclasses import dataclass
import random
from typing import Callable

from fuzzmm.sched.schedule import Schedule


class Strategy:
    mode = "controlled"
    drives_the_loop = False        # True: it runs its own loop of runs (Hypothesis) instead of schedule()

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

    def schedule(self, ntasks):
        return Schedule("random", seed=self.rng.getrandbits(63) | 1)


class PCT(Strategy):
    """Probabilistic concurrency testing: random distinct task priorities and d-1
    change points, at each of which the running task drops below every other.
    Finds any bug of depth d with probability at least 1/(n k^(d-1))."""

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
    mode = "chaos"

    def __init__(self, seed=0, delay_prob=0.05, delay_max_ns=20000):
        super().__init__(seed)
        self.delay_prob = delay_prob
        self.delay_max_ns = delay_max_ns

    def schedule(self, ntasks):
        return Schedule("switches")


class HypothesisDraws(Strategy):
    """Hypothesis draws the scenario and the schedule (sched/draws.py) and shrinks the
    first failure it sees: it drives the loop, so it hands out no schedules one by one."""
    drives_the_loop = True

    def schedule(self, ntasks):
        raise TypeError("Hypothesis draws its own schedules: run it through Search")


@dataclass(frozen=True)
class Registered:
    """A strategy as the CLI, the campaign portfolio and Search know it."""
    name: str
    summary: str                             # one line, for --help
    in_portfolio: bool                       # run by a campaign's portfolio, each on its own executor
    make: Callable[[int, int], Strategy]     # make(seed, pct_depth): a fresh strategy

    @property
    def free_running(self):
        """Whether its runs let every task run at once (chaos mode), wanting every core rather
        than one pinned CPU."""
        return self.make(1, 3).mode == "chaos"


STRATEGIES = {r.name: r for r in (          # in the order --help lists them and a portfolio runs them
    Registered("pct", "random task priorities with d-1 change points", True,
               lambda seed, pct_depth: PCT(seed, depth=pct_depth)),
    Registered("random", "a random walk, any enabled task at every point", True,
               lambda seed, pct_depth: RandomWalk(seed)),
    Registered("hypothesis", "Hypothesis draws and shrinks the scenario and schedule", True,
               lambda seed, pct_depth: HypothesisDraws(seed)),
    Registered("chaos", "all tasks in parallel with injected delays", True,
               lambda seed, pct_depth: Chaos(seed)),
)}

PORTFOLIO = tuple(name for name, r in STRATEGIES.items() if r.in_portfolio)
PORTFOLIO_NAME = "portfolio"
PORTFOLIO_SUMMARY = "each of the others on its own executor"


def summaries():
    """Each strategy's name and one-line summary, then the portfolio's: the choices of `--strategy`."""
    return {**{name: r.summary for name, r in STRATEGIES.items()}, PORTFOLIO_NAME: PORTFOLIO_SUMMARY}
