# Spinlocks, sleeping mutexes and rwsems in the pool's heap.
#
# A lock word holds 0 when free and holder+2 when held (the parent, task -1,
# shows as 1).  In controlled mode a task that finds it held is marked blocked
# and the scheduler runs another task; running free it spins, then sleeps on
# the word as a futex with a timeout, checking that the holder still lives.

cdef int LOCK_SPINS = 1000

cdef extern from "Python.h":
    int PyErr_CheckSignals() except -1


cdef int _owner_gone(int32_t* word, int32_t seen, int32_t pid) except -1:
    if pid > 0 and fz_load32(word) == seen and not fz_pid_alive(pid):
        raise OwnerDied(f"lock held by process {pid}, which has died")
    return 0


cdef int _sleep_on(Pool pool, int32_t* word, int32_t seen, int32_t* waiters, int32_t pid,
                   int kind, int64_t obj) except -1:
    """Free-running wait for `word` to change from `seen`.

    A task of a chaos run shows itself blocked on (kind, obj) while it sleeps,
    so the parent can tell a deadlock (every live task asleep, no step taken)
    from a slow run without waiting out the watchdog."""
    cdef fz_ctl* c = pool.ctl
    cdef bint shown = g_task >= 0 and c.mode == MODE_CHAOS
    if shown:
        c.blocked_kind[g_task] = kind
        c.blocked_on[g_task] = obj
        fz_store32(&c.task_state[g_task], T_BLOCKED)
    fz_add32(waiters, 1)
    fz_futex_wait(word, seen, 5 * 1000 * 1000)
    fz_add32(waiters, -1)
    if shown:
        fz_store32(&c.task_state[g_task], T_ENABLED)
    PyErr_CheckSignals()
    if g_task >= 0 and fz_load32(&pool.ctl.abort):
        raise RunAborted()
    _owner_gone(word, seen, pid)
    return 0


cdef inline bint _controlled(Pool pool) noexcept:
    return g_task >= 0 and pool.ctl.mode == MODE_CONTROLLED


cdef inline void _note_taken(int64_t obj, int kind) noexcept:
    """The running task took a lock: remember it (and in which operation) for lock-leak."""
    global g_nheld
    if g_task < 0 or g_nheld >= 64:
        return
    g_held_obj[g_nheld] = obj
    g_held_kind[g_nheld] = kind
    g_held_op[g_nheld] = g_op_index
    g_nheld += 1


cdef inline void _note_released(int64_t obj) noexcept:
    """The running task released a lock: forget its latest taking of it."""
    global g_nheld
    cdef int i
    for i in range(g_nheld - 1, -1, -1):
        if g_held_obj[i] == obj:
            g_nheld -= 1
            g_held_obj[i] = g_held_obj[g_nheld]
            g_held_kind[i] = g_held_kind[g_nheld]
            g_held_op[i] = g_held_op[g_nheld]
            return


cdef inline int64_t _restamp(Pool pool) noexcept:
    """The step of a lock operation, taken again next to its effect.  In a controlled run,
    for an acquisition that had to wait: the step that gave the turn back.  In a free run
    a fresh step: an acquisition takes it once it holds the lock (never while it sleeps:
    a deadlock must look stalled), a release just before the lock is free, a trylock just
    before its attempt (and again once it succeeded).  So each sorts on the right side of
    the release it followed or missed, even when a chaos delay or the OS held the process
    between its scheduling point and the effect, and a chaos run's order replays under
    control."""
    if pool.ctl.mode == MODE_CONTROLLED:
        return pool.ctl.step
    return fz_add64(&pool.ctl.step, 1) + 1


