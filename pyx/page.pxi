# struct page: references, the PG_locked page lock, flags, mapcount, data; the checks on
# each use (use-after-free) and at the free (bad-page-state), and the latent hazards they note.
# The put-before-unlock detector is in ownership.pxi; the locks a task holds, in held.pxi.

PG_locked = 1 << 0
PG_referenced = 1 << 1
PG_uptodate = 1 << 2
PG_dirty = 1 << 3
PG_lru = 1 << 4
PG_active = 1 << 5
PG_head = 1 << 6
PG_swapbacked = 1 << 7
PG_writeback = 1 << 8
PG_isolated = 1 << 9
PAGE_FLAG_NAMES = {PG_locked: "PG_locked", PG_referenced: "PG_referenced", PG_uptodate: "PG_uptodate",
                   PG_dirty: "PG_dirty", PG_lru: "PG_lru", PG_active: "PG_active", PG_head: "PG_head",
                   PG_swapbacked: "PG_swapbacked", PG_writeback: "PG_writeback",
                   PG_isolated: "PG_isolated"}
cdef uint32_t C_PG_LOCKED = 1 << 0
cdef uint32_t C_PG_LRU = 1 << 4
cdef uint32_t C_PG_HEAD = 1 << 6


def flag_names(uint32_t flags):
    return "|".join(name for bit, name in PAGE_FLAG_NAMES.items() if flags & bit) or "0"


cdef class Page:
    """A handle on one `struct page` record, remembering the generation it was taken at.

    Any operation through a handle whose page has since been freed (its
    generation changed) or whose refcount is 0 is a use-after-free, except
    get_page_unless_zero, the speculative get that exists for exactly that case.
    """
    cdef Pool pool
    cdef fz_page* pg
    cdef readonly int index
    cdef readonly uint32_t gen
    cdef int32_t born_run           # the run and step the handle was taken at (put-before-unlock)
    cdef int64_t born_step

    def __init__(self, Pool pool not None, index):
        pool.check()
        index = operator.index(index)
        if not 0 <= index < pool.hdr.npages:
            raise IndexError(f"page index {index} out of range 0..{pool.hdr.npages - 1}")
        self.pool = pool
        self.pg = &pool.pages[index]
        self.index = index
        self.gen = fz_load32(<int32_t*>&self.pg.gen)
        _note_raw(pool, _obj(OBJ_PAGE, index), False)
        self.born_run = fz_load32(&pool.ctl.run_gen)
        self.born_step = fz_load64(&pool.ctl.step)

    @property
    def obj(self):
        """The page as the event ring and findings name objects (Finding(..., obj=page.obj))."""
        return _pobj(self)

    @property
    def node(self):
        """The NUMA node the page belongs to."""
        self.pool.check()
        return self.pg.node

    @property
    def order(self):
        """The page's allocation order: 0 for a base page, 9 for a THP."""
        self.pool.check()
        _note_raw(self.pool, _pobj(self), False)
        return self.pg.order

    @property
    def nr_pages(self):
        """Base pages this page stands for: 512 for a THP."""
        self.pool.check()
        _note_raw(self.pool, _pobj(self), False)
        return 1 << self.pg.order

    @property
    def in_use(self):
        """Whether the page is allocated now (whatever generation): state()["in_use"],
        read without building the record (oracles)."""
        self.pool.check()
        return bool(self.pg.in_use)

    def state(self):
        """The raw record, read without a scheduling point (oracles, tests, traces)."""
        self.pool.check()
        _note_raw(self.pool, _pobj(self), False)
        p = self.pg
        return {"index": self.index, "refcount": p.refcount, "mapcount": p.mapcount,
                "flags": p.flags, "node": p.node, "gen": p.gen, "lock_owner": p.lock_owner,
                "order": p.order, "content": p.content, "in_use": bool(p.in_use),
                "mapping": p.mapping}

    def __eq__(self, other):
        return isinstance(other, Page) and (<Page>other).index == self.index \
            and (<Page>other).gen == self.gen and (<Page>other).pool is self.pool

    def __hash__(self):
        return hash(self.index)         # not the generation: get_page_unless_zero may move it on

    def __repr__(self):
        return f"<Page {self.index} gen {self.gen}>"

    def __reduce__(self):
        raise TypeError("a Page handle cannot be pickled: pass its index")


cdef inline int64_t _pobj(Page page) noexcept:
    return _obj(OBJ_PAGE, page.index)


cdef int _check_live(Page page, str what, bint allow_zero=False) except -1:
    """use-after-free: the page was freed (generation changed) or has no references.
    Callers take their scheduling point first, and _point has checked the pool is open."""
    cdef fz_page* p = page.pg
    cdef uint32_t gen = fz_load32(<int32_t*>&p.gen)
    if gen != page.gen:
        raise Finding("use-after-free", f"{what} on page {page.index} freed since it was taken "
                                        f"(generation {page.gen} -> {gen})", obj=_pobj(page))
    if not allow_zero and fz_load32(&p.refcount) <= 0:
        raise Finding("use-after-free", f"{what} on page {page.index} with refcount {p.refcount}", obj=_pobj(page))
    return 0


