"""Runs that end badly: deadlock, a dead worker, a hang; the executor carries on after each."""
import os
import subprocess
import time

import pytest

from fuzzmm import _core
from fuzzmm.errors import FuzzmmError
from fuzzmm.program import Scenario, op
from fuzzmm.sched.schedule import Schedule
from fuzzmm.sched.search import Search

from programs import (BusyWait, Crash, DefaultSpins, DoublePut, Exits, Forks, HiddenTake, LeakedLock, LockOrder,
                      LockOrderWithBystander, LockOrderWithWaiter, MutexTrylock, ParentSpins, Rendezvous, Spin,
                      UnknownKind, WeakTable, WeakTablePlainGet)
from waiting import LATE_S, within


def test_lock_order_inversion_is_a_deadlock_with_its_cycle(make_executor):
    """Two mutexes taken in opposite orders deadlock; the report names each wait, by the
    program's attribute, and its holder."""
    ex = make_executor(LockOrder, lockdep=False)
    result = ex.run(ex.program.default_scenario(), Schedule.of_switches([(2, 1)]))
    assert result.finding is not None and result.finding.kind == "deadlock"
    message = result.finding.message
    assert "task 0 waits for mutex b (@" in message and "held by task 1" in message
    assert "task 1 waits for mutex a (@" in message and "held by task 0" in message


@pytest.mark.parametrize("tasks", [[["ba"], ["poll_a", "ba"]], [["b_then_try_a"], ["ab"]], [["ab"], ["b_then_try_a"]]])
def test_a_mutex_trylock_failed_or_taken_closes_no_lock_order_cycle(make_executor, tasks):
    """Under every single switch, a mutex trylock (which cannot wait) adds no lock dependency,
    and one that failed is not held afterwards."""
    ex = make_executor(MutexTrylock)
    scenario = Scenario.of([[(name, ()) for name in task] for task in tasks])
    for step in range(30):
        for switches in ([], [(step, 1)], [(step, 1), (step + 2, 0)]):
            result = ex.run_alone(scenario, Schedule.of_switches(switches))
            assert result.ok, (switches, result.finding)


def test_one_deadlock_cycle_has_one_signature_whoever_blocks_last(make_executor):
    """Whichever task of the cycle blocks last, and whether a task waiting on the cycle from
    outside blocks after it, the deadlock is named after the cycle's first function."""
    ex = make_executor(LockOrderWithWaiter, lockdep=False)
    signatures = set()
    for tasks in ([["ab"], ["ba"], ["wait_a"]], [["ba"], ["ab"], ["wait_a"]], [["wait_a"], ["ab"], ["ba"]]):
        scenario = Scenario.of([[(name, ()) for name in task] for task in tasks])
        for first in range(1, 6):
            for second in range(first, 9):
                result = ex.run(scenario, Schedule.of_switches([(first, 1), (second, 2)]))
                if result.finding is not None:
                    signatures.add(result.finding.signature)
    assert signatures == {"deadlock@LockOrder.ab"}


def test_a_deadlock_in_a_hidden_helper_is_named_after_the_op_that_called_it(make_executor):
    """Locks taken through a `__tracebackhide__` helper: the deadlock names an op of the cycle,
    never the helper, whichever task blocks last."""
    ex = make_executor(HiddenTake, lockdep=False)
    signatures = set()
    for tasks in ([["ab_hidden"], ["ba_hidden"]], [["ba_hidden"], ["ab_hidden"]]):
        scenario = Scenario.of([[(name, ()) for name in task] for task in tasks])
        for step in range(2, 6):
            result = ex.run(scenario, Schedule.of_switches([(step, 1)]))
            if result.finding is not None:
                signatures.add(result.finding.signature)
    assert signatures == {"deadlock@HiddenTake.ab_hidden"}


def test_one_lock_order_cycle_has_one_signature_whichever_dependency_closes_it(make_executor):
    """The orders a-then-b and b-then-a, run one after the other either way round, give one signature."""
    ex = make_executor(LockOrder)
    signatures = {ex.run_alone(Scenario.of(tasks), Schedule()).finding.signature
                  for tasks in ([[("ab", ())], [("ba", ())]], [[("ba", ())], [("ab", ())]])}
    assert signatures == {"lock-order@LockOrder.ab"}


