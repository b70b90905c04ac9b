"""The verdict of a run: what it left behind, turned into the one finding it reports.

A run leaves records: each task's result slot (a kind code and a JSON detail), the hazards
noted on the way (latent findings), the event ring, and what the executor saw while it waited
(a dead worker, a chaos deadlock, the watchdog).  The executor gathers them; this module words
each as a FindingReport, names it after the right place in the model, and decides, by a fixed
precedence, which one the run reports.
"""
import dataclasses
import json

from fuzzmm import _core
from fuzzmm.errors import KINDS
from fuzzmm.findings import FindingReport
from fuzzmm.sites import model_site


def decide(pool, info, ended, check, lockdep, names):
    """The one finding of a finished run (`info`: its run_info), or None.  In order: what
    ended it while the executor waited (`ended`), else the finding that ended a task, a
    deadlock placed at its cycle; either one with the bad free that caused it, if one was
    noted.  Else a bad free noted on the way; else what `check()`, the quiescent check,
    finds; else a new lock-order cycle (`lockdep`, naming objects by `names`); else any
    other hazard noted."""
    finding = ended
    if finding is None:
        finding = task_finding(info)
        if finding is not None and finding.kind == "deadlock":
            finding = place_deadlock(pool, finding)
    latent = [latent_finding(hazard) for hazard in info["latent"]]
    if finding is not None:
        finding = with_cause(finding, latent)
        latent = []
    if finding is None:     # a bad free outranks the quiescent checks, which see its aftermath
        finding = next((f for f in latent if f.kind == "bad-page-state"), None)
    if finding is None:
        finding = check()
    if finding is None and lockdep is not None:
        finding = lockdep.observe(pool, names)
    if finding is None and latent:
        finding = latent[0]
    return finding


def decide_clean(pool, check, lockdep, names):
    """decide() for a run that `ended` nothing, whose tasks all ended without a finding and
    noted no hazard (run_summary's `clean`): what the quiescent check finds, else a new
    lock-order cycle.  The same answer, without reading the run's records."""
    finding = check()
    if finding is None and lockdep is not None:
        finding = lockdep.observe(pool, names)
    return finding


def task_finding(info):
    """The finding that ended the run: the aborting task's, else the first task's with one."""
    results = info["results"]
    order = ([info["abort_task"]] if info["abort_task"] >= 0 else []) + list(range(len(results)))
    for t in order:
        code, step, detail, _ = results[t]
        kind = KINDS[code]
        if kind in ("ok", "aborted"):
            continue
        try:
            d = json.loads(detail.decode())
        except (ValueError, UnicodeDecodeError):
            d = {"message": detail.decode(errors="replace")}
        return FindingReport(kind, d.get("message", ""), d.get("function", ""), d.get("line", 0),
                             task=d.get("task", t), step=step, obj=d.get("obj"),
                             tasks=tuple(d.get("tasks", ())))
    return None


def with_cause(finding, latent):
    """The finding, its message telling of a bad free of its page earlier in the run (still
    mapped, locked, on an LRU), which a person needs to see where the trouble began.  The
    signature stays the finding's own: the function that freed the page may be the
    victim (a zap taking the last reference another task had dropped too early) as
    often as the culprit."""
    cause = None if finding.obj is None else next(
        (f for f in latent if f.kind == "bad-page-state" and f.obj == finding.obj and 0 < f.step <= finding.step),
        None)
    if cause is None:
        return finding
    return dataclasses.replace(finding, message=f"{finding.message}; before that, at step {cause.step}, "
                                                f"task {cause.task} in {cause.function}: {cause.message}")


def latent_finding(latent):
    """A hazard noted during the run (put-before-unlock) when nothing worse happened."""
    step, task, detail = latent
    d = json.loads(detail.decode())
    return FindingReport(d["kind"], d["message"], d.get("function", ""), d.get("line", 0),
                         task=task, step=step, obj=d.get("obj"))


def deadlock(waits, task, cycle):
    """A chaos run seen stalled, every live task asleep: `waits` says on what, `cycle` lists
    the tasks of its cycle of waits.  Placed by place_deadlock once the run has ended."""
    return FindingReport("deadlock", waits, task=task, tasks=tuple(cycle))


def place_deadlock(pool, finding):
    """Name a deadlock after the first, by name, of the functions its cycle's tasks wait
    in: the same cycle gets one signature whichever task blocked last, and a bystander
    (waiting on the cycle, not in it) never names it.  No cycle: where its task waits."""
    events = _core.events(pool)
    named = [(last_place(pool, t, events), t) for t in finding.tasks or (finding.task,)]
    named = [(place, t) for place, t in named if place[0]]
    if not named:
        return finding
    (function, line, step, obj), task = min(named, key=lambda pt: (pt[0][:3], pt[1]))
    return dataclasses.replace(finding, function=function, line=line, task=task, step=step, obj=obj)


def last_place(pool, task, events=None):
    """(function, line, step, object) of the task's last operation, the function being the
    innermost one not hidden by a `__tracebackhide__` (a wrapper like put_page)."""
    last = None
    for event in reversed(_core.events(pool) if events is None else events):
        if event[1] != task:
            continue
        last = last or event
        if not _core.site_hidden(event[6]):
            return (_core.site_label(event[6]).split(" (")[0], _core.site_line(event[6]), last[0], last[3])
    return ("", 0, last[0], last[3]) if last else ("", 0, 0, None)


def last_function(pool, task):
    return last_place(pool, task)[0]


def worker_crash(task, how, function):
    """The worker of `task` died during the run: `how` says how (exited, killed by a signal)."""
    return FindingReport("worker-crash", f"the worker of task {task} {how}", function=function, task=task)


def run_overran(watchdog_s, stuck, function, line, task):
    """A run past the watchdog: a hang whose `stuck` tasks never ended, in `function` of `task`
    where that is known."""
    where = f" in {function} (task {task})" if function else ""
    return FindingReport("hang", f"run exceeded the {watchdog_s:g} s watchdog{where}; "
                         f"task(s) {', '.join(map(str, stuck))} never ended",
                         function=function, line=line, task=task if stuck else -1, past_watchdog=True)


def parent_overran(what, watchdog_s, method):
    """One of the program's methods, run in the parent, past the watchdog: a hang named after
    the method itself, since where the alarm lands inside it varies."""
    return FindingReport("hang", f"{what} ran past the {watchdog_s:g} s watchdog",
                         getattr(method, "__func__", method).__qualname__, task=-1, past_watchdog=True)


def parent_finding(kind, message, exc):
    """What one of the program's methods raised in the parent, as a finding in the model
    function it came from."""
    function, line = model_site(exc.__traceback__)
    return FindingReport(kind, message, function, line, task=-1, obj=getattr(exc, "obj", None))
