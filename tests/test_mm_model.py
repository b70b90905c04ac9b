"""The seed model (fuzzmm.mm): each path alone, and the seed hazards emulated in sequence.

Outside a scheduled run every primitive runs free, so a test can call a
variant's operations and kernel functions one after another, playing two
tasks by hand.  Races cannot be interleaved that way; where a hazard needs
one, the test stands in for the other task (an extra reference, a pin held
across a migration, an unmap or a pmd change at a chosen point) and checks
the variants the seed thread says differ do differ.
"""
import json
import itertools

import pytest

from fuzzmm import _core
from fuzzmm import kernel as k
from fuzzmm.errors import Finding
from fuzzmm.models import load_model
from fuzzmm.pool import Pool
from fuzzmm.program import Scenario
from fuzzmm.sched.schedule import Schedule
from fuzzmm.mm import state
from fuzzmm.mm.base import ThpNuma
from fuzzmm.mm.direct_io import DirectIOPaths
from fuzzmm.mm.huge_memory import HugeMemoryPaths
from fuzzmm.mm.memory import MemoryPaths
from fuzzmm.mm.migrate import MigratePaths
from fuzzmm.mm.numa_fault import NumaFaultPaths
from fuzzmm.mm.variants import VARIANTS, Hugh, Mel, V38

NAMES = ["v3.8-rc2", "mel", "hugh", "v3.8"]      # the seed thread's four
SCENARIO = Scenario.of([[("fault", (0, 0))]])


@pytest.fixture
def make():
    """Build a variant over a fresh pool, at the state every scenario starts from.  A finding
    raised inside a spinlock leaves this process's held-spinlock count up: reset it after."""
    pools = []

    def build(cls):
        pool = Pool.create(**cls.pool_config)
        pools.append(pool)
        prog = cls().bind(pool)
        prog.init(SCENARIO)
        return prog
    yield build
    _core.set_task(-1)
    for pool in pools:
        pool.close()


def entry(prog, addr):
    return prog.mm.pmd[addr].peek()


def mapped_page(prog, addr):
    e = entry(prog, addr)
    assert state.entry_present(e), state.describe_entry(e)
    return prog.mm.peek_page(e)


def fires(kind, call, *args):
    with pytest.raises(Finding) as info:
        call(*args)
    _core.set_task(_core.current_task())                      # forget spinlocks the finding left held
    assert info.value.kind == kind, str(info.value)
    return info.value.message


# ---- the model as a whole ----

def test_the_builtin_model_lists_the_four_variants():
    """`thp-numa` loads with v3.8-rc2, mel, hugh and v3.8 (and hugh with the later fix), each with a summary."""
    model = load_model("thp-numa")
    assert model.name == "thp-numa"
    assert list(model.variants) == ["v3.8-rc2", "mel", "hugh", "v3.8", "hugh+a54a407", "hugh+pincheck"]
    for name, ref in model.variants.items():
        cls = ref.load()
        assert cls is VARIANTS[name] and cls.variant == name and cls.summary


def test_variants_override_only_what_their_patch_changed():
    """mel adds the count check after isolation and its exit, v3.8 only that exit;
    hugh the functions of his cleanup."""
    def own(cls):
        return {name for name, value in vars(cls).items() if callable(value)}
    assert own(Mel) == {"pinned_after_isolation", "put_back_refused"}
    assert own(V38) == {"put_back_refused"} and issubclass(V38, Mel)
    assert own(Hugh) == {"do_huge_pmd_numa_page", "numamigrate_isolate_page", "migrate_misplaced_page",
                         "migrate_misplaced_transhuge_page", "thp_migration_failed", "check_same",
                         "migration_refused"}


