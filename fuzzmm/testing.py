"""Fuzz a program from a pytest suite: `fuzz`, `fuzz_test` and the report of a failure.

    from fuzzmm.testing import fuzz_test
    from my_model import Account, AccountLocked

    test_locked_account = fuzz_test(AccountLocked)                   # any finding fails
    test_racy_account_is_caught = fuzz_test(Account, expect="assertion")

`fuzz_test` returns a pytest test function that uses the plugin's fixtures
(`fuzzmm_executor`, `fuzzmm_profile`): Hypothesis draws scenarios (the program's
default scenario often among them) and schedules, every example is one controlled
run, and a finding is shrunk by Hypothesis to a small scenario and schedule.  A failure is reported as the
finding's signature, the reproducer, its swimlane and a corpus entry to keep,
not as a traceback.  `fuzz(executor, ...)` does the same inside a test of your
own.

The Hypothesis profiles (ci, dev, long) and which one is in use: fuzzmm/profiles.py.
"""
from __future__ import annotations

from dataclasses import dataclass
import json
import time
from typing import TYPE_CHECKING, Any, Callable

from fuzzmm.profiles import PROFILES, SHRINK_RUNS, SHRINK_SECONDS, active_profile, profile_settings

if TYPE_CHECKING:
    from hypothesis import settings as HypothesisSettings
    from fuzzmm.models import ProgramRef
    from fuzzmm.program import Program
    from fuzzmm.sched.executor import Executor

SWIMLANE_LINES = 150          # operations shown at most; the finding is at the end
TRACE_ALL = False             # --fuzzmm-trace-all: failures show every step of the run, none left out


class FuzzFailure(AssertionError):
    """A fuzz test failed; str() is the whole readable report (the plugin shows only that)."""


@dataclass
class FuzzResult:
    runs: int                       # runs made (examples tried, shrinking included)
    finding: object = None          # FindingReport matching `expect`, if one was asked for
    scenario: object = None
    schedule: object = None


def _matches(finding, expect):
    return finding.kind == expect or finding.signature == expect


def swimlane_text(result, scenario, names=None, limit=SWIMLANE_LINES):
    """report.swimlane, keeping the header and at most `limit` operations (the last ones);
    with TRACE_ALL (--fuzzmm-trace-all), every step, none cut."""
    from fuzzmm.report import swimlane
    lines = swimlane(result, scenario, names=names, everything=TRACE_ALL).splitlines()
    if TRACE_ALL:
        return "\n".join(lines)
    tail = 1 if result.finding is not None else 0
    body = lines[2:len(lines) - tail]
    if len(body) > limit:
        body = [f"  ... {len(body) - limit} earlier operations not shown"] + body[-limit:]
    return "\n".join(lines[:2] + body + lines[len(lines) - tail:])


def describe_finding(finding):
    where = f"task {finding.task}" if finding.task >= 0 else "quiescent check"
    where += f", step {finding.step}" if finding.step > 0 else ""       # 0: seen after the run
    return (f"  kind:      {finding.kind}\n"
            f"  signature: {finding.signature}\n"
            f"  message:   {finding.message}\n"
            f"  where:     {finding.function or '?'} ({where})")


def _switches_shrunk(executor, finding, scenario, schedule, seconds, max_runs=None):
    """The failure shrunk further by fuzzmm's minimiser, for at most `seconds` (or `max_runs`).

    Hypothesis shrinks what it drew, but a random walk's switches were recorded
    from the run, not drawn, so only this pass can make them few."""
    from fuzzmm.corpus import Entry, shrink_quickly
    entry = Entry(model="", variant="", program=str(executor.ref), scenario=scenario, schedule=schedule,
                  kind=finding.kind, signature=finding.signature, message=finding.message,
                  past_watchdog=finding.past_watchdog)
    small = shrink_quickly(entry, executor, seconds, max_runs)
    if small is entry:
        return finding, scenario, schedule
    again = executor.run_alone(small.scenario, small.schedule)     # its finding, as the report shows it
    if again.finding is None or again.finding.signature != finding.signature:
        return finding, scenario, schedule
    return again.finding, small.scenario, small.schedule


