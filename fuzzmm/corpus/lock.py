"""The corpus directory's `.lock`: campaigns compare and write a finding under it.

flock is released when its holder dies, but not when the holder is stopped
(Ctrl-Z, SIGSTOP, a debugger), so a waiter says who it waits for and gives up
after `WAIT_S` rather than hold its own campaign for ever.
"""
import contextlib
import fcntl
import os
import sys
import time

from fuzzmm import proctree
from fuzzmm.errors import FuzzmmError

LOCK_NAME = ".lock"
WAIT_S = 30.0
NOTICE_S = 1.0      # a wait shorter than this is another campaign's ordinary write


@contextlib.contextmanager
def held(directory, wait_s=None):
    """Hold `directory`/.lock for the body, waiting at most `wait_s` (default WAIT_S) seconds."""
    wait_s = WAIT_S if wait_s is None else wait_s
    path = os.path.join(directory, LOCK_NAME)
    with open(path, "a") as lock:
        start = time.monotonic()
        noticed = False
        delay = 0.001
        while True:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                waited = time.monotonic() - start
                if waited >= wait_s:
                    raise FuzzmmError(f"{path}: held by {_holder(lock)} for {waited:.0f} s; "
                                      f"a stopped campaign holds it until it goes on or ends") from None
                if waited >= NOTICE_S and not noticed:
                    print(f"fuzzmm: waiting for {path}, held by {_holder(lock)}", file=sys.stderr, flush=True)
                    noticed = True
                time.sleep(delay)
                delay = min(delay * 2, 0.05)
        yield


def _holder(lock):
    """'pid N' (and whether it is stopped) from /proc/locks, or 'another process'."""
    st = os.fstat(lock.fileno())
    device = f"{os.major(st.st_dev):02x}:{os.minor(st.st_dev):02x}:{st.st_ino}"
    try:
        with open("/proc/locks", encoding="ascii") as f:
            lines = f.read().splitlines()
    except OSError:
        return "another process"
    for line in lines:
        fields = line.split()
        if "FLOCK" in fields and device in fields and "->" not in fields:
            pid = fields[fields.index(device) - 1]
            return f"pid {pid}{' (stopped)' if _stopped(pid) else ''}"
    return "another process"


def _stopped(pid):
    fields = proctree.stat(pid)
    return fields is not None and fields[0] in ("T", "t")
