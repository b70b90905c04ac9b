"""The mm around NUMA migration: faults, zapping, get_user_pages, the LRU and reclaim.

These paths are the same in every variant; they are what migration races
with.  Each kernel function is a method so a variant or a user's model file
can override any one of them.  Simplifications, each named where it is made:
one mm and one VMA that always exists (munmap leaves an empty mapping
behind), one LRU list per node, THPs swapped out whole instead of split.
"""
from fuzzmm import kernel as k
from fuzzmm.kernel import HPAGE_PMD_ORDER, NR_INACTIVE_ANON, NR_ISOLATED_ANON, PG_dirty, PG_lru
from fuzzmm.program import Program
from fuzzmm.mm import state
from fuzzmm.mm.state import Machine

GUP_RETRIES = 4             # follow_page / handle_mm_fault rounds before get_user_pages gives up
THROTTLE_RETRIES = 2        # too_many_isolated rounds before reclaim gives up (congestion_wait)


class MemoryPaths(Program):
    """Page faults, zap, GUP, LRU and reclaim over the Machine in fuzzmm.mm.state."""

    def setup(self, pool):
        self.mm = Machine(pool)
        self.last_numa_fault = None     # what task_numa_fault was told last, in this task

    # ---- references and the LRU ----

    def put_page(self, page, nr=1, own=True):
        """put_page, `nr` times: the last reference takes the page off its LRU first,
        as __page_cache_release does, so only PG_locked, a mapping or a mapcount make
        its free a bad page state.  Runs under the node's lru_lock, which every path
        that sets or clears PG_lru holds, so the count read is the one dropped.

        Why `nr`: the put-before-unlock detector counts every put a task makes as
        one of its own, so a task that drops references it did not take (a
        mapping's) drops them together with its own, in one call, last."""
        __tracebackhide__ = True        # findings here are signed with the caller's name
        lru_lock = self.mm.lru_lock[page.node]
        lru_lock.lock()
        rec = page.state()
        if rec["refcount"] == nr and rec["flags"] & PG_lru:
            k.clear_page_flag(page, PG_lru)
            k.mod_node_page_state(self.pool, page.node, NR_INACTIVE_ANON, -page.nr_pages)
        for _ in range(nr):
            k.put_page(page, own=own)
        lru_lock.unlock()

    def add_page_to_lru_list(self, page):
        """Caller holds lru_lock: SetPageLRU, count it, and stamp it as the newest page."""
        if k.set_page_flag(page, PG_lru):
            raise k.Finding("assertion", f"page {page.index} added to an LRU it is already on")
        k.mod_node_page_state(self.pool, page.node, NR_INACTIVE_ANON, page.nr_pages)
        clock = self.mm.lru_clock[page.node]
        clock.poke(clock.peek() + 1)
        self.mm.lru_stamp[page.index].poke(clock.peek())

    def lru_cache_add(self, page):
        """Put a new page on its node's LRU (the per-CPU pagevec is not modelled;
        see remap_transhuge_page for the one reference of it that matters here)."""
        lru_lock = self.mm.lru_lock[page.node]
        lru_lock.lock()
        self.add_page_to_lru_list(page)
        lru_lock.unlock()

    def isolate_lru_page(self, page):
        """Take `page` off its LRU for migration: the caller holds a reference; on
        success a new reference is held for the isolation.  The caller accounts
        NR_ISOLATED.  Returns 0 on success, -EBUSY (-16) if it was not on an LRU."""
        ret = -16
        lru_lock = self.mm.lru_lock[page.node]
        lru_lock.lock()
        if k.test_page_flag(page, PG_lru):
            k.get_page(page)
            k.clear_page_flag(page, PG_lru)
            k.mod_node_page_state(self.pool, page.node, NR_INACTIVE_ANON, -page.nr_pages)
            ret = 0
        lru_lock.unlock()
        return ret

    def putback_lru_page(self, page, extra=0):
        """Put an isolated page back on its LRU and drop the isolation reference
        (and `extra` more the caller held for it, see put_page)."""
        self.lru_cache_add(page)
        self.put_page(page, 1 + extra)

    # ---- faults ----

    def handle_mm_fault(self, addr, node):
        """A task running on `node` touches `addr` (mmap_sem held for read)."""
        e = self.mm.pmd[addr].load()
        if e == 0:
            return self.do_anonymous_page(addr, node)
        if state.entry_swap(e):
            return self.do_swap_page(addr, e, node)
        if state.entry_migration(e):
            return self.migration_entry_wait(addr, e)
        if state.entry_numa(e):
            return self.numa_hinting_fault(addr, e, node)
        return None

    def do_anonymous_page(self, addr, node):
        """Fault in a zeroed THP (do_huge_pmd_anonymous_page) or base page on `node`;
        with no memory there the fault fails (no fallback to base pages)."""
        return self.install_new_page(addr, 0, node, 0)

    def do_swap_page(self, addr, entry, node):
        """Bring swapped-out data back into a new page on `node`."""
        return self.install_new_page(addr, entry, node, state.swap_data(entry))

    def install_new_page(self, addr, expected, node, data):
        """Allocate, fill and map a page where the entry still reads `expected`."""
        huge = state.is_huge(addr)
        page = k.alloc_pages_node(self.pool, node, HPAGE_PMD_ORDER if huge else 0)
        if page is None:
            return False
        if huge:
            k.count_vm_events(self.pool, k.THP_FAULT_ALLOC)
        if data:
            k.write_page(page, data)
        ptl = self.mm.page_table_lock
        ptl.lock()
        if self.mm.pmd[addr].load() != expected:
            ptl.unlock()
            self.put_page(page)
            return False
        k.page_add_rmap(page)                          # page_add_new_anon_rmap ...
        self.lru_cache_add(page)                       # ... which also adds it to the LRU
        self.mm.pmd[addr].store(state.mk_entry(page))  # the allocation's reference is the mapping's
        ptl.unlock()
        return True

    def migration_entry_wait(self, addr, entry):
        """The entry is being migrated: wait for the page lock to drop, then retry the fault.
        (wait_on_page_locked is modelled as lock_page + unlock_page.)"""
        ptl = self.mm.page_table_lock
        ptl.lock()
        if self.mm.pmd[addr].load() != entry:
            ptl.unlock()
            return None
        page = self.mm.page_of(addr, entry)
        if not k.get_page_unless_zero(page):
            ptl.unlock()
            return None
        ptl.unlock()
        k.lock_page(page)
        k.unlock_page(page)
        self.put_page(page)
        return None

    def numa_hinting_fault(self, addr, entry, target):
        """The NUMA hinting fault of a THP pmd or a base pte; overridden in the model."""
        raise NotImplementedError

    def change_prot_numa(self, addr):
        """task_numa_work's scan: mark a present entry so the next access faults."""
        ptl = self.mm.page_table_lock
        ptl.lock()
        e = self.mm.pmd[addr].load()
        if state.entry_present(e) and not state.entry_numa(e):
            self.mm.pmd[addr].store(state.mknuma(e))
        ptl.unlock()

    # ---- unmapping ----

    def zap_page_range(self, addr):
        """Clear the entry at `addr` (zap_huge_pmd / zap_pte_range) and drop the mapping's
        reference once the page-table lock is released (tlb_remove_page).  The
        mapping's reference passes to this task's TLB batch: modelled as a get, so
        the put-before-unlock detector sees a reference of the task's own while it
        touches the page, dropped with the mapping's.  A page_count check elsewhere
        in that moment sees one reference more than the kernel would."""
        ptl = self.mm.page_table_lock
        ptl.lock()
        e = self.mm.pmd[addr].load()
        if e == 0:
            ptl.unlock()
            return
        page = self.mm.page_of(addr, e) if state.entry_present(e) else None
        self.mm.pmd[addr].store(0)
        if page is None:                # a swap or migration entry: no page reference to drop
            ptl.unlock()
            return
        k.get_page(page)
        k.page_remove_rmap(page)
        ptl.unlock()
        self.put_page(page, 2)

    # ---- get_user_pages ----

    def get_user_pages(self, addr, node):
        """Pin the page at `addr` for IO (FOLL_GET | FOLL_NUMA), faulting it in as a task
        on `node` would: a NUMA-marked entry takes the hinting fault first.  Returns the
        pinned page, or None."""
        ptl = self.mm.page_table_lock
        for _ in range(GUP_RETRIES):
            ptl.lock()
            e = self.mm.pmd[addr].load()
            if state.entry_present(e) and not state.entry_numa(e):
                page = self.mm.page_of(addr, e)
                k.get_page(page)
                ptl.unlock()
                return page
            ptl.unlock()
            self.handle_mm_fault(addr, node)
        return None

    def read_user(self, addr):
        """What a load from `addr` returns, or None if nothing is mapped there now."""
        ptl = self.mm.page_table_lock
        for _ in range(GUP_RETRIES):
            ptl.lock()
            e = self.mm.pmd[addr].load()
            if state.entry_present(e):
                # A CPU load takes no page reference: the page-table lock holds the
                # entry, and the entry's reference the page, for the one read.
                value = self.mm.page_of(addr, e).state()["content"]
                ptl.unlock()
                return value
            ptl.unlock()
            if state.entry_swap(e):
                return state.swap_data(e)
            if not state.entry_migration(e):
                return None
            self.migration_entry_wait(addr, e)
        return None

    def dma_write(self, page, value):
        """The device writes `value` into a page pinned for direct IO."""
        k.write_page(page, value)
        k.set_page_flag(page, PG_dirty)

    # ---- reclaim ----

    def too_many_isolated(self, node):
        isolated = k.node_page_state(self.pool, node, NR_ISOLATED_ANON)
        return isolated > k.node_page_state(self.pool, node, NR_INACTIVE_ANON)

    def shrink_inactive_list(self, node):
        """Reclaim one page of `node`'s LRU; returns how many base pages it freed."""
        for _ in range(THROTTLE_RETRIES):
            if not self.too_many_isolated(node):
                break
        else:
            return 0                    # congestion_wait, then give up (a fatal signal)
        page = self.isolate_lru_pages(node)
        if page is None:
            return 0
        nr = page.nr_pages
        k.mod_node_page_state(self.pool, node, NR_ISOLATED_ANON, nr)
        freed = self.shrink_page_list(page)
        k.mod_node_page_state(self.pool, node, NR_ISOLATED_ANON, -nr)
        return freed

    def isolate_lru_pages(self, node):
        """Take the oldest page off `node`'s LRU with a reference of reclaim's own."""
        lru_lock = self.mm.lru_lock[node]
        lru_lock.lock()
        victim, oldest = None, None
        for index in range(node, self.pool.npages, self.pool.nnodes):
            page = self.pool.page(index)
            rec = page.state()          # PG_lru only changes under lru_lock: stable here
            if rec["in_use"] and rec["flags"] & PG_lru:
                stamp = self.mm.lru_stamp[index].peek()
                if oldest is None or stamp < oldest:
                    victim, oldest = page, stamp
        if victim is not None:
            if k.get_page_unless_zero(victim):
                k.clear_page_flag(victim, PG_lru)
                k.mod_node_page_state(self.pool, node, NR_INACTIVE_ANON, -victim.nr_pages)
            else:
                victim = None
        lru_lock.unlock()
        return victim

    def shrink_page_list(self, page):
        """shrink_page_list for one isolated page: never sleep on its lock; keep it if
        anyone else holds a reference; else swap it out and free it."""
        if not k.trylock_page(page):
            self.putback_lru_page(page)
            return 0
        freed = self.pageout(page)
        k.unlock_page(page)
        if freed:
            self.put_page(page, 2)      # the mapping's reference and reclaim's: the last two
            return page.nr_pages
        self.putback_lru_page(page)
        return 0

    def pageout(self, page):
        """Unmap a locked, isolated page into a swap entry holding its data, if its only
        references are its mapping and reclaim's (the freeze-refcount check).  The
        check and the unmap share one page_table_lock section, so a get_user_pages
        pin, taken under that lock, is either seen or comes after the unmap.  The
        caller drops the mapping's reference together with its own."""
        k.assert_page_locked(page, "pageout (try_to_unmap)")
        ptl = self.mm.page_table_lock
        addrs = state.HUGE_ADDRS if page.order else state.BASE_ADDRS
        ptl.lock()
        for addr in addrs:                          # the rmap walk of our one mm
            e = self.mm.pmd[addr].load()
            if state.entry_present(e) and state.entry_index(e) == page.index and state.entry_gen(e) == page.gen:
                break
        else:
            ptl.unlock()
            return False
        if k.page_count(page) != 2:
            ptl.unlock()
            return False
        self.mm.pmd[addr].store(state.mk_swap_entry(k.read_page(page)))
        k.page_remove_rmap(page)
        ptl.unlock()
        return True
