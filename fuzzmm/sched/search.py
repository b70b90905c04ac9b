"""The search loop: run schedules from a strategy on one executor and report what they find.

Every finding comes back with a controlled switch list that reproduces it:
controlled strategies record the switches they took; a chaos finding is
converted by replaying the observed order of operations (a guided run), and
is kept only if that replay shows the same signature.
"""
from dataclasses import dataclass
import random
import time

from hypothesis import HealthCheck, Phase, settings as Settings

from fuzzmm import _core
from fuzzmm.errors import FuzzmmError
from fuzzmm.program import Scenario
from fuzzmm.sched import draws
from fuzzmm.sched.hypothesis_loop import Verdict, run_examples
from fuzzmm.sched.schedule import Schedule
from fuzzmm.sched.strategies import STRATEGIES


@dataclass
class Found:
    """A finding of the search with what reproduces it and how the search came upon it:
    all a campaign needs to make its corpus entry."""
    finding: object          # FindingReport
    scenario: Scenario
    schedule: Schedule       # a controlled switch list that reproduces it
    strategy: str
    run: int                 # runs made before and including this one
    elapsed_s: float
    reproduced: bool = True
    replayed: bool = False   # already shown again by a run on its own

    def found_by(self, seed):
        """How it was found, as its corpus entry records it: the strategy, the search's
        seed, the run and the seconds into the search."""
        return {"strategy": self.strategy, "seed": seed, "run": self.run, "elapsed_s": round(self.elapsed_s, 4)}


def order_of(events):
    """The task of each operation a chaos run made, in global sequence order."""
    return tuple(task for _, task, *_ in sorted(e for e in events if e[1] >= 0))


def replays_alone(executor, scenario, schedule, signature):
    """Whether a run of `scenario` under `schedule`, on its own (a fresh lock-dependency
    graph), shows `signature` again."""
    again = executor.run_alone(scenario, schedule)
    return again.finding is not None and again.finding.signature == signature


def _same_finding(seen, replayed):
    """Whether a controlled replay shows what a chaos run saw: the same signature, or,
    for a deadlock or a lock-order cycle (whose function is only where the run happened
    to close it), any finding of the same kind."""
    if replayed is None:
        return False
    return replayed.signature == seen.signature or (
        seen.kind == replayed.kind and seen.kind in ("deadlock", "lock-order"))


def convert_chaos(executor, scenario, result):
    """Replay a chaos finding under control, each run on its own (a lock-order cycle
    must close within it); the switch list if the same finding shows."""
    guided = executor.run_alone(scenario, Schedule("guided", order=order_of(result.events)))
    if not _same_finding(result.finding, guided.finding):
        return None
    check = executor.run_alone(scenario, guided.schedule)
    if not _same_finding(result.finding, check.finding):
        return None
    return check


