"""The dashboard in a real headless Chromium: two campaigns, as two machines, share a Redis corpus,
and one dashboard on that Redis shows both machines' jobs, a coverage plot, a finding with its
SVG swimlane, and what changed a few seconds later.

Chromium and its driver come from the system packages (Debian: chromium, chromium-driver;
.ci/run installs them), Selenium from the dev extra.  Skipped, saying why, only where one of
them is missing.  Every wait is on something the page shows; none is a fixed sleep.
"""
import shutil
import signal
import subprocess
import sys

import pytest

from test_campaigns import redis_server, redis_url, start_campaign  # noqa: F401  a real redis-server for the test

WAIT_S = 180        # the most any one thing may take to show on a loaded machine


def chromium(profile, monkeypatch):
    """A headless Chromium driven by Selenium, or a skip saying what is missing."""
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        pytest.skip("selenium is not installed (pip install -e '.[dev]')")
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver")
    if browser is None or driver is None:
        pytest.skip("no Chromium with its driver could be found (Debian: apt-get install chromium chromium-driver)")
    options = webdriver.ChromeOptions()
    options.binary_location = browser
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-dev-shm-usage",
                 f"--user-data-dir={profile}", "--window-size=1400,1000"):
        options.add_argument(flag)
    monkeypatch.setenv("SE_OFFLINE", "true")            # Selenium Manager must not look for downloads
    return webdriver.Chrome(service=Service(executable_path=driver), options=options)


def start_dashboard(url):
    proc = subprocess.Popen([sys.executable, "-m", "fuzzmm", "dashboard", url, "--port", "0"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    line = proc.stdout.readline()           # "fuzzmm dashboard of URL: http://127.0.0.1:PORT/ (...)"
    if "http://" not in line:
        proc.kill()
        pytest.fail(f"the dashboard did not start: {line}{proc.stderr.read()}")
    return proc, line.split(": ", 1)[1].split(" ")[0]


def stop(proc):
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


#: What the page shows, read in one go: the live part is swapped every two seconds, so element
#: handles kept across a swap would go stale.
SNAPSHOT = """
const lane = document.querySelector('.finding .swimlane svg.fuzzmm-swimlane');
const command = document.querySelector('.finding .command');
return {
  jobs: Array.from(document.querySelectorAll('tr.job'),
                   r => [r.dataset.machine, r.dataset.job, Number(r.dataset.runs)]),
  machines: Object.fromEntries(Array.from(document.querySelectorAll('tr.machine'),
                                          r => [r.dataset.machine, r.dataset.status])),
  coverage_lines: document.querySelectorAll('#coverage-plot g.series path').length,
  lane: lane && {width: lane.getBoundingClientRect().width, switches: lane.querySelectorAll('.fz-switch-mark').length},
  finding: (lane && lane.closest('.finding').innerText) || '',
  command: command ? command.innerText : '',
  status: document.getElementById('status').textContent,
};
"""


@pytest.mark.slow
def test_one_dashboard_shows_two_machines_sharing_a_redis_corpus_live(redis_url, tmp_path,  # noqa: F811
                                                                     monkeypatch):
    from selenium.webdriver.support.ui import WebDriverWait
    browser = chromium(tmp_path / "profile", monkeypatch)
    procs = []
    try:
        for machine, strategy, seed in (("alpha", "pct", 1), ("beta", "random", 2)):
            procs.append(start_campaign("--variant", "racy", "--strategy", strategy, "--duration", "600",
                                        "--executors", "1", "--seed", str(seed), "--corpus", redis_url,
                                        "--machine", machine))
        dashboard, address = start_dashboard(redis_url)
        procs.append(dashboard)
        browser.get(address)

        def until(shows, what):
            """The first snapshot of the page that `shows` what is waited for."""
            seen = []

            def check(driver):
                seen[:] = [driver.execute_script(SNAPSHOT)]
                return shows(seen[0])
            WebDriverWait(browser, WAIT_S, poll_frequency=0.25).until(check, f"the page never showed {what}")
            return seen[0]

        def runs_of(page, machine):
            return max((runs for m, _, runs in page["jobs"] if m == machine), default=-1)
        page = until(lambda p: {m for m, _, _ in p["jobs"]} == {"alpha", "beta"}, "both machines' jobs")
        assert sorted((m, job) for m, job, _ in page["jobs"]) == [("alpha", "racy/pct"), ("beta", "racy/random")]
        assert page["machines"] == {"alpha": "running", "beta": "running"}

        until(lambda p: p["coverage_lines"] >= 1, "a coverage plot")
        page = until(lambda p: p["lane"] and p["lane"]["width"] > 0, "a finding with its swimlane")
        assert "assertion@LostUpdate.check" in page["finding"]
        assert page["lane"]["switches"] >= 1                       # the switches are marked
        assert "fuzzmm corpus export " in page["command"]

        before = {m: runs_of(page, m) for m in ("alpha", "beta")}
        page = until(lambda p: all(runs_of(p, m) > before[m] for m in before), "the runs of both jobs going up")
        assert "live, updated" in page["status"]
    finally:
        browser.quit()
        for proc in procs:
            stop(proc)
