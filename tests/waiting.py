"""How the tests wait: on events, with time bounds only where a hang is the alternative or
the code promises a time.

The suite must pass on a 2-CPU machine with other work beside it (README, "Testing under
load"), where a command that takes 2 s alone can take a minute.  So:
- a wait for a child process or a command is bounded by HANG_S, far above any slowdown: it
  only stops a hang from stopping the suite;
- a time the code promises (a watchdog, a grace) is measured from the moment the promise is
  about, noted by the test program itself, and allowed LATE_S for a process that the machine
  kept from running;
- a campaign that must find something runs until the event shows in what it prints, and is
  then ended as Ctrl-C ends it: its --duration is only the bound that a failure reaches.
"""
import json
import signal
import subprocess
import sys
import time

HANG_S = 300            # a child process or command still running after this has hung
LATE_S = 3.0            # how late a process on a loaded machine may act on a timer, a signal or a wake-up
UNTIL_S = 120           # the --duration of a campaign run until an event: reached only if the event never comes


def within(seconds, holds):
    """Whether `holds()` comes true within `seconds` (a killed process takes a moment to go)."""
    deadline = time.monotonic() + seconds
    while not holds() and time.monotonic() < deadline:
        time.sleep(0.01)
    return bool(holds())


def start_fuzz(*args, cwd=None, start_new_session=False):
    """`fuzzmm fuzz ARGS --duration UNTIL_S`, started; end it with end_when()."""
    return subprocess.Popen([sys.executable, "-m", "fuzzmm", "fuzz", *args, "--duration", str(UNTIL_S)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=cwd,
                            start_new_session=start_new_session)


def end_when(proc, holds):
    """Read what a campaign prints until `holds(line)` is true of a line (a --json event is given
    parsed), then end it as Ctrl-C does; the whole run as a CompletedProcess, stdout and all."""
    seen = []
    for line in proc.stdout:
        seen.append(line)
        if holds(json.loads(line) if line.startswith("{") else line):
            proc.send_signal(signal.SIGINT)
            break
    try:
        out, err = proc.communicate(timeout=HANG_S)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        raise
    return subprocess.CompletedProcess(proc.args, proc.returncode, "".join(seen) + out, err)


def fuzz_until(holds, *args, cwd=None):
    """`fuzzmm fuzz ARGS`, ended as Ctrl-C ends it once `holds` is true of a line it printed."""
    return end_when(start_fuzz(*args, cwd=cwd), holds)


def is_finding(line):
    """A finding, as --json prints it or as the text output does."""
    return line.get("event") == "finding" if isinstance(line, dict) else line.startswith("[")


class EndsAt:
    """The `emit` of a campaign run in this process: it keeps the events, and ends the campaign as
    Ctrl-C would once `holds(event)` is true of one.  Run the campaign with run()."""

    def __init__(self, holds):
        self.holds = holds
        self.events = []

    def __call__(self, event):
        self.events.append(event)
        if self.holds(event):
            raise KeyboardInterrupt

    def run(self, campaign):
        """campaign.run(), which takes the KeyboardInterrupt as Ctrl-C; one it lets through fails
        the test, not the session."""
        try:
            return campaign.run()
        except KeyboardInterrupt:
            raise AssertionError("the campaign let the interrupt through") from None