def _failure_report(executor, finding, scenario, schedule, profile, runs):
    """The text of a FuzzFailure: finding, reproducer, swimlane, and a corpus entry to keep."""
    from fuzzmm.corpus.entry import Entry
    from fuzzmm.program_names import model_name, replayable_source
    cls = type(executor.program)
    again = executor.run_alone(scenario, schedule, keep_events=True)
    entry = Entry(model=model_name(cls, executor.ref), variant=cls.variant,
                  program=f"{replayable_source(executor.ref.source)}:{executor.ref.qualname}",
                  scenario=scenario, schedule=schedule, kind=finding.kind, signature=finding.signature,
                  message=finding.message, past_watchdog=finding.past_watchdog,
                  found_by={"strategy": "hypothesis", "profile": profile})
    text = [f"fuzzmm found {finding.signature} in {cls.name} variant {cls.variant} "
            f"({executor.ref}) in {runs} runs, profile {profile}",
            describe_finding(finding),
            f"  scenario:  {scenario.describe()}",
            f"  switches:  {list(schedule.switches)}"]
    if again.finding is None or again.finding.signature != finding.signature:
        got = again.finding.signature if again.finding else "no finding"
        text.append(f"  warning:   replaying it gave {got}: "
                    "the program has nondeterminism outside the schedule")
    text += ["", swimlane_text(again, scenario, executor.object_names), "",
             f"To replay it in CI, save this line as <corpus dir>/{entry.file_name()} and run "
             "pytest --fuzzmm-corpus <corpus dir>:",
             json.dumps(entry.to_json(), separators=(",", ":"))]
    return "\n".join(text)


