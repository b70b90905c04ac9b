# Scheduling points, the one decision routine every strategy feeds, and the hand-off.
#
# In controlled mode exactly one task runs.  At each scheduling point the
# running worker takes the next global step, asks _decide() who runs next and,
# if that is another task, stores it in ctl.current and wakes it: the turn
# passes directly from worker to worker, with no controller in between.  A
# waiting worker spins briefly on ctl.current (a hand-off costs well under a
# microsecond when the next worker is already spinning) and then sleeps on its
# own wake word (ctl.wake[t]), so a hand-off wakes the one worker whose turn it
# is, and makes no system call at all when that worker is still spinning.
#
# This file also holds the scheduler's vocabulary (modes, task states, strategy
# codes, abort reasons, block kinds) and the running task's state in this process,
# which the wait-for graph, the run protocol, the diagnostics and every primitive read.


cdef enum:
    MODE_FREE = 0
    MODE_CONTROLLED = 1
    MODE_CHAOS = 2
    T_IDLE = 0
    T_ENABLED = 1
    T_BLOCKED = 2
    T_DONE = 3
    S_SWITCH = 0
    S_PCT = 1
    S_RANDOM = 2
    S_GUIDED = 3
    R_IDLE = 0
    R_RUNNING = 1
    R_DONE = 2
    ABORT_NONE = 0
    ABORT_FINDING = 1
    ABORT_DEADLOCK = 2
    ABORT_PARENT = 3
    BLK_PAGE = 1
    BLK_SPIN = 2
    BLK_MUTEX = 3
    BLK_RWSEM_READ = 4
    BLK_RWSEM_WRITE = 5

MODES = {"free": MODE_FREE, "controlled": MODE_CONTROLLED, "chaos": MODE_CHAOS}
STRATEGY_CODES = {"switches": S_SWITCH, "pct": S_PCT, "random": S_RANDOM, "guided": S_GUIDED}
ABORT_REASONS = {ABORT_NONE: None, ABORT_FINDING: "finding", ABORT_DEADLOCK: "deadlock",
                 ABORT_PARENT: "parent"}
BLOCK_KINDS = {BLK_PAGE: "page lock", BLK_SPIN: "spinlock", BLK_MUTEX: "mutex",
               BLK_RWSEM_READ: "rwsem (read)", BLK_RWSEM_WRITE: "rwsem (write)"}

cdef int g_task = -1          # the task this process runs now; -1 outside a run
cdef int g_spin_depth = 0     # spinlocks the running task holds (sleep-in-atomic)
cdef int g_op_index = -1      # the operation the running task is in
cdef int32_t g_dropped_pages[64]  # pages whose `dropped` bit the running task set (ownership.pxi),
cdef int g_ndropped = 0           # so begin_operation clears those, not every page (all past 64)
cdef uint64_t g_chaos_rng = 0x9e3779b97f4a7c15ULL
cdef int64_t WAIT_SLICE_NS = 20 * 1000 * 1000
cdef int g_parent_spins = 2000
cdef int g_yield_every = 16


def tune(parent_spins=None, yield_every=None):
    """Set the parent's spin count while waiting for a run, and how often a waiting worker yields."""
    global g_parent_spins, g_yield_every
    if parent_spins is not None:
        g_parent_spins = parent_spins
    if yield_every is not None:
        g_yield_every = yield_every


cdef inline uint64_t _xorshift(uint64_t* state) noexcept nogil:
    cdef uint64_t x = state[0]
    x ^= x >> 12
    x ^= x << 25
    x ^= x >> 27
    state[0] = x
    return x * 0x2545F4914F6CDD1DULL


cdef inline void _wake_all(int32_t* word) noexcept nogil:
    fz_futex_wake(word, 0x7fffffff)


FAIR_SLICE = 1000
"""Scheduling points a task may take in a row before the default rule hands the turn to
the next task that can run (at once, or as soon as one can): a timeslice.  Without it a task that
busy-waits (a trylock loop, a spin on a flag) would never let the task it waits
for run, and a correct program would be reported as a hang.  It is far longer than
the operations of a run, so it changes nothing else."""
cdef int64_t C_FAIR_SLICE = FAIR_SLICE


