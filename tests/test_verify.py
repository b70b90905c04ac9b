"""Systematic exploration within a preemption bound: soundness of the reduction against plain
enumeration, findings that replay, `fuzzmm verify` and `verify_test`."""
import hashlib
import json
import os
import subprocess
import sys

import pytest

from fuzzmm import corpus
from fuzzmm.errors import FuzzmmError
from fuzzmm.examples.lost_update import LostUpdate, LostUpdateFixed
from fuzzmm.program import Scenario
from fuzzmm.sched.estimate import plain_enumeration
from fuzzmm.sched.executor import Executor
from fuzzmm.sched.explore import Explorer
from fuzzmm.sched.enumerate import small_scenarios
from fuzzmm.verification import FOUND, UNFINISHED, VERIFIED, parse_scenario, verify_scenario

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
import verify_programs as programs  # noqa: E402


def explore(executor, scenario, bound, reduce):
    """(outcomes, runs): each outcome the finding's signature (or None) and the final state."""
    outcomes = set()
    explorer = Explorer(executor, scenario, bound, reduce=reduce)
    for explored in explorer.runs():
        finding = explored.result.finding
        outcomes.add((finding.signature if finding else None,
                      hashlib.sha1(executor.pool.snapshot()).hexdigest()))
        assert explored.preemptions <= bound
    assert explorer.exhausted
    return outcomes, explorer.count


SOUNDNESS = [
    pytest.param(LostUpdate, "increment(2) | increment(2) | increment(1)", 2, id="lost-update"),
    pytest.param(programs.TwoLocks, None, 2, id="three-tasks-two-locks"),
    pytest.param(programs.PageRefs, None, 2, id="page-refcount"),
    pytest.param(programs.PageRefsGetPage, None, 2, id="page-refcount-use-after-free"),
    pytest.param(programs.ReadersWriter, None, 2, id="rwsem-and-event-counts"),
    pytest.param(programs.Independent, None, 2, id="mostly-independent"),
]


@pytest.mark.parametrize("program, scenario, bound", SOUNDNESS)
def test_the_reduced_exploration_shows_every_outcome_plain_enumeration_shows(program, scenario, bound):
    """Soundness: the findings and final states of every schedule within the bound, as plain
    enumeration runs them all, are exactly those of the reduced exploration."""
    with Executor(program, workers=3) as executor:
        scenario = parse_scenario(scenario) if scenario else executor.default_scenario()
        reduced, reduced_runs = explore(executor, scenario, bound, reduce=True)
        plain, plain_runs = explore(executor, scenario, bound, reduce=False)
    assert reduced == plain
    assert reduced_runs <= plain_runs
    if program is programs.Independent:
        assert reduced_runs * 5 < plain_runs, (reduced_runs, plain_runs)


@pytest.mark.slow
@pytest.mark.parametrize("name, bound", [("h1-mel-counter-leak.json", 2), ("h4-rc2-use-after-free.json", 2),
                                         ("h3-rc2-lost-write.json", 2)])
def test_on_the_seed_model_too(name, bound):
    entry = corpus.load(os.path.join(ROOT, "corpus", name))
    with Executor(corpus.checked_ref(entry), workers=entry.scenario.ntasks) as executor:
        reduced, reduced_runs = explore(executor, entry.scenario, bound, reduce=True)
        plain, plain_runs = explore(executor, entry.scenario, bound, reduce=False)
    assert reduced == plain
    assert reduced_runs * 4 < plain_runs


@pytest.mark.slow
@pytest.mark.parametrize("program", [programs.TwoLocks, programs.ReadersWriter], ids=lambda p: p.name)
def test_three_preemptions(program):
    with Executor(program, workers=3) as executor:
        scenario = executor.default_scenario()
        assert explore(executor, scenario, 3, True)[0] == explore(executor, scenario, 3, False)[0]


def test_the_lost_update_takes_one_preemption_and_its_schedule_replays():
    """No lost update without a preemption; with one, the finding's switch list replays it."""
    with Executor(LostUpdate, workers=2) as executor:
        scenario = parse_scenario("increment(1) | increment(1)")
        assert verify_scenario(executor, scenario, 0).status == VERIFIED
        verdict = verify_scenario(executor, scenario, 2)
        assert verdict.status == FOUND and verdict.preemptions == 1 and verdict.verified_bound == 0
        assert verdict.finding.signature == "assertion@LostUpdate.check"
        again = executor.run_alone(scenario, verdict.schedule)
        assert again.finding.signature == verdict.finding.signature
        assert verdict.by_bound[0] == 2 and verdict.schedules == sum(verdict.by_bound)


def test_a_verified_scenario_counts_its_runs_and_estimates_plain_enumeration():
    with Executor(LostUpdateFixed, workers=2) as executor:
        scenario = parse_scenario("increment(2) | increment(2)")
        verdict = verify_scenario(executor, scenario, 2)
        _, plain_runs = explore(executor, scenario, 2, reduce=False)
        assert verdict.status == VERIFIED and verdict.verified_bound == 2 and verdict.finding is None
        assert verdict.plain.probes == 200 and 0.6 * plain_runs < verdict.plain.leaves < 1.5 * plain_runs
        doc = verdict.to_json()
        assert doc["status"] == "verified" and doc["plain_enumeration"]["estimated"] is True