cdef class _HeapLock:
    cdef Pool pool
    cdef int32_t* w
    cdef readonly int64_t offset
    cdef int64_t obj

    def __init__(self, Pool pool, int64_t offset):
        pool.check()
        if offset < 0 or offset + 16 > pool.hdr.heap_size or offset % 4:
            raise IndexError(f"offset {offset} is not a lock slot of the heap")
        self.pool = pool
        self.w = <int32_t*>(pool.heap + offset)
        self.offset = offset
        self.obj = _obj(OBJ_HEAP, offset)

    @property
    def holder(self):
        """The task holding the lock (-1: the parent), or None if it is free."""
        self.pool.check()
        _note_raw(self.pool, self.obj, False)
        v = fz_load32(self.w)
        return None if v == 0 else v - 2

    cdef int _acquire(self, int kind, int op) except -1:
        cdef Pool pool = self.pool
        cdef int64_t s = _point(pool, False)
        cdef int32_t me = g_task + 2, seen
        cdef int spins = 0
        if _controlled(pool):
            while self.w[0] != 0:
                _block(pool, kind, self.obj)
                s = _restamp(pool)
            self.w[0] = me
        else:
            while True:
                seen = fz_cmpxchg32(self.w, 0, me)
                if seen == 0:
                    break
                if spins < LOCK_SPINS:
                    spins += 1
                    fz_relax()
                    continue
                _sleep_on(pool, self.w, seen, &self.w[2], fz_load32(&self.w[1]), kind, self.obj)
            s = _restamp(pool)              # stamped once it holds the lock (see _restamp)
        fz_store32(&self.w[1], g_pid)
        _note_taken(self.obj, kind)
        _record(pool, s, op, self.obj, 0, me)
        return 0

    cdef int _trylock(self, int op) except -1:
        cdef Pool pool = self.pool
        cdef int64_t s = _point(pool, False)
        cdef int32_t me = g_task + 2
        if not _controlled(pool):
            s = _restamp(pool)          # a failure sorts before the release it missed
        cdef int32_t seen = fz_cmpxchg32(self.w, 0, me)
        if seen == 0 and not _controlled(pool):
            s = _restamp(pool)          # a success after the release it followed
        if seen == 0:
            fz_store32(&self.w[1], g_pid)
            _note_taken(self.obj, BLK_SPIN if op == OP_SPIN_TRYLOCK else BLK_MUTEX)
        _record(pool, s, op, self.obj, seen, me if seen == 0 else seen)
        return seen == 0

    cdef int _release(self, int op, str what) except -1:
        cdef Pool pool = self.pool
        cdef int64_t s = _point(pool, False)
        cdef int32_t me = g_task + 2, held = fz_load32(self.w)
        if held == 0:
            raise Finding("bad-unlock", f"{what} {describe_object(self.pool, self.obj, g_object_names)} unlocked while not held", obj=self.obj)
        if held != me:
            raise Finding("bad-unlock", f"{what} {describe_object(self.pool, self.obj, g_object_names)} unlocked by task {g_task}, held by task {held - 2}", obj=self.obj)
        if not _controlled(pool):
            s = _restamp(pool)          # just before the lock is free (see _restamp)
        fz_store32(&self.w[1], 0)
        fz_store32(self.w, 0)
        _note_released(self.obj)
        if _controlled(pool):
            _unblock(pool.ctl, 0, self.obj)
        elif fz_load32(&self.w[2]):
            _wake_all(self.w)
        _record(pool, s, op, self.obj, held, 0)
        return 0


cdef class SpinLock(_HeapLock):
    """spin_lock / spin_unlock (page_table_lock, lru_lock): holding one forbids sleeping."""

    def lock(self):
        """spin_lock: take the lock, spinning until it is free (blocked, when scheduled)."""
        global g_spin_depth
        self._acquire(BLK_SPIN, OP_SPIN_LOCK)
        g_spin_depth += 1

    def trylock(self):
        """spin_trylock: take the lock if it is free; returns whether it did."""
        global g_spin_depth
        ok = self._trylock(OP_SPIN_TRYLOCK)
        if ok:
            g_spin_depth += 1
        return bool(ok)

    def unlock(self):
        """spin_unlock: release the lock (bad-unlock if the running task does not hold it)."""
        global g_spin_depth
        self._release(OP_SPIN_UNLOCK, "spinlock")
        if g_spin_depth > 0:
            g_spin_depth -= 1


cdef int _might_sleep(str what) except -1:
    if g_spin_depth > 0:
        raise Finding("sleep-in-atomic", f"{what} while holding {g_spin_depth} spinlock(s)")
    return 0


cdef class Mutex(_HeapLock):
    """A sleeping lock; taking it while a spinlock is held is sleep-in-atomic."""

    def lock(self):
        """mutex_lock: take the lock, sleeping until it is free (blocked, when scheduled)."""
        _might_sleep("mutex_lock")
        self._acquire(BLK_MUTEX, OP_MUTEX_LOCK)

    def trylock(self):
        """mutex_trylock: take the lock if it is free; returns whether it did."""
        return bool(self._trylock(OP_MUTEX_TRYLOCK))

    def unlock(self):
        """mutex_unlock: release the lock and wake its waiters (bad-unlock if the running task does not hold it)."""
        self._release(OP_MUTEX_UNLOCK, "mutex")