cdef int _decide(fz_ctl* c, int64_t s, int cur) noexcept nogil:
    """Who runs after step `s`, decided by the task `cur` (-1: the run's start).

    The default rule keeps the current task running until it blocks or ends, or
    until its timeslice is spent; then the next enabled task in turn runs.  PCT
    lowers a task whose slice is spent below every other.  Returns -1 when no
    task is enabled.  Records the choice when it differs from the default rule,
    so the record replays under the switch strategy.
    """
    cdef int n = c.ntasks, t, i, dflt = -1, nxt, count, best, lowest
    cdef bint spent = False
    if cur >= 0 and cur == c.run_task:
        c.run_len += 1
    elif cur >= 0:
        c.run_task = cur
        c.run_len = 1
    if cur >= 0 and c.task_state[cur] == T_ENABLED:
        dflt = cur
        if c.run_len >= C_FAIR_SLICE:
            for i in range(1, n):
                t = (cur + i) % n
                if c.task_state[t] == T_ENABLED:
                    dflt = t
                    spent = True
                    break
    else:
        for t in range(n):
            if c.task_state[t] == T_ENABLED:
                dflt = t
                break
    if dflt < 0:
        _log_decision(c, s, cur, -1, -1)
        return -1
    nxt = dflt
    if c.strategy == S_SWITCH:
        while c.sw_idx < c.nsw and c.sw_step[c.sw_idx] <= s:
            t = c.sw_task[c.sw_idx]
            c.sw_idx += 1
            if 0 <= t < n and c.task_state[t] == T_ENABLED:
                nxt = t
    elif c.strategy == S_PCT:
        while c.cp_idx < c.ncp and c.cp_step[c.cp_idx] <= s:
            if cur >= 0:
                c.prio[cur] = c.ncp - c.cp_idx
            c.cp_idx += 1
        if spent:
            lowest = c.prio[0]
            for t in range(1, n):
                lowest = min(lowest, c.prio[t])
            c.prio[cur] = lowest - 1
        best = -1
        for t in range(n):
            if c.task_state[t] == T_ENABLED and (best < 0 or c.prio[t] > c.prio[best]):
                best = t
        nxt = best
    elif c.strategy == S_RANDOM:
        count = 0
        for t in range(n):
            if c.task_state[t] == T_ENABLED:
                count += 1
        count = <int>(_xorshift(&c.rng) % <uint64_t>count)
        for t in range(n):
            if c.task_state[t] == T_ENABLED:
                if count == 0:
                    nxt = t
                    break
                count -= 1
    elif c.strategy == S_GUIDED:
        if c.nops < c.norder:
            t = c.order[c.nops]
            if 0 <= t < n and c.task_state[t] == T_ENABLED:
                nxt = t
    if spent and nxt == cur:
        c.run_len = 0           # kept on by choice: a fresh slice, so one recorded switch per slice
    if nxt != dflt:
        if c.nrec < FZ_MAX_RECORD:
            c.rec_step[c.nrec] = s
            c.rec_task[c.nrec] = nxt
            c.nrec += 1
        else:
            c.rec_overflow = 1
    _log_decision(c, s, cur, dflt, nxt)
    return nxt


cdef inline void _kick(fz_ctl* c, int t) noexcept nogil:
    """Wake worker `t` to look again (its turn came, a run began, the run ended): its wake
    word moves on, and only a worker asleep on it costs a system call.  A waiter marks
    itself asleep before it reads the word and looks at what it waits for, and the waker
    changes that before it moves the word, so no wake-up is lost between the two."""
    fz_add32(&c.wake[t], 1)
    if fz_load32(&c.asleep[t]):
        _wake_all(&c.wake[t])


cdef inline void _kick_all(fz_ctl* c, int n) noexcept nogil:
    cdef int t
    for t in range(n):
        _kick(c, t)


