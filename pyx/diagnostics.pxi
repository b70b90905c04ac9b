# Diagnostics: the words a report uses for objects, waits and their holders, and where a task is.
#
# Heap objects are named as the program names them (`a`, `mm.lru_lock[1]`) rather than
# by address; a deadlock's message gives one line per blocked task; and a worker leaves
# a note of where its task is when the watchdog asks, to name a function that never
# reaches a scheduling point.


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
