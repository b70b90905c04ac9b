"""Campaigns publish their state for dashboards: per job what runs where, coverage over time and
findings from the job's start; a heartbeat that stops shows the machine as gone."""
import json
import os
import subprocess
import sys
import time

import pytest

from fuzzmm.campaign import Job
from fuzzmm.corpus.store import open_store
from fuzzmm.models import load_model
from fuzzmm.publish import GONE_S, CampaignState, Publisher, read_campaigns

from test_campaigns import redis_server, redis_url  # noqa: F401  a real redis-server for the test


def jobs():
    model = load_model("lost-update")
    return [Job(model.name, v, model.ref(v), "pct", i) for i, v in enumerate(("racy", "fixed"))]


def heard_campaign(machine="m1"):
    """A campaign state that heard its first job start, progress, find and end."""
    racy, fixed = jobs()
    state = CampaignState([racy, fixed], machine=machine, duration=10, corpus="c")
    t = time.time()
    state.launched(racy, 4242, t)
    state.heard(("started", racy, 4243, t + 0.5), t + 0.5)
    state.heard(("progress", racy, 100, 7), t + 1.0)
    state.heard(("progress", racy, 300, 9), t + 2.0)
    state.heard(("finding", racy, {"signature": {"kind": "assertion", "signature": "assertion@LostUpdate.check"},
                                   "message": "lost"}, 1.25), t + 2.2)
    state.heard(("progress", racy, 500, 9), t + 3.0)
    state.heard(("done", racy, 520, None), t + 3.5)
    return state, t


def test_the_state_of_a_job_says_what_ran_where_and_what_it_found_when():
    state, t = heard_campaign()
    doc = state.to_json(t + 4)
    assert doc["machine"] == "m1" and doc["runs"] == 520
    racy, fixed = doc["jobs"]
    assert (racy["name"], racy["pid"], racy["seed"], racy["status"]) == ("racy/pct", 4243, 0, "done")
    assert racy["start"] == pytest.approx(t + 0.5) and racy["runs_per_s"] == pytest.approx(520 / 3.0, abs=0.1)
    assert racy["coverage_pairs"] == 9 and racy["since_new_pair_s"] == pytest.approx(1.5, abs=0.01)
    assert [point[1:] for point in racy["series"]] == [[100, 7], [300, 9], [500, 9], [520, 9]]
    (finding,) = racy["findings"]
    assert finding["signature"] == "assertion@LostUpdate.check" and finding["job_s"] == 1.25
    assert fixed["status"] == "waiting" and fixed["runs"] == 0
    assert json.loads(json.dumps(doc)) == doc


def test_a_directory_store_holds_each_campaign_and_a_stopped_heartbeat_is_gone(tmp_path):
    store = open_store(str(tmp_path))
    running, t = heard_campaign("alive")
    Publisher(store, running).publish()
    stopped, _ = heard_campaign("stopped")
    Publisher(store, stopped).publish()
    finished, _ = heard_campaign("finished")
    Publisher(store, finished).finish()
    status = {doc["machine"]: doc["status"] for doc in read_campaigns(store)}
    assert status == {"alive": "running", "stopped": "running", "finished": "finished"}
    later = {doc["machine"]: doc["status"] for doc in read_campaigns(store, now=time.time() + GONE_S + 1)}
    assert later == {"alive": "gone", "stopped": "gone", "finished": "finished"}
    assert all(name.endswith(".json") for name in os.listdir(tmp_path / ".campaigns"))


def test_a_redis_store_shows_a_campaign_gone_once_its_heartbeat_key_expired(redis_url):  # noqa: F811
    import redis
    from fuzzmm.publish import REDIS_HEARTBEAT_PREFIX
    store = open_store(redis_url)
    state, _ = heard_campaign("far")
    Publisher(store, state).publish()
    client = redis.Redis.from_url(redis_url)
    assert 0 < client.ttl(REDIS_HEARTBEAT_PREFIX + state.id) <= GONE_S
    assert [doc["status"] for doc in read_campaigns(store)] == ["running"]
    client.delete(REDIS_HEARTBEAT_PREFIX + state.id)          # as when it expires
    assert [doc["status"] for doc in read_campaigns(store)] == ["gone"]
    Publisher(store, state).finish()
    assert [doc["status"] for doc in read_campaigns(store)] == ["finished"]


def test_a_publisher_that_cannot_write_leaves_the_campaign_going(tmp_path):
    store = open_store(str(tmp_path))
    (tmp_path / ".campaigns").write_text("a file where the directory goes")
    publisher = Publisher(store, heard_campaign()[0])
    publisher.publish()
    assert publisher.failed


@pytest.mark.slow
def test_a_campaign_publishes_its_jobs_and_its_json_summary_has_them(tmp_path):
    """A real campaign of two jobs run in turn: its summary has a section per job, its first-found
    times count from the job's own start, and its published state names the machine given."""
    proc = subprocess.run([sys.executable, "-m", "fuzzmm", "fuzz", "--model", "lost-update", "--duration", "3",
                           "--executors", "1", "--seed", "3", "--corpus", str(tmp_path), "--machine", "box-1",
                           "--json"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1, proc.stderr
    lines = [json.loads(line) for line in proc.stdout.splitlines()]
    summary = lines[-1]
    assert [(j["name"], j["status"]) for j in summary["jobs"]] == [("racy/pct", "done"), ("fixed/pct", "done")]
    assert all(j["runs"] > 0 and j["seconds"] > 0 and j["pid"] for j in summary["jobs"])
    (finding,) = summary["findings"]
    assert finding["first_found_s"] <= finding["campaign_s"]
    progress = [e for e in lines if e["event"] == "progress"]
    assert progress and all(set(e["running"]) <= {"racy/pct", "fixed/pct"} for e in progress)
    (doc,) = read_campaigns(open_store(str(tmp_path)))
    assert doc["machine"] == "box-1" and doc["status"] == "finished"
    assert [j["name"] for j in doc["jobs"]] == ["racy/pct", "fixed/pct"]
    assert doc["jobs"][0]["findings"][0]["signature"] == finding["signature"]


def test_the_progress_line_names_what_runs_and_the_table_says_where_times_count_from(capsys):
    from fuzzmm.report import print_event, table
    base = {"event": "progress", "elapsed_s": 1.0, "runs": 10, "runs_per_s": 10.0, "coverage_pairs": 3,
            "findings_by_kind": {}}
    print_event({**base, "running": ["racy/pct"], "jobs": 2, "jobs_done": 0})
    print_event({**base, "running": ["racy/pct", "racy/random", "racy/chaos"], "jobs": 3, "jobs_done": 0})
    err = capsys.readouterr().err.splitlines()
    assert "racy/pct (0 of 2 jobs done)" in err[0] and "  3 jobs  " in err[1]
    text = table({"findings": [], "runs": 10, "elapsed_s": 1.0, "runs_per_s": 10.0}, ["racy"])
    assert "first found (s into its job)" in text.splitlines()[0]
