"""What each step of a controlled run did, and which steps depend on each other.

A controlled run takes one decision per step (pyx/decisions.pxi): the task chosen
at step k runs from there to its next scheduling point, and that stretch is the
step's transition.  What the transition touched comes from the event ring (every
record a task writes belongs to its latest step at or before the record's own:
an operation shares its step, a lock a task finds taken is noted one step later)
and from the log of accesses made without a scheduling point (Atomic.peek, a
page's raw record).

Two transitions of different tasks are dependent when they touch the same object
and at least one of them may change it, unless both only add to it without
looking: two vm event counts, or two readers taking or releasing an rwsem for
read, leave the same state in either order and tell neither task anything.
Whether an operation may change its object is decided by its kind, not by the
values it saw in this run (a store is a write even when it stored the value
already there, a trylock even when it failed): the explorer asks what a task's
next operation would do in states it has not seen run.

Objects are what the ring names: a page (its count, flags and lock, map count,
data and mapping together), a heap word (an atomic, a lock), a vmstat or event
counter; and the page allocator, which every allocation and free changes and
the free-page counts read.
"""
from fuzzmm import _core

#: The page allocator as one object: its free lists and the free-page counts.
ALLOCATOR = 5 << 56

_OPS = {name: code for code, name in enumerate(_core.OP_NAMES)}
#: Operations that only read their object.
READS = frozenset(_OPS[name] for name in ("none", "load", "page_count", "test_flag", "read_page", "read_vmstat",
                                          "block"))
#: Operations that only add to their object and return nothing: any two commute.
ADDS = frozenset(_OPS[name] for name in ("count_event", "down_read", "up_read"))
_MAPCOUNT = _OPS["mapcount"]        # page_mapcount reads, page_add_rmap and page_remove_rmap write
_ALLOCATING = frozenset((_OPS["alloc_page"], _OPS["free_page"]))
_FREE_COUNT = frozenset((_core.OBJ_VMSTAT << 56) | (node * len(_core.VMSTAT_NAMES) + _core.NR_FREE_PAGES)
                        for node in range(8))


class Step:
    """One decision of a run and the transition it started."""
    __slots__ = ("task", "cur", "dflt", "enabled", "reads", "writes", "adds")

    def __init__(self, task, cur, dflt, enabled):
        self.task = task            # the task that ran
        self.cur = cur              # the task that decided (-1: the run's start)
        self.dflt = dflt            # the task the default rule would have run
        self.enabled = enabled      # bit mask of the tasks that could run
        self.reads = set()          # objects the transition read
        self.writes = set()         # objects it may have changed
        self.adds = set()           # objects it only added to

    def depends_on(self, other):
        """Whether the two transitions touch one object and one of them may change it
        (other than two adds)."""
        return bool(self.writes & (other.writes | other.reads | other.adds)
                    or self.reads & (other.writes | other.adds) or self.adds & (other.writes | other.reads))

    def objects(self):
        return self.reads | self.writes | self.adds


def steps_of_run(decisions, events, raw, start=0):
    """The run's steps from step `start` on, in order, from its decision log
    (`_core.decisions`), its event-ring records and its raw accesses
    (`_core.raw_accesses`): a list of Step, the first for step `start`, one for each
    decision that chose a task (the last decision of a run chooses none)."""
    chosen, cur, dflt, enabled, _ = decisions
    n = chosen.index(-1) if -1 in chosen else len(chosen)       # the last decision chooses no task
    steps = [Step(chosen[k], cur[k], dflt[k], enabled[k]) for k in range(start, n)]
    for seq, task, op, obj, before, after, _site in events:
        if task < 0 or seq < start:
            continue                # the parent's init, or a step before `start`
        if seq < n and chosen[seq] == task:
            step = steps[seq - start]               # an operation, at the step that ran it
        else:
            k = _step_of(chosen, n, task, seq)      # a lock found taken, noted a step later
            if k < start:
                continue
            step = steps[k - start]
        if obj in _FREE_COUNT:
            obj = ALLOCATOR
        if op in READS or (op == _MAPCOUNT and before == after):
            step.reads.add(obj)
        elif op in ADDS:
            step.adds.add(obj)
        else:
            step.writes.add(obj)
            if op in _ALLOCATING:
                step.writes.add(ALLOCATOR)
    for seq, task, obj, wrote in raw:
        if seq >= start:
            k = seq if seq < n and chosen[seq] == task else _step_of(chosen, n, task, seq)
            if k >= start:
                (steps[k - start].writes if wrote else steps[k - start].reads).add(
                    ALLOCATOR if obj in _FREE_COUNT else obj)
    for step in steps:
        if step.writes:
            step.adds -= step.writes
            step.reads -= step.writes
        if step.adds and step.reads:
            both = step.reads & step.adds           # read and added to: as good as written
            step.writes |= both
            step.reads -= both
            step.adds -= both
    return steps


def _step_of(chosen, n, task, seq):
    """The latest step at or before `seq` at which `task` was chosen (-1: none)."""
    k = min(seq, n - 1)
    while k >= 0 and chosen[k] != task:
        k -= 1
    return k
