"""What a dashboard page shows, gathered from a store: machines, jobs, findings grouped by bug.

A finding is grouped by its bug key where it has one, else by its signature, within its model.
Each group counts the times campaigns found it (a corpus entry no published campaign names
counts once), when it was first and last seen, on which machines and by which jobs, and holds
its corpus entries: the scenario, the replay command, and an id for its swimlane.
"""
from dataclasses import dataclass, field
import hashlib
import os
import time

from fuzzmm.errors import FuzzmmError
from fuzzmm.publish import read_campaigns


def entry_id(where):
    """A short stable id for the corpus entry stored at `where` (its swimlane's URL)."""
    return hashlib.sha1(where.encode()).hexdigest()[:12]


def bug_key(entry):
    """The entry's bug key, where one exists (a `bug` field), else None."""
    bug = getattr(entry, "bug", None) or entry.extra.get("bug")
    return bug if isinstance(bug, str) and bug else None


@dataclass
class Reproducer:
    """A corpus entry as a page shows it."""
    id: str
    where: str
    entry: object
    replay: str                 # a command to copy

    @property
    def scenario(self):
        return self.entry.scenario.describe()

    @property
    def switches(self):
        return list(self.entry.schedule.switches)


@dataclass
class FindingGroup:
    key: str                    # the bug key, or the signature
    model: str
    by_bug: bool
    kinds: set = field(default_factory=set)
    signatures: set = field(default_factory=set)
    variants: set = field(default_factory=set)
    message: str = ""
    count: int = 0
    first_seen: float = None
    last_seen: float = None
    machines: set = field(default_factory=set)
    jobs: list = field(default_factory=list)      # "machine: variant/strategy (seed N), found at T s into it"
    reproducers: list = field(default_factory=list)

    def seen(self, at):
        self.first_seen = at if self.first_seen is None else min(self.first_seen, at)
        self.last_seen = at if self.last_seen is None else max(self.last_seen, at)


def replay_command(where, entry, store_where):
    """A command that replays the entry with its swimlane: the file, or for a Redis entry, an
    export of the corpus and its file there."""
    if where.startswith("redis://"):
        return (f"fuzzmm corpus export {store_where} corpus-export && "
                f"fuzzmm replay corpus-export/{entry.file_name(base=os.path.abspath('corpus-export'))} --trace")
    return f"fuzzmm replay {where} --trace"


def _group_key(model, bug, signature):
    return (model, bug or signature)


def gather(store, now=None):
    """Everything a page shows, as plain data: a dict of campaigns, machines, jobs, findings,
    reproducers by id, and the corpus entries that could not be read."""
    now = now or time.time()
    campaigns = read_campaigns(store, now)
    groups = {}

    def group(model, bug, signature):
        key = _group_key(model, bug, signature)
        if key not in groups:
            groups[key] = FindingGroup(key=bug or signature, model=model, by_bug=bool(bug))
        return groups[key]
    jobs = []
    for campaign in campaigns:
        for job in campaign.get("jobs", ()):
            jobs.append({**job, "machine": campaign.get("machine"), "campaign": campaign.get("id"),
                         "campaign_status": campaign["status"]})
            for found in job.get("findings", ()):
                g = group(found.get("model") or job.get("model"), found.get("bug"), found.get("signature"))
                g.count += 1
                g.kinds.add(found.get("kind"))
                g.signatures.add(found.get("signature"))
                g.variants.add(found.get("variant"))
                g.message = g.message or found.get("message", "")
                g.machines.add(campaign.get("machine"))
                g.seen(found.get("at") or 0)
                g.jobs.append({"machine": campaign.get("machine"), "job": job.get("name"), "seed": job.get("seed"),
                               "job_s": found.get("job_s"), "at": found.get("at")})
    reproducers, unreadable = {}, []
    for where, entry in store.entries():
        if isinstance(entry, FuzzmmError):
            unreadable.append(str(entry))
            continue
        g = group(entry.model, bug_key(entry), entry.signature)
        if g.count == 0:
            g.count = 1                     # in the corpus, found by no campaign published here
        g.kinds.add(entry.kind)
        g.signatures.add(entry.signature)
        g.variants.add(entry.variant)
        g.message = g.message or entry.message
        rid = entry_id(where)
        reproducer = Reproducer(rid, where, entry, replay_command(where, entry, store.where))
        g.reproducers.append(reproducer)
        reproducers[rid] = reproducer
    findings = sorted(groups.values(), key=lambda g: (-(g.last_seen or 0), g.model, g.key))
    return {"now": now, "where": store.where, "campaigns": campaigns, "machines": machines_of(campaigns),
            "jobs": jobs, "findings": findings, "reproducers": reproducers, "unreadable": unreadable,
            "runs": sum(job.get("runs", 0) for job in jobs)}


def machines_of(campaigns):
    """One row per machine: running if any of its campaigns beats, else gone if its latest
    campaign stopped beating before it finished, else finished."""
    machines = {}
    for campaign in campaigns:          # newest first
        name = campaign.get("machine") or "?"
        row = machines.setdefault(name, {"name": name, "status": campaign["status"], "campaigns": 0,
                                         "jobs_running": 0, "runs": 0, "heard_s": campaign["heard_s"]})
        row["campaigns"] += 1
        row["runs"] += campaign.get("runs", 0)
        row["heard_s"] = min(row["heard_s"], campaign["heard_s"])
        if campaign["status"] == "running":
            row["status"] = "running"
            row["jobs_running"] += sum(1 for job in campaign.get("jobs", ()) if job.get("status") == "running")
    return sorted(machines.values(), key=lambda m: m["name"])
