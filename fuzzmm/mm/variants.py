"""The variants of the seed thread, each overriding only the functions its patch changed.

- v3.8-rc2: the base model (fuzzmm.mm.base.ThpNuma).
- mel:  Mel's patch of 7 January 2013: a page_count check after isolation that
        puts the page back but leaves through the exit that skips NR_ISOLATED.
- v3.8: what shipped (04fa5d6a6547): the same check, leaving through the exit
        that restores NR_ISOLATED.
- hugh: Hugh's cleanup in the thread (later 340ef3902cf2): isolation drops the
        caller's reference only when it isolated, checks a THP's page_count
        itself, and migration unlocks before every put_page of its own.
"""
from fuzzmm import kernel as k
from fuzzmm.kernel import HPAGE_PMD_ORDER, NR_ISOLATED_ANON, PGMIGRATE_FAIL
from fuzzmm.mm import state
from fuzzmm.mm.base import ThpNuma


class Mel(ThpNuma):
    variant = "mel"
    summary = "Mel's NAKed patch: page_count check after isolation, NR_ISOLATED not restored"

    def pinned_after_isolation(self, page):
        """A GUP pin prevents migration: expect the mapping's reference and the isolation's."""
        return k.page_count(page) != 2

    def put_back_refused(self, page):
        """The page failed the count check after isolation: put it back and leave
        through out_keep_locked, so NR_ISOLATED stays raised."""
        self.putback_lru_page(page)


class V38(Mel):
    variant = "v3.8"
    summary = "v3.8 (04fa5d6a6547): page_count check after isolation, NR_ISOLATED restored"

    def put_back_refused(self, page):
        """Put it back, clear `isolated` and leave through the exit that restores NR_ISOLATED."""
        self.putback_lru_page(page)
        k.mod_node_page_state(self.pool, page.node, NR_ISOLATED_ANON, -page.nr_pages)


class Hugh(ThpNuma):
    variant = "hugh"
    summary = "Hugh's cleanup: put back inside isolation, unlock before put_page, honest return"

    def do_huge_pmd_numa_page(self, addr, pmd, target):
        """The callee now unlocks the page on every path; this function never does after it."""
        nr = 1 << HPAGE_PMD_ORDER
        locked = self.lock_misplaced_thp(addr, pmd, target)
        if locked is None:
            return 0
        page, current_nid, target_nid = locked
        if self.migrate_misplaced_transhuge_page(addr, pmd, page, target_nid):
            self.task_numa_fault(target_nid, nr, True)
            return 0
        self.check_same(addr, pmd)
        self.task_numa_fault(current_nid, nr, False)
        return 0

    def check_same(self, addr, pmd):
        """After a failed migration: clear the NUMA bit if the pmd is unchanged (the page lock
        is no longer held: the callee dropped it)."""
        mm, ptl = self.mm, self.mm.page_table_lock
        ptl.lock()
        if mm.pmd[addr].load() == pmd:
            mm.pmd[addr].store(state.mknonnuma(pmd))        # clear_pmdnuma
        ptl.unlock()

    def numamigrate_isolate_page(self, node, page):
        """Isolate and account, or return 0 with the caller's reference still held."""
        if not self.migrate_balanced_pgdat(node, 1):
            return 0
        if self.isolate_lru_page(page):
            return 0
        # No migration entries for THPs: refuse a pinned page.  Expected: the mapping,
        # the caller and the isolation.
        if page.order and k.page_count(page) != 3:
            self.putback_lru_page(page)
            return 0
        k.mod_node_page_state(self.pool, page.node, NR_ISOLATED_ANON, page.nr_pages)
        self.put_page(page)                                 # isolation holds it now
        return 1

    def migrate_misplaced_page(self, page, node):
        if k.page_mapcount(page) != 1 or self.numamigrate_update_ratelimit(node, 1):
            self.put_page(page)
            return 0
        isolated = self.numamigrate_isolate_page(node, page)
        if not isolated:
            self.put_page(page)
            return 0
        if self.migrate_pages([page], node):
            return 0
        k.count_vm_events(self.pool, k.NUMA_PAGE_MIGRATE)
        return isolated

    def migrate_misplaced_transhuge_page(self, addr, pmd, page, node):
        nr = page.nr_pages
        if k.page_mapcount(page) != 1 or self.numamigrate_update_ratelimit(node, nr):
            return self.migration_refused(addr, pmd, page)
        new_page = k.alloc_pages_node(self.pool, node, HPAGE_PMD_ORDER)
        if new_page is None:
            return self.thp_migration_failed(addr, pmd, page)
        isolated = self.numamigrate_isolate_page(node, page)
        if not isolated:
            self.put_page(new_page)
            return self.thp_migration_failed(addr, pmd, page)
        if not self.remap_transhuge_page(addr, pmd, page, new_page):
            isolated = 0                                    # failed at the last hurdle: say so
        k.mod_node_page_state(self.pool, page.node, NR_ISOLATED_ANON, -nr)
        return isolated

    def thp_migration_failed(self, addr, pmd, page):
        """out_fail: count the failure, then leave as out_dropref does."""
        k.count_vm_events(self.pool, PGMIGRATE_FAIL, page.nr_pages)
        return self.migration_refused(addr, pmd, page)

    def migration_refused(self, addr, pmd, page):
        """out_dropref: unlock, then drop the caller's reference."""
        k.unlock_page(page)
        self.put_page(page)
        return 0


