"""One campaign job: a process that searches one (variant, strategy) and reports to its campaign;
and the process before them all that checks the programs they run.

Each job runs in its own process with its own executor (pool and workers), so
executors scale across cores without sharing a GIL.  A job sends its campaign,
over a queue, its progress twice a second, each new finding as the corpus Entry
itself (the queue pickles it), and its end; the campaign alone writes the
corpus.  Its time is a JobClock: it searches until `ends_at`, its start-up
counted, winds down (the last finding's shrinking, Hypothesis's) by `stop_by`,
and lets a run under way end on its own, since only the watchdog ends a hang;
it says so when such a run kept it past `stop_by`.
"""
from dataclasses import dataclass
import os
import signal
import time

from fuzzmm import _core, corpus
from fuzzmm.corpus.entry import Entry
from fuzzmm.corpus.minimize import QUICK_S
from fuzzmm.corpus.store import open_store
from fuzzmm.errors import FuzzmmError
from fuzzmm.models import is_file_source

MINIMIZE_S = QUICK_S    # at most this long per new finding,
MINIMIZE_SHARE = 0.1    # and this share of a job's budget for all of them
MIN_SEARCH_S = 0.2      # a job whose start-up took all its time still searches this long


@dataclass(frozen=True)
class JobClock:
    """A job's time, in time.monotonic() seconds (one clock for every process of the machine)."""
    began: float        # when its campaign started it
    ends_at: float      # when it stops searching
    stop_by: float      # when it stops shrinking too: what is under way then is a run

    @property
    def budget(self):
        return self.ends_at - self.began


class _Termination:
    """SIGTERM (or SIGHUP) to a job, as when the whole process group is sent it, asks the search to stop
    at its next progress tick (twice a second), so the job still reports its runs and
    findings and closes its executor, as Ctrl-C does; a second SIGTERM exits at once."""

    def __init__(self):
        self.asked = False

    def __call__(self, signum, frame):
        if self.asked:
            raise SystemExit(128 + signum)
        self.asked = True


