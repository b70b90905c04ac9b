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
from fuzzmm.kernel import HPAGE_PMD_ORDER
from fuzzmm.program import Scenario, op
from fuzzmm.mm import oracles
from fuzzmm.mm import state
from fuzzmm.mm.compose import composed_of
from fuzzmm.mm.direct_io import DirectIOPaths
from fuzzmm.mm.memory import MemoryPaths
from fuzzmm.mm.migrate import MigratePaths
from fuzzmm.mm.state import ALL_ADDRS, BASE_ADDRS, HUGE_ADDRS, NODES


@composed_of(MigratePaths, DirectIOPaths)
class ThpNuma(MigratePaths, DirectIOPaths, MemoryPaths):
    name = "thp-numa"
    variant = "v3.8-rc2"
    summary = "before the thread: no page_count check on THP migration, put_page before unlock_page"
    tasks = (2, 3)
    ops_per_task = (1, 3)
    pool_config = {"nodes": NODES, "pages": 32, "node_pages": 4096}
    max_steps = 20000

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
        if state.entry_present(e) and state.entry_numa(e):
            self.numa_hinting_fault(addr, e, target)
        self.mm.mmap_sem.up_read()

    # ---- NUMA hinting faults ----

    def numa_hinting_fault(self, addr, entry, target):
        """Run the hinting fault for a THP pmd or a base pte, then hold what it told
        task_numa_fault against what happened to the mapping."""
        self.last_numa_fault = None
        if state.is_huge(addr):
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
        mm.pmd[addr].store(state.mknonnuma(pmd))            # clear_pmdnuma
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
        self.mm.pmd[addr].store(state.mknonnuma(pmd))       # clear_pmdnuma
        self.mm.page_table_lock.unlock()

    def do_numa_page(self, addr, pte, target):
        """The base-page hinting fault: clear the NUMA bit, then try to migrate."""
        mm, ptl = self.mm, self.mm.page_table_lock
        ptl.lock()
        if mm.pmd[addr].load() != pte:
            ptl.unlock()
            return 0
        mm.pmd[addr].store(state.mknonnuma(pte))
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
