"""Small programs the scheduler tests run: each shows one way a run can go wrong."""
import os
import signal
import subprocess
import sys
import time

from fuzzmm import kernel as k
from fuzzmm.program import Program, Scenario, op


class LockOrder(Program):
    """Two tasks take two mutexes in opposite orders."""
    name = "lock-order"
    tasks = (2, 2)

    def setup(self, pool):
        self.a = pool.mutex()
        self.b = pool.mutex()

    @op()
    def ab(self):
        self.a.lock()
        self.b.lock()
        self.b.unlock()
        self.a.unlock()

    @op()
    def ba(self):
        self.b.lock()
        self.a.lock()
        self.a.unlock()
        self.b.unlock()

    def default_scenario(self):
        return Scenario.of([[("ab", ())], [("ba", ())]])


class MutexTrylock(LockOrder):
    """A mutex trylock while the other order is held: it cannot wait, so neither a
    failed nor a successful one closes a lock-order cycle."""
    name = "mutex-trylock"
    ops_per_task = (1, 2)

    @op()
    def poll_a(self):
        if self.a.trylock():
            self.a.unlock()

    @op()
    def b_then_try_a(self):
        self.b.lock()
        if self.a.trylock():
            self.a.unlock()
        self.b.unlock()


class LockOrderWithBystander(LockOrder):
    """The two orders and a third task that takes no lock: the deadlock can be noticed
    as the bystander ends, not as the second waiter blocks."""
    name = "lock-order-bystander"
    tasks = (3, 3)

    def setup(self, pool):
        super().setup(pool)
        self.count = pool.atomic(0)

    @op()
    def bystander(self):
        self.count.add(1)


class LockOrderWithWaiter(LockOrder):
    """The two orders and a third task that only waits for `a`: it may block last, but it is
    not in the cycle."""
    name = "lock-order-waiter"
    tasks = (3, 3)

    @op()
    def wait_a(self):
        self.a.lock()
        self.a.unlock()


class HiddenTake(LockOrder):
    """The two orders, each lock taken through a helper that hides itself from reports
    (`__tracebackhide__`), as a kernel-style wrapper does."""
    name = "hidden-take"

    def setup(self, pool):
        super().setup(pool)
        self.calls = pool.atomic(0)

    def _take(self, lock):
        __tracebackhide__ = True
        lock.lock()

    @op()
    def ab_hidden(self):
        self.calls.add(1)
        self._take(self.a)
        self._take(self.b)
        self.b.unlock()
        self.a.unlock()

    @op()
    def ba_hidden(self):
        self.calls.add(1)
        self._take(self.b)
        self._take(self.a)
        self.a.unlock()
        self.b.unlock()


class SerialLockOrder(LockOrder):
    """One task: the two orders can only follow each other, never deadlock."""
    name = "serial-lock-order"
    tasks = (1, 1)
    ops_per_task = (1, 3)


class Rendezvous(LockOrder):
    """Each task takes its first lock, waits until the other holds one too, then
    takes its second: run free in parallel, the two always deadlock."""
    name = "rendezvous"

    def setup(self, pool):
        super().setup(pool)
        self.holding = pool.atomic(0)

    def _meet(self, first, second):
        first.lock()
        self.holding.add(1)
        while self.holding.load() < 2:
            pass
        second.lock()

    @op()
    def ab_meet(self):
        self._meet(self.a, self.b)

    @op()
    def ba_meet(self):
        self._meet(self.b, self.a)


class LeakedLock(Program):
    """One op returns still holding a mutex; the other waits for it forever."""
    name = "leaked-lock"
    tasks = (2, 2)

    def setup(self, pool):
        self.a = pool.mutex()
        self.taken = pool.atomic(0)

    @op()
    def take(self):
        self.a.lock()
        self.taken.add(1)

    @op()
    def wait(self):
        self.a.lock()
        self.a.unlock()


class Crash(Program):
    """A task that kills its own worker process."""
    name = "crash"
    tasks = (1, 2)

    def setup(self, pool):
        self.counter = pool.atomic(0)

    @op()
    def die(self):
        self.counter.add(1)
        os.kill(os.getpid(), signal.SIGKILL)

    @op()
    def work(self):
        self.counter.add(1)

    def default_scenario(self):
        return Scenario.of([[("die", ())]])


class Forks(Program):
    """A task that starts a long-lived child process and leaves it running, then may crash its
    worker, or start one more through a shell that leaves it behind (`sleep &`)."""
    name = "forks"
    tasks = (1, 1)

    def setup(self, pool):
        self.child = pool.atomic(0)

    @op(then=["stay", "crash", "shell"])
    def start_child(self, then="stay"):
        self.child.store(subprocess.Popen(["sleep", os.environ.get("SLEEP_FOR", "60")]).pid)
        if then == "crash":
            os.kill(os.getpid(), signal.SIGKILL)
        if then == "shell":
            subprocess.run(["bash", "-c", f"sleep {os.environ.get('SLEEP_FOR', '60')} &"])

    def default_scenario(self):
        return Scenario.of([[("start_child", ("stay",))]])


