# Scheduling points, the one decision routine every strategy feeds, and the hand-off.
#
# In controlled mode exactly one task runs.  At each scheduling point the
# running worker takes the next global step, asks _decide() who runs next and,
# if that is another task, stores it in ctl.current and wakes it: the turn
# passes directly from worker to worker, with no controller in between.  A
# waiting worker spins briefly on ctl.current (a hand-off costs well under a
# microsecond when the next worker is already spinning) and then sleeps on it
# as a futex.

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

MAX_SWITCHES = FZ_MAX_SWITCH     # switches one schedule may hold
SCENARIO_BYTES = FZ_SCENARIO     # the largest pickled scenario a run can hold
MODES = {"free": MODE_FREE, "controlled": MODE_CONTROLLED, "chaos": MODE_CHAOS}
STRATEGY_CODES = {"switches": S_SWITCH, "pct": S_PCT, "random": S_RANDOM, "guided": S_GUIDED}
ABORT_REASONS = {ABORT_NONE: None, ABORT_FINDING: "finding", ABORT_DEADLOCK: "deadlock",
                 ABORT_PARENT: "parent"}
BLOCK_KINDS = {BLK_PAGE: "page lock", BLK_SPIN: "spinlock", BLK_MUTEX: "mutex",
               BLK_RWSEM_READ: "rwsem (read)", BLK_RWSEM_WRITE: "rwsem (write)"}

cdef int g_task = -1          # the task this process runs now; -1 outside a run
cdef int g_spin_depth = 0     # spinlocks the running task holds (sleep-in-atomic)
# The locks the running task took and has not released, for lock-leak at its end: plain C
# arrays, since every acquisition and release appends or removes one (a hot path).
cdef int64_t g_held_obj[64]
cdef int32_t g_held_kind[64]  # BLK_* of each
cdef int32_t g_held_op[64]    # the index, in the task, of the operation that took it
cdef int g_nheld = 0
cdef int g_op_index = -1      # the operation the running task is in
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


cdef int _wait_turn(fz_ctl* c, int me) except -1:
    """Wait until ctl.current names `me`: spin briefly, then sleep on the futex."""
    cdef int cur, spins = 0, limit = c.spin_iters
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
        fz_add32(&c.sleepers, 1)
        fz_futex_wait(&c.current, cur, WAIT_SLICE_NS)
        fz_add32(&c.sleepers, -1)
        if fz_load32(&c.shutdown):
            raise RunAborted()


cdef inline void _hand_to(fz_ctl* c, int nxt) noexcept nogil:
    fz_store32(&c.current, nxt)
    if fz_load32(&c.sleepers):
        _wake_all(&c.current)


cdef int _abort(fz_ctl* c, int reason, int task) noexcept nogil:
    if fz_cmpxchg32(&c.abort, 0, reason) == 0:
        c.abort_task = task
    fz_store32(&c.current, -2)
    _wake_all(&c.current)
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


cdef dict g_object_names = {}   # heap object id -> the program attribute holding it, in a worker


def set_object_names(dict names not None):
    """Name heap objects in wait reports as the program does (`a`, `mm.lru_lock[1]`)."""
    global g_object_names
    g_object_names = dict(names)


def describe_waits(Pool pool not None, dict names=None):
    """Who waits on what, held by whom: one line per blocked task.  Objects are
    named from `names`, else from this process's set_object_names."""
    cdef fz_ctl* c = pool.ctl
    lines = []
    for t in range(c.ntasks):
        if c.task_state[t] != T_BLOCKED:
            continue
        kind, obj = c.blocked_kind[t], c.blocked_on[t]
        lines.append(f"task {t} waits for {BLOCK_KINDS.get(kind, '?')} "
                     f"{describe_object(pool, obj, g_object_names if names is None else names)}"
                     f" held by {_holder(pool, kind, obj)}")
    return "; ".join(lines) if lines else "no task is enabled"


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


