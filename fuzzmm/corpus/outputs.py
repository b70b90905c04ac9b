"""Where the corpus commands may write, and a replay's trace file.

A reproducer is lost once written over, and an option's value is easily mistyped
(a slip of the tab key names the corpus file beside the one meant), so a file
that `minimize -o` or `replay --trace-json` would write is checked before the
work, not after it: never over a corpus file of another signature, and only
where a file can be written.  The checks raise FuzzmmError with the reason; the
option they name is the caller's.
"""
import os

from fuzzmm.errors import FuzzmmError


def refuse_other_reproducer(path, option, entry=None):
    """Refuse to write over a corpus file (of another signature than `entry`'s): a reproducer
    is lost once written over, and an option's value is easily mistyped."""
    from fuzzmm import corpus
    try:
        other = corpus.load(path)
    except FuzzmmError:
        return
    if entry is None or other.key() != entry.key():
        raise FuzzmmError(f"{path}: holds a reproducer of {other.variant} {other.signature}; "
                          f"{option} would write over it")


def check_trace_target(path, corpus_file, option="--trace-json"):
    """Refuse a --trace-json (or --svg) file that is the corpus file being replayed, or that
    could not be written: before the replay runs rather than after, and one that is a corpus
    file.  '-' (stdout) is always fine."""
    if path == "-":
        return
    if os.path.exists(path) and os.path.samefile(path, corpus_file):
        raise FuzzmmError(f"{option} {path} is the corpus file itself; name another file")
    if os.path.isfile(path):
        refuse_other_reproducer(path, option)
    directory = os.path.dirname(os.path.abspath(path))
    if os.path.isdir(path):
        reason = f"is a directory; {option} names the file to write"
    elif not os.path.isdir(directory):
        reason = f"directory {directory} does not exist"
    elif not os.access(path if os.path.exists(path) else directory, os.W_OK):
        reason = "permission denied"
    else:
        return
    raise FuzzmmError(f"cannot write {'trace' if option == '--trace-json' else 'the SVG'} to {path}: {reason}")


def minimize_target(path, output, entry):
    """Where `minimize` writes the smallest reproducer of `entry`, read from `path`: `output`
    (-o), or `path` itself.  Refused before the work: a directory, a link or other file that is
    no regular file (for -o), a missing directory, a reproducer of another signature, and a
    directory that takes no new file."""
    out = output or path
    if os.path.isdir(out):
        raise FuzzmmError(f"{out}: is a directory; -o names the file to write")
    if output and (os.path.islink(out) or os.path.lexists(out) and not os.path.isfile(out)):
        raise FuzzmmError(f"{out}: not a regular file; -o writes a corpus file in its place")
    if not os.path.isdir(os.path.dirname(os.path.abspath(out))):
        raise FuzzmmError(f"{out}: no such directory")
    if output and os.path.isfile(out) and not os.path.samefile(out, path):
        refuse_other_reproducer(out, "-o", entry)
    check_directory_writable(out)
    return out


def check_directory_writable(path):
    """Refuse, before the work, a file whose directory takes no new file (minimize writes it
    whole beside the old one and renames it over)."""
    from fuzzmm.corpus.atomic import check_writable
    try:
        check_writable(os.path.dirname(os.path.abspath(path)))
    except OSError as exc:
        raise FuzzmmError(f"cannot write {path}: {exc.strerror}") from None


def write_trace(stream, result, entry):
    """Write the first run of a replay of `entry` (its ReplayResult `result`, events kept) to
    `stream` as JSON lines, each naming the corpus file and the variant."""
    from fuzzmm.trace import write_json_lines
    write_json_lines(stream, result.first, result.object_names,
                     run="replay", corpus_file=entry.path, variant=entry.variant)


def write_trace_file(path, result, entry):
    """write_trace into the file `path`; a file that cannot be written is FuzzmmError."""
    try:
        with open(path, "w", encoding="utf-8") as stream:
            write_trace(stream, result, entry)
    except OSError as exc:
        raise FuzzmmError(f"cannot write trace to {path}: {exc.strerror}") from None
