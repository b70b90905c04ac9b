"""The sanitizers inside the primitives: each fires on a minimal misuse and stays silent on correct use.

A process outside any scheduled run (task -1) runs every primitive free, so these checks work
the same in a test process, a worker, or a script.  Some misuses are also shown across two
processes: the page is freed or changed by one, and the other trips over it.
"""

import multiprocess
import pytest

from fuzzmm import kernel as K
from fuzzmm.errors import Finding
from fuzzmm.pool import Pool

FORK = multiprocess.get_context("fork")
WAIT_S = 20


def fires(kind, call, *args):
    """Assert that call(*args) raises a Finding of `kind`; return its message."""
    with pytest.raises(Finding) as info:
        call(*args)
    assert info.value.kind == kind, str(info.value)
    return info.value.message


def in_child(body, *args):
    """Run body(*args) in a fork child and return what it returns (or its exception's kind)."""
    reader, writer = FORK.Pipe(False)

    def main():
        try:
            writer.send(("ok", body(*args)))
        except Finding as exc:
            writer.send(("finding", exc.kind))
        except BaseException as exc:  # noqa: B902
            writer.send(("error", f"{type(exc).__name__}: {exc}"))
    proc = FORK.Process(target=main, daemon=True)
    proc.start()
    try:
        assert reader.poll(WAIT_S), "the child reported nothing"
        result = reader.recv()
        proc.join(WAIT_S)
        assert proc.exitcode == 0
        return result
    finally:
        if proc.is_alive():
            proc.kill()
            proc.join(5)


# ---- refcount-underflow ----

def test_put_of_a_page_with_no_references_is_refcount_underflow(pool):
    """put_page on a page whose count is already 0 fires refcount-underflow."""
    page = K.alloc_pages_node(pool, 0)
    K.put_page(page)                                   # the last reference: freed
    fresh = pool.page(page.index)                      # a handle at the current generation
    assert fresh.state()["refcount"] == 0
    message = fires("refcount-underflow", K.put_page, fresh)
    assert "-1" in message


def test_mapcount_below_zero_is_refcount_underflow(pool):
    """page_remove_rmap on a page with no mappings fires refcount-underflow."""
    page = K.alloc_pages_node(pool, 0)
    fires("refcount-underflow", K.page_remove_rmap, page)


def test_balanced_references_and_mappings_are_silent(pool):
    """Balanced get/put and add/remove rmap fire nothing, and the last put frees the page cleanly."""
    page = K.alloc_pages_node(pool, 0)
    free_before = K.node_info(pool, 0)["free_records"]
    for _ in range(3):
        K.get_page(page)
    assert K.page_add_rmap(page) == 1
    assert K.page_remove_rmap(page) == 0
    for _ in range(3):
        K.put_page(page)
    assert K.page_count(page) == 1
    K.put_page(page)
    assert K.node_info(pool, 0)["free_records"] == free_before + 1
    assert not pool.page(page.index).state()["in_use"]


# ---- use-after-free ----

@pytest.mark.parametrize("op", [K.get_page, K.put_page, K.page_count, K.lock_page, K.trylock_page,
                                K.read_page, K.page_mapcount],
                         ids=lambda f: f.__name__)
def test_operation_after_free_is_use_after_free(pool, op):
    """Any page operation through a handle of a freed page fires use-after-free."""
    page = K.alloc_pages_node(pool, 0)
    K.put_page(page)
    fires("use-after-free", op, page)


def test_operation_on_a_free_page_with_current_generation_is_use_after_free(pool):
    """get_page on a page whose refcount is 0 fires use-after-free even with a fresh handle."""
    page = K.alloc_pages_node(pool, 0)
    K.put_page(page)
    fires("use-after-free", K.get_page, pool.page(page.index))


def test_stale_handle_after_free_and_reallocation_is_use_after_free(pool):
    """A handle taken before free + reallocation of its record fires use-after-free, though the record is live."""
    old = K.alloc_pages_node(pool, 0)
    K.put_page(old)
    new = K.alloc_pages_node(pool, 0)
    assert new.index == old.index and new.gen != old.gen
    assert K.page_count(new) == 1                       # the new owner's use is silent
    message = fires("use-after-free", K.get_page, old)
    assert "generation" in message
    fires("use-after-free", K.unlock_page, old)
    fires("use-after-free", K.write_page, old, 1)
    K.write_page(new, 2)
    assert K.read_page(new) == 2 and K.page_count(new) == 1


def test_speculative_get_on_a_freed_page_refuses_without_a_finding(pool):
    """get_page_unless_zero through a handle whose page was freed returns False and fires nothing."""
    page = K.alloc_pages_node(pool, 0)
    K.put_page(page)
    assert K.get_page_unless_zero(page) is False
    assert pool.page(page.index).state()["refcount"] == 0
    fires("use-after-free", K.get_page, page)          # a plain get through it still fires