def test_findings_name_the_kernel_file_mixins_functions_after_thpnuma():
    """Signatures and traces say `ThpNuma.do_huge_pmd_numa_page` whichever kernel file's
    mixin holds the function; MemoryPaths's keep their own name, and each function's
    __qualname__ still says where it is defined."""
    for mixin in (NumaFaultPaths, HugeMemoryPaths, MigratePaths, DirectIOPaths):
        assert mixin in ThpNuma.__mro__
        for name, value in vars(mixin).items():
            if callable(value):
                assert value.__code__.co_qualname == f"ThpNuma.{name}"
                assert value.__qualname__ == f"{mixin.__name__}.{name}"
    nested = [c for c in ThpNuma.migrate_pages.__code__.co_consts if hasattr(c, "co_qualname")]
    assert nested and all(c.co_qualname.startswith("ThpNuma.migrate_pages.") for c in nested)
    assert MemoryPaths.zap_page_range.__code__.co_qualname == "MemoryPaths.zap_page_range"


def test_operations_have_small_finite_domains():
    """Every operation's arguments come from a small domain, and a scenario validates."""
    ops = ThpNuma.ops()
    assert set(ops) == {"fault", "numa_scan", "numa_fault", "base_numa_fault", "direct_io_read",
                        "madvise_dontneed", "munmap", "reclaim"}
    assert all(len(values) <= 3 for domains in ops.values() for _, values in domains)
    ThpNuma().validate(ThpNuma().default_scenario())


def test_init_builds_numa_marked_mappings_on_the_lru(make):
    """init maps a THP at 0 and 1 and a base page at 2, on node 0, NUMA-marked, and check() holds."""
    prog = make(ThpNuma)
    for addr in state.ALL_ADDRS:
        assert state.entry_numa(entry(prog, addr))
        rec = mapped_page(prog, addr).state()
        assert rec["node"] == 0 and rec["order"] == (9 if state.is_huge(addr) else 0)
        assert rec["refcount"] == rec["mapcount"] == 1 and rec["flags"] & k.PG_lru
    assert k.vmstat(prog.pool, 0, k.NR_INACTIVE_ANON) == 2 * k.HPAGE_PMD_NR + 1
    prog.check(SCENARIO)


@pytest.mark.parametrize("variant", NAMES)
def test_every_operation_runs_cleanly_alone(make, variant):
    """Each operation with each argument, alone after init, raises nothing and leaves check() passing."""
    cls = VARIANTS[variant]
    for name, domains in cls.ops().items():
        for args in itertools.product(*[values for _, values in domains]):
            prog = make(cls)
            getattr(prog, name)(*args)
            prog.check(SCENARIO)
            prog.pool.close()


# ---- each path doing its job ----

@pytest.mark.parametrize("variant", NAMES)
def test_numa_fault_migrates_a_thp_with_its_data(make, variant):
    """A hinting fault asking for node 1 moves the THP there, data and accounting intact."""
    prog = make(VARIANTS[variant])
    prog.direct_io_read(0, 2)
    prog.numa_scan(0)
    old = mapped_page(prog, 0)
    prog.numa_fault(0, 1)
    new = mapped_page(prog, 0)
    assert new.node == 1 and new.state()["content"] == 2 and not state.entry_numa(entry(prog, 0))
    assert old.state()["gen"] != old.gen                      # the old page was freed
    assert prog.last_numa_fault == (1, k.HPAGE_PMD_NR, True)
    assert k.vm_event(prog.pool, k.PGMIGRATE_SUCCESS) == k.HPAGE_PMD_NR
    prog.check(SCENARIO)


@pytest.mark.parametrize("variant", NAMES)
def test_a_local_hint_only_clears_the_numa_bit(make, variant):
    """A hinting fault asking for the node the page is on leaves it there and clears the mark."""
    prog = make(VARIANTS[variant])
    page = mapped_page(prog, 1)
    prog.numa_fault(1, 0)
    assert mapped_page(prog, 1) == page and not state.entry_numa(entry(prog, 1))
    assert prog.last_numa_fault == (0, k.HPAGE_PMD_NR, False)
    prog.check(SCENARIO)