# Hazards the kernel reports and survives are noted, not raised: the run goes on so
# that what they lead to (a page used after the free, a leaked counter) still shows.
# A task keeps one, the most severe it showed; the parent reports it only when the
# run found nothing worse.
LATENT_RANK = {"put-before-unlock": 1, "bad-page-state": 2}


cdef int _note_latent(Pool pool, str kind, str message, int64_t obj) except -1:
    cdef int t = g_task
    cdef fz_ctl* c = pool.ctl
    if not 0 <= t < FZ_MAX_TASKS:
        raise Finding(kind, message, obj=obj)
    if c.latent_len[t]:
        held = json.loads(c.latent[t][:c.latent_len[t]])
        if LATENT_RANK.get(held["kind"], 0) >= LATENT_RANK.get(kind, 0):
            return 0
    from fuzzmm.sites import caller_site
    function, line = caller_site()
    detail = json.dumps({"kind": kind, "function": function, "line": line, "obj": obj,
                         "message": message}).encode()[:FZ_DETAIL]
    memcpy(c.latent[t], <char*>detail, len(detail))
    c.latent_step[t] = c.step
    c.latent_len[t] = len(detail)
    return 0


cdef int _use(Page page, str what) except -1:
    """The checks before any use of a page: alive, and the user still holds a reference."""
    _check_live(page, what)
    _check_owned(page, what)
    return 0


cdef int _free_page(Page page, int64_t seq) except -1:
    """The last reference is gone: check the page is clean, then give it back to its node."""
    cdef Pool pool = page.pool
    cdef fz_page* p = page.pg
    cdef uint32_t flags = fz_load32(<int32_t*>&p.flags)
    bad = []
    if flags & C_PG_LOCKED:
        bad.append(f"PG_locked (held by task {p.lock_owner})")
    if flags & C_PG_LRU:
        bad.append("PG_lru")
    if p.mapcount != 0:
        bad.append(f"mapcount {p.mapcount}")
    if p.mapping != 0:
        bad.append("a mapping")
    if bad:
        _note_latent(pool, "bad-page-state", f"page {page.index} freed with " + ", ".join(bad), _pobj(page))
    cdef int nr = 1 << p.order
    fz_add32(<int32_t*>&p.gen, 1)
    p.in_use = 0
    p.flags = 0
    p.order = 0
    p.lock_owner = -1
    p.dropped = 0
    memset(p.own, 0, FZ_MAX_TASKS)
    cdef fz_node* node = &pool.nodes[p.node]
    _node_lock(node)
    p.next_free = node.free_head
    node.free_head = page.index
    node.nfree_pages += 1
    fz_add64(&node.vmstat[0], nr)
    fz_store32(&node.lock, 0)
    _record(pool, seq, OP_FREE, _pobj(page), 1, 0)
    return 0


cdef inline void _node_lock(fz_node* node) noexcept nogil:
    while fz_cmpxchg32(&node.lock, 0, 1) != 0:
        fz_relax()


def get_page(Page page not None, bint own=True):
    """Take a reference on a page that already has one.

    `own=False` takes it for another holder (a pagevec, a mapping) rather than
    for the running task, so it does not count toward the task's own references."""
    cdef int64_t s = _point(page.pool)
    _dirty(page.pool, page.pg)
    _check_live(page, "get_page")
    cdef int32_t before = fz_add32(&page.pg.refcount, 1)
    if own:
        _own_get(page)
    _record(page.pool, s, OP_GET, _pobj(page), before, before + 1)


def put_page(Page page not None, bint own=True):
    """Drop a reference; the last one frees the page (bad-page-state if it is not clean).

    `own=False` drops a reference the task does not hold itself (a mapping's, a
    pagevec's), leaving its own references as they were."""
    cdef int64_t s = _point(page.pool)
    _dirty(page.pool, page.pg)
    _check_live(page, "put_page", True)
    cdef int32_t before = fz_add32(&page.pg.refcount, -1)
    if own:
        _own_put(page)
    _record(page.pool, s, OP_PUT, _pobj(page), before, before - 1)
    if before <= 0:
        raise Finding("refcount-underflow", f"put_page on page {page.index} dropped its count to {before - 1}", obj=_pobj(page))
    if before == 1:
        _free_page(page, s)


