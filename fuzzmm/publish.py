"""A campaign's live state, published to its corpus store for dashboards, and read back.

A campaign's parent process hears each of its jobs twice a second (runs, coverage pairs),
and of each finding and each end.  `CampaignState` keeps what it hears: per job the
machine, pid, variant, strategy, seed and start, runs and runs/s, coverage pairs over
time and when the last new pair came, and the findings with their time from the job's
start.  `Publisher` writes that state every PUBLISH_S seconds, with a heartbeat, to where
the campaign keeps its corpus: a directory's `.campaigns/ID.json` (written whole, then
renamed into place), or the Redis hash `fuzzmm:campaigns`, beside a key that expires
GONE_S seconds after the last beat.  All of it happens in the parent, between the
messages it reads anyway, so the jobs' runs do not pay for it.

`read_campaigns(store)` gives every campaign a store holds, each with its `status`:
running, finished, or gone (its heartbeat stopped before it said it finished: the machine
or the campaign was killed, or lost its way to the store).
"""
import json
import os
import socket
import tempfile
import time

PUBLISH_S = 2.0             # how often a campaign writes its state
GONE_S = 10.0               # a heartbeat older than this, with no word of the end: gone
SERIES_POINTS = 200         # samples kept per job: older ones are thinned out, never the first or last
SAMPLE_S = 1.0              # at most one sample a second
FORMAT = 1

REDIS_CAMPAIGNS_KEY = "fuzzmm:campaigns"            # hash: campaign id -> its state (JSON)
REDIS_HEARTBEAT_PREFIX = "fuzzmm:heartbeat:"        # + campaign id: exists while it beats
DIRECTORY = ".campaigns"                            # in a corpus directory: ID.json per campaign


def default_machine():
    return socket.gethostname() or "localhost"


def job_name(job):
    """How a job is named to people: variant/strategy."""
    return f"{job.variant}/{job.strategy}"


class JobState:
    """What a campaign knows of one of its jobs."""

    def __init__(self, job):
        self.job = job
        self.pid = None
        self.launched = None        # wall time the campaign started its process
        self.started = None         # wall time its search began (findings count from here)
        self.ended = None
        self.runs = 0
        self.pairs = 0
        self.last_new_pair = None   # wall time the pair count last grew
        self.series = []            # [seconds since start, runs, pairs]
        self.findings = []
        self.error = None

    @property
    def status(self):
        if self.ended is not None:
            return "failed" if self.error else "done"
        return "running" if self.launched is not None else "waiting"

    def _since_start(self, now):
        return now - (self.started or self.launched or now)

    def progress(self, runs, pairs, now):
        if self.started is None:            # a job that never said it began: count from its launch
            self.started = self.launched or now
        if pairs > self.pairs or self.last_new_pair is None and pairs:
            self.last_new_pair = now
        self.runs, self.pairs = runs, pairs
        self._sample(now)

    def _sample(self, now, force=False):
        t = round(self._since_start(now), 2)
        if self.series and not force and t - self.series[-1][0] < SAMPLE_S:
            return
        self.series.append([t, self.runs, self.pairs])
        if len(self.series) > SERIES_POINTS:        # every other point of the older half goes
            half = len(self.series) // 2
            self.series = self.series[:half:2] + self.series[half:]

    def runs_per_s(self, now):
        seconds = (self.ended or now) - (self.started or now)
        return round(self.runs / seconds, 1) if seconds > 0 else 0.0

    def to_json(self, now):
        job = self.job
        end = self.ended or now
        return {"name": job_name(job), "model": job.model, "variant": job.variant, "strategy": job.strategy,
                "seed": job.seed, "pid": self.pid, "status": self.status, "start": self.started or self.launched,
                "end": self.ended, "runs": self.runs, "runs_per_s": self.runs_per_s(now),
                "coverage_pairs": self.pairs,
                "since_new_pair_s": round(end - self.last_new_pair, 1) if self.last_new_pair else None,
                "series": self.series, "findings": self.findings, "error": self.error}

    def summary(self, now):
        """The job's line of a campaign's --json summary."""
        doc = self.to_json(now)
        del doc["series"]
        doc["seconds"] = round((self.ended or now) - (self.started or now), 2) if self.started else 0.0
        return doc


class CampaignState:
    """A campaign's jobs as its parent hears them (`heard` takes each message of the queue)."""

    def __init__(self, jobs, machine=None, duration=None, corpus=None):
        self.machine = machine or default_machine()
        self.pid = os.getpid()
        self.start = time.time()
        self.id = f"{self.machine}:{self.pid}:{int(self.start * 1000)}"
        self.duration = duration
        self.corpus = corpus
        self.jobs = {job: JobState(job) for job in jobs}
        self.finished = None
        self.interrupted = False

    def launched(self, job, pid, now=None):
        state = self.jobs[job]
        state.pid, state.launched = pid, now or time.time()

    def heard(self, message, now=None):
        """Take one message of a job: ("started", job, pid, wall time), ("progress", job, runs,
        pairs), ("finding", job, entry document, seconds from the job's start) or ("done", job,
        runs, error)."""
        now = now or time.time()
        kind, job = message[0], message[1]
        state = self.jobs.get(job)
        if state is None:
            return
        if kind == "started":
            state.pid, state.started = message[2], message[3]
        elif kind == "progress":
            state.progress(message[2], message[3], now)
        elif kind == "finding":
            doc, elapsed = message[2], message[3]
            signature = doc.get("signature") or {}
            state.findings.append({"variant": job.variant, "kind": signature.get("kind"),
                                   "signature": signature.get("signature"), "bug": _bug_of(doc),
                                   "message": doc.get("message", ""), "model": job.model,
                                   "job_s": round(elapsed, 3), "at": round(now, 3)})
        elif kind == "done":
            state.runs = max(state.runs, message[2])
            state.error = message[3] or None
            state.ended = now
            state._sample(now, force=True)

    def lost(self, job, why, now=None):
        state = self.jobs[job]
        state.error, state.ended = why, now or time.time()

    def to_json(self, now=None):
        now = now or time.time()
        jobs = [state.to_json(now) for state in self.jobs.values()]
        return {"format": FORMAT, "id": self.id, "machine": self.machine, "pid": self.pid, "start": self.start,
                "heartbeat": now, "duration": self.duration, "corpus": self.corpus, "finished": self.finished,
                "interrupted": self.interrupted, "runs": sum(j["runs"] for j in jobs), "jobs": jobs}

    def job_summaries(self, now=None):
        now = now or time.time()
        return [state.summary(now) for state in self.jobs.values()]


