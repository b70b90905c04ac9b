"""The primitives across real processes: atomic references, locks that exclude, counters, the allocator.

Workers are fork children that attach to the pool by name, as the executor's workers do.  They
start together on a barrier, report through pipes, and stay alive until the parent has every
report, so that no lock waiter ever sees a finished worker's pid.  Every wait is bounded.
"""
import os

import multiprocess
import pytest

from fuzzmm import kernel as K
from fuzzmm._core import racy_increment
from fuzzmm.pool import Pool

FORK = multiprocess.get_context("fork")
WAIT_S = 30
NPROC = 4


def _worker(index, name, body, args, barrier, release, conn):
    try:
        view = Pool.attach(name)
        barrier.wait(WAIT_S)
        result = ("ok", body(index, view, *args))
    except BaseException as exc:     # noqa: B902 - a Finding is a BaseException
        result = ("error", f"{type(exc).__name__}: {exc}")
    conn.send(result)
    release.wait(WAIT_S)


def run_workers(pool, body, *args, n=NPROC):
    """Run `body(index, attached_pool, *args)` in `n` fork children started together;
    return their results in index order, failing the test on any error or hang."""
    barrier = FORK.Barrier(n)
    release = FORK.Event()
    procs, pipes = [], []
    try:
        for i in range(n):
            reader, writer = FORK.Pipe(False)
            proc = FORK.Process(target=_worker, args=(i, pool.name, body, args, barrier, release, writer),
                                daemon=True)
            proc.start()
            procs.append(proc)
            pipes.append(reader)
        results = []
        for i, reader in enumerate(pipes):
            if not reader.poll(WAIT_S):
                pytest.fail(f"worker {i} reported nothing within {WAIT_S} s")
            status, value = reader.recv()
            assert status == "ok", f"worker {i}: {value}"
            results.append(value)
        release.set()
        for proc in procs:
            proc.join(WAIT_S)
            assert proc.exitcode == 0, f"worker {proc.pid} exit code {proc.exitcode}"
        return results
    finally:
        release.set()
        for proc in procs:
            if proc.is_alive():
                proc.kill()
                proc.join(5)


# ---- references ----

PAIRS = 100_000
UNPAIRED = 2_000


def _get_put(index, view, indices, pairs, unpaired):
    pages = [view.page(i) for i in indices]
    k = len(pages)
    get, put = K.get_page, K.put_page
    for i in range(pairs):
        page = pages[i % k]
        get(page)
        put(page)
    for i in range(unpaired):
        get(pages[i % k])
    return pairs


def test_get_put_pairs_across_processes_keep_refcounts_exact(pool):
    """4 processes x 100,000 get_page/put_page pairs (then unpaired gets) on shared pages leave refcounts exact."""
    pages = [K.alloc_pages_node(pool, n % 2) for n in range(4)]
    indices = [p.index for p in pages]
    done = run_workers(pool, _get_put, indices, PAIRS, UNPAIRED)
    assert done == [PAIRS] * NPROC
    held = NPROC * UNPAIRED // len(pages)
    assert [K.page_count(p) for p in pages] == [1 + held] * len(pages)
    for page in pages:
        for _ in range(held):
            K.put_page(page)
    assert [K.page_count(p) for p in pages] == [1] * len(pages)


def _racy(index, view, offset, n):
    racy_increment(K.Atomic(view, offset), n)     # n plain load/add/store steps, in C
    return n


def test_plain_read_modify_write_loses_updates_across_processes(pool):
    """The same count done with a plain (non-atomic) read-modify-write loses updates: the control."""
    counter = pool.atomic()
    attempts = []
    n = PAIRS
    for _ in range(5):          # longer each time: the loops must overlap (or be preempted) once
        counter.poke(0)
        run_workers(pool, _racy, counter.offset, n)
        attempts.append((n, counter.peek()))
        if counter.peek() < NPROC * n:
            break
        n *= 4
    assert counter.peek() < NPROC * n, f"no update lost in {len(attempts)} attempts: {attempts}"


def _atomic_add(index, view, offset, n):
    counter = K.Atomic(view, offset)
    add, sub = counter.add, counter.sub
    for _ in range(n):
        add(2)
        sub(1)
    return n


def test_atomic_add_across_processes_is_exact(pool):
    """Atomic add/sub from 4 processes loses nothing."""
    counter = pool.atomic(7)
    run_workers(pool, _atomic_add, counter.offset, 50_000)
    assert counter.peek() == 7 + NPROC * 50_000


def _cmpxchg_increment(index, view, offset, n):
    counter = K.Atomic(view, offset)
    retries = 0
    for _ in range(n):
        while True:
            seen = counter.load()
            if counter.cmpxchg(seen, seen + 1) == seen:
                break
            retries += 1
    return retries


def test_cmpxchg_loop_across_processes_is_exact(pool):
    """A load/cmpxchg retry loop in 4 processes increments exactly once per iteration."""
    counter = pool.atomic(0, bits=32)
    run_workers(pool, _cmpxchg_increment, counter.offset, 20_000)
    assert counter.peek() == NPROC * 20_000


def _get_unless_zero(index, view, page_index, n):
    page = view.page(page_index)
    taken = 0
    for _ in range(n):
        if K.get_page_unless_zero(page):
            taken += 1
            K.put_page(page)
    return taken


