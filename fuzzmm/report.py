"""What a person reads: progress lines, the end-of-campaign table, the swimlane of a run."""
import json
import sys

from fuzzmm.trace import records


def print_event(event):
    """Text rendering of a campaign event: findings as they come, progress and the corpus's
    comings and goings on stderr."""
    if event["event"] == "finding":
        where = event["corpus_file"] or f"not saved ({event.get('unsaved')})"
        note = " (already in the corpus, in a larger file a person added to, kept; this smaller one follows)" \
            if event.get("curated") else " (already in the corpus)" if event.get("known") else \
            " (replaced a larger reproducer)" if event.get("replaced") else \
            " (spooled: the corpus does not answer; saved there once it does)" if event.get("spooled") else ""
        print(f"[{event['first_found_s']:7.2f}s] {event['variant']}: {event['signature']} "
              f"({event['strategy']}) -> {where}{note}", flush=True)
        if "reproducer" in event:
            print(json.dumps(event["reproducer"], separators=(",", ":")), flush=True)
    elif event["event"] == "progress":
        kinds = ", ".join(f"{k} {n}" for k, n in sorted(event["findings_by_kind"].items())) or "none"
        line = (f"{event['elapsed_s']:7.1f}s  {_running(event)}  {event['runs']} runs  "
                f"{event['runs_per_s']:.0f} runs/s  {event['coverage_pairs']} pairs  findings: {kinds}")
        if sys.stderr.isatty():
            print("\r" + line, end="", file=sys.stderr, flush=True)
        else:
            print(line, file=sys.stderr, flush=True)
    elif event["event"] == "outage":
        _note(f"{event['corpus']} does not answer ({event['why']}) at {event['since_s']:.1f} s; "
              f"the campaign goes on, and keeps its findings in {event['spool']} until it does")
    elif event["event"] == "unspooled":
        _note(f"{event['corpus']} answers at {event['at_s']:.1f} s: {len(event['saved'])} spooled finding(s) "
              f"saved there")
        for item in event["saved"]:
            if item.get("curated"):
                print(f"{item['variant']}: {item['signature']} is smaller than the entry a person added to in "
                      f"{item['corpus_file']}, which is kept; this one follows", flush=True)
                print(json.dumps(item["reproducer"], separators=(",", ":")), flush=True)


def _note(line):
    if sys.stderr.isatty():
        print(file=sys.stderr)
    print(f"fuzzmm: note: {line}", file=sys.stderr, flush=True)


def _running(event):
    """What a progress line says runs: the job (variant/strategy) or two, else how many; and,
    when jobs run in turn, how many of all have ended."""
    running = event.get("running", [])
    what = ", ".join(running) if 0 < len(running) <= 2 else f"{len(running)} jobs"
    total = event.get("jobs", len(running))
    return what + (f" ({event.get('jobs_done', 0)} of {total} jobs done)" if total > len(running) else "")


def table(summary, variants):
    """Variant, findings by kind, time to the first of each, counted from the start of the job
    that found it (jobs beyond --executors run in turn, each from its own start); a variant none
    of whose jobs made a run is `not run`, never 0.  Below: the jobs, where any did not run its
    course, what the corpus's outages did, and why the campaign ended late, if it did."""
    if sys.stderr.isatty():
        print(file=sys.stderr)
    jobs = summary.get("jobs")
    ran = None if jobs is None else {job["variant"] for job in jobs if job["ran"]}
    rows = [("variant", "kind", "count", "first found (s into its job)")]
    for variant in variants:
        found = [f for f in summary["findings"] if f["variant"] == variant]
        if not found:
            rows.append((variant, "-", "0", "-") if ran is None or variant in ran else (variant, "not run", "-", "-"))
        kinds = {}
        for f in found:
            count, first = kinds.get(f["kind"], (0, f["first_found_s"]))
            kinds[f["kind"]] = (count + 1, min(first, f["first_found_s"]))
        for kind, (count, first) in sorted(kinds.items(), key=lambda kv: kv[1][1]):
            rows.append((variant, kind, str(count), f"{first:.2f}"))
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    lines.append(f"{summary['runs']} runs in {summary['elapsed_s']} s ({summary['runs_per_s']} runs/s), "
                 f"seed {summary.get('seed')}" + ("; interrupted before its --duration was up"
                                                  if summary.get("interrupted") else ""))
    if jobs and (summary.get("outages") or any(not job["ran"] or job["error"] for job in jobs)):
        lines.append("jobs:")
        lines.extend(f"  {_job_line(job)}" for job in jobs)
    for outage in summary.get("outages") or ():
        until = "the end" if outage["to_s"] is None else f"{outage['to_s']:.1f} s"
        lines.append(f"the corpus did not answer from {outage['from_s']:.1f} s to {until} ({outage['why']})")
    if summary.get("spooled"):
        lines.append(f"{len(summary['spooled'])} finding(s) wait in the spool, saved into the corpus by the next "
                     f"campaign on it: " + ", ".join(summary["spooled"]))
    late = summary.get("late")
    if late:
        lines.append(f"ended {late['over_s']} s past its --duration, more than the {late['allowed_s']} s it may: "
                     + "; ".join(late["why"]))
    return "\n".join(lines)


