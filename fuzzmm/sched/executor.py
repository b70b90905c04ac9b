"""The executor: one pool, persistent worker processes, and runs under schedules.

Workers are started once and reused for thousands of runs; between runs the
pool's model state is restored from a snapshot taken after `setup`, not
rebuilt, and only what the last run wrote is copied back.  The parent only
prepares a run, releases it, and waits: in controlled mode the workers pass
the turn among themselves, each woken only when its turn comes.  What the run's
records mean is decided in verdict.py; the bound on model code the parent runs
itself is watchdog.py's, and where a hung task spins is found by stuck.py.
"""
import importlib.util
import os
import pickle
import signal
import sys
import threading
import time

import multiprocess

from fuzzmm import _core, proctree
from fuzzmm.errors import Finding, FuzzmmError
from fuzzmm.models import ProgramRef
from fuzzmm.program import Program, Scenario
from fuzzmm.sched.schedule import RunResult, Schedule
from fuzzmm.sched import verdict, worker
from fuzzmm.sched.stuck import where_stuck
from fuzzmm.watchdog import InParent, Overran
from fuzzmm.detect.lockdep import LockDep
from fuzzmm.trace import object_names

READY_TIMEOUT_S = 60.0


def default_start_method():
    """fork where it is safe (a single-threaded parent), else forkserver."""
    return "fork" if threading.active_count() == 1 else "forkserver"


def _ref_of(program):
    """A ProgramRef any worker can load: by module name if importable by name, else by file."""
    if isinstance(program, ProgramRef):
        return program
    if isinstance(program, type) and issubclass(program, Program):
        module = sys.modules.get(program.__module__)
        path = getattr(module, "__file__", None)
        by_name = program.__module__ != "__main__" and not program.__module__.startswith("fuzzmm_model_")
        if by_name and importlib.util.find_spec(program.__module__) is not None:
            return ProgramRef(program.__module__, program.__qualname__)
        if path:
            return ProgramRef(path, program.__qualname__)
    raise TypeError(f"expected a Program subclass or a ProgramRef, not {program!r}")


def _describe_exit(code):
    if code is None:
        return "is still running"
    if code < 0:
        try:
            return f"was killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"was killed by signal {-code}"
    return f"exited with status {code}"


class RunInterrupted(Exception):
    """A run abandoned because `Executor.should_stop` said so: its result is unknown."""


