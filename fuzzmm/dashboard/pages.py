"""The HTML of the dashboard and of the report, from this package's templates and styles.

The dashboard's page links its style sheet and script (served by the dashboard itself) and
fetches its live part again every few seconds; the report is one file with all of it inline,
its swimlanes drawn in, so it opens anywhere with no network and no server.
"""
import os
import time

import jinja2

from fuzzmm.dashboard import plots

HERE = os.path.dirname(os.path.abspath(__file__))
STATIC = os.path.join(HERE, "static")
RECENT_CAMPAIGNS = 5        # besides the running ones, the jobs of this many latest campaigns are shown
PLOTTED_JOBS = len(plots.PALETTE)

_env = jinja2.Environment(loader=jinja2.FileSystemLoader(os.path.join(HERE, "templates")),
                          autoescape=True, trim_blocks=True, lstrip_blocks=True)


def clock(when):
    """A wall time as people read it, in this machine's time zone."""
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(when)) if when else "-"


def ago(seconds):
    if seconds is None:
        return "-"
    if seconds < 90:
        return f"{seconds:.0f} s ago"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min ago"
    return f"{seconds / 3600:.1f} h ago"


def job_status(job):
    """A job's status, where one still running in a campaign that stopped beating is gone."""
    if job.get("status") in ("running", "waiting") and job.get("campaign_status") == "gone":
        return "gone"
    return job.get("status", "?")


def shown_campaigns(view):
    """The running campaigns and the latest few others, newest first."""
    campaigns = view["campaigns"]           # newest first
    others = [c for c in campaigns if c["status"] != "running"][:RECENT_CAMPAIGNS]
    return [c for c in campaigns if c["status"] == "running" or c in others]


def shown_jobs(view, campaigns):
    """The jobs of `campaigns`, running ones first; and how many others are left out."""
    keep = {c["id"] for c in campaigns}
    jobs = [job for job in view["jobs"] if job["campaign"] in keep]
    jobs.sort(key=lambda j: (job_status(j) != "running", j.get("machine") or "", -(j.get("start") or 0), j["name"]))
    return jobs, len(view["jobs"]) - len(jobs)


def _context(view, **more):
    campaigns = shown_campaigns(view)
    jobs, hidden = shown_jobs(view, campaigns)
    plotted = jobs[:PLOTTED_JOBS]
    return {"view": view, "campaigns": campaigns, "hidden_campaigns": len(view["campaigns"]) - len(campaigns),
            "jobs": jobs, "hidden_jobs": hidden, "clock": clock, "ago": ago, "job_status": job_status,
            "coverage_plot": plots.line_chart(plots.coverage_lines(plotted), "coverage pairs over time, per job",
                                              "coverage pairs", "coverage-plot"),
            "rate_plot": plots.line_chart(plots.rate_lines(plotted), "runs per second over time, per job",
                                          "runs/s", "rate-plot"),
            "legend": plots.legend(plotted), "inline_swimlanes": False, **more}


def live(view):
    """The part of the dashboard that the page fetches again every few seconds."""
    return _env.get_template("live.html").render(_context(view))


def dashboard(view, refresh_ms=2000):
    return _env.get_template("dashboard.html").render(_context(view, refresh_ms=refresh_ms))


def _static(name):
    with open(os.path.join(STATIC, name), encoding="utf-8") as f:
        return f.read()


def report(view, swimlane):
    """One self-contained HTML document; `swimlane(reproducer)` draws each entry's swimlane."""
    return _env.get_template("report.html").render(_context(
        view, inline_swimlanes=True, swimlane=swimlane, css=_static("dashboard.css"), copy_js=_static("copy.js")))
