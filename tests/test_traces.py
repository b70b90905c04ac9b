"""What a reader of a finding sees: the swimlane and the JSON lines of the seed's H4."""
import io
import json
import os

import pytest

from fuzzmm import corpus
from fuzzmm.program import Program, Scenario, op
from fuzzmm.report import swimlane
from fuzzmm.trace import write_json_lines

H4 = os.path.join(os.path.dirname(__file__), "..", "corpus", "h4-rc2-seed-order.json")


def replayed():
    entry = corpus.load(H4)
    result = corpus.replay(entry, keep_events=True)
    assert result.reproduced
    return entry, result


def test_the_h4_swimlane_tells_the_story_in_order():
    """put_page by the faulting task, the pmd zapped by another, the final put that frees the
    page, then unlock_page on the freed page: in that order, each in its task's column."""
    entry, result = replayed()
    lines = swimlane(result.first, entry.scenario, names=result.object_names).splitlines()
    faulting = result.first.finding.task
    width = len(lines[1].split()[1])                         # the columns fit their cells

    def first(text, task_is_faulting):
        """The first row with `text` in the faulting task's column (or in another's)."""
        for i, line in enumerate(lines):
            column = (line.find(text) - 6) // (width + 1)  # step (5) + space, then the columns
            if text in line and line[:5].strip().isdigit() and (column == faulting) == task_is_faulting:
                return i
        raise AssertionError(f"{text!r} not found in\n" + "\n".join(lines))
    assert faulting == 0
    put = first("put_page page0 2->1", True)
    zap = first("store mm.pmd[0]", False)
    free = first("free_page page0", False)
    unlock = first("!! use-after-free", True)
    assert put < zap < free < unlock
    assert "unlock_page on page 0 freed" in lines[-2]


def test_trace_json_lines_parse_and_carry_the_bound_ids():
    """Every JSON line parses, names its step, task, operation and model function, and the last is the finding."""
    entry, result = replayed()
    out = io.StringIO()
    write_json_lines(out, result.first, result.object_names, campaign="c1", run="r1")
    records = [json.loads(line) for line in out.getvalue().splitlines()]
    ops = [r for r in records if r["event"] == "op"]
    assert ops and all({"seq", "task", "op", "object", "before", "after", "function", "where"} <= set(r) for r in ops)
    assert all(r["campaign"] == "c1" and r["run"] == "r1" for r in records)
    assert records[-1]["event"] == "finding" and records[-1]["kind"] == "use-after-free"


def test_swimlane_cells_are_never_cut():
    """Every operation shows whole, its values included: the columns widen to the longest
    cell (up to 80 characters, more than any cell of this run)."""
    from fuzzmm.report import _cell
    from fuzzmm.trace import records
    entry, result = replayed()
    text = swimlane(result.first, entry.scenario, names=result.object_names, everything=True)
    cells = [_cell(r) for r in records(result.first, result.object_names) if r["task"] >= 0]
    assert any(len(c) > 34 for c in cells) and max(len(c) for c in cells) <= 80
    assert all(c in text for c in cells)


def test_a_finding_seen_after_the_run_has_no_row_at_a_step():
    """A lock-order cycle, found once the run is over, is told below the swimlane, not as
    a row at step 0 after the last operation."""
    from fuzzmm.sched.executor import Executor
    from programs import SerialLockOrder
    with Executor(SerialLockOrder) as ex:
        result = ex.run(Scenario.of([[("ab", ()), ("ba", ())]]), keep_events=True)
    assert result.finding.kind == "lock-order"
    lines = swimlane(result, Scenario.of([[("ab", ()), ("ba", ())]]), everything=True).splitlines()
    assert not any(line.lstrip().startswith("0 ") for line in lines)
    assert lines[-1].startswith("!! lock-order in ") and "step" not in lines[-1].split(":")[0]


class Reads(Program):
    """A task that loads one atomic n times: n rows alike but for their step."""
    name = "reads"

    def setup(self, pool):
        self.x = pool.atomic(0)

    @op(n=range(1, 6))
    def reads(self, n):
        for _ in range(n):
            self.x.load()


