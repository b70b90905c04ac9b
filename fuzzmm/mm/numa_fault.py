"""The NUMA hinting fault, as mm/memory.c takes it, and the calls it makes outside mm/.

A NUMA scan (change_prot_numa) marks an entry; the next access faults, and
handle_mm_fault sends the fault to do_huge_pmd_numa_page (mm/huge_memory.c)
for a THP pmd or do_numa_page for a base pte.  The fault asks the memory
policy where the page belongs (mpol_misplaced, mm/mempolicy.c) and tells the
scheduler what it did (task_numa_fault, kernel/sched/fair.c); what it told is
held against the mapping afterwards (oracles.check_reported_migration).
"""
from fuzzmm import kernel as k
from fuzzmm.mm import oracles
from fuzzmm.mm import state


class NumaFaultPaths:
    """mm/memory.c's NUMA hinting fault: the dispatch and do_numa_page, with
    mpol_misplaced (mm/mempolicy.c) and task_numa_fault (kernel/sched/fair.c)."""

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