class HughLockedClear(Hugh):
    """Hugh's cleanup plus the later fix "mm: Close races between THP migration and PMD
    numa clearing" (a54a407fbf77, 3.13): the NUMA bit is cleared only with the page
    locked.  A fault that finds no better node clears it holding the page lock, or
    waits for a migration in flight instead; a migration that fails clears it before
    it unlocks the page, and the fault no longer clears it afterwards.  Without it a
    task can clear the bit while another migrates the page, a write lands in the old
    page, a NUMA scan sets the bit again, and the migration's pmd_same check passes:
    the write is lost."""
    variant = "hugh+a54a407"
    summary = "hugh plus the 3.13 fix: clear_pmdnuma only with the page locked (no lost write)"

    def stay_local(self, addr, pmd, page):
        mm, ptl = self.mm, self.mm.page_table_lock
        if k.trylock_page(page):                            # no migration in flight
            mm.pmd[addr].store(state.mknonnuma(pmd))        # clear_pmdnuma, page locked
            k.unlock_page(page)
            self.put_page(page)
            ptl.unlock()
        else:                                               # wait for it, then retry the fault
            ptl.unlock()
            k.lock_page(page)                               # wait_on_page_locked
            k.unlock_page(page)
            self.put_page(page)

    def check_same(self, addr, pmd):
        """Nothing: a failed migration cleared the bit before it unlocked the page."""

    def migration_refused(self, addr, pmd, page):
        """out_dropref: clear the NUMA bit if the pmd is unchanged, the page still locked."""
        mm, ptl = self.mm, self.mm.page_table_lock
        ptl.lock()
        if mm.pmd[addr].load() == pmd:
            mm.pmd[addr].store(state.mknonnuma(pmd))        # clear_pmdnuma, page locked
        ptl.unlock()
        return super().migration_refused(addr, pmd, page)


class HughPinCheck(Hugh):
    """Hugh's cleanup plus the recheck later kernels make after the copy, under the
    page-table lock: `!pmd_same(*pmd, entry) || page_count(page) != 2` fails the
    migration, so a pin still held at that moment refuses the switch.  On its own
    it does not close the NUMA-clearing race that a54a407 closes: a direct IO can
    pin, write and release the old page between the copy and the recheck."""
    variant = "hugh+pincheck"
    summary = "hugh plus the page_count recheck after the copy that later kernels added"

    def may_remap(self, addr, pmd, page):
        return super().may_remap(addr, pmd, page) and k.page_count(page) == 2


VARIANTS = {"v3.8-rc2": ThpNuma, "mel": Mel, "hugh": Hugh, "v3.8": V38, "hugh+a54a407": HughLockedClear,
            "hugh+pincheck": HughPinCheck}