def test_pct_finds_the_deadlock(make_executor):
    """PCT finds the lock-order deadlock without being told the schedule."""
    ex = make_executor(LockOrder, lockdep=False)
    found = next(Search(ex, "pct", seed=1, scenario=ex.program.default_scenario()).run(
        max_runs=2000, stop_at_first=True))
    assert found.finding.kind == "deadlock"


def test_a_serial_run_does_not_deadlock_but_lockdep_sees_the_cycle(make_executor):
    """Run one after the other the two orders do not deadlock, yet the cycle is a lock-order finding."""
    ex = make_executor(LockOrder, lockdep=False)
    assert ex.run(ex.program.default_scenario()).ok
    ex = make_executor(LockOrder)
    result = ex.run(ex.program.default_scenario())
    assert result.finding is not None and result.finding.kind == "lock-order"
    assert "a -> b -> a" in result.finding.message
    assert "LockOrder.ab (programs.py" in result.finding.message
    assert "LockOrder.ba (programs.py" in result.finding.message


def test_lockdep_joins_dependencies_seen_in_different_runs(make_executor):
    """A then B in one run and B then A in a later one close a cycle across runs."""
    ex = make_executor(LockOrder)
    assert ex.run(Scenario.of([[("ab", ())]])).ok
    result = ex.run(Scenario.of([[("ba", ())]]))
    assert result.finding is not None and result.finding.kind == "lock-order"
    assert ex.run_alone(Scenario.of([[("ba", ())]]), Schedule()).ok


def test_a_cycle_first_seen_across_runs_is_reported_again_by_a_run_that_shows_it_whole(make_executor):
    """A cycle closed across runs has no replayable run; the first run that shows the
    whole cycle on its own reports it again, once, and that report replays alone."""
    ex = make_executor(LockOrder)
    assert ex.run(Scenario.of([[("ab", ())]])).ok
    assert ex.run(Scenario.of([[("ba", ())]])).finding.kind == "lock-order"
    both = Scenario.of([[("ab", ())], [("ba", ())]])
    result = ex.run(both)
    assert result.finding is not None and result.finding.kind == "lock-order"
    assert ex.run_alone(both, result.schedule).finding.signature == result.finding.signature
    assert ex.run(both).ok


def test_a_chaos_run_whose_tasks_all_sleep_on_locks_is_a_deadlock_not_a_hang(make_executor):
    """Free-running tasks that all wait on locks held by each other are a deadlock, seen
    without waiting out the watchdog (a hang would come only after it)."""
    ex = make_executor(Rendezvous, lockdep=False, watchdog_s=30)
    result = ex.run(Scenario.of([[("ab_meet", ())], [("ba_meet", ())]]), mode="chaos")
    assert result.finding is not None and result.finding.kind == "deadlock"
    assert "task 0 waits for mutex b (@" in result.finding.message and "held by task 1" in result.finding.message
    assert result.finding.function == "Rendezvous._meet"
    assert ex.run(Scenario.of([[("ab", ())], [("ab", ())]]), mode="chaos").ok


def test_a_chaos_deadlock_converts_to_a_controlled_deadlock(make_executor):
    """The chaos search keeps a deadlock it saw running free, as a schedule that replays it."""
    ex = make_executor(Rendezvous, lockdep=False, watchdog_s=30)
    scenario = Scenario.of([[("ab_meet", ())], [("ba_meet", ())]])
    found = next(Search(ex, "chaos", seed=3, scenario=scenario).run(max_runs=1, stop_at_first=True))
    assert found.finding.kind == "deadlock" and found.reproduced
    assert ex.run(scenario, found.schedule).finding.kind == "deadlock"


