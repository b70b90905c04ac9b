"""The benchmarks under bench/ keep running: each, on a tiny budget, ends with its JSON figures.

No timing is asserted here; the figures themselves belong to the README's results.
"""
import json
import os
import subprocess
import sys

import pytest

from waiting import HANG_S

BENCH = os.path.join(os.path.dirname(__file__), "..", "bench")

CASES = {
    "primitives.py": (["--seconds", "0.1"], {"ratio_get_put_1p"}),
    "run_cost.py": (["--quick"], {"lost_update_9_per_s", "seed_default_per_s", "parent_us", "per_point_us", "curves"}),
    "schedules.py": (["--seconds", "0.2", "--examples", "20"],
                     {"pct_vs_fork", "random_vs_fork", "hypothesis_vs_empty"}),
    "trace_overhead.py": (["--seconds", "0.5", "--rounds", "2"], {"ratio_on_off"}),
    "scaling.py": (["--counts", "1,2", "--seconds", "1", "--ceiling-seconds", "0.2", "--per-cpu"],
                   {"rows", "efficiency_at_max", "per_cpu_speed"}),
    "cotenancy.py": (["--counts", "2", "--seconds", "1"], {"rows", "alone_runs_per_s", "efficiency_at_max"}),
    "publish_cost.py": (["--seconds", "1", "--rounds", "1"],
                        {"publishing_runs_per_s", "ratio_on_off", "publishing_time_share"}),
}


@pytest.mark.slow
@pytest.mark.parametrize("script", sorted(CASES))
def test_a_benchmark_ends_with_one_json_object_of_its_named_figures(script, tmp_path):
    """Each benchmark exits 0 and its last line is a JSON object holding the figures it promises."""
    args, keys = CASES[script]
    proc = subprocess.run([sys.executable, os.path.join(BENCH, script), *args, "--json"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=HANG_S)
    assert proc.returncode == 0, proc.stderr[-2000:]
    figures = json.loads(proc.stdout.strip().splitlines()[-1])
    assert keys <= set(figures), f"{script} lacks {keys - set(figures)}"


@pytest.mark.slow
def test_time_to_bug_counts_a_found_hazard_as_found(tmp_path):
    """The H1 leak on `mel` is found by PCT within its limit, and the row says so with a time and a run count."""
    proc = subprocess.run([sys.executable, os.path.join(BENCH, "time_to_bug.py"), "--seeds", "1", "--limit", "30",
                           "--strategies", "pct", "--hazards", "H1", "--json"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=HANG_S)
    assert proc.returncode == 0, proc.stderr[-2000:]
    figures = json.loads(proc.stdout.strip().splitlines()[-1])
    assert figures["default_strategy"] == "pct"
    (row,) = figures["results"]
    assert (row["hazard"], row["found"], row["attempts"]) == ("H1", 1, 1)
    assert row["median_s"] > 0 and row["median_runs"] >= 1
