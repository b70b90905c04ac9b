"""Systematic exploration: every schedule of one scenario within a preemption bound.

A preemption is a decision that gives the CPU to another task while the task that
decides could have gone on (a switch where the running task blocks or ends is
free, as is one the default rule makes when a timeslice is spent).  With a bound
of K, the explorer covers every schedule with at most K preemptions, up to the
reordering of independent operations (fuzzmm.sched.dependence): two schedules
that differ only in the order of operations on different objects, or of reads of
one object, reach the same state and the same findings, and only one of them
needs to run.

The algorithm is bounded partial-order reduction (BPOR: Coons, Musuvathi and
McKinley, "Bounded Partial-Order Reduction", OOPSLA 2013): dynamic partial-order
reduction with sleep sets (Flanagan and Godefroid, "Dynamic Partial-Order
Reduction for Model Checking Software", POPL 2005) made sound under a preemption
bound.

- Depth-first and stateless.  Each run follows a prefix of decisions and then the
  default rule, which never preempts; the decision log (pyx/decisions.pxi) says
  who ran at each step, who could have, and (with the event ring) what each step
  touched.
- Races: for every step j of task p and every earlier step i of another task that
  j depends on and that does not happen before p's previous step, p becomes a
  backtrack point of the state before i (every task that could run there, when p
  could not), as DPOR does at each state where j was p's next transition
  (Flanagan and Godefroid's next(s, p)).
- The bound makes independent transitions dependent: reversing a race at i may
  take a preemption the bound forbids, where scheduling p at the last step before
  i at which the run switched tasks anyway reaches the same partial order within
  it.  So, as BPOR does, p is also a backtrack point there, a conservative one;
  and where the running task blocked or ended, every task that could run is one
  (a free choice).
- Sleep sets, restricted to what the bound allows.  At a state where the running
  task went on (the default rule's choice, always explored first), that task
  sleeps in the subtrees of the other choices until a step dependent with its
  transition runs, and a schedule that would run it while it sleeps adds
  nothing: moved back to the state where it was preempted, its transition makes
  a schedule with no more preemptions, which the first subtree covered.  Other
  choices put no task to sleep: moving one of them earlier can take one
  preemption more, past the bound (a start, which touches nothing, would sleep
  for ever), and a run that put them to sleep missed outcomes.  A conservative
  point is explored even for a sleeping task, as in BPOR.  The core cannot be
  told of sleep sets, so a run that goes on with a sleeping task after its
  prefix is made and then set aside: nothing is learnt from it, and where a free
  choice had another task to run, that task is the next run.
- A run that a finding ended stops every task at once: its last step is taken as
  dependent with every earlier step (a check that fails raises before its
  operation is recorded) and with what the tasks that could still run would have
  done next.
- A backtrack point is run only while its schedule stays within the bound.

Plain bounded enumeration (`reduce=False`), every choice at every step within the
bound, is the baseline the reduction is measured and tested against.  Every run is
an ordinary switch list, so a finding replays, shrinks and goes to the corpus like
any other.
"""
from dataclasses import dataclass
import time

from fuzzmm import _core
from fuzzmm.errors import FuzzmmError
from fuzzmm.sched.dependence import steps_of_run
from fuzzmm.sched.schedule import Schedule


@dataclass
class Explored:
    """One run of the exploration."""
    result: object              # the RunResult
    schedule: Schedule          # the switch list it ran under
    preemptions: int            # preemptions the schedule takes
    run: int                    # its number, from 1
    redundant: bool = False     # it went on with a sleeping task: another run covers it


class _Node:
    """A state of the exploration tree: the decision at one step of the current path."""
    __slots__ = ("step", "todo", "done", "sleep", "taken", "cost_before", "last_switch", "undo", "touched")

    def __init__(self, step, sleep):
        self.step = step                # the dependence.Step the current path took here
        self.todo = {}                  # task -> whether it is a conservative backtrack point
        self.done = {step.task}         # tasks run from this state, or set aside beyond the bound
        self.sleep = sleep              # task -> its transition (a Step): asleep in this state
        # the tasks explored from here whose transitions put them to sleep in later siblings
        self.taken = {step.task: step} if _continues(step) else {}
        self.cost_before = 0            # preemptions the path takes before this state
        self.last_switch = 0            # the last step, up to this one, at which the running task changed
        self.undo = ()                  # what taking this step changed in the happens-before state
        self.touched = ()               # the objects whose lists of steps it was appended to


