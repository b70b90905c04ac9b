"""Lock-order cycles across runs, in the manner of the kernel's lockdep.

Every run adds the dependencies it showed (lock B taken while A was held) to a
graph kept for the executor's life.  A new dependency that closes a cycle is a
`lock-order` finding even if no run deadlocked: two tasks that take A then B
and B then A will deadlock under some schedule.

A cycle first closed across runs has no single run that replays it, so the
search cannot keep it; the first later run that shows the whole cycle on its
own reports it again, as a finding that replays.
"""
from fuzzmm import _core
from fuzzmm.findings import FindingReport
from fuzzmm.trace import object_label, site_parts


_ACYCLIC = set()        # dependency sets known to hold no cycle: a property of the set alone
_ACYCLIC_LIMIT = 4096
_SEEN_LIMIT = 4096


class LockDep:
    def __init__(self):
        self.edges = {}          # (held, acquired) -> (task, held site, acquired site)
        self.reported = set()    # cycles reported, as frozensets of classes
        self.reported_alone = set()   # cycles reported from one run's own dependencies
        # A run's dependencies, in the order it showed them, once observed: a later run
        # that shows them again in that order can add no edge and find no cycle not
        # already reported (the graph and the reported cycles only grow, and the cycle
        # found within one run follows that order), so it costs one lookup.
        self.seen = set()

    def observe(self, pool, names=None):
        """Learn the last run's dependencies; a FindingReport for a new cycle, else None."""
        keys = _core.lock_edge_keys(pool)
        if keys is not None:
            if keys in self.seen:
                return None
            if len(self.seen) < _SEEN_LIMIT:
                self.seen.add(keys)
        run_edges = {}
        _core.lockdep_scan(pool, run_edges)
        new = [key for key in run_edges if key not in self.edges]
        for key in new:
            self.edges[key] = run_edges[key]
        cycle = _cycle_within(run_edges)
        if cycle is not None and frozenset(cycle) not in self.reported_alone:
            self.reported_alone.add(frozenset(cycle))
            self.reported.add(frozenset(cycle))     # seen whole in one run: no report across runs
            return _report(run_edges, cycle, names)
        for held, acquired in new:
            path = _path(self.edges, acquired, held)
            cycle = None if path is None else [held] + path
            if cycle is not None and frozenset(cycle) not in self.reported:
                self.reported.add(frozenset(cycle))
                return _report(self.edges, cycle, names)
        return None


def _cycle_within(edges):
    """A cycle among one run's dependencies, as a closed walk [a, b, ..., a], or None.
    Most runs repeat a dependency set already seen acyclic, which costs one lookup.
    (A cycle is not cached: which one is found, and so the finding's function,
    follows this run's own order of dependencies, as a replay of it would.)"""
    keys = frozenset(edges)
    if keys in _ACYCLIC:
        return None
    for held, acquired in edges:
        path = _path(edges, acquired, held)
        if path is not None:
            return [held] + path
    if len(_ACYCLIC) < _ACYCLIC_LIMIT:
        _ACYCLIC.add(keys)
    return None


def _path(edges, start, goal):
    """Classes from start to goal along dependencies, or None."""
    stack, seen = [(start, [start])], {start}
    while stack:
        node, path = stack.pop()
        if node == goal:
            return path
        for (a, b) in edges:
            if a == node and b not in seen:
                seen.add(b)
                stack.append((b, path + [b]))
    return None


def _report(edges, cycle, names):
    chains = []
    for a, b in zip(cycle, cycle[1:]):
        task, held_site, acquired_site = edges[(a, b)]
        chains.append(f"task {task} took {_label(a, names)} at {_core.site_label(held_site)} "
                      f"then {_label(b, names)} at {_core.site_label(acquired_site)}")
    # Named after the first, by name, of the functions that take a lock of the cycle, so
    # the cycle has one signature whichever of its dependencies a run happened to close it with.
    function, line, task = min((site_parts(edges[(a, b)][2])[0], _core.site_line(edges[(a, b)][2]), edges[(a, b)][0])
                               for a, b in zip(cycle, cycle[1:]))
    order = " -> ".join(_label(c, names) for c in cycle)
    return FindingReport("lock-order", f"lock-order cycle {order}: " + "; ".join(chains),
                         function=function, line=line, task=task)


def _label(cls, names):
    if cls == _core.OBJ_PAGE << 56:
        return "a page lock"
    return object_label(cls, names)
