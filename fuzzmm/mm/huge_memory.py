"""The THP NUMA hinting fault, after mm/huge_memory.c: do_huge_pmd_numa_page.

The v3.8-rc2 text, in parts so that a variant overrides only what its patch
changed: lock_misplaced_thp takes the reference, asks the policy and locks the
page (the same in every variant), stay_local clears the NUMA bit when the page
is where it belongs, and do_huge_pmd_numa_page calls
migrate_misplaced_transhuge_page (mm/migrate.c) and cleans up after it.
"""
from fuzzmm import kernel as k
from fuzzmm.kernel import HPAGE_PMD_ORDER
from fuzzmm.mm import state


class HugeMemoryPaths:
    """mm/huge_memory.c as of 3.8-rc2: the NUMA hinting fault on a THP pmd."""

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
