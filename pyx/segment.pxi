# The pool: one POSIX shared-memory segment, its layout, create / attach / close / unlink.
from posix.fcntl cimport O_CREAT, O_EXCL, O_RDWR
from posix.unistd cimport close as c_close, ftruncate
from posix.mman cimport shm_open, shm_unlink, mmap, munmap, PROT_READ, PROT_WRITE, MAP_SHARED, MAP_FAILED
from posix.stat cimport struct_stat, fstat
from libc.errno cimport errno, ETIMEDOUT
import operator
import weakref

SHM_DIR = "/dev/shm"
NAME_PREFIX = "fuzzmm-"

cdef int64_t _round(int64_t n, int64_t to) noexcept nogil:
    return (n + to - 1) // to * to

cdef int g_pid = os.getpid()   # this process's pid: the holder recorded in locks


def _refresh_pid():
    global g_pid
    g_pid = os.getpid()


os.register_at_fork(after_in_child=_refresh_pid)


def _owner_pid_of(name):
    """The pid encoded in a pool name `fuzzmm-<pid>-...`, or None."""
    parts = name.split("-")
    if len(parts) < 3 or parts[0] != "fuzzmm":
        return None
    try:
        return int(parts[1])
    except ValueError:
        return None


def cleanup_stale(directory=SHM_DIR):
    """Unlink pool segments whose owning process no longer exists; returns their names."""
    removed = []
    try:
        names = os.listdir(directory)
    except OSError:
        return removed
    for name in names:
        pid = _owner_pid_of(name)
        if pid is None or fz_pid_alive(pid):
            continue
        try:
            os.unlink(os.path.join(directory, name))
            removed.append(name)
        except OSError:
            pass
    return removed


def unique_name(tag=None):
    """A pool name unique to this process, pytest-xdist worker and call."""
    if tag is None:
        tag = os.environ.get("PYTEST_XDIST_WORKER", "main")
    tag = "".join(ch for ch in str(tag) if ch.isalnum()) or "x"
    return f"{NAME_PREFIX}{os.getpid()}-{tag}-{os.urandom(4).hex()}"


def _unlink_if_owner(name, owner_pid):
    if os.getpid() == owner_pid:
        try:
            os.unlink(os.path.join(SHM_DIR, name))
        except OSError:
            pass


