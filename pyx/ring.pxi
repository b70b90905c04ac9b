# The event ring: one fixed-size record per scheduling point, cheap enough to leave on.

cdef extern from "Python.h":
    PyObject* PyEval_GetFrame()
    int PyFrame_GetLasti(PyObject* frame)
    PyObject* PyFrame_GetCode(PyObject* frame)

# Operation codes of ring records; OP_NAMES gives their printable names.
OP_NAMES = (
    "none", "load", "store", "add", "cmpxchg", "xchg", "or", "and",
    "get_page", "put_page", "get_page_unless_zero", "page_count", "trylock_page", "lock_page",
    "unlock_page", "free_page", "alloc_page", "set_flag", "clear_flag", "test_flag",
    "mapcount", "write_page", "read_page", "spin_lock", "spin_unlock", "mutex_lock",
    "mutex_unlock", "down_read", "up_read", "down_write", "up_write", "mod_vmstat",
    "read_vmstat", "count_event", "block", "task_end", "spin_trylock", "set_mapping",
    "mutex_trylock", "sub",
)
cdef enum:
    OP_NONE, OP_LOAD, OP_STORE, OP_ADD, OP_CMPXCHG, OP_XCHG, OP_OR, OP_AND,
    OP_GET, OP_PUT, OP_GET_UNLESS_ZERO, OP_COUNT, OP_TRYLOCK, OP_LOCK,
    OP_UNLOCK, OP_FREE, OP_ALLOC, OP_SET_FLAG, OP_CLEAR_FLAG, OP_TEST_FLAG,
    OP_MAPCOUNT, OP_WRITE, OP_READ, OP_SPIN_LOCK, OP_SPIN_UNLOCK, OP_MUTEX_LOCK,
    OP_MUTEX_UNLOCK, OP_DOWN_READ, OP_UP_READ, OP_DOWN_WRITE, OP_UP_WRITE, OP_MOD_VMSTAT,
    OP_READ_VMSTAT, OP_COUNT_EVENT, OP_BLOCK, OP_TASK_END, OP_SPIN_TRYLOCK, OP_SET_MAPPING,
    OP_MUTEX_TRYLOCK, OP_SUB

# Objects in records are tagged by kind in the top byte so one number names one object.
OBJ_PAGE = 1
OBJ_HEAP = 2
OBJ_VMSTAT = 3
OBJ_EVENT = 4
cdef inline int64_t _obj(int64_t kind, int64_t index) noexcept nogil:
    return (kind << 56) | index

def obj_kind(int64_t obj):
    return obj >> 56

def obj_index(int64_t obj):
    return obj & ((1 << 56) - 1)


# A site is the calling code object's stable id (crc32 of "file:qualname") and
# the offset of the calling instruction; the line is looked up only when a
# trace is rendered, so recording costs a pointer compare in a loop.
cdef dict _site_ids = {}      # address of a code object -> its stable id
CODES = {}                    # stable id -> code object (kept alive, so addresses stay unique)
cdef PyObject* g_last_code = NULL
cdef int64_t g_last_ident = 0


cdef int64_t _site() except? -1:
    """The model site calling the primitive."""
    global g_last_code, g_last_ident
    cdef PyObject* frame = PyEval_GetFrame()
    if frame == NULL:
        return 0
    cdef int64_t lasti = PyFrame_GetLasti(frame)
    cdef PyObject* codeptr = PyFrame_GetCode(frame)
    cdef int64_t ident
    if codeptr == g_last_code:
        ident = g_last_ident
    else:
        ident = _learn_code(codeptr)
        g_last_code = codeptr
        g_last_ident = ident
    Py_XDECREF(codeptr)
    return (ident << 24) | (lasti & 0xffffff)


cdef int64_t _learn_code(PyObject* codeptr) except? -1:
    key = <Py_ssize_t>codeptr
    ident = _site_ids.get(key)
    if ident is None:
        code = <object>codeptr
        ident = _code_ident(code)
        CODES[ident] = code
        _site_ids[key] = ident
    return ident


def _code_ident(code):
    return zlib.crc32(f"{code.co_filename}:{code.co_qualname}".encode())


def site_line(int64_t site):
    """The source line of a site, or 0 if this process does not know its code."""
    code = CODES.get((site >> 24) & 0xffffffff)
    if code is None:
        return 0
    offset = site & 0xffffff
    for start, end, line in code.co_lines():
        if start <= offset < end:
            return line or 0
    return code.co_firstlineno


