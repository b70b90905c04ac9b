"""What the default (focused) swimlane keeps of a reference-count race: the other task's
atomic update of a count the finding's task used, though that task never touched the page."""
from fuzzmm import kernel as k
from fuzzmm.program import Program, Scenario, op
from fuzzmm.report import swimlane
from fuzzmm.sched.schedule import Schedule


class Kref(Program):
    """A page in a slot with its own reference count: release() drops a reference and frees the
    page at 0; lookup() takes one without checking the count is not already 0, so it revives a
    released page and the next release frees it twice."""
    name = "kref"
    tasks = (2, 2)
    ops_per_task = (1, 2)

    def setup(self, pool):
        self.slot = pool.atomic(0)
        self.refcount = pool.atomic(0)

    def init(self, scenario):
        self.slot.poke(k.alloc_pages_node(self.pool, 0).index)
        self.refcount.poke(1)

    @op()
    def release(self):
        page = self.pool.page(self.slot.load())
        if self.refcount.sub(1) == 0:
            k.put_page(page)

    @op()
    def lookup(self):
        self.refcount.add(1)

    def default_scenario(self):
        return SCENARIO


SCENARIO = Scenario.of([[("release", ()), ("release", ())], [("lookup", ())]])
REVIVED = Schedule.of_switches([(0, 0), (3, 1)])     # the lookup runs between the two releases


def test_the_focused_swimlane_shows_the_add_of_a_task_that_never_touched_the_page(make_executor):
    executor = make_executor(Kref)
    result = executor.run(SCENARIO, REVIVED, keep_events=True)
    assert result.finding is not None and result.finding.kind == "refcount-underflow", result.finding
    assert result.finding.task == 0
    text = swimlane(result, SCENARIO, names=executor.object_names)
    assert "(only the operations on page0" in text, text
    lines = text.splitlines()
    first_sub = next(i for i, line in enumerate(lines) if "sub refcount 1->0" in line)
    add = next(i for i, line in enumerate(lines) if "add refcount 0->1" in line)
    second_sub = max(i for i, line in enumerate(lines) if "sub refcount 1->0" in line)
    assert first_sub < add < second_sub, text
    width = len(lines[1].split()[1])
    assert lines[add].find("add refcount") == 6 + width + 1, "the add sits in task 1's column:\n" + text
    assert "load slot" not in text      # what no other task used stays out


def test_an_atomic_update_of_an_object_no_involved_task_used_stays_out():
    """The widened rule keeps an update only on a shared object that a task involved used."""
    from fuzzmm.report import _focused

    def row(seq, task, op, obj):
        return {"seq": seq, "task": task, "op": op, "obj": obj, "before": 0, "after": 1}
    rows = [row(1, 0, "get_page", "page"), row(2, 1, "add", "count"), row(3, 2, "add", "count"),
            row(4, 2, "add", "ref"), row(5, 0, "add", "ref"), row(6, 0, "put_page", "page")]
    kept = [r["seq"] for r in _focused(rows, {"page"}, task=0, step=6)]
    assert kept == [1, 4, 5, 6]
