"""Schedules and run results as plain data.

A schedule is what a strategy hands the executor: either a switch list,
`((step, task), ...)`, interpreted with the default rule (keep the current
task; when it blocks or ends, run the lowest-numbered enabled task), or the
parameters one of the decision routines in the core needs (PCT priorities and
change points, a random-walk seed, a guided order).  Every run records the
switches it actually took, so any run of any strategy replays as a switch list.
"""
from dataclasses import dataclass, field
from typing import Iterable

from fuzzmm.errors import FuzzmmError
from fuzzmm.findings import FindingReport

MAX_STEP = 2 ** 62      # a run's step counter is a signed 64-bit integer


@dataclass(frozen=True)
class Schedule:
    kind: str = "switches"          # "switches", "pct", "random" or "guided"
    switches: tuple = ()            # ((step, task), ...) for "switches"
    priorities: tuple = ()          # PCT: a priority per task, higher runs first
    change_points: tuple = ()       # PCT: steps where the running task drops below all others
    seed: int = 1                   # random walk
    order: tuple = ()               # guided: the task of each operation, in order

    @staticmethod
    def of_switches(switches: "Iterable[tuple[int, int]]") -> "Schedule":
        return Schedule("switches", tuple(sorted((int(s), int(t)) for s, t in switches)))

    def to_json(self):
        return [[s, t] for s, t in self.switches]

    def check(self, ntasks):
        """Raise FuzzmmError unless every switch can be loaded for a run of `ntasks` tasks."""
        from fuzzmm import _core        # here: `fuzzmm --help` reads the strategies without the core
        if len(self.switches) > _core.MAX_SWITCHES:
            raise FuzzmmError(f"a schedule holds at most {_core.MAX_SWITCHES} switches, not {len(self.switches)}")
        for step, task in self.switches:
            if not 0 <= step <= MAX_STEP or not 0 <= task < ntasks:
                raise FuzzmmError(f"switch ({step}, {task}) needs a step from 0 to 2**62 and a task number "
                                  f"below {ntasks}, the scenario's task count")


@dataclass
class RunResult:
    finding: FindingReport = None
    switches: tuple = ()            # the switches this run took: replays it as a "switches" schedule
    switches_complete: bool = True
    steps: int = 0
    mode: str = "controlled"
    events: list = field(default=None, repr=False)

    @property
    def ok(self):
        return self.finding is None

    @property
    def schedule(self):
        return Schedule.of_switches(self.switches)
