"""The one Hypothesis loop: Hypothesis draws a scenario and a schedule, each example is one run.

Search's `hypothesis` strategy and `fuzzmm.testing.fuzz` both run Hypothesis
through `run_examples`.  They pass in what differs between them (the settings,
the draws, and a `judge` that says what each run means to them) and get back
how the loop ended.  What they share is written here only: each example runs
on its own (Hypothesis shrinks only examples that stand alone, and a
lock-order cycle must close within one run), Hypothesis's reporter is
silenced, a failing example is raised for Hypothesis to shrink, the loop is
ended at once by a BaseException (which Hypothesis neither retries nor
shrinks), and a hang the watchdog ended is neither shrunk nor searched past,
since each try of it would last the watchdog.
"""
from dataclasses import dataclass
import enum

from hypothesis import given, seed as hypothesis_seed
from hypothesis.reporting import with_reporter



class Verdict(enum.Enum):
    """What one run means to the judge that `run_examples` is given."""
    PASS = "pass"        # nothing it looks for: go on
    NOTED = "noted"      # a finding it takes note of but does not look for: go on
    FAILS = "fails"      # a failing example: Hypothesis shrinks it, trying smaller ones
    FOUND = "found"      # what it looks for: the loop ends at once


@dataclass
class Outcome:
    """How a loop ended.  `example` is a (finding, scenario, schedule): the run that ended the
    loop (FOUND, or a noted or failing run the watchdog ended: `hung`), else the smallest
    failing example (FAILS), else None (no run failed)."""
    verdict: Verdict | None = None
    example: tuple | None = None
    hung: bool = False


def ended_by_watchdog(finding):
    """Whether `finding` is a hang the watchdog ended, each run of which lasts the watchdog
    (shrinking it would cost that per try)."""
    return finding is not None and finding.past_watchdog


class _Stop(BaseException):
    """Ends Hypothesis at once: a BaseException is neither retried nor shrunk."""


class _Fails(Exception):
    """A failing example, raised for Hypothesis to shrink; args[0] is (finding, scenario, schedule)."""


class _Examples:
    """The runs of one loop and what they showed."""

    def __init__(self, executor, judge, should_stop):
        self.executor = executor
        self.judge = judge
        self.should_stop = should_stop
        self.failing = None        # the last failing example: each one Hypothesis tries after the first is smaller
        self.ended = None          # the Outcome of a run that ended the loop

    def run(self, scenario, schedule):
        if self.should_stop is not None and self.should_stop():
            raise _Stop()
        result = self.executor.run_alone(scenario, schedule)   # Hypothesis needs each example to stand alone
        verdict = self.judge(scenario, result)
        if verdict is Verdict.PASS:
            return
        example = (result.finding, scenario, result.schedule)
        if verdict is Verdict.FAILS:
            self.failing = example
        hung = verdict is not Verdict.FOUND and ended_by_watchdog(result.finding)
        if verdict is Verdict.FOUND or hung:
            self.ended = Outcome(verdict, example, hung)
            raise _Stop()
        if verdict is Verdict.FAILS:
            raise _Fails(example)


def _silent(*args, **kwargs):
    pass


def run_examples(executor, scenarios, schedules, settings, judge, *, should_stop=None, seed=None, digest=None):
    """Run Hypothesis under `settings` over examples drawn from `scenarios` and `schedules`
    (Hypothesis strategies), each one `executor.run_alone`, and return an Outcome.

    `judge(scenario, result)` gives each run its Verdict; it may keep counts and notes of
    its own.  `should_stop()`, asked before each run, ends the loop when true (keeping the
    smallest failing example so far).  `seed` fixes Hypothesis's seed; `digest` (bytes)
    tells apart the example database keys and derandomized seeds of loops over the same
    draws, e.g. one per program."""
    examples = _Examples(executor, judge, should_stop)

    # Hypothesis derives a derandomized seed and the example database's key from this
    # function's source: it is kept this small so that changes around it keep both.
    def example(scenario, schedule):
        examples.run(scenario, schedule)

    if digest is not None:
        example._hypothesis_internal_add_digest = digest
    test = settings(given(scenario=scenarios, schedule=schedules)(example))
    if seed is not None:
        test = hypothesis_seed(seed)(test)
    try:
        with with_reporter(_silent):
            test()
    except _Stop:
        pass
    except _Fails as failure:
        return Outcome(Verdict.FAILS, failure.args[0])
    except BaseExceptionGroup as group:          # e.g. Hypothesis's FlakyFailure
        if group.split(_Fails)[0] is None:
            raise
    if examples.ended is not None:
        return examples.ended
    return Outcome(Verdict.FAILS, examples.failing) if examples.failing is not None else Outcome()