def test_speculative_get_on_a_reused_page_follows_it(pool):
    """get_page_unless_zero on a page freed and reused since gets a reference on its new use."""
    old = K.alloc_pages_node(pool, 0)
    K.put_page(old)
    new = K.alloc_pages_node(pool, 0)
    assert new.index == old.index
    kept = {old}
    assert K.get_page_unless_zero(old) is True
    assert old.gen == new.gen and K.page_count(new) == 2
    assert old in kept                                  # a handle's hash does not move with it
    K.put_page(old)                                     # silent: the reference it took
    assert K.page_count(new) == 1


def _free_and_reallocate(name, index):
    view = Pool.attach(name)
    page = view.page(index)
    K.put_page(page)
    again = K.alloc_pages_node(view, 0)
    return again.index


def test_page_freed_and_reallocated_by_another_process_is_use_after_free_here(pool):
    """A handle becomes stale when another process frees and reallocates its page."""
    page = K.alloc_pages_node(pool, 0)
    status, index = in_child(_free_and_reallocate, pool.name, page.index)
    assert (status, index) == ("ok", page.index)
    fires("use-after-free", K.get_page, page)
    K.get_page(pool.page(page.index))                   # the current generation is fine


def test_live_page_operations_are_silent(pool):
    """Every page operation on a live page with a reference fires nothing."""
    page = K.alloc_pages_node(pool, 0)
    K.get_page(page)
    assert K.get_page_unless_zero(page)
    assert K.page_count(page) == 3
    assert K.trylock_page(page)
    K.unlock_page(page)
    K.lock_page(page)
    K.unlock_page(page)
    K.write_page(page, 5)
    assert K.read_page(page) == 5
    assert not K.set_page_flag(page, K.PG_dirty)
    assert K.test_page_flag(page, K.PG_dirty)
    assert K.clear_page_flag(page, K.PG_dirty)
    K.put_page(page)
    K.put_page(page)
    assert K.page_count(page) == 1


# ---- bad-page-state ----

def test_freeing_a_locked_page_is_bad_page_state(pool):
    """The last put_page of a page still PG_locked fires bad-page-state."""
    page = K.alloc_pages_node(pool, 0)
    K.lock_page(page)
    assert "PG_locked" in fires("bad-page-state", K.put_page, page)


def test_freeing_a_page_on_the_lru_is_bad_page_state(pool):
    """The last put_page of a page still PG_lru fires bad-page-state."""
    page = K.alloc_pages_node(pool, 0)
    K.set_page_flag(page, K.PG_lru)
    assert "PG_lru" in fires("bad-page-state", K.put_page, page)


def test_freeing_a_mapped_page_is_bad_page_state(pool):
    """The last put_page of a page with a mapping or a mapcount fires bad-page-state."""
    page = K.alloc_pages_node(pool, 0)
    K.set_page_mapping(page, 0x1000)
    assert "mapping" in fires("bad-page-state", K.put_page, page)
    other = K.alloc_pages_node(pool, 0)
    K.page_add_rmap(other)
    assert "mapcount" in fires("bad-page-state", K.put_page, other)


def test_locked_page_freed_by_another_process_is_bad_page_state_there(pool):
    """A process dropping the last reference to a page this process locked fires bad-page-state."""
    page = K.alloc_pages_node(pool, 0)
    K.lock_page(page)

    def drop(name, index):
        K.put_page(Pool.attach(name).page(index))
    assert in_child(drop, pool.name, page.index) == ("finding", "bad-page-state")


def test_freeing_a_clean_page_is_silent(pool):
    """Unlocking and taking the page off the LRU before the last put_page frees it silently."""
    page = K.alloc_pages_node(pool, 0)
    K.lock_page(page)
    K.set_page_flag(page, K.PG_lru)
    K.set_page_mapping(page, 0x1000)
    K.page_add_rmap(page)
    K.page_remove_rmap(page)
    K.set_page_mapping(page, 0)
    assert K.clear_page_flag(page, K.PG_lru)
    K.unlock_page(page)
    K.put_page(page)
    assert not pool.page(page.index).state()["in_use"]


# ---- bad-unlock ----

def test_unlock_page_of_an_unlocked_page_is_bad_unlock(pool):
    """unlock_page on a page that is not locked fires bad-unlock."""
    page = K.alloc_pages_node(pool, 0)
    fires("bad-unlock", K.unlock_page, page)
    K.lock_page(page)
    K.unlock_page(page)
    fires("bad-unlock", K.unlock_page, page)           # a second unlock


@pytest.mark.parametrize("kind", ["spinlock", "mutex"])
def test_unlock_while_not_held_is_bad_unlock(pool, kind):
    """spin_unlock or mutex_unlock of a lock nobody holds fires bad-unlock."""
    lock = getattr(pool, kind)()
    fires("bad-unlock", lock.unlock)
    lock.lock()
    lock.unlock()
    fires("bad-unlock", lock.unlock)


def test_rwsem_release_while_not_held_is_bad_unlock(pool):
    """up_read / up_write of an rwsem not held that way fires bad-unlock."""
    sem = pool.rwsem()
    fires("bad-unlock", sem.up_read)
    fires("bad-unlock", sem.up_write)
    sem.down_read()
    fires("bad-unlock", sem.up_write)
    sem.up_read()
    sem.down_write()
    fires("bad-unlock", sem.up_read)
    sem.up_write()


