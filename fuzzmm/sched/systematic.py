"""The `dfs` strategy: scenarios explored systematically, with an iterative preemption bound.

Round k explores every schedule within k preemptions (fuzzmm.sched.explore) of the
program's default scenario, then of its first small scenarios (fuzzmm.verification:
more of them each round), each up to a cap of runs: a bug that needs few preemptions
on a small scenario comes first, as in CHESS's iterative context bounding, and a round
that finds nothing still leaves every schedule of its bound covered for the scenarios
it finished.  Each finding comes back as the search loop reports one
(fuzzmm.sched.search.Found), with the switch list that replays it.
"""
import itertools
import time

from fuzzmm.errors import FuzzmmError
from fuzzmm.sched.explore import Explorer, Stopped
from fuzzmm.sched.search import Found

NAME = "dfs"
ROUND_SCENARIOS = 4         # small scenarios in round 0, twice as many each round after
RUNS_PER_SCENARIO = 5000    # runs at most on one scenario in one round


def scenarios_of_round(search, bound):
    """The scenarios round `bound` explores: the search's fixed scenario, else the default
    scenario and the program's first small ones."""
    from fuzzmm.sched.enumerate import small_scenarios
    if search.fixed_scenario is not None:
        return [search.fixed_scenario]
    if search._default is None:
        search._default = search.executor.default_scenario()
    fits = (s for s in small_scenarios(type(search.executor.program))
            if s.ntasks <= search.executor.nworkers and s != search._default)
    return [search._default] + list(itertools.islice(fits, ROUND_SCENARIOS << bound))


def search_dfs(search, seconds=None, max_runs=None, stop_at_first=False):
    """Yield a Found for every new signature within the budget, as Search.run does: rounds of
    bound 0, 1, 2, ... over the scenarios of each round, counting runs in `search.runs`."""
    start = time.monotonic()
    deadline = start + seconds if seconds is not None else None
    seen = set()

    def spent():
        return (deadline is not None and time.monotonic() >= deadline) or \
            (max_runs is not None and search.runs >= max_runs)

    for bound in itertools.count():
        for scenario in scenarios_of_round(search, bound):
            if spent():
                return
            cap = RUNS_PER_SCENARIO if max_runs is None else min(RUNS_PER_SCENARIO, max_runs - search.runs)
            explorer = Explorer(search.executor, scenario, bound, max_runs=cap, deadline=deadline)
            found = []
            try:
                for explored in explorer.runs():
                    search.runs += 1
                    result = explored.result
                    if result.finding is not None and result.finding.signature not in seen \
                            and result.switches_complete:
                        found.append(result)
                        break       # the rest of this scenario's tree, in a later round
                    if search._ticked():
                        return
            except Stopped as stopped:          # a run past the watchdog, twice
                search.runs += 1
                found.append(stopped.result)
            except FuzzmmError:
                continue            # a scenario the explorer cannot take (too long a run): the next
            for result in found:
                seen.add(result.finding.signature)
                yield Found(result.finding, scenario, result.schedule, NAME, search.runs,
                            time.monotonic() - start)
                if stop_at_first:
                    return