@pytest.mark.parametrize("variant", NAMES)
def test_base_numa_fault_migrates_a_base_page(make, variant):
    """The base-page hinting fault moves the page through generic migration."""
    prog = make(VARIANTS[variant])
    prog.direct_io_read(2, 1)
    prog.numa_scan(2)
    prog.base_numa_fault(2, 1)
    page = mapped_page(prog, 2)
    assert page.node == 1 and page.state()["content"] == 1
    assert prog.last_numa_fault == (1, 1, True) and k.vm_event(prog.pool, k.PGMIGRATE_SUCCESS) == 1
    prog.check(SCENARIO)


@pytest.mark.parametrize("variant", NAMES)
def test_generic_migration_refuses_a_pinned_base_page(make, variant):
    """A get_user_pages pin makes the refcount check fail: the base page stays, mapped again."""
    prog = make(VARIANTS[variant])
    pinned = prog.get_user_pages(2, 0)                        # clears the NUMA mark, then pins
    prog.numa_scan(2)
    prog.base_numa_fault(2, 1)
    assert mapped_page(prog, 2) == pinned
    assert prog.last_numa_fault[2] is False and k.vm_event(prog.pool, k.PGMIGRATE_FAIL) == 1
    prog.put_page(pinned)
    prog.check(SCENARIO)


@pytest.mark.parametrize("variant", NAMES)
def test_reclaim_swaps_out_and_a_fault_brings_the_data_back(make, variant):
    """Reclaim swaps the oldest page out with its data; a fault on another node restores it."""
    prog = make(VARIANTS[variant])
    prog.direct_io_read(0, 2)
    prog.reclaim(0)
    assert entry(prog, 0) == state.mk_swap_entry(2)
    prog.check(SCENARIO)
    prog.fault(0, 1)
    page = mapped_page(prog, 0)
    assert page.node == 1 and page.state()["content"] == 2
    prog.check(SCENARIO)


@pytest.mark.parametrize("variant", NAMES)
def test_reclaim_keeps_a_pinned_page(make, variant):
    """Reclaim puts back a page someone else holds a reference to."""
    prog = make(VARIANTS[variant])
    pinned = prog.get_user_pages(0, 0)
    prog.reclaim(0)
    assert mapped_page(prog, 0) == pinned and pinned.state()["flags"] & k.PG_lru
    prog.put_page(pinned)
    prog.check(SCENARIO)


@pytest.mark.parametrize("variant", NAMES)
def test_zap_frees_the_page(make, variant):
    """madvise(MADV_DONTNEED) and munmap clear the entry and free the page."""
    prog = make(VARIANTS[variant])
    pages = [mapped_page(prog, 0), mapped_page(prog, 2)]
    prog.madvise_dontneed(0)
    prog.munmap(2)
    assert entry(prog, 0) == entry(prog, 2) == 0
    assert all(not p.state()["in_use"] for p in pages)
    prog.check(SCENARIO)


# ---- the oracles on broken states ----

def test_oracles_name_what_is_broken(make):
    """A leaked isolation count, an extra reference, an unlocked-LRU page and lost data each fail check()."""
    prog = make(ThpNuma)
    k.mod_node_page_state(prog.pool, 1, k.NR_ISOLATED_ANON, 512)
    assert "NR_ISOLATED_ANON on node 1" in fires("counter-leak", prog.check, SCENARIO)
    k.mod_node_page_state(prog.pool, 1, k.NR_ISOLATED_ANON, -512)
    page = mapped_page(prog, 1)
    k.get_page(page)
    assert "refcount 2" in fires("refcount-leak", prog.check, SCENARIO)
    prog.put_page(page)
    assert prog.isolate_lru_page(page) == 0
    k.put_page(page)                                          # isolation reference gone, page off the LRU
    k.mod_node_page_state(prog.pool, 0, k.NR_INACTIVE_ANON, 0)
    assert "on no LRU" in fires("unreclaimable-page", prog.check, SCENARIO)


