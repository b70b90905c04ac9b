"""Where a corpus lives: a directory (the default) or a Redis server shared by many machines.

Both keep one reproducer per (model, variant, signature), the smallest seen.
With Redis the comparison and the write happen in one optimistic transaction,
so campaigns on different machines can save at once and still end with one
deduplicated corpus.  Hypothesis's own example database goes to the same
place: a directory beside the corpus, or the same Redis.
"""
import json
import os
import time
from urllib.parse import urlparse

from fuzzmm.corpus import files
from fuzzmm.errors import FuzzmmError

REDIS_KEY = "fuzzmm:corpus"
REDIS_STATE_KEY = "fuzzmm:state"
REDIS_BAD_KEY = "fuzzmm:corpus:bad"     # entries a save found unreadable, kept as they were, field#time


def open_store(spec):
    """A DirectoryStore for a path, a RedisStore for redis://host:port/db."""
    if spec.startswith("redis://"):
        return RedisStore(spec)
    if "://" in spec:
        raise FuzzmmError(f"{spec}: a corpus is a directory or redis://host:port/db "
                          f"({spec.split('://')[0]}:// is not supported)")
    return DirectoryStore(spec)


class DirectoryStore:
    def __init__(self, path):
        self.path = path
        self.where = path
        try:
            os.makedirs(path, exist_ok=True)
        except OSError as exc:
            raise FuzzmmError(f"cannot use corpus directory {path}: {exc.strerror}") from None
        files.clean_temp(path)
        files.clean_temp(os.path.join(path, ".state"))

    def save(self, entry):
        """(path, outcome) as files.save says."""
        try:
            return files.save(self.path, entry)
        except OSError as exc:
            raise FuzzmmError(f"cannot write to corpus directory {self.path}: {exc.strerror}") from None

    def entries(self):
        return files.entries(self.path)

    def load_state(self, name):
        try:
            with open(self._state_path(name), encoding="utf-8") as f:
                return json.load(f)
        except FileNotFoundError:
            return None
        except (OSError, ValueError):
            os.replace(self._state_path(name), self._state_path(name) + ".bad")
            return None

    def check_writable(self):
        """Refuse, before any work, a directory no finding could be written into."""
        try:
            files.check_writable(self.path)
        except OSError as exc:
            raise FuzzmmError(f"cannot write to corpus directory {self.path}: {exc.strerror}") from None

    def save_state(self, name, doc):
        try:
            files.write_atomic(self._state_path(name), doc)
        except OSError:
            pass                # the state only speeds up a later start; the findings are saved apart

    def _state_path(self, name):
        return os.path.join(self.path, ".state", name.replace("/", "_") + ".json")

    def hypothesis_database(self):
        """Hypothesis's example database beside the corpus; what else Hypothesis keeps (its
        cache of the program's constants) goes there too, not into the working directory."""
        from hypothesis.configuration import set_hypothesis_home_dir
        from hypothesis.database import DirectoryBasedExampleDatabase
        set_hypothesis_home_dir(os.path.join(self.path, ".hypothesis"))
        return DirectoryBasedExampleDatabase(os.path.join(self.path, ".hypothesis"))


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
        (where, outcome) as files.save says."""
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
                    outcome, unreadable = (files.WRITTEN, False) if old is None else \
                        files.against(old.decode("utf-8", "replace"), entry)
                    if outcome in (files.KEPT, files.CURATED):
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
                out.append((where, files.load_doc(json.loads(raw), where)))
            except RecursionError:
                out.append((where, FuzzmmError(f"{where}: JSON nested too deeply to be a corpus entry")))
            except (FuzzmmError, ValueError) as exc:
                out.append((where, FuzzmmError(f"{where}: {exc}")))
        return out

    def dedup(self):
        return []            # one field per signature: Redis never holds duplicates

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
