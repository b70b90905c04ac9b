"""What makes a run cheap must not change what it gives: the reset between runs, the quick
verdict path, lockdep's shortcut for known dependencies, and the checks' page reads."""
import random

import pytest

from fuzzmm import _core
from fuzzmm import kernel as K
from fuzzmm.detect import lockdep
from fuzzmm.detect.lockdep import LockDep
from fuzzmm.mm.variants import VARIANTS
from fuzzmm.program import Program, Scenario, op
from fuzzmm.sched.schedule import Schedule
from fuzzmm.sched.strategies import PCT, RandomWalk

from programs import LockOrder


def test_a_rewind_puts_back_every_byte_the_snapshot_held(make_executor):
    """After runs of every kind the seed model has (findings among them), rewinding copies
    back only what was written, and the pool's state is the snapshot's, byte for byte."""
    ex = make_executor(VARIANTS["v3.8-rc2"], cpu=0)
    rng, strategies = random.Random(5), [PCT(2), RandomWalk(3)]
    kinds = set()
    for i in range(60):
        scenario = ex.program.random_scenario(rng, swarm=i % 2 == 0)
        result = ex.run(scenario, strategies[i % 2].schedule(scenario.ntasks))
        kinds.add(result.finding.kind if result.finding else None)
        _core.reset_run(ex.pool, ex._snapshot)
        assert ex.pool.snapshot() == ex._snapshot, f"run {i} ({scenario.describe()}) left state behind"
    assert len(kinds) > 1, "the runs should include findings"


def test_a_rewind_puts_back_the_pages_written_outside_any_run(pool):
    """Pages this process allocates and writes itself (as a program's init does) are put back."""
    snap = pool.snapshot()
    pool.restore(snap)
    for index in range(pool.npages):
        K.get_page_unless_zero(pool.page(index))        # a count of 0: writes nothing
    pages = [K.alloc_pages_node(pool, node) for node in (0, 1, 0)]
    for page in pages:
        K.write_page(page, 7)
    pool.rewind(snap)
    assert pool.snapshot() == snap
    assert not pool.pages_in_use()


WRITES = {      # each primitive that writes a page record, on a page set up before the snapshot
    "get_page": lambda pool, page: K.get_page(page),
    "put_page": lambda pool, page: K.put_page(page),
    "get_page_unless_zero": lambda pool, page: K.get_page_unless_zero(page),
    "page_add_rmap": lambda pool, page: K.page_add_rmap(page),
    "page_remove_rmap": lambda pool, page: K.page_remove_rmap(page),
    "trylock_page": lambda pool, page: K.trylock_page(page),
    "lock_page": lambda pool, page: K.lock_page(page),
    "unlock_page": lambda pool, page: K.unlock_page(page),
    "set_page_flag": lambda pool, page: K.set_page_flag(page, K.PG_dirty),
    "clear_page_flag": lambda pool, page: K.clear_page_flag(page, K.PG_lru),
    "write_page": lambda pool, page: K.write_page(page, 9),
    "set_page_mapping": lambda pool, page: K.set_page_mapping(page, 5),
    "alloc_pages_node": lambda pool, page: K.alloc_pages_node(pool, 0),
}


@pytest.mark.parametrize("write", sorted(WRITES))
def test_each_primitive_that_writes_a_page_lists_it_for_the_rewind(pool, write):
    """A page written by any primitive, and by nothing else since the snapshot, is put back."""
    page = K.alloc_pages_node(pool, 0)
    K.get_page(page)
    K.page_add_rmap(page)
    K.set_page_flag(page, K.PG_lru)
    if write == "unlock_page":
        K.lock_page(page)
    snap = pool.snapshot()
    pool.restore(snap)              # from here on, only what the primitive writes is listed
    WRITES[write](pool, page)
    assert pool.snapshot() != snap or write == "get_page_unless_zero"
    pool.rewind(snap)
    assert pool.snapshot() == snap


def test_the_puts_an_operation_forgets_are_put_back(pool):
    """begin_operation clears the task's dropped marks (put-before-unlock): a rewind puts them back."""
    page = K.alloc_pages_node(pool, 0)
    K.get_page(page, own=False)
    _core.set_task(0)
    try:
        K.get_page(page)
        K.put_page(page)            # task 0 put its last own reference: marked on the page
        snap = pool.snapshot()
        pool.restore(snap)
        _core.begin_operation(pool, 1)
        assert pool.snapshot() != snap
        pool.rewind(snap)
        assert pool.snapshot() == snap
    finally:
        _core.set_task(-1)