def test_unlock_of_a_page_never_locked_in_another_process_is_bad_unlock(pool):
    """A second process unlocking a page nobody locked fires bad-unlock there."""
    page = K.alloc_pages_node(pool, 0)

    def unlock(name, index):
        K.unlock_page(Pool.attach(name).page(index))
    assert in_child(unlock, pool.name, page.index) == ("finding", "bad-unlock")


def test_balanced_lock_and_unlock_are_silent(pool):
    """Each lock released once by its holder fires nothing and leaves every lock free."""
    page = K.alloc_pages_node(pool, 0)
    spin, mutex, sem = pool.spinlock(), pool.mutex(), pool.rwsem()
    for _ in range(3):
        K.lock_page(page)
        mutex.lock()
        sem.down_read()
        spin.lock()
        spin.unlock()
        sem.up_read()
        sem.down_write()
        sem.up_write()
        mutex.unlock()
        K.unlock_page(page)
    assert spin.holder is None and mutex.holder is None
    assert not K.test_page_flag(page, K.PG_locked)


def _read_hold(name, offset, ready, go, conn):
    sem = K.RWSem(Pool.attach(name), offset)
    sem.down_read()
    ready.set()
    if not go.wait(WAIT_S):
        return
    try:
        sem.up_read()
        conn.send("released")
    except Finding as exc:
        conn.send(exc.kind)


def test_readers_in_two_processes_release_without_bad_unlock(pool):
    """Two processes holding an rwsem for read at once each release it without bad-unlock."""
    sem = pool.rwsem()
    ready, go = FORK.Event(), FORK.Event()
    reader, writer = FORK.Pipe(False)
    proc = FORK.Process(target=_read_hold, args=(pool.name, sem.offset, ready, go, writer), daemon=True)
    proc.start()
    try:
        assert ready.wait(WAIT_S)
        sem.down_read()
        sem.up_read()                    # this process's read is released first
        go.set()
        assert reader.poll(WAIT_S)
        assert reader.recv() == "released"
        proc.join(WAIT_S)
    finally:
        go.set()
        if proc.is_alive():
            proc.kill()
            proc.join(5)
    sem.down_write()                     # nobody holds it any more
    sem.up_write()


# ---- sleep-in-atomic ----

@pytest.mark.parametrize("sleeper", ["mutex", "lock_page", "down_read", "down_write"])
def test_sleeping_lock_under_a_spinlock_is_sleep_in_atomic(pool, sleeper):
    """Taking a sleeping lock (mutex, page lock, rwsem) while holding a spinlock fires sleep-in-atomic."""
    spin, mutex, sem = pool.spinlock(), pool.mutex(), pool.rwsem()
    page = K.alloc_pages_node(pool, 0)
    call = {"mutex": mutex.lock, "lock_page": lambda: K.lock_page(page),
            "down_read": sem.down_read, "down_write": sem.down_write}[sleeper]
    spin.lock()
    try:
        fires("sleep-in-atomic", call)
    finally:
        spin.unlock()
    # nothing was taken by the refused call
    assert mutex.holder is None and not K.test_page_flag(page, K.PG_locked)
    call()                                              # without the spinlock: silent


def test_nested_spinlocks_then_sleeping_is_sleep_in_atomic_until_both_dropped(pool):
    """With two spinlocks held, a mutex fires sleep-in-atomic until the last one is released."""
    a, b, mutex = pool.spinlock(), pool.spinlock(), pool.mutex()
    a.lock()
    try:
        b.lock()
        try:
            fires("sleep-in-atomic", mutex.lock)
        finally:
            b.unlock()
        fires("sleep-in-atomic", mutex.lock)
    finally:
        a.unlock()
    mutex.lock()
    mutex.unlock()


def test_non_sleeping_calls_under_a_spinlock_are_silent(pool):
    """trylock_page, mutex trylock, page refs and a nested spinlock under a spinlock fire nothing."""
    spin, inner, mutex = pool.spinlock(), pool.spinlock(), pool.mutex()
    page = K.alloc_pages_node(pool, 0)
    spin.lock()
    try:
        assert K.trylock_page(page)
        K.get_page(page)
        K.put_page(page)
        inner.lock()
        inner.unlock()
        assert mutex.trylock()
        mutex.unlock()
        K.unlock_page(page)
    finally:
        spin.unlock()


def test_spinlock_taken_under_a_sleeping_lock_is_silent(pool):
    """A spinlock taken inside a mutex and a page lock (the right nesting) fires nothing."""
    spin, mutex = pool.spinlock(), pool.mutex()
    page = K.alloc_pages_node(pool, 0)
    mutex.lock()
    K.lock_page(page)
    spin.lock()
    spin.unlock()
    K.unlock_page(page)
    mutex.unlock()


def test_finding_is_not_caught_by_except_exception(pool):
    """A detector firing passes through model code that catches Exception."""
    page = K.alloc_pages_node(pool, 0)
    with pytest.raises(Finding):
        try:
            K.unlock_page(page)
        except Exception:      # noqa: BLE001 - the point of the test
            pytest.fail("a Finding was caught as an Exception")