class Search:
    """Runs one strategy on one executor until a time budget or a run count is spent."""

    def __init__(self, executor, strategy="pct", seed=0, scenario=None, pct_depth=3, coverage=True,
                 database=None):
        if strategy not in STRATEGIES:
            raise ValueError(f"unknown strategy {strategy!r}; choose from {', '.join(STRATEGIES)}")
        self.executor = executor
        self.strategy_name = strategy
        self.seed = seed
        self.rng = random.Random(seed)
        self.fixed_scenario = scenario
        self._default = None        # the program's default scenario, once checked
        self.runs = 0
        self.pct_depth = pct_depth
        self.tick = None           # called about twice a second with the run count; True stops
        self._last_tick = time.monotonic()
        self.coverage = set() if coverage else None   # ordered site pairs seen (see coverage_pairs)
        self.kept = []             # (scenario, switch list) of runs that added coverage
        self.database = database   # Hypothesis's example database, shared like the corpus
        self.typical_steps = 100   # a run's length, which bounds the steps Hypothesis draws switches at

    # ---- coverage feedback ----

    KEEP_LIMIT = 1000
    MUTATE_SHARE = 0.3

    def _learn(self, scenario, result):
        """Keep the input of a run that showed new ordered pairs, to mutate later."""
        if self.coverage is None or result.mode != "controlled":
            return
        if _core.coverage_pairs(self.executor.pool, self.coverage) and result.switches_complete:
            if len(self.kept) >= self.KEEP_LIMIT:
                self.kept.pop(self.rng.randrange(len(self.kept)))
            self.kept.append((scenario, result.switches, max(result.steps, 1)))

    def _mutant(self):
        """A kept input with its switch list changed a little: one switch added, dropped or moved."""
        scenario, switches, steps = self.rng.choice(self.kept)
        switches = list(switches)
        ntasks = scenario.ntasks
        choice = self.rng.random()
        if not switches or choice < 0.4:
            switches.append((self.rng.randint(0, steps), self.rng.randrange(ntasks)))
        elif choice < 0.6:
            switches.pop(self.rng.randrange(len(switches)))
        else:
            i = self.rng.randrange(len(switches))
            step, task = switches[i]
            switches[i] = (max(0, step + self.rng.randint(-8, 8)),
                           task if self.rng.random() < 0.5 else self.rng.randrange(ntasks))
        return scenario, Schedule.of_switches(switches)

    def state(self):
        """What a later campaign needs to resume: coverage and kept inputs, as JSON data."""
        return {"coverage": sorted(self.coverage or ()),
                "kept": [{"scenario": sc.to_json(), "switches": [list(x) for x in sw], "steps": st}
                         for sc, sw, st in self.kept]}

    def restore(self, state):
        if self.coverage is None:
            return
        self.coverage.update(int(x) for x in state.get("coverage", ()))
        program = type(self.executor.program)
        for item in state.get("kept", ())[-self.KEEP_LIMIT:]:
            scenario = Scenario.of(item["scenario"])
            schedule = Schedule.of_switches(item["switches"])
            try:
                program.validate(scenario)      # a state saved before the program changed
                schedule.check(scenario.ntasks)
            except FuzzmmError:
                continue
            self.kept.append((scenario, schedule.switches, int(item.get("steps", 1))))

    def _ticked(self):
        """Report progress now and then; True when the caller asked to stop."""
        if self.tick is None:
            return False
        now = time.monotonic()
        if now - self._last_tick < 0.5:
            return False
        self._last_tick = now
        return bool(self.tick(self.runs))

    def _scenario(self):
        program = self.executor.program
        if self.fixed_scenario is not None:
            return self.fixed_scenario
        if self.rng.random() < 0.25:
            if self._default is None:
                self._default = self.executor.default_scenario()
            return self._default
        return program.random_scenario(self.rng, swarm=self.rng.random() < 0.5)

    def run(self, seconds=None, max_runs=None, stop_at_first=False):
        """Yield a Found for every finding within the budget."""
        strategy = STRATEGIES[self.strategy_name].make(self.seed, self.pct_depth)
        if strategy.drives_the_loop:
            yield from self._hypothesis(seconds, max_runs, stop_at_first)
            return
        start = time.monotonic()
        deadline = start + seconds if seconds is not None else None
        while (deadline is None or time.monotonic() < deadline) and (max_runs is None or self.runs < max_runs):
            if self.kept and strategy.mode == "controlled" and self.rng.random() < self.MUTATE_SHARE:
                scenario, schedule = self._mutant()
            else:
                scenario = self._scenario()
                schedule = strategy.schedule(scenario.ntasks)
            if strategy.mode == "chaos":
                result = self.executor.run(scenario, mode="chaos", delay_prob=strategy.delay_prob,
                                           delay_max_ns=strategy.delay_max_ns)
            else:
                result = self.executor.run(scenario, schedule)
            self.runs += 1
            strategy.observe(result)
            self._learn(scenario, result)
            if self._ticked():
                return
            if result.finding is None:
                continue
            reproduced, replayed = True, False
            if strategy.mode == "chaos":
                converted = convert_chaos(self.executor, scenario, result)
                reproduced = replayed = converted is not None     # converted by runs on their own
                result = converted or result
            elif not result.switches_complete:
                reproduced = False
            elif result.finding.kind == "lock-order":          # may have closed across runs
                reproduced = replayed = replays_alone(self.executor, scenario, result.schedule,
                                                      result.finding.signature)
            yield Found(result.finding, scenario, result.schedule, self.strategy_name, self.runs,
                        time.monotonic() - start, reproduced, replayed)
            if stop_at_first:
                return

    def _hypothesis(self, seconds, max_runs, stop_at_first):
        """Hypothesis draws scenario and schedule, and shrinks the first failure it sees,
        holding its signature fixed so shrinking cannot slip to another bug."""
        program = type(self.executor.program)
        start = time.monotonic()
        round_seed = self.seed
        known = set()          # signatures found in earlier rounds: later rounds look for others
        while True:
            if seconds is not None and time.monotonic() - start >= seconds:
                return
            if max_runs is not None and self.runs >= max_runs:
                return
            target = {}
            stopped = []

            def should_stop():
                if self._ticked():
                    stopped.append(True)
                out_of_time = seconds is not None and time.monotonic() - start >= seconds
                return bool(stopped) or (out_of_time and "signature" not in target)

            def judge(scenario, result):
                self.runs += 1
                self._learn(scenario, result)
                if result.steps:
                    self.typical_steps = result.steps
                finding = result.finding
                if finding is None or finding.signature in known:
                    return Verdict.PASS
                if "signature" not in target:
                    target["signature"] = finding.signature
                    target["first_run"] = self.runs
                    target["first_s"] = time.monotonic() - start
                return Verdict.FAILS if finding.signature == target["signature"] else Verdict.PASS

            max_step = max(16, self.typical_steps)
            settings = Settings(max_examples=max_runs - self.runs if max_runs else 10 ** 6, deadline=None,
                                database=self.database, derandomize=False, report_multiple_bugs=False,
                                suppress_health_check=list(HealthCheck),
                                phases=([Phase.reuse] if self.database is not None else [])
                                + [Phase.generate, Phase.shrink])
            outcome = run_examples(self.executor, draws.scenarios(program),
                                   draws.schedules(program.tasks[1], max_step=max_step), settings, judge,
                                   should_stop=should_stop, seed=round_seed)
            if outcome.example is None:
                return
            finding, scenario, schedule = outcome.example
            known.add(finding.signature)
            yield Found(finding, scenario, schedule, self.strategy_name, target["first_run"], target["first_s"])
            if stop_at_first or stopped:
                return
            round_seed += 1