def site_hidden(int64_t site):
    """Whether a site's function asks to be skipped in reports (a local `__tracebackhide__`,
    as a kernel-style put_page wrapper has); False for a code this process does not know."""
    code = CODES.get((site >> 24) & 0xffffffff)
    return code is not None and "__tracebackhide__" in code.co_varnames


def site_label(int64_t site):
    """`function (file:line)` for a site number, as far as this process knows it."""
    ident = (site >> 24) & 0xffffffff
    code = CODES.get(ident)
    if code is None:
        return f"site {ident:08x}+{site & 0xffffff}"
    return f"{code.co_qualname} ({os.path.basename(code.co_filename)}:{site_line(site)})"


def register_sites(*modules):
    """Learn the site names of every function in `modules`, so a parent can render
    sites recorded by workers."""
    import inspect
    seen = set()
    def visit(obj):
        if id(obj) in seen:
            return
        seen.add(id(obj))
        code = getattr(obj, "__code__", None)
        if code is not None:
            CODES.setdefault(_code_ident(code), code)
            return
        if inspect.isclass(obj):
            for value in vars(obj).values():
                visit(getattr(value, "__func__", value))
    for module in modules:
        for value in list(vars(module).values()):
            visit(value)


cdef inline void _record(Pool pool, int64_t seq, int op, int64_t obj, int64_t before, int64_t after) except *:
    if not pool.ctl.ring_on:
        return
    cdef int64_t i = fz_add64(&pool.hdr.ring_head, 1)
    if i >= pool.hdr.ring_cap:
        return
    cdef fz_event* e = &pool.ring[i]
    e.seq = seq
    e.task = g_task
    e.op = op
    e.obj = obj
    e.before = before
    e.after = after
    e.site = _site()


def events(Pool pool not None):
    """The ring's records since the last reset, as tuples
    (seq, task, op, obj, before, after, site), in the order they were written."""
    pool.check()
    cdef int64_t n = min(pool.hdr.ring_head, pool.hdr.ring_cap)
    cdef fz_event* e
    out = []
    for i in range(n):
        e = &pool.ring[i]
        out.append((e.seq, e.task, e.op, e.obj, e.before, e.after, e.site))
    return out


def ring_overflowed(Pool pool not None):
    pool.check()
    return pool.hdr.ring_head > pool.hdr.ring_cap


def set_ring(Pool pool not None, bint on):
    """Turn event recording on or off (it is on by default)."""
    pool.check()
    pool.ctl.ring_on = on


# ---- lock dependencies seen in the ring (lockdep) ----

cdef int64_t PAGE_LOCK_CLASS = (<int64_t>OBJ_PAGE) << 56     # every page lock is one class


cdef inline int64_t _lock_class(int op, int64_t obj) noexcept nogil:
    return PAGE_LOCK_CLASS if op == OP_LOCK or op == OP_TRYLOCK or op == OP_UNLOCK else obj


def lockdep_scan(Pool pool not None, dict edges):
    """Add to `edges` every lock dependency of the last run not already there:
    (held class, acquired class) -> (task, site of the held lock, site of the acquisition).
    Returns the new keys.  A trylock adds no dependency (it cannot wait) and
    counts as held only if it succeeded; all page locks form one class, as in
    the kernel's lockdep."""
    pool.check()
    cdef int64_t n = min(pool.hdr.ring_head, pool.hdr.ring_cap), i
    cdef fz_event* e
    cdef int op, t
    held = [[] for _ in range(FZ_MAX_TASKS)]
    new = []
    for i in range(n):
        e = &pool.ring[i]
        t = e.task
        if t < 0 or t >= FZ_MAX_TASKS:
            continue
        op = e.op
        if op in (OP_LOCK, OP_SPIN_LOCK, OP_MUTEX_LOCK, OP_DOWN_READ, OP_DOWN_WRITE):
            cls = _lock_class(op, e.obj)
            for hcls, hsite in held[t]:
                if hcls != cls and (hcls, cls) not in edges:
                    edges[(hcls, cls)] = (t, hsite, e.site)
                    new.append((hcls, cls))
            held[t].append((cls, e.site))
        elif ((op == OP_TRYLOCK and not (e.before & C_PG_LOCKED))
              or (op in (OP_SPIN_TRYLOCK, OP_MUTEX_TRYLOCK) and e.before == 0)):
            held[t].append((_lock_class(op, e.obj), e.site))
        elif op in (OP_UNLOCK, OP_SPIN_UNLOCK, OP_MUTEX_UNLOCK, OP_UP_READ, OP_UP_WRITE):
            cls = _lock_class(op, e.obj)
            stack = held[t]
            for j in range(len(stack) - 1, -1, -1):
                if stack[j][0] == cls:
                    del stack[j]
                    break
    return new