def test_the_estimate_of_plain_enumeration_is_near_its_count():
    with Executor(programs.TwoLocks, workers=3) as executor:
        scenario = executor.default_scenario()
        _, counted = explore(executor, scenario, 2, reduce=False)
        estimate = plain_enumeration(executor, scenario, 2, probes=300, seed=1)
    assert 0.7 * counted < estimate.leaves < 1.4 * counted, (estimate, counted)


def test_limits_leave_a_bound_not_exhausted_never_verified():
    with Executor(programs.Independent, workers=3) as executor:
        verdict = verify_scenario(executor, executor.default_scenario(), 2, max_runs=30)
    assert verdict.status == UNFINISHED and verdict.schedules == 30
    assert verdict.verified_bound < 2 and verdict.pending > 0 and verdict.plain is None


def test_only_a_wanted_finding_ends_the_exploration():
    with Executor(LostUpdate, workers=2) as executor:
        scenario = parse_scenario("increment(1) | increment(1)")
        verdict = verify_scenario(executor, scenario, 1, wanted=lambda f: f.kind == "use-after-free",
                                  plain_probes=0)
    assert verdict.status == VERIFIED and set(verdict.others) == {"assertion@LostUpdate.check"}


def test_a_scenario_reads_as_a_corpus_line_describes_it():
    scenario = Scenario.of([[("fault", (0, 1)), ("numa_scan", (0,))], [("op", ("a|b", (1, 2), None))]])
    assert parse_scenario(scenario.describe()) == scenario
    for bad in ("fault(0, 1) | ", "fault(0, 1 | x()", "f(x=1)", "1 + 2"):
        with pytest.raises(FuzzmmError):
            parse_scenario(bad)


def test_small_scenarios_come_smallest_first_and_every_one_comes():
    scenarios = list(small_scenarios(programs.TwoLocks))
    assert len(scenarios) == (3 + 9) ** 3 == len(set(scenarios))
    assert scenarios[0] == Scenario.of([[("nested", ())]] * 3)
    assert max(len(task) for s in scenarios for task in s.tasks) == 2
    first = [s for _, s in zip(range(13), small_scenarios(LostUpdate))]
    assert all(args == (1,) for s in first[:12] for task in s.tasks for _, args in task)   # 2**2 + 2**3 of them
    assert [s.ntasks for s in first[:12]] == [2] * 4 + [3] * 8 and ("increment", (2,)) in first[12].tasks[-1]


# ---- the command ----

def fuzzmm(*args, timeout=300):
    return subprocess.run([sys.executable, "-m", "fuzzmm", "verify", *args], capture_output=True, text=True,
                          timeout=timeout, cwd=ROOT)


def test_verify_says_verified_and_exits_0(tmp_path):
    proc = fuzzmm("--model", "lost-update", "--variant", "fixed", "--scenario", "increment(2) | increment(1)",
                  "--preemptions", "2", "--corpus", str(tmp_path))
    assert proc.returncode == 0, proc.stderr
    assert "every interleaving within 2 preemptions" in proc.stdout
    assert "plain enumeration of the bound: about" in proc.stdout and "estimated" in proc.stdout
    assert os.listdir(tmp_path) == []