def fuzz(executor: Executor, profile: str | HypothesisSettings | None = None, expect: str | None = None,
         max_switches: int = 8, max_step: int | None = None, shrink_s: float | None = None,
         **overrides: Any) -> FuzzResult:
    """Fuzz the executor's program with Hypothesis, one controlled run per example.

    Without `expect`, any finding fails: FuzzFailure with the shrunk reproducer.
    With `expect` (a kind such as "assertion", or a full signature), the test
    passes once a matching finding shows and fails if none does within the
    budget; other findings are ignored.  `profile` is a fuzzmm profile name
    (default: the active one, see active_profile) or a Hypothesis settings
    object; `overrides` replace single settings (max_examples=..., ...).
    `max_step` bounds the steps at which switches are drawn (default: the
    steps of the program's default scenario).  Shrinking stops after
    `shrink_s` seconds with the smallest failure so far; by default after
    SHRINK_SECONDS of the profile, or, in a derandomized profile (ci), after
    SHRINK_RUNS runs, so that a slow machine reports what a fast one does.  A
    hang the watchdog ended is reported as first found, unshrunk: each try of
    it would last the watchdog.  Returns a FuzzResult.
    """
    from hypothesis import settings as Settings
    from fuzzmm.errors import FuzzmmError
    from fuzzmm.sched import draws
    from fuzzmm.sched.hypothesis_loop import Verdict, ended_by_watchdog, run_examples

    if (error := _expect_error(expect)) is not None:
        raise FuzzmmError(error)
    if isinstance(profile, str) and profile not in PROFILES:
        raise FuzzmmError(f"profile {profile!r}: choose one of {', '.join(PROFILES)}")
    shrink_in_runs = shrink_s is None       # the profile's bound, counted in runs where derandomized
    if profile is None or isinstance(profile, str):
        name = profile or active_profile()[0]
        settings, profile = profile_settings(name), f"fuzzmm-{name}"
        shrink_s = SHRINK_SECONDS[name] if shrink_s is None else shrink_s
    else:
        settings, profile = profile, "given by the caller"
    if overrides:
        settings = Settings(settings, **overrides)
    cls = type(executor.program)
    if executor.nworkers < cls.tasks[0]:
        raise FuzzmmError(f"the executor has {executor.nworkers} workers but {cls.__name__} runs at least "
                          f"{cls.tasks[0]} tasks at once")
    ntasks = min(cls.tasks[1], executor.nworkers)
    try:
        default = executor.default_scenario()
    except FuzzmmError:
        if max_step is None:        # it was needed to size the switches
            raise
        default = None              # only a help to the search
    if default is not None and not min(cls.tasks[0], ntasks) <= default.ntasks <= ntasks:
        default = None
    if max_step is None:
        sized = executor.run(default) if default is not None else None
        max_step = min(max(16, sized.steps if sized else 0), 5000)
        if sized is not None and ended_by_watchdog(sized.finding):
            if expect is None:      # found already, and every further try would last the watchdog
                raise FuzzFailure(_failure_report(executor, sized.finding, default, sized.schedule, profile, 1))
            if _matches(sized.finding, expect):
                return FuzzResult(1, sized.finding, default, sized.schedule)

    state = {"runs": 0, "other": None, "first_failure_t": None, "first_failure_run": 0}

    def shrunk_enough():
        """Shrinking is over budget: in seconds, or, in a derandomized profile, in runs, so
        that a slow or loaded machine reports the same reproducer as a fast one."""
        if state["first_failure_t"] is None or shrink_s is None:
            return False
        if settings.derandomize and shrink_in_runs and shrink_s > 0:
            return state["runs"] - state["first_failure_run"] > SHRINK_RUNS
        return time.monotonic() - state["first_failure_t"] > shrink_s

    def judge(scenario, result):
        state["runs"] += 1
        finding = result.finding
        if finding is None or not result.switches_complete:
            return Verdict.PASS     # a run whose switches were not all recorded could not be reported as a replay
        if expect is None:
            if state["first_failure_t"] is None:
                state["first_failure_t"], state["first_failure_run"] = time.monotonic(), state["runs"]
            return Verdict.FAILS
        if _matches(finding, expect):
            return Verdict.FOUND
        if state["other"] is None:
            state["other"] = (finding, scenario, result.schedule)
        return Verdict.NOTED

    outcome = run_examples(executor,
                           draws.scenarios(cls, min_tasks=min(cls.tasks[0], ntasks), max_tasks=ntasks,
                                           default=default),
                           draws.schedules(ntasks, max_step=max_step, max_switches=max_switches, pct=True),
                           settings, judge, should_stop=shrunk_enough,
                           # Distinct database keys and derandomized seeds per program and expectation.
                           digest=f"{executor.ref}|{expect}".encode())
    if outcome.verdict is Verdict.FOUND:
        return FuzzResult(state["runs"], *outcome.example)
    if outcome.verdict is Verdict.NOTED:        # a hang the watchdog ended, not searched past
        state["other"] = outcome.example
    if outcome.verdict is Verdict.FAILS:        # the smallest failing example, or a hang as first found
        failed = outcome.example
        if shrink_s != 0:
            from fuzzmm.corpus.minimize import QUICK_RUNS, QUICK_S
            failed = _switches_shrunk(executor, *failed, seconds=min(QUICK_S, shrink_s or QUICK_S),
                                      max_runs=QUICK_RUNS if settings.derandomize else None)
        raise FuzzFailure(_failure_report(executor, *failed, profile, state["runs"])) from None
    if expect is not None:
        text = (f"fuzzmm: expected a finding matching {expect!r} in {cls.name} variant {cls.variant} "
                f"({executor.ref}); none in {state['runs']} runs, profile {profile}")
        if state["other"] is not None:
            finding, scenario, schedule = state["other"]
            text += (f"\n  saw instead {finding.signature}: {finding.message}\n"
                     f"  scenario:  {scenario.describe()}\n  switches:  {list(schedule.switches)}")
        raise FuzzFailure(text)
    return FuzzResult(state["runs"])


