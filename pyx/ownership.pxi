# ---- reference ownership: the put-before-unlock detector ----
#
# Each task's own references to a page (its gets, the isolation or pin it took)
# are counted in the page record.  Once a task has put its last own reference,
# using the page again (unlock_page, flags, data, counts) through a handle it held
# across that put, without a new get, is put-before-unlock, even when other
# references keep the page alive this time.  A handle taken after the put is a new
# lookup (a page table read under its lock, say), which is how the kernel reaches
# a page it holds no reference to, so it is not suspect.  Puts are exempt:
# dropping a reference the task does not own (a mapping's, say) is how a page
# legitimately goes away.
#
# begin_operation, at the start of each of a task's operations (a new system call),
# forgets the puts made in the earlier ones; it also names the operation for the locks
# the task takes (held.pxi).

cdef inline void _own_get(Page page) noexcept:
    cdef int t = g_task
    if 0 <= t < FZ_MAX_TASKS:
        page.pg.own[t] += 1
        page.pg.dropped &= ~(1u << t)


cdef inline void _own_put(Page page) noexcept:
    global g_ndropped
    cdef int t = g_task
    if 0 <= t < FZ_MAX_TASKS and page.pg.own[t] > 0:
        page.pg.own[t] -= 1
        if page.pg.own[t] == 0:
            page.pg.dropped |= 1u << t
            if g_ndropped < 64:
                g_dropped_pages[g_ndropped] = page.index
            g_ndropped += 1


cdef int _check_owned(Page page, str what) except -1:
    cdef int t = g_task
    if 0 <= t < FZ_MAX_TASKS and (page.pg.dropped >> t) & 1 and page.pg.own[t] == 0:
        if page.pool.ctl.latent_len[t]:
            return 0
        put_step = _last_put_step(page.pool, _pobj(page), t)
        if put_step >= 0 and page.born_run == page.pool.ctl.run_gen and page.born_step >= put_step:
            return 0                    # looked up again since the put
        _note_latent(page.pool, "put-before-unlock", f"{what} on page {page.index} by task {t}, which put "
                     f"its last reference at step {put_step}", _pobj(page))
    return 0


cdef int64_t _last_put_step(Pool pool, int64_t obj, int task):
    cdef int64_t i = min(pool.hdr.ring_head, pool.hdr.ring_cap) - 1
    while i >= 0:
        if pool.ring[i].op == OP_PUT and pool.ring[i].obj == obj and pool.ring[i].task == task:
            return pool.ring[i].seq
        i -= 1
    return -1


def begin_operation(Pool pool not None, int index=-1):
    """A task starts its operation number `index` (a new system call): puts it made in
    earlier operations no longer make its uses put-before-unlock."""
    global g_op_index, g_ndropped
    pool.check()
    g_op_index = index
    cdef int t = g_task, i
    cdef fz_page* p
    cdef uint32_t keep
    if not 0 <= t < FZ_MAX_TASKS:
        return
    keep = ~(1u << t)
    if g_ndropped > 64:
        for i in range(pool.hdr.npages):
            if pool.pages[i].dropped & ~keep:
                _dirty(pool, &pool.pages[i])
                pool.pages[i].dropped &= keep
    else:
        for i in range(g_ndropped):
            p = &pool.pages[g_dropped_pages[i]]
            if p.dropped & ~keep:
                _dirty(pool, p)
                p.dropped &= keep
    g_ndropped = 0
