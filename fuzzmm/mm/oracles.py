"""Kernel invariants of the seed model, stated generally rather than per known bug.

Quiescent invariants (every task has ended, so no task holds a pin, an
isolation or a lock) are checked by `check_quiescent`, in the parent after a
run.  Two invariants are also checked by the task itself at the end of an
operation, where it knows what it expects: the data a direct-IO read wrote
(`check_read_back`) and the result a NUMA fault reported (`check_reported_migration`).
They read state without scheduling points.
"""
from fuzzmm import kernel as k
from fuzzmm.kernel import NR_INACTIVE_ANON, NR_ISOLATED_ANON, NR_ISOLATED_FILE, PG_locked, PG_lru
from fuzzmm.mm import state

COUNTERS = (NR_ISOLATED_ANON, NR_ISOLATED_FILE)


def baseline(prog):
    """The counters a run must return to: their values once init has built the start state."""
    return {(node, item): k.vmstat(prog.pool, node, item)
            for node in range(prog.pool.nnodes) for item in COUNTERS}


def check_quiescent(prog, base=None):
    check_counters(prog, base)
    mapped = check_page_table(prog)
    check_pages(prog, mapped)
    check_dma_records(prog)


def check_counters(prog, base):
    """counter-leak: NR_ISOLATED_* back to baseline; NR_INACTIVE_ANON equals the pages on the LRU."""
    pool = prog.pool
    for node in range(pool.nnodes):
        for item in COUNTERS:
            want = (base or {}).get((node, item), 0)
            got = k.vmstat(pool, node, item)
            if got != want:
                raise k.Finding("counter-leak", f"{k.VMSTAT_NAMES[item]} on node {node} is {got} "
                                                f"at quiescence, {want} at the start")
    on_lru = [0] * pool.nnodes
    # pages_in_use: (index, refcount, mapcount, flags, node, order, lock_owner) of each
    for _, _, _, flags, node, order, _ in pool.pages_in_use():
        if flags & PG_lru:
            on_lru[node] += 1 << order
    for node in range(pool.nnodes):
        got = k.vmstat(pool, node, NR_INACTIVE_ANON)
        if got != on_lru[node]:
            raise k.Finding("counter-leak", f"NR_INACTIVE_ANON on node {node} is {got} but "
                                            f"{on_lru[node]} base pages are on its LRU")


def check_page_table(prog):
    """Every entry names a live page; returns {page index: mappings} for the page check."""
    mapped = {}
    for addr in state.ALL_ADDRS:
        e = prog.mm.pmd[addr].peek()
        if not (state.entry_present(e) or state.entry_migration(e)):
            continue
        page = prog.mm.peek_page(e)
        if page is None or not page.in_use:
            raise k.Finding("use-after-free", f"address {addr} maps page {state.entry_index(e)} "
                                              f"({state.describe_entry(e)}), which has been freed")
        if state.entry_migration(e):
            raise k.Finding("unreclaimable-page", f"address {addr} is still a migration entry for page "
                                                  f"{page.index} after every task ended")
        mapped[page.index] = mapped.get(page.index, 0) + 1
    return mapped


def check_pages(prog, mapped):
    """Each page in use: its references are its mappings (refcount-leak), and reclaim
    can reach it: on its LRU and unlocked (unreclaimable-page)."""
    pool = prog.pool
    # One read of the records of the pages in use, by index, rather than a handle and
    # a dict per page (the check runs after every run); each is (index, refcount,
    # mapcount, flags, node, order, lock_owner).
    for index, refcount, mapcount, flags, node, _, lock_owner in pool.pages_in_use():
        maps = mapped.get(index, 0)
        if refcount != maps or mapcount != maps:
            raise k.Finding("refcount-leak", f"page {index} (node {node}) has refcount "
                                             f"{refcount} and mapcount {mapcount}, but "
                                             f"{maps} mapping(s) and no task hold it")
        if not flags & PG_lru:
            raise k.Finding("unreclaimable-page", f"page {index} (node {node}) is in use, "
                                                  f"mapped {maps} time(s), and on no LRU")
        if flags & PG_locked:
            raise k.Finding("unreclaimable-page", f"page {index} is still locked (by task "
                                                  f"{lock_owner}) after every task ended")


def check_dma_records(prog):
    """lost-write: an address whose last direct-IO write nobody raced with still holds it."""
    for addr in state.ALL_ADDRS:
        record = prog.mm.dma_record[addr].peek()
        if not record or record >> 8 != prog.mm.data_seq[addr].peek():
            continue
        value, seen = record & 0xff, peek_data(prog, addr)
        if seen is not None and seen != value:
            raise k.Finding("lost-write", f"direct IO wrote {value} to address {addr}, "
                                          f"which holds {seen} after every task ended")


def peek_data(prog, addr):
    e = prog.mm.pmd[addr].peek()
    if state.entry_swap(e):
        return state.swap_data(e)
    if state.entry_present(e):
        page = prog.mm.peek_page(e)
        return page.state()["content"] if page is not None else None
    return None


def check_read_back(prog, addr, value, seen, seq):
    """lost-write, checked by the IO task: if nobody changed `addr`'s data since its
    DMA (the sequence is still `seq`), a read through the mapping returns the DMA's value."""
    if seen is not None and seen != value and prog.mm.data_seq[addr].peek() == seq:
        raise k.Finding("lost-write", f"direct IO wrote {value} to address {addr}, "
                                      f"but the task reads back {seen} through its mapping")


def check_reported_migration(prog, addr, entry):
    """misaccounting: a hinting fault that reports the page migrated must not leave the
    entry mapping the very page it faulted on.  (No path maps an old page again, so a
    check right after the fault returns cannot be fooled by later changes.)"""
    report = prog.last_numa_fault
    if report is None or not report[2]:
        return
    now = prog.mm.pmd[addr].peek()
    if state.entry_present(now) and state.entry_index(now) == state.entry_index(entry) \
            and state.entry_gen(now) == state.entry_gen(entry):
        raise k.Finding("misaccounting", f"NUMA fault at address {addr} reported page "
                                         f"{state.entry_index(entry)} migrated to node {report[0]}, "
                                         f"but the entry still maps it ({state.describe_entry(now)})")