def test_get_page_unless_zero_across_processes(pool):
    """get_page_unless_zero on a live page always succeeds and leaves the count exact."""
    page = K.alloc_pages_node(pool, 0)
    taken = run_workers(pool, _get_unless_zero, page.index, 20_000)
    assert taken == [20_000] * NPROC
    assert K.page_count(page) == 1


# ---- mutual exclusion ----

ITER = 20_000


def _locked_increments(index, view, how, page_index, lock_offset, counter_offset, n):
    counter = K.Atomic(view, counter_offset)
    if how == "lock_page":
        page = view.page(page_index)
        acquire, release = (lambda: K.lock_page(page)), (lambda: K.unlock_page(page))
    elif how == "trylock_page":
        page = view.page(page_index)

        def acquire():
            while not K.trylock_page(page):
                pass
        release = lambda: K.unlock_page(page)  # noqa: E731
    elif how == "rwsem":
        sem = K.RWSem(view, lock_offset)
        acquire, release = sem.down_write, sem.up_write
    else:
        lock = (K.SpinLock if how == "spinlock" else K.Mutex)(view, lock_offset)
        acquire, release = lock.lock, lock.unlock
    for i in range(n):
        acquire()
        if i % 2:
            racy_increment(counter, 1)           # a plain load and store
        else:
            counter.poke(counter.peek() + 1)     # the same, from Python: a wider window
        release()
    return n


@pytest.mark.parametrize("how", ["lock_page", "trylock_page", "spinlock", "mutex", "rwsem"])
def test_lock_makes_a_plain_counter_exact_across_processes(pool, how):
    """A counter updated non-atomically only under the lock stays exact across 4 processes."""
    page = K.alloc_pages_node(pool, 0)
    if how == "rwsem":
        lock = pool.rwsem()
    else:
        lock = pool.spinlock() if how == "spinlock" else pool.mutex()
    counter = pool.atomic()
    run_workers(pool, _locked_increments, how, page.index, lock.offset, counter.offset, ITER)
    assert counter.peek() == NPROC * ITER
    assert not K.test_page_flag(page, K.PG_locked)
    if how != "rwsem":
        assert lock.holder is None


def _lock_then_report(name, page_index, conn):
    view = Pool.attach(name)
    page = view.page(page_index)
    conn.send("trying")
    K.lock_page(page)
    conn.send("locked")
    K.unlock_page(page)
    view.close()


def test_lock_page_waiter_in_another_process_wakes_on_unlock(pool):
    """A process sleeping in lock_page on a page the parent holds gets it soon after unlock_page."""
    page = K.alloc_pages_node(pool, 0)
    K.lock_page(page)
    reader, writer = FORK.Pipe(False)
    proc = FORK.Process(target=_lock_then_report, args=(pool.name, page.index, writer), daemon=True)
    proc.start()
    try:
        assert reader.poll(WAIT_S) and reader.recv() == "trying"
        assert not reader.poll(0.2), "the child took a page lock the parent holds"
        K.unlock_page(page)
        assert reader.poll(5), "the waiter was not woken within 5 s of unlock_page"
        assert reader.recv() == "locked"
        proc.join(WAIT_S)
        assert proc.exitcode == 0
    finally:
        if proc.is_alive():
            proc.kill()
            proc.join(5)
    assert not K.test_page_flag(page, K.PG_locked)


# ---- counters and the allocator ----

def _count(index, view, n):
    for _ in range(n):
        K.mod_node_page_state(view, index % 2, K.NR_ISOLATED_ANON, 1)
        K.count_vm_events(view, K.PGMIGRATE_SUCCESS)
        K.mod_node_page_state(view, index % 2, K.NR_ISOLATED_ANON, -1)
    K.mod_node_page_state(view, index % 2, K.NR_ANON_PAGES, n)
    return n


def test_vmstat_and_vm_events_across_processes_are_exact(pool):
    """Per-node vmstat counters and vm events updated from 4 processes come out exact."""
    run_workers(pool, _count, 10_000)
    assert [K.vmstat(pool, n, K.NR_ISOLATED_ANON) for n in (0, 1)] == [0, 0]
    assert [K.vmstat(pool, n, K.NR_ANON_PAGES) for n in (0, 1)] == [20_000, 20_000]
    assert K.vm_event(pool, K.PGMIGRATE_SUCCESS) == NPROC * 10_000


def _alloc_free(index, view, n):
    got = 0
    token = (os.getpid() << 20)
    for i in range(n):
        page = K.alloc_pages_node(view, 0)
        if page is None:
            continue
        got += 1
        K.write_page(page, token + i)
        K.set_page_flag(page, K.PG_lru)
        if K.read_page(page) != token + i:
            raise AssertionError(f"page {page.index} given to two processes at once")
        K.clear_page_flag(page, K.PG_lru)
        K.put_page(page)
    return got


def test_allocator_across_processes_never_hands_a_page_out_twice(pool):
    """Concurrent alloc/free on one node never gives one page to two processes and restores the node."""
    before = K.node_info(pool, 0)
    got = run_workers(pool, _alloc_free, 5_000)
    assert sum(got) > 0
    assert K.node_info(pool, 0) == before
    assert K.vmstat(pool, 0, K.NR_FREE_PAGES) == before["free"]
    assert all(pool.page(i).state()["refcount"] == 0 for i in range(pool.npages))