def test_unmapping_a_page_without_holding_its_lock_is_an_assertion(make):
    """try_to_unmap and pageout need the page lock held by the caller itself (the kernel's
    BUG_ON(!PageLocked)): without it they fail at once, with it they unmap."""
    prog = make(ThpNuma)
    page = mapped_page(prog, state.BASE_ADDRS[0])
    assert "without holding its page lock" in fires("assertion", prog.try_to_unmap, page)
    assert "without holding its page lock" in fires("assertion", prog.pageout, page)
    k.lock_page(page)
    assert prog.try_to_unmap(page) == 1
    k.unlock_page(page)


def test_a_write_lost_before_quiescence_is_caught_by_check(make):
    """If the data a clean direct-IO read left is gone at the end, check() reports lost-write."""
    prog = make(ThpNuma)
    prog.direct_io_read(1, 1)
    k.write_page(mapped_page(prog, 1), 0)
    assert "holds 0" in fires("lost-write", prog.check, SCENARIO)


# ---- the seed hazards, emulated in sequence ----

@pytest.mark.parametrize("variant", NAMES)
def test_h1_an_extra_reference_leaks_nr_isolated_only_on_mel(make, variant):
    """H1: a reference held by a second faulting task fails the page_count check after isolation;
    only mel leaves NR_ISOLATED_ANON raised."""
    prog = make(VARIANTS[variant])
    page = mapped_page(prog, 0)
    k.get_page(page)                                          # the other task's reference
    prog.numa_fault(0, 1)
    prog.put_page(page)
    if variant == "mel":
        assert mapped_page(prog, 0) == page                   # put back, not migrated
        assert "NR_ISOLATED_ANON on node 0 is 512" in fires("counter-leak", prog.check, SCENARIO)
    else:
        prog.check(SCENARIO)
        assert (mapped_page(prog, 0) == page) == (variant != "v3.8-rc2")   # rc2 has no check


@pytest.mark.parametrize("variant", NAMES)
def test_h3_a_pin_held_across_thp_migration_loses_the_write_only_on_rc2(make, variant):
    """H3: direct IO pins the THP, migration copies and switches the pmd, the DMA lands in the
    old page: the task reads back the copy.  The page_count check of the other variants refuses."""
    prog = make(VARIANTS[variant])
    io = prog.dio_submit(0)
    prog.numa_scan(0)                                          # the pin cleared the mark: scan again
    prog.numa_fault(0, 1)
    if variant == "v3.8-rc2":
        assert "reads back 0" in fires("lost-write", prog.dio_complete, 0, io, 2)
        return
    prog.dio_complete(0, io, 2)
    assert mapped_page(prog, 0).state()["content"] == 2
    if variant == "mel":                                       # refused, but through H1's exit
        fires("counter-leak", prog.check, SCENARIO)
    else:
        prog.check(SCENARIO)


class UnmapAfterFailedMigration:
    """Another task's madvise(MADV_DONTNEED) runs the moment THP migration gives up."""

    def migrate_misplaced_transhuge_page(self, addr, pmd, page, node):
        migrated = super().migrate_misplaced_transhuge_page(addr, pmd, page, node)
        if not migrated:
            self.zap_page_range(addr)
        return migrated


@pytest.mark.parametrize("variant", NAMES)
def test_h4_an_unmap_after_a_failed_migration_frees_a_locked_page_except_on_hugh(make, variant):
    """H4: with the target node unbalanced, isolation fails; rc2, mel and v3.8 have already
    dropped the fault's reference while the page is locked, so the unmap frees a locked page."""
    cls = type(f"Racy{VARIANTS[variant].__name__}", (UnmapAfterFailedMigration, VARIANTS[variant]), {})
    prog = make(cls)
    k.set_node(prog.pool, 1, watermark_high=k.node_info(prog.pool, 1)["present"])
    if variant == "hugh":
        prog.numa_fault(0, 1)
        assert entry(prog, 0) == 0
        prog.check(SCENARIO)
    else:
        assert "PG_locked" in fires("bad-page-state", prog.numa_fault, 0, 1)