def _expect_error(expect):
    """What is wrong with an `expect=` argument, in one line, or None."""
    from fuzzmm.errors import FINDING_KINDS
    if expect is not None:
        kind = expect.split("@", 1)[0] if isinstance(expect, str) else None
        if kind not in FINDING_KINDS:
            return f"expect={expect!r}: give a finding kind ({', '.join(FINDING_KINDS)}) or a signature kind@function"
    return None


def _definition_error(program, expect, workers, max_switches, max_step, shrink_s, settings):
    """What is wrong with fuzz_test's arguments, in one line, or None.

    Checked where the test is defined, so a misspelt kind or setting fails the
    test at once instead of after a whole budget spent fuzzing for nothing."""
    import inspect
    from hypothesis import settings as Settings
    from hypothesis.errors import InvalidArgument
    from fuzzmm.models import ProgramRef
    from fuzzmm.program import Program
    if not (isinstance(program, ProgramRef) or (inspect.isclass(program) and issubclass(program, Program))):
        return f"fuzz_test({program!r}): expected a Program subclass or a ProgramRef"
    if (error := _expect_error(expect)) is not None:
        return error
    for name, value, lowest in (("workers", workers, 1), ("max_switches", max_switches, 0), ("max_step", max_step, 1)):
        if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < lowest):
            return f"{name}={value!r}: expected a whole number from {lowest}"
    if shrink_s is not None and (not isinstance(shrink_s, (int, float)) or not shrink_s >= 0):
        return f"shrink_s={shrink_s!r}: expected a number of seconds"
    least = program.tasks[0] if inspect.isclass(program) else 1
    if workers is not None and workers < least:
        return (f"workers={workers}: {program.__name__} runs at least {least} tasks at once, "
                f"so fewer workers could run none of its scenarios")
    try:
        Settings(**settings)
    except (TypeError, InvalidArgument) as exc:
        return f"fuzz_test settings: {exc}"
    return None


def fuzz_test(program: type[Program] | ProgramRef, expect: str | None = None, *, workers: int | None = None,
              max_switches: int = 8, max_step: int | None = None, shrink_s: float | None = None,
              **settings: Any) -> Callable[..., None]:
    """A pytest test function that fuzzes `program` (a Program subclass or a ProgramRef).

    Assign it to a test_* name in a test module or a test class.  It is marked
    `fuzzmm`, uses the plugin's `fuzzmm_executor` and `fuzzmm_profile` fixtures,
    and calls `fuzz` (see there for `expect`, `max_switches`, `max_step`,
    `shrink_s` and the Hypothesis `settings` overrides).  `workers` is the
    executor's worker count (default: the program's most tasks).  Arguments
    that cannot work (an unknown kind in `expect`, a misspelt setting) fail
    the test at once with one line.
    """
    import pytest
    error = _definition_error(program, expect, workers, max_switches, max_step, shrink_s, settings)

    def test(fuzzmm_profile, request):
        # In a test class pytest passes the instance in the first slot and only the
        # later names as fixtures, so the fixtures themselves are read from `request`.
        from fuzzmm.errors import FuzzmmError
        message = error
        if message is None:
            try:
                executor = request.getfixturevalue("fuzzmm_executor")(program, workers=workers)
                fuzz(executor, request.getfixturevalue("fuzzmm_profile"), expect=expect,
                     max_switches=max_switches, max_step=max_step, shrink_s=shrink_s, **settings)
                return
            except FuzzmmError as exc:
                message = str(exc)
        pytest.fail(f"fuzzmm: error: {message}", pytrace=False)    # outside the except: one report

    name = getattr(program, "__name__", None) or getattr(program, "qualname", "program")
    test.__name__ = test.__qualname__ = f"test_fuzz_{name}"
    test.__doc__ = (f"fuzzmm: fuzz {name}; " +
                    (f"expect a {expect} finding" if expect else "any finding fails"))
    return pytest.mark.fuzzmm(test)


from fuzzmm.testing_verify import verify_test  # noqa: E402,F401  (every schedule within a bound, beside fuzz_test)
