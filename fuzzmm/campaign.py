"""Campaigns: many (variant, strategy) jobs on parallel executors, findings into the corpus.

Each job runs in its own process with its own executor (pool and workers), so
executors scale across cores without sharing a GIL.  Jobs send progress and
findings to the parent over a queue; the parent alone writes corpus files, so
two jobs never race on one file.
"""
from dataclasses import dataclass
import os
import queue as queue_mod
import signal
import time

import multiprocess

from fuzzmm import _core, corpus, proctree
from fuzzmm.corpus.store import open_store
from fuzzmm.corpus.entry import CURATED, KEPT, REPLACED, Entry
from fuzzmm.corpus.minimize import QUICK_S
from fuzzmm.errors import FuzzmmError
from fuzzmm.models import ProgramRef, is_file_source
from fuzzmm.placement import CpuClaims
from fuzzmm.publish import CampaignState, Publisher, job_name


@dataclass(frozen=True)
class Job:
    model: str
    variant: str
    ref: ProgramRef
    strategy: str
    seed: int


class _Termination:
    """SIGTERM (or SIGHUP) to a job, as when the whole process group is sent it, asks the search to stop
    at its next progress tick (twice a second), so the job still reports its runs and
    findings and closes its executor, as Ctrl-C does; a second SIGTERM exits at once."""

    def __init__(self):
        self.asked = False

    def __call__(self, signum, frame):
        if self.asked:
            raise SystemExit(128 + signum)
        self.asked = True


