"""The put-before-unlock detector: a task must not use a page after putting its last own reference."""
from fuzzmm.kernel import alloc_pages_node, get_page, lock_page, put_page, trylock_page, unlock_page, page_count
from fuzzmm.program import Program, Scenario, op
from fuzzmm.sched.schedule import Schedule


class Holder(Program):
    """A page kept alive by the parent's reference; tasks take and drop their own."""
    name = "holder"
    tasks = (1, 2)

    def setup(self, pool):
        self.page_index = pool.atomic(-1)

    def init(self, scenario):
        page = alloc_pages_node(self.pool, 0)           # the parent's reference keeps it alive
        self.page_index.poke(page.index)

    def page(self):
        return self.pool.page(self.page_index.peek())

    @op()
    def put_then_unlock(self):
        page = self.page()
        get_page(page)
        lock_page(page)
        put_page(page)
        unlock_page(page)

    @op()
    def unlock_then_put(self):
        page = self.page()
        get_page(page)
        lock_page(page)
        unlock_page(page)
        put_page(page)

    @op()
    def put_then_look_up_again(self):
        """Drop the reference, then reach the page anew, as a fault re-reads a page table
        entry and trylocks the page it maps, pinned by the mapping, not by the task."""
        page = self.page()
        get_page(page)
        put_page(page)
        again = self.page()
        if trylock_page(again):
            unlock_page(again)

    @op()
    def put_then_get_again(self):
        page = self.page()
        get_page(page)
        put_page(page)
        get_page(page)
        page_count(page)
        put_page(page)


def test_unlock_after_the_last_own_put_is_reported_even_if_the_page_survives(make_executor):
    """put_page then unlock_page fires put-before-unlock naming the put's step; the page was never freed."""
    ex = make_executor(Holder, workers=1)
    result = ex.run(Scenario.of([[("put_then_unlock", ())]]), Schedule())
    assert result.finding is not None and result.finding.kind == "put-before-unlock"
    assert result.finding.function == "Holder.put_then_unlock"
    assert "unlock_page on page" in result.finding.message and "at step 3" in result.finding.message


def test_unlock_before_put_and_a_fresh_get_are_clean(make_executor):
    """Unlocking while holding a reference, or using a page after getting it again, is fine."""
    ex = make_executor(Holder, workers=2)
    assert ex.run(Scenario.of([[("unlock_then_put", ())], [("put_then_get_again", ())]])).ok


def test_a_page_looked_up_again_after_the_put_is_not_put_before_unlock(make_executor):
    """A handle taken after the task's last put is a new lookup; only a handle held across the put is suspect."""
    ex = make_executor(Holder, workers=1)
    assert ex.run(Scenario.of([[("put_then_look_up_again", ())]])).ok
