"""fuzzmm minimize: smaller reproducers with the same signature."""
import json
import os
import subprocess
import sys
import time

import pytest

from fuzzmm import corpus
from fuzzmm.corpus.entry import Entry
from fuzzmm.corpus.minimize import QUICK_RUNS
from fuzzmm.examples.lost_update import LostUpdate
from fuzzmm.models import load_model
from fuzzmm.program import Scenario
from fuzzmm.sched.schedule import Schedule
from fuzzmm.sched.search import Search

from waiting import HANG_S, LATE_S


def entry_of(found, variant, ref):
    return Entry(model="m", variant=variant, program=str(ref), scenario=found.scenario, schedule=found.schedule,
                 kind=found.finding.kind, signature=found.finding.signature)


def test_a_random_walk_lost_update_shrinks_to_two_single_increments(make_executor):
    """A random-walk finding with dozens of switches shrinks to two one-increment tasks and one switch."""
    ex = make_executor(LostUpdate)
    found = next(Search(ex, "random", seed=2).run(max_runs=1000, stop_at_first=True))
    big = entry_of(found, "racy", ex.ref)
    assert len(big.schedule.switches) > 5
    small = corpus.minimize(big, ex)
    assert small.scenario.tasks == ((("increment", (1,)),), (("increment", (1,)),))
    assert len(small.schedule.switches) == 1
    assert ex.run(small.scenario, small.schedule).finding.signature == big.signature


def test_a_reproducer_keeps_as_many_tasks_as_the_program_runs_at_least(make_executor):
    """A bug one task shows alone still shrinks to two tasks where the program runs two at least."""
    from programs import DoublePutInPairs
    ex = make_executor(DoublePutInPairs)
    scenario = Scenario.of([[("use", (True,)), ("use", (False,))], [("use", (False,)), ("use", (True,))]])
    found = ex.run(scenario)
    big = Entry(model="m", variant="default", program=str(ex.ref), scenario=scenario, schedule=Schedule(),
                kind=found.finding.kind, signature=found.finding.signature)
    small = corpus.minimize(big, ex)
    assert small.scenario.ntasks == 2 and sum(len(t) for t in small.scenario.tasks) == 2


@pytest.mark.slow
def test_h1_from_a_random_campaign_shrinks_to_two_tasks_and_two_switches(make_executor):
    """The mel NR_ISOLATED leak found by random walk shrinks to at most 2 tasks and 2 switches."""
    ref = load_model("thp-numa").ref("mel")
    ex = make_executor(ref)
    found = next(f for f in Search(ex, "random", seed=5).run(max_runs=5000) if f.finding.kind == "counter-leak")
    small = corpus.minimize(entry_of(found, "mel", ref), ex)
    assert small.scenario.ntasks <= 2 and len(small.schedule.switches) <= 2
    assert ex.run(small.scenario, small.schedule).finding.signature == "counter-leak@check_counters"


def test_a_lock_order_finding_replays_each_time_and_shrinks(make_executor):
    """A lock-order cycle seen in one run replays in every repeat and shrinks, since
    each replay and each candidate starts from an empty lock-dependency graph."""
    from programs import LockOrder
    ex = make_executor(LockOrder)
    scenario = Scenario.of([[("ab", ()), ("ab", ())], [("ba", ()), ("ab", ())]])
    result = ex.run(scenario, Schedule.of_switches([(40, 1), (60, 0)]))
    assert result.finding is not None and result.finding.kind == "lock-order"
    big = Entry(model="m", variant="v", program=str(ex.ref), scenario=scenario, schedule=result.schedule,
                kind="lock-order", signature=result.finding.signature)
    assert corpus.replay(big, repeat=3, executor=ex).reproduced
    small = corpus.minimize(big, ex)
    assert small.scenario.tasks == ((("ab", ()),), (("ba", ()),))   # the two orders, in the two tasks it runs
    assert small.schedule.switches == ()                                # one after the other: no deadlock needed
    assert corpus.replay(small, repeat=2, executor=ex).reproduced


def test_a_campaign_keeps_a_new_finding_shrunk_for_a_bounded_time(make_executor):
    """What a campaign writes is shrunk first, for at most the time it is given (and the run under
    way), and still replays; given runs instead of time, as a deterministic test is, it shrinks
    the same on any machine."""
    ex = make_executor(LostUpdate)
    found = next(Search(ex, "random", seed=2).run(max_runs=1000, stop_at_first=True))
    big = entry_of(found, "racy", ex.ref)
    began = time.monotonic()
    quick = corpus.shrink_quickly(big, ex, 0.5)
    assert time.monotonic() - began < 0.5 + LATE_S
    assert quick.size <= big.size and corpus.replay(quick, executor=ex).reproduced
    small = corpus.shrink_quickly(big, ex, max_runs=QUICK_RUNS)
    assert small.size < big.size
    assert corpus.replay(small, executor=ex).reproduced