@pytest.mark.parametrize("switches", [[], [(1, 1)], [(2, 1)]])
def test_a_task_that_ends_holding_a_lock_is_a_lock_leak_at_the_op_that_took_it(make_executor, switches):
    """Whether or not another task waits for it, a lock still held when its task ends is a
    lock-leak, placed at the operation that took it; its message says where in the model it was taken."""
    ex = make_executor(LeakedLock, lockdep=False)
    result = ex.run(Scenario.of([[("take", ())], [("wait", ())]]), Schedule.of_switches(switches))
    assert result.finding is not None and result.finding.signature == "lock-leak@LeakedLock.take"
    assert "the task ended holding mutex a (@0) (taken in LeakedLock.take (programs.py:" in result.finding.message
    assert result.finding.message.endswith("), in op take)")


def test_a_lock_leak_past_a_full_event_ring_names_only_its_op(make_executor):
    """When the event ring has dropped records, a lock-leak names the op, not an older acquisition."""
    from programs import LeakAfterTraffic
    finding = make_executor(LeakAfterTraffic).run(Scenario.of([[("go", ())]])).finding
    assert finding.kind == "lock-leak" and finding.message.endswith("(taken in go)"), finding.message


def test_a_deadlock_noticed_as_a_bystander_ends_is_placed_at_a_waiter(make_executor):
    """Two tasks deadlocked while a third ran on: when the third ends, the deadlock is
    reported at the function where a waiter waits, not at the task that ended."""
    ex = make_executor(LockOrderWithBystander, lockdep=False)
    scenario = Scenario.of([[("ab", ())], [("ba", ())], [("bystander", ())]])
    result = ex.run(scenario, Schedule.of_switches([(2, 1)]))
    assert result.finding is not None and result.finding.signature == "deadlock@LockOrder.ab"
    assert result.finding.task == 0 and "task 0 waits for mutex b" in result.finding.message


def test_a_task_that_kills_its_worker_is_a_worker_crash(make_executor):
    """SIGKILL of a worker mid-run is reported as worker-crash, and the next run passes."""
    ex = make_executor(Crash, workers=2)
    before = ex.worker_pids
    result = ex.run(Scenario.of([[("die", ())], [("work", ())]]))
    assert result.finding is not None and result.finding.kind == "worker-crash"
    assert "SIGKILL" in result.finding.message
    assert ex.worker_pids[0] != before[0]
    assert ex.run(Scenario.of([[("work", ())], [("work", ())]])).ok


@pytest.mark.slow
def test_a_task_spinning_in_python_is_a_hang_within_the_watchdog(make_executor):
    """A task that never reaches a scheduling point again is a hang; its worker is replaced."""
    ex = make_executor(Spin, workers=2, watchdog_s=1.0)
    old = ex.worker_pids
    result = ex.run(Scenario.of([[("spin_python", ())], [("work", ())]]))
    # The watchdog from the run's start, then at most 0.4 s asking the worker where it spins
    # and a second for the tasks to unwind, then a fresh worker.
    assert time.monotonic() - ex.program.spinning_since.peek() / 1e9 < 1.0 + 1.4 + LATE_S
    assert result.finding is not None and result.finding.kind == "hang"
    assert not _alive(old[0])
    assert ex.run(Scenario.of([[("work", ())], [("work", ())]])).ok


@pytest.mark.slow
@pytest.mark.parametrize("spinner, switches", [(0, []), (1, [(1, 1)])])
def test_a_python_spin_is_signed_after_the_function_and_task_that_spin(make_executor, spinner, switches):
    """The watchdog asks the spinning task's worker where it is, so the hang is named after the
    function that spins, whichever task spins and whether the other was preempted first."""
    ex = make_executor(Spin, workers=2, watchdog_s=1.0)
    tasks = [[("work", ())], [("work", ())]]
    tasks[spinner] = [("spin_python", ())]
    result = ex.run(Scenario.of(tasks), Schedule.of_switches(switches))
    assert result.finding is not None and result.finding.signature == "hang@Spin.spin_python", result.finding
    assert result.finding.task == spinner and "in Spin.spin_python" in result.finding.message


def test_a_task_that_never_ends_is_a_hang_at_the_step_limit(make_executor):
    """A task looping over scheduling points is a hang once it passes max_steps."""
    ex = make_executor(Spin, workers=1)
    result = ex.run(Scenario.of([[("spin_points", ())]]))
    assert result.finding is not None and result.finding.kind == "hang"
    assert "5000 scheduling points" in result.finding.message