cdef int _wait_turn(fz_ctl* c, int me) except -1:
    """Wait until ctl.current names `me`: spin briefly, then sleep on the worker's wake word."""
    cdef int cur, spins = 0, limit = c.spin_iters
    cdef int32_t seen
    while True:
        cur = fz_load32(&c.current)
        if cur == me:
            return 0
        if fz_load32(&c.abort):
            raise RunAborted()
        if spins < limit:
            spins += 1
            if g_yield_every and spins % g_yield_every == 0:
                sched_yield()
            else:
                fz_relax()
            continue
        fz_store32(&c.asleep[me], 1)
        seen = fz_load32(&c.wake[me])
        if fz_load32(&c.current) != me and not fz_load32(&c.abort) and not fz_load32(&c.shutdown):
            fz_futex_wait(&c.wake[me], seen, WAIT_SLICE_NS)
        fz_store32(&c.asleep[me], 0)
        if fz_load32(&c.shutdown):
            raise RunAborted()


cdef inline void _hand_to(fz_ctl* c, int nxt) noexcept nogil:
    fz_store32(&c.current, nxt)
    _kick(c, nxt)


cdef int _abort(fz_ctl* c, int reason, int task) noexcept nogil:
    if fz_cmpxchg32(&c.abort, 0, reason) == 0:
        c.abort_task = task
    fz_store32(&c.current, -2)
    _kick_all(c, FZ_MAX_TASKS)
    return 0


cdef inline int64_t _next_step(fz_ctl* c) except -1:
    cdef int64_t s = c.step + 1
    c.step = s
    if s > c.max_steps:
        raise Finding("hang", f"task {g_task} passed the limit of {c.max_steps} scheduling points")
    return s


cdef inline int64_t _point(Pool pool, bint stamp=True) except -1:
    """A scheduling point, taken by every primitive before it touches shared state.
    Outside a controlled run, `stamp=False` takes no step: a lock operation takes
    its own next to its effect (see _restamp), and the shared counter is hot."""
    pool.check()
    cdef fz_ctl* c = pool.ctl
    cdef int mode = c.mode, nxt
    cdef int64_t s = 0
    cdef uint64_t r
    if g_task < 0 or mode == MODE_FREE:
        return fz_add64(&c.step, 1) + 1 if stamp else 0
    if fz_load32(&c.abort):
        raise RunAborted()
    if mode == MODE_CONTROLLED:
        s = _next_step(c)
        nxt = _decide(c, s, g_task)
        if nxt != g_task:
            _hand_to(c, nxt)
            _wait_turn(c, g_task)
            s = c.step          # the operation happens now, at the step that handed the turn back
        c.nops += 1
        return s
    if stamp:
        s = fz_add64(&c.step, 1) + 1
    if c.delay_prob:
        r = _xorshift(&g_chaos_rng)
        if (r & 0xffffffffULL) < c.delay_prob:
            _delay((r >> 32) % (c.delay_max_ns + 1))
    return s


cdef void _delay(int64_t ns) noexcept nogil:
    cdef int64_t end = fz_now_ns() + ns
    if ns > 50000:
        sched_yield()
    while fz_now_ns() < end:
        fz_relax()


cdef extern from "<sched.h>" nogil:
    int sched_yield()


cdef int _block(Pool pool, int kind, int64_t obj) except -1:
    """Controlled mode: the running task cannot take a lock; run someone else until it is released."""
    cdef fz_ctl* c = pool.ctl
    cdef int me = g_task, nxt
    c.task_state[me] = T_BLOCKED
    c.blocked_kind[me] = kind
    c.blocked_on[me] = obj
    cdef int64_t s = _next_step(c)
    _record(pool, s, OP_BLOCK, obj, kind, 0)
    nxt = _decide(c, s, me)
    if nxt < 0:
        message = describe_waits(pool)
        cycle = wait_cycle(pool)
        _abort(c, ABORT_DEADLOCK, me)
        raise Finding("deadlock", message, obj=obj, tasks=cycle)
    _hand_to(c, nxt)
    _wait_turn(c, me)
    return 0


cdef void _unblock(fz_ctl* c, int kind, int64_t obj) noexcept nogil:
    """Controlled mode: tasks blocked on `obj` become enabled (they retry when scheduled)."""
    cdef int t
    for t in range(c.ntasks):
        if c.task_state[t] == T_BLOCKED and c.blocked_on[t] == obj:
            c.task_state[t] = T_ENABLED
            c.blocked_kind[t] = 0