@pytest.mark.slow
def test_minimize_keeps_a_file_fixed_where_it_says_it_is_fixed(tmp_path):
    """A smaller reproducer that would show the finding on a variant the file lists in
    `fixed_in` is not taken: the minimised file still fails only where it says it does."""
    here = os.path.dirname(os.path.abspath(__file__))
    source = os.path.join(here, "..", "corpus", "h4-rc2-seed-order.json")
    out = tmp_path / "small.json"
    proc = subprocess.run([sys.executable, "-m", "fuzzmm", "minimize", source, "-o", str(out)],
                          capture_output=True, text=True, timeout=HANG_S)
    assert proc.returncode == 1, proc.stderr
    small = corpus.load(str(out))
    assert small.fixed_in and small.size < corpus.load(source).size
    assert corpus.replay(small).reproduced
    assert not any(corpus.replay(small, variant=v).reproduced for v in small.fixed_in)
    assert json.loads(out.read_text())["fixed_in"] == small.fixed_in


@pytest.mark.slow
def test_an_interrupted_minimize_writes_the_smallest_reproducer_so_far(tmp_path, monkeypatch):
    """Ctrl-C during minimize keeps the last smaller entry it had checked, and exits 130."""
    import signal
    from fuzzmm import cli
    source = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "corpus", "h4-rc2-seed-order.json")
    out = tmp_path / "small.json"
    real_minimize = corpus.minimize

    def interrupted_after_one_step(entry, executor, on_progress=None, **kwargs):
        on_progress(real_minimize(entry, executor, max_runs=1000), 1000)
        raise KeyboardInterrupt
    monkeypatch.setattr(corpus, "minimize", interrupted_after_one_step)
    sigterm = signal.getsignal(signal.SIGTERM)
    try:
        assert cli.main(["minimize", source, "-o", str(out)]) == 130
    finally:
        signal.signal(signal.SIGTERM, sigterm)
    small = corpus.load(str(out))
    assert small.size < corpus.load(source).size and corpus.replay(small).reproduced


def test_max_runs_bounds_every_run_a_minimisation_makes(make_executor):
    """The runs of the searches for new switches count against max_runs too."""
    ex = make_executor(LostUpdate)
    found = next(Search(ex, "random", seed=2).run(max_runs=1000, stop_at_first=True))
    big = entry_of(found, "racy", ex.ref)
    made = []
    run_alone = ex.run_alone
    ex.run_alone = lambda *args, **kwargs: made.append(1) or run_alone(*args, **kwargs)
    for limit in (1, 7, 40):
        made.clear()
        corpus.minimize(big, ex, max_runs=limit)
        assert len(made) <= limit


def test_a_hang_at_the_step_limit_is_shrunk_before_a_campaign_keeps_it(make_executor):
    """Unlike a watchdog hang, a task that loops over scheduling points hangs in a bounded run: it shrinks."""
    from programs import Spin
    ex = make_executor(Spin, workers=2)
    scenario = Scenario.of([[("spin_points", ())], [("spin_points", ())]])
    result = ex.run(scenario, Schedule.of_switches([(3, 1)]))
    assert result.finding is not None and result.finding.kind == "hang"
    big = Entry(model="m", variant="v", program=str(ex.ref), scenario=scenario, schedule=result.schedule,
                kind="hang", signature=result.finding.signature, message=result.finding.message)
    small = corpus.shrink_quickly(big, ex, max_runs=200)
    assert small.scenario.tasks == ((("spin_points", ()),),) and small.schedule.switches == ()


@pytest.mark.slow
def test_a_hang_past_the_watchdog_shrinks_under_a_shorter_one_and_is_kept_only_if_it_still_hangs(
        make_executor, monkeypatch):
    """Candidates of a watchdog hang run under a short watchdog; the result is checked under the
    executor's own, and one that only outran the short watchdog gives the original back."""
    import importlib
    from programs import SlowOrStuck, Spin
    minimize_module = importlib.import_module("fuzzmm.corpus.minimize")   # the package's name is the function
    monkeypatch.setattr(minimize_module, "PROBE_WATCHDOG_S", 0.3)
    ex = make_executor(Spin, watchdog_s=1.0)
    scenario = Scenario.of([[("spin_python", ()), ("work", ())]])
    found = ex.run(scenario).finding
    big = Entry(model="m", variant="v", program=str(ex.ref), scenario=scenario, schedule=Schedule(),
                kind=found.kind, signature=found.signature, message=found.message)
    watchdogs = []              # the watchdog each run of the minimisation had
    run_alone = ex.run_alone
    monkeypatch.setattr(ex, "run_alone", lambda *args, **kw: watchdogs.append(ex.watchdog_s) or run_alone(*args, **kw))
    small = corpus.minimize(big, ex)
    assert small.scenario.tasks == ((("spin_python", ()),),) and "the 1 s watchdog" in small.message
    assert set(watchdogs[:-1]) == {0.3} and watchdogs[-1] == 1.0 and ex.watchdog_s == 1.0
    slow = make_executor(SlowOrStuck, watchdog_s=2.0)
    scenario = Scenario.of([[("slow", (30,))]])   # 3 s: a hang to the 2 s watchdog; the candidate of 0.5 s is not
    found = slow.run(scenario).finding
    big = Entry(model="m", variant="v", program=str(slow.ref), scenario=scenario, schedule=Schedule(),
                kind=found.kind, signature=found.signature, message=found.message)
    assert corpus.minimize(big, slow) is big