@pytest.mark.parametrize("waiter", ["trylock_loop", "wait_for_flag"])
def test_a_task_busy_waiting_on_another_lets_it_run_after_a_timeslice(make_executor, waiter):
    """A correct busy-wait is not a hang: with the holder preempted inside, under the default rule
    and under PCT with the waiter on top, the waiter's timeslice ends and the holder runs on."""
    ex = make_executor(BusyWait)
    scenario = Scenario.of([[("hold_then_set", ())], [(waiter, ())]])
    for schedule in (Schedule.of_switches([(2, 1)]), Schedule("pct", priorities=(1, 0), change_points=(2,))):
        result = ex.run_alone(scenario, schedule)
        assert result.ok, (schedule, result.finding)
        assert result.steps > _core.FAIR_SLICE
        again = ex.run_alone(scenario, result.schedule)         # the switches it took replay it
        assert again.ok and again.steps == result.steps


def test_tasks_that_all_busy_wait_on_each_other_are_still_a_hang(make_executor):
    """Timeslices let every waiter run, but when none can make progress the run still hangs."""
    ex = make_executor(Spin, workers=2)
    result = ex.run(Scenario.of([[("spin_points", ())], [("spin_points", ())]]))
    assert result.finding is not None and result.finding.kind == "hang"


def test_a_bad_free_outranks_the_quiescent_check_that_sees_its_aftermath(make_executor):
    """A page freed while still mapped is bad-page-state where it was freed, not the failed
    invariant found once the tasks ended; a run without the double put is clean."""
    ex = make_executor(DoublePut)
    result = ex.run(Scenario.of([[("use", (True,))]]))
    assert result.finding.signature == "bad-page-state@DoublePut.use"
    assert "freed with mapcount 1" in result.finding.message
    assert ex.run(Scenario.of([[("use", (False,))], [("use", (False,))]])).ok


def test_a_use_of_a_page_freed_in_a_bad_state_tells_of_the_bad_free(make_executor):
    """A task that meets a page another task freed while still mapped is a use-after-free at
    the use, and its message says where and when the page was freed, and in what state."""
    ex = make_executor(DoublePut)
    finding = ex.run(Scenario.of([[("use", (True,))], [("use", (False,))]])).finding
    assert finding.signature == "use-after-free@DoublePut.use" and finding.task == 1
    assert "; before that, at step " in finding.message
    assert "task 0 in DoublePut.use: page 0 freed with mapcount 1" in finding.message


@pytest.mark.slow
@pytest.mark.parametrize("start_method", ["fork", "forkserver", "spawn"])
def test_an_executor_runs_under_every_start_method(make_executor, start_method):
    """Workers started by a fork server or spawned (a parent with threads gets forkserver) serve
    runs as forked ones do: their parent is a server, and the executor's own pid is what they watch."""
    from fuzzmm.examples.lost_update import LostUpdate
    ex = make_executor(LostUpdate, start_method=start_method)
    scenario = Scenario.of([[("increment", (1,))], [("increment", (1,))]])
    assert ex.run(scenario).ok
    assert ex.run(scenario, Schedule.of_switches([(2, 1)])).finding.signature == "assertion@LostUpdate.check"


def test_closing_leaves_no_worker_behind(make_executor):
    """After close() every worker process is gone."""
    ex = make_executor(Crash, workers=2)
    pids = ex.worker_pids
    ex.close()
    assert within(GONE_S, lambda: not any(_alive(p) for p in pids))


@pytest.mark.parametrize("then", ["stay", "crash", "shell"])
def test_what_a_task_started_ends_with_its_worker_even_one_that_left_its_tree(make_executor, monkeypatch, then):
    """A process a task started and left running ends when the executor closes (a child of a live
    worker, one a shell left behind with `sleep &`), or when the worker that started it crashed
    and is replaced (its orphan)."""
    mark = f"60.{os.getpid():07d}{['stay', 'crash', 'shell'].index(then)}"    # told apart by its argument
    monkeypatch.setenv("SLEEP_FOR", mark)
    ex = make_executor(Forks, workers=1)
    assert (ex.run(Scenario.of([[("start_child", (then,))]])).finding is not None) == (then == "crash")
    if then == "crash":
        child = ex.program.child.load()
        assert child > 0 and within(GONE_S, lambda: not _alive(child))
        return
    assert within(GONE_S, lambda: _sleeps(mark))
    ex.close()
    assert within(GONE_S, lambda: not _sleeps(mark))


