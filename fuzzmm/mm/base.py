"""NUMA-balancing THP migration as it stood in 3.8-rc2, and the operations tasks run.

`ThpNuma` is the `v3.8-rc2` variant.  Its kernel functions are methods, so a
variant (fuzzmm.mm.variants) or a user's file overrides exactly the functions
a patch touched.  What rc2 does that the seed thread argues about:

- numamigrate_isolate_page always drops the caller's reference, isolated or
  not, so on its failure paths the page is still locked but the faulting task
  no longer holds a reference of its own when it later calls unlock_page;
- migrate_misplaced_transhuge_page has no page_count check, so a page pinned
  by get_user_pages can be migrated under a DMA in flight;
- when the pmd changed after the copy it still returns 1 ("migrated").

The model never yields: every primitive is a scheduling point.
"""
from fuzzmm import kernel as k
from fuzzmm.kernel import HPAGE_PMD_ORDER, NR_ISOLATED_ANON, PGMIGRATE_FAIL, PGMIGRATE_SUCCESS
from fuzzmm.program import Scenario, op
from fuzzmm.mm import oracles
from fuzzmm.mm import state as st
from fuzzmm.mm.memory import MemoryPaths
from fuzzmm.mm.state import ALL_ADDRS, BASE_ADDRS, HUGE_ADDRS, NODES

EAGAIN = -11
ENOMEM = -12
MIGRATE_PASSES = 3          # migrate_pages retries -EAGAIN pages (10 passes in the kernel)
IO_NODE = 0                 # the task issuing direct IO runs on node 0


