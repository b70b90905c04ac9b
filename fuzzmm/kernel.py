"""The primitives a model calls, under their kernel names.

Every function here is a scheduling point and appends an event-ring record,
but for the assertions, which only look at what the running task holds.
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

HPAGE_PMD_ORDER = 9
HPAGE_PMD_NR = 1 << HPAGE_PMD_ORDER


def assert_page_locked(page, function):
    """BUG_ON(!PageLocked(page)) at the top of a function that needs the page lock, made
    strict: the running task itself must hold it, as lockdep_assert_held asks."""
    __tracebackhide__ = True
    if not page_locked_by_me(page):
        raise Finding("assertion", f"{function} on page {page.index} without holding its page lock")