cdef class Pool:
    """A shared-memory segment holding pages, nodes, counters, a heap, the scheduler and the event ring.

    Create it in one process with `Pool.create()`, attach to it by name in
    others with `Pool.attach(name)`.  Only the creating process unlinks it (on
    `unlink()`, `close()` of the owner, or interpreter exit), which avoids the
    Python 3.11 resource-tracker trap of an attaching process unlinking a
    segment it does not own.
    """
    cdef char* base
    cdef int64_t size
    cdef fz_header* hdr
    cdef fz_ctl* ctl
    cdef fz_node* nodes
    cdef fz_page* pages
    cdef int64_t* events
    cdef char* heap
    cdef fz_event* ring
    cdef readonly str name
    cdef readonly bint owner
    cdef readonly bint attaching
    cdef int64_t cursor
    cdef object _finalizer
    cdef object __weakref__

    def __cinit__(self):
        self.base = NULL

    @staticmethod
    def create(name=None, int nodes=2, int pages=64, int64_t heap=1 << 16, int64_t ring=1 << 16,
               int64_t node_pages=4096):
        """Create a pool of `pages` page records split over `nodes` NUMA nodes.

        `node_pages` is each node's memory in base pages; a THP takes 512 of them.
        `heap` is the bytes for program state (atomics, locks, page tables);
        `ring` is the event-ring capacity in records.
        """
        if not 1 <= nodes <= FZ_MAX_NODES:
            raise ValueError(f"nodes must be 1..{FZ_MAX_NODES}, got {nodes}")
        if pages < 1 or heap < 0 or ring < 1 or node_pages < 1:
            raise ValueError("pages, ring and node_pages must be positive, heap not negative")
        cleanup_stale()
        cdef Pool p = Pool.__new__(Pool)
        p.name = name or unique_name()
        cdef int64_t off = 4096
        cdef int64_t ctl_off = off
        off = _round(off + sizeof(fz_ctl), 4096)
        cdef int64_t nodes_off = off
        off = _round(off + nodes * sizeof(fz_node), 64)
        cdef int64_t events_off = off
        off = _round(off + FZ_NR_VMEVENT * 8, 64)
        cdef int64_t pages_off = off
        off = _round(off + pages * sizeof(fz_page), 64)
        cdef int64_t heap_off = off
        off = _round(off + heap, 64)
        cdef int64_t ring_off = off
        off = _round(off + ring * sizeof(fz_event), 4096)
        p._map(p.name.encode(), off, True)
        hdr = p.hdr
        hdr.version = FZ_VERSION
        hdr.owner_pid = os.getpid()
        hdr.size = off
        hdr.ctl_off, hdr.nodes_off, hdr.events_off = ctl_off, nodes_off, events_off
        hdr.pages_off, hdr.heap_off, hdr.ring_off = pages_off, heap_off, ring_off
        hdr.nnodes, hdr.npages = nodes, pages
        hdr.heap_size, hdr.ring_cap = heap, ring
        hdr.state_off = nodes_off
        hdr.state_len = ring_off - nodes_off
        p._layout()
        cdef int i, n
        for n in range(nodes):
            p.nodes[n].free_head = -1
            p.nodes[n].present = node_pages
            p.nodes[n].watermark_high = 0
            p.nodes[n].vmstat[0] = node_pages      # NR_FREE_PAGES
        for i in range(pages - 1, -1, -1):       # page i belongs to node i % nodes
            n = i % nodes
            p.pages[i].node = n
            p.pages[i].lock_owner = -1
            p.pages[i].next_free = p.nodes[n].free_head
            p.nodes[n].free_head = i
            p.nodes[n].nfree_pages += 1
        p.ctl.current = -1
        p.ctl.ring_on = 1
        p.ctl.spin_iters = 2000
        p.ctl.max_steps = 100000
        hdr.magic = FZ_MAGIC
        p.owner = True
        p._finalizer = weakref.finalize(p, _unlink_if_owner, p.name, os.getpid())
        return p

    @staticmethod
    def attach(name):
        """Map an existing pool by name (in a worker started by fork or by spawn)."""
        if not isinstance(name, str):
            raise TypeError(f"pool name must be a str, not {type(name).__name__}")
        cdef Pool p = Pool.__new__(Pool)
        p.name = name
        p._map(name.encode(), 0, False)
        if p.hdr.magic != FZ_MAGIC or p.hdr.version != FZ_VERSION:
            p._unmap()
            raise PoolError(f"{name} is not a fuzzmm pool of format version {FZ_VERSION}")
        p._layout()
        p.attaching = True
        return p

    cdef _map(self, bytes cname, int64_t size, bint create):
        cdef int fd
        cdef struct_stat st
        if create:
            fd = shm_open(cname, O_CREAT | O_EXCL | O_RDWR, 0o600)
        else:
            fd = shm_open(cname, O_RDWR, 0)
        if fd < 0:
            err = errno
            raise PoolError(f"cannot {'create' if create else 'attach'} pool {cname.decode()}: {os.strerror(err)}")
        try:
            if create:
                if ftruncate(fd, size) != 0:
                    err = errno
                    shm_unlink(cname)
                    raise PoolError(f"cannot size pool {cname.decode()}: {os.strerror(err)}")
            else:
                if fstat(fd, &st) != 0 or st.st_size < 4096:
                    raise PoolError(f"{cname.decode()} is not a fuzzmm pool (size {st.st_size})")
                size = st.st_size
            addr = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0)
            if addr == MAP_FAILED:
                err = errno
                if create:
                    shm_unlink(cname)
                raise PoolError(f"cannot map pool {cname.decode()}: {os.strerror(err)}")
        finally:
            c_close(fd)
        self.base = <char*>addr
        self.size = size
        self.hdr = <fz_header*>self.base

    cdef _layout(self):
        h = self.hdr
        if h.size != self.size:
            raise PoolError(f"{self.name}: header says {h.size} bytes, segment has {self.size}")
        self.ctl = <fz_ctl*>(self.base + h.ctl_off)
        self.nodes = <fz_node*>(self.base + h.nodes_off)
        self.events = <int64_t*>(self.base + h.events_off)
        self.pages = <fz_page*>(self.base + h.pages_off)
        self.heap = self.base + h.heap_off
        self.ring = <fz_event*>(self.base + h.ring_off)

    cdef _unmap(self):
        if self.base != NULL:
            munmap(self.base, self.size)
            self.base = NULL

    cdef inline int check(self) except -1:
        if self.base == NULL:
            raise PoolError(f"pool {self.name} is closed")
        return 0

    @property
    def closed(self):
        return self.base == NULL

    @property
    def nnodes(self):
        self.check()
        return self.hdr.nnodes

    @property
    def npages(self):
        self.check()
        return self.hdr.npages

    def close(self):
        """Unmap this process's view; the owner also unlinks the segment."""
        self._unmap()
        if self.owner:
            self.unlink()

    def unlink(self):
        """Remove the segment's name (owner only); mapped views stay valid until closed."""
        if not self.owner:
            raise PoolError(f"only the process that created {self.name} may unlink it")
        if self._finalizer is not None:
            self._finalizer()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __dealloc__(self):
        self._unmap()

    def __reduce__(self):
        raise TypeError("a Pool cannot be pickled: pass pool.name and Pool.attach() it")

    # ---- the heap: program state allocated in the same order in every process ----

    def alloc(self, int64_t nbytes, int64_t align=8):
        """Reserve `nbytes` of the heap and return its offset.

        Allocation is a pure function of the call sequence, so a worker that
        replays the program's setup gets the same offsets as the creator.
        """
        self.check()
        cdef int64_t off = _round(self.cursor, align)
        if nbytes < 0 or off + nbytes > self.hdr.heap_size:
            raise PoolError(f"pool heap full: {self.hdr.heap_size} bytes, asked {nbytes} at {off}")
        self.cursor = off + nbytes
        if not self.attaching:
            self.hdr.heap_used = self.cursor
        return off

    # ---- handles on program state ----

    def atomic(self, int64_t init=0, int bits=64):
        """A new atomic integer in the heap."""
        if bits not in (32, 64):
            raise ValueError(f"bits must be 32 or 64, not {bits}")
        a = Atomic(self, self.alloc(bits // 8, bits // 8), bits)
        if not self.attaching:
            a.poke(init)
        return a

    def spinlock(self):
        return SpinLock(self, self.alloc(16, 8))

    def mutex(self):
        return Mutex(self, self.alloc(16, 8))

    def rwsem(self):
        sem = RWSem(self, self.alloc(16, 8))
        if not self.attaching:
            (<int32_t*>(self.heap + sem.offset))[1] = -1
        return sem

    def page(self, index):
        """A handle on page record `index`, at its current generation."""
        return Page(self, operator.index(index))

    def pages_in_use(self):
        """(index, refcount, mapcount, flags, node, order, lock_owner) of each page in use,
        by index: the page records read at once, without a scheduling point (oracles)."""
        self.check()
        cdef int64_t i
        cdef fz_page* p
        out = []
        for i in range(self.hdr.npages):
            p = &self.pages[i]
            if p.in_use:
                out.append((i, p.refcount, p.mapcount, p.flags, p.node, p.order, p.lock_owner))
        return out

    # ---- reset between runs ----

    def snapshot(self):
        """The bytes of all model state (nodes, counters, pages, heap), each page as not
        yet written since (see rewind)."""
        self.check()
        state = bytearray((<char*>(self.base + self.hdr.state_off))[:self.hdr.state_len])
        cdef char* copy = state
        cdef int64_t i, mark = (self.hdr.pages_off - self.hdr.state_off
                                + (<char*>&self.pages[0].dirty - <char*>&self.pages[0]))
        for i in range(self.hdr.npages):
            (<int32_t*>(copy + mark + i * sizeof(fz_page)))[0] = 0
        return bytes(state)

    def restore(self, bytes state):
        """Put back a snapshot and empty the event ring: the reset between two runs."""
        self.check()
        if len(state) != self.hdr.state_len:
            raise ValueError(f"snapshot of {len(state)} bytes does not fit state of {self.hdr.state_len}")
        memcpy(self.base + self.hdr.state_off, <char*>state, self.hdr.state_len)
        self.ctl.ndirty = 0
        self.hdr.ring_head = 0
        self.ctl.step = 0

    def rewind(self, bytes state):
        """restore(state), copying only what can have changed since the pool was last put
        back to that same `state` (by restore or rewind): the nodes and counters, the heap
        as far as it is allocated, and the pages written since, which every primitive that
        writes a page lists (all of them past FZ_MAX_DIRTY).  So a run's reset costs what
        the run touched, not the pool's size.  Heap words past what `alloc` handed out are
        not put back: programs allocate what they use."""
        self.check()
        if len(state) != self.hdr.state_len:
            raise ValueError(f"snapshot of {len(state)} bytes does not fit state of {self.hdr.state_len}")
        cdef fz_header* h = self.hdr
        cdef const char* src = <const char*>state
        cdef int64_t pages_at = h.pages_off - h.state_off, heap_at = h.heap_off - h.state_off
        cdef int64_t n = self.ctl.ndirty, i, idx
        memcpy(self.base + h.state_off, src, pages_at)           # nodes and counters
        if n > FZ_MAX_DIRTY:
            memcpy(self.base + h.pages_off, src + pages_at, h.npages * sizeof(fz_page))
        else:
            for i in range(n):
                idx = self.ctl.dirty[i]
                if 0 <= idx < h.npages:
                    memcpy(&self.pages[idx], src + pages_at + idx * sizeof(fz_page), sizeof(fz_page))
        memcpy(self.heap, src + heap_at, min(h.heap_used, h.heap_size))
        self.ctl.ndirty = 0
        h.ring_head = 0
        self.ctl.step = 0


cdef inline void _dirty(Pool pool, fz_page* p) noexcept nogil:
    """A page is about to be written: list it for the next rewind, once (twice at worst,
    when two tasks of a chaos run race here: a page listed twice is copied twice)."""
    cdef int32_t n
    if not p.dirty:
        n = fz_add32(&pool.ctl.ndirty, 1)
        if n < FZ_MAX_DIRTY:
            pool.ctl.dirty[n] = <int32_t>(p - pool.pages)
        p.dirty = 1
