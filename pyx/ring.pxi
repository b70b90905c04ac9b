# The event ring: one fixed-size record per scheduling point, cheap enough to leave on.

cdef extern from "Python.h":
    PyObject* PyEval_GetFrame()
    int PyFrame_GetLineNumber(PyObject* frame)
    PyObject* PyFrame_GetCode(PyObject* frame)

# Operation codes of ring records; OP_NAMES gives their printable names.
OP_NAMES = (
    "none", "load", "store", "add", "cmpxchg", "xchg", "or", "and",
    "get_page", "put_page", "get_page_unless_zero", "page_count", "trylock_page", "lock_page",
    "unlock_page", "free_page", "alloc_page", "set_flag", "clear_flag", "test_flag",
    "mapcount", "write_page", "read_page", "spin_lock", "spin_unlock", "mutex_lock",
    "mutex_unlock", "down_read", "up_read", "down_write", "up_write", "mod_vmstat",
    "read_vmstat", "count_event", "block", "task_end", "spin_trylock", "set_mapping",
)
cdef enum:
    OP_NONE, OP_LOAD, OP_STORE, OP_ADD, OP_CMPXCHG, OP_XCHG, OP_OR, OP_AND,
    OP_GET, OP_PUT, OP_GET_UNLESS_ZERO, OP_COUNT, OP_TRYLOCK, OP_LOCK,
    OP_UNLOCK, OP_FREE, OP_ALLOC, OP_SET_FLAG, OP_CLEAR_FLAG, OP_TEST_FLAG,
    OP_MAPCOUNT, OP_WRITE, OP_READ, OP_SPIN_LOCK, OP_SPIN_UNLOCK, OP_MUTEX_LOCK,
    OP_MUTEX_UNLOCK, OP_DOWN_READ, OP_UP_READ, OP_DOWN_WRITE, OP_UP_WRITE, OP_MOD_VMSTAT,
    OP_READ_VMSTAT, OP_COUNT_EVENT, OP_BLOCK, OP_TASK_END, OP_SPIN_TRYLOCK, OP_SET_MAPPING

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


cdef dict _site_ids = {}      # code object -> stable 32-bit id of "file:qualname"
SITE_NAMES = {}               # stable id -> "file:qualname", for rendering


cdef int64_t _site() except? -1:
    """The model site calling the primitive: stable id of its function, and its line."""
    cdef PyObject* frame = PyEval_GetFrame()
    if frame == NULL:
        return 0
    cdef int line = PyFrame_GetLineNumber(frame)
    cdef PyObject* codeptr = PyFrame_GetCode(frame)
    code = <object>codeptr
    Py_DECREF(code)
    ident = _site_ids.get(code)
    if ident is None:
        label = f"{code.co_filename}:{code.co_qualname}"
        ident = zlib.crc32(label.encode())
        _site_ids[code] = ident
        SITE_NAMES[ident] = label
    return ((<int64_t>ident) << 24) | (line & 0xffffff)


def site_label(int64_t site):
    """`function (file:line)` for a site number, as far as this process knows it."""
    ident = (site >> 24) & 0xffffffff
    line = site & 0xffffff
    label = SITE_NAMES.get(ident)
    if label is None:
        return f"site {ident:08x}:{line}"
    path, _, qual = label.rpartition(":")
    return f"{qual} ({os.path.basename(path)}:{line})"


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
            label = f"{code.co_filename}:{code.co_qualname}"
            SITE_NAMES[zlib.crc32(label.encode())] = label
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


cdef inline int64_t _lock_class(int op, int64_t obj) noexcept:
    return PAGE_LOCK_CLASS if op in (OP_LOCK, OP_TRYLOCK, OP_UNLOCK) else obj


def lockdep_scan(Pool pool not None, dict edges):
    """Add to `edges` every lock dependency of the last run not already there:
    (held class, acquired class) -> (task, site of the held lock, site of the acquisition).
    Returns the new keys.  A trylock adds no dependency (it cannot wait) but
    counts as held; all page locks form one class, as in the kernel's lockdep."""
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
        elif (op == OP_TRYLOCK and not (e.before & C_PG_LOCKED)) or (op == OP_SPIN_TRYLOCK and e.before == 0):
            held[t].append((_lock_class(op, e.obj), e.site))
        elif op in (OP_UNLOCK, OP_SPIN_UNLOCK, OP_MUTEX_UNLOCK, OP_UP_READ, OP_UP_WRITE):
            cls = _lock_class(op, e.obj)
            stack = held[t]
            for j in range(len(stack) - 1, -1, -1):
                if stack[j][0] == cls:
                    del stack[j]
                    break
    return new
