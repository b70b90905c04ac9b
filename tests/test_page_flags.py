"""A page's flags word reads by the names of its PG_* bits in every program's traces: the text
swimlane, the SVG and --trace-json's before_text/after_text, the numbers kept beside them."""
import io
import json
import os
import re

from fuzzmm import kernel as k
from fuzzmm.formats import page_flags
from fuzzmm.program import Program, Scenario, op
from fuzzmm.report import swimlane
from fuzzmm.svg import swimlane_svg
from fuzzmm.trace import write_json_lines


class Dirtier(Program):
    """Takes a reference on a page, locks it, marks it dirty, unlocks it and drops the reference."""
    name = "dirtier"
    tasks = (1, 1)
    ops_per_task = (1, 1)

    def setup(self, pool):
        self.slot = pool.atomic(0)

    def init(self, scenario):
        self.slot.poke(k.alloc_pages_node(self.pool, 0).index)

    @op()
    def dirty(self):
        page = self.pool.page(self.slot.load())
        k.get_page(page)
        k.lock_page(page)
        k.set_page_flag(page, k.PG_dirty)
        k.unlock_page(page)
        k.put_page(page)

    def default_scenario(self):
        return SCENARIO


SCENARIO = Scenario.of([[("dirty", ())]])


def test_page_flags_names_the_pg_bits_lowest_first_and_keeps_the_rest_in_hex():
    assert page_flags(0) == "0"
    assert page_flags(k.PG_locked | k.PG_lru | k.PG_head) == "locked|lru|head"
    assert page_flags(k.PG_dirty | 1 << 40) == f"dirty|{hex(1 << 40)}"


def test_a_program_s_page_flags_read_by_name_in_the_swimlane_the_svg_and_the_json(make_executor):
    executor = make_executor(Dirtier)
    result = executor.run(SCENARIO, keep_events=True)
    assert result.finding is None, result.finding
    text = swimlane(result, SCENARIO, names=executor.object_names, everything=True)
    assert "lock_page page0 0->locked" in text, text
    assert "set_flag page0 locked->locked|dirty" in text, text
    assert "unlock_page page0 locked|dirty->dirty" in text, text
    assert "get_page page0 1->2" in text, text          # a count stays a number
    svg = swimlane_svg(result, SCENARIO, names=executor.object_names, everything=True)
    assert "set_flag page0 locked-&gt;locked|dirty" in svg
    out = io.StringIO()
    write_json_lines(out, result, executor.object_names)
    ops = [json.loads(line) for line in out.getvalue().splitlines()]
    flagged = next(r for r in ops if r.get("op") == "set_flag")
    assert (flagged["before"], flagged["after"]) == (k.PG_locked, k.PG_locked | k.PG_dirty)
    assert (flagged["before_text"], flagged["after_text"]) == ("locked", "locked|dirty")
    assert not any("before_text" in r for r in ops if r.get("op") in ("get_page", "put_page", "load"))


def test_the_formatters_come_from_the_face_as_the_readme_writes_them():
    """`from fuzzmm import Program, flags`, as in the README's example, gives fuzzmm.formats' own."""
    import fuzzmm
    from fuzzmm import formats
    assert (fuzzmm.flags, fuzzmm.page_flags) == (formats.flags, formats.page_flags)
    with open(os.path.join(os.path.dirname(__file__), "..", "README.md"), encoding="utf-8") as f:
        readme = f.read()
    (example,) = [block for block in re.findall(r"```python\n(.*?)```", readme, re.S) if "formats = {" in block]
    namespace = {}
    exec(example, namespace)
    assert namespace["Pager"].formats["pte"](7) == "PRESENT|WRITE|DIRTY"
