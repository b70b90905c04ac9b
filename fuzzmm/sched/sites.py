"""Where in model code a finding was detected: the innermost frame that is not fuzzmm's own machinery."""
import os
import traceback

_MACHINERY = (
    os.path.join("fuzzmm", "sched") + os.sep,
    os.path.join("fuzzmm", "program.py"),
)


def _is_machinery(filename):
    return filename.endswith((".pyx", ".pxi")) or any(part in filename for part in _MACHINERY)


def model_site(tb):
    """(qualified function name, line) of the innermost model frame of a traceback."""
    best = ("", 0)
    for frame, line in traceback.walk_tb(tb):
        code = frame.f_code
        if not _is_machinery(code.co_filename):
            best = (code.co_qualname, line)
    return best


def short_traceback(tb, limit=8):
    """The last model frames as 'function (file:line)' lines, innermost last."""
    lines = [f"{frame.f_code.co_qualname} ({os.path.basename(frame.f_code.co_filename)}:{line})"
             for frame, line in traceback.walk_tb(tb) if not _is_machinery(frame.f_code.co_filename)]
    return lines[-limit:]
