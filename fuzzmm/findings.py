"""Findings as plain data: what a detector saw in one run.

A FindingReport is made where a run's verdict is drawn (sched/verdict.py), from
a task's result slot or from what the parent saw, and by the detectors
(lockdep); the search, the corpus and the reports read it.  It sits below them
all so that none of them has to import another to name a finding.
"""
from dataclasses import dataclass


@dataclass(frozen=True)
class FindingReport:
    """What a detector saw in one run."""
    kind: str
    message: str
    function: str = ""              # the model function where it was detected
    line: int = 0
    task: int = -1
    step: int = 0
    obj: int = None                 # the object it concerns, as the event ring names objects
    tasks: tuple = ()               # the tasks it involves: a deadlock's cycle of waits
    # A hang the watchdog ended, each run of which lasts the watchdog (shrinking it would
    # cost that per try), rather than one at the step limit.  Set in sched/verdict.py alone.
    past_watchdog: bool = False

    @property
    def signature(self):
        return f"{self.kind}@{self.function}" if self.function else self.kind

    def to_json(self):
        return {"kind": self.kind, "signature": self.signature, "message": self.message,
                "function": self.function, "line": self.line, "task": self.task, "step": self.step,
                "obj": self.obj}


def past_watchdog(kind, message):
    """Whether a finding known only by its kind and message (a record written before
    findings carried `past_watchdog`) is a hang the watchdog ended.  The executor says
    "watchdog" in every such message."""
    return kind == "hang" and "watchdog" in message
