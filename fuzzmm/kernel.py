"""The primitives a model calls, under their kernel names.

Every function here is a scheduling point and appends an event-ring record,
but for the assertions, which only look at what the running task holds, and
the reads marked below as taking none.  Each primitive's own docstring says more.

Pages: a `Page` is a handle on one `struct page` record (`pool.page(index)`, or
from the allocator) that remembers the page's generation, so any use after a
free is a use-after-free.
  alloc_pages_node(pool, node, order=0)    a page holding one reference, or None
  get_page(page, own=True)                 take a reference on a page that has one
  get_page_unless_zero(page)               the speculative get, safe on a freed page
  put_page(page, own=True)                 drop a reference; the last one frees the page
  page_count(page), page_mapcount(page)    its reference and mapping counts
  page_add_rmap(page), page_remove_rmap(page)  one mapping more, one fewer
  lock_page(page), trylock_page(page), unlock_page(page)  the PG_locked page lock
  page_locked_by_me(page)                  whether the running task holds it (no scheduling point)
  assert_page_locked(page, function)       an assertion finding unless it does
  set_page_flag(page, flag), clear_page_flag(page, flag), test_page_flag(page, flag)
                                           the other PG_* bits (PG_lru, PG_dirty, ...)
  read_page(page), write_page(page, value) its data: a load, a store or a DMA write
  set_page_mapping(page, mapping)          page->mapping; a page freed with one is in bad state
  HPAGE_PMD_ORDER, HPAGE_PMD_NR            the order and base pages of a THP

Locks, made in `setup` by `pool.spinlock()`, `pool.mutex()` and `pool.rwsem()`:
  SpinLock: lock, trylock, unlock          spin_lock; sleeping while holding one is sleep-in-atomic
  Mutex: lock, trylock, unlock             a sleeping lock
  RWSem: down_read, up_read, down_write, up_write  a reader-writer semaphore (mmap_sem)
A task that ends holding a lock is a lock-leak; unlocking a lock not held is a bad-unlock.

Atomics, made in `setup` by `pool.atomic(init, bits=64)`:
  Atomic: load, store, add, sub, fetch_add, xchg, cmpxchg, or_, and_
  Atomic: peek, poke                       read and write with no scheduling point (init, check)
  Atomic: wait, wake                       a raw futex on a 32-bit atomic

Counters: per-node vmstat items (VMSTAT_NAMES: NR_ISOLATED_ANON, ...) and machine-wide
vm events (VMEVENT_NAMES: PGMIGRATE_SUCCESS, NUMA_HINT_FAULTS, ...), each a number here.
  mod_node_page_state(pool, node, item, delta), node_page_state(pool, node, item)
  count_vm_events(pool, item, n=1)
  vmstat(pool, node, item), vm_event(pool, item)  the same read with no scheduling point (oracles)
  node_info(pool, node), set_node(pool, node, present, watermark_high)  a node's memory; sized in setup

Findings: `raise Finding(kind, message, obj=page.obj)` reports one of the kinds
fuzzmm.errors lists; a failed `assert` is an `assertion`.
"""
from fuzzmm._core import (  # noqa: F401  (re-exported)
    Atomic, Mutex, Page, RWSem, SpinLock,
    alloc_pages_node, clear_page_flag, count_vm_events, get_page, get_page_unless_zero,
    lock_page, mod_node_page_state, node_page_state, page_add_rmap, page_count, page_mapcount,
    page_locked_by_me, page_remove_rmap, put_page, read_page, set_page_flag, set_page_mapping, test_page_flag,
    trylock_page, unlock_page, write_page,
    PG_active, PG_dirty, PG_head, PG_isolated, PG_locked, PG_lru, PG_referenced, PG_swapbacked,
    PG_uptodate, PG_writeback,
    VMSTAT_NAMES, VMEVENT_NAMES,
    NR_FREE_PAGES, NR_ISOLATED_ANON, NR_ISOLATED_FILE, NR_ANON_PAGES, NR_FILE_PAGES,
    NR_ANON_TRANSPARENT_HUGEPAGES, NR_INACTIVE_ANON, NR_ACTIVE_ANON,
    PGMIGRATE_SUCCESS, PGMIGRATE_FAIL, NUMA_PAGE_MIGRATE, NUMA_HINT_FAULTS, NUMA_HINT_FAULTS_LOCAL,
    THP_FAULT_ALLOC, PGFAULT, PGSCAN, PGSTEAL, THP_MIGRATION_SUCCESS, THP_MIGRATION_FAIL,
    vmstat, vm_event, node_info, set_node,
)
from fuzzmm.errors import Finding  # noqa: F401

__all__ = [
    # pages
    "Page", "alloc_pages_node", "get_page", "get_page_unless_zero", "put_page", "page_count", "page_mapcount",
    "page_add_rmap", "page_remove_rmap", "lock_page", "trylock_page", "unlock_page", "page_locked_by_me",
    "assert_page_locked", "set_page_flag", "clear_page_flag", "test_page_flag", "read_page", "write_page",
    "set_page_mapping", "HPAGE_PMD_ORDER", "HPAGE_PMD_NR",
    "PG_active", "PG_dirty", "PG_head", "PG_isolated", "PG_locked", "PG_lru", "PG_referenced", "PG_swapbacked",
    "PG_uptodate", "PG_writeback",
    # locks and atomics
    "SpinLock", "Mutex", "RWSem", "Atomic",
    # counters
    "mod_node_page_state", "node_page_state", "count_vm_events", "vmstat", "vm_event", "node_info", "set_node",
    "VMSTAT_NAMES", "VMEVENT_NAMES",
    "NR_FREE_PAGES", "NR_ISOLATED_ANON", "NR_ISOLATED_FILE", "NR_ANON_PAGES", "NR_FILE_PAGES",
    "NR_ANON_TRANSPARENT_HUGEPAGES", "NR_INACTIVE_ANON", "NR_ACTIVE_ANON",
    "PGMIGRATE_SUCCESS", "PGMIGRATE_FAIL", "NUMA_PAGE_MIGRATE", "NUMA_HINT_FAULTS", "NUMA_HINT_FAULTS_LOCAL",
    "THP_FAULT_ALLOC", "PGFAULT", "PGSCAN", "PGSTEAL", "THP_MIGRATION_SUCCESS", "THP_MIGRATION_FAIL",
    # findings
    "Finding",
]

HPAGE_PMD_ORDER = 9
HPAGE_PMD_NR = 1 << HPAGE_PMD_ORDER


def assert_page_locked(page: Page, function: str) -> None:
    """BUG_ON(!PageLocked(page)) at the top of a function that needs the page lock, made
    strict: the running task itself must hold it, as lockdep_assert_held asks."""
    __tracebackhide__ = True
    if not page_locked_by_me(page):
        raise Finding("assertion", f"{function} on page {page.index} without holding its page lock")