class Spin(Program):
    """Tasks that never end: one spins in plain Python, one keeps hitting scheduling points.
    `spinning_since` holds when (time.monotonic_ns) the last run's Python spin began."""
    name = "spin"
    tasks = (1, 2)
    max_steps = 5000

    def setup(self, pool):
        self.flag = pool.atomic(0)
        self.spinning_since = pool.atomic(0)

    @op()
    def spin_python(self):
        self.flag.add(1)
        self.spinning_since.poke(time.monotonic_ns())      # no scheduling point
        while True:
            pass

    @op()
    def spin_points(self):
        while self.flag.load() == 0:
            pass

    @op()
    def work(self):
        self.flag.add(1)


class BusyWait(Program):
    """Correct busy-waiting: a trylock loop on a mutex another task holds, and a spin on a
    flag another task sets.  Each ends as soon as the other task gets to run."""
    name = "busy-wait"
    tasks = (2, 2)

    def setup(self, pool):
        self.m = pool.mutex()
        self.flag = pool.atomic(0)

    @op()
    def hold_then_set(self):
        self.m.lock()
        self.flag.add(1)
        self.m.unlock()

    @op()
    def trylock_loop(self):
        while not self.m.trylock():
            pass
        self.m.unlock()

    @op()
    def wait_for_flag(self):
        while self.flag.load() == 0:
            pass


class DoublePut(Program):
    """A task that puts its reference to a mapped page twice: the page is freed while mapped."""
    name = "double-put"
    tasks = (1, 2)

    def setup(self, pool):
        self.index = pool.atomic(-1)

    def init(self, scenario):
        page = k.alloc_pages_node(self.pool, 0)
        k.page_add_rmap(page)                       # the mapping holds the allocation's reference
        self.index.poke(page.index)

    @op(twice=[False, True])
    def use(self, twice):
        page = self.pool.page(self.index.load())
        k.get_page(page)
        k.read_page(page)
        k.put_page(page)
        if twice:
            k.put_page(page, own=False)

    def check(self, scenario):
        page = self.pool.page(self.index.peek())
        assert page.state()["refcount"] == 1, "the mapping lost its page"


class DoublePutInPairs(DoublePut):
    """The double put, in a program that says its scenarios have two tasks."""
    name = "double-put-in-pairs"
    tasks = (2, 2)


class CheckThenPut(DoublePut):
    """Each task unmaps the page if a flag says it is still mapped, and clears the flag
    afterwards: both can pass the check, and the second unmaps a freed page."""
    name = "check-then-put"
    tasks = (2, 2)

    def setup(self, pool):
        super().setup(pool)
        self.mapped = pool.atomic(0)

    def init(self, scenario):
        super().init(scenario)
        self.mapped.store(1)

    @op()
    def unmap(self):
        page = self.pool.page(self.index.load())
        if self.mapped.load() == 1:
            k.page_remove_rmap(page)
            k.put_page(page, own=False)
            self.mapped.store(0)

    def check(self, scenario):
        pass                # unmapped and freed is how a run should end


class TestAndSet(Program):
    """A flag tested by a load and set by a later store: two tasks can both get in, but only
    if one is preempted between its load and store and the other is preempted inside."""
    name = "test-and-set"
    tasks = (2, 2)

    def setup(self, pool):
        self.flag = pool.atomic(0)
        self.inside = pool.atomic(0)

    @op()
    def enter(self):
        if self.flag.load() == 0:
            self.flag.store(1)
            assert self.inside.add(1) == 1, "two tasks inside"
            self.inside.add(-1)
            self.flag.store(0)


class WeakTable(Program):
    """A table slot naming a refcounted object without holding a reference (kref style):
    the last put unhashes it under the table lock.  A lookup under that lock must take
    its reference with get_page_unless_zero, since the count may already be 0."""
    name = "weak-table"
    tasks = (2, 2)
    speculative = True

    def setup(self, pool):
        self.lock = pool.spinlock()
        self.slot = pool.atomic(0)          # the object's page index + 1; 0: empty
        self.owner_put = pool.atomic(0)

    def init(self, scenario):
        self.slot.poke(k.alloc_pages_node(self.pool, 0).index + 1)

    def put(self, page):
        k.put_page(page)
        if self.pool.page(page.index).gen != page.gen:      # the last reference: unhash
            self.lock.lock()
            if self.slot.load() == page.index + 1:
                self.slot.store(0)
            self.lock.unlock()

    @op()
    def lookup(self):
        self.lock.lock()
        found, page = self.slot.load(), None
        if found:
            page = self.pool.page(found - 1)
            if self.speculative:
                page = page if k.get_page_unless_zero(page) else None
            else:
                k.get_page(page)
        self.lock.unlock()
        if page is not None:
            k.read_page(page)
            self.put(page)

    @op()
    def release(self):
        """The creator drops its reference, once."""
        if self.owner_put.xchg(1) == 0:
            self.put(self.pool.page(self.slot.load() - 1))

    def default_scenario(self):
        return Scenario.of([[("lookup", ())], [("release", ())]])


