"""The dashboard's runs/s plot: rates over the sampling period, with no spike where a job ends."""
import pytest

from fuzzmm.campaign import Job
from fuzzmm.dashboard.plots import rate_lines
from fuzzmm.publish import SAMPLE_S, CampaignState


def test_a_job_s_last_sample_soon_after_the_one_before_makes_no_spike():
    """A job heard twice a second is sampled once a second; its end forces one more sample a
    few hundredths of a second later, merged into the interval before it."""
    job = Job("lost-update", "racy", "ref", "pct", 0)
    state = CampaignState([job], machine="m")
    t = 1000.0
    state.launched(job, 1, t)
    state.heard(("started", job, 2, t), t)
    for half_seconds in range(1, 8):                    # 200 runs/s throughout
        state.heard(("progress", job, 100 * half_seconds, 5), t + half_seconds / 2)
    state.heard(("done", job, 720, None), t + 3.52)
    (doc,) = state.to_json(t + 4)["jobs"]
    assert doc["series"][-1][0] - doc["series"][-2][0] < 0.1       # the short interval is there
    ((_, points),) = rate_lines([doc])
    assert points[-1][0] == doc["series"][-1][0]                  # the plot still reaches the end
    assert all(rate == pytest.approx(200, rel=0.1) for _, rate in points), points


def test_rates_span_at_least_the_sampling_period():
    series = [[0.5, 100, 1], [1.5, 300, 1], [2.5, 500, 1], [2.52, 520, 1], [2.53, 530, 1]]
    ((_, points),) = rate_lines([{"series": series}])
    assert points == [(1.5, 200.0), (2.53, pytest.approx(230 / 1.03))]
    assert all(later - earlier >= SAMPLE_S for (earlier, _), (later, _) in zip(points, points[1:]))


def test_a_series_shorter_than_the_sampling_period_shows_its_mean_since_the_job_s_start():
    ((_, points),) = rate_lines([{"series": [[0.5, 100, 1], [0.52, 120, 1]]}])
    assert points == [(0.52, pytest.approx(120 / 0.52))]
    assert rate_lines([{"series": [[0.5, 100, 1]]}, {}])[0][1] == [] and rate_lines([{}])[0][1] == []
