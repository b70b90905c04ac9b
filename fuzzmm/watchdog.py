"""The parent's watchdog: a time bound on the model code this process runs itself.

An executor runs the program's setup, init and quiescent check here, not in a worker, and a
model is imported here (fuzzmm.models).  A run's tasks past the watchdog are ended by killing
their workers; code run here has no worker to kill, so a SIGALRM timer raises Overran into it
instead.
"""
import os
import signal
import sys
import threading
import time

from fuzzmm.errors import os_exit_refused

TIMER_SLACK = 1.1       # the parent's watchdog timer runs this many watchdogs (see _Alarm)


class Overran(BaseException):
    """Raised by the alarm into model code the parent runs (import, setup, init, check) past the watchdog."""


class _Alarm:
    """The one SIGALRM handler of this process, shared by every executor in it, bounding the
    model code the parent runs (setup, init, check) with a watchdog.

    A block costs no system call: it notes when it began, and one timer, set for 1.1 times
    the watchdog, is renewed only when it would not cover the block, or would ring past 1.1
    times its watchdog (set by an executor of a longer one): about every tenth of a watchdog
    period while runs go on (a setitimer per block had cost 7% of the runs), so a block is
    stopped between 1 and 1.1 times its watchdog.  A timer running that is not the one we
    set (its time left disagrees with ours) is someone else's, and left to run.  When the
    timer rings inside a block past its watchdog, Overran is raised there; inside a block
    not yet past it, the timer is set for the rest.  An alarm that is not ours goes to the
    handler that was there before (pytest-timeout's, say), or takes its default action, and
    a timer someone else has running is left to run.  Whether someone took the signal over
    is looked at only when the timer is renewed: until then a block may run unbounded (a
    handler that takes the signal sets its own timer, which replaces ours).  Only the main
    thread receives signals."""

    def __init__(self):
        self.previous = None        # the handler found when installing; None: not installed
        self.users = 0
        self.expires = None         # when our timer rings (monotonic), if it is set
        self.started = None         # when the block under way began
        self.seconds = 0.0

    def ring(self, signum, frame):
        now = time.monotonic()
        ours = self.expires is not None and now >= self.expires - 0.05
        if ours:
            self.expires = None
        if self.started is not None and now - self.started >= self.seconds:
            self.started = None
            raise Overran()
        if ours:
            if self.started is not None:            # a block not yet past its watchdog
                self._set(self.seconds - (now - self.started), now)
            return
        previous = self.previous
        if callable(previous):
            previous(signum, frame)
        elif previous == signal.SIG_DFL:            # as if nobody had caught it
            signal.signal(signal.SIGALRM, signal.SIG_DFL)
            os.kill(os.getpid(), signal.SIGALRM)

    def _set(self, seconds, now):
        signal.setitimer(signal.ITIMER_REAL, seconds)
        self.expires = now + seconds

    def begin(self, seconds):
        """A block of model code starts; False if it runs unbounded (off the main thread)."""
        if threading.current_thread() is not threading.main_thread():
            return False
        now = time.monotonic()
        # Renew the timer when it would not cover the block, or would ring too late for it (an
        # executor of a longer watchdog set it): about once per watchdog period while runs go
        # on, since signal.getsignal alone costs microseconds.
        if self.expires is None or not seconds <= self.expires - now <= TIMER_SLACK * seconds:
            if signal.getsignal(signal.SIGALRM) != self.ring:
                self.previous = signal.signal(signal.SIGALRM, self.ring)
                self.expires = None                 # whoever took the signal may have set the timer
            left = signal.getitimer(signal.ITIMER_REAL)[0]
            if left and (self.expires is None or abs(now + left - self.expires) > 0.05):
                self.expires = None                 # someone else's timer: leave it be, unbounded
                return True
            self._set(TIMER_SLACK * seconds, now)
        self.started, self.seconds = now, seconds
        return True

    def end(self):
        self.started = None

    def opened(self):
        self.users += 1

    def closed(self):
        self.users -= 1
        if self.users == 0 and self.previous is not None and signal.getsignal(signal.SIGALRM) == self.ring \
                and threading.current_thread() is threading.main_thread():
            if self.expires is not None:
                signal.setitimer(signal.ITIMER_REAL, 0)
                self.expires = None
            signal.signal(signal.SIGALRM, self.previous)
            self.previous = None


_ALARM = _Alarm()


class InParent:
    """Runs model code in this process (import, setup, init, check): bounded by the watchdog (see
    _Alarm), since there is no worker to kill here, and with its prints sent to stderr, since
    stdout carries the command's own output (--json lines).  Off the main thread, which alone
    receives signals and owns sys.stdout, the code runs as it is.  An executor holds one from
    its start to its close."""

    def __init__(self, seconds):
        self.seconds = seconds
        self.stdout = None
        self.exit_refused = os_exit_refused()
        _ALARM.opened()

    def __enter__(self):
        if _ALARM.begin(self.seconds):
            self.stdout, sys.stdout = sys.stdout, sys.stderr
            self.exit_refused.__enter__()
        return self

    def __exit__(self, *exc):
        if self.stdout is not None:
            sys.stdout, self.stdout = self.stdout, None     # first: an alarm now must not keep it on stderr
            _ALARM.end()
            self.exit_refused.__exit__()

    def release(self):
        """Its executor is closing: the handler that was there before comes back once no
        executor in this process holds an InParent."""
        _ALARM.closed()