class Executor:
    """Runs scenarios of one Program in `workers` persistent processes over one pool.

    `start_method` is the multiprocess start method ("fork", "spawn" or
    "forkserver"); by default fork when this process has one thread, else
    forkserver, decided at each worker's start.  `watchdog_s` bounds one run's
    wall time: past it the run is a `hang` and its workers are replaced, and
    what their tasks started is killed with them.  `cpu` pins every worker to that one
    CPU: in controlled mode only one task runs at a time, so one core loses
    nothing, hand-offs stay on that core, and executors on other cores do not
    disturb it.  Leave it None for chaos runs, which want every core.
    """

    def __init__(self, program: "type[Program] | ProgramRef", workers: int | None = None,
                 start_method: str | None = None, watchdog_s: float = 10.0, cpu: int | None = None,
                 lockdep: bool = True) -> None:
        self.ref = _ref_of(program)
        cls = self.ref.load()
        cls.check_definition()
        self.program = cls()
        self.nworkers = workers or cls.tasks[1]
        if not 1 <= self.nworkers <= 16:
            raise FuzzmmError(f"an executor has 1..16 workers, not {self.nworkers}")
        self.watchdog_s = watchdog_s
        self._in_parent = None
        self.should_stop = None     # a callable polled while a run is under way: True abandons it
        self.cpu = cpu
        self.lockdep = LockDep() if lockdep else None
        self.start_method = start_method        # None: fork unless this process has threads, at each start
        # A waiting worker spins only when it can have a core of its own; on an
        # oversubscribed machine spinning steals the running worker's time.
        self.spin_iters = 2000 if cpu is None and (os.cpu_count() or 1) > self.nworkers + 1 else 100
        # Nor does this process spin while it waits for a run's end when it can only run
        # on its workers' one CPU: there a spin only delays them.
        here = os.sched_getaffinity(0)
        self.parent_spins = 0 if len(here | ({cpu} if cpu is not None else here)) == 1 else -1
        self.runs = 0
        self._whole_reset = True    # the next reset copies all of the snapshot back, not only what changed
        self._procs = [None] * self.nworkers
        self._scenario = None
        try:
            if isinstance(cls.pool_config, dict) and "name" in cls.pool_config:
                raise ValueError("the pool's name is fuzzmm's to choose, unique to each executor")
            self.pool = _core.Pool.create(**cls.pool_config)
        except (TypeError, ValueError) as exc:
            raise FuzzmmError(f"{cls.__qualname__}.pool_config {cls.pool_config!r}: {exc}") from None
        self._in_parent = InParent(watchdog_s)          # given back by close()
        try:
            try:
                with self._in_parent:
                    self.program.bind(self.pool)
            except Overran:
                raise FuzzmmError(f"{cls.__qualname__}.setup ran past the {watchdog_s:g} s watchdog") from None
            except FuzzmmError:
                raise
            except (Exception, SystemExit) as exc:     # the program cannot run at all: bad input, not a finding
                raise FuzzmmError(f"{cls.__qualname__}.setup raised {type(exc).__name__}: {exc}") from None
            self._snapshot = self.pool.snapshot()
            self.object_names = object_names(self.program)
            _core.register_sites(*[__import__(k.__module__, fromlist=["_"]) for k in cls.__mro__
                                   if issubclass(k, Program)])
            for i in range(self.nworkers):
                self._start_worker(i)
            self._wait_ready(range(self.nworkers))
        except BaseException:
            self.close()
            raise

    # ---- workers ----

    def _start_worker(self, index):
        _core.set_worker(self.pool, index, 0, False)
        # Decided at each start: a campaign job gains a queue's feeder thread after its first
        # workers are forked, and a worker replaced then must not be forked beside it.
        ctx = multiprocess.get_context(self.start_method or default_start_method())
        proc = ctx.Process(target=worker.main, name=f"fuzzmm-worker-{index}",
                           args=(self.pool.name, self.ref, index, os.getpid(), self.cpu), daemon=True)
        proc.start()
        self._procs[index] = proc

    def _wait_ready(self, indices):
        deadline = time.monotonic() + READY_TIMEOUT_S
        for i in indices:
            while not _core.worker_ready(self.pool, i):
                proc = self._procs[i]
                if not proc.is_alive():
                    raise FuzzmmError(f"worker {i} {_describe_exit(proc.exitcode)} while starting "
                                      f"(can {self.ref} be imported in a fresh process?)")
                if time.monotonic() > deadline:
                    raise FuzzmmError(f"worker {i} did not start within {READY_TIMEOUT_S:.0f} s")
                time.sleep(0.002)

    def _replace(self, indices):
        for i in indices:
            proc = self._procs[i]
            left = proctree.descendants(proc.pid) if proc.is_alive() else \
                proctree.marked(f"{os.getpid()}.{proc.pid}.")       # what its tasks started
            if proc.is_alive():
                proc.kill()
            proc.join(5)
            proctree.kill(left)
            self._start_worker(i)
        self._wait_ready(indices)

    def respawn(self):
        """Replace every worker with a fresh process: the next run starts from new
        processes, as a hand-written stress test that forks per run would."""
        self._replace(range(self.nworkers))

    def set_watchdog(self, seconds):
        """Bound the runs from now on, and the model code run here, by `seconds`."""
        self.watchdog_s = seconds
        if self._in_parent is not None:
            self._in_parent.seconds = seconds

    @property
    def worker_pids(self):
        return [p.pid for p in self._procs]

    # ---- runs ----

    def run(self, scenario: Scenario, schedule: Schedule = Schedule(), mode: str = "controlled",
            delay_prob: float = 0.0, delay_max_ns: int = 0, keep_events: bool = False) -> RunResult:
        """Run `scenario` once under `schedule` ("controlled") or free-running ("chaos")."""
        if self.pool.closed:
            raise FuzzmmError("executor is closed")
        n = scenario.ntasks
        if not 1 <= n <= self.nworkers:
            raise FuzzmmError(f"scenario has {n} tasks; this executor runs 1..{self.nworkers}")
        pool = self.pool
        _core.reset_run(pool, self._snapshot, self._whole_reset)
        self._whole_reset = False
        if self._has_init:
            failed = self._init(scenario)
            if failed is not None:
                return RunResult(finding=failed, mode=mode)
        if scenario is not self._scenario and scenario != self._scenario:
            _core.put_scenario(pool, self.check_scenario_size(scenario))
            self._scenario = scenario
        _core.prepare_run(pool, n, mode, schedule.kind, schedule.switches, schedule.priorities,
                          schedule.change_points, schedule.seed, schedule.order, self.program.max_steps,
                          delay_prob, delay_max_ns, self.spin_iters)
        _core.start_run(pool)
        self.runs += 1
        finding = self._wait(n, chaos=mode == "chaos")
        steps, switches, complete, clean = _core.run_summary(pool)
        if finding is None and clean:
            _core.finish_run(pool)
            finding = verdict.decide_clean(pool, lambda: self._check(scenario), self.lockdep, self.object_names)
        else:
            info = _core.run_info(pool)
            _core.finish_run(pool)
            finding = verdict.decide(pool, info, finding, lambda: self._check(scenario), self.lockdep,
                                     self.object_names)
        return RunResult(finding, switches, complete, steps, mode,
                         _core.events(pool) if keep_events or mode == "chaos" else None)

    @staticmethod
    def check_scenario_size(scenario):
        """The scenario pickled, as a run takes it; FuzzmmError if it is too large to hold."""
        blob = pickle.dumps(scenario)
        if len(blob) > _core.SCENARIO_BYTES:
            raise FuzzmmError(f"the scenario takes {len(blob)} bytes pickled; a run holds at most "
                              f"{_core.SCENARIO_BYTES}: give it fewer or smaller operations")
        return blob

    def run_alone(self, scenario: Scenario, schedule: Schedule, **kwargs) -> RunResult:
        """Run with a fresh lock-dependency graph: does a lock-order cycle show in this
        run on its own, as in a replay, without the dependencies of earlier runs?"""
        kept = self.lockdep
        self.lockdep = LockDep() if kept is not None else None
        try:
            return self.run(scenario, schedule, **kwargs)
        finally:
            self.lockdep = kept

    STALL_POLLS = 3     # polls, 50 ms apart, a chaos run must look deadlocked in a row

    def _wait(self, n, chaos=False):
        """Wait for the run's end; a dead worker, a chaos deadlock or the watchdog becomes a finding."""
        deadline = time.monotonic() + self.watchdog_s
        stall = (None, 0)       # (step, polls in a row) of a chaos run with every live task asleep
        while not _core.wait_done(self.pool, 0.05, self.parent_spins):
            if self.should_stop is not None and self.should_stop():     # do not wait out a stuck run
                self._end_abnormally(n)
                raise RunInterrupted()
            if chaos:
                step, task, waits = _core.stalled_waits(self.pool, self.object_names)
                stall = (step, stall[1] + 1 if stall[0] == step else 1) if waits else (None, 0)
                if stall[1] >= self.STALL_POLLS:
                    report = verdict.deadlock(waits, task, _core.wait_cycle(self.pool))
                    self._end_abnormally(n)
                    return verdict.place_deadlock(self.pool, report)
            dead = [i for i in range(n) if not self._procs[i].is_alive()]
            if dead:
                i = dead[0]
                report = verdict.worker_crash(i, _describe_exit(self._procs[i].exitcode),
                                              verdict.last_function(self.pool, i))
                self._end_abnormally(n)
                return report
            if time.monotonic() > deadline:
                info = _core.run_info(self.pool)
                stuck = [t for t, r in enumerate(info["results"]) if r[3] != 3]
                # Under control only the task whose turn it is can be running; the others wait.
                suspects = [info["current"]] if not chaos and info["current"] in stuck else stuck
                function, line, task = where_stuck(self.pool, self.worker_pids, suspects)
                if not function and suspects:
                    function, task = verdict.last_function(self.pool, suspects[0]), suspects[0]
                report = verdict.run_overran(self.watchdog_s, stuck, function, line, task)
                self._end_abnormally(n)
                return report
        return None

    def _end_abnormally(self, n):
        """Abort the run, give its tasks a moment to unwind, replace every worker that did not."""
        _core.abort_run(self.pool)
        deadline = time.monotonic() + 1.0
        while time.monotonic() < deadline:
            states = [r[3] for r in _core.run_info(self.pool)["results"]]
            if all(s == 3 or not self._procs[t].is_alive() for t, s in enumerate(states)):
                break
            time.sleep(0.005)
        states = [r[3] for r in _core.run_info(self.pool)["results"]]
        self._replace([t for t, s in enumerate(states) if s != 3 or not self._procs[t].is_alive()])
        self._whole_reset = True        # a worker killed in a write may have left a page unlisted

    def _init(self, scenario):
        """The program's init, in the parent, before the tasks start: a finding if it fails."""
        return self._in_parent_finding(self.program.init, scenario, "init")

    def default_scenario(self):
        """The program's checked default scenario, drawn here under the watchdog."""
        try:
            with self._in_parent:
                return self.program.checked_default_scenario()
        except Overran:
            raise FuzzmmError(f"{type(self.program).__name__}.default_scenario() ran past the "
                              f"{self.watchdog_s:g} s watchdog") from None

    def _check(self, scenario):
        """The program's quiescent invariant, in the parent, after every task has ended."""
        if not self._has_check:
            return None
        return self._in_parent_finding(self.program.check, scenario, "the quiescent check")

    @property
    def _has_init(self):
        """Whether the program has an init of its own: Program's does nothing, so a run
        need not enter the watchdog's bound for it."""
        return getattr(self.program.init, "__func__", None) is not Program.init

    @property
    def _has_check(self):
        return getattr(self.program.check, "__func__", None) is not Program.check

    def _in_parent_finding(self, method, scenario, what):
        """Run one of the program's methods here; what it raised, as a finding, or None.
        A bug in it is reported as one in an op would be."""
        try:
            with self._in_parent:
                method(scenario)
        except Overran:
            return verdict.parent_overran(what, self.watchdog_s, method)
        except Finding as exc:
            return verdict.parent_finding(exc.kind, exc.message, exc)
        except AssertionError as exc:
            return verdict.parent_finding("assertion", str(exc) or "assert failed", exc)
        except (Exception, SystemExit) as exc:
            return verdict.parent_finding("error", f"{type(exc).__name__}: {exc}", exc)
        return None

    # ---- life cycle ----

    def close(self) -> None:
        """Stop the workers and remove the pool; safe to call twice."""
        if self._in_parent is not None:
            in_parent, self._in_parent = self._in_parent, None
            in_parent.release()
        procs = [p for p in self._procs if p is not None]
        left = [pid for p in procs if p.is_alive() for pid in proctree.descendants(p.pid)]    # its tasks' own
        if not self.pool.closed:
            _core.shutdown_workers(self.pool)
        for p in procs:
            p.join(2)
            if p.is_alive():
                p.kill()
                p.join(2)
        # and what left their trees: this executor's workers' only, not another's in this process
        proctree.kill(left + (proctree.marked(*(f"{os.getpid()}.{p.pid}." for p in procs)) if procs else []))
        self._procs = [None] * self.nworkers
        if not self.pool.closed:
            self.pool.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        try:
            self.close()
        except Exception:
            pass
