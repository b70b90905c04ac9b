"""A corpus in a Redis server shared by many machines.

One hash holds the corpus, a field per (model, variant, signature) with the
smallest reproducer seen, so it never holds two of one key.  The comparison and
the write happen in one optimistic transaction, so campaigns on different
machines can save at once and still end with one deduplicated corpus.  The
searches' saved state and Hypothesis's example database live in the same server.

A server can go away mid-campaign.  The store notes when it did (Outage) and,
until it answers again, tries it no more often than a backoff allows; what the
searches keep in it (their state, Hypothesis's examples) only speeds up a later
start, so their reads and writes are skipped meanwhile, and a finding goes to a
local spool instead (corpus/spool.py).
"""
import json
import os
import time
from urllib.parse import urlparse

from fuzzmm.corpus.entry import CURATED, KEPT, WRITTEN, against, load_shared
from fuzzmm.errors import FuzzmmError
from fuzzmm.trust import Untrusted

REDIS_KEY = "fuzzmm:corpus"
REDIS_STATE_KEY = "fuzzmm:state"
REDIS_BAD_KEY = "fuzzmm:corpus:bad"     # entries a save found unreadable, kept as they were, field#time


def user_cache():
    """The user's cache directory: $XDG_CACHE_HOME, else ~/.cache."""
    return os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")


class Outage:
    """Whether a server is taken for down, since when and why, and when to try it again:
    after FIRST_S, then twice as long each time it still does not answer, up to MAX_S."""

    FIRST_S, MAX_S = 0.5, 8.0

    def __init__(self):
        self.since = None           # time.monotonic() of the failure that began it; None: up
        self.why = None
        self.delay = self.FIRST_S
        self.next_try = 0.0

    def due(self):
        """Whether to try the server now: it is up, or the backoff has run out."""
        return self.since is None or time.monotonic() >= self.next_try

    def failed(self, exc):
        now = time.monotonic()
        if self.since is None:
            self.since, self.delay = now, self.FIRST_S
        else:
            self.delay = min(2 * self.delay, self.MAX_S)
        self.why = str(exc)
        self.next_try = now + self.delay

    def ended(self):
        self.since = self.why = None
        self.delay = self.FIRST_S


class RedisStore:
    """The corpus in a Redis server.  `reach`: fail here, with one line, if the server does not
    answer (what a command does before any work); a campaign's job leaves it out, and rides
    out a server that is down when it starts."""

    def __init__(self, url, reach=True):
        try:
            import redis
        except ImportError:
            raise FuzzmmError("a redis:// corpus needs the redis package: pip install redis") from None
        parts = urlparse(url)
        if not parts.hostname:
            raise FuzzmmError(f"{url}: expected redis://host:port/db")
        self.where = url
        try:
            self.client = redis.Redis.from_url(url, socket_connect_timeout=3, socket_timeout=10)
            parts.port                          # urlparse checks the port only when asked
        except ValueError as exc:
            raise FuzzmmError(f"{url}: {exc}") from None
        self.outage = Outage()
        if reach:
            try:
                self.client.ping()
            except redis.RedisError as exc:
                raise FuzzmmError(f"cannot reach Redis at {url}: {exc}") from None

    def check_writable(self):
        """Reaching the server in the constructor is the check a directory needs a probe for."""

    @staticmethod
    def _field(entry):
        return entry.key(base=os.getcwd())

    def ping(self):
        """Whether the server answers now; notes the outage's end or its going on."""
        return self._call(self.client.ping, default=False) is not False

    def _call(self, function, *args, default=None):
        """function(*args), or `default` while the server is down (tried again when the
        backoff allows): for what only speeds up a later start."""
        import redis
        if not self.outage.due():
            return default
        try:
            out = function(*args)
        except redis.RedisError as exc:
            self.outage.failed(exc)
            return default
        self.outage.ended()
        return out

    def save(self, entry):
        """Store the entry unless a smaller one of its signature is there, atomically:
        (where, outcome) as DirectoryStore.save says.  FuzzmmError where the server cannot
        take it, and while it is taken for down, until the backoff allows a try."""
        import redis
        if not self.outage.due():
            raise FuzzmmError(f"cannot write to Redis at {self.where}: {self.outage.why}")
        try:
            saved = self._save(entry)
        except redis.RedisError as exc:
            self.outage.failed(exc)
            raise FuzzmmError(f"cannot write to Redis at {self.where}: {exc}") from None
        self.outage.ended()
        return saved

    def _save(self, entry):
        import redis
        field = self._field(entry)
        doc = json.dumps(entry.to_json(base=os.getcwd()))   # read back from the working directory
        with self.client.pipeline() as pipe:
            while True:
                try:
                    pipe.watch(REDIS_KEY)
                    old = pipe.hget(REDIS_KEY, field)
                    outcome, unreadable = (WRITTEN, False) if old is None else \
                        against(old.decode("utf-8", "replace"), entry)
                    if outcome in (KEPT, CURATED):
                        pipe.unwatch()
                        break
                    pipe.multi()
                    if unreadable:                      # kept aside for its owner, as a directory's .bad
                        pipe.hset(REDIS_BAD_KEY, f"{field}#{time.time_ns()}", old)
                    pipe.hset(REDIS_KEY, field, doc)
                    pipe.execute()
                    break
                except redis.WatchError:
                    continue
        return f"{self.where}#{field}", outcome

    def entries(self):
        out = []
        for field, raw in sorted(self.client.hgetall(REDIS_KEY).items()):
            where = f"{self.where}#{field.decode()}"
            try:
                out.append((where, load_shared(json.loads(raw), where)))
            except Untrusted as exc:            # it names the entry, and how to trust what it names
                out.append((where, exc))
            except RecursionError:
                out.append((where, FuzzmmError(f"{where}: JSON nested too deeply to be a corpus entry")))
            except (FuzzmmError, ValueError) as exc:
                out.append((where, FuzzmmError(f"{where}: {exc}")))
        return out

    def load_state(self, name):
        """A search's saved state; None where there is none, or the server is down."""
        raw = self._call(self.client.hget, REDIS_STATE_KEY, name)
        try:
            return json.loads(raw) if raw else None
        except ValueError:
            return None

    def save_state(self, name, doc):
        """Keep a search's state; skipped while the server is down (it only speeds up a later start)."""
        self._call(self.client.hset, REDIS_STATE_KEY, name, json.dumps(doc))

    def hypothesis_database(self):
        """Hypothesis's example database in the same Redis, riding out an outage as the
        state does; what else Hypothesis keeps (its cache of the program's constants) goes
        to the user's cache, not the working directory."""
        from hypothesis.configuration import set_hypothesis_home_dir
        from hypothesis.extra.redis import RedisExampleDatabase
        set_hypothesis_home_dir(os.path.join(user_cache(), "fuzzmm", "hypothesis"))
        store = self

        class ExampleDatabase(RedisExampleDatabase):
            """RedisExampleDatabase with no examples to give and none kept while the server is down."""

            def fetch(self, key):
                return store._call(lambda: list(super(ExampleDatabase, self).fetch(key)), default=[])

            def save(self, key, value):
                store._call(super().save, key, value)

            def delete(self, key, value):
                store._call(super().delete, key, value)

            def move(self, src, dest, value):
                store._call(super().move, src, dest, value)
        return ExampleDatabase(self.client, key_prefix=b"fuzzmm-hypothesis:")
