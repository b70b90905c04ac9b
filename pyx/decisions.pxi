# The decision log: what the decision routine chose at every step of a controlled run,
# and what tasks touched without a scheduling point.
#
# Systematic exploration (fuzzmm/sched/explore.py) needs, for each step, the task
# that ran, the task that decided (whether the choice preempted it), the task the
# default rule would have run, and the set of tasks that could run.  The switch
# record says only where a run left the default rule; the event ring says what a
# task touched, not who else could have gone.  One store per field per step, in
# the control block.
#
# It also needs every access to shared state, and a model may read or write some
# without a scheduling point (Atomic.peek and poke, a page's raw record, a vmstat
# counter): the raw log keeps those of a controlled run's tasks, one entry per
# (step, object, read or write), apart from the event ring, whose records traces,
# coverage and lockdep read as operations.

MAX_DECISIONS = FZ_MAX_DECISIONS     # steps of a run the log holds


cdef inline void _log_decision(fz_ctl* c, int64_t s, int cur, int dflt, int nxt) noexcept nogil:
    """Note the decision at step `s` (`nxt` -1: no task could run).  Step 0 starts a run."""
    cdef uint64_t enabled = 0
    cdef int t
    if s == 0:
        c.ndecisions = 0
        c.dec_overflow = 0
        c.nraw = 0
        c.raw_overflow = 0
    if s >= FZ_MAX_DECISIONS:
        c.dec_overflow = 1
        return
    for t in range(c.ntasks):
        if c.task_state[t] == T_ENABLED:
            enabled |= (<uint64_t>1) << t
    c.dec_task[s] = nxt
    c.dec_cur[s] = cur
    c.dec_dflt[s] = dflt
    c.dec_enabled[s] = enabled
    c.ndecisions = s + 1


def decisions(Pool pool not None):
    """The decisions of the last controlled run, one per step from step 0: four lists
    (task chosen, task that decided, the default rule's choice, bit mask of the tasks
    that could run; -1 for no task) and whether the log holds every step."""
    pool.check()
    cdef fz_ctl* c = pool.ctl
    cdef int64_t n = min(c.ndecisions, FZ_MAX_DECISIONS), i
    chosen = [c.dec_task[i] for i in range(n)]
    cur = [c.dec_cur[i] for i in range(n)]
    dflt = [c.dec_dflt[i] for i in range(n)]
    enabled = [c.dec_enabled[i] for i in range(n)]
    return chosen, cur, dflt, enabled, not c.dec_overflow


cdef inline void _note_raw(Pool pool, int64_t obj, bint write) noexcept:
    """A task of a controlled run read (or wrote) `obj` without a scheduling point."""
    cdef fz_ctl* c = pool.ctl
    cdef int64_t n
    if g_task < 0 or c.mode != MODE_CONTROLLED:
        return
    n = c.nraw
    if n > 0 and c.raw_step[n - 1] == c.step and c.raw_obj[n - 1] == obj and c.raw_task[n - 1] == g_task \
            and c.raw_write[n - 1] >= write:
        return
    if n >= FZ_MAX_RAW:
        c.raw_overflow = 1
        return
    c.raw_task[n] = g_task
    c.raw_step[n] = c.step
    c.raw_obj[n] = obj
    c.raw_write[n] = write
    c.nraw = n + 1


def raw_accesses(Pool pool not None):
    """(step, task, object, wrote) of each access the last controlled run's tasks made
    without a scheduling point, in order, and whether the log holds them all."""
    pool.check()
    cdef fz_ctl* c = pool.ctl
    cdef int64_t n = min(c.nraw, FZ_MAX_RAW), i
    return [(c.raw_step[i], c.raw_task[i], c.raw_obj[i], bool(c.raw_write[i])) for i in range(n)], \
        not c.raw_overflow