class PmdChangesAfterCopy:
    """Another task's local hinting fault clears the NUMA mark while the THP is being copied."""

    def migrate_page_copy(self, new_page, page):
        super().migrate_page_copy(new_page, page)
        for addr in state.HUGE_ADDRS:
            e = self.mm.pmd[addr].peek()
            if state.entry_present(e) and state.entry_index(e) == page.index:
                self.mm.pmd[addr].store(state.mknonnuma(e))


@pytest.mark.parametrize("variant", NAMES)
def test_a_migration_that_failed_at_the_last_hurdle_is_reported_as_one_except_on_hugh(make, variant):
    """misaccounting: when the pmd changed after the copy, rc2, mel and v3.8 still tell
    task_numa_fault the page migrated; hugh says it did not."""
    cls = type(f"Late{VARIANTS[variant].__name__}", (PmdChangesAfterCopy, VARIANTS[variant]), {})
    prog = make(cls)
    page = mapped_page(prog, 0)
    if variant == "hugh":
        prog.numa_fault(0, 1)
        assert prog.last_numa_fault == (0, k.HPAGE_PMD_NR, False)
    else:
        assert "still maps it" in fires("misaccounting", prog.numa_fault, 0, 1)
    assert mapped_page(prog, 0) == page
    assert k.vmstat(prog.pool, 0, k.NR_ISOLATED_ANON) == 0


@pytest.mark.parametrize("variant", NAMES)
def test_put_before_unlock_on_a_failure_path_needs_no_race_except_on_hugh(make, variant):
    """As a scheduled task, rc2, mel and v3.8 unlock the page after isolation dropped the
    fault's reference whenever isolation fails; hugh unlocks first."""
    prog = make(VARIANTS[variant])
    k.set_node(prog.pool, 1, watermark_high=k.node_info(prog.pool, 1)["present"])
    _core.set_task(0)                                         # own references are counted per task
    try:
        prog.numa_fault(0, 1)
    finally:
        _core.set_task(-1)
    hazards = [json.loads(detail) for _, _, detail in _core.latent_hazards(prog.pool)]
    if variant == "hugh":
        assert hazards == []
    else:
        assert [h["kind"] for h in hazards] == ["put-before-unlock"]
        assert "unlock_page" in hazards[0]["message"]
    if variant == "hugh":
        prog.check(SCENARIO)


# ---- under the executor, in worker processes ----

H1 = Scenario.of([[("numa_fault", (0, 1))], [("numa_fault", (0, 1))]])
H3 = Scenario.of([[("direct_io_read", (0, 1))], [("numa_scan", (0,)), ("numa_fault", (0, 1))]])


def kinds_over_single_switches(ex, scenario):
    """The finding kinds of every schedule that switches to task 1 once, at each step."""
    steps = ex.run(scenario).steps
    return {r.finding.kind if r.finding else "ok"
            for r in (ex.run(scenario, Schedule.of_switches([(s, 1)])) for s in range(1, steps + 2))}


@pytest.mark.parametrize("variant", NAMES)
def test_single_switches_in_workers_show_h3_only_on_rc2(make_executor, variant):
    """Run in worker processes: some one-switch schedule of IO against migration loses the write
    on rc2, none does on the others, and hugh and v3.8 never leak NR_ISOLATED."""
    ex = make_executor(VARIANTS[variant], workers=2)
    kinds = kinds_over_single_switches(ex, H3) | kinds_over_single_switches(ex, H1)
    assert ("lost-write" in kinds) == (variant == "v3.8-rc2")
    if variant in ("hugh", "v3.8"):
        assert "counter-leak" not in kinds
    if variant == "hugh":
        assert kinds == {"ok"}
    assert not kinds & {"error", "assertion", "deadlock", "hang", "refcount-leak", "unreclaimable-page"}


