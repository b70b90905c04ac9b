"""Where a campaign's controlled jobs are pinned: where the kernel started them, one job per CPU."""
import os

import multiprocess
import pytest

from fuzzmm.placement import CpuClaims, current_cpu

CPUS = sorted(os.sched_getaffinity(0))
needs_two_cpus = pytest.mark.skipif(len(CPUS) < 2, reason="needs two CPUs this process may use")


def claim_from(claims, start_on, pids=None):
    """Claim in a fresh process that starts pinned to `start_on`; (cpu claimed, its affinity after)."""
    ctx = multiprocess.get_context("fork")
    answers = ctx.SimpleQueue()

    def body():
        os.sched_setaffinity(0, {start_on})
        cpu = claims.claim()            # held until released by pid, as a job's is
        answers.put((cpu, sorted(os.sched_getaffinity(0)), os.getpid()))
    proc = ctx.Process(target=body)
    proc.start()
    proc.join(10)
    cpu, affinity, pid = answers.get()
    if pids is not None:
        pids.append(pid)
    return cpu, affinity


def test_current_cpu_is_one_this_process_may_run_on():
    """The CPU read from /proc is within this process's affinity."""
    assert current_cpu() in CPUS


@needs_two_cpus
@pytest.mark.parametrize("start_on", [CPUS[0], CPUS[-1]])
def test_a_job_keeps_the_cpu_the_kernel_started_it_on(start_on):
    """A job on a free CPU is pinned there, whether that CPU is the lowest or the highest."""
    claims = CpuClaims(multiprocess.get_context("fork"))
    assert claim_from(claims, start_on) == (start_on, [start_on])


@needs_two_cpus
def test_a_job_started_on_a_cpu_its_campaign_holds_moves_to_a_free_one():
    """Two jobs that the kernel starts on one CPU end up on two, and a full set pins nothing."""
    claims = CpuClaims(multiprocess.get_context("fork"))
    pids = []
    first, _ = claim_from(claims, CPUS[0], pids)
    second, affinity = claim_from(claims, CPUS[0], pids)
    assert first == CPUS[0] and second != first and affinity == [second]
    for _ in CPUS[2:]:
        claim_from(claims, CPUS[0], pids)
    assert claim_from(claims, CPUS[0]) == (None, CPUS[:1])
    assert sorted(claims.held()) == CPUS


@needs_two_cpus
def test_a_released_cpu_is_claimed_again():
    """When a job ends, the campaign frees its CPU for the next job."""
    claims = CpuClaims(multiprocess.get_context("fork"))
    pids = []
    claim_from(claims, CPUS[0], pids)
    claims.release(pids[0])
    assert claims.held() == {}
    assert claim_from(claims, CPUS[0])[0] == CPUS[0]


def test_a_job_killed_holding_the_claims_lock_does_not_stop_the_campaign():
    """The campaign still frees CPUs, and a later job starts unpinned, when a job died holding the lock."""
    ctx = multiprocess.get_context("fork")
    claims = CpuClaims(ctx)
    claims.LOCK_WAIT_S = 0.2
    proc = ctx.Process(target=lambda: (claims._lock.acquire(), os._exit(0)))
    proc.start()
    proc.join(10)
    claims.release(12345)
    assert claim_from(claims, CPUS[0]) == (None, CPUS[:1])
