"""Scheduling: schedules as data, the executor with its persistent workers, and strategies."""
from fuzzmm.findings import FindingReport  # noqa: F401
from fuzzmm.sched.schedule import Schedule, RunResult  # noqa: F401
from fuzzmm.sched.executor import Executor  # noqa: F401
