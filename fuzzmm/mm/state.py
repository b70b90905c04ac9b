"""The machine the seed model runs on, all of it in the shared pool.

Two NUMA nodes and one address space.  The address space has an mmap_sem
(rwsem), a page_table_lock (spinlock) and a tiny page table: one atomic word
per address.  Addresses below NHUGE hold THP pmds, the rest hold base-page
ptes.  An entry word encodes everything a `pmd_same` compare needs, so that
compare is a plain value compare, as in the kernel:

    none          0
    present       E_PRESENT [| E_NUMA] | page index << 8 | page generation << 24
    migration     E_MIGRATION | page index << 8 | page generation << 24
    swap          E_SWAP | saved data << 8

Everything here lives in the pool because the parent (init, check) and every
worker (one task each) build their own Program object over the same memory:
Python attributes are private to a process, pool words are shared.
"""
from fuzzmm import kernel as k

NODES = 2
NHUGE = 2                   # addresses 0, 1: THP pmds
NADDR = 3                   # address 2: a base-page pte
HUGE_ADDRS = range(NHUGE)
BASE_ADDRS = range(NHUGE, NADDR)
ALL_ADDRS = range(NADDR)

# Node sizes in base pages.  Node 1 is small on purpose: after one THP has
# moved there, a second migration finds it unbalanced (migrate_balanced_pgdat)
# and a third cannot allocate, so the failure paths are reachable.
NODE_PRESENT = (4096, 1536)
NODE_WATERMARK_HIGH = (512, 512)
# numamigrate_update_ratelimit's budget per node.  The kernel's window is
# 100 ms, longer than any run, so the window never expires inside a run.
RATELIMIT_PAGES = k.HPAGE_PMD_NR

E_PRESENT = 1
E_NUMA = 2
E_SWAP = 4
E_MIGRATION = 8


def is_huge(addr):
    return addr < NHUGE


def mk_entry(page, numa=False):
    """A present entry mapping `page` (pmd_mkhuge / mk_pte)."""
    return E_PRESENT | (E_NUMA if numa else 0) | (page.index << 8) | (page.gen << 24)


def mk_migration_entry(page):
    return E_MIGRATION | (page.index << 8) | (page.gen << 24)


def mk_swap_entry(data):
    return E_SWAP | (data << 8)


def entry_present(e):
    return bool(e & E_PRESENT)


def entry_numa(e):
    return bool(e & E_NUMA)


def entry_swap(e):
    return bool(e & E_SWAP)


def entry_migration(e):
    return bool(e & E_MIGRATION)


def entry_index(e):
    return (e >> 8) & 0xffff


def entry_gen(e):
    return e >> 24


def swap_data(e):
    return e >> 8


def mknuma(e):
    return e | E_NUMA


def mknonnuma(e):
    return e & ~E_NUMA


def describe_entry(e):
    if e == 0:
        return "none"
    if entry_swap(e):
        return f"swap(data {swap_data(e)})"
    kind = "migration" if entry_migration(e) else ("present numa" if entry_numa(e) else "present")
    return f"{kind}(page {entry_index(e)} gen {entry_gen(e)})"


class Machine:
    """Shared state of the model: nodes, the mm, the page table, LRU and rate-limit locks, oracle books."""

    def __init__(self, pool):
        self.pool = pool
        self.mmap_sem = pool.rwsem()
        self.page_table_lock = pool.spinlock()
        self.pmd = [pool.atomic(0) for _ in ALL_ADDRS]
        self.lru_lock = [pool.spinlock() for _ in range(NODES)]
        # LRU order: a per-node clock and each page record's time of (re)entry, both
        # written only under that node's lru_lock, so plain peek/poke suffice.
        self.lru_clock = [pool.atomic(0) for _ in range(NODES)]
        self.lru_stamp = [pool.atomic(0) for _ in range(pool.npages)]
        self.ratelimit_lock = [pool.spinlock() for _ in range(NODES)]
        self.ratelimit_nr_pages = [pool.atomic(0) for _ in range(NODES)]
        self.numa_faults = [pool.atomic(0) for _ in range(NODES)]      # task_numa_fault totals
        # Oracle books for user data at each address: a sequence count bumped by
        # every change of what the address may legitimately hold (DMA, zap), and
        # the last direct-IO write nobody raced with: value | sequence << 8.
        self.data_seq = [pool.atomic(0) for _ in ALL_ADDRS]
        self.data_windows = [pool.atomic(0) for _ in ALL_ADDRS]   # zaps and direct IOs in progress
        self.dma_record = [pool.atomic(0) for _ in ALL_ADDRS]
        if not pool.attaching:
            for node in range(NODES):
                k.set_node(pool, node, present=NODE_PRESENT[node],
                           watermark_high=NODE_WATERMARK_HIGH[node])

    def page_of(self, addr, entry):
        """The page a present or migration entry names; a stale entry is a use-after-free."""
        page = self.pool.page(entry_index(entry))
        if page.gen != entry_gen(entry):
            raise k.Finding("use-after-free", f"entry at address {addr} ({describe_entry(entry)}) names "
                                              f"page {page.index}, freed since (now generation {page.gen})",
                            obj=page.obj)
        return page

    def peek_page(self, entry):
        """The page a present entry names, or None if stale: no scheduling point (oracles)."""
        page = self.pool.page(entry_index(entry))
        return page if page.gen == entry_gen(entry) else None