class Pages(Program):
    """Each task allocates pages, writes and keeps them: a run leaves many pages written."""
    pool_config = {"pages": 5000, "nodes": 1, "node_pages": 100000}
    tasks = (1, 2)

    @op(n=(600, 2500))
    def fill(self, n):
        for _ in range(n):
            page = K.alloc_pages_node(self.pool, 0)
            K.write_page(page, 1)


def test_a_run_that_writes_more_pages_than_a_rewind_lists_is_reset_whole(make_executor):
    """Runs that write a few pages, then more than 4,096, then a few again, each start
    from the snapshot."""
    ex = make_executor(Pages, cpu=0)
    for n in (600, 2500, 600):
        result = ex.run(Scenario.of([[("fill", (n,))], [("fill", (n,))]]))
        assert result.ok, result.finding
        _core.reset_run(ex.pool, ex._snapshot)
        assert ex.pool.snapshot() == ex._snapshot


def test_pages_in_use_reads_what_each_page_record_says(pool):
    """pages_in_use gives, for each page in use and only those, what its state() says."""
    page = K.alloc_pages_node(pool, 1, order=9)
    K.get_page(page)
    K.lock_page(page)
    other = K.alloc_pages_node(pool, 0)
    K.set_page_flag(other, K.PG_lru)
    want = []
    for index in range(pool.npages):
        rec = pool.page(index).state()
        assert pool.page(index).in_use == rec["in_use"]
        if rec["in_use"]:
            want.append((index, rec["refcount"], rec["mapcount"], rec["flags"], rec["node"], rec["order"],
                         rec["lock_owner"]))
    assert pool.pages_in_use() == want and len(want) == 2


def test_lock_edge_keys_are_the_dependencies_lockdep_scan_finds_in_its_order(make_executor):
    """The keys lockdep reads in C are lockdep_scan's, in the order it adds them."""
    ex = make_executor(VARIANTS["v3.8-rc2"], cpu=0, lockdep=False)
    rng, pct = random.Random(9), PCT(4)
    nonempty = 0
    for _ in range(40):
        scenario = ex.program.random_scenario(rng)
        ex.run(scenario, pct.schedule(scenario.ntasks))
        edges = {}
        _core.lockdep_scan(ex.pool, edges)
        assert _core.lock_edge_keys(ex.pool) == tuple(edges)
        nonempty += bool(edges)
    assert nonempty


def test_lockdep_answers_a_known_run_as_it_would_have_without_the_shortcut(make_executor, monkeypatch):
    """Runs that repeat dependencies already observed get the answer the full observation
    gives: the same findings, in the same runs."""
    ex = make_executor(LockOrder, cpu=0, lockdep=False)
    scenarios = [Scenario.of(tasks) for tasks in ([[("ab", ())]], [[("ba", ())]], [[("ab", ())], [("ba", ())]],
                                                  [[("ba", ())], [("ab", ())]])]
    runs = [(scenarios[i % 4], Schedule.of_switches([(s, 1)]) if s else Schedule()) for i, s in
            enumerate([0, 0, 0, 0, 2, 3, 0, 2, 5, 3, 0, 0, 1, 2, 3, 4])]

    def findings(limit):
        monkeypatch.setattr(lockdep, "_SEEN_LIMIT", limit)
        dep, out = LockDep(), []
        for scenario, schedule in runs:
            result = ex.run(scenario, schedule)
            found = dep.observe(ex.pool, ex.object_names) if result.ok else result.finding
            out.append(found and (found.kind, found.message, found.function, found.task))
        return out, len(dep.seen)
    quick, seen = findings(4096)
    slow, none = findings(0)
    assert seen and not none
    assert quick == slow and any(quick)


class Plain(Program):
    """No init and no check of its own."""

    @op()
    def nothing(self):
        pass


def test_a_program_without_init_or_check_of_its_own_runs_neither(make_executor):
    """Program's own init and check do nothing, and a run does not call them."""
    ex = make_executor(Plain, cpu=0)
    assert not ex._has_init and not ex._has_check
    assert ex.run(Scenario.of([[("nothing", ())]])).ok
