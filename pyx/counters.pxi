# Per-node vmstat counters, vm event counters, and the per-node page allocator.

VMSTAT_NAMES = ("NR_FREE_PAGES", "NR_ISOLATED_ANON", "NR_ISOLATED_FILE", "NR_ANON_PAGES",
                "NR_FILE_PAGES", "NR_ANON_TRANSPARENT_HUGEPAGES", "NR_INACTIVE_ANON", "NR_ACTIVE_ANON")
VMEVENT_NAMES = ("PGMIGRATE_SUCCESS", "PGMIGRATE_FAIL", "NUMA_PAGE_MIGRATE", "NUMA_HINT_FAULTS",
                 "NUMA_HINT_FAULTS_LOCAL", "THP_FAULT_ALLOC", "PGFAULT", "PGSCAN", "PGSTEAL",
                 "THP_MIGRATION_SUCCESS", "THP_MIGRATION_FAIL", "PGFREE", "PGALLOC", "PGPIN",
                 "PGUNPIN", "USER0")
for _i, _n in enumerate(VMSTAT_NAMES):
    globals()[_n] = _i
for _i, _n in enumerate(VMEVENT_NAMES):
    globals()[_n] = _i


cdef int _check_node(Pool pool, int node) except -1:
    pool.check()
    if not 0 <= node < pool.hdr.nnodes:
        raise IndexError(f"node {node} out of range 0..{pool.hdr.nnodes - 1}")
    return 0


cdef int _check_item(int item, int n, str what) except -1:
    if not 0 <= item < n:
        raise IndexError(f"{what} item {item} out of range 0..{n - 1}")
    return 0


def mod_node_page_state(Pool pool not None, int node, int item, int64_t delta):
    """Add `delta` to a node's vmstat counter (NR_ISOLATED_ANON, ...); returns the new value."""
    _check_node(pool, node)
    _check_item(item, FZ_NR_VMSTAT, "vmstat")
    cdef int64_t s = _point(pool)
    cdef int64_t before = fz_add64(&pool.nodes[node].vmstat[item], delta)
    _record(pool, s, OP_MOD_VMSTAT, _obj(OBJ_VMSTAT, node * FZ_NR_VMSTAT + item), before, before + delta)
    return before + delta


def node_page_state(Pool pool not None, int node, int item):
    """Read a node's vmstat counter (NR_ISOLATED_ANON, ...)."""
    _check_node(pool, node)
    _check_item(item, FZ_NR_VMSTAT, "vmstat")
    cdef int64_t s = _point(pool)
    cdef int64_t v = fz_load64(&pool.nodes[node].vmstat[item])
    _record(pool, s, OP_READ_VMSTAT, _obj(OBJ_VMSTAT, node * FZ_NR_VMSTAT + item), v, v)
    return v


def count_vm_events(Pool pool not None, int item, int64_t n=1):
    """Add `n` to a vm event counter (PGMIGRATE_SUCCESS, NUMA_HINT_FAULTS, ...)."""
    _check_item(item, FZ_NR_VMEVENT, "vm event")
    pool.check()
    cdef int64_t s = _point(pool)
    cdef int64_t before = fz_add64(&pool.events[item], n)
    _record(pool, s, OP_COUNT_EVENT, _obj(OBJ_EVENT, item), before, before + n)


def vmstat(Pool pool not None, int node, int item):
    """A vmstat counter read without a scheduling point (oracles)."""
    _check_node(pool, node)
    _check_item(item, FZ_NR_VMSTAT, "vmstat")
    _note_raw(pool, _obj(OBJ_VMSTAT, node * FZ_NR_VMSTAT + item), False)
    return fz_load64(&pool.nodes[node].vmstat[item])


def vm_event(Pool pool not None, int item):
    """A vm event counter read without a scheduling point (oracles)."""
    _check_item(item, FZ_NR_VMEVENT, "vm event")
    pool.check()
    _note_raw(pool, _obj(OBJ_EVENT, item), False)
    return fz_load64(&pool.events[item])


def node_info(Pool pool not None, int node):
    """A node's memory: present and free base pages, high watermark, free page records."""
    _check_node(pool, node)
    _note_raw(pool, _obj(OBJ_VMSTAT, node * FZ_NR_VMSTAT), False)     # the free count: the allocator's
    n = &pool.nodes[node]
    return {"present": n.present, "free": n.vmstat[0], "watermark_high": n.watermark_high,
            "free_records": n.nfree_pages}


def set_node(Pool pool not None, int node, present=None, watermark_high=None):
    """Size a node (setup only, no scheduling point): present base pages and high watermark."""
    _check_node(pool, node)
    n = &pool.nodes[node]
    if present is not None:
        n.vmstat[0] += present - n.present
        n.present = present
    if watermark_high is not None:
        n.watermark_high = watermark_high


def alloc_pages_node(Pool pool not None, int node, int order=0):
    """Allocate a page of 2**order base pages on `node` without waiting: a Page
    holding one reference, or None when the node lacks memory or free records."""
    _check_node(pool, node)
    if not 0 <= order <= 20:
        raise ValueError(f"order must be 0..20, not {order}")
    cdef int64_t s = _point(pool)
    cdef fz_node* n = &pool.nodes[node]
    cdef int nr = 1 << order
    cdef int idx = -1
    _node_lock(n)
    if n.free_head >= 0 and n.vmstat[0] >= nr:
        idx = n.free_head
        n.free_head = pool.pages[idx].next_free
        n.nfree_pages -= 1
        fz_add64(&n.vmstat[0], -nr)
    fz_store32(&n.lock, 0)
    if idx < 0:
        _record(pool, s, OP_ALLOC, _obj(OBJ_PAGE, (1 << 55) | node), 0, -1)
        return None
    cdef fz_page* p = &pool.pages[idx]
    _dirty(pool, p)
    p.refcount = 1
    p.mapcount = 0
    p.flags = C_PG_HEAD if order else 0
    p.node = node
    p.order = order
    p.lock_owner = -1
    p.lock_pid = 0
    p.content = 0
    p.mapping = 0
    p.next_free = -1
    p.dropped = 0
    memset(p.own, 0, FZ_MAX_TASKS)
    if 0 <= g_task < FZ_MAX_TASKS:
        p.own[g_task] = 1
    p.in_use = 1
    _record(pool, s, OP_ALLOC, _obj(OBJ_PAGE, idx), node, order)
    return Page(pool, idx)