def main(job, clock, messages, stop, pct_depth, cpus, store_spec):
    """Body of one job process: search until its clock or `stop` says, report by queue.
    Its last message is ("done", job, runs, error or None, {"search_s", "late"})."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    terminated = _Termination()
    signal.signal(signal.SIGTERM, terminated)
    if signal.getsignal(signal.SIGHUP) != signal.SIG_IGN:
        signal.signal(signal.SIGHUP, terminated)        # sent with the campaign's own when its terminal goes
    _core.set_pdeathsig()           # a campaign killed outright takes its jobs with it

    def asked_to_stop():
        return stop.is_set() or terminated.asked

    def stopping():                 # between runs: asked to, or past the wind-down
        return asked_to_stop() or time.monotonic() > clock.stop_by
    late = []                       # what kept the job past clock.stop_by

    def abandon_run():
        """Polled while a run is under way: abandon it only when asked to.  A run under way past
        the wind-down is let end (only the watchdog ends a hang), and noted."""
        if not late and time.monotonic() > clock.stop_by:
            late.append(f"a run under way past its end (a hang lasts the {executor.watchdog_s:g} s watchdog, "
                        f"and its replay as long)")
        return asked_to_stop()
    search = None
    searched = {}
    try:
        from fuzzmm.sched.strategies import STRATEGIES
        cpu = None if STRATEGIES[job.strategy].free_running else cpus.claim()   # chaos wants every core
        from fuzzmm.sched.executor import Executor, RunInterrupted
        from fuzzmm.sched.search import Search
        store = open_store(store_spec, prepare=False)
        with Executor(job.ref, cpu=cpu) as executor:
            search = Search(executor, job.strategy, seed=job.seed, pct_depth=pct_depth,
                            database=store.hypothesis_database())
            state_name = _state_name(job, store)
            try:
                search.restore(store.load_state(state_name) or {})
            except Exception:
                pass                    # a damaged state only costs the resume
            saved = [time.monotonic()]

            def tick(n):
                messages.put(("progress", job, n, len(search.coverage or ())))
                if time.monotonic() - saved[0] > 2:
                    store.save_state(state_name, search.state())
                    saved[0] = time.monotonic()
                return stopping()
            search.tick = tick
            executor.should_stop = abandon_run
            searched["began"] = time.monotonic()
            messages.put(("started", job, os.getpid(), time.time()))     # its findings count from here
            try:
                _search(job, clock, executor, search, messages, stopping, asked_to_stop)
            except RunInterrupted:
                pass
            searched["ended"] = time.monotonic()
            store.save_state(state_name, search.state())
        error = None
    except BaseException as exc:      # reported to the parent, which decides the exit code
        error = str(exc) if isinstance(exc, FuzzmmError) else f"{type(exc).__name__}: {exc}"
    search_s = searched.get("ended", time.monotonic()) - searched["began"] if "began" in searched else None
    messages.put(("done", job, search.runs if search else 0, error,
                  {"search_s": search_s, "late": late[0] if late else None}))


def _state_name(job, store):
    """The key of a job's saved search state.  A model file is named as the corpus names it
    (relative to a corpus directory, else absolute), so `--model m.py` and `--model ./m.py`,
    or the same file from another directory, resume one state."""
    model = job.model
    if is_file_source(model):
        base = getattr(store, "path", None)
        model = os.path.relpath(os.path.abspath(model), base) if base else os.path.abspath(model)
    return f"{model}/{job.variant}/{job.strategy}"


def _search(job, clock, executor, search, messages, stopping, asked_to_stop):
    """Search until the clock's `ends_at` or `stopping()`, one run at least unless asked to stop;
    each new finding that replays on its own is shrunk a little (by `stop_by` at the latest) and
    sent to the parent as its Entry."""
    from fuzzmm.sched.executor import RunInterrupted
    from fuzzmm.sched.search import replays_alone
    seen = set()
    shrink_left = MINIMIZE_SHARE * clock.budget        # for all the job's findings together
    began = time.monotonic()

    def findings():
        yield from search.run(seconds=max(clock.ends_at - began, MIN_SEARCH_S))
        if search.runs == 0 and not asked_to_stop():    # its start-up (Hypothesis's) took its time
            yield from search.run(max_runs=1)
    for found in findings():
        if not found.reproduced or found.finding.signature in seen:
            continue
        if not found.replayed and not replays_alone(executor, found.scenario, found.schedule,
                                                    found.finding.signature):
            continue        # only what replays is kept (not a worker killed from outside)
        seen.add(found.finding.signature)
        entry = Entry(model=job.model, variant=job.variant, program=str(job.ref),
                      scenario=found.scenario, schedule=found.schedule, kind=found.finding.kind,
                      signature=found.finding.signature, message=found.finding.message,
                      past_watchdog=found.finding.past_watchdog, found_by=found.found_by(job.seed))
        seconds = min(MINIMIZE_S, shrink_left, clock.stop_by - time.monotonic())
        if not stopping() and seconds > 0:
            shrinking = time.monotonic()
            try:
                entry = corpus.shrink_quickly(entry, executor, seconds)
            except RunInterrupted:
                pass            # asked to stop mid-shrink: the finding goes as it was found
            shrink_left -= time.monotonic() - shrinking
        messages.put(("finding", job, entry, began + found.elapsed_s, found.elapsed_s))
        if stopping():
            break


def check_programs(refs, sender):
    """In a process a campaign forks before its jobs: each (ProgramRef, variant) set up as a job's
    executor does (pool_config, setup, one worker) and its default scenario drawn, each under the
    watchdog; sends None, or the first failure as one line."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)        # the campaign's Ctrl-C ends this by a kill
    _core.set_pdeathsig()
    from fuzzmm.sched.executor import Executor
    failure = None
    for ref, variant in refs:
        try:
            with Executor(ref, workers=1) as executor:
                executor.default_scenario()
        except FuzzmmError as exc:
            failure = f"{variant}: {exc}"
        except BaseException as exc:        # as a job would report it
            failure = f"{variant}: {type(exc).__name__}: {exc}"
        if failure is not None:
            break
    sender.send(failure)
    sender.close()
