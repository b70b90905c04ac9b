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

from test_campaigns import redis_url, start_campaign  # noqa: F401  a real redis-server for the test

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


@pytest.mark.slow
def test_one_dashboard_shows_two_machines_sharing_a_redis_corpus_live(redis_url, tmp_path,  # noqa: F811
                                                                     monkeypatch):
    from selenium.webdriver.common.by import By
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
        wait = WebDriverWait(browser, WAIT_S, poll_frequency=0.25)

        def jobs_of(machine):
            return browser.find_elements(By.CSS_SELECTOR, f'tr.job[data-machine="{machine}"]')
        wait.until(lambda b: jobs_of("alpha") and jobs_of("beta"), "both machines' jobs")
        assert jobs_of("alpha")[0].get_attribute("data-job") == "racy/pct"
        assert jobs_of("beta")[0].get_attribute("data-job") == "racy/random"
        machines = {row.get_attribute("data-machine"): row.get_attribute("data-status")
                    for row in browser.find_elements(By.CSS_SELECTOR, "tr.machine")}
        assert machines == {"alpha": "running", "beta": "running"}

        wait.until(lambda b: b.find_elements(By.CSS_SELECTOR, "#coverage-plot g.series path"), "a coverage plot")
        lane = wait.until(lambda b: b.find_elements(By.CSS_SELECTOR, ".finding .swimlane svg.fuzzmm-swimlane"),
                          "a finding with its swimlane")[0]
        assert lane.is_displayed()
        assert "assertion@LostUpdate.check" in browser.find_element(By.CSS_SELECTOR, ".finding").text
        assert lane.find_elements(By.CSS_SELECTOR, ".fz-switch-mark")      # the switches are marked
        assert "fuzzmm corpus export " in browser.find_element(By.CSS_SELECTOR, ".finding .command").text

        def runs_shown(machine):
            rows = jobs_of(machine)
            return int(rows[0].get_attribute("data-runs")) if rows else -1
        before = {m: runs_shown(m) for m in ("alpha", "beta")}
        wait.until(lambda b: all(runs_shown(m) > before[m] for m in before), "the runs of both jobs going up")
        assert "live, updated" in browser.find_element(By.ID, "status").text
    finally:
        browser.quit()
        for proc in procs:
            stop(proc)
