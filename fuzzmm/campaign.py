"""Campaigns: many (variant, strategy) jobs on parallel executors, findings into the corpus.

A campaign checks every program its jobs run before it starts any (a mistake in
a program's definition is one line of bad input, not a job's failure), then
runs the jobs (campaign_job.py), at most `executors` at a time, each in its own
process.  Jobs send progress and findings over a queue; the campaign alone
writes corpus files, so two jobs never race on one file, and a Redis corpus
that goes away meanwhile costs no finding: it is kept in a local spool until
the server is back (corpus/spool.py).

Time: the campaign searches for `duration` seconds and ends at most
max(OVERRUN_MIN_S, OVERRUN_SHARE of it) later, its jobs' start-up and wind-down
included.  A run under way is let end on its own, since only the watchdog ends
a hang; where that, or a job stuck outside a run, kept it later, the summary
says so (`late`).
"""
from dataclasses import dataclass
import queue as queue_mod
import time

import multiprocess

from fuzzmm import _core, campaign_job, proctree
from fuzzmm.campaign_job import JobClock
from fuzzmm.corpus.entry import CURATED, KEPT, REPLACED
from fuzzmm.corpus.spool import SPOOLED, with_spool
from fuzzmm.corpus.store import open_store
from fuzzmm.errors import FuzzmmError
from fuzzmm.models import ProgramRef
from fuzzmm.placement import CpuClaims
from fuzzmm.publish import CampaignState, Publisher, job_name


@dataclass(frozen=True)
class Job:
    model: str
    variant: str
    ref: ProgramRef
    strategy: str
    seed: int

    @property
    def name(self):
        return f"{self.variant}/{self.strategy}"


#: How long a job may be silent past its budget before it is taken for stopped and killed:
#: the run under way may hang (one watchdog), its replay too (another), its shrinking a third.
JOB_GRACE_S = 3 * 10.0 * 1.1 + 10.0
LOOP_GAP_S = 5.0        # the parent's loop turns five times a second: a longer gap is this process stopped
OVERRUN_MIN_S = 2.0     # a campaign ends at most this long past its duration,
OVERRUN_SHARE = 0.1     # or this share of it where that is longer, unless a run is under way
SILENT_S = 1.5          # a job silent this long is in one run (it reports twice a second between runs)


def overrun_allowed(duration):
    """How long past its duration a campaign may end: max(OVERRUN_MIN_S, OVERRUN_SHARE of it)."""
    return max(OVERRUN_MIN_S, OVERRUN_SHARE * duration)


@dataclass
class Record:
    """A row of the findings table: a (variant, signature) the campaign found, and where it is kept."""
    variant: str
    kind: str
    signature: str
    first_found_s: float    # from the start of the job that found it
    corpus_file: str
    strategy: str
    known: bool = False     # the corpus held a reproducer of this signature no larger, and kept it
    replaced: bool = False  # the corpus held a larger one of the same file name, which this replaced
    spooled: bool = False   # kept in the spool, the Redis corpus away: corpus_file is the spool's

    campaign_s: float = 0.0     # from the campaign's start

    def to_json(self):
        return {"variant": self.variant, "kind": self.kind, "signature": self.signature,
                "first_found_s": round(self.first_found_s, 3),
                "campaign_s": round(self.campaign_s, 3), "corpus_file": self.corpus_file,
                "strategy": self.strategy, "known": self.known, "replaced": self.replaced,
                "spooled": self.spooled}


@dataclass
class JobLog:
    """What the summary says of a job: when it ran (seconds from the campaign's start), how
    long it searched, its runs, and why it failed or ended late."""
    started_s: float = None     # None: it never started
    ended_s: float = None
    search_s: float = None
    runs: int = 0
    error: str = None
    late: str = None

    def to_json(self, job):
        r = lambda x: None if x is None else round(x, 1)        # noqa: E731
        return {"variant": job.variant, "strategy": job.strategy, "seed": job.seed, "ran": self.runs > 0,
                "started_s": r(self.started_s), "ended_s": r(self.ended_s), "search_s": r(self.search_s),
                "runs": self.runs, "error": self.error}