cdef enum:
    EDGE_HELD = 64        # locks one task may hold at once for lock_edge_keys; past it, None
    EDGE_MAX = 1024       # distinct dependencies of one run for lock_edge_keys; past it, None


def lock_edge_keys(Pool pool not None):
    """The (held class, acquired class) keys lockdep_scan would add to an empty dict, in
    the same order, without their sites: what a run showed, read in C, so that a run that
    repeats a known set of dependencies costs one lookup.  None where a task held more
    locks at once, or a run showed more dependencies, than this scan keeps room for."""
    pool.check()
    cdef int64_t n = min(pool.hdr.ring_head, pool.hdr.ring_cap), i
    cdef fz_event* e
    cdef int op, t, j, k
    cdef int64_t cls, hcls
    cdef int64_t held[FZ_MAX_TASKS][EDGE_HELD]
    cdef int nheld[FZ_MAX_TASKS]
    cdef int64_t edge_held[EDGE_MAX]
    cdef int64_t edge_taken[EDGE_MAX]
    cdef int nedges = 0
    cdef bint seen
    for t in range(FZ_MAX_TASKS):
        nheld[t] = 0
    for i in range(n):
        e = &pool.ring[i]
        t = e.task
        if t < 0 or t >= FZ_MAX_TASKS:
            continue
        op = e.op
        if op == OP_LOCK or op == OP_SPIN_LOCK or op == OP_MUTEX_LOCK or op == OP_DOWN_READ or op == OP_DOWN_WRITE:
            cls = _lock_class(op, e.obj)
            for j in range(nheld[t]):
                hcls = held[t][j]
                if hcls == cls:
                    continue
                seen = False
                for k in range(nedges):
                    if edge_held[k] == hcls and edge_taken[k] == cls:
                        seen = True
                        break
                if not seen:
                    if nedges == EDGE_MAX:
                        return None
                    edge_held[nedges] = hcls
                    edge_taken[nedges] = cls
                    nedges += 1
            if nheld[t] == EDGE_HELD:
                return None
            held[t][nheld[t]] = cls
            nheld[t] += 1
        elif ((op == OP_TRYLOCK and not (e.before & C_PG_LOCKED))
              or ((op == OP_SPIN_TRYLOCK or op == OP_MUTEX_TRYLOCK) and e.before == 0)):
            if nheld[t] == EDGE_HELD:
                return None
            held[t][nheld[t]] = _lock_class(op, e.obj)
            nheld[t] += 1
        elif op == OP_UNLOCK or op == OP_SPIN_UNLOCK or op == OP_MUTEX_UNLOCK or op == OP_UP_READ or op == OP_UP_WRITE:
            cls = _lock_class(op, e.obj)
            for j in range(nheld[t] - 1, -1, -1):
                if held[t][j] == cls:
                    for k in range(j, nheld[t] - 1):
                        held[t][k] = held[t][k + 1]
                    nheld[t] -= 1
                    break
    return tuple([(edge_held[k], edge_taken[k]) for k in range(nedges)])


# ---- coverage: ordered pairs of sites on one object across tasks ----

def coverage_pairs(Pool pool not None, set seen):
    """Add to `seen` each (site A in task X, then site B in task Y != X, same object)
    pair of the last run, hashed to one integer; returns how many were new."""
    pool.check()
    cdef int64_t n = min(pool.hdr.ring_head, pool.hdr.ring_cap), i
    cdef fz_event* e
    cdef dict last = {}
    cdef int new = 0
    for i in range(n):
        e = &pool.ring[i]
        if e.task < 0 or e.op == OP_BLOCK:
            continue
        prev = last.get(e.obj)
        if prev is not None and prev[0] != e.task:
            key = hash((prev[1], e.site))
            if key not in seen:
                seen.add(key)
                new += 1
        last[e.obj] = (e.task, e.site)
    return new
