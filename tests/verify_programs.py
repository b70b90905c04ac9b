"""Small programs the verification tests explore, each with shared state whose final value
tells schedules apart, so that a schedule the reduction wrongly skipped shows as a
missing outcome."""
from fuzzmm import kernel as k
from fuzzmm.program import Program, Scenario, op


class TwoLocks(Program):
    """Three tasks over two mutexes and the counters they guard: nested and single
    critical sections, a read of one counter outside its lock, a task that touches
    neither lock."""
    name = "two-locks"
    tasks = (3, 3)

    def setup(self, pool):
        self.a, self.b = pool.mutex(), pool.mutex()
        self.x, self.y, self.z = pool.atomic(0), pool.atomic(0), pool.atomic(0)

    @op()
    def nested(self):
        self.a.lock()
        self.x.store(self.x.load() + 1)
        self.b.lock()
        self.y.store(self.y.load() * 2 + self.x.load())
        self.b.unlock()
        self.a.unlock()

    @op()
    def b_then_a(self):
        self.b.lock()
        seen = self.y.load()
        self.b.unlock()
        self.a.lock()
        self.x.store(self.x.load() * 3 + seen)
        self.a.unlock()

    @op()
    def peek_x(self):
        self.z.store(self.x.load() + 10)        # x read without its lock
        self.z.add(1)

    def default_scenario(self):
        return Scenario.of([[("nested", ())], [("b_then_a", ())], [("peek_x", ())]])


class PageRefs(Program):
    """A page shared through a slot: readers take a reference with get_page_unless_zero and
    read it, a writer writes it, and the owner drops the mapping's reference, which frees
    it once no reader holds one.  The buggy variant's reader takes its reference with
    get_page, after the free: a use-after-free in some schedules."""
    name = "page-refs"
    variant = "speculative"
    tasks = (2, 3)

    def setup(self, pool):
        self.slot = pool.atomic(-1)
        self.seen = pool.atomic(0)

    def init(self, scenario):
        page = k.alloc_pages_node(self.pool, 0)
        k.write_page(page, 7)
        self.slot.poke(page.index)

    @op()
    def reader(self):
        page = self.pool.page(self.slot.load())
        if k.get_page_unless_zero(page):
            self.seen.add(k.read_page(page))
            k.put_page(page)

    @op(value=(1, 2))
    def writer(self, value):
        page = self.pool.page(self.slot.load())
        if k.get_page_unless_zero(page):
            k.write_page(page, k.read_page(page) * 10 + value)
            k.put_page(page)

    @op()
    def release(self):
        page = self.pool.page(self.slot.load())
        k.put_page(page, own=False)             # the mapping's reference, taken at init

    def default_scenario(self):
        return Scenario.of([[("reader", ())], [("writer", (1,))], [("release", ())]])


class PageRefsGetPage(PageRefs):
    variant = "get-page"

    def reader(self):
        page = self.pool.page(self.slot.load())
        k.get_page(page)                        # no check that the page is still alive
        self.seen.add(k.read_page(page))
        k.put_page(page)


class ReadersWriter(Program):
    """Readers under an rwsem for read count events and read a value a writer changes under
    the rwsem for write; one reader also counts outside it.  Readers taking and releasing
    the rwsem commute, as two event counts do; neither commutes with the writer."""
    name = "readers-writer"
    tasks = (3, 3)

    def setup(self, pool):
        self.sem = pool.rwsem()
        self.value = pool.atomic(1)
        self.sum = pool.atomic(0)

    @op()
    def read(self):
        self.sem.down_read()
        k.count_vm_events(self.pool, k.PGFAULT)
        self.sum.add(self.value.load())
        self.sem.up_read()

    @op()
    def write(self):
        self.sem.down_write()
        self.value.store(self.value.load() + 5)
        self.sem.up_write()

    @op()
    def count(self):
        k.count_vm_events(self.pool, k.PGFAULT)
        self.sum.add(k.vm_event(self.pool, k.PGFAULT) * 100)    # read without a scheduling point

    def default_scenario(self):
        return Scenario.of([[("read", ())], [("write", ())], [("count", ())]])


class Independent(Program):
    """Tasks on objects of their own but for one shared counter each touches once: most
    orders are equivalent, and the reduction runs far fewer schedules."""
    name = "independent"
    tasks = (2, 3)

    def setup(self, pool):
        self.own = [pool.atomic(0) for _ in range(3)]
        self.shared = pool.atomic(0)

    @op(n=range(1, 4))
    def work(self, n):
        from fuzzmm._core import current_task
        mine = self.own[current_task()]
        for _ in range(n):
            mine.store(mine.load() + 1)
        self.shared.store(self.shared.load() * 2 + current_task())

    def default_scenario(self):
        return Scenario.of([[("work", (3,))], [("work", (3,))], [("work", (2,))]])