def _job_main(job, seconds, messages, stop, pct_depth, cpus, store_spec):
    """Body of one campaign process: search until the budget or `stop`, report by queue."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    terminated = _Termination()
    signal.signal(signal.SIGTERM, terminated)
    if signal.getsignal(signal.SIGHUP) != signal.SIG_IGN:
        signal.signal(signal.SIGHUP, terminated)        # sent with the campaign's own when its terminal goes
    _core.set_pdeathsig()           # a campaign killed outright takes its jobs with it

    def stopping():
        return stop.is_set() or terminated.asked
    search = None
    try:
        cpu = None if job.strategy == "chaos" else cpus.claim()     # chaos wants every core
        from fuzzmm.sched.executor import Executor, RunInterrupted
        from fuzzmm.sched.search import Search
        store = open_store(store_spec)
        with Executor(job.ref, cpu=cpu) as executor:
            search = Search(executor, job.strategy, seed=job.seed, pct_depth=pct_depth,
                            database=store.hypothesis_database())
            state_name = _state_name(job, store)
            try:
                search.restore(store.load_state(state_name) or {})
            except Exception:
                pass                    # a damaged state only costs the resume
            saved = [time.monotonic()]

            def tick(n):
                messages.put(("progress", job, n, len(search.coverage or ())))
                if time.monotonic() - saved[0] > 2:
                    store.save_state(state_name, search.state())
                    saved[0] = time.monotonic()
                return stopping()
            search.tick = tick
            executor.should_stop = stopping
            messages.put(("started", job, os.getpid(), time.time()))     # its findings count from here
            try:
                _search(job, executor, search, seconds, messages, stopping)
            except RunInterrupted:
                pass
            store.save_state(state_name, search.state())
        messages.put(("done", job, search.runs, None))
    except BaseException as exc:      # reported to the parent, which decides the exit code
        reason = str(exc) if isinstance(exc, FuzzmmError) else f"{type(exc).__name__}: {exc}"
        messages.put(("done", job, search.runs if search else 0, reason))


def _state_name(job, store):
    """The key of a job's saved search state.  A model file is named as the corpus names it
    (relative to a corpus directory, else absolute), so `--model m.py` and `--model ./m.py`,
    or the same file from another directory, resume one state."""
    model = job.model
    if is_file_source(model):
        base = getattr(store, "path", None)
        model = os.path.relpath(os.path.abspath(model), base) if base else os.path.abspath(model)
    return f"{model}/{job.variant}/{job.strategy}"


def _search(job, executor, search, seconds, messages, stopping):
    """Search until the budget or `stopping()`; each new finding that replays on its own is
    shrunk a little and sent to the parent."""
    from fuzzmm.sched.search import replays_alone
    seen = set()
    shrink_left = MINIMIZE_SHARE * seconds      # for all the job's findings together
    for found in search.run(seconds=seconds):
        if not found.reproduced or found.finding.signature in seen:
            continue
        if not found.replayed and not replays_alone(executor, found.scenario, found.schedule,
                                                    found.finding.signature):
            continue        # only what replays is kept (not a worker killed from outside)
        seen.add(found.finding.signature)
        entry = Entry(model=job.model, variant=job.variant, program=str(job.ref),
                      scenario=found.scenario, schedule=found.schedule, kind=found.finding.kind,
                      signature=found.finding.signature, message=found.finding.message,
                      past_watchdog=found.finding.past_watchdog,
                      found_by={"strategy": found.strategy, "seed": job.seed, "run": found.run,
                                "elapsed_s": round(found.elapsed_s, 4)})
        if not stopping():
            began = time.monotonic()
            entry = corpus.shrink_quickly(entry, executor, min(MINIMIZE_S, shrink_left))
            shrink_left -= time.monotonic() - began
        messages.put(("finding", job, entry.to_json(), found.elapsed_s))
        if stopping():
            break


#: How long a job may be silent past its budget before it is taken for stopped and killed:
#: the run under way may hang (one watchdog), its replay too (another), its shrinking a third.
JOB_GRACE_S = 3 * 10.0 * 1.1 + 10.0
LOOP_GAP_S = 5.0        # the parent's loop turns five times a second: a longer gap is this process stopped

MINIMIZE_S = QUICK_S    # at most this long per new finding,
MINIMIZE_SHARE = 0.1    # and this share of a job's budget for all of them


@dataclass
class Record:
    variant: str
    kind: str
    signature: str
    first_found_s: float    # from the start of the job that found it
    corpus_file: str
    strategy: str
    known: bool = False     # the corpus held a reproducer of this signature no larger, and kept it
    replaced: bool = False  # the corpus held a larger one of the same file name, which this replaced
    campaign_s: float = 0.0     # from the campaign's start

    def to_json(self):
        return {"variant": self.variant, "kind": self.kind, "signature": self.signature,
                "first_found_s": round(self.first_found_s, 3), "campaign_s": round(self.campaign_s, 3),
                "corpus_file": self.corpus_file,
                "strategy": self.strategy, "known": self.known, "replaced": self.replaced}


class Campaign:
    """Runs `jobs` on at most `executors` processes for about `duration` seconds of wall time,
    publishing its state to its store for dashboards (fuzzmm.publish) unless `publish` is False."""

    def __init__(self, jobs, duration, executors, store_spec, emit, pct_depth=3, machine=None, publish=True):
        if not 0 < duration < float("inf"):          # also refuses nan
            raise FuzzmmError(f"--duration must be a positive number of seconds, not {duration}")
        if executors < 1:
            raise FuzzmmError(f"--executors must be at least 1, not {executors}")
        self.jobs = list(jobs)
        self.duration = duration
        self.executors = min(executors, len(self.jobs))
        self.store_spec = store_spec
        self.store = open_store(store_spec)     # bad paths and unreachable servers fail here
        self.store.check_writable()
        self.emit = emit            # emit(event_dict): the caller prints
        self.pct_depth = pct_depth
        self.records = {}           # (variant, signature) -> Record
        self.runs = {}              # job -> runs so far
        self.coverage = {}          # job -> ordered site pairs seen
        self.errors = []
        self.done = set()           # jobs that reported their end
        self.heard = {}             # job -> when a message of it last came (it reports twice a second)
        self.running = {}           # job -> (process, start offset, budget) of the jobs running now
        self.state = CampaignState(self.jobs, machine, duration, self.store.where)
        self.publisher = Publisher(self.store, self.state) if publish else None

    def run(self):
        _core.cleanup_stale()
        ctx = multiprocess.get_context("fork")
        messages, stop = ctx.Queue(), ctx.Event()
        self.cpus = CpuClaims(ctx)
        share = self.duration / -(-len(self.jobs) // self.executors)     # each job's share of the time
        start = self.start = time.monotonic()
        pending, running = list(self.jobs), {}
        self.running = running
        last_progress = self.last_loop = start
        interrupted = False
        try:
            while pending or running:
                while pending and len(running) < self.executors and not stop.is_set():
                    job = pending.pop(0)
                    budget = self._budget(share, len(pending) + 1)
                    proc = ctx.Process(target=_job_main, args=(job, budget, messages, stop, self.pct_depth,
                                                               self.cpus, self.store_spec),
                                       name=f"fuzzmm-campaign-{job.variant}-{job.strategy}")
                    proc.start()
                    self.state.launched(job, proc.pid)
                    running[job] = (proc, time.monotonic() - start, budget)
                    self.heard[job] = time.monotonic()
                if stop.is_set():
                    pending.clear()
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
        if self.publisher is not None:
            self.publisher.finish(interrupted)
        return self.summary(interrupted)

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

    def _budget(self, share, jobs_left):
        """Seconds for a job starting now: the time left, split over the waves of jobs still
        to start, so jobs that ran over (start-up, a hang kept) do not push the campaign past
        its --duration; but never under half of its share, so every job gets a fair look."""
        waves_left = -(-jobs_left // self.executors)
        left = self.start + self.duration - time.monotonic()
        return max(share / 2, left / waves_left)

    def _lost(self, job, running, why):
        """A job that will not report its end: kill it, say why, and free what it held."""
        proc = running.pop(job)[0]
        left = proctree.descendants(proc.pid) if proc.is_alive() else []    # its workers and theirs
        if proc.is_alive():
            proc.kill()
        proc.join(5)
        proctree.kill(left + proctree.marked(f"{proc.pid}."))     # and what left their trees
        self.cpus.release(proc.pid)
        self.errors.append(f"{job.variant}/{job.strategy}: {why}")
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
        self.state.heard(message)
        offset = running.get(job, (None, 0.0))[1]
        if kind == "progress":
            self.runs[job] = message[2]
            self.coverage[job] = message[3]
        elif kind == "finding":
            doc, elapsed = message[2], message[3]
            entry = corpus.load_doc(doc)
            key = (job.variant, entry.signature)
            unsaved = None
            try:
                path, outcome = self.store.save(entry)
            except FuzzmmError as exc:      # the finding is still reported, with its reproducer
                path, outcome, unsaved = None, None, str(exc)
                self.errors.append(str(exc))
            if key in self.records and self.records[key].corpus_file is None:
                self.records[key].corpus_file = path
            if key not in self.records:
                record = Record(job.variant, entry.kind, entry.signature, elapsed, path, job.strategy,
                                known=outcome in (KEPT, CURATED), replaced=outcome == REPLACED,
                                campaign_s=offset + elapsed)
                self.records[key] = record
                event = {"event": "finding", **record.to_json(), "message": entry.message}
                if unsaved is not None:     # the reproducer is in the output, or it is nowhere
                    event.update(unsaved=unsaved, reproducer=entry.to_json())
                elif outcome == CURATED:      # smaller than the file a person keeps: shown, not lost
                    event.update(curated=True, reproducer=entry.to_json())
                self.emit(event)
        elif kind == "done":
            self.runs[job] = message[2]
            if message[3]:
                self.errors.append(f"{job.variant}/{job.strategy}: {message[3]}")
            self.done.add(job)
            proc = running.pop(job, (None,))[0]
            if proc is not None:
                proc.join(5)
                self.cpus.release(proc.pid)

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
        elapsed = time.monotonic() - self.start
        runs = sum(self.runs.values())
        return {"event": "summary", "runs": runs, "runs_per_s": round(runs / elapsed, 1) if elapsed else 0.0,
                "elapsed_s": round(elapsed, 1), "interrupted": interrupted, "errors": self.errors,
                "findings": [r.to_json() for r in sorted(self.records.values(),
                                                         key=lambda r: (r.variant, r.campaign_s))],
                "jobs": self.state.job_summaries()}
