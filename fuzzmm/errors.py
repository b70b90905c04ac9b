"""Exceptions and the stable names of finding kinds.

A `Finding` derives from BaseException, not Exception, so that model code which
catches `Exception` around a kernel call cannot swallow a detector firing.
"""
import os

#: Stable signature kinds (the README lists what fires each).  The index of a kind is the
#: code a worker writes into shared memory; append, never reorder.
KINDS = (
    "ok",
    "aborted",
    "refcount-underflow",
    "use-after-free",
    "bad-page-state",
    "bad-unlock",
    "sleep-in-atomic",
    "deadlock",
    "lock-order",
    "counter-leak",
    "refcount-leak",
    "unreclaimable-page",
    "lost-write",
    "misaccounting",
    "put-before-unlock",
    "assertion",
    "worker-crash",
    "hang",
    "error",
    "lock-leak",
)
KIND_CODE = {name: code for code, name in enumerate(KINDS)}
#: The kinds a finding can have: every code but how a task ended without one.
FINDING_KINDS = KINDS[2:]


class FuzzmmError(Exception):
    """Bad input or misuse of the API: reported as one line, exit code 2."""


class PoolError(FuzzmmError):
    """The shared-memory pool cannot do what was asked (closed, missing, full)."""


class OwnerDied(PoolError):
    """A lock is held by a process that no longer exists."""


class Finding(BaseException):
    """A detector fired: `kind` is one of KINDS, `message` says what it saw."""

    def __init__(self, kind, message="", obj=None, function=None, tasks=()):
        __tracebackhide__ = True        # a bad kind is the raiser's error, placed where it raised  # noqa: F841
        if kind not in FINDING_KINDS:
            raise ValueError(f"unknown finding kind {kind!r}; a Finding is one of: {', '.join(FINDING_KINDS)}")
        super().__init__(kind, message)
        self.kind = kind
        self.message = message
        self.obj = obj          # the object it concerns, as the event ring names objects
        self.function = function  # where it belongs when not where it was raised (a task's end)
        self.tasks = list(tasks)  # the tasks it involves: a deadlock's cycle of waits

    def __str__(self):
        return f"{self.kind}: {self.message}" if self.message else self.kind


class RunAborted(BaseException):
    """Unwinds a task whose run was ended by another task's finding or the parent."""


_REAL_EXIT = os._exit


class os_exit_refused:
    """Make os._exit raise SystemExit while model code runs in fuzzmm's own process.

    os._exit there would end the command at once, with no output and whatever status
    the model chose (0 reads as "nothing found"); as SystemExit it is reported like any
    other exception of model code.  Anywhere else (a process the model forks, or a
    reference to it kept and called after the guard) it is the real os._exit.  One
    guard may be entered again and again: the parent enters one around every init and
    check, so it costs an attribute swap, not a generator."""

    def __init__(self):
        self.here = None            # the pid it guards while entered, else None

    def __enter__(self):
        self.here = os.getpid()
        os._exit = self.refuse
        return self

    def __exit__(self, *exc):
        os._exit, self.here = _REAL_EXIT, None

    def refuse(self, code):
        __tracebackhide__ = True        # a finding is placed at the model's call, not here  # noqa: F841
        if os.getpid() != self.here:
            _REAL_EXIT(code)
        raise SystemExit(f"os._exit({code}) called in fuzzmm's own process")
