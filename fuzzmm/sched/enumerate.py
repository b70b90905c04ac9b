"""The small scenarios of a program, enumerated smallest first.

Systematic search needs scenarios in an order of its own, not drawn at random: every
one of the program's task counts, one to MAX_OPS_PER_TASK operations per task, and
every operation with every argument its domains allow, the smaller first, so that
any given scenario comes in the end and the small ones, where most ordering bugs
show, come early.
"""
import itertools

from fuzzmm.program import Scenario

MAX_OPS_PER_TASK = 2


def small_scenarios(cls, max_instances=10_000):
    """The small scenarios of a program, smallest first: each of the program's task counts,
    up to MAX_OPS_PER_TASK (two) operations per task, every operation and arguments its
    domains allow (the first `max_instances` operations by how far into their domains
    their arguments are).  Scenarios are ordered by the latest operation they use, so
    that every scenario comes in the end, and fewer tasks before more."""
    instances = _instances(cls, max_instances)
    least, most = cls.tasks
    for m in range(1, len(instances) + 1):
        newest = m - 1
        choices = [(i,) for i in range(m)] + [(i, j) for i in range(m) for j in range(m)]
        for ntasks in range(least, most + 1):
            for tasks in itertools.product(choices, repeat=ntasks):
                if any(newest in task for task in tasks):
                    yield Scenario(tuple(tuple(instances[i] for i in task) for task in tasks))


def _instances(cls, limit):
    """(op, args) of every operation with arguments from its domains, by the sum of the
    arguments' positions in their domains, at most `limit`."""
    ops = cls.ops()
    by_rank = []
    for order, (name, domains) in enumerate(ops.items()):
        values = [list(itertools.islice(iter(domain), limit)) for _, domain in domains]
        for picks in itertools.islice(itertools.product(*[range(len(v)) for v in values]), limit):
            by_rank.append((sum(picks), order, picks, name, tuple(v[i] for v, i in zip(values, picks))))
    by_rank.sort(key=lambda r: r[:3])
    return [(name, args) for *_, name, args in by_rank[:limit]]


def scenario_count(cls, max_instances=10_000):
    """How many scenarios small_scenarios yields, or None when they are too many to say."""
    n = len(_instances(cls, max_instances))
    per_task = n + n * n
    least, most = cls.tasks
    total = sum(per_task ** t for t in range(least, most + 1))
    return total if total < 10 ** 15 else None
