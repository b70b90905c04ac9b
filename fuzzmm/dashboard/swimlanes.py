"""A corpus entry's swimlane as SVG, by replaying it: in this process (the static report) or in a
child `fuzzmm replay --svg` (the live dashboard, whose server runs threads, which a fork of
the executor's workers must not inherit, and which must not wait on a stuck replay).

A replay that does not reproduce still draws its run; one that cannot run (a model that does
not load here) gives its reason instead of a picture.
"""
import json
import os
import subprocess
import sys
import tempfile
import threading

from fuzzmm.errors import FuzzmmError

REPLAY_TIMEOUT_S = 120      # a hang's replay lasts the watchdog (10 s): far more is something else


class Swimlane:
    """An SVG picture, or the reason there is none."""

    def __init__(self, svg=None, error=None):
        self.svg, self.error = svg, error


def title_of(entry):
    return f"{entry.variant}: {entry.signature}"


def in_process(entry):
    """Replay `entry` here and draw its run."""
    from fuzzmm import corpus
    from fuzzmm.svg import swimlane_svg
    try:
        result = corpus.replay(entry, keep_events=True)
    except FuzzmmError as exc:
        return Swimlane(error=str(exc))
    note = "" if result.reproduced else " (did not reproduce here)"
    return Swimlane(svg=swimlane_svg(result.first, entry.scenario, names=result.object_names,
                                     title=title_of(entry) + note))


def in_child(entry, timeout=REPLAY_TIMEOUT_S):
    """Replay `entry` in a child `fuzzmm replay --svg` and read its picture."""
    with tempfile.TemporaryDirectory(prefix="fuzzmm-swimlane-") as scratch:
        path = os.path.join(scratch, entry.file_name(base=scratch))
        out = os.path.join(scratch, "swimlane.svg")
        with open(path, "w", encoding="utf-8") as f:
            json.dump(entry.to_json(base=scratch), f)
        try:
            proc = subprocess.run([sys.executable, "-m", "fuzzmm", "replay", path, "--svg", out],
                                  capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired:
            return Swimlane(error=f"the replay took over {timeout} s")
        if proc.returncode not in (0, 1) or not os.path.exists(out):
            lines = [line for line in proc.stderr.splitlines() if line.strip()]
            return Swimlane(error=lines[-1] if lines else f"fuzzmm replay exited {proc.returncode}")
        with open(out, encoding="utf-8") as f:
            return Swimlane(svg=f.read())


class Cache:
    """Swimlanes by reproducer id, each drawn once (concurrent asks for one wait for it)."""

    def __init__(self, draw=in_child):
        self.draw = draw
        self.done = {}
        self.locks = {}
        self.lock = threading.Lock()

    def get(self, rid, entry):
        key = (rid, json.dumps(entry.to_json(), sort_keys=True))      # a replaced reproducer is drawn anew
        with self.lock:
            if key in self.done:
                return self.done[key]
            lock = self.locks.setdefault(key, threading.Lock())
        with lock:
            if key not in self.done:
                self.done[key] = self.draw(entry)
            return self.done[key]