def test_verify_writes_a_finding_to_the_corpus_where_it_replays_and_exits_1(tmp_path):
    proc = fuzzmm("--model", "lost-update", "--variant", "racy", "--scenario", "increment(2) | increment(1)",
                  "--preemptions", "2", "--corpus", str(tmp_path), "--json")
    assert proc.returncode == 1, proc.stderr
    events = [json.loads(line) for line in proc.stdout.splitlines()]
    [verdict] = [e for e in events if e["event"] == "verdict"]
    assert verdict["status"] == "finding" and verdict["preemptions"] == 1
    assert verdict["finding"]["signature"] == "assertion@LostUpdate.check"
    assert events[-1] == {**events[-1], "event": "summary", "findings": 1, "exit": 1}
    replay = subprocess.run([sys.executable, "-m", "fuzzmm", "replay", verdict["corpus_file"]],
                            capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert replay.returncode == 1, replay.stdout + replay.stderr
    assert corpus.load(verdict["corpus_file"]).found_by["strategy"] == "verify"


def test_verify_of_a_corpus_file_takes_its_model_and_scenario(tmp_path):
    proc = fuzzmm("--file", os.path.join("corpus", "h1-mel-counter-leak.json"), "--variant", "hugh+a54a407",
                  "--preemptions", "1", "--corpus", str(tmp_path), "--json")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    [verdict] = [json.loads(line) for line in proc.stdout.splitlines() if '"verdict"' in line]
    assert verdict["variant"] == "hugh+a54a407" and verdict["scenario"] == "fault(0, 1) | fault(0, 0)"


@pytest.mark.parametrize("args, says", [
    (("--scenario", "increment(1) |", "--preemptions", "1"), "a task with no operations"),
    (("--scenario", "increment(99) | increment(1)", "--preemptions", "1"), "outside the op's domain"),
    (("--scenario", "decrement(1) | increment(1)", "--preemptions", "1"), "no operation 'decrement'"),
    (("--scenario", "increment(1) | increment(1)", "--preemptions", "-1"), "--preemptions"),
    (("--scenario", "increment(1) | increment(1)"), "--preemptions"),
    (("--scenario", "increment(1)", "--file", "x.json", "--preemptions", "1"), "not allowed with"),
])
def test_verify_refuses_bad_input_with_one_line_and_exit_2(args, says, tmp_path):
    proc = fuzzmm("--model", "lost-update", *args, "--corpus", str(tmp_path))
    assert proc.returncode == 2 and says in proc.stderr, proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1 and "Traceback" not in proc.stderr


def test_a_bound_not_exhausted_exits_3_and_says_how_far_it_got(tmp_path):
    proc = fuzzmm("--model", "lost-update", "--variant", "fixed", "--scenario",
                  "increment(3) | increment(3) | increment(3)", "--preemptions", "2", "--max-runs", "40",
                  "--corpus", str(tmp_path))
    assert proc.returncode == 3, proc.stdout + proc.stderr
    assert "NOT EXHAUSTED" in proc.stdout and "left to explore" in proc.stdout
    assert "verified:" not in proc.stdout


def test_without_a_scenario_the_default_comes_first_and_the_limits_leave_it_unverified(tmp_path):
    proc = fuzzmm("--model", "lost-update", "--variant", "fixed", "--preemptions", "0", "--max-runs", "60",
                  "--corpus", str(tmp_path), "--json")
    assert proc.returncode == 3, proc.stdout + proc.stderr
    events = [json.loads(line) for line in proc.stdout.splitlines()]
    verdicts = [e for e in events if e["event"] == "verdict"]
    assert verdicts[0]["scenario"] == "increment(16) | increment(16) | increment(16)"
    assert verdicts[0]["status"] == "verified" and len(verdicts) > 2
    assert events[-1]["scenarios_cut_short"] is True and events[-1]["exit"] == 3


# ---- in pytest ----

pytest_plugins = ["pytester"]


def test_verify_test_passes_with_its_count_and_fails_with_the_finding(pytester):
    pytester.makepyfile(test_inner="""
        from fuzzmm.testing import verify_test
        from fuzzmm.examples.lost_update import LostUpdate, LostUpdateFixed

        test_fixed = verify_test(LostUpdateFixed, preemptions=2, scenarios=["increment(2) | increment(1)"])
        test_racy = verify_test(LostUpdate, preemptions=2, scenarios=[[[["increment", [1]]], [["increment", [1]]]]])
        test_cut_short = verify_test(LostUpdateFixed, preemptions=2, scenarios=["increment(3) | increment(3)"],
                                     max_runs=5)
        test_bad = verify_test(LostUpdateFixed, preemptions=2, scenarios=["increment(1) |"])
    """)
    result = pytester.runpytest_inprocess("-rA", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1, failed=3)
    out = result.stdout.str()
    assert "schedules, every interleaving within 2 preemptions" in out
    result.stdout.fnmatch_lines(["FAILED test_inner.py::test_racy - fuzzmm found*",
                                 "FAILED test_inner.py::test_cut_short - fuzzmm: NOT*",
                                 "FAILED test_inner.py::test_bad - *fuzzmm: error*"])
    assert "fuzzmm found assertion@LostUpdate.check in lost-update variant racy" in out
    assert "fuzzmm: NOT verified: increment(3) | increment(3)" in out
    assert "fuzzmm: error: scenario 'increment(1) |': a task with no operations" in out
    assert "  switches:  [(" in out and '{"format":1' in out and "Traceback" not in out


# ---- the dfs strategy ----

def test_the_dfs_strategy_finds_the_lost_update_within_one_preemption_on_the_default_scenario():
    from fuzzmm.sched.search import Search
    from fuzzmm.sched.systematic import search_dfs
    with Executor(LostUpdate, workers=3) as executor:
        search = Search(executor, "pct", seed=1)
        [found] = list(search_dfs(search, max_runs=2000, stop_at_first=True))
        assert found.strategy == "dfs" and found.finding.signature == "assertion@LostUpdate.check"
        assert found.scenario == executor.default_scenario() and found.run == search.runs < 50
        assert executor.run_alone(found.scenario, found.schedule).finding.signature == found.finding.signature


def test_the_dfs_strategy_on_a_clean_program_spends_its_budget_round_by_round():
    from fuzzmm.sched.search import Search
    from fuzzmm.sched.systematic import scenarios_of_round, search_dfs
    with Executor(LostUpdateFixed, workers=3) as executor:
        search = Search(executor, "pct", seed=1)
        assert list(search_dfs(search, max_runs=300)) == [] and search.runs == 300
        assert len(scenarios_of_round(search, 0)) == 5 and len(scenarios_of_round(search, 2)) == 17
