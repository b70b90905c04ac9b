"""Page migration, after mm/migrate.c: NUMA balancing's entry points and the generic path.

migrate_misplaced_transhuge_page moves a THP in place: 3.8 has no migration
entries for THPs, so the pmd switches from the old page to the copy under the
page-table lock.  migrate_misplaced_page hands a base page to the generic
migrate_pages, which unmaps it into migration entries, copies it and maps the
copy.  Both first pass the NUMA rate limit and isolate the page
(numamigrate_isolate_page).  This is the v3.8-rc2 text; the variants
(fuzzmm.mm.variants) override what their patches changed.  try_to_unmap is
mm/rmap.c's, here beside its one caller.
"""
from fuzzmm import kernel as k
from fuzzmm.kernel import HPAGE_PMD_ORDER, NR_ISOLATED_ANON, PGMIGRATE_FAIL, PGMIGRATE_SUCCESS
from fuzzmm.mm import state
from fuzzmm.mm.state import BASE_ADDRS

EAGAIN = -11
ENOMEM = -12
MIGRATE_PASSES = 3          # migrate_pages retries -EAGAIN pages (10 passes in the kernel)


class MigratePaths:
    """mm/migrate.c as of 3.8-rc2: NUMA migration of THPs and of base pages, over
    MemoryPaths' LRU isolation, putback and put_page."""

    # ---- NUMA migration helpers ----

    def numamigrate_update_ratelimit(self, node, nr_pages):
        """True if `node` already took its budget of migrated pages this window; else
        charge `nr_pages` to it, before the migration is known to succeed."""
        lock = self.mm.ratelimit_lock[node]
        budget = self.mm.ratelimit_nr_pages[node]
        lock.lock()
        limited = budget.load() > state.RATELIMIT_PAGES
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
        mm.pmd[addr].store(state.mk_entry(new_page))
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
            if state.entry_present(e) and state.entry_index(e) == page.index and state.entry_gen(e) == page.gen:
                self.mm.pmd[addr].store(state.mk_migration_entry(page))
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
        want = state.mk_migration_entry(old)
        reused = 0
        ptl.lock()
        for addr in BASE_ADDRS:
            if self.mm.pmd[addr].load() == want:
                if reused < held:
                    reused += 1
                else:
                    k.get_page(new)
                k.page_add_rmap(new)
                self.mm.pmd[addr].store(state.mk_entry(new))
        ptl.unlock()
        return reused