def describe_object(Pool pool not None, int64_t obj, dict names=None):
    kind, index = obj >> 56, obj & ((1 << 56) - 1)
    if kind == OBJ_PAGE:
        return f"page {index}"
    if kind == OBJ_HEAP:
        name = names.get(obj) if names else None
        return f"{name} (@{index})" if name else f"@{index}"
    if kind == OBJ_VMSTAT:
        return f"vmstat {index}"
    return f"object {obj:#x}"


cdef str _holder(Pool pool, int kind, int64_t obj):
    cdef int64_t index = obj & ((1 << 56) - 1)
    cdef int32_t* w
    if kind in (BLK_RWSEM_READ, BLK_RWSEM_WRITE):
        w = <int32_t*>(pool.heap + index)
        if w[0] > 0:
            return "readers " + ", ".join(f"task {t}" for t in _holders(pool, kind, obj))
    owner = _holders(pool, kind, obj)[0]
    return "the parent" if owner == -1 else f"task {owner}"


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


# ---- the run protocol between the parent (executor) and its workers ----

def set_task(int task):
    """Declare which task this process runs now (-1: none)."""
    global g_task, g_spin_depth, g_pid, g_nheld, g_op_index
    g_task = task
    g_spin_depth = 0
    g_nheld = 0
    g_op_index = -1
    g_pid = os.getpid()


def current_task():
    return g_task


def prepare_run(Pool pool not None, int ntasks, mode="controlled", strategy="switches", switches=(),
                priorities=(), change_points=(), uint64_t seed=1, order=(), int64_t max_steps=100000,
                double delay_prob=0.0, int delay_max_ns=0, int spin_iters=2000):
    """Load one run's schedule into the control block (parent side)."""
    pool.check()
    cdef fz_ctl* c = pool.ctl
    if not 1 <= ntasks <= FZ_MAX_TASKS:
        raise ValueError(f"a run has 1..{FZ_MAX_TASKS} tasks, not {ntasks}")
    if len(switches) > FZ_MAX_SWITCH:
        raise ValueError(f"a schedule holds at most {FZ_MAX_SWITCH} switches, not {len(switches)}")
    if len(change_points) > FZ_MAX_CP:
        raise ValueError(f"PCT takes at most {FZ_MAX_CP} change points")
    c.mode = MODES[mode]
    c.strategy = STRATEGY_CODES[strategy]
    c.ntasks = ntasks
    c.nfinished = 0
    c.abort = ABORT_NONE
    c.abort_task = -1
    c.step = 0
    c.nops = 0
    c.run_task = -1
    c.run_len = 0
    c.max_steps = max_steps
    c.spin_iters = spin_iters
    c.nrec = 0
    c.rec_overflow = 0
    c.rng = seed or 1
    c.delay_prob = <uint32_t>(min(max(delay_prob, 0.0), 1.0) * 4294967295.0)
    c.delay_max_ns = delay_max_ns
    for t in range(FZ_MAX_TASKS):
        c.task_state[t] = T_ENABLED if t < ntasks else T_IDLE
        c.blocked_kind[t] = 0
        c.blocked_on[t] = 0
        c.result_kind[t] = 0
        c.result_step[t] = 0
        c.detail_len[t] = 0
        c.latent_len[t] = 0
    c.nsw = len(switches)
    c.sw_idx = 0
    for i, (step, task) in enumerate(sorted(switches)):
        c.sw_step[i] = step
        c.sw_task[i] = task
    for t in range(FZ_MAX_TASKS):
        c.prio[t] = 0
    for t, p in enumerate(priorities):
        c.prio[t] = FZ_MAX_CP + 1 + p
    c.ncp = len(change_points)
    c.cp_idx = 0
    for i, step in enumerate(sorted(change_points)):
        c.cp_step[i] = step
    if len(order) > FZ_MAX_ORDER:
        order = order[:FZ_MAX_ORDER]
    c.norder = len(order)
    for i, t in enumerate(order):
        c.order[i] = t
    c.current = -1
    if c.mode == MODE_CONTROLLED:
        c.current = _decide(c, 0, -1)
    fz_store32(&c.run_state, R_RUNNING)