class ClearsOnlyWhenStayingLocal(VARIANTS["hugh+a54a407"]):
    """Half of a54a407: the fault that stays local clears the bit under the page lock, but a
    failed migration still leaves the clearing to the fault, after the page is unlocked."""
    variant = "half-a54a407"
    check_same = Hugh.check_same
    migration_refused = Hugh.migration_refused


FAILED_MIGRATION_CLEARS = Scenario.of([[("numa_fault", (0, 1))],
                                       [("direct_io_read", (0, 1)), ("numa_scan", (0,))],
                                       [("reclaim", (0,)), ("numa_fault", (0, 1))]])


@pytest.mark.parametrize("variant, lost", [(ClearsOnlyWhenStayingLocal, True), (VARIANTS["hugh+a54a407"], False)])
def test_a54a407_clears_the_numa_bit_with_the_page_locked_after_a_failed_migration_too(make_executor, variant, lost):
    """A migration that fails and unlocks before the bit is cleared lets a second migration copy the
    page while a direct IO pins and writes it; clearing before the unlock closes that."""
    ex = make_executor(variant, workers=3)
    switches = [(12, 1), (28, 2), (80, 1), (87, 2), (95, 2), (118, 0)]
    result = ex.run(FAILED_MIGRATION_CLEARS, Schedule.of_switches(switches))
    assert (result.finding is not None and result.finding.kind == "lost-write") == lost, result.finding


class GupWithoutPin(VARIANTS["hugh+a54a407"]):
    """get_user_pages that returns the page without taking a reference (FOLL_GET forgotten)."""
    variant = "gup-without-pin"

    def get_user_pages(self, addr, node):
        from fuzzmm.mm.memory import GUP_RETRIES
        ptl = self.mm.page_table_lock
        for _ in range(GUP_RETRIES):
            ptl.lock()
            entry = self.mm.pmd[addr].load()
            if state.entry_present(entry) and not state.entry_numa(entry):
                page = self.mm.page_of(addr, entry)
                ptl.unlock()
                return page
            ptl.unlock()
            self.handle_mm_fault(addr, node)
        return None


def test_a_stale_page_table_entry_tells_of_the_bad_free_before_it(make_executor):
    """The direct IO's unbalanced put frees a still-mapped page; the later use through the page table
    is the finding, and its message names that bad free."""
    ex = make_executor(GupWithoutPin, workers=2)
    finding = ex.run(Scenario.of([[("direct_io_read", (0, 1))], [("madvise_dontneed", (0,))]])).finding
    assert finding.signature == "use-after-free@Machine.page_of"
    assert "; before that, at step " in finding.message
    assert "ThpNuma.dio_complete: page 0 freed with mapcount 1" in finding.message


USER_FILE = '''
from fuzzmm import kernel as k
from fuzzmm.kernel import NR_ISOLATED_ANON
from fuzzmm.mm.variants import Hugh


class HughWithoutCountCheck(Hugh):
    variant = "hugh-no-count-check"
    summary = "Hugh's cleanup with the page_count check taken out again"

    def numamigrate_isolate_page(self, node, page):
        if not self.migrate_balanced_pgdat(node, 1) or self.isolate_lru_page(page):
            return 0
        k.mod_node_page_state(self.pool, page.node, NR_ISOLATED_ANON, page.nr_pages)
        self.put_page(page)
        return 1
'''


def test_a_user_file_overrides_one_function_of_a_variant(tmp_path, make):
    """A model file subclassing hugh and replacing only numamigrate_isolate_page brings H3 back."""
    path = tmp_path / "nocheck.py"
    path.write_text(USER_FILE)
    model = load_model(str(path))
    assert model.name == "thp-numa" and list(model.variants) == ["hugh-no-count-check"]
    prog = make(model.ref("hugh-no-count-check").load())
    io = prog.dio_submit(0)
    prog.numa_scan(0)
    prog.numa_fault(0, 1)
    fires("lost-write", prog.dio_complete, 0, io, 2)