def test_closing_one_executor_leaves_what_another_s_tasks_started(make_executor, monkeypatch):
    """Two executors in one process: closing one does not end a process the other's task started
    through a shell (`sleep &`, found by its mark), closing the other does."""
    mark = f"60.{os.getpid():07d}9"
    monkeypatch.setenv("SLEEP_FOR", mark)
    first, second = make_executor(Forks, workers=1), make_executor(Forks, workers=1)
    first.run(Scenario.of([[("start_child", ("shell",))]]))
    assert within(GONE_S, lambda: _sleeps(mark))
    second.close()
    assert not within(0.5, lambda: not _sleeps(mark))      # a kill would have ended it by then
    first.close()
    assert within(GONE_S, lambda: not _sleeps(mark))


GONE_S = 20     # how long a process may take to start or to go: well within the minute a `sleep` of the tests lasts


def _sleeps(mark):
    """Live `sleep MARK` processes."""
    out = subprocess.run(["pgrep", "-f", f"^sleep {mark}$"], capture_output=True, text=True).stdout.split()
    return [int(pid) for pid in out if _alive(int(pid))]


def _alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split()[2] != "Z"
    except OSError:
        return False


class BrokenCheck(LockOrder):
    """A quiescent check with a bug of its own (a KeyError, not a failed assert)."""
    name = "broken-check"

    def check(self, scenario):
        return {}["missing"]


def test_an_exception_in_the_quiescent_check_is_an_error_finding_like_one_in_an_op(make_executor):
    """A check that raises something other than an assert is an `error` finding naming the
    check, as an op's exception is, not a failure of the whole campaign."""
    ex = make_executor(BrokenCheck, lockdep=False)
    result = ex.run(Scenario.of([[("ab", ())]]))
    assert result.finding is not None and result.finding.kind == "error"
    assert result.finding.function == "BrokenCheck.check" and "KeyError" in result.finding.message


class MisspeltAttribute(LockOrder):
    """An op with a misspelt attribute, or a very long error message."""
    name = "misspelt-attribute"

    @op()
    def ab(self):
        self.a.lock()
        self.a.unlock()
        self.bb.lock()

    @op()
    def ba(self):
        raise ValueError("x" * 10_000)

    @op()
    def interrupt(self):
        raise KeyboardInterrupt


def test_an_op_that_raises_keyboard_interrupt_is_an_error_finding_not_a_dead_worker(make_executor):
    """KeyboardInterrupt raised by an op (workers ignore SIGINT) is `error@` the op; the worker lives on."""
    ex = make_executor(MisspeltAttribute, lockdep=False)
    pids = ex.worker_pids
    result = ex.run(Scenario.of([[("interrupt", ())]]))
    assert result.finding is not None and result.finding.signature == "error@MisspeltAttribute.interrupt"
    assert "KeyboardInterrupt" in result.finding.message
    assert ex.worker_pids == pids and ex.run(Scenario.of([[("ab", ())]])).finding.kind == "error"


def test_an_attribute_error_in_an_op_is_an_error_finding_with_its_message(make_executor):
    """An AttributeError (which carries the object it looked in) is `error@` the op, saying
    which attribute was missing, not a worker that died while reporting it."""
    ex = make_executor(MisspeltAttribute, lockdep=False)
    result = ex.run(Scenario.of([[("ab", ())]]))
    assert result.finding is not None and result.finding.kind == "error"
    assert result.finding.function == "MisspeltAttribute.ab"
    assert "AttributeError" in result.finding.message and "'bb'" in result.finding.message


def test_a_long_error_message_is_shortened_and_keeps_its_function(make_executor):
    """An op's exception with a message longer than a result slot still names the op."""
    ex = make_executor(MisspeltAttribute, lockdep=False)
    result = ex.run(Scenario.of([[("ba", ())]]))
    assert result.finding.kind == "error" and result.finding.function == "MisspeltAttribute.ba"
    assert result.finding.message.startswith("ValueError: xxx") and len(result.finding.message) < 1000