def start_run(Pool pool not None):
    """Release the workers into the prepared run."""
    pool.check()
    cdef int32_t gen = pool.ctl.run_gen + 1
    fz_store64(&pool.ctl.ticket, ((<int64_t>gen) << 32) | pool.ctl.ntasks)
    fz_store32(&pool.ctl.run_gen, gen)
    _wake_all(&pool.ctl.run_gen)


def wait_run(Pool pool not None, int last_gen, int parent_pid):
    """Worker side: block until a run starts; returns its generation, or -1 on shutdown
    or when the parent is gone."""
    pool.check()
    cdef fz_ctl* c = pool.ctl
    cdef int gen
    while True:
        if fz_load32(&c.shutdown):
            return -1
        gen = fz_load32(&c.run_gen)
        if gen != last_gen:
            return gen
        fz_futex_wait(&c.run_gen, gen, 100 * 1000 * 1000)
        if parent_gone(parent_pid):
            return -1


def parent_gone(int parent_pid):
    """Whether the executor that started this worker has ended.  Under fork it is the
    parent; under forkserver or spawn the parent is a server, so its pid is asked after."""
    return os.getppid() != parent_pid and not fz_pid_alive(parent_pid)


def begin_task(Pool pool not None, int task):
    """Worker side: become `task` and, in controlled mode, wait for its first turn."""
    set_task(task)
    if pool.ctl.mode == MODE_CONTROLLED:
        _wait_turn(pool.ctl, task)


def end_task(Pool pool not None, int task, str kind="ok", bytes detail=b""):
    """Worker side: report the task's result, pass the turn on, and close the run if last."""
    global g_task
    cdef fz_ctl* c = pool.ctl
    cdef int code = KIND_CODE[kind], nxt, t
    c.result_kind[task] = code
    c.result_step[task] = c.step
    n = min(len(detail), FZ_DETAIL)
    memcpy(c.detail[task], <char*>detail, n)
    c.detail_len[task] = n
    c.task_state[task] = T_DONE
    if code >= KIND_CODE["refcount-underflow"]:
        _abort(c, ABORT_FINDING, task)
    elif c.mode == MODE_CONTROLLED and not fz_load32(&c.abort):
        c.step += 1
        nxt = _decide(c, c.step, task)
        if nxt >= 0:
            _hand_to(c, nxt)
        else:
            waiter = -1
            for t in range(c.ntasks):
                if c.task_state[t] == T_BLOCKED:
                    waiter = t
                    break
            if waiter >= 0:
                # the deadlock belongs to a waiter, whose place the parent reads from the ring
                message = json.dumps({"message": describe_waits(pool), "task": waiter,
                                      "tasks": wait_cycle(pool)}).encode()
                c.result_kind[task] = KIND_CODE["deadlock"]
                n = min(len(message), FZ_DETAIL)
                memcpy(c.detail[task], <char*>message, n)
                c.detail_len[task] = n
                _abort(c, ABORT_DEADLOCK, task)
    g_task = -1
    if fz_add32(&c.nfinished, 1) + 1 == c.ntasks:
        fz_store32(&c.run_state, R_DONE)
        _wake_all(&c.run_state)


def wait_done(Pool pool not None, double timeout_s):
    """Parent side: True once every task of the run has ended, False at the timeout."""
    pool.check()
    cdef fz_ctl* c = pool.ctl
    cdef int64_t left = <int64_t>(timeout_s * 1e9)
    cdef int64_t deadline = fz_now_ns() + left
    cdef int64_t slice_ns
    cdef int spins = 0
    while fz_load32(&c.run_state) != R_DONE:
        if spins < g_parent_spins:
            spins += 1
            fz_relax()
            continue
        left = deadline - fz_now_ns()
        if left <= 0:
            return False
        slice_ns = min(left, 10 * 1000 * 1000)
        fz_futex_wait(&c.run_state, R_RUNNING, slice_ns)
        PyErr_CheckSignals()
    return True


