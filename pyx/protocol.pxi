# ---- the run protocol between the parent (executor) and its workers ----
#
# The parent loads a run into the control block and releases the workers; each worker
# becomes a task, runs it, reports its result in the task's slot and passes the turn
# on; the last to end closes the run, and the parent reads what happened.  The
# scenario reaches the workers through a mailbox in the same block.

MAX_SWITCHES = FZ_MAX_SWITCH     # switches one schedule may hold
SCENARIO_BYTES = FZ_SCENARIO     # the largest pickled scenario a run can hold


def set_task(int task):
    """Declare which task this process runs now (-1: none)."""
    global g_task, g_spin_depth, g_pid, g_nheld, g_op_index, g_ndropped
    g_task = task
    g_spin_depth = 0
    g_nheld = 0
    g_ndropped = 0
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
    cdef int t, i
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
    if c.nsw:
        i = 0
        for step, task in sorted(switches):
            c.sw_step[i] = step
            c.sw_task[i] = task
            i += 1
    for t in range(FZ_MAX_TASKS):
        c.prio[t] = 0
    t = 0
    for p in priorities:
        c.prio[t] = FZ_MAX_CP + 1 + p
        t += 1
    c.ncp = len(change_points)
    c.cp_idx = 0
    if c.ncp:
        i = 0
        for step in sorted(change_points):
            c.cp_step[i] = step
            i += 1
    if len(order) > FZ_MAX_ORDER:
        order = order[:FZ_MAX_ORDER]
    c.norder = len(order)
    i = 0
    for t in order:
        c.order[i] = t
        i += 1
    c.current = -1
    if c.mode == MODE_CONTROLLED:
        c.current = _decide(c, 0, -1)
    fz_store32(&c.run_state, R_RUNNING)


def start_run(Pool pool not None):
    """Release the workers into the prepared run.  Under control only the worker of the
    task that runs first is woken: each other one wakes when the turn first comes to it
    (or the run ends early), which spares it a wake-up to wait for its turn.  A chaos run
    wakes them all."""
    pool.check()
    cdef fz_ctl* c = pool.ctl
    cdef int32_t gen = c.run_gen + 1
    fz_store64(&c.ticket, ((<int64_t>gen) << 32) | c.ntasks)
    fz_store32(&c.run_gen, gen)
    if c.mode == MODE_CONTROLLED and 0 <= c.current < c.ntasks:
        _kick(c, c.current)
    else:
        _kick_all(c, c.ntasks)


def wait_run(Pool pool not None, int last_gen, int parent_pid, int index):
    """Worker `index`'s side: block until a run starts (it may wake only when its task's
    first turn comes); returns its generation, or -1 on shutdown or when the parent is gone."""
    pool.check()
    cdef fz_ctl* c = pool.ctl
    cdef int gen
    cdef int32_t seen
    while True:
        if fz_load32(&c.shutdown):
            return -1
        gen = fz_load32(&c.run_gen)
        if gen != last_gen:
            return gen
        fz_store32(&c.asleep[index], 1)
        seen = fz_load32(&c.wake[index])
        if fz_load32(&c.run_gen) == last_gen and not fz_load32(&c.shutdown):
            fz_futex_wait(&c.wake[index], seen, 100 * 1000 * 1000)
        fz_store32(&c.asleep[index], 0)
        if fz_load32(&c.run_gen) == last_gen and parent_gone(parent_pid):
            return -1


def next_task(Pool pool not None, int served, int parent_pid, int index):
    """Worker `index`'s side: wait for the next run it takes part in; returns that run's
    generation, or -1 on shutdown or when the parent is gone.  A worker that sat a run
    out may wake late, when the next run has started: the ticket names the run and its
    size together, so no worker takes part in one run twice or in a run it was not
    released into."""
    cdef int64_t ticket
    cdef int gen = served
    while True:
        if wait_run(pool, gen, parent_pid, index) < 0:
            return -1
        ticket = fz_load64(&pool.ctl.ticket)
        gen = <int>(ticket >> 32)
        if gen != served and index < (ticket & 0xffffffff):
            return gen

def parent_gone(int parent_pid):
    """Whether the executor that started this worker has ended.  Under fork it is the
    parent; under forkserver or spawn the parent is a server, so its pid is asked after."""
    return os.getppid() != parent_pid and not fz_pid_alive(parent_pid)