def _job_line(job):
    name = f"{job['variant']}/{job['strategy']}"
    if job["started_s"] is None:
        return f"{name}: not run"
    ran = f"{job['runs']} runs in {job['search_s']} s" if job["search_s"] is not None else "no search"
    ended = "" if job["ended_s"] is None else f" to {job['ended_s']} s"
    return f"{name}: {ran} (from {job['started_s']} s{ended})" + (f"; {job['error']}" if job["error"] else "")


def _cell(rec):
    op = rec["op"]
    if op == "block":
        return f"waits for {rec['object']}"
    before, after = rec.get("before_text", rec["before"]), rec.get("after_text", rec["after"])
    if rec["before"] == rec["after"]:
        return f"{op} {rec['object']} = {before}"
    return f"{op} {rec['object']} {before}->{after}"


_WRITES = {"store", "xchg", "cmpxchg"}
_READ_MODIFY_WRITES = {"add", "sub", "xchg", "cmpxchg", "or", "and"}


def _focused(rows, focus, task=-1, step=0):
    """The operations on the objects of the finding, the stores to shared state (a
    page-table entry, a slot) that the tasks involved made up to the last of them or the
    finding's `step`, the read-modify-write atomics (add, sub, xchg, cmpxchg, ...) made up
    to there on objects more than one task used (a reference count) that a task involved
    used, whichever task made them (the other task's `add` that revived a count is the
    race), and the involved tasks' loads of what they stored where more than one of them
    used it: a check-then-act race shows its checks.  The tasks involved are those that
    touched the objects and the task the finding is in."""
    mine = [i for i, r in enumerate(rows) if r["obj"] in focus]
    if not mine:
        return rows
    last = max([mine[-1]] + [i for i, r in enumerate(rows) if r["seq"] <= step])
    actors = {rows[i]["task"] for i in mine} | {task}
    stores = [i <= last and r["op"] in _WRITES and r["before"] != r["after"] and r["task"] in actors
              for i, r in enumerate(rows)]
    loads = [i <= last and r["op"] == "load" and r["task"] in actors for i, r in enumerate(rows)]
    touched_by = {}     # object -> every task that operated on it
    for r in rows:
        touched_by.setdefault(r["obj"], set()).add(r["task"])
    used_by_actors = {r["obj"] for r in rows[:last + 1] if r["task"] in actors}
    updates = [i <= last and r["op"] in _READ_MODIFY_WRITES and r["obj"] in used_by_actors
               and len(touched_by[r["obj"]]) > 1 for i, r in enumerate(rows)]
    users = {}          # object -> the tasks involved that stored or loaded it
    for r, is_store, is_load in zip(rows, stores, loads):
        if is_store or is_load:
            users.setdefault(r["obj"], set()).add(r["task"])
    shared = {r["obj"] for r, is_store in zip(rows, stores) if is_store and len(users[r["obj"]]) > 1}
    return [r for i, r in enumerate(rows)
            if r["obj"] in focus or stores[i] or updates[i] or (loads[i] and r["obj"] in shared)]


def _runs(entries):
    """(first, last) index of each run of consecutive rows alike but for their step."""
    start = 0
    for i in range(1, len(entries) + 1):
        if i == len(entries) or entries[i][1:] != entries[start][1:]:
            yield start, i - 1
            start = i


