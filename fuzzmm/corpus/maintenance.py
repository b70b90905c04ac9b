"""Corpus maintenance: dedup a corpus directory, export a corpus into one.

Both keep one reproducer per signature, the smallest, by the stores' save rule
(fuzzmm.corpus.entry.against): dedup replays each signature's files smallest
first and removes none unless one of them reproduces; export writes each entry
of a directory or a Redis corpus as a file under its generated name.  A file a
person added to (fixed_in, a field of their own) is never dropped for a smaller
one.  Neither prints: they return or yield what they did, for the caller to tell.
"""
import os
from typing import Iterator, NamedTuple

from fuzzmm.corpus.entry import CURATED, WRITTEN
from fuzzmm.errors import FuzzmmError


class Deduped(NamedTuple):
    removed: list           # the paths of the files removed
    skipped: list           # FuzzmmError for each file left alone, saying why


def dedup_directory(directory):
    """Keep the smallest reproducer of each signature in the corpus `directory`.  A file that
    cannot be read, or whose program refuses it, is skipped (and kept, for a person to look at)."""
    from fuzzmm import corpus
    from fuzzmm.corpus import fixed
    store = corpus.DirectoryStore(directory)
    bad, spare = [], set()          # errors to tell; readable files its program refuses, left for a person
    for _, entry in store.entries():
        if isinstance(entry, FuzzmmError):
            bad.append(entry)
            continue
        try:
            corpus.checked_ref(entry)
        except FuzzmmError as exc:
            bad.append(exc)
            spare.add(entry.path)

    def reproduces(entry):
        try:
            return fixed.holds(entry, lambda ref: corpus.replay(entry), fixed=False)
        except FuzzmmError:
            return False
    return Deduped(store.dedup(reproduces, spare), bad)


class Exported(NamedTuple):
    """One step of an export, as it is taken."""
    step: str                       # WRITTEN or CURATED, as a store's save() says them, or SKIPPED
    path: str | None = None         # WRITTEN: a file written (each once); CURATED: the file kept
    source: str | None = None       # CURATED: where the smaller entry not written over `path` is
    error: FuzzmmError | None = None    # SKIPPED: why an entry of the source could not be read


SKIPPED = "skipped"                 # an export step besides a save's WRITTEN and CURATED


def export(source, directory) -> Iterator[Exported]:
    """Write the corpus `source` (a directory or redis://...) into `directory`, one file per
    signature, yielding each step as it is taken.  Refused (FuzzmmError, before anything is
    written): a source directory that does not exist, or that is `directory` itself."""
    from fuzzmm.corpus.directory import DirectoryStore
    from fuzzmm.corpus.store import open_store
    if not source.startswith("redis://") and not os.path.isdir(source):
        raise FuzzmmError(f"{source}: not a directory")     # a store would create it
    if os.path.isdir(source) and os.path.isdir(directory) and os.path.samefile(source, directory):
        raise FuzzmmError(f"{directory}: is the corpus being exported; name another directory")
    target = DirectoryStore(directory)
    written = set()         # a signature held twice in the source is written once, the smaller
    # Files a person added to first: a smaller one of their signature is then named, not the
    # curated one dropped because a smaller file came first by name.
    for where, entry in sorted(open_store(source).entries(),
                               key=lambda pair: isinstance(pair[1], FuzzmmError) or not pair[1].curated):
        if isinstance(entry, FuzzmmError):
            yield Exported(SKIPPED, error=entry)
            continue
        path, outcome = target.save(entry)
        if outcome == CURATED:
            yield Exported(CURATED, path=path, source=where)
        if path not in written:
            yield Exported(WRITTEN, path=path)
        written.add(path)
