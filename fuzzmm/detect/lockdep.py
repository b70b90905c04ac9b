"""Lock-order cycles across runs, in the manner of the kernel's lockdep.

Every run adds the dependencies it showed (lock B taken while A was held) to a
graph kept for the executor's life.  A new dependency that closes a cycle is a
`lock-order` finding even if no run deadlocked: two tasks that take A then B
and B then A will deadlock under some schedule.
"""
from fuzzmm import _core
from fuzzmm.sched.schedule import FindingReport
from fuzzmm.trace import object_label, site_parts


class LockDep:
    def __init__(self):
        self.edges = {}          # (held, acquired) -> (task, held site, acquired site)
        self.reported = set()    # cycles already reported, as frozensets of classes

    def observe(self, pool, names=None):
        """Learn the last run's dependencies; a FindingReport for a new cycle, else None."""
        for held, acquired in _core.lockdep_scan(pool, self.edges):
            path = self._path(acquired, held)
            if path is None:
                continue
            cycle = [held] + path
            key = frozenset(cycle)
            if key in self.reported:
                continue
            self.reported.add(key)
            return self._report(cycle, names)
        return None

    def _path(self, start, goal):
        """Classes from start to goal along dependencies, or None."""
        stack, seen = [(start, [start])], {start}
        while stack:
            node, path = stack.pop()
            if node == goal:
                return path
            for (a, b) in self.edges:
                if a == node and b not in seen:
                    seen.add(b)
                    stack.append((b, path + [b]))
        return None

    def _report(self, cycle, names):
        chains = []
        for a, b in zip(cycle, cycle[1:]):
            task, held_site, acquired_site = self.edges[(a, b)]
            chains.append(f"task {task} took {_label(a, names)} at {_core.site_label(held_site)} "
                          f"then {_label(b, names)} at {_core.site_label(acquired_site)}")
        last = self.edges[(cycle[-2], cycle[-1])]
        function = site_parts(last[2])[0]
        order = " -> ".join(_label(c, names) for c in cycle)
        return FindingReport("lock-order", f"lock-order cycle {order}: " + "; ".join(chains),
                             function=function, line=_core.site_line(last[2]), task=last[0])


def _label(cls, names):
    if cls == _core.OBJ_PAGE << 56:
        return "a page lock"
    return object_label(cls, names)