def test_the_chaos_search_keeps_a_lock_order_cycle_as_a_replayable_schedule(make_executor):
    """Lock dependencies are learnt from free-running runs too; the cycle converts to a
    controlled schedule that shows it on its own."""
    ex = make_executor(LockOrder)
    scenario = ex.program.default_scenario()
    found = next(f for f in Search(ex, "chaos", seed=1, scenario=scenario).run(max_runs=200)
                 if f.finding.kind == "lock-order")
    assert found.reproduced
    assert ex.run_alone(scenario, found.schedule).finding.kind == "lock-order"


@pytest.mark.parametrize("program, found", [(WeakTable, None), (WeakTablePlainGet, "use-after-free")])
def test_a_speculative_get_racing_the_last_put_is_no_use_after_free(make_executor, program, found):
    """get_page_unless_zero under the lock that the last put's unhashing takes is correct; a plain get is not."""
    ex = make_executor(program)
    search = Search(ex, "pct", seed=2, scenario=ex.program.default_scenario())
    kinds = {f.finding.kind for f in search.run(max_runs=300)}
    assert kinds == ({found} if found else set())


@pytest.mark.parametrize("where", ["init", "check"])
def test_init_or_check_spinning_in_the_parent_is_a_hang_within_the_watchdog(make_executor, where):
    """Model code the parent runs has a watchdog too: a spin there is a hang named after it, and runs go on."""
    ex = make_executor(ParentSpins, workers=1, watchdog_s=1.0)
    result = ex.run(Scenario.of([[("go", (where,))]]))
    assert time.monotonic() - ex.program.spinning_since < 1.1 * 1.0 + LATE_S    # the timer rings by 1.1 watchdogs
    assert result.finding is not None and result.finding.signature == f"hang@ParentSpins.{where}"
    assert ex.run(Scenario.of([[("go", ("nowhere",))]])).ok


def test_a_default_scenario_that_never_returns_is_an_error_within_the_watchdog(make_executor):
    """default_scenario(), drawn in the parent, is bounded by the watchdog and named; runs go on."""
    ex = make_executor(DefaultSpins, workers=1, watchdog_s=1.0)
    with pytest.raises(FuzzmmError, match=r"DefaultSpins.default_scenario\(\) ran past the 1 s watchdog"):
        ex.default_scenario()
    assert time.monotonic() - ex.program.spinning_since < 1.1 * 1.0 + LATE_S   # the timer rings by 1.1 watchdogs
    assert ex.run(Scenario.of([[("go", ("nowhere",))]])).ok


@pytest.mark.parametrize("where, function", [("op", "Exits.go"), ("init", "Exits.init"), ("check", "Exits.check")])
def test_model_code_that_exits_is_an_error_finding_and_the_executor_lives_on(make_executor, where, function):
    """sys.exit in an op, or os._exit in init or check (which run in this process), is an error
    finding at that function; this process does not end."""
    ex = make_executor(Exits, workers=1)
    result = ex.run(Scenario.of([[("go", (where,))]]))
    assert result.finding is not None and result.finding.kind == "error"
    assert result.finding.function == function and "SystemExit" in result.finding.message
    assert os._exit.__module__ == "posix"   # the real one again, once the model code is done


def test_an_os_exit_kept_from_inside_the_guard_is_the_real_one_outside_it():
    """A model file imported under the guard may keep `from os import _exit`: called later in a
    worker (a forked process), it ends that process with its code, as os._exit does."""
    from fuzzmm.errors import os_exit_refused
    with os_exit_refused():
        kept = os._exit
    child = os.fork()
    if child == 0:
        try:
            kept(7)
        finally:
            os._exit(3)         # kept() raised: never run on as a copy of this test process
    assert os.waitstatus_to_exitcode(os.waitpid(child, 0)[1]) == 7


