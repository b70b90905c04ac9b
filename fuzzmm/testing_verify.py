"""Verify a program from a pytest suite: `verify_test`.

    from fuzzmm.testing import verify_test
    from my_model import AccountLocked

    test_account_verified = verify_test(AccountLocked, preemptions=2,
                                        scenarios=["deposit(5) | withdraw(3)"])

The test runs every schedule of each scenario within the preemption bound
(fuzzmm.verification).  A finding fails it as `fuzz_test` does: the signature, the
reproducer, its swimlane and a corpus line to keep.  A bound not exhausted within
`max_runs` or `duration` fails it too: it never reads as verified.  A passing test
says how many schedules it ran in a report section (`pytest -rP` shows it), e.g.
"1,234 schedules, every interleaving within 2 preemptions".
"""
import json
import time


def _scenarios_of(program, scenarios):
    """The scenarios to verify, as Scenario objects (text as a corpus line describes it, or
    nested lists as a corpus file holds them); None: the program's default one."""
    from fuzzmm.program import Scenario
    from fuzzmm.verification import parse_scenario
    if scenarios is None:
        return None
    out = []
    for scenario in scenarios:
        if isinstance(scenario, str):
            scenario = parse_scenario(scenario)
        elif not isinstance(scenario, Scenario):
            scenario = Scenario.of(scenario)
        out.append(scenario)
    return out


def _finding_report(executor, verdict, bound):
    """The text of a failure: finding, reproducer, swimlane, and a corpus entry to keep."""
    from fuzzmm.corpus.entry import Entry
    from fuzzmm.program_names import model_name, replayable_source
    from fuzzmm.testing import describe_finding, swimlane_text
    cls = type(executor.program)
    finding, scenario, schedule = verdict.finding, verdict.scenario, verdict.schedule
    again = executor.run_alone(scenario, schedule, keep_events=True)
    entry = Entry(model=model_name(cls, executor.ref), variant=cls.variant,
                  program=f"{replayable_source(executor.ref.source)}:{executor.ref.qualname}",
                  scenario=scenario, schedule=schedule, kind=finding.kind, signature=finding.signature,
                  message=finding.message,
                  found_by={"strategy": "verify", "preemptions": verdict.preemptions, "bound": bound})
    took = f", {verdict.preemptions} preemption(s)" if verdict.preemptions is not None else ""
    return "\n".join([
        f"fuzzmm found {finding.signature} in {cls.name} variant {cls.variant} ({executor.ref}) after "
        f"{verdict.schedules:,} schedules, verifying every interleaving within {bound} preemptions{took}",
        describe_finding(finding),
        f"  scenario:  {scenario.describe()}",
        f"  switches:  {list(schedule.switches)}",
        "", swimlane_text(again, scenario, executor.object_names), "",
        f"To replay it in CI, save this line as <corpus dir>/{entry.file_name()} and run "
        "pytest --fuzzmm-corpus <corpus dir>:",
        json.dumps(entry.to_json(), separators=(",", ":"))])


def verify(executor, preemptions=2, scenarios=None, max_runs=None, duration=None):
    """Verify the executor's program on `scenarios` (default: its default scenario) within
    `preemptions`: the list of Verdicts.  FuzzFailure on a finding or on a bound not
    exhausted within `max_runs` (runs, every scenario together) or `duration` seconds."""
    from fuzzmm.testing import FuzzFailure
    from fuzzmm.verification import FOUND, UNFINISHED, verify_scenario
    chosen = _scenarios_of(type(executor.program), scenarios) or [executor.default_scenario()]
    deadline = time.monotonic() + duration if duration else None
    verdicts, left = [], max_runs
    for scenario in chosen:
        verdict = verify_scenario(executor, scenario, preemptions, max_runs=left, deadline=deadline,
                                  plain_probes=0)
        verdicts.append(verdict)
        if left is not None:
            left -= verdict.schedules
        if verdict.status == FOUND:
            raise FuzzFailure(_finding_report(executor, verdict, preemptions))
        if verdict.status == UNFINISHED:
            got = (f"every schedule within {verdict.verified_bound} preemption(s) covered"
                   if verdict.verified_bound >= 0 else "no bound covered whole")
            raise FuzzFailure(f"fuzzmm: NOT verified: {scenario.describe()}: the limits came after "
                              f"{verdict.schedules:,} schedules, {got}; at least {verdict.pending:,} schedules "
                              f"within {len(verdict.by_bound) - 1} preemption(s) left to explore")
    return verdicts


def summary(verdicts, preemptions):
    """'N schedules, every interleaving within K preemptions', for a passing test."""
    schedules = sum(v.schedules for v in verdicts)
    scenarios = f" ({len(verdicts)} scenarios)" if len(verdicts) > 1 else ""
    return f"{schedules:,} schedules{scenarios}, every interleaving within {preemptions} preemptions"


def verify_test(program, preemptions=2, scenarios=None, *, workers=None, max_runs=None, duration=None):
    """A pytest test function that verifies `program` (a Program subclass or a ProgramRef)
    on `scenarios` within `preemptions` preemptions.

    `scenarios` is a list of scenarios, each a Scenario, its text as a corpus line
    describes it ("increment(1) | increment(2)") or its nested lists; by default the
    program's default scenario.  `max_runs` (every scenario together) and `duration`
    (seconds) limit it: a bound not exhausted within them fails the test.  `workers`
    is the executor's worker count (default: the most tasks of the scenarios, else the
    program's most tasks).  Assign it to a test_* name; it is marked `fuzzmm` and uses
    the plugin's `fuzzmm_executor` fixture."""
    import pytest
    from fuzzmm.errors import FuzzmmError
    error = None
    try:
        chosen = _scenarios_of(program, scenarios)
        if not isinstance(preemptions, int) or isinstance(preemptions, bool) or preemptions < 0:
            raise FuzzmmError(f"preemptions={preemptions!r}: expected a whole number from 0")
    except FuzzmmError as exc:
        chosen, error = None, str(exc)

    def test(request):
        message = error
        if message is None:
            try:
                count = workers or (max(s.ntasks for s in chosen) if chosen else None)
                executor = request.getfixturevalue("fuzzmm_executor")(program, workers=count)
                verdicts = verify(executor, preemptions, chosen, max_runs=max_runs, duration=duration)
                text = summary(verdicts, preemptions)
                request.node.add_report_section("call", "fuzzmm", text)
                request.node.user_properties.append(("fuzzmm", text))
                return
            except FuzzmmError as exc:
                message = str(exc)
        pytest.fail(f"fuzzmm: error: {message}", pytrace=False)

    name = getattr(program, "__name__", None) or getattr(program, "qualname", "program")
    test.__name__ = test.__qualname__ = f"test_verify_{name}"
    test.__doc__ = f"fuzzmm: verify {name}: every interleaving within {preemptions} preemptions"
    return pytest.mark.fuzzmm(test)