def get_page_unless_zero(Page page not None):
    """The speculative get: take a reference unless the count is already 0; returns whether it did.

    A `struct page` is never unmapped, so, unlike every other operation, this one
    is safe on a page that may have been freed since the handle was taken: that is
    what it is for (kref_get_unless_zero, find_get_page).  A count of 0 refuses the
    reference and is no finding.  A page freed and reused since gives a reference on
    its new use, and the handle follows it there; checking that it is still the
    page wanted (the slot, the mapping) is the caller's job, as in the kernel."""
    cdef int64_t s = _point(page.pool)
    _dirty(page.pool, page.pg)
    cdef int32_t seen = fz_load32(&page.pg.refcount)
    while seen > 0:
        if fz_cmpxchg32(&page.pg.refcount, seen, seen + 1) == seen:
            break
        seen = fz_load32(&page.pg.refcount)
    if seen > 0:
        page.gen = fz_load32(<int32_t*>&page.pg.gen)     # stable while the reference is held
        _own_get(page)
    _record(page.pool, s, OP_GET_UNLESS_ZERO, _pobj(page), seen, seen + 1 if seen > 0 else seen)
    return seen > 0


def page_count(Page page not None):
    """The page's reference count (page_count, page_ref_count)."""
    cdef int64_t s = _point(page.pool)
    _use(page, "page_count")
    cdef int32_t v = fz_load32(&page.pg.refcount)
    _record(page.pool, s, OP_COUNT, _pobj(page), v, v)
    return v


def page_mapcount(Page page not None):
    """How many mappings the page has (page_mapcount)."""
    cdef int64_t s = _point(page.pool)
    _use(page, "page_mapcount")
    cdef int32_t v = fz_load32(&page.pg.mapcount)
    _record(page.pool, s, OP_MAPCOUNT, _pobj(page), v, v)
    return v


def page_add_rmap(Page page not None):
    """Count one more mapping of the page (the caller holds a reference for it); returns mapcount."""
    cdef int64_t s = _point(page.pool)
    _dirty(page.pool, page.pg)
    _use(page, "page_add_rmap")
    cdef int32_t before = fz_add32(&page.pg.mapcount, 1)
    _record(page.pool, s, OP_MAPCOUNT, _pobj(page), before, before + 1)
    return before + 1


def page_remove_rmap(Page page not None):
    """Count one mapping fewer; returns mapcount."""
    cdef int64_t s = _point(page.pool)
    _dirty(page.pool, page.pg)
    _use(page, "page_remove_rmap")
    cdef int32_t before = fz_add32(&page.pg.mapcount, -1)
    _record(page.pool, s, OP_MAPCOUNT, _pobj(page), before, before - 1)
    if before <= 0:
        raise Finding("refcount-underflow", f"page_remove_rmap on page {page.index} dropped mapcount to {before - 1}", obj=_pobj(page))
    return before - 1


def trylock_page(Page page not None):
    """Set PG_locked if it is clear; never sleeps.  Returns whether it did."""
    cdef int64_t s = _point(page.pool, False)
    _dirty(page.pool, page.pg)
    _use(page, "trylock_page")
    if not _controlled(page.pool):
        s = _restamp(page.pool)             # a failure sorts before the unlock it missed
    cdef uint32_t before = fz_or32(<int32_t*>&page.pg.flags, C_PG_LOCKED)
    cdef bint ok = not (before & C_PG_LOCKED)
    if ok and not _controlled(page.pool):
        s = _restamp(page.pool)             # a success after the unlock it followed
    if ok:
        page.pg.lock_owner = g_task
        page.pg.lock_pid = g_pid
        _note_taken(_pobj(page), BLK_PAGE)
    _record(page.pool, s, OP_TRYLOCK, _pobj(page), before, before | C_PG_LOCKED)
    return ok


def lock_page(Page page not None):
    """Take PG_locked, sleeping until it is free (blocked, when scheduled)."""
    cdef Pool pool = page.pool
    _might_sleep("lock_page")
    cdef int64_t s = _point(pool, False)
    _dirty(page.pool, page.pg)
    _use(page, "lock_page")
    cdef fz_page* p = page.pg
    cdef uint32_t seen
    cdef int spins = 0
    if _controlled(pool):
        while p.flags & C_PG_LOCKED:
            _block(pool, BLK_PAGE, _pobj(page))
            s = _restamp(pool)
            _check_live(page, "lock_page (after waiting)")
        seen = p.flags
        p.flags = seen | C_PG_LOCKED
    else:
        while True:
            seen = fz_or32(<int32_t*>&p.flags, C_PG_LOCKED)
            if not (seen & C_PG_LOCKED):
                break
            if spins < LOCK_SPINS:
                spins += 1
                fz_relax()
                continue
            _sleep_on(pool, <int32_t*>&p.flags, seen | C_PG_LOCKED, &p.waiters, fz_load32(&p.lock_pid),
                      BLK_PAGE, _pobj(page))
            _check_live(page, "lock_page (after waiting)")
        s = _restamp(pool)                  # stamped once it holds the lock (see _restamp)
    p.lock_owner = g_task
    p.lock_pid = g_pid
    _note_taken(_pobj(page), BLK_PAGE)
    _record(pool, s, OP_LOCK, _pobj(page), seen, seen | C_PG_LOCKED)