def lane(result, names=None, everything=False):
    """What a swimlane shows, whether drawn as text or as SVG (fuzzmm.svg): (items, objects,
    label), where each item is ("row", step, task, text, where, mark) with mark "focus" for an
    operation on the finding's objects, "finding" for the finding's own row, else None; or
    ("more", how many rows alike were left out, which steps).  `objects` are the ring ids the
    view focuses on (None: every step is shown) and `label` the name of the first of them.

    A run of rows alike but for their step (a task spinning) shows as its first and last.
    By default only the operations on the object the finding concerns are shown (all of
    them when it names none; see _focused); `everything` shows every step."""
    finding = result.finding
    focus = None if everything or finding is None or finding.obj is None else finding.obj
    rows = [r for r in records(result, names) if r["task"] >= 0]
    objects = None
    if focus is not None:
        objects = {focus}
        if finding.kind == "deadlock":          # every lock the deadlocked tasks wait for
            objects |= {r["obj"] for r in rows if r["op"] == "block"}
        rows = _focused(rows, objects, finding.task, finding.step)
    entries = [(rec["seq"], rec["task"], _cell(rec), f"{rec['function']} ({rec['where']})",
                "focus" if objects and rec["obj"] in objects else None) for rec in rows]
    if finding is not None and finding.task >= 0 and finding.step > 0:     # step 0: seen by the parent
        marker = (finding.step, finding.task, f"!! {finding.kind}", f"{finding.function}:{finding.line}", "finding")
        entries.insert(sum(1 for e in entries if e[0] <= finding.step), marker)
    items = []
    for start, end in _runs(entries):
        items.append(("row", *entries[start]))
        if end - start >= 2:        # a spin: its first and last rows, and how many between
            between = f"step {entries[start + 1][0]}" if end - start == 2 else \
                f"steps {entries[start + 1][0]} to {entries[end - 1][0]}"
            items.append(("more", end - start - 1, between))
        if end > start:
            items.append(("row", *entries[end]))
    label = next((r["object"] for r in rows if r["obj"] == focus), "the object") if focus is not None else None
    return items, objects, label


def finding_line(finding):
    """The line a swimlane ends with: the finding, where and when, and its message."""
    where = f"task {finding.task}" if finding.task >= 0 else "quiescent check"
    when = f", step {finding.step}" if finding.step > 0 else ""
    return f"!! {finding.kind} in {finding.function or '?'} ({where}{when}): {finding.message}"


def focus_note(finding, label):
    """What a focused swimlane says it left out."""
    locks = " and the locks waited for" if finding.kind == "deadlock" else ""
    return (f"(only the operations on {label}{locks}, the stores the tasks involved made up to the finding "
            f"and their loads of them, and the atomic updates of shared objects they used; "
            f"--trace-all shows every step)")


def swimlane(result, scenario, names=None, everything=False, width=None):
    """One row per step, one column per task, the finding marked at its step; a run of
    rows alike but for their step (a task spinning) shows as its first and last.

    By default only the operations on the object the finding concerns are
    shown (all of them when it names none); `everything` shows every step.
    Columns are as wide as their longest cell (24 to 80 characters) unless
    `width` says otherwise: a cut cell would hide the values that matter.
    """
    finding = result.finding
    items, objects, label = lane(result, names, everything)
    ntasks = scenario.ntasks
    if width is None:
        width = min(80, max([24] + [len(item[3]) for item in items if item[0] == "row"]))
    lines = [" ".join(["step".rjust(5)] + [f"task {t}".ljust(width) for t in range(ntasks)] + ["where"]),
             " ".join(["-" * 5] + ["-" * width] * ntasks + ["-" * 5])]
    for item in items:
        if item[0] == "more":
            lines.append(f"{'':5} ({item[1]} more like this, {item[2]})")
            continue
        _, step, task, text, where, _ = item
        columns = [" " * width] * ntasks
        if 0 <= task < ntasks:
            columns[task] = text[:width].ljust(width)
        lines.append(" ".join([str(step).rjust(5)] + columns + [where]))
    if finding is not None:
        lines.append(finding_line(finding))
    if objects is not None:
        lines.append(focus_note(finding, label))
    return "\n".join(lines)
