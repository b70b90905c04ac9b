"""fuzzmm.proctree: the processes below a process, found to be killed with it."""
import os
import subprocess
import time

from fuzzmm import proctree


def test_descendants_finds_grandchildren_both_ways_and_kill_ends_them():
    """A shell's two `sleep`s are found below this process, from the children files and from a scan
    of every process alike, and kill() ends them all."""
    shell = subprocess.Popen(["bash", "-c", "sleep 30 & sleep 30 & wait"])
    deadline = time.monotonic() + 10
    while len(proctree.descendants(os.getpid())) < 3 and time.monotonic() < deadline:
        time.sleep(0.01)
    found = proctree.descendants(os.getpid())
    assert found[0] == shell.pid and len(found) == 3
    assert sorted(found) == sorted(proctree._descendants_by_scan(os.getpid()))
    proctree.kill(found)
    shell.wait(10)
    assert proctree.descendants(os.getpid()) == []
