# The wait-for graph: which tasks wait on which, and whether the waits can ever end.
#
# A blocked task records the kind of lock it waits on and the object; the holders
# are read from the lock itself.  From these the parent tells a deadlock of a
# chaos run (every live task asleep on a lock still taken), and a deadlock is named
# after its cycle of waits rather than after whichever task blocked last.


def stalled_waits(Pool pool not None, dict names=None):
    """Parent side, for a chaos run: (step, first sleeper, who waits on what) when every
    task that has not ended sleeps on a lock that is still taken, else (step, -1, None).
    Seen at the same step a few times, some way apart, it is a deadlock: no task is
    left to release anything.  (A sleeper whose lock was just released is only slow
    to wake, not stuck.)"""
    pool.check()
    cdef fz_ctl* c = pool.ctl
    cdef int64_t step = fz_load64(&c.step)
    cdef int32_t state
    cdef int first = -1
    for t in range(c.ntasks):
        state = fz_load32(&c.task_state[t])
        if state == T_DONE:
            continue
        if state != T_BLOCKED or not _taken(pool, c.blocked_kind[t], c.blocked_on[t]):
            return step, -1, None
        if first < 0:
            first = t
    return step, first, (describe_waits(pool, names) if first >= 0 else None)


cdef bint _taken(Pool pool, int kind, int64_t obj):
    """Whether the lock a sleeper waits on is still taken (so that it cannot go on)."""
    cdef int64_t index = obj & ((1 << 56) - 1)
    cdef int32_t word
    if kind == BLK_PAGE:
        return (fz_load32(<int32_t*>&pool.pages[index].flags) & 1) != 0      # PG_locked
    word = fz_load32(<int32_t*>(pool.heap + index))
    if kind == BLK_RWSEM_READ:
        return word < 0
    return word != 0


cdef list _holders(Pool pool, int kind, int64_t obj):
    """The tasks holding the lock a sleeper waits on (-1: the parent)."""
    cdef int64_t index = obj & ((1 << 56) - 1)
    cdef int32_t* w
    if kind == BLK_PAGE:
        return [pool.pages[index].lock_owner]
    w = <int32_t*>(pool.heap + index)
    if kind in (BLK_SPIN, BLK_MUTEX):
        return [w[0] - 2]
    if w[0] > 0:
        return [t for t in range(FZ_MAX_TASKS) if (w[2] >> t) & 1]
    return [w[1]]


def wait_cycle(Pool pool not None):
    """The tasks of a cycle of waits (each blocked on a lock the next one holds), in
    the order of the cycle from its lowest task; [] when the waits form no cycle.
    A deadlock is named after its cycle, not after whichever task blocked last."""
    pool.check()
    cdef fz_ctl* c = pool.ctl
    cdef int n = c.ntasks, t, h, i, first, depth
    cdef bint seen
    cdef bint waits_on[FZ_MAX_TASKS][FZ_MAX_TASKS]
    cdef int path[FZ_MAX_TASKS]
    cdef int tried[FZ_MAX_TASKS]        # per depth: the next holder to try
    memset(waits_on, 0, sizeof(waits_on))
    for t in range(n):
        if fz_load32(&c.task_state[t]) == T_BLOCKED:
            for h in _holders(pool, c.blocked_kind[t], c.blocked_on[t]):
                if 0 <= h < n:
                    waits_on[t][h] = True
    for first in range(n):              # a cycle through `first` and higher tasks only
        path[0], tried[0], depth = first, 0, 1
        while depth > 0:
            t, h = path[depth - 1], tried[depth - 1]
            if h >= n:
                depth -= 1
                continue
            tried[depth - 1] = h + 1
            if not waits_on[t][h]:
                continue
            if h == first:
                return [path[i] for i in range(depth)]
            seen = False
            for i in range(depth):
                seen = seen or path[i] == h
            if h > first and not seen:
                path[depth], tried[depth] = h, 0
                depth += 1
    return []