cdef inline bint _page_locked_by_me(fz_page* p) noexcept:
    return (p.flags & C_PG_LOCKED) != 0 and p.lock_owner == g_task


def page_locked_by_me(Page page not None):
    """Whether the running task holds the page's PG_locked (lockdep_assert_held for a
    page lock).  Not a scheduling point: only this task can change the answer."""
    return _page_locked_by_me(page.pg)


def unlock_page(Page page not None):
    """Clear PG_locked and wake its waiters (bad-unlock if it was not locked)."""
    cdef Pool pool = page.pool
    cdef int64_t s = _point(pool, False)
    _dirty(page.pool, page.pg)
    _use(page, "unlock_page")
    cdef fz_page* p = page.pg
    if not (fz_load32(<int32_t*>&p.flags) & C_PG_LOCKED):
        raise Finding("bad-unlock", f"unlock_page on page {page.index}, which is not locked", obj=_pobj(page))
    p.lock_owner = -1
    p.lock_pid = 0
    _note_released(_pobj(page))
    if not _controlled(pool):
        s = _restamp(pool)                  # just before the page is unlocked (see _restamp)
    cdef uint32_t before = fz_and32(<int32_t*>&p.flags, ~C_PG_LOCKED)
    if _controlled(pool):
        _unblock(pool.ctl, BLK_PAGE, _pobj(page))
    elif fz_load32(&p.waiters):
        _wake_all(<int32_t*>&p.flags)
    _record(pool, s, OP_UNLOCK, _pobj(page), before, before & ~C_PG_LOCKED)


cdef uint32_t _flag_arg(uint32_t flag) except? 0:
    if flag == 0 or flag & C_PG_LOCKED:
        raise ValueError("use lock_page/trylock_page/unlock_page for PG_locked; flag must be a PG_* bit")
    return flag


def set_page_flag(Page page not None, uint32_t flag):
    """Set a PG_* bit; returns whether it was already set."""
    _flag_arg(flag)
    cdef int64_t s = _point(page.pool)
    _dirty(page.pool, page.pg)
    _use(page, "set_page_flag")
    cdef uint32_t before = fz_or32(<int32_t*>&page.pg.flags, flag)
    _record(page.pool, s, OP_SET_FLAG, _pobj(page), before, before | flag)
    return bool(before & flag)


def clear_page_flag(Page page not None, uint32_t flag):
    """Clear a PG_* bit; returns whether it was set (TestClearPage*)."""
    _flag_arg(flag)
    cdef int64_t s = _point(page.pool)
    _dirty(page.pool, page.pg)
    _use(page, "clear_page_flag")
    cdef uint32_t before = fz_and32(<int32_t*>&page.pg.flags, ~flag)
    _record(page.pool, s, OP_CLEAR_FLAG, _pobj(page), before, before & ~flag)
    return bool(before & flag)


def test_page_flag(Page page not None, uint32_t flag):
    """Whether a PG_* bit is set (PageLRU, PageDirty, ...)."""
    cdef int64_t s = _point(page.pool)
    _use(page, "test_page_flag")
    cdef uint32_t v = fz_load32(<int32_t*>&page.pg.flags)
    _record(page.pool, s, OP_TEST_FLAG, _pobj(page), v, v)
    return bool(v & flag)


def write_page(Page page not None, int64_t value):
    """Store `value` as the page's data (a CPU store or a DMA write)."""
    cdef int64_t s = _point(page.pool)
    _dirty(page.pool, page.pg)
    _use(page, "write_page")
    cdef int64_t before = fz_xchg64(&page.pg.content, value)
    _record(page.pool, s, OP_WRITE, _pobj(page), before, value)


def read_page(Page page not None):
    """The page's data, as write_page left it (a CPU load or a DMA read)."""
    cdef int64_t s = _point(page.pool)
    _use(page, "read_page")
    cdef int64_t v = fz_load64(&page.pg.content)
    _record(page.pool, s, OP_READ, _pobj(page), v, v)
    return v


def set_page_mapping(Page page not None, int64_t mapping):
    """Set or clear (0) page->mapping; a page freed with one set is in bad state."""
    cdef int64_t s = _point(page.pool)
    _dirty(page.pool, page.pg)
    _use(page, "set_page_mapping")
    cdef int64_t before = fz_xchg64(&page.pg.mapping, mapping)
    _record(page.pool, s, OP_SET_MAPPING, _pobj(page), before, mapping)
    return before