cdef class RWSem:
    """A reader-writer semaphore (mmap_sem): words are count (>0 readers, -1 writer),
    writer task, reader mask, waiters."""
    cdef Pool pool
    cdef int32_t* w
    cdef readonly int64_t offset
    cdef int64_t obj

    def __init__(self, Pool pool, int64_t offset):
        pool.check()
        if offset < 0 or offset + 16 > pool.hdr.heap_size or offset % 4:
            raise IndexError(f"offset {offset} is not an rwsem slot of the heap")
        self.pool = pool
        self.w = <int32_t*>(pool.heap + offset)
        self.offset = offset
        self.obj = _obj(OBJ_HEAP, offset)

    cdef inline int32_t _bit(self) noexcept:
        """This task's bit in the reader mask; 0 outside a scheduled task, whose
        processes are told apart by nothing but the reader count."""
        return <int32_t>(1 << g_task) if 0 <= g_task < 31 else 0

    cdef int _down(self, bint write) except -1:
        cdef Pool pool = self.pool
        pool.check()
        _might_sleep("down_write" if write else "down_read")
        cdef int64_t s = _point(pool, False)
        cdef int32_t seen
        cdef int spins = 0
        if _controlled(pool):
            while (self.w[0] != 0) if write else (self.w[0] < 0):
                _block(pool, BLK_RWSEM_WRITE if write else BLK_RWSEM_READ, self.obj)
                s = _restamp(pool)
            self.w[0] = -1 if write else self.w[0] + 1
        else:
            while True:
                seen = fz_load32(self.w)
                if write and seen == 0 and fz_cmpxchg32(self.w, 0, -1) == 0:
                    break
                if not write and seen >= 0 and fz_cmpxchg32(self.w, seen, seen + 1) == seen:
                    break
                if spins < LOCK_SPINS:
                    spins += 1
                    fz_relax()
                    continue
                if (write and seen != 0) or (not write and seen < 0):
                    _sleep_on(pool, self.w, seen, &self.w[3], 0,
                              BLK_RWSEM_WRITE if write else BLK_RWSEM_READ, self.obj)
            s = _restamp(pool)              # stamped once it holds the lock (see _restamp)
        if write:
            fz_store32(&self.w[1], g_task)
        else:
            fz_or32(&self.w[2], self._bit())
        _note_taken(self.obj, BLK_RWSEM_WRITE if write else BLK_RWSEM_READ)
        _record(pool, s, OP_DOWN_WRITE if write else OP_DOWN_READ, self.obj, 0, self.w[0])
        return 0

    cdef int _up(self, bint write) except -1:
        cdef Pool pool = self.pool
        cdef int64_t s = _point(pool, False)
        cdef int32_t before = fz_load32(self.w)
        if write and before != -1:
            raise Finding("bad-unlock", f"up_write on rwsem {describe_object(self.pool, self.obj, g_object_names)} not held for write", obj=self.obj)
        if not write and (before <= 0 or (self._bit() and not (fz_load32(&self.w[2]) & self._bit()))):
            raise Finding("bad-unlock", f"up_read on rwsem {describe_object(self.pool, self.obj, g_object_names)} by task {g_task}, not a reader", obj=self.obj)
        if not _controlled(pool):
            s = _restamp(pool)          # just before the lock is free (see _restamp)
        if write:
            fz_store32(&self.w[1], -1)
            fz_store32(self.w, 0)
        else:
            fz_and32(&self.w[2], ~self._bit())
            fz_add32(self.w, -1)
        _note_released(self.obj)
        if _controlled(pool):
            _unblock(pool.ctl, 0, self.obj)
        elif fz_load32(&self.w[3]):
            _wake_all(self.w)
        _record(pool, s, OP_UP_WRITE if write else OP_UP_READ, self.obj, before, fz_load32(self.w))
        return 0

    def down_read(self):
        """Take the semaphore for reading, sleeping while a writer holds it."""
        self._down(False)

    def up_read(self):
        """Release a read hold (bad-unlock if the running task is not a reader)."""
        self._up(False)

    def down_write(self):
        """Take the semaphore for writing, sleeping while anyone holds it."""
        self._down(True)

    def up_write(self):
        """Release the write hold (bad-unlock if it is not held for writing)."""
        self._up(True)
