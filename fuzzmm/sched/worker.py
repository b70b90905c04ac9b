"""The body of a persistent worker process: attach, rebuild the program, run one task per run.

Workers never report through pipes: the scenario arrives pickled in the
control block, the result goes back as a kind code and a short JSON detail in
the task's result slot, and the turn passes through shared memory.
"""
import itertools
import json
import os
import pickle
import signal

from fuzzmm import _core, proctree
from fuzzmm.errors import Finding, RunAborted
from fuzzmm.sites import is_machinery, model_site, short_traceback


DETAIL_LIMIT = 2000     # bytes of a task's result slot the detail may fill


def _detail(kind, exc):
    """The JSON detail of a task that ended in `exc`.

    Only a Finding's own `function` and `obj` are read: other exceptions may
    carry attributes of those names with other meanings (an AttributeError's
    `obj` is the object that lacked the attribute, which JSON cannot hold)."""
    function, line = model_site(exc.__traceback__)
    obj = None
    if isinstance(exc, Finding):
        message, obj = exc.message, exc.obj
        if exc.function:
            function, line = exc.function, 0
    else:
        message = str(exc) or type(exc).__name__
    if kind == "error":
        message = f"{type(exc).__name__}: {message}"
    detail = {"message": message, "function": function, "line": line, "obj": obj,
              "traceback": short_traceback(exc.__traceback__)}
    if isinstance(exc, Finding) and exc.tasks:
        detail["tasks"] = exc.tasks
    encoded = json.dumps(detail, default=repr).encode()
    for chars, frames in ((400, 4), (100, 0)):      # shorten the text, never cut the JSON
        if len(encoded) <= DETAIL_LIMIT:
            break
        detail["message"] = message[:chars] + "..."
        detail["traceback"] = detail["traceback"][-frames:] if frames else []
        encoded = json.dumps(detail, default=repr).encode()
    return encoded


_running = {}       # the pool and task index while a task runs, for _note_where
_notes = itertools.count(1)
NOTE_FRAMES = 24    # model frames a note keeps, from the op inward: well inside the result slot


def _note_where(signum, frame):
    """SIGUSR1 from the executor's watchdog (stuck.where_stuck): note the task's model
    frames, outermost first, in its result slot.  A task that spins in plain Python reaches
    no scheduling point, so only its own process can say where it is.  The walk stops at
    run_task: beyond it lie the worker's and, after a fork, the parent's frames."""
    if not _running:
        return
    stack = []
    while frame is not None and frame.f_code is not run_task.__code__:
        if not is_machinery(frame):
            stack.append((frame.f_code.co_qualname, frame.f_lineno))
        frame = frame.f_back
    if frame is None:
        return              # not inside a task after all
    note = json.dumps({"note": next(_notes), "stack": stack[::-1][:NOTE_FRAMES]}).encode()
    if len(note) <= DETAIL_LIMIT:
        _core.note_sample(_running["pool"], _running["index"], note)


def run_task(pool, program, index, ops):
    """Run one task's operations as task `index`, and report how it ended."""
    kind, detail = "ok", b""
    _running.update(pool=pool, index=index)
    try:
        _core.begin_task(pool, index)
        program.run_task(ops)
    except RunAborted:
        kind = "aborted"
    except Finding as exc:
        kind, detail = exc.kind, _detail(exc.kind, exc)
    except AssertionError as exc:
        kind, detail = "assertion", _detail("assertion", exc)
    except (Exception, KeyboardInterrupt, SystemExit) as exc:   # SIGINT is ignored here: the op raised it
        kind, detail = "error", _detail("error", exc)
    _running.clear()
    _core.end_task(pool, index, kind, detail[:DETAIL_LIMIT])


def main(pool_name, ref, index, parent_pid, cpu=None):
    """Entry point of worker `index`; returns when the executor shuts down or the parent dies."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)   # Ctrl-C is the parent's to handle
    signal.signal(signal.SIGTERM, signal.SIG_DFL)  # not a handler inherited from the parent
    signal.signal(signal.SIGUSR1, _note_where)
    os.dup2(2, 1)           # what a task prints is the model's: stdout carries the command's own output
    _core.set_pdeathsig()
    if _core.parent_gone(parent_pid):
        return
    os.environ[proctree.MARK] = f"{parent_pid}.{os.getpid()}."    # inherited by what its tasks start
    if cpu is not None:
        os.sched_setaffinity(0, {cpu})
    pool = _core.Pool.attach(pool_name)
    program = ref.load()().bind(pool)
    from fuzzmm.trace import configure_worker_logging, object_names
    _core.set_object_names(object_names(program))
    configure_worker_logging(index)
    served = _core.run_generation(pool)
    _core.set_worker(pool, index, os.getpid(), True)
    version, ops = -1, None
    while True:
        # The next run this worker takes part in (under control, woken when its task's
        # first turn comes); a worker that sat a run out and wakes late never takes part
        # in a run twice or in one it was not released into (see next_task).
        served = _core.next_task(pool, served, parent_pid, index)
        if served < 0:
            break
        if _core.scenario_version(pool) != version:
            version = _core.scenario_version(pool)
            ops = pickle.loads(_core.get_scenario(pool)).tasks[index]
        run_task(pool, program, index, ops)
    pool.close()