@pytest.mark.parametrize("n, shown", [(1, ["1"]), (2, ["1", "2"]), (3, ["1", "(1 more like this, step 2)", "3"]),
                                      (5, ["1", "(3 more like this, steps 2 to 4)", "5"])])
def test_rows_alike_are_never_dropped_only_counted(n, shown):
    """Two rows alike both show; from three on, the first, a count of those between, and the last."""
    from fuzzmm.sched.executor import Executor
    scenario = Scenario.of([[("reads", (n,))]])
    with Executor(Reads) as ex:
        result = ex.run(scenario, keep_events=True)
    body = swimlane(result, scenario, everything=True).splitlines()[2:]
    assert [line.split()[0] if line.split()[0].isdigit() else line.strip() for line in body] == shown


def test_a_spinning_task_shows_as_its_first_and_last_rows():
    """A hang's thousands of identical loads are two rows and a count between them, and the
    finding's row comes right after them, at its step."""
    from fuzzmm.sched.executor import Executor
    from programs import Spin
    scenario = Scenario.of([[("spin_points", ())]])
    with Executor(Spin, workers=1) as ex:
        result = ex.run(scenario, keep_events=True)
    assert result.finding.kind == "hang"
    lines = swimlane(result, scenario, everything=True).splitlines()
    assert len(lines) < 10, lines
    assert "(4998 more like this, steps 2 to 4999)" in lines[3]
    assert lines[4].split()[0] == "5000" and lines[5].split()[:3] == ["5001", "!!", "hang"]


def test_the_finding_row_sits_at_its_step_among_the_others():
    """A hazard noted mid-run (put-before-unlock at step 4) is printed at its step, before the
    other task's later operations, not after the last of them."""
    from fuzzmm.sched.executor import Executor
    from test_ownership import Holder
    scenario = Scenario.of([[("put_then_unlock", ())], [("unlock_then_put", ())]])
    with Executor(Holder) as ex:
        result = ex.run(scenario, keep_events=True)
    rows = [line.split() for line in swimlane(result, scenario, everything=True).splitlines()[2:]]
    steps = [int(row[0]) for row in rows if row and row[0].isdigit()]
    assert result.finding.kind == "put-before-unlock" and steps == sorted(steps) and steps[-1] > result.finding.step


def test_a_focused_swimlane_shows_the_check_of_a_check_then_act_race():
    """Focused on the page put twice, the swimlane still shows each task's load of the flag
    the other stores to: the check both passed before either acted."""
    from fuzzmm.sched.executor import Executor
    from fuzzmm.sched.search import Search
    from programs import CheckThenPut
    with Executor(CheckThenPut) as ex:
        both = Scenario.of([[("unmap", ())], [("unmap", ())]])
        found = next(Search(ex, "pct", seed=1, scenario=both).run(max_runs=2000, stop_at_first=True))
        scenario = found.scenario
        result = ex.run(scenario, found.schedule, keep_events=True)
        text = swimlane(result, scenario, names=ex.object_names)
    assert result.finding.obj is not None and "(only the operations on" in text, text
    checks = [line for line in text.splitlines() if "load mapped = 1" in line]
    assert len({line.split()[0] for line in checks}) == 2 and len(checks) >= 2, text


def test_a_deadlock_s_swimlane_shows_every_lock_of_the_cycle():
    """The default (focused) view of a deadlock shows both locks taken and both waits, not one lock."""
    from fuzzmm.sched.executor import Executor
    from fuzzmm.sched.schedule import Schedule
    from programs import LockOrder
    scenario = Scenario.of([[("ab", ())], [("ba", ())]])
    with Executor(LockOrder, lockdep=False) as ex:
        result = ex.run(scenario, Schedule.of_switches([(2, 1)]), keep_events=True)
        text = swimlane(result, scenario, names=ex.object_names)
    assert result.finding.kind == "deadlock"
    for cell in ("mutex_lock a 0->2", "mutex_lock b 0->3", "waits for a", "waits for b"):
        assert cell in text, text
