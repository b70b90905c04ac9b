"""Minimise a corpus file: the smallest entry that still states the file's rule, written out.

corpus/minimize.py shrinks an entry on one executor; this is the whole task on a
file, as `fuzzmm minimize` does it: the file must state a rule that can hold
and reproduce on its own variant, a smaller entry is kept only while it still
does not reproduce on its fixed_in variants (corpus/fixed.py), the place it is
written to is checked before the work (corpus/outputs.py), and Ctrl-C keeps
the smallest entry so far, each step having been checked as it was taken.
"""
import contextlib
import os
from typing import NamedTuple

from fuzzmm.corpus import fixed, outputs
from fuzzmm.corpus.entry import Entry
from fuzzmm.errors import FuzzmmError


class Minimized(NamedTuple):
    path: str               # where the smallest entry was written
    original: Entry
    smallest: Entry
    interrupted: bool       # Ctrl-C ended the search: `smallest` is the smallest so far


def minimize_file(path, output=None, max_runs=20000, on_progress=None):
    """Minimise the corpus file `path` and write the smallest reproducer to `output` (or over
    `path`).  At most `max_runs` runs on the file's own variant; `on_progress(best, runs)` hears
    of each smaller entry kept.  FuzzmmError, before any run, for a file whose rule cannot hold
    or a place that cannot be written, and, before any shrinking, for a file that does not
    reproduce."""
    from fuzzmm import corpus
    from fuzzmm.sched.executor import Executor
    if max_runs < 1:
        raise FuzzmmError(f"--max-runs must be at least 1, not {max_runs}")
    entry = corpus.load(path)
    contradiction = fixed.contradiction(entry)
    if contradiction:
        raise FuzzmmError(f"{path}: {contradiction}")
    out = outputs.minimize_target(path, output, entry)
    with contextlib.ExitStack() as stack:
        executor = stack.enter_context(Executor(corpus.checked_ref(entry), workers=entry.scenario.ntasks))
        if not fixed.holds(entry, lambda ref: corpus.replay(entry, executor=executor), fixed=False):
            raise FuzzmmError(f"{path}: does not reproduce {entry.signature}; nothing to minimise")
        on_fixed = {}           # an executor for each program of a variant its fixed_in lists
        for ref in [corpus.checked_ref(entry, v) for v in entry.fixed_in]:
            if ref not in on_fixed:
                on_fixed[ref] = stack.enter_context(Executor(ref, workers=entry.scenario.ntasks))

        def stays_fixed(candidate):
            return fixed.holds(candidate, lambda ref: corpus.replay(candidate, executor=on_fixed[ref]),
                               own=False)
        smallest = [entry]

        def progress(best, runs):
            smallest[0] = best
            if on_progress is not None:
                on_progress(best, runs)
        try:
            smallest[0] = corpus.minimize(entry, executor, max_runs=max_runs, on_progress=progress,
                                          acceptable=stays_fixed if on_fixed else None)
            interrupted = False
        except KeyboardInterrupt:       # keep what was won so far: each step was checked as it was taken
            interrupted = True
    small = smallest[0]
    corpus.write_atomic(out, small.to_json(base=os.path.dirname(os.path.abspath(out))))
    return Minimized(out, entry, small, interrupted)
