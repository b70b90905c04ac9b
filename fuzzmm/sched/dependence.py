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
next operation would do in states it has not seen run.  Objects are what the ring names (a heap word: an atomic or a lock; a vmstat or
event counter), a page's fields apart (its reference count, its flags with the
page lock, its map count, its data, its mapping, and its life: the generation and
order an allocation or a free changes), and the page allocator, which every
allocation and free changes and the free-page count reads.  Every page
operation first checks that the page is alive (generation and reference count),
so it reads those two fields; a free rewrites every field.
"""
from bisect import bisect_right

from fuzzmm import _core

#: The page allocator as one object: its free lists and the free-page count.
ALLOCATOR = 5 << 56

# A page's fields, as objects of their own: the page's object number plus FIELD << 48.
REF, FLAGS, MAP, DATA, MAPPING, LIFE = range(1, 7)
_FIELD = 1 << 48


def page_field(obj, field):
    return obj + field * _FIELD


_OPS = {name: code for code, name in enumerate(_core.OP_NAMES)}
_PAGE_OPS = {           # page operation -> (field it reads or writes, whether it may write it)
    "get_page": (REF, True), "put_page": (REF, True), "get_page_unless_zero": (REF, True),
    "page_count": (REF, False), "trylock_page": (FLAGS, True), "lock_page": (FLAGS, True),
    "unlock_page": (FLAGS, True), "set_flag": (FLAGS, True), "clear_flag": (FLAGS, True),
    "test_flag": (FLAGS, False), "write_page": (DATA, True), "read_page": (DATA, False),
    "set_mapping": (MAPPING, True),
}
PAGE_OPS = {_OPS[name]: access for name, access in _PAGE_OPS.items()}
#: Operations on heap words and counters that only read their object.
READS = frozenset(_OPS[name] for name in ("none", "load", "read_vmstat", "block"))
#: Operations that only add to their object and return nothing: any two commute.
ADDS = frozenset(_OPS[name] for name in ("count_event", "down_read", "up_read"))
_MAPCOUNT = _OPS["mapcount"]        # page_mapcount reads, page_add_rmap and page_remove_rmap write
_BLOCK = _OPS["block"]
_ALLOCATING = frozenset((_OPS["alloc_page"], _OPS["free_page"]))
_FIELDS = (REF, FLAGS, MAP, DATA, MAPPING, LIFE)
_FREE_COUNT = frozenset((_core.OBJ_VMSTAT << 56) | (node * len(_core.VMSTAT_NAMES) + _core.NR_FREE_PAGES)
                        for node in range(8))
_PAGE = _core.OBJ_PAGE


def _object(obj):
    """The object a record names, the free-page counters standing for the allocator."""
    return ALLOCATOR if obj in _FREE_COUNT else obj


def _page_effects():
    """op -> (the fields of its page it reads, those it may write, whether it changes the
    allocator too), for each operation on a page."""
    alive = (LIFE, REF)             # every page operation first checks the page is alive
    effects = {}
    for code in range(len(_core.OP_NAMES)):
        if code in _ALLOCATING:
            effects[code] = ((), _FIELDS, True)
        elif code == _BLOCK:        # a page lock found taken
            effects[code] = ((FLAGS,), (), False)
        elif code in PAGE_OPS:
            field, may_write = PAGE_OPS[code]
            effects[code] = (alive, (field,), False) if may_write else (alive + (field,), (), False)
        else:                       # an operation this table does not know: all of the page
            effects[code] = (alive, _FIELDS, False)
    return effects


_PAGE_EFFECTS = _page_effects()


def _add(step, op, obj, before, after):
    """Note what one ring record says its step touched."""
    if obj >> 56 == _PAGE:
        if op == _MAPCOUNT:
            step.reads.update((obj + LIFE * _FIELD, obj + REF * _FIELD))
            (step.writes if before != after else step.reads).add(obj + MAP * _FIELD)
            return
        read, written, allocates = _PAGE_EFFECTS[op]
        for field in read:
            step.reads.add(obj + field * _FIELD)
        for field in written:
            step.writes.add(obj + field * _FIELD)
        if allocates:
            step.writes.add(ALLOCATOR)
        return
    if obj in _FREE_COUNT:
        obj = ALLOCATOR
    if op in READS:
        step.reads.add(obj)
    elif op in ADDS:
        step.adds.add(obj)
    else:
        step.writes.add(obj)


def _add_raw(step, obj, wrote):
    """Note an access made without a scheduling point: a page's raw record is all of it."""
    if obj >> 56 == _PAGE:
        (step.writes if wrote else step.reads).update(obj + f * _FIELD for f in _FIELDS)
    else:
        (step.writes if wrote else step.reads).add(_object(obj))


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
    steps = []
    by_task = {}                    # task -> the steps at which it was chosen
    for k, task in enumerate(chosen):
        if task < 0:
            break
        if k >= start:
            steps.append(Step(task, cur[k], dflt[k], enabled[k]))
        by_task.setdefault(task, []).append(k)
    n = start + len(steps)
    effects, field_shift, free_count = _PAGE_EFFECTS, _FIELD, _FREE_COUNT
    for seq, task, op, obj, before, after, _site in events:
        if task < 0 or seq < start:
            continue                # the parent's init, or a step before `start`
        if seq < n and chosen[seq] == task:
            step = steps[seq - start]               # an operation, at the step that ran it
        else:
            k = _step_of(by_task, task, seq)        # a lock found taken, noted a step later
            if k is None or k < start:
                continue
            step = steps[k - start]
        if obj >> 56 == _PAGE and op != _MAPCOUNT:  # the common case, inline: see _add
            read, written, allocates = effects[op]
            for field in read:
                step.reads.add(obj + field * field_shift)
            for field in written:
                step.writes.add(obj + field * field_shift)
            if allocates:
                step.writes.add(ALLOCATOR)
        elif obj >> 56 != _PAGE and obj not in free_count and op in READS:
            step.reads.add(obj)
        else:
            _add(step, op, obj, before, after)
    for seq, task, obj, wrote in raw:
        if seq >= start:
            k = seq if seq < n and chosen[seq] == task else _step_of(by_task, task, seq)
            if k is not None and k >= start:
                _add_raw(steps[k - start], obj, wrote)
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


def _step_of(by_task, task, seq):
    """The latest step at or before `seq` at which `task` was chosen, or None."""
    mine = by_task.get(task)
    if not mine:
        return None
    i = bisect_right(mine, seq) - 1
    return mine[i] if i >= 0 else None