class Campaign:
    """Runs `jobs` on at most `executors` processes for about `duration` seconds of wall time,
    publishing its state to its store for dashboards (fuzzmm.publish) unless `publish` is False.

    The duration counts from `began` (a time.monotonic()), by default when run() starts; a
    command may pass its own start, so that its start-up counts too."""

    def __init__(self, jobs, duration, executors, store_spec, emit, pct_depth=3, began=None, machine=None,
                 publish=True):
        if not 0 < duration < float("inf"):          # also refuses nan
            raise FuzzmmError(f"--duration must be a positive number of seconds, not {duration}")
        if executors < 1:
            raise FuzzmmError(f"--executors must be at least 1, not {executors}")
        self.jobs = list(jobs)
        self.duration = duration
        self.allowed_over_s = overrun_allowed(duration)
        self.executors = min(executors, len(self.jobs))
        self.store_spec = store_spec
        self.store = with_spool(open_store(store_spec))     # bad paths and unreachable servers fail here
        self.store.check_writable()
        self.emit = emit            # emit(event_dict): the caller prints
        self.pct_depth = pct_depth
        self.records = {}           # (variant, signature) -> Record
        self.runs = {}              # job -> runs so far
        self.coverage = {}          # job -> ordered site pairs seen
        self.log = {job: JobLog() for job in self.jobs}
        self.errors = []
        self.done = set()           # jobs that reported their end
        self.heard = {}             # job -> when a message of it last came (it reports twice a second)
        self.silent_when_late = {}  # job -> how long it had been silent when the campaign was past its bound
        self.setup_s = 0.0          # how long from `began` to run()
        self.checked_s = 0.0        # how long checking the programs took
        self.outages_said = 0       # the store's outages the campaign has told of
        self.began = began
        self.start = self.last_loop = time.monotonic()
        self.ended = None
        self.running = {}           # job -> (process, start offset, budget) of the jobs running now
        self.state = CampaignState(self.jobs, machine, duration, self.store.where)
        self.publisher = Publisher(self.store, self.state) if publish else None

    def run(self):
        start = self.start = time.monotonic() if self.began is None else self.began
        self.setup_s = time.monotonic() - start     # before run(), where the duration counts from `began`
        ctx = multiprocess.get_context("fork")
        try:
            _core.cleanup_stale()
            import fuzzmm.sched.executor, fuzzmm.sched.search      # noqa: E401,F401: here, not in every job
            checking = time.monotonic()
            self._check_programs(ctx)   # before any job starts: the one-line error comes first
            self.checked_s = time.monotonic() - checking
        except KeyboardInterrupt:       # no job started: every one is not run
            self.ended = time.monotonic()
            return self.summary(interrupted=True)
        messages, stop = ctx.Queue(), ctx.Event()
        self.cpus = CpuClaims(ctx)
        share = self.duration / -(-len(self.jobs) // self.executors)     # each job's share of the time
        pending, running = list(self.jobs), {}
        self.running = running
        last_progress = self.last_loop = time.monotonic()
        interrupted = False
        try:
            self._poll_store(force=True)        # what an earlier campaign left in the spool
            while pending or running:
                # Only this process sets `stop`, and only once interrupted, so it never asks the event:
                # a signal landing while it held the event's lock would leave the lock held for good.
                while pending and len(running) < self.executors:
                    job = pending.pop(0)
                    began = time.monotonic()
                    budget = self._budget(share, len(pending) + 1, began)
                    clock = JobClock(began, began + budget, began + budget + self.allowed_over_s / 4)
                    proc = ctx.Process(target=campaign_job.main,
                                       args=(job, clock, messages, stop, self.pct_depth, self.cpus,
                                             self.store_spec),
                                       name=f"fuzzmm-campaign-{job.variant}-{job.strategy}")
                    proc.start()
                    self.state.launched(job, proc.pid)
                    running[job] = (proc, began - start, budget)
                    self.log[job].started_s = began - start
                    self.heard[job] = time.monotonic()
                self._drain(messages, running, timeout=0.2)
                now = self._looped(time.monotonic())
                for job, (proc, offset, budget) in list(running.items()):
                    if not proc.is_alive() and job not in self.done:
                        self._drain(messages, running, timeout=0.5)
                        if job not in self.done:
                            self._lost(job, running, "campaign process died")
                    elif self._overdue(job, offset, budget, now):
                        self._lost(job, running, f"silent for {JOB_GRACE_S:g} s past its {budget:.1f} s budget "
                                                 f"(stopped, or stuck outside a run); killed")
                self._note_late(running, now)
                self._poll_store()
                if time.monotonic() - last_progress >= 1.0:
                    last_progress = time.monotonic()
                    self.emit(self.progress())
                    if self.publisher is not None:
                        self.publisher.maybe()
        except KeyboardInterrupt:
            interrupted = True
            stop.set()
            deadline = time.monotonic() + 10
            while running and time.monotonic() < deadline:
                try:
                    self._drain(messages, running, timeout=0.2)
                    for job, (proc, _, _) in list(running.items()):
                        if not proc.is_alive():     # its last word, if any, is in the queue by now
                            self._drain(messages, running, timeout=0.2)
                            running.pop(job, None)
                except KeyboardInterrupt:
                    continue
            for job in list(running):
                self._lost(job, running, "did not stop within 10 s of the interrupt; killed")
        self.ended = time.monotonic()
        try:
            self._poll_store(force=True)        # one last try to save what the spool holds
        except KeyboardInterrupt:
            pass
        if self.publisher is not None:
            self.publisher.finish(interrupted)
        return self.summary(interrupted)

    def _check_programs(self, ctx):
        """Set up each program the jobs run, as a job would (its pool_config, its setup and its
        default scenario, each under the watchdog), in a process of its own forked from this
        one: FuzzmmError naming the first that cannot run, before any job starts."""
        refs = {}
        for job in self.jobs:
            refs.setdefault(job.ref, job.variant)
        receiver, sender = ctx.Pipe(duplex=False)
        proc = ctx.Process(target=campaign_job.check_programs, args=(list(refs.items()), sender),
                           name="fuzzmm-campaign-check")
        proc.start()
        sender.close()
        try:
            while not receiver.poll(0.1):
                if not proc.is_alive() and not receiver.poll(0.1):
                    raise FuzzmmError(f"checking the programs: the process "
                                      f"{'was killed' if proc.exitcode < 0 else f'exited with {proc.exitcode}'}")
            failure = receiver.recv()
        finally:
            if proc.is_alive():
                proc.kill()
            proc.join(5)
            receiver.close()
        if failure is not None:
            raise FuzzmmError(failure)

    def _looped(self, now):
        """Note a turn of the loop at `now`.  A turn long after the last means this process was
        stopped, and its jobs with it (Ctrl-Z): their silence meanwhile was not theirs."""
        if now - self.last_loop > LOOP_GAP_S:
            self.heard = dict.fromkeys(self.heard, now)
        self.last_loop = now
        return now

    def _overdue(self, job, offset, budget, now):
        """Whether a job is past its budget and silent for JOB_GRACE_S: stopped, or stuck outside
        a run, where a run would have reported a hang."""
        return now - self.start > offset + budget and now - self.heard[job] > JOB_GRACE_S

    def _budget(self, share, jobs_left, now):
        """Seconds for a job starting at `now`, its start-up included: the time left, split over
        the waves of jobs still to start, so jobs that ran over (a hang kept) do not push the
        campaign past its duration; never under half of its share, so every job gets a fair
        look, unless that would take it past the duration: then the time left, but at least
        half the overrun allowed (or of its share, if less), so it looks at all."""
        waves_left = -(-jobs_left // self.executors)
        left = self.start + self.duration - now
        fair = max(share / 2, left / waves_left)
        return max(min(fair, left), min(share, self.allowed_over_s) / 2)

    def _note_late(self, running, now):
        """Past the campaign's bound, note how long each job still running had been silent."""
        if now - self.start > self.duration + self.allowed_over_s:
            for job in running:
                self.silent_when_late.setdefault(job, now - self.heard[job])

    def _lost(self, job, running, why):
        """A job that will not report its end: kill it, say why, and free what it held."""
        proc = running.pop(job)[0]
        left = proctree.descendants(proc.pid) if proc.is_alive() else []    # its workers and theirs
        if proc.is_alive():
            proc.kill()
        proc.join(5)
        proctree.kill(left + proctree.marked(f"{proc.pid}."))     # and what left their trees
        self.cpus.release(proc.pid)
        self.errors.append(f"{job.name}: {why}")
        self.log[job].error = why
        self.log[job].ended_s = time.monotonic() - self.start
        self.state.lost(job, why)
        _core.cleanup_stale()       # its pool's segment, which no one else unlinks

    def _drain(self, messages, running, timeout):
        try:
            message = messages.get(timeout=timeout)
        except queue_mod.Empty:
            return
        while True:
            self._handle(message, running)
            try:
                message = messages.get_nowait()
            except queue_mod.Empty:
                return

    def _handle(self, message, running):
        kind, job = message[0], message[1]
        self.heard[job] = time.monotonic()
        if kind == "finding":       # the dashboard's state takes the document and the job's time
            self.state.heard((kind, job, message[2].to_json(), message[4]))
        else:
            self.state.heard(message)
        if kind == "progress":
            self.runs[job] = message[2]
            self.coverage[job] = message[3]
        elif kind == "finding":
            self._found(job, entry=message[2], found_at=message[3], job_s=message[4])
        elif kind == "done":
            runs, error, report = message[2:5]
            self.runs[job] = runs
            log = self.log[job]
            log.runs, log.error, log.search_s, log.late = runs, error, report["search_s"], report["late"]
            log.ended_s = time.monotonic() - self.start
            if error:
                self.errors.append(f"{job.name}: {error}")
            self.done.add(job)
            proc = running.pop(job, (None,))[0]
            if proc is not None:
                proc.join(5)
                self.cpus.release(proc.pid)

    def _found(self, job, entry, found_at, job_s):
        """Save a job's new finding (its corpus Entry), found at `found_at` (time.monotonic()),
        `job_s` into its job's search, and show it if the campaign had not found its (variant,
        signature) before."""
        key = (job.variant, entry.signature)
        unsaved = None
        try:
            path, outcome = self.store.save(entry)
        except FuzzmmError as exc:      # the finding is still reported, with its reproducer
            path, outcome, unsaved = None, None, str(exc)
            self.errors.append(str(exc))
        self._outage_news()
        record = self.records.get(key)
        if record is not None:
            if path is not None and (record.corpus_file is None or record.spooled and outcome != SPOOLED):
                record.corpus_file, record.spooled = path, outcome == SPOOLED
            return
        record = Record(job.variant, entry.kind, entry.signature, job_s, path, job.strategy,
                        known=outcome in (KEPT, CURATED), replaced=outcome == REPLACED, spooled=outcome == SPOOLED,
                        campaign_s=found_at - self.start)
        self.records[key] = record
        event = {"event": "finding", **record.to_json(), "message": entry.message}
        if unsaved is not None:     # the reproducer is in the output, or it is nowhere
            event.update(unsaved=unsaved, reproducer=entry.to_json())
        elif outcome == CURATED:      # smaller than the file a person keeps: shown, not lost
            event.update(curated=True, reproducer=entry.to_json())
        self.emit(event)

    # ---- a Redis corpus away: its outages and its spool ----

    def _poll_store(self, force=False):
        """A Redis corpus: ask the server now and then whether it answers (corpus/spool.py says
        how often), and say when it stopped and what moved from the spool into it."""
        poll = getattr(self.store, "poll", None)
        if poll is None:
            return
        moved = poll(force=force)
        self._outage_news()
        if not moved:
            return
        saved = []
        for spool_file, entry, where, outcome in moved:
            record = self.records.get((entry.variant, entry.signature))
            if record is not None and record.spooled:
                record.corpus_file, record.spooled = where, False
                record.known, record.replaced = outcome in (KEPT, CURATED), outcome == REPLACED
            item = {"variant": entry.variant, "signature": entry.signature, "corpus_file": where,
                    "spool_file": spool_file, "known": outcome in (KEPT, CURATED)}
            if outcome == CURATED:      # smaller than the entry a person keeps: shown, not lost
                item.update(curated=True, reproducer=entry.to_json())
            saved.append(item)
        self.emit({"event": "unspooled", "corpus": self.store.where,
                   "at_s": round(time.monotonic() - self.start, 1), "saved": saved})

    def _outage_news(self):
        """Say when the Redis corpus stopped answering (once per outage)."""
        outages = getattr(self.store, "outages", ())
        if len(outages) > self.outages_said:
            since, _, why = outages[-1]
            self.outages_said = len(outages)
            self.emit({"event": "outage", "corpus": self.store.where, "since_s": round(since - self.start, 1),
                       "why": why, "spool": self.store.spool.path})

    def progress(self):
        elapsed = time.monotonic() - self.start
        runs = sum(self.runs.values())
        by_kind = {}
        for record in self.records.values():
            by_kind[record.kind] = by_kind.get(record.kind, 0) + 1
        return {"event": "progress", "elapsed_s": round(elapsed, 1), "runs": runs,
                "runs_per_s": round(runs / elapsed, 1) if elapsed else 0.0,
                "coverage_pairs": sum(self.coverage.values()), "findings_by_kind": by_kind,
                "running": [job_name(job) for job in self.running], "jobs": len(self.jobs),
                "jobs_done": len(self.done)}

    def summary(self, interrupted=False):
        elapsed = (self.ended or time.monotonic()) - self.start
        runs = sum(self.runs.values())
        errors = list(self.errors)
        for job, log in self.log.items():       # a job that ran its course and made no run could not run
            if job in self.done and not log.error and not log.runs and not interrupted:
                errors.append(f"{job.name}: made no run in its {log.search_s or 0:.1f} s")
        spooled = self.store.spooled() if hasattr(self.store, "spooled") else []
        if spooled:
            errors.append(f"Redis at {self.store.where} did not answer at the end: {len(spooled)} finding(s) "
                          f"wait in the spool {self.store.spool.path}, and the next campaign on it saves them there")
        return {"event": "summary", "runs": runs, "runs_per_s": round(runs / elapsed, 1) if elapsed else 0.0,
                "elapsed_s": round(elapsed, 1), "interrupted": interrupted, "errors": errors,
                "findings": [r.to_json() for r in sorted(self.records.values(),
                                                         key=lambda r: (r.variant, r.campaign_s))],
                "jobs": [{**published, **log.to_json(job)}
                         for published, (job, log) in zip(self.state.job_summaries(), self.log.items())],
                "spooled": spooled,
                "outages": [{"from_s": round(since - self.start, 1),
                             "to_s": None if until is None else round(until - self.start, 1), "why": why}
                            for since, until, why in getattr(self.store, "outages", ())],
                "late": None if interrupted else self._late(elapsed)}

    def _late(self, elapsed):
        """None where the campaign ended within its bound; else how late, and why, job by job."""
        if elapsed <= self.duration + self.allowed_over_s:
            return None
        bound = self.duration + self.allowed_over_s
        why = []
        if self.setup_s > self.allowed_over_s / 2:
            why.append(f"starting took {self.setup_s:.1f} s")
        if self.checked_s > self.allowed_over_s / 2:
            why.append(f"checking the programs took {self.checked_s:.1f} s")
        for job, log in self.log.items():
            if log.ended_s is None or log.ended_s <= bound:
                continue
            silent = self.silent_when_late.get(job, 0.0)
            reason = log.late or (log.error if log.error and "killed" in log.error else None) or \
                (f"silent for {silent:.1f} s at the bound: in one run, which only the watchdog ends if it hangs"
                 if silent >= SILENT_S else "winding down after its search")
            why.append(f"{job.name} ended at {log.ended_s:.1f} s: {reason}")
        return {"over_s": round(elapsed - self.duration, 1), "allowed_s": round(self.allowed_over_s, 1),
                "why": why}
