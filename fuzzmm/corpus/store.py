"""Where a corpus lives, behind one interface: a directory (the default) or a Redis server
shared by many machines.

Both keep one reproducer per (model, variant, signature), the smallest seen, and
decide what a save does by one rule (fuzzmm.corpus.entry.against).  Hypothesis's
own example database goes to the same place: a directory beside the corpus, or
the same Redis.  A campaign saves into a Redis corpus through a local spool that
keeps what the server cannot take while it is away (corpus/spool.py).
"""
from typing import Protocol, runtime_checkable

from fuzzmm.corpus.directory import DirectoryStore
from fuzzmm.corpus.entry import Entry
from fuzzmm.corpus.redis import RedisStore
from fuzzmm.errors import FuzzmmError


@runtime_checkable
class Store(Protocol):
    """A corpus: what a campaign saves its findings and its searches' state into."""

    where: str      # the directory or the redis:// URL, as messages name the corpus

    def check_writable(self) -> None:
        """Raise FuzzmmError, before any work, where no finding could be saved."""

    def save(self, entry: Entry) -> tuple[str, str]:
        """Store `entry` unless the corpus holds a reproducer of its key that is no larger:
        (where the key's reproducer is afterwards, WRITTEN, REPLACED, KEPT or CURATED), as
        fuzzmm.corpus.entry.against decides.  FuzzmmError where it cannot be written."""

    def entries(self) -> list[tuple[str, Entry | FuzzmmError]]:
        """(where, Entry or the FuzzmmError that says why it cannot be read) for each entry."""

    def load_state(self, name: str) -> dict | None:
        """A search's saved state, or None where there is none (or it cannot be read)."""

    def save_state(self, name: str, doc: dict) -> None:
        """Keep a search's state for a later start."""

    def hypothesis_database(self):
        """Hypothesis's example database for this corpus."""


def open_store(spec: str, prepare: bool = True) -> Store:
    """A DirectoryStore for a path, a RedisStore for redis://host:port/db.

    `prepare`, what a command does before it uses a corpus: a directory is made and
    what writers that are gone left in it recovered (DirectoryStore.prepare), a server
    must answer.  A campaign's jobs, which use the corpus their campaign prepared, leave
    it out."""
    if spec.startswith("redis://"):
        return RedisStore(spec, reach=prepare)
    if "://" in spec:
        raise FuzzmmError(f"{spec}: a corpus is a directory or redis://host:port/db "
                          f"({spec.split('://')[0]}:// is not supported)")
    store = DirectoryStore(spec)
    return store.prepare() if prepare else store
