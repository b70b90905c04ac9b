# The locks the running task holds, for lock-leak: a task that ends holding a lock leaves
# it to no one.  Each acquisition and release adds or removes an entry (_note_taken and
# _note_released, in locks.pxi); at the task's end locks_held lists those it still holds,
# with the operation that took each and the place in the model.

# The locks the running task took and has not released, for lock-leak at its end: plain C
# arrays, since every acquisition and release appends or removes one (a hot path).
cdef int64_t g_held_obj[64]
cdef int32_t g_held_kind[64]  # BLK_* of each
cdef int32_t g_held_op[64]    # the index, in the task, of the operation that took it
cdef int g_nheld = 0


cdef bint _still_mine(Pool pool, int64_t obj, int kind):
    """Whether the running task still holds a lock it took (another task may have
    unlocked a page lock for it)."""
    cdef int64_t index = obj & ((1 << 56) - 1)
    cdef int32_t* w
    if kind == BLK_PAGE:
        return _page_locked_by_me(&pool.pages[index])
    w = <int32_t*>(pool.heap + index)
    if kind == BLK_RWSEM_WRITE:
        return w[0] == -1 and w[1] == g_task
    if kind == BLK_RWSEM_READ:
        return w[0] > 0 and ((w[2] >> g_task) & 1) != 0
    return w[0] == g_task + 2


def locks_held(Pool pool not None):
    """The locks the running task holds now, each once, as (what, the index of the
    operation that took it, where in the model it was taken or '')."""
    pool.check()
    seen, out = set(), []
    for i in range(g_nheld):
        obj = g_held_obj[i]
        if obj not in seen and _still_mine(pool, obj, g_held_kind[i]):
            seen.add(obj)
            out.append((f"{BLOCK_KINDS[g_held_kind[i]]} {describe_object(pool, obj, g_object_names)}",
                        g_held_op[i], _where_taken(pool, obj)))
    return out


cdef str _where_taken(Pool pool, int64_t obj):
    """`function (file:line)` of the running task's last acquisition of `obj` (the word
    changed: a failed trylock took nothing), or '' when the event ring, full, may have
    dropped it."""
    if pool.hdr.ring_head > pool.hdr.ring_cap:
        return ""
    cdef int64_t i = pool.hdr.ring_head - 1
    while i >= 0:
        if pool.ring[i].obj == obj and pool.ring[i].task == g_task and pool.ring[i].before != pool.ring[i].after \
                and pool.ring[i].op in (OP_LOCK, OP_TRYLOCK, OP_SPIN_LOCK, OP_SPIN_TRYLOCK, OP_MUTEX_LOCK,
                                        OP_MUTEX_TRYLOCK, OP_DOWN_READ, OP_DOWN_WRITE):
            return site_label(pool.ring[i].site)
        i -= 1
    return ""