def test_a_finding_of_an_unknown_kind_is_an_error_where_the_model_raised_it(make_executor):
    """Finding("data-race") is the model's mistake: an error at its raise, naming the kinds there are."""
    ex = make_executor(UnknownKind, workers=1)
    finding = ex.run(Scenario.of([[("race", ())]])).finding
    assert finding.kind == "error" and finding.function == "UnknownKind.race"
    assert "unknown finding kind 'data-race'" in finding.message and "use-after-free" in finding.message


def test_a_default_scenario_that_exits_is_an_error_naming_it():
    """sys.exit in default_scenario() is bad input that names default_scenario, not a bare SystemExit."""
    import sys

    class ExitsEarly(DefaultSpins):
        def default_scenario(self):
            sys.exit(0)
    with pytest.raises(FuzzmmError, match=r"ExitsEarly.default_scenario\(\) raised SystemExit"):
        ExitsEarly().checked_default_scenario()


@pytest.mark.slow
def test_the_hypothesis_strategy_keeps_a_hang_as_found_without_shrinking_it(make_executor):
    """Every smaller example that hangs too would wait out the watchdog, so a hang ends the round at once."""
    ex = make_executor(Spin, workers=2, watchdog_s=0.5)
    search = Search(ex, "hypothesis", seed=0)
    found = next(f for f in search.run(max_runs=200) if f.finding.kind == "hang")
    assert search.runs == found.run


@pytest.mark.slow
def test_a_block_of_a_short_watchdog_is_bounded_by_it_beside_an_executor_of_a_longer_one(make_executor):
    """Executors of different watchdogs in one process (a corpus item's cached one, of the default
    10 s, and a test's of 1 s) share the parent's timer: a block of the shorter one is still stopped
    within 1.1 of its own watchdog, not when the timer the longer one set rings."""
    longer = make_executor(ParentSpins, workers=1)
    assert longer.run(Scenario.of([[("go", ("nowhere",))]])).ok     # its init and check set the timer for 11 s
    shorter = make_executor(DefaultSpins, workers=1, watchdog_s=1.0)
    with pytest.raises(FuzzmmError, match=r"ran past the 1 s watchdog"):
        shorter.default_scenario()
    assert time.monotonic() - shorter.program.spinning_since < 1.1 * 1.0 + LATE_S


@pytest.mark.slow
def test_an_alarm_set_a_while_after_the_executors_started_still_rings_their_handler(make_executor):
    """Another SIGALRM timer, set while the watchdog's handler is in place (pytest-timeout's for
    the next test, say), is left to run however long after the watchdog last set its own: the
    watchdog renews its timer a tenth of a watchdog after setting it, and must not renew it over theirs."""
    import signal
    rang = []

    def theirs(signum, frame):
        rang.append(signum)
    before = signal.signal(signal.SIGALRM, theirs)
    try:
        ex = make_executor(ParentSpins, workers=1)
        assert ex.run(Scenario.of([[("go", ("nowhere",))]])).ok     # the watchdog's timer: 11 s from now
        time.sleep(1.2)             # more than a tenth of the watchdog: the next block renews it
        signal.setitimer(signal.ITIMER_REAL, 2.0)
        assert ex.run(Scenario.of([[("go", ("nowhere",))]])).ok
        assert within(2.0 + LATE_S, lambda: rang), "their alarm never rang"
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, before)


def test_an_alarm_someone_else_set_still_rings_their_handler(make_executor):
    """The watchdog of init and check leaves another SIGALRM timer (pytest-timeout's, say) running, and
    its handler gets the alarm once, whichever executors ran; closing the last one gives SIGALRM back."""
    import signal
    rang = []

    def theirs(signum, frame):
        rang.append(signum)
    before = signal.signal(signal.SIGALRM, theirs)
    try:
        first, second = make_executor(ParentSpins, workers=1), make_executor(ParentSpins, workers=1)
        signal.setitimer(signal.ITIMER_REAL, 0.3)
        for ex in (first, second, first):           # executors taking turns, as corpus items do
            assert ex.run(Scenario.of([[("go", ("nowhere",))]])).ok
        deadline = time.monotonic() + 5
        while not rang and time.monotonic() < deadline:
            time.sleep(0.01)
        assert rang == [signal.SIGALRM]
        first.close()
        second.close()
        assert signal.getsignal(signal.SIGALRM) is theirs
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, before)
