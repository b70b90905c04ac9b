"""Where a stuck task is: a hang located by signal.

A task that spins in plain Python reaches no scheduling point, so nothing in the event ring says
where it is.  When a run passes the watchdog the executor signals the stuck task's worker, which
notes its model frames in its result slot (worker._note_where); the function every note shares
names the hang.
"""
import json
import os
import signal
import time

from fuzzmm import _core

WHERE_NOTES = 8      # notes of where a stuck task is: its function is the deepest they all share


def _note_of(detail):
    """A worker's note of where its task is (worker._note_where), or None."""
    try:
        note = json.loads(detail.decode())
    except (ValueError, UnicodeDecodeError):
        return None
    return note if isinstance(note, dict) and "note" in note and "stack" in note else None


def where_stuck(pool, pids, tasks):
    """(function, line, task) where a stuck task spins, from the notes its worker (`pids`,
    by task) leaves when signalled (worker._note_where); ("", 0, -1) if none answers.  The
    deepest function on every note is named: a signal lands where the interpreter next
    checks for one, which may vary when a spin loop calls helpers."""
    for task in tasks:
        stacks, seen = [], None
        for _ in range(WHERE_NOTES):
            try:
                os.kill(pids[task], signal.SIGUSR1)
            except (OSError, ValueError):
                break
            until, answered = time.monotonic() + 0.05, False
            while time.monotonic() < until and not answered:
                note = _note_of(_core.run_info(pool)["results"][task][2])
                if note is not None and note["note"] != seen:
                    seen, answered = note["note"], True
                    stacks.append([tuple(frame) for frame in note["stack"]])
                else:
                    time.sleep(0.002)
            if not answered:
                break           # blocked outside Python (a futex wait): ask the next one
        shared = stacks[0] if stacks else []
        for stack in stacks[1:]:
            depth = 0
            while depth < min(len(shared), len(stack)) and shared[depth][0] == stack[depth][0]:
                depth += 1
            shared = shared[:depth]
        if shared:
            return shared[-1][0], shared[-1][1], task
    return "", 0, -1
