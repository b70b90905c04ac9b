"""The seed model as it stood in 3.8-rc2: the operations tasks run, over the kernel's paths.

`ThpNuma` is the `v3.8-rc2` variant.  Its kernel functions are methods, so a
variant (fuzzmm.mm.variants) or a user's file overrides exactly the functions
a patch touched.  What rc2 does that the seed thread argues about:

- numamigrate_isolate_page always drops the caller's reference, isolated or
  not, so on its failure paths the page is still locked but the faulting task
  no longer holds a reference of its own when it later calls unlock_page;
- migrate_misplaced_transhuge_page has no page_count check, so a page pinned
  by get_user_pages can be migrated under a DMA in flight;
- when the pmd changed after the copy it still returns 1 ("migrated").

The kernel functions come from mixins that follow the kernel's files:

    numa_fault    the NUMA hinting fault of mm/memory.c, mpol_misplaced, task_numa_fault
    huge_memory   do_huge_pmd_numa_page, from mm/huge_memory.c
    migrate       THP and base-page migration, from mm/migrate.c
    direct_io     O_DIRECT reads (fs/direct-io.c) and the lost-write oracle's data windows
    memory        faults, zap, get_user_pages, the LRU and reclaim (MemoryPaths)

`composed_of` (fuzzmm.mm.compose) has findings and traces name the first four's
functions as ThpNuma's, so a signature reads `kind@ThpNuma.function` whichever
file the function lives in; MemoryPaths's keep their own name.

The model never yields: every primitive is a scheduling point.
"""
from fuzzmm.program import Scenario, op
from fuzzmm.mm import oracles
from fuzzmm.mm import state
from fuzzmm.mm.compose import composed_of
from fuzzmm.mm.direct_io import DirectIOPaths
from fuzzmm.mm.huge_memory import HugeMemoryPaths
from fuzzmm.mm.memory import MemoryPaths
from fuzzmm.mm.migrate import MigratePaths
from fuzzmm.mm.numa_fault import NumaFaultPaths
from fuzzmm.mm.state import ALL_ADDRS, BASE_ADDRS, HUGE_ADDRS, NODES


@composed_of(NumaFaultPaths, HugeMemoryPaths, MigratePaths, DirectIOPaths)
class ThpNuma(NumaFaultPaths, HugeMemoryPaths, MigratePaths, DirectIOPaths, MemoryPaths):
    name = "thp-numa"
    variant = "v3.8-rc2"
    summary = "before the thread: no page_count check on THP migration, put_page before unlock_page"
    tasks = (2, 3)
    ops_per_task = (1, 3)
    pool_config = {"nodes": NODES, "pages": 32, "node_pages": 4096}
    max_steps = 20000
    formats = {"mm.pmd": state.describe_entry}     # page-table entries by what they hold, in traces

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
