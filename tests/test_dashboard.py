"""The dashboard's pages over a directory corpus (Flask's test client), and `fuzzmm report`."""
import os
import re
import subprocess
import sys

import pytest

from fuzzmm import corpus
from fuzzmm.corpus.store import open_store
from fuzzmm.publish import Publisher

from test_publish import heard_campaign

pytest.importorskip("flask")
CORPUS = os.path.join(os.path.dirname(__file__), "..", "corpus")


@pytest.fixture
def published(tmp_path):
    """A corpus directory with the lost update's reproducer and a campaign that found it."""
    from fuzzmm.examples.lost_update import LostUpdate
    from fuzzmm.sched.executor import Executor
    from fuzzmm.sched.search import Search
    with Executor(LostUpdate) as executor:
        found = next(Search(executor, "pct", seed=1).run(max_runs=2000, stop_at_first=True))
    entry = corpus.Entry(model="lost-update", variant="racy", program=str(executor.ref), scenario=found.scenario,
                         schedule=found.schedule, kind=found.finding.kind, signature=found.finding.signature,
                         message=found.finding.message)
    store = open_store(str(tmp_path))
    store.save(entry)
    state, _ = heard_campaign("alpha")
    Publisher(store, state).publish()
    return store, entry


def test_the_page_and_its_live_part_show_machines_jobs_plots_and_findings(published):
    from fuzzmm.dashboard.server import create_app
    store, entry = published
    client = create_app(store).test_client()
    page = client.get("/").get_data(as_text=True)
    assert 'src="static/dashboard.js"' in page and "http" not in page.replace('xmlns="http://www.w3.org/2000/svg"', "")
    live = client.get("/live").get_data(as_text=True)
    assert 'data-machine="alpha" data-status="running"' in live
    assert 'data-machine="alpha" data-job="racy/pct"' in live and 'id="coverage-plot"' in live
    assert "assertion@LostUpdate.check" in live and "fuzzmm replay " in live
    (lane,) = re.findall(r'data-src="(swimlane/[0-9a-f]+\.svg)"', live)
    svg = client.get("/" + lane)
    assert svg.status_code == 200 and svg.mimetype == "image/svg+xml"
    assert "fuzzmm-swimlane" in svg.get_data(as_text=True)
    state = client.get("/api/state").get_json()
    (group,) = state["findings"]
    assert group["count"] == 1 and group["machines"] == ["alpha"] and group["reproducers"]
    for name in ("dashboard.css", "dashboard.js", "copy.js"):
        assert client.get(f"/static/{name}").status_code == 200
    assert client.get("/swimlane/000000000000.svg").status_code == 404


def test_findings_group_by_bug_key_where_one_exists(published):
    from fuzzmm.dashboard.view import gather
    store, entry = published
    doc = entry.to_json(base=store.path)
    doc["bug"] = "lost-increment"
    other = corpus.load_doc({**doc, "variant": "fixed"}, "x")
    other.extra = {"bug": "lost-increment"}
    store.save(other)
    groups = gather(store)["findings"]
    assert any(g.by_bug and g.key == "lost-increment" for g in groups)


@pytest.mark.slow
def test_report_is_one_file_with_every_corpus_file_s_swimlane_and_no_network(tmp_path):
    out = tmp_path / "r.html"
    proc = subprocess.run([sys.executable, "-m", "fuzzmm", "report", CORPUS, "-o", str(out)], capture_output=True,
                          text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    html = out.read_text()
    files = [name for name in os.listdir(CORPUS) if name.endswith(".json")]
    assert html.count('<svg xmlns="http://www.w3.org/2000/svg" class="fuzzmm-swimlane"') == len(files)
    for name in files:
        assert name in html
    without_namespace = html.replace("http://www.w3.org/2000/svg", "")
    assert "http://" not in without_namespace and "https://" not in without_namespace
    assert "<link" not in html and "<script src" not in html and "no swimlane" not in html