class ThpNuma(MemoryPaths):
    name = "thp-numa"
    variant = "v3.8-rc2"
    summary = "before the thread: no page_count check on THP migration, put_page before unlock_page"
    tasks = (2, 3)
    ops_per_task = (1, 3)
    pool_config = {"nodes": NODES, "pages": 32, "node_pages": 4096}
    max_steps = 20000
    formats = {"mm.pmd": st.describe_entry}     # page-table entries by what they hold, in traces

    # ---- the state every scenario starts from, and the quiescent check ----

    def init(self, scenario):
        """A THP on node 0 at each huge address and a base page at the base address,
        all on the LRU and NUMA-marked, as after one task_numa_work scan."""
        for addr in ALL_ADDRS:
            self.do_anonymous_page(addr, 0)
            self.change_prot_numa(addr)
        self.baseline = oracles.baseline(self)

    def check(self, scenario):
        oracles.check_quiescent(self, getattr(self, "baseline", None))

    def default_scenario(self):
        return Scenario.of([[("direct_io_read", (0, 1))],
                            [("numa_scan", (0,)), ("numa_fault", (0, 1))],
                            [("madvise_dontneed", (0,))]])

    # ---- operations a task runs ----

    @op(addr=ALL_ADDRS, node=range(NODES))
    def fault(self, addr, node):
        """A task on `node` touches `addr`: fills an empty or swapped entry, or takes a NUMA hinting fault."""
        self.mm.mmap_sem.down_read()
        self.handle_mm_fault(addr, node)
        self.mm.mmap_sem.up_read()

    @op(addr=ALL_ADDRS)
    def numa_scan(self, addr):
        """task_numa_work marks `addr` so its next access takes a NUMA hinting fault."""
        self.mm.mmap_sem.down_read()
        self.change_prot_numa(addr)
        self.mm.mmap_sem.up_read()

    @op(addr=HUGE_ADDRS, target=range(NODES))
    def numa_fault(self, addr, target):
        """A NUMA hinting fault on the THP at `addr`, the policy asking for node `target`."""
        self.hinting_fault_op(addr, target)

    @op(addr=BASE_ADDRS, target=range(NODES))
    def base_numa_fault(self, addr, target):
        """A NUMA hinting fault on the base page at `addr`, the policy asking for node `target`."""
        self.hinting_fault_op(addr, target)

    @op(addr=ALL_ADDRS, value=(1, 2))
    def direct_io_read(self, addr, value):
        """read(2) with O_DIRECT into `addr`: pin, DMA `value` in later, unpin, read it back."""
        io = self.dio_submit(addr)
        if io is not None:
            self.dio_complete(addr, io, value)

    @op(addr=ALL_ADDRS)
    def madvise_dontneed(self, addr):
        """madvise(MADV_DONTNEED) on `addr`: zap it under mmap_sem held for read."""
        # The data at `addr` may legitimately change: no direct-IO read overlapping this counts.
        self.open_data_window(addr)
        self.mm.mmap_sem.down_read()
        self.zap_page_range(addr)
        self.mm.mmap_sem.up_read()
        self.close_data_window(addr)

    @op(addr=ALL_ADDRS)
    def munmap(self, addr):
        """munmap of `addr` under mmap_sem held for write (an empty mapping stays behind)."""
        self.open_data_window(addr)
        self.mm.mmap_sem.down_write()
        self.zap_page_range(addr)
        self.mm.mmap_sem.up_write()
        self.close_data_window(addr)

    @op(node=range(NODES))
    def reclaim(self, node):
        """Reclaim on `node`: try to swap out its oldest LRU page."""
        self.shrink_inactive_list(node)

    def hinting_fault_op(self, addr, target):
        """Take the hinting fault at `addr` if its entry is NUMA-marked (mmap_sem held for read)."""
        self.mm.mmap_sem.down_read()
        e = self.mm.pmd[addr].load()
        if st.entry_present(e) and st.entry_numa(e):
            self.numa_hinting_fault(addr, e, target)
        self.mm.mmap_sem.up_read()

    # ---- the lost-write oracle's bookkeeping ----

    def open_data_window(self, addr):
        """From now on the data at `addr` may change (a zap, a direct IO): count the open
        window and bump the sequence, so no direct-IO read overlapping it counts."""
        self.mm.data_windows[addr].add(1)
        return self.mm.data_seq[addr].fetch_add(1)

    def close_data_window(self, addr):
        self.mm.data_seq[addr].add(1)
        self.mm.data_windows[addr].sub(1)

    # ---- direct IO, in two halves so tests can put work between them ----

    def dio_submit(self, addr):
        """Open the data window of `addr` and pin its page: (page, window start) or None."""
        start = self.open_data_window(addr)
        self.mm.mmap_sem.down_read()
        page = self.get_user_pages(addr, IO_NODE)
        self.mm.mmap_sem.up_read()
        if page is None:
            self.close_data_window(addr)
            return None
        return page, start

    def dio_complete(self, addr, io, value):
        """The DMA lands in the pinned page, the pin goes, the task reads `addr` back."""
        page, start = io
        self.dma_write(page, value)
        end = self.mm.data_seq[addr].fetch_add(1)
        self.put_page(page)
        # Ours alone: no zap or IO began in our window, and none began before it and is still open.
        clean = end == start + 1 and self.mm.data_windows[addr].load() == 1
        if clean:
            self.mm.dma_record[addr].store(value | (end + 1) << 8)
        self.mm.mmap_sem.down_read()
        seen = self.read_user(addr)
        self.mm.mmap_sem.up_read()
        self.mm.data_windows[addr].sub(1)
        if clean:
            oracles.check_read_back(self, addr, value, seen, end + 1)

    # ---- NUMA hinting faults ----

    def numa_hinting_fault(self, addr, entry, target):
        """Run the hinting fault for a THP pmd or a base pte, then hold what it told
        task_numa_fault against what happened to the mapping."""
        self.last_numa_fault = None
        if st.is_huge(addr):
            self.do_huge_pmd_numa_page(addr, entry, target)
        else:
            self.do_numa_page(addr, entry, target)
        oracles.check_reported_migration(self, addr, entry)

    def mpol_misplaced(self, page, target):
        """The node the policy wants `page` on, or -1 if it is there already."""
        return -1 if page.node == target else target

    def task_numa_fault(self, node, pages, migrated):
        """Charge a hinting fault to `node`; `migrated` is what the fault reports."""
        self.mm.numa_faults[node].add(pages)
        self.last_numa_fault = (node, pages, bool(migrated))

    def do_huge_pmd_numa_page(self, addr, pmd, target):
        """The THP hinting fault (mmap_sem held for read), rc2: the page is unlocked
        by this function on the failure paths, after the callee dropped the reference."""
        mm, ptl = self.mm, self.mm.page_table_lock
        nr = 1 << HPAGE_PMD_ORDER
        locked = self.lock_misplaced_thp(addr, pmd, target)
        if locked is None:
            return 0
        page, current_nid, target_nid = locked
        migrated = self.migrate_misplaced_transhuge_page(addr, pmd, page, target_nid)
        if migrated:
            self.task_numa_fault(target_nid, nr, True)
            return 0
        ptl.lock()
        if mm.pmd[addr].load() != pmd:
            k.unlock_page(page)                             # the callee already dropped our reference
            ptl.unlock()
            self.task_numa_fault(current_nid, nr, False)
            return 0
        mm.pmd[addr].store(st.mknonnuma(pmd))               # clear_pmdnuma
        k.unlock_page(page)
        ptl.unlock()
        self.task_numa_fault(current_nid, nr, False)
        return 0

    def lock_misplaced_thp(self, addr, pmd, target):
        """The first half of do_huge_pmd_numa_page, the same in every variant: take a
        reference, ask the policy, and either clear the NUMA bit (no better node) or lock
        the page and recheck the pmd.  Returns (page, current node, target node) with the
        page locked and referenced, or None when the fault is over."""
        mm, ptl = self.mm, self.mm.page_table_lock
        nr = 1 << HPAGE_PMD_ORDER
        ptl.lock()
        if mm.pmd[addr].load() != pmd:
            ptl.unlock()
            return None
        page = mm.page_of(addr, pmd)
        k.get_page(page)
        current_nid = page.node
        self.count_hint_fault(page, target)
        target_nid = self.mpol_misplaced(page, target)
        if target_nid == -1:
            self.stay_local(addr, pmd, page)
            self.task_numa_fault(current_nid, nr, False)
            return None
        ptl.unlock()
        k.lock_page(page)                                   # serialises THP migrations
        ptl.lock()
        if mm.pmd[addr].load() != pmd:
            k.unlock_page(page)
            self.put_page(page)
            ptl.unlock()
            self.task_numa_fault(current_nid, nr, False)
            return None
        ptl.unlock()
        return page, current_nid, target_nid

    def stay_local(self, addr, pmd, page):
        """No better node (page_table_lock held, our reference held): drop the reference
        and clear the NUMA bit, without the page lock; returns with the lock dropped."""
        self.put_page(page)
        self.mm.pmd[addr].store(st.mknonnuma(pmd))          # clear_pmdnuma
        self.mm.page_table_lock.unlock()

    def do_numa_page(self, addr, pte, target):
        """The base-page hinting fault: clear the NUMA bit, then try to migrate."""
        mm, ptl = self.mm, self.mm.page_table_lock
        ptl.lock()
        if mm.pmd[addr].load() != pte:
            ptl.unlock()
            return 0
        mm.pmd[addr].store(st.mknonnuma(pte))
        page = mm.page_of(addr, pte)
        k.get_page(page)
        current_nid = page.node
        self.count_hint_fault(page, target)
        target_nid = self.mpol_misplaced(page, target)
        ptl.unlock()
        if target_nid == -1:
            self.put_page(page)
            self.task_numa_fault(target, 1, False)          # charged to the faulting node
            return 0
        migrated = self.migrate_misplaced_page(page, target_nid)
        self.task_numa_fault(target_nid if migrated else current_nid, 1, migrated)
        return 0

    def count_hint_fault(self, page, target):
        k.count_vm_events(self.pool, k.NUMA_HINT_FAULTS)
        if page.node == target:
            k.count_vm_events(self.pool, k.NUMA_HINT_FAULTS_LOCAL)

    # ---- NUMA migration helpers ----

    def numamigrate_update_ratelimit(self, node, nr_pages):
        """True if `node` already took its budget of migrated pages this window; else
        charge `nr_pages` to it, before the migration is known to succeed."""
        lock = self.mm.ratelimit_lock[node]
        budget = self.mm.ratelimit_nr_pages[node]
        lock.lock()
        limited = budget.load() > st.RATELIMIT_PAGES
        if not limited:
            budget.add(nr_pages)
        lock.unlock()
        return limited

    def migrate_balanced_pgdat(self, node, nr_pages):
        """True if `node` has more than its high watermark plus `nr_pages` free."""
        free = k.node_page_state(self.pool, node, k.NR_FREE_PAGES)
        return free > k.node_info(self.pool, node)["watermark_high"] + nr_pages

    def numamigrate_isolate_page(self, node, page):
        """rc2: isolate `page` for migration to `node` if that node is balanced, account
        NR_ISOLATED, and drop the caller's reference in every case.  Returns 1 if isolated."""
        ret = 0
        if self.migrate_balanced_pgdat(node, 1):
            if self.isolate_lru_page(page):
                self.put_page(page)
                return 0
            ret = 1
            k.mod_node_page_state(self.pool, page.node, NR_ISOLATED_ANON, page.nr_pages)
        self.put_page(page)
        return ret

    # ---- THP migration ----

    def migrate_misplaced_transhuge_page(self, addr, pmd, page, node):
        """rc2: entered with `page` locked and the caller's reference held.  Every early
        exit keeps the page locked and returns 0 with the caller's reference gone."""
        nr = page.nr_pages
        if k.page_mapcount(page) != 1:
            self.put_page(page)
            return 0
        if self.numamigrate_update_ratelimit(node, nr):
            self.put_page(page)
            return 0
        new_page = k.alloc_pages_node(self.pool, node, HPAGE_PMD_ORDER)
        if new_page is None:
            k.count_vm_events(self.pool, PGMIGRATE_FAIL, nr)
            self.put_page(page)
            return 0
        isolated = self.numamigrate_isolate_page(node, page)
        if not isolated or self.pinned_after_isolation(page):
            k.count_vm_events(self.pool, PGMIGRATE_FAIL, nr)
            self.put_page(new_page)
            if isolated:
                self.put_back_refused(page)
            return 0
        self.remap_transhuge_page(addr, pmd, page, new_page)
        k.mod_node_page_state(self.pool, page.node, NR_ISOLATED_ANON, -nr)
        return isolated

    def remap_transhuge_page(self, addr, pmd, page, new_page):
        """The second half of migrate_misplaced_transhuge_page, the same in every variant:
        copy into `new_page`, recheck the pmd, and switch it or undo.  Returns whether
        the pmd now maps `new_page`; the caller restores NR_ISOLATED either way."""
        mm, ptl = self.mm, self.mm.page_table_lock
        nr = page.nr_pages
        k.lock_page(new_page)
        self.migrate_page_copy(new_page, page)
        ptl.lock()
        if not self.may_remap(addr, pmd, page):
            ptl.unlock()
            k.unlock_page(new_page)
            self.put_page(new_page)
            k.unlock_page(page)
            self.putback_lru_page(page)
            k.count_vm_events(self.pool, PGMIGRATE_FAIL, nr)
            return False
        k.page_add_rmap(new_page)
        # page_add_new_anon_rmap queues the new page on this CPU's pagevec, whose
        # reference outlives unlock_page(new_page): a zap right after the pmd is
        # switched cannot free the page while it is still locked.
        k.get_page(new_page, own=False)
        self.lru_cache_add(new_page)
        mm.pmd[addr].store(st.mk_entry(new_page))
        k.page_remove_rmap(page)
        ptl.unlock()
        k.unlock_page(new_page)
        self.put_page(new_page, own=False)      # the pagevec drained
        k.unlock_page(page)
        self.put_page(page, 2)              # the old mapping's reference and the isolation's
        k.count_vm_events(self.pool, PGMIGRATE_SUCCESS, nr)
        k.count_vm_events(self.pool, k.NUMA_PAGE_MIGRATE, nr)
        return True

    def pinned_after_isolation(self, page):
        """Does a reference beyond the mapping's and the isolation's refuse the migration?
        rc2 does not look (the check came with Mel's patch)."""
        return False

    def put_back_refused(self, page):
        """Undo the isolation of a page refused after it (unreachable in rc2)."""
        raise NotImplementedError

    def may_remap(self, addr, pmd, page):
        """Under the page-table lock, after the copy: may the pmd switch to the copy?
        In 3.8 only if the pmd is unchanged (pmd_same)."""
        return self.mm.pmd[addr].load() == pmd

    def migrate_page_copy(self, new_page, page):
        """Copy the data (page flags other than the data are not modelled)."""
        k.write_page(new_page, k.read_page(page))

    # ---- base-page migration ----

    def migrate_misplaced_page(self, page, node):
        """rc2, base pages: entered with the caller's reference held; returns 1 if
        the generic migration moved the page."""
        if k.page_mapcount(page) != 1:
            self.put_page(page)
            return 0
        if self.numamigrate_update_ratelimit(node, 1):
            self.put_page(page)
            return 0
        isolated = self.numamigrate_isolate_page(node, page)
        if not isolated:
            return 0
        if self.migrate_pages([page], node):
            return 0
        k.count_vm_events(self.pool, k.NUMA_PAGE_MIGRATE)
        return isolated

    def migrate_pages(self, pages, node):
        """Generic asynchronous migration of isolated pages to `node`; pages it could not
        move are put back, NR_ISOLATED restored.  Returns how many it could not move."""
        succeeded = failed = 0
        held = {page.index: 0 for page in pages}
        for _ in range(MIGRATE_PASSES):
            retry = []
            for page in pages:
                rc, held[page.index] = self.unmap_and_move(page, node, held[page.index])
                if rc == EAGAIN:
                    retry.append(page)
                elif rc == ENOMEM:
                    self.putback_lru_pages(pages, held)
                    return len(pages)
                elif rc == 0:
                    succeeded += 1
                else:
                    failed += 1
            pages = retry
            if not pages:
                break
        failed += len(pages)
        self.putback_lru_pages(pages, held)
        if succeeded:
            k.count_vm_events(self.pool, PGMIGRATE_SUCCESS, succeeded)
        if failed:
            k.count_vm_events(self.pool, PGMIGRATE_FAIL, failed)
        return failed

    def putback_lru_pages(self, pages, held=None):
        """Undo the isolation of pages left on a migration list, NR_ISOLATED included."""
        for page in pages:
            k.mod_node_page_state(self.pool, page.node, NR_ISOLATED_ANON, -page.nr_pages)
            self.putback_lru_page(page, (held or {}).get(page.index, 0))

    def unmap_and_move(self, page, node, held):
        """Move one isolated base page to a new page on `node`.  Unless it must be
        retried, the old page leaves isolation here (NR_ISOLATED, putback).

        `held` counts the mapping references this migration took over when it
        unmapped the page and has not given back to a restored entry.  The kernel
        drops them in try_to_unmap; here they go with the isolation reference, so
        the task never touches the page after dropping references it holds.  Every
        refcount check below expects them.  Returns (rc, held)."""
        new_page = k.alloc_pages_node(self.pool, node, 0)
        if new_page is None:
            return ENOMEM, held
        if k.page_count(page) == 1 + held:
            rc = 0                          # freed from under us: only isolation holds it
        else:
            rc, held = self.unmap_and_move_locked(page, new_page, held)
        if rc != EAGAIN:
            k.mod_node_page_state(self.pool, page.node, NR_ISOLATED_ANON, -1)
            self.putback_lru_page(page, held)
            held = 0
        self.putback_lru_page(new_page)     # frees it if migration failed
        return rc, held

    def unmap_and_move_locked(self, page, new_page, held):
        """__unmap_and_move: lock, unmap into migration entries, move or restore."""
        if not k.trylock_page(page):        # MIGRATE_ASYNC never waits for the lock
            return EAGAIN, held
        rc = EAGAIN
        held += self.try_to_unmap(page)
        if k.page_mapcount(page) == 0:
            rc = self.move_to_new_page(new_page, page, held)
        if rc:
            held -= self.remove_migration_ptes(page, page, held)
        k.unlock_page(page)
        return rc, held

    def try_to_unmap(self, page):
        """Replace every pte of `page` with a migration entry; returns how many mapping
        references the caller now holds for it."""
        k.assert_page_locked(page, "try_to_unmap")
        ptl = self.mm.page_table_lock
        unmapped = 0
        ptl.lock()
        for addr in BASE_ADDRS:
            e = self.mm.pmd[addr].load()
            if st.entry_present(e) and st.entry_index(e) == page.index and st.entry_gen(e) == page.gen:
                self.mm.pmd[addr].store(st.mk_migration_entry(page))
                k.page_remove_rmap(page)
                unmapped += 1
        ptl.unlock()
        return unmapped

    def move_to_new_page(self, new_page, page, held):
        """migrate_page for an anonymous page: refuse if anyone but the isolation (and
        the unmapped entries) holds a reference, a pin say; else copy and point the
        migration entries at `new_page`."""
        if not k.trylock_page(new_page):
            raise k.Finding("assertion", f"new page {new_page.index} is locked by someone else")
        rc = self.migrate_page_move_mapping(page, 1 + held)
        if rc == 0:
            self.migrate_page_copy(new_page, page)
            self.remove_migration_ptes(page, new_page)
        k.unlock_page(new_page)
        return rc

    def migrate_page_move_mapping(self, page, expected):
        return EAGAIN if k.page_count(page) != expected else 0

    def remove_migration_ptes(self, old, new, held=0):
        """Turn migration entries for `old` back into present entries mapping `new`.
        Restoring `old` itself reuses up to `held` references the caller holds;
        returns how many it reused."""
        ptl = self.mm.page_table_lock
        want = st.mk_migration_entry(old)
        reused = 0
        ptl.lock()
        for addr in BASE_ADDRS:
            if self.mm.pmd[addr].load() == want:
                if reused < held:
                    reused += 1
                else:
                    k.get_page(new)
                k.page_add_rmap(new)
                self.mm.pmd[addr].store(st.mk_entry(new))
        ptl.unlock()
        return reused
