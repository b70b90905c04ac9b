"""Fuzzing my_model in this project's own test suite.

fuzzmm's pytest plugin is loaded automatically once fuzzmm is installed; it
provides the fixtures used here and `--fuzzmm-corpus DIR` replay.
"""
from fuzzmm import Scenario, Schedule, fuzz_test

from my_model import Account, AccountLocked

# Hypothesis draws scenarios and schedules; any finding fails the test and is
# reported as its signature, the shrunk reproducer and its swimlane.
test_locked_account_is_never_overdrawn = fuzz_test(AccountLocked)

# The racy variant must be caught: a regression test for the model itself.
test_racy_account_is_caught = fuzz_test(Account, expect="assertion")


def test_one_interleaving_by_hand(fuzzmm_executor):
    """One schedule, spelled out: task 0 checks the balance, then task 1 runs from step 2."""
    executor = fuzzmm_executor(Account)
    both_take_70 = Scenario.of([[("withdraw", (70,))], [("withdraw", (70,))]])
    assert executor.run(both_take_70).finding is None              # one after the other: fine
    result = executor.run(both_take_70, Schedule.of_switches([(2, 1)]))
    assert result.finding is not None and result.finding.kind == "assertion"
    assert "overdrawn" in result.finding.message
