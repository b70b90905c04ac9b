"""A lost update: a counter read and written back in two steps, and its fixed twin.

Each task adds 1 to a shared counter `n` times.  The racy variant loads the
value and stores value+1 as two operations, so another task's store between
them is overwritten; the fixed variant adds atomically.  After all tasks end,
the counter must equal the number of increments made.
"""
from fuzzmm.program import Program, Scenario, op


class LostUpdate(Program):
    name = "lost-update"
    variant = "racy"
    summary = "load then store: concurrent increments can be lost"
    tasks = (2, 3)
    ops_per_task = (1, 2)

    def setup(self, pool):
        self.counter = pool.atomic(0)

    @op(n=range(1, 17))
    def increment(self, n):
        for _ in range(n):
            value = self.counter.load()
            self.counter.store(value + 1)

    def default_scenario(self):
        return Scenario.of([[("increment", (16,))]] * 3)

    def check(self, scenario):
        expected = sum(args[0] for task in scenario.tasks for _, args in task)
        found = self.counter.peek()
        assert found == expected, f"counter is {found} after {expected} increments"


class LostUpdateFixed(LostUpdate):
    variant = "fixed"
    summary = "atomic add: no increment is lost"

    def increment(self, n):
        for _ in range(n):
            self.counter.add(1)


VARIANTS = {"racy": LostUpdate, "fixed": LostUpdateFixed}
