"""A Redis corpus that loses no finding while its server is away: a local spool.

A campaign saves into a shared Redis.  Where the server does not answer (it was
restarted, the network went), a finding is kept in a spool instead: a corpus
directory of the user's own, in their cache, one per server
($XDG_CACHE_HOME/fuzzmm/spool/HOST-PORT-DB), so it outlives the campaign and
holds one reproducer per key by the usual save rule.  Once the server answers
again (tried no more often than its Outage's backoff allows) each spooled entry
is saved into it by that same rule and leaves the spool; what one campaign
leaves there, the next one on that server saves.
"""
import os
import re
import time
from urllib.parse import urlparse

from fuzzmm.corpus import lock
from fuzzmm.corpus.directory import DirectoryStore
from fuzzmm.corpus.redis import RedisStore, user_cache
from fuzzmm.errors import FuzzmmError

SPOOLED = "spooled"     # what SpooledStore.save did where the server did not take the finding


def spool_directory(url):
    """The spool of the Redis server at `url`, in the user's cache (no password in its name)."""
    parts = urlparse(url)
    name = f"{parts.hostname}-{parts.port or 6379}-{parts.path.strip('/') or '0'}"
    return os.path.join(user_cache(), "fuzzmm", "spool", re.sub(r"[^A-Za-z0-9._-]", "_", name))


class SpooledStore:
    """`redis` (a RedisStore), with a spool for what it cannot take meanwhile.

    It stands in for the RedisStore where findings are saved: save() returns (the spool's
    file, SPOOLED) where the server did not take the entry, and flush() moves the spool
    into the server once it answers.  `outages` lists [since, until or None, why] in
    time.monotonic() seconds, the last one open while the server is away."""

    CHECK_S = 2.0

    def __init__(self, redis, directory=None):
        self.redis = redis
        self.where = redis.where
        self.spool = DirectoryStore(directory or spool_directory(redis.where))
        self.outages = []
        self.waiting = False        # whether this process has spooled what may not be saved yet
        self.checked = time.monotonic()     # when the server was last asked

    def check_writable(self):
        self.redis.check_writable()

    def entries(self):
        return self.redis.entries()

    def load_state(self, name):
        return self.redis.load_state(name)

    def save_state(self, name, doc):
        self.redis.save_state(name, doc)

    def hypothesis_database(self):
        return self.redis.hypothesis_database()

    @property
    def down(self):
        """Whether the server is taken for away now."""
        return self.redis.outage.since is not None

    def _noted(self):
        """Bring `outages` up to the server's state.  A server that answers a ping but takes no
        entry (out of memory, say) is away again at once: that goes on the outage before."""
        outage = self.redis.outage
        if outage.since is not None and (not self.outages or self.outages[-1][1] is not None):
            if self.outages and outage.since - self.outages[-1][1] < self.CHECK_S:
                self.outages[-1][1:] = [None, outage.why]
            else:
                self.outages.append([outage.since, None, outage.why])
        elif outage.since is None and self.outages and self.outages[-1][1] is None:
            self.outages[-1][1] = time.monotonic()

    def save(self, entry):
        """Save into the server as RedisStore.save does; where it does not take the entry, into
        the spool: (the spool's file, SPOOLED).  FuzzmmError only where neither can."""
        try:
            return self.redis.save(entry)
        except FuzzmmError as exc:
            self._noted()
            try:
                path, _ = self.spool.prepare().save(entry)
            except FuzzmmError as spool_exc:
                raise FuzzmmError(f"{exc}; nor into the spool: {spool_exc}") from None
            self.waiting = True
            return path, SPOOLED
        finally:
            self._noted()

    def spooled(self):
        """The corpus files the spool holds, sorted ([] where it has none)."""
        if not os.path.isdir(self.spool.path):
            return []
        return [path for path, entry in self.spool.entries() if not isinstance(entry, FuzzmmError)]

    def poll(self, force=False):
        """Ask the server whether it answers, now and then: every CHECK_S while it is up (so
        an outage is noted when it begins, not at the next finding), as the backoff allows
        while it is away, and now if `force`.  Where it answers and the spool holds anything,
        move that into it: what flush() returns."""
        now = time.monotonic()
        if force:
            self.redis.outage.next_try = 0.0
        elif self.down and not self.redis.outage.due() or not self.down and now - self.checked < self.CHECK_S:
            return []
        self.checked = now
        answered = self.redis.ping()
        self._noted()
        if not answered or not (force or self.waiting):
            return []
        return self.flush()

    def flush(self):
        """Save each spooled entry into the server by the save rule, and remove it from the
        spool once saved: [(spool file, Entry, where the server holds its key, outcome)].
        Stops at the first the server does not take (it went away again), keeping the rest."""
        if not self.spooled():
            self.waiting = False
            return []
        moved = []
        with lock.held(self.spool.path):        # one campaign of this machine at a time moves it
            for path, entry in self.spool.entries():
                if isinstance(entry, FuzzmmError):
                    continue                        # a spool file a person damaged: left for them
                try:
                    where, outcome = self.redis.save(entry)
                except FuzzmmError:
                    break
                finally:
                    self._noted()
                try:
                    os.unlink(path)
                except FileNotFoundError:
                    pass
                moved.append((path, entry, where, outcome))
            else:
                self.waiting = False
        return moved


def with_spool(store):
    """`store` as a campaign saves into it: a RedisStore with its spool, any other as it is."""
    return SpooledStore(store) if isinstance(store, RedisStore) else store
