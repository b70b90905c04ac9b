"""The processes a process started, and theirs, found through /proc to be killed with it.

Model code may start processes (a helper, a `sleep`), and they must not outlive
the worker, job or campaign that ran it.  Once a process dies its children are
handed to init and no longer lead back to it, so a tree is gathered while its
root still lives, and what left it is found by a mark in its environment.
Process groups would not do: a worker in a group of its own leaves the
campaign's group, out of reach of `kill -9 -PGID` and of the terminal.
"""
import os
import signal


def descendants(pid):
    """The pids of every process below `pid` now, children first."""
    if _children(pid) is None:          # no children files here: every process's parent instead
        parents = {}
        for name in os.listdir("/proc"):
            if name.isdigit() and (fields := stat(int(name))) is not None:
                parents.setdefault(int(fields[1]), []).append(int(name))
        return _below(pid, lambda p: parents.get(p, []))
    return _below(pid, lambda p: _children(p) or [])


def _below(pid, children_of):
    found, queue = [], [pid]
    while queue:
        children = children_of(queue.pop(0))
        found.extend(children)
        queue.extend(children)
    return found


def _children(pid):
    """The children of `pid`, from /proc/PID/task/*/children (one small read per thread, so
    cheap enough for every worker a fork-per-run baseline replaces); None where the kernel
    does not keep those files."""
    try:
        threads = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return []                   # gone meanwhile
    children = []
    for tid in threads:
        try:
            with open(f"/proc/{pid}/task/{tid}/children", encoding="ascii") as f:
                children.extend(int(child) for child in f.read().split())
        except FileNotFoundError:
            if os.path.isdir(f"/proc/{pid}/task/{tid}"):
                return None         # the thread is there, its children file is not
        except OSError:
            continue
    return children


def stat(pid):
    """The fields of /proc/PID/stat after the command name: [state, ppid, pgrp, ...], or None."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as f:
            return f.read().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None                 # gone meanwhile, or not ours to read


MARK = "FUZZMM_WORKER"      # each worker's "EXECUTOR_PID.WORKER_PID.", inherited by what its tasks run


def marked(*prefixes):
    """The pids of processes started with MARK in their environment, its value starting with
    one of `prefixes` ("EXECUTOR_PID." for all its workers, "EXECUTOR_PID.WORKER_PID." for
    one): those a worker's tasks started and that left its tree (its own death, a shell's
    `&`).  A scan of every process's environment, so only for a worker or job already gone,
    and once when an executor closes."""
    needles = tuple(f"{MARK}={prefix}".encode() for prefix in prefixes)
    found = []
    for name in os.listdir("/proc"):
        if not name.isdigit() or int(name) == os.getpid():
            continue
        try:
            with open(f"/proc/{name}/environ", "rb") as f:
                environ = f.read()
        except OSError:
            continue
        if any(var.startswith(needles) for var in environ.split(b"\0")):
            found.append(int(name))
    return found


def kill(pids):
    """SIGKILL each of `pids` that still exists."""
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
