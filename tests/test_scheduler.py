"""The executor and strategies on the lost-update example and its fixed twin."""
import pytest

from fuzzmm.examples.lost_update import LostUpdate, LostUpdateFixed
from fuzzmm.program import Scenario
from fuzzmm.sched.schedule import Schedule
from fuzzmm.sched.search import Search

SIGNATURE = "assertion@LostUpdate.check"


@pytest.mark.parametrize("strategy", ["random", "pct", "chaos", "hypothesis"])
def test_each_strategy_finds_the_lost_update(make_executor, strategy):
    """Every strategy finds the lost update and hands back a switch list that replays it, switch for switch.

    A chaos finding whose controlled conversion does not reproduce is reported as
    such and the search goes on, so the first reproduced one is taken."""
    ex = make_executor(LostUpdate)
    found = next((f for f in Search(ex, strategy, seed=3).run(max_runs=50_000) if f.reproduced), None)
    assert found is not None, f"{strategy} found nothing"
    assert found.finding.signature == SIGNATURE
    assert found.strategy == strategy and found.schedule.switches, found   # the race needs a preemption
    again = ex.run(found.scenario, found.schedule)
    assert again.finding is not None and again.finding.signature == SIGNATURE
    assert again.schedule == found.schedule, "the replay took other switches than the ones handed back"


@pytest.mark.slow
def test_fixed_twin_stays_clean_for_2000_schedules(make_executor):
    """The atomic-add twin shows no finding under 1,000 PCT and 1,000 random-walk schedules."""
    ex = make_executor(LostUpdateFixed)
    for strategy in ("pct", "random"):
        search = Search(ex, strategy, seed=11)
        assert list(search.run(max_runs=1000)) == []
        assert search.runs == 1000


@pytest.mark.slow
def test_a_finding_replays_100_times_out_of_100(make_executor):
    """A recorded switch list reproduces the same finding, switches and steps every time."""
    ex = make_executor(LostUpdate)
    scenario = ex.program.default_scenario()
    first = ex.run(scenario, Schedule("random", seed=7))
    assert first.finding is not None
    for _ in range(100):
        again = ex.run(scenario, first.schedule)
        assert again.finding == first.finding
        assert again.switches == first.switches
        assert again.steps == first.steps


def test_default_rule_runs_tasks_one_after_another(make_executor):
    """With no switches each task runs to its end in task order, so nothing is lost."""
    ex = make_executor(LostUpdate)
    result = ex.run(ex.program.default_scenario(), Schedule(), keep_events=True)
    assert result.ok and result.switches == ()
    tasks = [e[1] for e in result.events if e[1] >= 0]
    assert tasks == sorted(tasks)


def test_one_switch_between_load_and_store_loses_an_update(make_executor):
    """Switching to task 1 at task 0's store (step 2, after its load at step 1) loses an increment."""
    ex = make_executor(LostUpdate)
    scenario = Scenario.of([[("increment", (1,))], [("increment", (1,))]])
    result = ex.run(scenario, Schedule.of_switches([(2, 1)]))
    assert result.finding is not None and result.finding.kind == "assertion"
    assert "counter is 1 after 2 increments" in result.finding.message


@pytest.mark.slow
def test_hypothesis_shrinks_to_two_single_increments(make_executor):
    """Hypothesis shrinks the scenario and the schedule to two tasks of one increment, one switch."""
    ex = make_executor(LostUpdate)
    found = next(Search(ex, "hypothesis", seed=0).run(max_runs=5000, stop_at_first=True))
    assert found.scenario.tasks == ((("increment", (1,)),), (("increment", (1,)),))
    assert len(found.schedule.switches) == 1


@pytest.mark.slow
def test_hypothesis_finds_a_race_that_needs_two_close_preemptions_within_100_examples(make_executor):
    """A test-and-set race needs one preemption between a load and its store and a second one
    while the other task is inside: Hypothesis finds it within 100 examples for every seed tried."""
    from programs import TestAndSet
    ex = make_executor(TestAndSet)
    missed = [seed for seed in range(10)
              if next(Search(ex, "hypothesis", seed=seed).run(max_runs=100, stop_at_first=True), None) is None]
    assert missed == []


def test_scenario_with_more_tasks_than_workers_is_refused(make_executor):
    """Asking for more tasks than workers is a clear error, not a hang."""
    from fuzzmm.errors import FuzzmmError
    ex = make_executor(LostUpdate, workers=2)
    with pytest.raises(FuzzmmError, match="3 tasks"):
        ex.run(Scenario.of([[("increment", (1,))]] * 3))


@pytest.mark.slow
def test_a_worker_that_sits_runs_out_never_joins_one_twice(make_executor):
    """Alternating 1-task and 3-task runs: workers that sat a run out wake late without rerunning a task."""
    ex = make_executor(LostUpdateFixed)
    small = Scenario.of([[("increment", (1,))]])
    large = Scenario.of([[("increment", (2,))]] * 3)
    for i in range(3000):
        result = ex.run(small if i % 2 else large, Schedule("random", seed=i + 1))
        assert result.ok, (i, result.finding)


def test_swarm_scenarios_draw_each_argument_from_a_shared_subset():
    """A swarm draw gives ops that can take any address at most half the addresses, shared by all."""
    import random
    from fuzzmm.models import load_model
    program = load_model("thp-numa").ref("v3.8-rc2").load()()
    domains = {name: dict(args) for name, args in program.ops().items()}
    everywhere = {v for d in domains.values() for v in d.get("addr", ())}
    any_addr = {name for name, d in domains.items() if set(d.get("addr", ())) == everywhere}
    widest = 0
    for seed in range(200):
        scenario = program.random_scenario(random.Random(seed), swarm=True)
        program.validate(scenario)
        used = {args[0] for task in scenario.tasks for name, args in task if name in any_addr}
        widest = max(widest, len(used))
    assert 0 < widest <= len(everywhere) // 2