class WeakTablePlainGet(WeakTable):
    variant = "plain-get"
    speculative = False


class RareKey(Program):
    """A lost update only on key 777 of a thousand, which both tasks must pick: the
    program's default scenario names it; a drawn scenario almost never does."""
    name = "rare-key"
    tasks = (2, 2)
    ops_per_task = (1, 1)

    def setup(self, pool):
        self.counter = pool.atomic(0)

    @op(key=range(1000))
    def bump(self, key):
        if key == 777:
            value = self.counter.load()
            self.counter.store(value + 1)

    def check(self, scenario):
        hits = sum(1 for task in scenario.tasks for _, (key,) in task if key == 777)
        assert self.counter.peek() == hits, "an increment was lost"

    def default_scenario(self):
        return Scenario.of([[("bump", (777,))], [("bump", (777,))]])


class ParentSpins(Program):
    """init or check, which run in the parent process, spinning forever when the scenario asks;
    `spinning_since` is when (time.monotonic) the last spin began."""
    name = "parent-spins"
    tasks = (1, 1)
    spinning_since = None

    def setup(self, pool):
        self.x = pool.atomic(0)

    def spins_in(self, scenario, where):
        return any(args == (where,) for task in scenario.tasks for _, args in task)

    @op(where=["nowhere", "init", "check"])
    def go(self, where):
        self.x.add(1)

    def init(self, scenario):
        self.spinning_since = time.monotonic()
        while self.spins_in(scenario, "init"):
            pass

    def check(self, scenario):
        self.spinning_since = time.monotonic()
        while self.spins_in(scenario, "check"):
            pass


class DefaultSpins(ParentSpins):
    """A default_scenario() that never returns."""
    name = "default-spins"

    def default_scenario(self):
        self.spinning_since = time.monotonic()
        while True:
            pass


class Exits(Program):
    """Model code that ends its process: sys.exit in an op, os._exit in init or check."""
    name = "exits"
    tasks = (1, 1)

    def setup(self, pool):
        self.x = pool.atomic(0)

    def asks(self, scenario, where):
        return any(args == (where,) for task in scenario.tasks for _, args in task)

    @op(where=["op", "init", "check"])
    def go(self, where):
        self.x.add(1)
        if where == "op":
            sys.exit(3)

    def init(self, scenario):
        if self.asks(scenario, "init"):
            os._exit(0)

    def check(self, scenario):
        if self.asks(scenario, "check"):
            os._exit(0)


class UnknownKind(Program):
    """An op that reports a finding of a kind fuzzmm has no name for."""
    name = "unknown-kind"
    tasks = (1, 1)

    def setup(self, pool):
        self.x = pool.atomic(0)

    @op()
    def race(self):
        self.x.add(1)
        raise k.Finding("data-race", "two writers")


class StopsItsJob(Program):
    """An op that starts a `sleep` (for $SLEEP_FOR seconds) and stops the process its worker
    serves, as a SIGSTOP from outside would; first it notes that process's pid and the time
    in the file $STOPPED_NOTE, if set."""
    name = "stops-its-job"
    tasks = (1, 1)

    def setup(self, pool):
        self.x = pool.atomic(0)

    @op()
    def stop(self):
        self.x.add(1)
        subprocess.Popen(["sleep", os.environ.get("SLEEP_FOR", "60")])
        if os.environ.get("STOPPED_NOTE"):
            with open(os.environ["STOPPED_NOTE"], "w") as note:
                note.write(f"{os.getppid()} {time.monotonic()}")
        os.kill(os.getppid(), signal.SIGSTOP)


class SlowOrStuck(Program):
    """An op that busy-waits `tenths` tenths of a second: a hang to a watchdog shorter than that."""
    name = "slow-or-stuck"
    tasks = (1, 1)

    def setup(self, pool):
        self.x = pool.atomic(0)

    @op(tenths=[1, 5, 30])
    def slow(self, tenths):
        self.x.add(1)
        end = time.monotonic() + tenths / 10
        while time.monotonic() < end:
            pass


class LeakAfterTraffic(Program):
    """A lock taken, released, taken again after more operations than the event ring holds, and
    kept: the ring no longer shows where."""
    name = "leak-after-traffic"
    tasks = (1, 1)
    pool_config = {"ring": 16}

    def setup(self, pool):
        self.m = pool.mutex()
        self.x = pool.atomic(0)

    @op()
    def go(self):
        self.m.lock()
        self.m.unlock()
        for _ in range(40):
            self.x.add(1)
        self.m.lock()
