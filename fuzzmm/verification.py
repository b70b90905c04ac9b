"""Verifying scenarios: every schedule within a preemption bound, or a finding that replays.

What `fuzzmm verify` and `verify_test` share: a scenario read from its text, and the
verification of one scenario on one executor (the small scenarios a program is
verified on when none is given come from fuzzmm.sched.enumerate).  A scenario is explored with bounds 0, 1, ... up to the bound asked for
(iterative bounding, as CHESS does), each exhaustively (fuzzmm.sched.explore), so a
finding comes with the fewest preemptions that show it, and a verification that
runs out of budget still says up to which bound it is complete.  A verified
scenario also gets an estimate of the runs plain enumeration of its bound would
have made (fuzzmm.sched.estimate).
"""
import ast
from dataclasses import dataclass, field
import time

from fuzzmm.errors import FuzzmmError
from fuzzmm.program import Scenario
from fuzzmm.sched.estimate import plain_enumeration
from fuzzmm.sched.explore import Explorer, Stopped

VERIFIED, FOUND, UNFINISHED = "verified", "finding", "not exhausted"
PLAIN_PROBES = 200          # random paths for the estimate of plain enumeration


@dataclass
class Verdict:
    """What verifying one scenario showed."""
    scenario: Scenario
    bound: int                          # the preemption bound asked for
    status: str = UNFINISHED            # VERIFIED, FOUND or UNFINISHED
    schedules: int = 0                  # runs made, every bound together
    by_bound: list = field(default_factory=list)    # runs made at bound 0, 1, ...
    redundant: int = 0                  # of which set aside by sleep sets
    verified_bound: int = -1            # the highest bound covered whole (-1: none)
    pending: int = 0                    # backtrack points left where it stopped: runs still to make, at least
    finding: object = None              # the FindingReport, replayed
    schedule: object = None             # its switch list
    preemptions: int = None             # the preemptions that schedule takes
    plain: object = None                # an Estimate of plain enumeration's runs at `bound`
    seconds: float = 0.0
    others: dict = field(default_factory=dict)      # signature -> runs, of findings not wanted

    def to_json(self):
        doc = {"scenario": self.scenario.describe(), "tasks": self.scenario.to_json(), "status": self.status,
               "preemptions_bound": self.bound, "schedules": self.schedules, "by_bound": self.by_bound,
               "set_aside": self.redundant, "verified_bound": self.verified_bound, "seconds": round(self.seconds, 3)}
        if self.status == UNFINISHED:
            doc["left_at_least"] = self.pending
        if self.plain is not None:
            doc["plain_enumeration"] = self.plain.to_json()
        if self.finding is not None:
            doc.update(finding=self.finding.to_json(), switches=self.schedule.to_json(),
                       preemptions=self.preemptions)
        return doc


def verify_scenario(executor, scenario, bound, max_runs=None, deadline=None, on_progress=None,
                    plain_probes=PLAIN_PROBES, wanted=None):
    """Verify `scenario` on `executor` within `bound` preemptions: a Verdict.

    `max_runs` and `deadline` (time.monotonic()) limit the exploration; past them the
    verdict is UNFINISHED.  `on_progress(verdict, explorer)` is called about once a
    second.  The first finding ends it, or with `wanted` (a predicate on findings)
    the first it accepts: other findings are counted in `verdict.others` and the
    exploration goes on.  A finding is replayed on its own before it is reported; one
    that does not replay is an error of the program (nondeterminism outside the
    schedule)."""
    executor.program.validate(scenario)
    verdict = Verdict(scenario, bound)
    began = last = time.monotonic()
    for k in range(bound + 1):
        left = None if max_runs is None else max_runs - verdict.schedules
        if left is not None and left <= 0:
            break
        explorer = Explorer(executor, scenario, k, max_runs=left, deadline=deadline)
        verdict.by_bound.append(0)
        try:
            for explored in explorer.runs():
                verdict.schedules += 1
                verdict.by_bound[-1] += 1
                finding = explored.result.finding
                if finding is not None:
                    if wanted is None or wanted(finding):
                        _found(executor, scenario, verdict, explored.result, explored.preemptions)
                        break
                    verdict.others[finding.signature] = verdict.others.get(finding.signature, 0) + 1
                if on_progress is not None and time.monotonic() - last >= 1.0:
                    last = time.monotonic()
                    verdict.seconds = last - began
                    on_progress(verdict, explorer)
        except Stopped as stopped:      # a run past the watchdog, twice: a hang
            verdict.schedules += 1
            _found(executor, scenario, verdict, stopped.result, None, replay=False)
        verdict.redundant += explorer.redundant
        if verdict.status == FOUND:
            break
        if not explorer.exhausted:
            verdict.pending = explorer.pending()
            break
        verdict.verified_bound = k
    else:
        verdict.status = VERIFIED
        if plain_probes:
            verdict.plain = plain_enumeration(executor, scenario, bound, probes=plain_probes)
    verdict.seconds = time.monotonic() - began
    return verdict


def _found(executor, scenario, verdict, result, preemptions, replay=True):
    schedule = result.schedule
    if replay:
        again = executor.run_alone(scenario, schedule)
        if again.finding is None or again.finding.signature != result.finding.signature:
            got = again.finding.signature if again.finding else "no finding"
            raise FuzzmmError(f"{scenario.describe()}: a run showed {result.finding.signature} under switches "
                              f"{list(schedule.switches)}, and its replay {got}: the program has "
                              "nondeterminism outside the schedule")
    verdict.status = FOUND
    verdict.finding, verdict.schedule, verdict.preemptions = result.finding, schedule, preemptions


# ---- scenarios ----

def parse_scenario(text):
    """A Scenario from its text as Scenario.describe() writes it: tasks separated by `|`,
    a task's operations by `;`, each `name(arg, ...)` with Python literals for arguments."""
    tasks = []
    for task_text in _split(text, "|"):
        ops = []
        for op_text in _split(task_text, ";"):
            op_text = op_text.strip()
            if not op_text:
                continue
            try:
                call = ast.parse(op_text, mode="eval").body
                if not (isinstance(call, ast.Call) and isinstance(call.func, ast.Name) and not call.keywords):
                    raise ValueError
                args = tuple(ast.literal_eval(arg) for arg in call.args)
            except (SyntaxError, ValueError):
                raise FuzzmmError(f"scenario {text!r}: {op_text!r} is not an operation as name(arg, ...)") from None
            ops.append((call.func.id, args))
        if not ops:
            raise FuzzmmError(f"scenario {text!r}: a task with no operations")
        tasks.append(ops)
    return Scenario.of(tasks)


def _split(text, separator):
    """`text` split at `separator` outside brackets and quotes."""
    parts, depth, quote, start = [], 0, None, 0
    for i, ch in enumerate(text):
        if quote:
            if ch == quote and text[i - 1] != "\\":
                quote = None
        elif ch in "'\"":
            quote = ch
        elif ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        elif ch == separator and depth == 0:
            parts.append(text[start:i])
            start = i + 1
    parts.append(text[start:])
    return parts
