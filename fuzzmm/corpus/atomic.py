"""Atomic file I/O for a directory many processes write into at once.

A file is written whole under a temporary name and renamed over its own, so a
reader sees the old file or the whole new one, never a part.  A temporary name
carries its writer's process id, so the files of writers that are gone can be
told from those being written: a writer killed between its last byte and the
rename leaves a whole file there, which the directory's owner may recover
(left_by_dead_writers), and one killed sooner leaves a part, which is removed.
"""
import json
import os
import tempfile

TEMP_PREFIX = ".tmp-"


def write_atomic(path, doc):
    """Write JSON so that a reader sees the old file or the whole new one, never a part."""
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    try:
        fd, tmp = tempfile.mkstemp(prefix=f"{TEMP_PREFIX}{os.getpid()}-", suffix=".json", dir=directory)
    except OSError as exc:              # name the file the caller asked for, not the temporary one
        raise OSError(exc.errno, exc.strerror, path) from None
    try:
        os.fchmod(fd, 0o666 & ~_umask())      # mkstemp makes 0600; corpus files are shared
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(doc, f, indent=1)
            f.write("\n")
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def check_writable(directory):
    """Raise OSError unless a file can be made in `directory`: a probe, since permission bits
    say nothing of a read-only mount, a full disk or root's exemptions."""
    fd, probe = tempfile.mkstemp(prefix=f"{TEMP_PREFIX}{os.getpid()}-", dir=directory)
    os.close(fd)
    os.unlink(probe)


def _umask():
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def is_temp(name):
    """Whether a file name in a directory is a temporary one of write_atomic or check_writable."""
    return name.startswith(TEMP_PREFIX)


def left_by_dead_writers(directory):
    """The paths of the temporary files in `directory` whose writers are gone, sorted.

    Many processes write into one corpus directory at once, so a file whose
    writer (named in the file name) is still alive is mid-write and is not one.
    """
    if not os.path.isdir(directory):
        return []
    return [os.path.join(directory, name) for name in sorted(os.listdir(directory))
            if is_temp(name) and not _writer_alive(name)]


def clean_temp(directory):
    """Remove the temporary files left by writers that are gone, whole or not."""
    for path in left_by_dead_writers(directory):
        try:
            os.unlink(path)
        except OSError:
            pass


def _writer_alive(name):
    pid = name[len(TEMP_PREFIX):].split("-", 1)[0]
    if not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:        # alive, and someone else's
        pass
    return True