def _bug_of(doc):
    """A finding's bug key, where its document has one (else None: it is grouped by signature)."""
    signature = doc.get("signature")
    bug = doc.get("bug") or (signature.get("bug") if isinstance(signature, dict) else None)
    return bug if isinstance(bug, str) and bug else None


class Publisher:
    """Writes a CampaignState to a store every PUBLISH_S seconds (`maybe`), and once more at the end."""

    def __init__(self, store, state, interval=PUBLISH_S):
        self.target = _target(store)
        self.state = state
        self.interval = interval
        self.last = 0.0
        self.failed = None          # why the last write failed: publishing never stops a campaign
        self.spent_s = 0.0          # time spent writing, all publications together

    def maybe(self, now=None):
        now = now or time.monotonic()
        if now - self.last >= self.interval:
            self.last = now
            self.publish()

    def publish(self):
        began = time.perf_counter()
        try:
            self.target.write(self.state.id, self.state.to_json(), alive=self.state.finished is None)
            self.failed = None
        except Exception as exc:            # noqa: BLE001 - a full disk, Redis gone: the campaign goes on
            self.failed = f"{type(exc).__name__}: {exc}"
        self.spent_s += time.perf_counter() - began

    def finish(self, interrupted=False):
        self.state.finished = time.time()
        self.state.interrupted = interrupted
        self.publish()


def _target(store):
    """Where a campaign's state goes: its Redis server, for a Redis corpus (a spooled one's too,
    corpus/spool.py: while the server is away a write fails and the campaign goes on), else
    a folder of its corpus directory."""
    store = getattr(store, "redis", store)
    client = getattr(store, "client", None)
    if client is not None:
        return _RedisTarget(client)
    return _DirectoryTarget(os.path.join(store.path, DIRECTORY))


class _DirectoryTarget:
    def __init__(self, directory):
        self.directory = directory

    def write(self, campaign_id, doc, alive=True):
        os.makedirs(self.directory, exist_ok=True)
        path = os.path.join(self.directory, _file_name(campaign_id))
        fd, tmp = tempfile.mkstemp(prefix=f".tmp-{os.getpid()}-", suffix=".json", dir=self.directory)
        try:
            os.fchmod(fd, 0o644)            # mkstemp makes 0600: others' dashboards read it
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                json.dump(doc, f, separators=(",", ":"))
            os.replace(tmp, path)
        except BaseException:
            try:
                os.unlink(tmp)
            except OSError:
                pass
            raise

    def read(self):
        docs = []
        try:
            names = sorted(os.listdir(self.directory))
        except FileNotFoundError:
            return docs
        for name in names:
            if name.endswith(".json") and not name.startswith("."):
                try:
                    with open(os.path.join(self.directory, name), encoding="utf-8") as f:
                        docs.append(json.load(f))
                except (OSError, ValueError):
                    continue
        return [(doc, None) for doc in docs if isinstance(doc, dict)]


def _file_name(campaign_id):
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in campaign_id) + ".json"


class _RedisTarget:
    def __init__(self, client):
        self.client = client

    def write(self, campaign_id, doc, alive=True):
        with self.client.pipeline() as pipe:
            pipe.hset(REDIS_CAMPAIGNS_KEY, campaign_id, json.dumps(doc, separators=(",", ":")))
            if alive:
                pipe.set(REDIS_HEARTBEAT_PREFIX + campaign_id, doc["heartbeat"], ex=int(GONE_S))
            else:
                pipe.delete(REDIS_HEARTBEAT_PREFIX + campaign_id)
            pipe.execute()

    def read(self):
        raw = self.client.hgetall(REDIS_CAMPAIGNS_KEY)
        ids = sorted(raw)
        beating = self.client.mget([REDIS_HEARTBEAT_PREFIX.encode() + i for i in ids]) if ids else []
        out = []
        for campaign_id, alive in zip(ids, beating):
            try:
                doc = json.loads(raw[campaign_id])
            except ValueError:
                continue
            if isinstance(doc, dict):
                out.append((doc, alive is not None))
        return out


def read_campaigns(store, now=None):
    """Every campaign the store holds, newest first, each with `status` (running, finished or
    gone) and `heard_s`, how long ago its last heartbeat was."""
    now = now or time.time()
    out = []
    for doc, alive in _target(store).read():
        heard = now - float(doc.get("heartbeat") or 0)
        if alive is None:                   # a directory: the heartbeat's age says
            alive = heard <= GONE_S
        doc["status"] = "finished" if doc.get("finished") else "running" if alive else "gone"
        doc["heard_s"] = round(max(heard, 0.0), 1)
        out.append(doc)
    out.sort(key=lambda doc: -float(doc.get("start") or 0))
    return out
