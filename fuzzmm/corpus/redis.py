"""A corpus in a Redis server shared by many machines.

One hash holds the corpus, a field per (model, variant, signature) with the
smallest reproducer seen, so it never holds two of one key.  The comparison and
the write happen in one optimistic transaction, so campaigns on different
machines can save at once and still end with one deduplicated corpus.  The
searches' saved state and Hypothesis's example database live in the same server.
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


class RedisStore:
    def __init__(self, url):
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
        try:
            self.client.ping()
        except redis.RedisError as exc:
            raise FuzzmmError(f"cannot reach Redis at {url}: {exc}") from None

    def check_writable(self):
        """Reaching the server in the constructor is the check a directory needs a probe for."""

    @staticmethod
    def _field(entry):
        return entry.key(base=os.getcwd())

    def save(self, entry):
        """Store the entry unless a smaller one of its signature is there, atomically:
        (where, outcome) as DirectoryStore.save says."""
        import redis
        try:
            return self._save(entry)
        except redis.RedisError as exc:
            raise FuzzmmError(f"cannot write to Redis at {self.where}: {exc}") from None

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
        raw = self.client.hget(REDIS_STATE_KEY, name)
        try:
            return json.loads(raw) if raw else None
        except ValueError:
            return None

    def save_state(self, name, doc):
        self.client.hset(REDIS_STATE_KEY, name, json.dumps(doc))

    def hypothesis_database(self):
        """Hypothesis's example database in the same Redis; what else Hypothesis keeps (its
        cache of the program's constants) goes to the user's cache, not the working directory."""
        from hypothesis.configuration import set_hypothesis_home_dir
        from hypothesis.extra.redis import RedisExampleDatabase
        cache = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
        set_hypothesis_home_dir(os.path.join(cache, "fuzzmm", "hypothesis"))
        return RedisExampleDatabase(self.client, key_prefix=b"fuzzmm-hypothesis:")