def begin_task(Pool pool not None, int task):
    """Worker side: become `task` and, in controlled mode, wait for its first turn."""
    set_task(task)
    if pool.ctl.mode == MODE_CONTROLLED:
        _wait_turn(pool.ctl, task)


cdef int CODE_OK = KIND_CODE["ok"]
cdef int CODE_ABORTED = KIND_CODE["aborted"]
cdef int CODE_ABORTING = KIND_CODE["refcount-underflow"]    # this kind and those after it end the run
cdef int CODE_DEADLOCK = KIND_CODE["deadlock"]


def end_task(Pool pool not None, int task, str kind="ok", bytes detail=b""):
    """Worker side: report the task's result, pass the turn on, and close the run if last."""
    global g_task
    cdef fz_ctl* c = pool.ctl
    cdef int code = CODE_OK if kind == "ok" else KIND_CODE[kind], nxt, t
    cdef Py_ssize_t n
    c.result_kind[task] = code
    c.result_step[task] = c.step
    n = min(len(detail), FZ_DETAIL)
    if n:
        memcpy(c.detail[task], <char*>detail, n)
    c.detail_len[task] = n
    c.task_state[task] = T_DONE
    if code >= CODE_ABORTING:
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
                c.result_kind[task] = CODE_DEADLOCK
                n = min(len(message), FZ_DETAIL)
                memcpy(c.detail[task], <char*>message, n)
                c.detail_len[task] = n
                _abort(c, ABORT_DEADLOCK, task)
    g_task = -1
    if fz_add32(&c.nfinished, 1) + 1 == c.ntasks:
        fz_store32(&c.run_state, R_DONE)
        if fz_load32(&c.parent_asleep):
            _wake_all(&c.run_state)


def wait_done(Pool pool not None, double timeout_s, int spins=-1):
    """Parent side: True once every task of the run has ended, False at the timeout.
    It spins `spins` times first (-1: as tune() set), which only pays when the parent
    has a CPU of its own: on its workers' CPU a spin only delays them."""
    pool.check()
    cdef fz_ctl* c = pool.ctl
    cdef int64_t left = <int64_t>(timeout_s * 1e9)
    cdef int64_t deadline = fz_now_ns() + left
    cdef int64_t slice_ns
    cdef int spun = 0
    if spins < 0:
        spins = g_parent_spins
    while fz_load32(&c.run_state) != R_DONE:
        if spun < spins:
            spun += 1
            fz_relax()
            continue
        left = deadline - fz_now_ns()
        if left <= 0:
            return False
        slice_ns = min(left, 10 * 1000 * 1000)
        fz_store32(&c.parent_asleep, 1)
        if fz_load32(&c.run_state) != R_DONE:
            fz_futex_wait(&c.run_state, R_RUNNING, slice_ns)
        fz_store32(&c.parent_asleep, 0)
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
    _kick_all(pool.ctl, FZ_MAX_TASKS)


def reset_run(Pool pool not None, bytes state, bint whole=False):
    """Parent side, before a run: the model state put back from `state` (only what the
    last run wrote, see Pool.rewind; all of it if `whole`), the event ring emptied, the
    last run closed, and this process no task."""
    if whole:
        pool.restore(state)
    else:
        pool.rewind(state)
    fz_store32(&pool.ctl.run_state, R_IDLE)
    pool.ctl.mode = MODE_FREE
    set_task(-1)


def run_summary(Pool pool not None):
    """(steps, switches taken, whether all were recorded, clean) of the last run, where
    clean means every task ended with no finding and noted no hazard: then run_info
    holds nothing more that the verdict needs."""
    pool.check()
    cdef fz_ctl* c = pool.ctl
    cdef int t, i
    cdef bint clean = True
    for t in range(c.ntasks):
        if (c.result_kind[t] != CODE_OK and c.result_kind[t] != CODE_ABORTED) or c.latent_len[t]:
            clean = False
    for t in range(c.ntasks, FZ_MAX_TASKS):
        if c.latent_len[t]:
            clean = False
    switches = tuple([(c.rec_step[i], c.rec_task[i]) for i in range(c.nrec)])
    return c.step, switches, not c.rec_overflow, clean


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
