# Atomic integers in the pool's heap: every operation is a scheduling point and a ring record.

cdef class Atomic:
    """A 64- or 32-bit integer slot in the pool, operated on atomically from any process."""
    cdef Pool pool
    cdef void* p
    cdef bint wide
    cdef readonly int64_t offset

    def __init__(self, Pool pool, int64_t offset, int bits=64):
        pool.check()
        if bits not in (32, 64):
            raise ValueError(f"bits must be 32 or 64, not {bits}")
        if offset < 0 or offset + bits // 8 > pool.hdr.heap_size or offset % (bits // 8):
            raise IndexError(f"offset {offset} is not an aligned {bits}-bit slot of the heap")
        self.pool = pool
        self.p = pool.heap + offset
        self.wide = bits == 64
        self.offset = offset

    @property
    def bits(self):
        return 64 if self.wide else 32

    cdef inline int64_t _begin(self) except -1:
        return _point(self.pool)     # _point checks the pool is open

    cdef inline int64_t _fetch(self, int op, int64_t v, int64_t w):
        """Apply `op` atomically and return the value before it."""
        if self.wide:
            p64 = <int64_t*>self.p
            if op == OP_LOAD: return fz_load64(p64)
            if op == OP_STORE: return fz_xchg64(p64, v)
            if op == OP_ADD: return fz_add64(p64, v)
            if op == OP_SUB: return fz_add64(p64, -v)
            if op == OP_XCHG: return fz_xchg64(p64, v)
            if op == OP_OR: return fz_or64(p64, v)
            if op == OP_AND: return fz_and64(p64, v)
            return fz_cmpxchg64(p64, v, w)
        p32 = <int32_t*>self.p
        if op == OP_LOAD: return fz_load32(p32)
        if op == OP_STORE: return fz_xchg32(p32, <int32_t>v)
        if op == OP_ADD: return fz_add32(p32, <int32_t>v)
        if op == OP_SUB: return fz_add32(p32, <int32_t>-v)
        if op == OP_XCHG: return fz_xchg32(p32, <int32_t>v)
        if op == OP_OR: return fz_or32(p32, <int32_t>v)
        if op == OP_AND: return fz_and32(p32, <int32_t>v)
        return fz_cmpxchg32(p32, <int32_t>v, <int32_t>w)

    cdef inline int64_t _do(self, int op, int64_t v, int64_t w, int64_t after) except? -1:
        cdef int64_t s = self._begin()
        cdef int64_t before = self._fetch(op, v, w)
        if op == OP_ADD:
            after = before + v
        elif op == OP_SUB:
            after = before - v
        elif op == OP_OR:
            after = before | v
        elif op == OP_AND:
            after = before & v
        elif op == OP_LOAD:
            after = before
        elif op == OP_CMPXCHG:
            after = w if before == v else before
        if not self.wide:
            after = <int32_t>after
        _record(self.pool, s, op, _obj(OBJ_HEAP, self.offset), before, after)
        return before

    def load(self):
        """Read the value."""
        return self._do(OP_LOAD, 0, 0, 0)

    def store(self, int64_t value):
        """Write `value`."""
        self._do(OP_STORE, value, 0, value)

    def add(self, int64_t delta):
        """Add and return the new value."""
        return self._do(OP_ADD, delta, 0, 0) + delta

    def sub(self, int64_t delta):
        """Subtract and return the new value."""
        return self._do(OP_SUB, delta, 0, 0) - delta

    def fetch_add(self, int64_t delta):
        """Add and return the value before."""
        return self._do(OP_ADD, delta, 0, 0)

    def xchg(self, int64_t value):
        """Store `value` and return the value before."""
        return self._do(OP_XCHG, value, 0, value)

    def cmpxchg(self, int64_t expected, int64_t desired):
        """Store `desired` if the value is `expected`; return the value found."""
        return self._do(OP_CMPXCHG, expected, desired, 0)

    def or_(self, int64_t bits):
        """Set `bits` and return the value before."""
        return self._do(OP_OR, bits, 0, 0)

    def and_(self, int64_t bits):
        """Keep only `bits` and return the value before."""
        return self._do(OP_AND, bits, 0, 0)

    def wait(self, int32_t expected, double timeout_s):
        """futex wait: sleep while the (32-bit) value equals `expected`, at most `timeout_s`.
        Returns False on timeout, True otherwise.  No scheduling point: a raw primitive."""
        self.pool.check()
        if self.wide:
            raise TypeError("futex wait needs a 32-bit Atomic")
        cdef int r = fz_futex_wait(<int32_t*>self.p, expected, <int64_t>(timeout_s * 1e9))
        return r != ETIMEDOUT

    def wake(self, int n=0x7fffffff):
        """futex wake: wake up to `n` processes waiting on this (32-bit) slot; returns how many."""
        self.pool.check()
        if self.wide:
            raise TypeError("futex wake needs a 32-bit Atomic")
        return fz_futex_wake(<int32_t*>self.p, n)

    def peek(self):
        """The value, read without a scheduling point or a record (for oracles and tests)."""
        self.pool.check()
        _note_raw(self.pool, _obj(OBJ_HEAP, self.offset), False)
        return fz_load64(<int64_t*>self.p) if self.wide else fz_load32(<int32_t*>self.p)

    def poke(self, int64_t value):
        """Write without a scheduling point (setup only)."""
        self.pool.check()
        _note_raw(self.pool, _obj(OBJ_HEAP, self.offset), True)
        if self.wide:
            fz_store64(<int64_t*>self.p, value)
        else:
            fz_store32(<int32_t*>self.p, <int32_t>value)

    def __repr__(self):
        return f"<Atomic{64 if self.wide else 32} @{self.offset}>"


def racy_increment(Atomic a not None, int64_t n):
    """A plain, non-atomic read-modify-write of `a`, `n` times, with no scheduling
    point: the control that shows atomics matter.  Tests only."""
    a.pool.check()
    cdef volatile int64_t* p = <volatile int64_t*>a.p
    cdef int64_t i, v
    for i in range(n):
        v = p[0]
        p[0] = v + 1
