"""Where in model code a finding was detected: the innermost frame that is not fuzzmm's own machinery."""
import os
import sys
import traceback

_MACHINERY_PATHS = (
    os.path.join("fuzzmm", "sched") + os.sep,
    os.path.join("fuzzmm", "program.py"),
)


def is_machinery(frame):
    """fuzzmm's own frames, and model helpers that ask to be skipped the way pytest's
    are: a local `__tracebackhide__ = True` (a kernel-style put_page wrapper, say)."""
    filename = frame.f_code.co_filename
    if filename.endswith((".pyx", ".pxi")) or any(part in filename for part in _MACHINERY_PATHS):
        return True
    return bool(frame.f_locals.get("__tracebackhide__", False))


def model_site(tb):
    """(qualified function name, line) of the innermost model frame of a traceback."""
    best = ("", 0)
    for frame, line in traceback.walk_tb(tb):
        if not is_machinery(frame):
            best = (frame.f_code.co_qualname, line)
    return best


def caller_site():
    """(qualified function name, line) of the innermost model frame now running."""
    frame = sys._getframe(1)
    while frame is not None:
        if not is_machinery(frame):
            return frame.f_code.co_qualname, frame.f_lineno
        frame = frame.f_back
    return "", 0


def short_traceback(tb, limit=8):
    """The last model frames as 'function (file:line)' lines, innermost last."""
    lines = [f"{frame.f_code.co_qualname} ({os.path.basename(frame.f_code.co_filename)}:{line})"
             for frame, line in traceback.walk_tb(tb) if not is_machinery(frame)]
    return lines[-limit:]