def abort_run(Pool pool not None):
    """Parent side: end the current run (its tasks unwind with RunAborted)."""
    pool.check()
    _abort(pool.ctl, ABORT_PARENT, -1)


def finish_run(Pool pool not None):
    """Parent side: mark the run closed even if some tasks never reported (their worker died)."""
    pool.check()
    fz_store32(&pool.ctl.run_state, R_IDLE)
    pool.ctl.mode = MODE_FREE


def shutdown_workers(Pool pool not None):
    pool.check()
    fz_store32(&pool.ctl.shutdown, 1)
    _wake_all(&pool.ctl.run_gen)
    _wake_all(&pool.ctl.current)


def note_sample(Pool pool not None, int task, bytes detail):
    """Worker side, from a signal handler: leave a note of where the task is now in its
    result slot, which stays free until the task ends.  The watchdog asks for these to
    name the function a task spins in without reaching a scheduling point."""
    pool.check()
    cdef fz_ctl* c = pool.ctl
    if not 0 <= task < FZ_MAX_TASKS or c.task_state[task] == T_DONE:
        return
    n = min(len(detail), FZ_DETAIL)
    c.detail_len[task] = 0
    memcpy(c.detail[task], <char*>detail, n)
    c.detail_len[task] = n


def run_info(Pool pool not None):
    """What the last run did: steps, the switches it took, why it ended, each task's result."""
    pool.check()
    cdef fz_ctl* c = pool.ctl
    results = []
    for t in range(c.ntasks):
        results.append((c.result_kind[t], c.result_step[t], c.detail[t][:c.detail_len[t]],
                        c.task_state[t]))
    return {
        "latent": latent_hazards(pool),
        "steps": c.step,
        "switches": [(c.rec_step[i], c.rec_task[i]) for i in range(c.nrec)],
        "switches_complete": not c.rec_overflow,
        "abort": ABORT_REASONS.get(c.abort, "?"),
        "abort_task": c.abort_task,
        "results": results,
        "finished": c.nfinished,
        "current": c.current,
    }


def latent_hazards(Pool pool not None):
    """(step, task, JSON detail) of each latent hazard noted since the run began, by step."""
    pool.check()
    cdef fz_ctl* c = pool.ctl
    return sorted((c.latent_step[t], t, c.latent[t][:c.latent_len[t]])
                  for t in range(FZ_MAX_TASKS) if c.latent_len[t])


def set_worker(Pool pool not None, int index, int pid, bint ready):
    pool.check()
    pool.ctl.worker_pid[index] = pid
    fz_store32(&pool.ctl.worker_ready[index], ready)


def worker_ready(Pool pool not None, int index):
    pool.check()
    return fz_load32(&pool.ctl.worker_ready[index])


def put_scenario(Pool pool not None, bytes blob):
    """Publish the scenario (pickled by the caller) to every worker; returns its version."""
    pool.check()
    if len(blob) > FZ_SCENARIO:
        raise ValueError(f"scenario of {len(blob)} bytes exceeds {FZ_SCENARIO}")
    memcpy(pool.ctl.scen, <char*>blob, len(blob))
    pool.ctl.scen_len = len(blob)
    fz_add32(&pool.ctl.scen_version, 1)
    return pool.ctl.scen_version


def scenario_version(Pool pool not None):
    return pool.ctl.scen_version


def get_scenario(Pool pool not None):
    pool.check()
    return pool.ctl.scen[:pool.ctl.scen_len]


def run_generation(Pool pool not None):
    pool.check()
    return fz_load32(&pool.ctl.run_gen)


def set_pdeathsig():
    """Have the kernel SIGKILL this process when its parent dies (Linux)."""
    import signal
    fz_set_pdeathsig(signal.SIGKILL)


def run_ticket(Pool pool not None):
    """(generation, tasks) of the latest started run, read as one word: a worker that
    wakes late never pairs one run's generation with the next run's size."""
    pool.check()
    cdef int64_t t = fz_load64(&pool.ctl.ticket)
    return t >> 32, t & 0xffffffff
