"""What the swimlane shows of a reference-count race: the atomics that were the bug, `sub` as
`sub`, values through the program's own formatter, and the whole trace on request in pytest."""
import io
import json
import os

import pytest

from fuzzmm import kernel as k
from fuzzmm.formats import flags
from fuzzmm.program import Program, Scenario, op
from fuzzmm.report import swimlane
from fuzzmm.sched.schedule import Schedule
from fuzzmm.trace import write_json_lines

pytest_plugins = ["pytester"]


class KrefCache(Program):
    """An object in a slot with its own reference count (a kref): a lookup takes a reference
    without checking that the count is not already 0, so it can revive a freed object."""
    name = "kref-cache"
    tasks = (2, 2)
    formats = {"state": flags(LIVE=1, HASHED=2), "slot": hex}

    def setup(self, pool):
        self.slot = pool.atomic(0)
        self.kref = pool.atomic(0)
        self.state = pool.atomic(0)

    def init(self, scenario):
        self.slot.poke(k.alloc_pages_node(self.pool, 0).index + 16)
        self.kref.poke(1)
        self.state.poke(3)

    def put(self, page):
        if self.kref.sub(1) == 0:
            self.state.and_(~1)
            k.put_page(page)

    @op()
    def lookup(self):
        page = self.pool.page(self.slot.load() - 16)
        self.kref.add(1)
        k.read_page(page)
        self.put(page)

    @op()
    def release(self):
        self.put(self.pool.page(self.slot.load() - 16))

    def default_scenario(self):
        return Scenario.of([[("lookup", ())], [("release", ())]])


SCENARIO = Scenario.of([[("lookup", ())], [("release", ())]])
RACE = Schedule.of_switches([(1, 1)])       # the lookup loads the slot, then the release runs to its end


def raced(make_executor):
    executor = make_executor(KrefCache)
    result = executor.run(SCENARIO, RACE, keep_events=True)
    assert result.finding is not None and result.finding.kind == "use-after-free", result.finding
    return executor, result


def test_the_focused_swimlane_shows_the_atomics_of_the_race_and_sub_as_sub(make_executor):
    """Focused on the page, the swimlane shows the release's `sub kref 1->0` and the lookup's
    `add kref 0->1`, the atomics on the count both tasks used, before the use of the freed page."""
    executor, result = raced(make_executor)
    text = swimlane(result, SCENARIO, names=executor.object_names)
    assert "(only the operations on page" in text, text
    lines = text.splitlines()
    sub = next(i for i, line in enumerate(lines) if "sub kref 1->0" in line)
    add = next(i for i, line in enumerate(lines) if "add kref 0->1" in line)
    use = next(i for i, line in enumerate(lines) if "!! use-after-free" in line)
    assert sub < add < use, text
    assert "add kref 1->0" not in text


def test_an_object_s_formatter_shows_its_values_in_the_swimlane_and_the_json_lines(make_executor):
    """`formats` names the flags of `state` and shows `slot` in hex, in the full swimlane and
    as before_text/after_text beside the numbers in --trace-json's lines."""
    executor, result = raced(make_executor)
    text = swimlane(result, SCENARIO, names=executor.object_names, everything=True)
    assert "and state LIVE|HASHED->HASHED" in text, text
    assert "load slot = 0x10" in text, text
    out = io.StringIO()
    write_json_lines(out, result, executor.object_names)
    ops = [json.loads(line) for line in out.getvalue().splitlines()]
    anded = next(r for r in ops if r.get("op") == "and")
    assert (anded["before"], anded["after"], anded["before_text"], anded["after_text"]) == (3, 2, "LIVE|HASHED",
                                                                                            "HASHED")
    assert not any("before_text" in r for r in ops if r.get("object") == "kref")    # no formatter: numbers only


def test_flags_names_bits_in_order_and_keeps_what_is_left_in_hex():
    show = flags(PRESENT=1, NUMA=2)
    assert (show(0), show(1), show(3), show(7), show(0x105)) == ("0", "PRESENT", "PRESENT|NUMA", "PRESENT|NUMA|0x4",
                                                                 "PRESENT|0x104")
    with pytest.raises(ValueError):
        flags(BAD=0)


def test_a_formatter_that_fails_shows_the_number():
    from fuzzmm.formats import shown
    assert shown(45, lambda v: 1 / 0) == "45"


def test_the_seed_model_shows_its_page_table_entries_by_what_they_hold():
    """thp-numa's pmd words read as `present numa(page 0 gen 0)`, not as an integer to decode by hand."""
    from fuzzmm import corpus
    path = os.path.join(os.path.dirname(__file__), "..", "corpus", "h4-rc2-seed-order.json")
    entry = corpus.load(path)
    result = corpus.replay(entry, keep_events=True)
    text = swimlane(result.first, entry.scenario, names=result.object_names)
    assert "store mm.pmd[0] present numa(page 0 gen 0)->none" in text, text


@pytest.mark.slow
def test_fuzzmm_trace_all_makes_a_failing_fuzz_test_show_every_step(pytester):
    """With --fuzzmm-trace-all the failure's swimlane is the whole run: the release's update
    of `state`, which no other task uses, shows; the default view leaves it out."""
    import inspect
    pytester.makepyfile(kref_cache="from fuzzmm import kernel as k\n"
                                   "from fuzzmm.formats import flags\n"
                                   "from fuzzmm.program import Program, Scenario, op\n\n\n"
                        + inspect.getsource(KrefCache))
    pytester.makepyfile(test_kref="""
        from fuzzmm.testing import fuzz_test
        from kref_cache import KrefCache
        test_kref = fuzz_test(KrefCache)
    """)
    focused = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--fuzzmm-profile", "ci")
    whole = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--fuzzmm-profile", "ci", "--fuzzmm-trace-all")
    focused.assert_outcomes(failed=1)
    whole.assert_outcomes(failed=1)
    assert "sub kref 1->0" in focused.stdout.str() and "and state" not in focused.stdout.str()
    assert "and state LIVE|HASHED->HASHED" in whole.stdout.str()