def preemption_cost(step, task):
    """Preemptions that choosing `task` at this decision takes: 1 when the deciding task
    could have gone on and the default rule would have kept it on, else 0."""
    cur = step.cur
    if cur < 0 or not (step.enabled >> cur) & 1 or task == step.dflt:
        return 0
    return 1


def _continues(step):
    """Whether the decision kept the deciding task on, as the default rule does."""
    return step.cur >= 0 and step.task == step.cur == step.dflt


def tasks_of(mask):
    """The tasks of a bit mask, lowest first."""
    t = 0
    while mask:
        if mask & 1:
            yield t
        mask >>= 1
        t += 1


def _asleep_after(sleep, step):
    """The sleep set after `step`: its own task wakes, and so does every task whose
    transition depends on it."""
    if not sleep:
        return sleep
    return {task: t for task, t in sleep.items() if task != step.task and not t.depends_on(step)}


_R, _W, _A = 0, 1, 2        # how a step touched an object: read, wrote, added to


def _join(a, b):
    return tuple(map(max, a, b))


class Explorer:
    """Explore one scenario on an executor: `runs()` yields each run as it is made.

    `preemptions` is the bound K; `reduce` chooses BPOR (True) or plain enumeration.
    `max_runs` and `deadline` (time.monotonic()) stop it early; `exhausted` then says
    whether every schedule within the bound was covered.  Runs are made with
    `Executor.run_alone`, a fresh lock-dependency graph each, so a run's outcome is
    its own, as its replay's is."""

    def __init__(self, executor, scenario, preemptions, reduce=True, max_runs=None, deadline=None):
        if not isinstance(preemptions, int) or isinstance(preemptions, bool) or preemptions < 0:
            raise FuzzmmError(f"the preemption bound is a whole number from 0, not {preemptions!r}")
        self.executor = executor
        self.scenario = scenario
        self.bound = preemptions
        self.reduce = reduce
        self.max_runs = max_runs
        self.deadline = deadline
        self.path = []              # _Node per step of the current path
        self.count = 0              # runs made
        self.redundant = 0          # of which set aside (they went on with a sleeping task)
        self.exhausted = False      # every schedule within the bound was covered
        self.longest = 0            # steps of the longest run
        # Happens-before along the current path, kept step by step (and undone step by step
        # when the search backtracks): vector clocks, clock[u] being the last step of task u
        # that happens before (-1: none).  Per object: (the clock of its last write, the
        # joined clocks of the reads and of the adds since), and per task the steps that
        # touched it and how.
        n = scenario.ntasks
        self._task_clock = [(-1,) * n] * n
        self._previous = [-1] * n       # each task's last step
        self._state, self._touched = {}, {}

    # ---- the search ----

    def runs(self):
        prefix, conservative = (), False    # the decisions the next run must take, from step 0
        if self.max_runs is not None and self.max_runs < 1:
            return
        while True:
            schedule = self._schedule(prefix)
            result = self.executor.run_alone(self.scenario, schedule, keep_events=True)
            self.count += 1
            start = max(0, len(prefix) - 1)     # the steps before it are the path's already
            try:
                steps, aborted = self._steps(result, start)
            except Stopped:         # once more: a loaded machine may have held a worker back
                result = self.executor.run_alone(self.scenario, schedule, keep_events=True)
                steps, aborted = self._steps(result, start)
            redundant = self._follow(prefix, conservative, steps, start)
            if redundant:
                self.redundant += 1
            self._analyse(start, aborted and not redundant, races=self.reduce and not redundant)
            yield Explored(result, schedule, self._preemptions(), self.count, redundant)
            if (self.max_runs is not None and self.count >= self.max_runs) or \
                    (self.deadline is not None and time.monotonic() >= self.deadline):
                self.exhausted = self.pending() == 0    # the limit came with the last run
                return
            branch = self._next()
            if branch is None:
                self.exhausted = True
                return
            prefix, conservative = branch

    def _schedule(self, prefix):
        """The switch list that takes the decisions of `prefix` (the path's, but for its last)."""
        return Schedule.of_switches([(k, task) for k, task in enumerate(prefix)
                                     if task != self.path[k].step.dflt])

    def _steps(self, result, start):
        pool = self.executor.pool
        decisions = _core.decisions(pool)
        raw, raw_whole = _core.raw_accesses(pool)
        if not decisions[4]:
            raise FuzzmmError(f"a run took more than {_core.MAX_DECISIONS} steps: too long to explore")
        if not raw_whole or _core.ring_overflowed(pool):
            raise FuzzmmError("a run touched shared state more often than its logs hold: give the program's "
                              "pool_config a larger `ring`, or explore a smaller scenario")
        if result.finding is not None and result.finding.kind == "worker-crash":
            raise FuzzmmError(f"a worker died while exploring: {result.finding.message}")
        info = _core.run_info(pool)
        if info["abort"] == "parent":
            raise Stopped(result)
        steps = steps_of_run(decisions, result.events, raw, start)
        # a finding in a task ends the run: every other task stops where it is
        aborted = info["abort"] == "finding" or (result.finding is not None and result.finding.kind == "hang")
        self.longest = max(self.longest, start + len(steps))
        return steps, aborted

    def _follow(self, prefix, conservative, steps, start):
        """Make the run's steps the current path from step `start` on; True if the run went
        on with a sleeping task (it is set aside, and the path ends where it did)."""
        path = self.path
        keep = len(prefix)
        for k in range(start, keep):
            task = steps[k - start].task if k - start < len(steps) else None
            if task != prefix[k]:
                raise FuzzmmError(f"the program is not deterministic under a schedule: step {k} ran "
                                  f"{'no task' if task is None else f'task {task}'}, where an earlier run "
                                  f"with the same decisions ran task {prefix[k]}")
        sleep, cost, last_switch = {}, 0, 0
        if keep:
            branch = path[keep - 1]
            step = branch.step = steps[0]
            if self.reduce:
                sleep = _asleep_after({**branch.sleep, **branch.taken}, step)
            cost = branch.cost_before + preemption_cost(step, step.task)
            branch.last_switch = last_switch = self._switch_at(keep - 1, step.task)
        reduce = self.reduce
        for k in range(keep, start + len(steps)):
            step = steps[k - start]
            node = _Node(step, sleep)
            node.cost_before = cost
            task, cur = step.task, step.cur
            free = cur < 0 or not (step.enabled >> cur) & 1    # the deciding task could not go on
            if not free and task != step.dflt:
                cost += 1
            if k and task == path[k - 1].step.task:
                node.last_switch = last_switch
            else:
                node.last_switch = last_switch = k
            path.append(node)
            if not reduce:
                node.todo = {t: False for t in tasks_of(step.enabled) if t != task}
                continue
            if sleep and task in sleep:     # a sleeping task went on: covered by another run
                if free:                # a free choice could have run another task: that is the next run
                    node.todo = {t: False for t in tasks_of(step.enabled) if t not in sleep}
                return True
            if free:
                node.todo = {t: False for t in tasks_of(step.enabled) if t != task and t not in sleep}
            if sleep:
                sleep = _asleep_after(sleep, step)
        return False

    def _switch_at(self, k, task):
        if k == 0 or task != self.path[k - 1].step.task:
            return k
        return self.path[k - 1].last_switch

    def _preemptions(self):
        if not self.path:
            return 0
        last = self.path[-1]
        return last.cost_before + preemption_cost(last.step, last.step.task)

    def _next(self):
        """(prefix, conservative) of the next run: the deepest backtrack point within the
        bound; None when there is none.  The happens-before state is taken back to that
        point's state."""
        path = self.path
        for k in range(len(path) - 1, -1, -1):
            node = path[k]
            while node.todo:
                task = min(node.todo)
                conservative = node.todo.pop(task)
                if task in node.done:
                    continue
                node.done.add(task)
                if node.cost_before + preemption_cost(node.step, task) <= self.bound:
                    self._undo(k)
                    del path[k + 1:]
                    return tuple([n.step.task for n in path[:k]] + [task]), conservative
        return None

    def pending(self):
        """Backtrack points left on the current path within the bound: runs still to make,
        at the least."""
        return sum(1 for node in self.path for task in node.todo
                   if task not in node.done and node.cost_before + preemption_cost(node.step, task) <= self.bound)

    # ---- dynamic partial-order reduction ----

    def _undo(self, k):
        """Take the happens-before state back to before step k."""
        state, touched = self._state, self._touched
        for node in reversed(self.path[k:]):
            if not node.undo:
                continue
            task = node.step.task
            clock, previous, objects = node.undo
            self._task_clock[task] = clock
            self._previous[task] = previous
            for obj, old in reversed(objects):
                if old is None:
                    state.pop(obj, None)
                else:
                    state[obj] = old
            for obj in node.touched:
                touched[obj][task].pop()
            node.undo = node.touched = ()

    def _races_of(self, step, p, before, prev):
        """The steps `step` (task p; `before` its clock after its previous step `prev`) races
        with: for each other task, every step after `prev` that conflicts with it and does
        not happen before it, and the latest such step up to `prev`."""
        touched = self._touched
        racing, below = set(), {}
        for mode, objs in ((_R, step.reads), (_W, step.writes), (_A, step.adds)):
            for obj in objs:
                for u, accesses in touched[obj].items() if obj in touched else ():
                    if u == p:
                        continue
                    known = before[u]       # u's steps up to this one happen before p's
                    for i, other in reversed(accesses):
                        if i <= known:
                            break
                        if mode == other != _W:     # two reads, or two adds: they commute
                            continue
                        if i > prev:
                            racing.add(i)
                        else:
                            if i > below.get(u, -1):
                                below[u] = i
                            break
        racing.update(below.values())
        return racing

    def _analyse(self, start, aborted, races):
        """Take the path's steps from `start` on into the happens-before state and, with
        `races`, add the backtrack points of their races."""
        path = self.path
        n = len(path)
        task_clock, previous, state, touched = self._task_clock, self._previous, self._state, self._touched

        def add(i, task, conservative):
            node = path[i]
            targets = (task,) if (node.step.enabled >> task) & 1 else tasks_of(node.step.enabled)
            for t in targets:
                if t in node.done or (not conservative and t in node.sleep):
                    continue
                if not node.todo.get(t, False):
                    node.todo[t] = conservative

        def race(i, task):
            add(i, task, False)
            add(path[i - 1].last_switch if i else 0, task, True)

        for j in range(start, n):
            node = path[j]
            step = node.step
            p = step.task
            before = task_clock[p]  # p's clock after its previous step
            if races:
                prev = previous[p]
                if aborted and j == n - 1:
                    # the finding's step: what it read may not show, so it races with every
                    # step not before it, and with what the others would have done next
                    below = {}
                    racing = set()
                    for i in range(j):
                        u = path[i].step.task
                        if u != p and before[u] < i:
                            if i > prev:
                                racing.add(i)
                            elif i > below.get(u, -1):
                                below[u] = i
                    racing.update(below.values())
                    for task in tasks_of(step.enabled):
                        if task != p:
                            race(j, task)
                else:
                    racing = self._races_of(step, p, before, prev)
                for i in racing:
                    race(i, p)
            joined = [before]
            undo = []
            touched_now = []
            for mode, objs in ((_W, step.writes), (_R, step.reads), (_A, step.adds)):
                for obj in objs:
                    now = state.get(obj)
                    undo.append((obj, now))
                    touched_now.append(obj)
                    if now is not None:
                        w, r, a = now
                        if w is not None:
                            joined.append(w)
                        if r is not None and mode != _R:
                            joined.append(r)
                        if a is not None and mode != _A:
                            joined.append(a)
                    by_task = touched.get(obj)
                    if by_task is None:
                        by_task = touched[obj] = {}
                    mine = by_task.get(p)
                    if mine is None:
                        by_task[p] = [(j, mode)]
                    else:
                        mine.append((j, mode))
            clock = tuple(map(max, *joined)) if len(joined) > 1 else before
            clock = clock[:p] + (j,) + clock[p + 1:]
            for obj in step.writes:
                state[obj] = (clock, None, None)
            for obj in step.reads:
                w, r, a = state.get(obj) or (None, None, None)
                state[obj] = (w, clock if r is None else _join(r, clock), a)
            for obj in step.adds:
                w, r, a = state.get(obj) or (None, None, None)
                state[obj] = (w, r, clock if a is None else _join(a, clock))
            node.undo = (before, previous[p], undo)
            node.touched = touched_now
            task_clock[p] = clock
            previous[p] = j


class Stopped(Exception):
    """A run was ended from outside (the watchdog): the exploration cannot go on past it.
    `result` is that run's RunResult (its finding a `hang`)."""

    def __init__(self, result):
        super().__init__(result.finding.message if result.finding else "a run was stopped")
        self.result = result
